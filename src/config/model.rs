//! The typed configuration: global settings, `http_server`, `http_api`,
//! `rtc_server`, `stats`. Field names are SRS's directive names; defaults are
//! SRS's (see `SrsConfig::get_*` in SRS's `srs_app_config.cpp`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::error::VhostError;
use super::vhost::{VhostConfig, DEFAULT_VHOST};

/// Defines a keyword enum with its spellings, `as_str`, `parse` and Display.
macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)+ }

        impl $name {
            /// The keyword as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$var => $s,)+ }
            }

            /// Parses the keyword (any ASCII case).
            pub(crate) fn parse(s: &str) -> Result<Self, String> {
                $(if s.eq_ignore_ascii_case($s) { return Ok(Self::$var); })+
                Err(format!("invalid value \"{}\", expected one of: {}", s, [$($s),+].join(", ")))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use keyword_enum;

keyword_enum! {
    /// Where logs go (`srs_log_tank`).
    LogTank {
        /// Standard output.
        Console = "console",
        /// The file `srs_log_file`.
        File = "file",
    }
}

keyword_enum! {
    /// Log level (`srs_log_level`: SRS v1 names; `srs_log_level_v2`: v2
    /// names). The same word means different levels in the two directives
    /// (SRS's `srs_get_log_level` and `srs_get_log_level_v2`): see
    /// [`LogLevel::filter_v1`] and [`LogLevel::filter_v2`].
    LogLevel {
        /// Everything (v1).
        Verbose = "verbose",
        /// Debug (v2).
        Debug = "debug",
        /// v1: debug details; v2: the normal level.
        Info = "info",
        /// v1: the normal level (SRS's default); v2: everything.
        Trace = "trace",
        /// Warnings.
        Warn = "warn",
        /// Errors only.
        Error = "error",
    }
}

impl LogLevel {
    /// The `tracing` level of an `srs_log_level` (SRS 4 names: verbose <
    /// info < trace < warn < error, default trace): `trace` is INFO,
    /// `info` and `debug` are DEBUG, `verbose` is TRACE.
    pub fn filter_v1(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter as L;
        match self {
            LogLevel::Verbose => L::TRACE,
            LogLevel::Debug | LogLevel::Info => L::DEBUG,
            LogLevel::Trace => L::INFO,
            LogLevel::Warn => L::WARN,
            LogLevel::Error => L::ERROR,
        }
    }

    /// The `tracing` level of an `srs_log_level_v2` (log4j names: trace <
    /// debug < info < warn < error): the names are `tracing`'s own
    /// (`verbose`, not a v2 name, is TRACE too).
    pub fn filter_v2(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter as L;
        match self {
            LogLevel::Verbose | LogLevel::Trace => L::TRACE,
            LogLevel::Debug => L::DEBUG,
            LogLevel::Info => L::INFO,
            LogLevel::Warn => L::WARN,
            LogLevel::Error => L::ERROR,
        }
    }
}

keyword_enum! {
    /// How log lines are written (`log_format`, shardsfu's own).
    LogFormat {
        /// One human-readable line per event.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

keyword_enum! {
    /// Which candidates the SDP answer carries (`rtc_server.protocol`).
    RtcProtocol {
        /// UDP candidates only.
        Udp = "udp",
        /// TCP candidates only (needs `rtc_server.tcp` enabled).
        Tcp = "tcp",
        /// UDP and TCP candidates.
        All = "all",
    }
}

keyword_enum! {
    /// Which addresses the automatic candidate detection keeps (`rtc_server.ip_family`).
    IpFamily {
        /// IPv4 only.
        Ipv4 = "ipv4",
        /// IPv6 only.
        Ipv6 = "ipv6",
        /// Both.
        All = "all",
    }
}

/// The whole configuration. Build it with [`Config::load`](super::Config::load),
/// [`Config::parse_str`](super::Config::parse_str) or
/// [`Config::embedded_default`](super::Config::embedded_default);
/// `Config::default()` is SRS's defaults, as from an empty file: `vhosts`
/// holds `__defaultVhost__` at its defaults, but it is not configured
/// ([`Config::vhost_for`] finds no vhost, as SRS would).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// RTMP listen endpoints (`listen`, or SRS 7's `rtmp { listen }`). Default `0.0.0.0:1935`.
    pub listen: Vec<SocketAddr>,
    /// RTMP chunk size (`chunk_size`, or `rtmp { chunk_size }`). Default 60000.
    pub chunk_size: u32,
    /// Connection limit (`max_connections`). Default 1000.
    pub max_connections: u32,
    /// `max_connections_per_ip` (shardsfu): TCP connections one client
    /// address (an IPv6 address's /64) may hold open on the HTTP, HTTPS,
    /// RTMP and WebRTC-over-TCP listeners together. Default 128.
    pub max_connections_per_ip: u32,
    /// `daemon`: parsed and kept; shardsfu never daemonizes. Default on.
    pub daemon: bool,
    /// `pid` file. Default `./objs/srs.pid`.
    pub pid: String,
    /// `srs_log_tank`. Default file.
    pub srs_log_tank: LogTank,
    /// `srs_log_level`. Default trace.
    pub srs_log_level: LogLevel,
    /// `srs_log_level_v2`: when set, replaces `srs_log_level`. Default unset.
    pub srs_log_level_v2: Option<LogLevel>,
    /// `srs_log_file`. Default `./objs/srs.log`.
    pub srs_log_file: String,
    /// `log_format` (shardsfu's own): text or JSON lines. Default text.
    pub log_format: LogFormat,
    /// `workers` (shardsfu's own): number of shards; `None` = the CPUs this
    /// process may run on. At least 1.
    pub workers: Option<usize>,
    /// `server_id`. Default unset (the server makes one up).
    pub server_id: Option<String>,
    /// `utc_time`: log times in UTC. Default off.
    pub utc_time: bool,
    /// `pithy_print_ms`: interval of periodic status logs. Default 10 s.
    pub pithy_print_ms: Duration,
    /// `work_dir`. Default `./`.
    pub work_dir: String,
    /// `asprocess`: quit when the parent process goes away. Default off.
    pub asprocess: bool,
    /// `empty_ip_ok`: accept connections whose peer IP is empty. Default on.
    pub empty_ip_ok: bool,
    /// `grace_start_wait`: wait before closing listeners on graceful quit. Default 2300 ms.
    pub grace_start_wait: Duration,
    /// `grace_final_wait`: final wait on graceful quit. Default 3200 ms.
    pub grace_final_wait: Duration,
    /// `force_grace_quit`: treat SIGTERM as graceful quit. Default off.
    pub force_grace_quit: bool,
    /// `http_server { }`.
    pub http_server: HttpServerConfig,
    /// `http_api { }`.
    pub http_api: HttpApiConfig,
    /// `rtc_server { }`.
    pub rtc_server: RtcServerConfig,
    /// `stats { }`.
    pub stats: StatsConfig,
    /// `exporter { }`: the Prometheus endpoint.
    pub exporter: ExporterConfig,
    /// `signaling { }`: the built-in rooms of `/sig/v1/rtc` (shardsfu's own).
    pub signaling: super::signaling::SignalingConfig,
    /// `cluster { }` (shardsfu's own): the stream directory in Redis.
    pub cluster: super::cluster::ClusterConfig,
    /// Every `vhost NAME { }`, by name; `__defaultVhost__` is always present
    /// (at SRS's defaults when the file has none, so that `SRS_VHOST_*`
    /// overrides have a vhost to apply to).
    pub vhosts: BTreeMap<String, VhostConfig>,
    /// Whether the file wrote `vhost __defaultVhost__ { }`. Without it SRS
    /// serves no request whose vhost is not configured by name, and neither
    /// does [`Config::vhost_for`].
    pub default_vhost_configured: bool,
}

/// `http_server { https { } }` and `http_api { https { } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`. Default 8088 (server) / 1990 (API).
    pub listen: Vec<SocketAddr>,
    /// `key`: PEM private key file. Default `./conf/server.key`.
    pub key: String,
    /// `cert`: PEM certificate file. Default `./conf/server.crt`.
    pub cert: String,
}

/// `http_server { }`: static files and HTTP streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`. Default `0.0.0.0:8080`.
    pub listen: Vec<SocketAddr>,
    /// `dir`: document root. Default `./objs/nginx/html`.
    pub dir: String,
    /// `crossdomain`: send CORS headers. Default on.
    pub crossdomain: bool,
    /// `https { }`.
    pub https: HttpsConfig,
}

