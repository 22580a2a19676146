//! What every shard shares: configuration, the certificate, the directory
//! and each shard's counters. Read-mostly; the directory is the only part
//! behind a lock and it is control-plane only.

use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::directory::Directory;
use crate::dtls::DtlsCert;
use crate::sfu::{ShardStats, StatsSnapshot};

/// Process-wide, read-mostly server state.
pub struct Shared {
    /// The configuration the process started with: what binds sockets and
    /// starts threads (requests and new sessions read [`Shared::current`]).
    pub config: Config,
    /// The running configuration, replaced by a reload (SIGHUP).
    pub current: crate::server::reload::Reloadable,
    /// Where the configuration is read from again on reload.
    pub source: crate::server::reload::ConfigSource,
    /// The process's DTLS certificate (its fingerprint goes in every answer).
    pub cert: Arc<DtlsCert>,
    /// Host name lookups, off the shard threads.
    pub resolver: crate::server::resolver::Resolver,
    /// `sha-256` fingerprint of [`Shared::cert`], `AB:CD:...`.
    pub fingerprint: String,
    /// Interface addresses detected at start (for `candidate *`).
    pub interfaces: Vec<IpAddr>,
    /// Sessions and streams by shard.
    pub directory: Directory,
    /// One set of counters per shard.
    pub stats: Vec<Arc<ShardStats>>,
    /// What each shard last published for the API.
    pub snapshots: crate::server::snapshots::Snapshots,
    /// Open HTTP connections, all listeners and shards together.
    pub http_connections: AtomicUsize,
    /// Open WebRTC-over-TCP connections, all shards together.
    pub rtc_tcp_connections: AtomicUsize,
    /// Open TCP connections by client address, every listener and shard
    /// together (`max_connections_per_ip`).
    pub connections_per_ip: Arc<crate::limits::PerIpConnections>,
    /// Signaling requests by client address (`signaling_rate_per_ip`).
    pub signaling_rate: crate::limits::SignalingRate,
    /// Which shards are overloaded (`max_queue_delay`), for the API.
    pub load: crate::overload::Load,
    /// HTTP hook calls in flight, all shards together.
    pub hooks_in_flight: crate::server::hooks::InFlight,
    /// Live streams (RTMP, HTTP-FLV, HLS), shared by every shard.
    pub live: Arc<crate::server::live::Hub>,
    /// The rooms of `/sig/v1/rtc`, every shard's sockets together.
    pub rooms: crate::server::rooms::RoomHub,
    /// Recording of live streams (DVR) and its writer thread.
    pub dvr: crate::server::dvr::Dvr,
    /// When the server started.
    pub started: Instant,
    /// Wall-clock start time.
    pub started_at: SystemTime,
    /// Maps the monotonic clock to NTP time for RTCP (one for all shards).
    pub ntp: crate::rtp::receiver_stats::NtpClock,
    /// TLS for `http_api { https { enabled on; } }`.
    pub tls_api: Option<futures_rustls::TlsAcceptor>,
    /// TLS for `http_server { https { enabled on; } }`.
    pub tls_files: Option<futures_rustls::TlsAcceptor>,
    /// Shards report being bound and ticking here (for systemd readiness and
    /// its watchdog, see [`crate::server::ops`]).
    pub liveness: crate::server::ops::Liveness,
    /// Set once a graceful stop (SIGTERM) has begun: new clients are refused.
    pub drain: crate::server::drain::DrainFlag,
    /// Room mixes (`/api/v1/rooms/{room}/mix`), process-wide.
    pub mixes: crate::server::mix::Mixes,
    /// This node's cluster membership (`cluster { enabled on; }`).
    pub cluster: Option<crate::server::cluster::Cluster>,
}

impl Shared {
    /// The state for `workers` shards: a fresh DTLS certificate, the
    /// candidate policy, the interface addresses of the machine and the
    /// HTTPS certificates (an unreadable one is an error here, before any
    /// port is bound). `source` is where a reload reads the configuration.
    pub fn new(
        config: Config,
        source: crate::server::reload::ConfigSource,
        workers: usize,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (tls_api, tls_files) = crate::server::tls::acceptors(&config)?;
        let cert = DtlsCert::generate().context("cannot create the DTLS certificate")?;
        let fingerprint = cert.fingerprint_sha256();
        let current = crate::server::reload::Reloadable::new(config.clone());
        let candidate = current.get().candidates.candidates.join(" ");
        let cluster = crate::server::cluster::Cluster::new(&config, &candidate);
        Ok(Shared {
            cluster,
            interfaces: crate::sdp::local_interface_ips(),
            cert: Arc::new(cert),
            fingerprint,
            current,
            source,
            resolver: Default::default(),
            config,
            directory: Directory::default(),
            stats: (0..workers).map(|_| Arc::default()).collect(),
            snapshots: crate::server::snapshots::Snapshots::new(workers),
            http_connections: Default::default(),
            rtc_tcp_connections: Default::default(),
            connections_per_ip: crate::limits::PerIpConnections::new(),
            signaling_rate: Default::default(),
            load: crate::overload::Load::new(workers, Instant::now()),
            hooks_in_flight: Default::default(),
            live: Default::default(),
            rooms: Default::default(),
            dvr: Default::default(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            ntp: crate::rtp::receiver_stats::NtpClock::new(Instant::now(), SystemTime::now()),
            tls_api,
            tls_files,
            drain: Default::default(),
            mixes: Default::default(),
            liveness: crate::server::ops::Liveness::new(workers),
        })
    }

    /// Every shard's counters added up.
    pub fn totals(&self) -> StatsSnapshot {
        let mut sum = StatsSnapshot::default();
        for s in &self.stats {
            sum += s.snapshot();
        }
        sum
    }
}
