//! `cluster { }` (shardsfu's own): the stream directory in Redis that lets
//! several nodes share one stream namespace. See docs/cluster.md.
//!
//! ```text
//! cluster {
//!     enabled   on;
//!     redis     127.0.0.1:6379;      # or redis://user:pass@host:port/db
//!     password  secret;              # optional, overrides the URL's
//!     advertise 10.0.0.2:1985;       # what other nodes use to reach this one
//!     lease     5;                   # seconds a claim lives without renewal
//! }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::settings::Setting;
use super::values::{parse_bool, parse_endpoint, parse_u64_in, set, set_opt, set_string, Applied};

/// `cluster { }`: off by default; a single node needs no Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `redis`: `host:port` or a `redis://[user:pass@]host:port[/db]` URL,
    /// checked when read. Default `127.0.0.1:6379`.
    pub redis: String,
    /// `password`: replaces the URL's password when set. Default unset.
    pub password: Option<String>,
    /// `advertise`: the `ip:port` of this node's HTTP API as other nodes
    /// should reach it. Default unset: the first `http_api.listen` address
    /// (with the RTC candidate's IP when that address is a wildcard).
    pub advertise: Option<SocketAddr>,
    /// `lease`: how long a claim (and the node's own entry) lives in Redis
    /// without renewal; renewed every third of it. Default 5 s, 2..=60.
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            redis: "127.0.0.1:6379".into(),
            password: None,
            advertise: None,
            lease: Duration::from_secs(5),
        }
    }
}

impl ClusterConfig {
    /// The `redis` value as a URL the client understands (`redis://`
    /// added to a bare `host:port`).
    pub fn redis_url(&self) -> String {
        if self.redis.contains("://") {
            self.redis.clone()
        } else {
            format!("redis://{}", self.redis)
        }
    }
}

/// Checks a `redis` value: a `host:port` or a `redis://` (or `rediss://`,
/// `redis+unix://`, `unix://`) URL the Redis client accepts.
pub(crate) fn parse_redis(s: &str) -> Result<String, String> {
    let url = if s.contains("://") {
        s.to_string()
    } else {
        if s.rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(format!(
                "invalid redis address \"{s}\" (host:port or redis://[user:pass@]host:port[/db])"
            ));
        }
        format!("redis://{s}")
    };
    redis::IntoConnectionInfo::into_connection_info(url.as_str())
        .map(|_| s.to_string())
        .map_err(|e| format!("invalid redis address \"{s}\": {e}"))
}

/// `cluster { }` (environment: `SRS_CLUSTER_*`).
pub(crate) static CLUSTER: &[Setting<ClusterConfig>] = &[
    Setting {
        name: "enabled",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.enabled, parse_bool),
    },
    Setting {
        name: "redis",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.redis, parse_redis),
    },
    Setting {
        name: "password",
        env: true,
        aliases: &[],
        apply: password,
    },
    Setting {
        name: "advertise",
        env: true,
        aliases: &[],
        apply: |c, a| set_opt(a, &mut c.advertise, advertise),
    },
    Setting {
        name: "lease",
        env: true,
        aliases: &[],
        apply: |c, a| {
            set(a, &mut c.lease, |v| {
                parse_u64_in(v, 2, 60).map(Duration::from_secs)
            })
        },
    },
];

fn password(c: &mut ClusterConfig, a: &[String]) -> Applied {
    let mut v = String::new();
    set_string(a, &mut v)?;
    if !v.is_empty() {
        c.password = Some(v);
    }
    Ok(None)
}

fn advertise(s: &str) -> Result<SocketAddr, String> {
    let addr = parse_endpoint(s)?;
    if addr.ip().is_unspecified() {
        return Err(format!(
            "advertise \"{s}\" must name an address other nodes can reach, not a wildcard"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MapEnv};

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env = env.iter().fold(MapEnv::new(), |e, (k, v)| e.with(k, v));
        Config::parse_str(text, "t.conf", &env).map(|l| l.config)
    }

    #[test]
    fn off_by_default_and_read_from_the_file() {
        assert_eq!(load("", &[]).unwrap().cluster, ClusterConfig::default());
        let c = load(
            "cluster {\n enabled on;\n redis redis://u:p@127.0.0.1:7000/2;\n password s3;\n advertise 127.0.0.2:1985;\n lease 3;\n}\n",
            &[],
        )
        .unwrap()
        .cluster;
        assert!(c.enabled);
        assert_eq!(c.redis_url(), "redis://u:p@127.0.0.1:7000/2");
        assert_eq!(c.password.as_deref(), Some("s3"));
        assert_eq!(c.advertise, Some("127.0.0.2:1985".parse().unwrap()));
        assert_eq!(c.lease, Duration::from_secs(3));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = load(
            "cluster { enabled off; redis 127.0.0.1:1; }\n",
            &[
                ("SRS_CLUSTER_ENABLED", "on"),
                ("SRS_CLUSTER_REDIS", "10.0.0.9:6380"),
                ("SRS_CLUSTER_LEASE", "10"),
            ],
        )
        .unwrap()
        .cluster;
        assert!(c.enabled);
        assert_eq!(c.redis_url(), "redis://10.0.0.9:6380");
        assert_eq!(c.lease, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_name_the_line_and_the_value() {
        for (text, needle) in [
            ("cluster {\n redis nohost;\n}\n", "nohost"),
            ("cluster {\n redis ftp://x:1;\n}\n", "ftp://x:1"),
            ("cluster {\n lease 1;\n}\n", "out of range"),
            ("cluster {\n advertise 0.0.0.0:1985;\n}\n", "wildcard"),
        ] {
            let e = load(text, &[]).unwrap_err().to_string();
            assert!(e.starts_with("t.conf:2:"), "{e}");
            assert!(e.contains(needle), "{e}");
        }
    }
}
