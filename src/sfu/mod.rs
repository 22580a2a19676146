//! The per-shard SFU, sans-IO: sessions, publishers, players, the router,
//! packet history, stats — everything one shard does with a datagram, a
//! message from another shard, a signaling command or a timer.
//!
//! It never touches a socket, a clock, a thread, a lock or the global
//! configuration: time is an argument, settings are handed in
//! ([`SfuSettings`], replaceable for reload), and everything it wants done
//! leaves through [`Sfu::poll_output`] — datagrams to send, messages for
//! other shards, and [`Event`]s the runtime carries out (directory updates,
//! hooks, the RTC→RTMP bridge).
//!
//! # Run loop
//!
//! The runtime (`src/server/`) owns one `Sfu` per shard and, after every
//! `handle_*` call, drains [`Sfu::poll_output`] until it returns `None`
//! before it feeds the next input; it wakes the SFU at
//! [`Sfu::poll_timeout`] with [`Sfu::handle_timeout`].
//!
//! ```no_run
//! # use shardsfu::sfu::{Sfu, Output};
//! # fn drive(sfu: &mut Sfu, now: std::time::Instant, from: std::net::SocketAddr, data: &[u8]) {
//! // `now`: when the runtime received the datagram.
//! sfu.handle_datagram(now, from, data);
//! while let Some(out) = sfu.poll_output() {
//!     match out {
//!         Output::Transmit(_payload, _to) => { /* sendmmsg */ }
//!         Output::Mesh(_dest, _msg) => { /* channel to another shard */ }
//!         Output::Event(_ev) => { /* directory, hooks, bridge */ }
//!     }
//! }
//! # }
//! ```
//!
//! The code is split by job: [`ingress`] (classification, STUN, DTLS),
//! [`forward`] (RTP in, fan-out, retransmissions), [`feedback`] (RTCP in,
//! keyframe requests), [`timers`], [`lifecycle`] (sessions created, moved,
//! connected, closed) and [`create`] (offer → answer → session).

pub mod create;
mod fanout;
mod feedback;
mod forward;
pub mod history;
pub mod ids;
mod ingress;
mod lifecycle;
pub mod mesh;
pub mod player;
pub mod publisher;
pub mod router;
pub mod routes;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod stats;
mod timers;
pub mod upstream;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

pub use self::create::{CreateError, CreateSession, Created};
pub use self::ids::{SessionToken, StreamKey};
pub use self::mesh::{IceRestart, MeshDest, ShardMsg};
pub use self::publisher::MediaPacket;
pub use self::session::{Media, Session, SessionCounters};
pub use self::settings::{SessionSettings, SfuSettings};
pub use self::stats::{ShardStats, StatsSnapshot};
use crate::dtls::DtlsCert;
use crate::rtp::receiver_stats::NtpClock;
use crate::rtp::sr_mapping::PublisherSr;
use crate::sdp::Role;
use crate::sfu::history::StreamHistory;
use crate::sfu::router::Router;
use crate::sfu::snapshot::{client_info, ShardSnapshot};

/// What the SFU wants done; drain with [`Sfu::poll_output`].
pub enum Output {
    /// Send this datagram (or RFC 4571 frame, for a WebRTC-over-TCP peer) to the address.
    Transmit(Bytes, SocketAddr),
    /// Send this message to another shard (or to all others).
    Mesh(MeshDest, ShardMsg),
    /// Something for the runtime to carry out.
    Event(Event),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// DELETE of its resource.
    Deleted,
    /// No STUN check for `stun_timeout`.
    StunTimeout,
    /// The peer sent DTLS close_notify.
    DtlsClosed,
    /// The DTLS handshake failed (wrong fingerprint, timeout, fatal alert).
    DtlsFailed,
    /// The server is stopping.
    Shutdown,
    /// Its WebRTC-over-TCP connection closed.
    TransportClosed,
    /// No valid STUN check came within `first_check_timeout`.
    NoCheck,
    /// A player that came before its stream's publisher waited
    /// `stun_timeout` and none came.
    NoPublisher,
}

impl EndReason {
    /// The reason as the session's end line names it.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::StunTimeout => "stun_timeout",
            EndReason::DtlsClosed => "dtls_closed",
            EndReason::DtlsFailed => "dtls_failed",
            EndReason::Shutdown => "shutdown",
            EndReason::TransportClosed => "transport_closed",
            EndReason::NoCheck => "no_check",
            EndReason::NoPublisher => "no_publisher",
        }
    }
}