/// `http_api { auth { } }`: HTTP basic authentication of the API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpApiAuthConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `username`. Default empty.
    pub username: String,
    /// `password`. Default empty.
    pub password: String,
}

/// `http_api { }`: the HTTP API (WHIP/WHEP, `/rtc/v1/*`, `/api/v1/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApiConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`. Default `0.0.0.0:1985`. When equal to `http_server.listen`,
    /// SRS serves both on the one port.
    pub listen: Vec<SocketAddr>,
    /// `crossdomain`: send CORS headers. Default on.
    pub crossdomain: bool,
    /// `auth { }`.
    pub auth: HttpApiAuthConfig,
    /// `https { }`.
    pub https: HttpsConfig,
}

/// `rtc_server { tcp { } }`: WebRTC over TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcTcpConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`. Default `0.0.0.0:8000`.
    pub listen: Vec<SocketAddr>,
}

/// `rtc_server { black_hole { } }`: copy plaintext RTP to an address, for debugging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlackHoleConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `addr`. Default unset.
    pub addr: Option<SocketAddr>,
}

/// `rtc_server { }`: the WebRTC UDP/TCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcServerConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`: UDP endpoints. Default `0.0.0.0:8000`.
    pub listen: Vec<SocketAddr>,
    /// `tcp { }`.
    pub tcp: RtcTcpConfig,
    /// `protocol`. Default udp.
    pub protocol: RtcProtocol,
    /// `candidate`, resolved: one or more of an IP (IPv6 without
    /// brackets when it came from the file), a host name, or `*` (detect
    /// from the interfaces), separated by spaces (as the `CANDIDATE`
    /// variable may hold them). See [`RtcServerConfig::candidates`].
    /// Default `*`.
    pub candidate: String,
    /// `use_auto_detect_network_ip`. Default on.
    pub use_auto_detect_network_ip: bool,
    /// `ip_family`. Default ipv4.
    pub ip_family: IpFamily,
    /// `api_as_candidates`: also use the API request's host as a candidate. Default on.
    pub api_as_candidates: bool,
    /// `resolve_api_domain`. Default on.
    pub resolve_api_domain: bool,
    /// `keep_api_domain`. Default off.
    pub keep_api_domain: bool,
    /// `first_check_timeout` (shardsfu): seconds a new session may wait for
    /// its first valid STUN check before it ends. Default 10.
    pub first_check_timeout: u32,
    /// `max_pending_per_ip` (shardsfu): sessions one client IP may hold
    /// that have not passed ICE yet. Default 64.
    pub max_pending_per_ip: u32,
    /// `signaling_rate_per_ip` (shardsfu): signaling requests (WHIP, WHEP,
    /// the legacy publish and play) one client address may make per second
    /// on average; 0 switches the limit off. Default 20.
    pub signaling_rate_per_ip: u32,
    /// `signaling_burst_per_ip` (shardsfu): how many of those it may make
    /// at once. Default 40.
    pub signaling_burst_per_ip: u32,
    /// `max_queue_delay` (shardsfu): milliseconds a datagram may wait in a
    /// shard's receive queue. Later RTP is dropped, and new sessions are
    /// refused (503) while a shard is that far behind (`crate::overload`);
    /// 0 switches it off. Default 0: on a machine shared with other work,
    /// the OS alone can hold an idle shard off its core that long.
    pub max_queue_delay: u32,
    /// `max_shard_load` (shardsfu): percent of its core a shard may be busy
    /// over a second before new sessions are refused (503) for two seconds;
    /// 0 switches it off. Default 90.
    pub max_shard_load: u32,
    /// `ecdsa`: ECDSA (on) or RSA (off) DTLS certificate. Default on.
    pub ecdsa: bool,
    /// `encrypt`: SRTP. Default on.
    pub encrypt: bool,
    /// `reuseport`: sockets per endpoint in SRS; kept for compatibility
    /// (shardsfu binds one per shard). Default 1.
    pub reuseport: u32,
    /// `merge_nalus`. Default off.
    pub merge_nalus: bool,
    /// `ice_servers` (shardsfu's; SRS has none): STUN/TURN URIs sent to
    /// WHIP/WHEP clients as `Link: <uri>; rel="ice-server"` (RFC 9725
    /// §4.6). Default none.
    pub ice_servers: Vec<String>,
    /// `black_hole { }`.
    pub black_hole: BlackHoleConfig,
}

