//! Logs: `tracing` events on stderr, as text or JSON lines (`log_format`),
//! at the level of `srs_log_level`/`srs_log_level_v2` unless `RUST_LOG` is
//! set (it wins). A reload (SIGHUP) changes the level through a
//! [`reload::Handle`]; the format needs a restart.
//!
//! Also the two control-plane lines every session gets, whatever its
//! protocol: [`session_start`] and [`session_end`] (docs/operations.md,
//! "Logs"). They are logged once per session, never per packet.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::config::{Config, LogFormat};

/// The installed subscriber's filter, for reloads.
struct Installed {
    handle: reload::Handle<EnvFilter, Registry>,
    /// Whether `RUST_LOG` set the filter (the configuration's level is then
    /// ignored, also on reload).
    rust_log: bool,
    /// The level the configuration last set.
    level: Mutex<LevelFilter>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// The filter for `level`: that level for every target, with two noisy
/// dependencies held back (rtc-dtls warns once per Chromium ClientHello
/// about DTLS 1.3 extensions; glommio's info lines are its own business)
/// unless the level is stricter anyway.
pub fn filter_for(level: LevelFilter) -> EnvFilter {
    EnvFilter::new(format!(
        "{level},rtc_dtls={},glommio={}",
        level.min(LevelFilter::ERROR),
        level.min(LevelFilter::WARN)
    ))
}

/// Installs the global subscriber for `config`: the format of `log_format`,
/// the level of `RUST_LOG` when it is set and valid, else of
/// `srs_log_level`/`srs_log_level_v2`. Returns a warning to log (once
/// logging works) when `RUST_LOG` was set but not valid. Called once, by the
/// binary; a second call changes nothing.
pub fn init(config: &Config) -> Option<String> {
    let level = config.log_filter();
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, from_env, warning) = match rust_log.map(|v| (EnvFilter::try_new(&v), v)) {
        Some((Ok(f), _)) => (f, true, None),
        Some((Err(e), v)) => (
            filter_for(level),
            false,
            Some(format!(
                "RUST_LOG={v:?} is not a valid filter ({e}); using the configuration's level {level}"
            )),
        ),
        None => (filter_for(level), false, None),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let installed = match config.log_format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = INSTALLED.set(Installed {
            handle,
            rust_log: from_env,
            level: Mutex::new(level),
        });
    }
    warning
}

/// Applies the log level of a reloaded configuration, and logs a line
/// saying so (at a level that the more verbose of the old and new filters
/// shows). Nothing when the level did not change or logging was not set up
/// by [`init`]; a line saying `RUST_LOG` wins when it is set.
pub fn reload(config: &Config) {
    let Some(installed) = INSTALLED.get() else {
        return;
    };
    let new = config.log_filter();
    let old = {
        let mut level = installed.level.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *level, new)
    };
    if old == new {
        return;
    }
    if installed.rust_log {
        tracing::info!(
            configured = %new,
            "reload: the configuration's log level changed, but RUST_LOG is set and still decides"
        );
        return;
    }
    let say = |before: bool| {
        // The line must pass the filter in force when it is logged.
        let shown = if before { old } else { new };
        let message = "reload: log level changed";
        if shown >= LevelFilter::INFO {
            tracing::info!(from = %old, to = %new, "{message}");
        } else if shown >= LevelFilter::WARN {
            tracing::warn!(from = %old, to = %new, "{message}");
        } else {
            tracing::error!(from = %old, to = %new, "{message}");
        }
    };
    // Said under the more verbose of the two filters.
    let before = old > new;
    if before {
        say(true);
    }
    if let Err(e) = installed.handle.reload(filter_for(new)) {
        tracing::error!("reload: the log level could not be changed: {e}");
        return;
    }
    // Dependencies that log through the `log` crate are cut off by its own
    // ceiling, set from the level at start: follow the new level.
    log::set_max_level(match new {
        LevelFilter::TRACE => log::LevelFilter::Trace,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::ERROR => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    });
    if !before {
        say(false);
    }
}

/// What kind of session a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// WebRTC (WHIP/WHEP, `/rtc/v1/*`).
    Rtc,
    /// An RTMP connection's publish or play.
    Rtmp,
    /// An HTTP-FLV play.
    Flv,
}

impl Proto {
    /// `rtc`, `rtmp` or `flv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Rtc => "rtc",
            Proto::Rtmp => "rtmp",
            Proto::Flv => "flv",
        }
    }
}

/// Who a session is, for its start and end lines.
#[derive(Debug, Clone, Copy)]
pub struct SessionLine<'a> {
    /// Its id: the SRS-style `server-ufrag:client-ufrag` of a WebRTC
    /// session, a random id for RTMP and HTTP-FLV. Never the secret token
    /// of a session's resource URL.
    pub id: &'a str,
    /// Its protocol.
    pub proto: Proto,
    /// Whether it publishes (else it plays).
    pub publish: bool,
    /// The vhost whose settings it uses.
    pub vhost: &'a str,
    /// The app.
    pub app: &'a str,
    /// The stream name.
    pub stream: &'a str,
    /// The client's address (of the signaling request for WebRTC).
    pub ip: Option<IpAddr>,
    /// The shard that holds it (at the end: the one it ended on).
    pub shard: usize,
}

/// Counts of a session at its end. Packets are RTP and RTCP packets for
/// WebRTC, audio/video/data messages (FLV tags) for RTMP and HTTP-FLV;
/// bytes are as on the wire (encrypted for WebRTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

impl SessionLine<'_> {
    fn role(&self) -> &'static str {
        if self.publish {
            "publish"
        } else {
            "play"
        }
    }
}

/// The line of a session that starts (info).
pub fn session_start(s: &SessionLine) {
    tracing::info!(
        session = %s.id,
        proto = %s.proto.as_str(),
        role = %s.role(),
        vhost = %s.vhost,
        app = %s.app,
        stream = %s.stream,
        ip = s.ip.map(tracing::field::display),
        shard = s.shard,
        "session start"
    );
}

/// The line of a session that ended (info): why, after how long, and its
/// counts. `peer` is the media address when it differs from the client's
/// (WebRTC: the ICE-selected address).
pub fn session_end(
    s: &SessionLine,
    reason: &str,
    duration: Duration,
    counts: SessionCounts,
    peer: Option<SocketAddr>,
) {
    tracing::info!(
        session = %s.id,
        proto = %s.proto.as_str(),
        role = %s.role(),
        vhost = %s.vhost,
        app = %s.app,
        stream = %s.stream,
        ip = s.ip.map(tracing::field::display),
        peer = peer.map(tracing::field::display),
        shard = s.shard,
        reason = %reason,
        duration_ms = duration.as_millis() as u64,
        packets_in = counts.packets_in,
        packets_out = counts.packets_out,
        bytes_in = counts.bytes_in,
        bytes_out = counts.bytes_out,
        "session end"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_dependencies_are_capped_but_never_louder_than_the_level() {
        let f = filter_for(LevelFilter::DEBUG).to_string();
        assert!(
            f.contains("rtc_dtls=error") && f.contains("glommio=warn"),
            "{f}"
        );
        assert!(f.contains("debug"), "{f}");
        let f = filter_for(LevelFilter::ERROR).to_string();
        assert!(f.contains("glommio=error") && !f.contains("warn"), "{f}");
    }
}
