//! The SRS-style configuration file: parser, typed settings, environment overrides.
//!
//! The format is SRS's (nginx-like): `name args;` directives, `name args { ... }`
//! blocks, `#` comments, `'...'`/`"..."` quoting, `$VAR`/`${VAR}` expansion
//! from the environment (not inside single quotes), and `include FILE;`
//! (relative to the including file, cycles and depth guarded). See
//! `docs/configuration.md` for every directive and its default.
//!
//! Loading goes: text → directive tree with file and line
//! ([`parser`](self)) → typed [`Config`] with SRS's defaults (unknown
//! directives, and those accepted without effect ([`NO_EFFECT`]), become
//! [`ConfigWarning`]s) → `SRS_*` environment overrides
//! (the environment wins) → `rtc_server.candidate` resolved → TCP ports
//! checked (services that cannot share a port refused, see [`TcpService`]).
//!
//! ```no_run
//! use shardsfu::config::{Config, ProcessEnv};
//! let loaded = Config::load("configs/rtc.conf".as_ref(), &ProcessEnv)?;
//! for w in &loaded.warnings {
//!     eprintln!("warning: {w}");
//! }
//! let rtc = &loaded.config.vhost_for("example.com")?.rtc;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod cluster;
mod dvr;
mod env;
mod error;
mod lexer;
mod model;
mod no_effect;
mod parser;
mod ports;
mod settings;
mod signaling;
mod values;
mod vhost;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bad_files;
#[cfg(test)]
mod tests_env;
#[cfg(test)]
mod tests_ipv6;
#[cfg(test)]
mod tests_ports;
#[cfg(test)]
mod tests_warnings;
#[cfg(test)]
mod tests_whip;

use std::path::Path;

pub use cluster::ClusterConfig;
pub use dvr::{DvrConfig, DvrPlan};
pub use env::{env_variables, Env, MapEnv, ProcessEnv};
pub use error::{ConfigError, ConfigWarning, VhostError};
pub use model::{
    BlackHoleConfig, Config, ExporterConfig, HttpApiAuthConfig, HttpApiConfig, HttpServerConfig,
    HttpsConfig, IpFamily, LogFormat, LogLevel, LogTank, RtcProtocol, RtcServerConfig,
    RtcTcpConfig, StatsConfig,
};
pub use no_effect::{no_effect, NoEffect, NAMED_VHOSTS_SELECTED, NO_EFFECT};
pub use ports::{tcp_listeners, TcpListen, TcpService};
pub use signaling::SignalingConfig;
pub use vhost::{
    DtlsRole, DtlsVersion, HlsConfig, HlsOnError, HttpHooksConfig, HttpRemuxConfig, PlayConfig,
    PublishConfig, RtcVhostConfig, TimeJitter, VhostConfig, DEFAULT_VHOST,
};

/// `configs/rtc.conf`, compiled in.
pub const EMBEDDED_RTC_CONF: &str = include_str!("../../configs/rtc.conf");

/// A loaded configuration and what the caller must be told about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Unknown, unsupported, duplicate or deprecated directives and values
    /// reset to defaults, in file order then environment order.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Reads the file at `path` (and its includes), applies `env`'s overrides.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Loaded, ConfigError> {
        let shown = path.display().to_string();
        let text = parser::read_file(path).map_err(|e| match e {
            parser::ReadFailure::Io(source) => ConfigError::Read {
                path: shown.clone(),
                source,
            },
            parser::ReadFailure::NotAFile => ConfigError::Read {
                path: shown.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            },
            parser::ReadFailure::TooLarge(n) => ConfigError::Read {
                path: shown.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{n} bytes, more than the {} allowed",
                        parser::MAX_FILE_BYTES
                    ),
                ),
            },
            parser::ReadFailure::NotUtf8(line) => ConfigError::NotUtf8 {
                file: shown.clone(),
                line,
            },
        })?;
        let canonical = std::fs::canonicalize(path).ok();
        Self::from_text(&text, &shown, canonical, env)
    }

    /// Parses `text`; `origin` names it in errors and warnings, and includes
    /// are resolved relative to `origin`'s directory.
    pub fn parse_str(text: &str, origin: &str, env: &dyn Env) -> Result<Loaded, ConfigError> {
        let canonical = std::fs::canonicalize(origin).ok();
        Self::from_text(text, origin, canonical, env)
    }

    /// The compiled-in `configs/rtc.conf` (SRS's WebRTC config: RTC, HTTP
    /// API on 1985, HTTP server on 8080, `candidate $CANDIDATE`, which is
    /// `*` when `CANDIDATE` is unset), with `env`'s overrides.
    pub fn embedded_default(env: &dyn Env) -> Result<Loaded, ConfigError> {
        Self::from_text(EMBEDDED_RTC_CONF, "configs/rtc.conf (embedded)", None, env)
    }

    fn from_text(
        text: &str,
        origin: &str,
        canonical: Option<std::path::PathBuf>,
        env: &dyn Env,
    ) -> Result<Loaded, ConfigError> {
        let tree = parser::parse_tree(text, origin, canonical, env)?;
        let mut warnings = Vec::new();
        let mut config = build::build(&tree, &mut warnings)?;
        env::apply_overrides(&mut config, env, &mut warnings)?;
        build::check_rtc_protocol(&tree, &config)?;
        ports::check(&config, &tree, env)?;
        Ok(Loaded { config, warnings })
    }
}