impl RtcServerConfig {
    /// The `candidate` values, one by one.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        self.candidate.split_ascii_whitespace()
    }

    /// Whether candidates are to be detected from the interfaces: a value
    /// is `*` or `0.0.0.0`, as in SRS.
    pub fn candidate_is_auto(&self) -> bool {
        self.candidates().any(|c| c == "*" || c == "0.0.0.0")
    }
}

/// `stats { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// `enabled`. Default on.
    pub enabled: bool,
    /// `network`: index of the network device reported. Default 0.
    pub network: u32,
    /// `disk`: disk devices reported. Default none.
    pub disk: Vec<String>,
}

/// `exporter { }`: Prometheus text at `GET /metrics` (SRS 5+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `listen`: a port or `ip:port`. Default 9972.
    pub listen: Vec<SocketAddr>,
    /// `label`: the `label` constant label on every metric; empty for none.
    pub label: String,
    /// `tag`: the `tag` constant label on every metric; empty for none.
    pub tag: String,
}

fn any(port: u16) -> Vec<SocketAddr> {
    vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)]
}

impl HttpsConfig {
    fn with_port(port: u16) -> Self {
        HttpsConfig {
            enabled: false,
            listen: any(port),
            key: "./conf/server.key".into(),
            cert: "./conf/server.crt".into(),
        }
    }
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            enabled: false,
            listen: any(8080),
            dir: "./objs/nginx/html".into(),
            crossdomain: true,
            https: HttpsConfig::with_port(8088),
        }
    }
}

