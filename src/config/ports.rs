//! Which TCP services listen where, and which may share a port.
//!
//! The HTTP API, the HTTP server, their HTTPS sides and WebRTC over TCP may
//! share one address: one listener serves them all and the first bytes of
//! each connection choose (see [`crate::sniff`]). Where the API and the
//! server share an address they are one site, as in SRS. RTMP and the
//! Prometheus exporter share with nothing. Two services on overlapping but
//! different addresses of one port (`0.0.0.0:8080` and `127.0.0.1:8080`)
//! are refused too: the kernel would hand each client to one of them by its
//! destination address, not by what it speaks.

use std::net::SocketAddr;

use super::env::Env;
use super::error::ConfigError;
use super::model::Config;
use super::parser::Directive;

/// A service of the configuration that listens on TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpService {
    /// RTMP (`listen`).
    Rtmp,
    /// The HTTP API (`http_api.listen`).
    HttpApi,
    /// The HTTP server (`http_server.listen`).
    HttpServer,
    /// The HTTPS API (`http_api.https.listen`).
    HttpsApi,
    /// The HTTPS server (`http_server.https.listen`).
    HttpsServer,
    /// WebRTC over TCP (`rtc_server.tcp.listen`).
    RtcTcp,
    /// The Prometheus exporter (`exporter.listen`).
    Exporter,
}

impl TcpService {
    /// Every service, in the order listeners are reported.
    pub const ALL: [TcpService; 7] = [
        TcpService::Rtmp,
        TcpService::HttpApi,
        TcpService::HttpServer,
        TcpService::HttpsApi,
        TcpService::HttpsServer,
        TcpService::RtcTcp,
        TcpService::Exporter,
    ];

    /// The directive that sets its addresses.
    pub fn directive(self) -> &'static str {
        match self {
            TcpService::Rtmp => "listen",
            TcpService::HttpApi => "http_api.listen",
            TcpService::HttpServer => "http_server.listen",
            TcpService::HttpsApi => "http_api.https.listen",
            TcpService::HttpsServer => "http_server.https.listen",
            TcpService::RtcTcp => "rtc_server.tcp.listen",
            TcpService::Exporter => "exporter.listen",
        }
    }

    /// Where the directive may be written (the first found is the one
    /// used), as paths of block names.
    fn spellings(self) -> &'static [&'static [&'static str]] {
        match self {
            TcpService::Rtmp => &[&["listen"], &["rtmp", "listen"]],
            TcpService::HttpApi => &[&["http_api", "listen"]],
            TcpService::HttpServer => &[&["http_server", "listen"], &["http_stream", "listen"]],
            TcpService::HttpsApi => &[&["https_api", "listen"], &["http_api", "https", "listen"]],
            TcpService::HttpsServer => &[
                &["http_server", "https", "listen"],
                &["http_stream", "https", "listen"],
            ],
            TcpService::RtcTcp => &[&["rtc_server", "tcp", "listen"]],
            TcpService::Exporter => &[&["exporter", "listen"]],
        }
    }

    /// The environment variables that override the directive (the last
    /// one applied wins).
    fn env_vars(self) -> &'static [&'static str] {
        match self {
            TcpService::Rtmp => &["SRS_LISTEN"],
            TcpService::HttpApi => &["SRS_HTTP_API_LISTEN"],
            TcpService::HttpServer => &["SRS_HTTP_SERVER_LISTEN"],
            TcpService::HttpsApi => &["SRS_HTTPS_API_LISTEN", "SRS_HTTP_API_HTTPS_LISTEN"],
            TcpService::HttpsServer => &["SRS_HTTP_SERVER_HTTPS_LISTEN"],
            TcpService::RtcTcp => &["SRS_RTC_SERVER_TCP_LISTEN"],
            TcpService::Exporter => &["SRS_EXPORTER_LISTEN"],
        }
    }

    /// Whether the service takes part in the one-port listener (HTTP,
    /// HTTPS, WebRTC over TCP).
    pub fn shares(self) -> bool {
        !matches!(self, TcpService::Rtmp | TcpService::Exporter)
    }

    /// Its addresses when `config` switches it on.
    pub fn listens(self, c: &Config) -> Option<&[SocketAddr]> {
        let (on, listen) = match self {
            TcpService::Rtmp => (true, &c.listen),
            TcpService::HttpApi => (c.http_api.enabled, &c.http_api.listen),
            TcpService::HttpServer => (c.http_server.enabled, &c.http_server.listen),
            TcpService::HttpsApi => (
                c.http_api.enabled && c.http_api.https.enabled,
                &c.http_api.https.listen,
            ),
            TcpService::HttpsServer => (
                c.http_server.enabled && c.http_server.https.enabled,
                &c.http_server.https.listen,
            ),
            TcpService::RtcTcp => (
                c.rtc_server.enabled && c.rtc_server.tcp.enabled,
                &c.rtc_server.tcp.listen,
            ),
            TcpService::Exporter => (c.exporter.enabled, &c.exporter.listen),
        };
        on.then_some(listen.as_slice())
    }
}