/// A session that ended, for the directory, the hooks and the bridge.
#[derive(Debug, Clone)]
pub struct Closed {
    /// Its token.
    pub token: SessionToken,
    /// Publisher or player.
    pub role: Role,
    /// The vhost it was created for.
    pub vhost: String,
    /// Its app.
    pub app: String,
    /// Its stream name.
    pub stream: String,
    /// The peer's address, if ICE found one.
    pub peer: Option<SocketAddr>,
    /// Why it ended.
    pub reason: EndReason,
}

/// What the runtime carries out for the SFU.
#[derive(Debug)]
pub enum Event {
    /// A STUN check named a ufrag this shard does not hold: the runtime asks
    /// the directory which shard holds it and forwards the check there as
    /// [`ShardMsg::Stun`] (or counts it as unknown).
    UnknownUfrag {
        /// The server ufrag the check named.
        ufrag: String,
        /// The check's source.
        from: SocketAddr,
        /// The check.
        packet: Vec<u8>,
    },
    /// A session passed its first valid STUN check: it no longer counts
    /// against its client's limit of sessions waiting for ICE.
    IceConnected {
        /// The session.
        token: SessionToken,
    },
    /// A session ended: forget it in the directory, tell the hooks, end its
    /// RTC→RTMP bridge.
    SessionClosed(Closed),
    /// A decrypted packet of a publisher with `rtc_to_rtmp`, for the live
    /// side. When the bridge wants a keyframe, the runtime calls
    /// [`Sfu::handle_keyframe_request`].
    PublisherMedia {
        /// The publisher.
        token: SessionToken,
        /// Its stream.
        stream: StreamKey,
        /// The packet (shared, not copied).
        packet: MediaPacket,
    },
    /// A Sender Report of a publisher with `rtc_to_rtmp`: `(ssrc, NTP, RTP)`.
    PublisherSenderReport {
        /// The publisher.
        token: SessionToken,
        /// The reporting SSRC.
        ssrc: u32,
        /// NTP time, 32.32.
        ntp: u64,
        /// RTP time.
        rtp: u32,
    },
}

/// The sessions of one shard, indexed by token, server ufrag and peer
/// address, and the shard's stream routing.
pub struct Sfu {
    id: usize,
    local_addr: SocketAddr,
    cert: Arc<DtlsCert>,
    fingerprint: String,
    ntp: NtpClock,
    stats: Arc<ShardStats>,
    settings: Arc<SfuSettings>,
    sessions: HashMap<SessionToken, Session>,
    by_ufrag: HashMap<String, SessionToken>,
    by_addr: HashMap<SocketAddr, SessionToken>,
    routes: routes::Routes,
    router: Router,
    histories: HashMap<StreamKey, StreamHistory>,
    publisher_srs: HashMap<StreamKey, Vec<PublisherSr>>,
    handshaking: Vec<SessionToken>,
    scratch: Vec<u8>,
    /// Where protected copies are written (see [`crate::srtp::seal`]).
    arena: bytes::BytesMut,
    out: VecDeque<Output>,
    fan_outs: fanout::FanOutQueue,
}

/// What a shard's SFU is built from.
pub struct SfuConfig {
    /// The shard's id.
    pub id: usize,
    /// The address of the shard's RTC socket (DTLS needs one).
    pub local_addr: SocketAddr,
    /// The process's DTLS certificate.
    pub cert: Arc<DtlsCert>,
    /// Monotonic → NTP time, one for all shards.
    pub ntp: NtpClock,
    /// This shard's counters (read by the API on any shard).
    pub stats: Arc<ShardStats>,
    /// The settings new sessions get.
    pub settings: Arc<SfuSettings>,
}

impl Sfu {
    /// The SFU of one shard.
    pub fn new(cfg: SfuConfig) -> Self {
        Self {
            id: cfg.id,
            local_addr: cfg.local_addr,
            fingerprint: cfg.cert.fingerprint_sha256(),
            cert: cfg.cert,
            ntp: cfg.ntp,
            stats: cfg.stats,
            settings: cfg.settings,
            sessions: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            routes: routes::Routes::default(),
            router: Router::default(),
            histories: HashMap::new(),
            publisher_srs: HashMap::new(),
            handshaking: Vec::new(),
            scratch: Vec::with_capacity(1500),
            arena: bytes::BytesMut::new(),
            out: VecDeque::new(),
            fan_outs: fanout::FanOutQueue::default(),
        }
    }