impl Default for HttpApiConfig {
    fn default() -> Self {
        HttpApiConfig {
            enabled: false,
            listen: any(1985),
            crossdomain: true,
            auth: HttpApiAuthConfig::default(),
            https: HttpsConfig::with_port(1990),
        }
    }
}

impl Default for RtcTcpConfig {
    fn default() -> Self {
        RtcTcpConfig {
            enabled: false,
            listen: any(8000),
        }
    }
}

impl Default for RtcServerConfig {
    fn default() -> Self {
        RtcServerConfig {
            enabled: false,
            listen: any(8000),
            tcp: RtcTcpConfig::default(),
            protocol: RtcProtocol::Udp,
            candidate: "*".into(),
            use_auto_detect_network_ip: true,
            ip_family: IpFamily::Ipv4,
            api_as_candidates: true,
            resolve_api_domain: true,
            keep_api_domain: false,
            first_check_timeout: 10,
            max_pending_per_ip: 64,
            signaling_rate_per_ip: 20,
            signaling_burst_per_ip: 40,
            max_queue_delay: 0,
            max_shard_load: 90,
            ecdsa: true,
            encrypt: true,
            reuseport: 1,
            merge_nalus: false,
            ice_servers: Vec::new(),
            black_hole: BlackHoleConfig::default(),
        }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            enabled: true,
            network: 0,
            disk: Vec::new(),
        }
    }
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            enabled: false,
            listen: any(9972),
            label: String::new(),
            tag: String::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut vhosts = BTreeMap::new();
        vhosts.insert(DEFAULT_VHOST.to_string(), VhostConfig::new(DEFAULT_VHOST));
        Config {
            listen: any(1935),
            chunk_size: 60000,
            max_connections: 1000,
            max_connections_per_ip: 128,
            daemon: true,
            pid: "./objs/srs.pid".into(),
            srs_log_tank: LogTank::File,
            srs_log_level: LogLevel::Trace,
            srs_log_level_v2: None,
            srs_log_file: "./objs/srs.log".into(),
            log_format: LogFormat::Text,
            workers: None,
            server_id: None,
            utc_time: false,
            pithy_print_ms: Duration::from_millis(10_000),
            work_dir: "./".into(),
            asprocess: false,
            empty_ip_ok: true,
            grace_start_wait: Duration::from_millis(2300),
            grace_final_wait: Duration::from_millis(3200),
            force_grace_quit: false,
            http_server: HttpServerConfig::default(),
            http_api: HttpApiConfig::default(),
            rtc_server: RtcServerConfig::default(),
            stats: StatsConfig::default(),
            exporter: ExporterConfig::default(),
            signaling: Default::default(),
            cluster: Default::default(),
            vhosts,
            default_vhost_configured: false,
        }
    }
}

