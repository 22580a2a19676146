//! Errors and warnings of the configuration module.

use std::fmt;

/// Why a configuration could not be loaded. Every variant that comes from a
/// file names the file and line (`file:line:` starts its Display); the
/// environment variant names the variable and its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The top-level configuration file could not be read.
    #[error("{path}: cannot read config file: {source}")]
    Read {
        /// The path that was given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text; `line` is the line of the first bad byte.
    #[error("{file}:{line}: the file is not valid UTF-8 text")]
    NotUtf8 {
        /// The file.
        file: String,
        /// The line of the first invalid byte.
        line: u32,
    },
    /// The text does not follow the format: unterminated block or quote,
    /// missing `;`, stray `}` or `;`, blocks nested too deeply.
    #[error("{file}:{line}: {}{reason}", directive_prefix(.directive))]
    Syntax {
        /// The file.
        file: String,
        /// The line where the problem was found (for a missing `;` or `}`:
        /// the line of the directive that lacks it).
        line: u32,
        /// The directive being read, when there is one.
        directive: Option<String>,
        /// What is wrong, naming the offending text.
        reason: String,
    },
    /// A directive has a value that is not valid for it (non-numeric, out of
    /// range, unknown keyword, a block where a value belongs, ...).
    #[error("{file}:{line}: directive \"{directive}\": {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The line of the directive.
        line: u32,
        /// The directive's path, e.g. `rtc_server.listen` or `vhost.rtc.nack`.
        directive: String,
        /// What is wrong, naming the offending value.
        reason: String,
    },
    /// An `include` could not be followed: empty, unreadable, not a regular
    /// file, too large, a cycle, or nested too deeply.
    #[error("{file}:{line}: directive \"include\": {reason}")]
    Include {
        /// The file holding the `include`.
        file: String,
        /// The line of the `include`.
        line: u32,
        /// The included path as resolved (relative to the including file's
        /// directory).
        target: String,
        /// What went wrong, naming the target.
        reason: String,
    },
    /// An environment override has a value that is not valid.
    #[error("environment variable {var}=\"{value}\": {reason}")]
    Env {
        /// The variable, e.g. `SRS_RTC_SERVER_LISTEN`.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why [`Config::vhost_for`](super::Config::vhost_for) serves no vhost
/// for a request (SRS answers such an RTMP connect with "no vhost" or
/// "vhost disabled").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VhostError {
    /// No vhost has that name and the file configured no `__defaultVhost__`.
    #[error("no vhost \"{name}\" and no __defaultVhost__ configured")]
    NotFound {
        /// The vhost the request asked for.
        name: String,
    },
    /// The vhost that would serve the request has `enabled off`.
    #[error("vhost \"{vhost}\" (for the request's vhost \"{name}\") is disabled")]
    Disabled {
        /// The vhost the request asked for.
        name: String,
        /// The vhost that would have served it (`name` or `__defaultVhost__`).
        vhost: String,
    },
}

fn directive_prefix(directive: &Option<String>) -> String {
    match directive {
        Some(d) => format!("directive \"{d}\": "),
        None => String::new(),
    }
}

/// Something in the configuration that does not stop loading but must not
/// pass silently: an unknown or unsupported directive, a duplicate, a
/// deprecated spelling, or a value SRS would reset to its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file (or `environment` for an environment override).
    pub file: String,
    /// The line of the directive (0 for the environment).
    pub line: u32,
    /// The directive's path, e.g. `vhost.rtc.foo`.
    pub directive: String,
    /// What happened and what was done about it.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: directive \"{}\": {}",
            self.file, self.line, self.directive, self.message
        )
    }
}