    /// This shard's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// This shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// The settings new sessions get.
    pub fn settings(&self) -> &Arc<SfuSettings> {
        &self.settings
    }

    /// Replaces the settings (reload): sessions created from now on get the
    /// new ones; existing sessions keep theirs.
    pub fn handle_settings(&mut self, settings: Arc<SfuSettings>) {
        self.settings = settings;
    }

    /// The next thing to do, if any. Drain after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            self.expand_fan_outs(1);
        }
        self.out.pop_front()
    }

    /// Moves every pending output into `out` (one call instead of one per
    /// datagram), queued fan-outs expanded.
    pub fn drain_outputs(&mut self, out: &mut Vec<Output>) {
        self.drain_outputs_upto(out, usize::MAX);
    }

    /// Moves the pending outputs into `out`, and expands queued fan-outs
    /// into it, a whole player's run at a time, until it holds at least
    /// `budget` outputs: for the runtime's flush, which sends each chunk
    /// before it asks for the next, so a large audience's copies are not
    /// all held at once. Call until it adds nothing.
    pub fn drain_outputs_upto(&mut self, out: &mut Vec<Output>, budget: usize) {
        out.extend(self.out.drain(..));
        while out.len() < budget && !self.fan_outs.is_empty() {
            self.expand_fan_outs(budget - out.len());
            out.extend(self.out.drain(..));
        }
    }

    /// How many outputs are pending, not counting queued fan-outs (for the
    /// runtime to flush a batch of inputs early, e.g. when NACKs ask for
    /// many retransmissions). A fan-out waits for the batch's end, so a
    /// frame's packets reach each player together.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// Received packets whose fan-out waits for the next drain.
    pub fn pending_fan_out_packets(&self) -> usize {
        self.fan_outs.packets()
    }

    fn transmit(&mut self, data: Bytes, to: SocketAddr) {
        self.out.push_back(Output::Transmit(data, to));
    }

    fn mesh(&mut self, to: MeshDest, msg: ShardMsg) {
        self.out.push_back(Output::Mesh(to, msg));
    }

    fn event(&mut self, ev: Event) {
        self.out.push_back(Output::Event(ev));
    }

    /// The session with this token.
    pub fn session(&self, token: &str) -> Option<&Session> {
        self.sessions.get(token)
    }

    /// The token of the session whose server ufrag is `ufrag`.
    pub fn token_of_ufrag(&self, ufrag: &str) -> Option<&SessionToken> {
        self.by_ufrag.get(ufrag)
    }

    /// Iterates over the sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Sizes of the tables: sessions, ufrags, addresses (own, and routed
    /// to or from other shards), routed streams
    /// (subscribed, published, remote interest) and kept stream state
    /// (histories and Sender Reports). All zero when idle; tests use this to
    /// find leaks.
    pub fn table_sizes(&self) -> [usize; 7] {
        let (sub, publ, interest) = self.router.sizes();
        let kept = self.histories.len() + self.publisher_srs.len();
        [
            self.sessions.len(),
            self.by_ufrag.len(),
            self.by_addr.len() + self.routes.len(),
            sub,
            publ,
            interest,
            kept,
        ]
    }

    /// Publishes the table sizes as gauges and returns, when `with_clients`,
    /// the sessions as the API shows them.
    pub fn snapshot(&mut self, now: Instant, with_clients: bool) -> Option<ShardSnapshot> {
        let [_, ufrags, addrs, sub, publ, interest, kept] = self.table_sizes();
        let st = &self.stats;
        ShardStats::set(&st.table_history, kept as u64);
        ShardStats::set(&st.table_ufrags, ufrags as u64);
        ShardStats::set(&st.table_addrs, addrs as u64);
        ShardStats::set(&st.table_subscribed, sub as u64);
        ShardStats::set(&st.table_published, publ as u64);
        ShardStats::set(&st.table_interest, interest as u64);
        if !with_clients {
            return None;
        }
        let id = self.id;
        let clients = self
            .sessions
            .values_mut()
            .map(|s| client_info(id, now, s))
            .collect();
        Some(ShardSnapshot { clients })
    }
}