impl Config {
    /// The vhost that serves a request for vhost `name`, as SRS resolves it
    /// (`SrsConfig::get_vhost` then the `enabled` check of
    /// `SrsRtmpConn::check_vhost`): the vhost of exactly that name
    /// (case-sensitive), else `__defaultVhost__` if the file configured it;
    /// then, if that vhost has `enabled off`, the request is refused (a
    /// disabled named vhost does not fall back to the default one).
    ///
    /// `name` is the request's vhost as SRS finds it: the `vhost` (else
    /// `domain`) query parameter, else the host (without port) of the
    /// `Host` header, RTMP tcUrl or `webrtc://` stream URL. See
    /// docs/configuration.md, "How a request's vhost is chosen".
    pub fn vhost_for(&self, name: &str) -> Result<&VhostConfig, VhostError> {
        let found = match self.vhosts.get(name) {
            Some(v) if name != DEFAULT_VHOST || self.default_vhost_configured => v,
            _ if self.default_vhost_configured => self.vhost(DEFAULT_VHOST),
            _ => {
                return Err(VhostError::NotFound {
                    name: name.to_string(),
                })
            }
        };
        if !found.enabled {
            return Err(VhostError::Disabled {
                name: name.to_string(),
                vhost: found.name.clone(),
            });
        }
        Ok(found)
    }

    /// The settings of vhost `name`, or of `__defaultVhost__` when there is
    /// no such vhost (as SRS's `get_vhost(name, true)`), configured or not
    /// and enabled or not. Requests should use [`Config::vhost_for`].
    pub fn vhost(&self, name: &str) -> &VhostConfig {
        static FALLBACK: std::sync::OnceLock<VhostConfig> = std::sync::OnceLock::new();
        self.vhosts
            .get(name)
            .or_else(|| self.vhosts.get(DEFAULT_VHOST))
            // Only reached if a caller removed the default vhost from the map.
            .unwrap_or_else(|| FALLBACK.get_or_init(|| VhostConfig::new(DEFAULT_VHOST)))
    }

    /// The effective log level: `srs_log_level_v2` when set, else `srs_log_level`.
    pub fn log_level(&self) -> LogLevel {
        self.srs_log_level_v2.unwrap_or(self.srs_log_level)
    }

    /// The `tracing` level the configuration asks for, as SRS reads it:
    /// `srs_log_level_v2` (v2 names) when set, else `srs_log_level` (v1
    /// names). The default (`srs_log_level trace`) is INFO.
    pub fn log_filter(&self) -> tracing::level_filters::LevelFilter {
        match self.srs_log_level_v2 {
            Some(v2) => v2.filter_v2(),
            None => self.srs_log_level.filter_v1(),
        }
    }
}