/// One TCP address to bind and the services it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpListen {
    /// The address.
    pub addr: SocketAddr,
    /// What it serves (several only where [`TcpService::shares`] holds for each).
    pub services: Vec<TcpService>,
}

impl TcpListen {
    /// Whether it serves `s`.
    pub fn serves(&self, s: TcpService) -> bool {
        self.services.contains(&s)
    }
}

/// The TCP listeners of `config`'s enabled services except the exporter
/// (which runs on its own thread), one per distinct address, in the order
/// the services first name them.
pub fn tcp_listeners(config: &Config) -> Vec<TcpListen> {
    let mut out: Vec<TcpListen> = Vec::new();
    for s in TcpService::ALL {
        if s == TcpService::Exporter {
            continue;
        }
        for addr in s.listens(config).unwrap_or_default() {
            match out.iter_mut().find(|l| l.addr == *addr) {
                Some(l) if !l.serves(s) => l.services.push(s),
                Some(_) => {}
                None => out.push(TcpListen {
                    addr: *addr,
                    services: vec![s],
                }),
            }
        }
    }
    out
}

/// Whether clients of `a` could reach `b`: one port, one family, and the
/// same IP or a wildcard on either side. (A `[::]` listener on a port with
/// an IPv4 listener is IPv6-only: see `shards::v6_only`.)
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Where a service's addresses came from, for an error.
enum Origin<'t> {
    File(&'t Directive),
    Env(&'static str, String),
    Default,
}

fn origin<'t>(s: TcpService, tree: &'t [Directive], env: &dyn Env) -> Origin<'t> {
    let from_env = s
        .env_vars()
        .iter()
        .rev()
        .find_map(|v| env.var(v).filter(|x| !x.is_empty()).map(|x| (*v, x)));
    if let Some((var, value)) = from_env {
        return Origin::Env(var, value);
    }
    s.spellings()
        .iter()
        .find_map(|path| find(tree, path))
        .map_or(Origin::Default, Origin::File)
}

/// The first directive at `path` (block names, then the directive's).
fn find<'t>(tree: &'t [Directive], path: &[&str]) -> Option<&'t Directive> {
    let (first, rest) = path.split_first()?;
    let d = tree.iter().find(|d| d.name == *first)?;
    if rest.is_empty() {
        Some(d)
    } else {
        find(&d.children, rest)
    }
}

/// Refuses a configuration where two services would listen on one TCP
/// port without the one-port listener able to tell them apart: the error
/// names the directive (file and line, or environment variable) of one and
/// the other's.
pub(crate) fn check(c: &Config, tree: &[Directive], env: &dyn Env) -> Result<(), ConfigError> {
    let on: Vec<(TcpService, &[SocketAddr])> = TcpService::ALL
        .iter()
        .filter_map(|&s| s.listens(c).map(|l| (s, l)))
        .collect();
    for (i, &(a, a_listens)) in on.iter().enumerate() {
        for &(b, b_listens) in &on[i + 1..] {
            for &x in a_listens {
                for &y in b_listens {
                    if !overlap(x, y) || (x == y && a.shares() && b.shares()) {
                        continue;
                    }
                    return Err(conflict((a, x), (b, y), tree, env));
                }
            }
        }
    }
    Ok(())
}

/// The error for services `a` and `b` on overlapping addresses, reported
/// at `b`'s directive unless only `a`'s was written.
fn conflict(
    a: (TcpService, SocketAddr),
    b: (TcpService, SocketAddr),
    tree: &[Directive],
    env: &dyn Env,
) -> ConfigError {
    let (oa, ob) = (origin(a.0, tree, env), origin(b.0, tree, env));
    let ((here, here_origin), (other, other_origin)) = match ob {
        Origin::Default => ((a, oa), (b, ob)),
        _ => ((b, ob), (a, oa)),
    };
    let where_other = match &other_origin {
        Origin::File(d) => format!(" ({}:{})", d.file, d.line),
        Origin::Env(var, _) => format!(" (environment variable {var})"),
        Origin::Default => " (its default)".to_string(),
    };
    let why = if here.1 != other.1 {
        "services may share a port only on the same address".to_string()
    } else {
        let lonely = [here.0, other.0]
            .into_iter()
            .find(|s| !s.shares())
            .map_or("", TcpService::directive);
        format!(
            "{lonely} cannot share a port: only the HTTP API, the HTTP server, their HTTPS \
             sides and WebRTC over TCP can"
        )
    };
    let reason = format!(
        "TCP {} overlaps {} {}{where_other}: {why}",
        here.1,
        other.0.directive(),
        other.1,
    );
    match here_origin {
        Origin::File(d) => ConfigError::Invalid {
            file: d.file.to_string(),
            line: d.line,
            directive: here.0.directive().to_string(),
            reason,
        },
        Origin::Env(var, value) => ConfigError::Env {
            var: var.to_string(),
            value,
            reason,
        },
        // Both at their defaults: SRS's default ports never collide.
        Origin::Default => ConfigError::Invalid {
            file: "defaults".into(),
            line: 0,
            directive: here.0.directive().to_string(),
            reason,
        },
    }
}
