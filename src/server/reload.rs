//! Reload on SIGHUP, as SRS does: the file is read again and checked
//! completely; a bad one is refused with its line and the running
//! configuration stays. A good one replaces, at once for every shard, what
//! can change while sessions run: the SFU's settings for new sessions (each
//! vhost's rtc settings, `first_check_timeout`, `max_pending_per_ip`,
//! `max_connections` for WebRTC), the candidate rules, the hooks, vhost
//! selection, the API's authentication, the log level and the per-client
//! limits (`max_connections_per_ip`, `signaling_rate_per_ip`, read per new
//! connection or request). Running sessions, RTMP
//! publishers and players keep going. What needs a restart (listen
//! addresses, workers, TLS, the live side's settings) is named in a warning.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::{Config, ConfigError, Loaded, ProcessEnv};
use crate::sdp::CandidatePolicy;
use crate::sfu::SfuSettings;

/// Where the configuration came from, to read it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `-c FILE`.
    File(PathBuf),
    /// The embedded default (`configs/rtc.conf`) and the environment.
    Embedded,
}

impl ConfigSource {
    /// Reads and checks the configuration (with the process's environment).
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        match self {
            ConfigSource::File(p) => Config::load(p, &ProcessEnv),
            ConfigSource::Embedded => Config::embedded_default(&ProcessEnv),
        }
    }
}

/// What the running configuration gives requests and new sessions.
#[derive(Debug)]
pub struct Current {
    /// The whole configuration, for per-request reads (hooks, vhosts, auth).
    pub config: Arc<Config>,
    /// What the shards' SFUs need.
    pub settings: Arc<SfuSettings>,
    /// How answers choose their candidates.
    pub candidates: CandidatePolicy,
}

impl Current {
    /// The current view of `config`.
    pub fn of(config: Config) -> Self {
        Current {
            settings: Arc::new(SfuSettings::from_config(&config)),
            candidates: crate::api::candidate_policy(&config),
            config: Arc::new(config),
        }
    }
}

/// The running configuration, replaceable at once for every shard. Read
/// per request and, by each shard, once per reload (never per packet).
#[derive(Debug)]
pub struct Reloadable {
    current: RwLock<Arc<Current>>,
    generation: AtomicU64,
}

impl Reloadable {
    /// Starts with `config`.
    pub fn new(config: Config) -> Self {
        Reloadable {
            current: RwLock::new(Arc::new(Current::of(config))),
            generation: AtomicU64::new(0),
        }
    }

    /// The running configuration.
    pub fn get(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many times it was replaced (shards compare it on their tick).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces it.
    pub fn replace(&self, config: Config) {
        let next = Arc::new(Current::of(config));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// The directives whose change a reload cannot apply (they need a restart).
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |changed: bool, what: &'static str| {
        if changed {
            out.push(what);
        }
    };
    check(old.listen != new.listen, "listen");
    check(old.workers != new.workers, "workers");
    check(
        old.http_api.enabled != new.http_api.enabled,
        "http_api.enabled",
    );
    check(
        old.http_api.listen != new.http_api.listen,
        "http_api.listen",
    );
    check(old.http_api.https != new.http_api.https, "http_api.https");
    check(
        old.http_server.enabled != new.http_server.enabled,
        "http_server.enabled",
    );
    check(
        old.http_server.listen != new.http_server.listen,
        "http_server.listen",
    );
    check(
        old.http_server.https != new.http_server.https,
        "http_server.https",
    );
    check(
        old.http_server.dir != new.http_server.dir,
        "http_server.dir",
    );
    check(
        old.rtc_server.enabled != new.rtc_server.enabled,
        "rtc_server.enabled",
    );
    check(
        old.rtc_server.listen != new.rtc_server.listen,
        "rtc_server.listen",
    );
    check(old.rtc_server.tcp != new.rtc_server.tcp, "rtc_server.tcp");
    check(
        old.max_connections != new.max_connections,
        "max_connections (HTTP, RTMP and WebRTC-over-TCP connections)",
    );
    check(old.exporter != new.exporter, "exporter");
    check(old.log_format != new.log_format, "log_format");
    let live = |c: &Config| {
        c.vhosts
            .values()
            .map(|v| (&v.name, &v.http_remux, &v.hls, &v.publish, &v.play))
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
    };
    check(
        live(old) != live(new),
        "vhost http_remux/hls/publish/play (the live side)",
    );
    out
}

/// Reads the configuration again and applies what can change live.
/// Returns false (and logs the error with its line) when the file is
/// refused; the running configuration then stays.
pub fn reload(current: &Reloadable, source: &ConfigSource) -> bool {
    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("reload refused, the running configuration stays: {e}");
            return false;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let old = current.get();
    let restart = needs_restart(&old.config, &loaded.config);
    if !restart.is_empty() {
        tracing::warn!(
            "reload: these changed but need a restart to apply: {}",
            restart.join(", ")
        );
    }
    crate::logging::reload(&loaded.config);
    current.replace(loaded.config);
    tracing::info!(
        generation = current.generation(),
        candidate = %current.get().candidates.candidates.join(" "),
        "configuration reloaded: new sessions and requests use it"
    );
    true
}
