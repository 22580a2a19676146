//! One shard's sessions and what it does with every datagram, mesh message
//! and timer (sans-IO: outputs are queued in [`Outputs`] for the runtime).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::config::DEFAULT_VHOST;
use crate::dtls::{DtlsEvent, DtlsPhase, DtlsRole, DtlsTransport};
use crate::ice::{self, IceEvent};
use crate::rtp::rtcp::{self, RtcpPacket};
use crate::rtp::sr_mapping::PublisherSr;
use crate::rtp::{classify, PacketKind, Ssrc};
use crate::sdp::Role;
use crate::server::history::StreamHistory;
use crate::server::hooks;
use crate::server::mesh_msg::ShardMsg;
use crate::server::publisher::{MediaPacket, RtpDrop};
use crate::server::router::Router;
use crate::server::session::{Media, Session, SessionCounters};
use crate::server::shared::Shared;
use crate::server::snapshot::{client_info, ShardSnapshot};
use crate::server::stats::ShardStats;
use crate::srtp::SrtpSession;

/// Where a mesh message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshDest {
    /// One shard.
    Shard(usize),
    /// Every other shard.
    Others,
}

/// What the runtime must do after a call into [`ShardState`].
#[derive(Default)]
pub struct Outputs {
    /// Datagrams to send from the RTC socket.
    pub datagrams: Vec<(Bytes, SocketAddr)>,
    /// Messages for other shards.
    pub mesh: Vec<(MeshDest, ShardMsg)>,
    /// Publishers and players that ended, for the `on_unpublish`/`on_stop`
    /// hooks (only queued when such a hook is configured).
    pub ended: Vec<crate::server::hooks::Ended>,
}

impl Outputs {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty() && self.mesh.is_empty() && self.ended.is_empty()
    }
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
}

/// The sessions of one shard, indexed by token, server ufrag and peer
/// address, and the shard's stream routing.
pub struct ShardState {
    shared: Arc<Shared>,
    id: usize,
    local_addr: SocketAddr,
    sessions: HashMap<String, Session>,
    by_ufrag: HashMap<String, String>,
    by_addr: HashMap<SocketAddr, String>,
    router: Router,
    histories: HashMap<String, StreamHistory>,
    publisher_srs: HashMap<String, Vec<PublisherSr>>,
    handshaking: Vec<String>,
    scratch: Vec<u8>,
    out: Outputs,
}

impl ShardState {
    /// The state of shard `id`, whose RTC socket is bound to `local_addr`.
    pub fn new(shared: Arc<Shared>, id: usize, local_addr: SocketAddr) -> Self {
        Self {
            shared,
            id,
            local_addr,
            sessions: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            router: Router::default(),
            histories: HashMap::new(),
            publisher_srs: HashMap::new(),
            handshaking: Vec::new(),
            scratch: Vec::with_capacity(1500),
            out: Outputs::default(),
        }
    }

    fn stats(&self) -> &ShardStats {
        &self.shared.stats[self.id]
    }

    /// Takes what the runtime must send.
    pub fn take_outputs(&mut self) -> Outputs {
        std::mem::take(&mut self.out)
    }

    /// Adds a session (new, or moved in from another shard).
    pub fn insert(&mut self, session: Session) {
        ShardStats::inc(&self.stats().sessions);
        ShardStats::inc(&self.stats().sessions_created);
        self.by_ufrag
            .insert(session.ufrag.clone(), session.token.clone());
        for addr in session.ice.validated() {
            self.by_addr.insert(addr, session.token.clone());
        }
        self.sessions.insert(session.token.clone(), session);
    }

    /// Takes a session out to move it to another shard (it stays registered).
    pub fn take_for_move(&mut self, token: &str) -> Option<Session> {
        let s = self.unindex(token)?;
        ShardStats::dec(&self.stats().sessions);
        ShardStats::inc(&self.stats().sessions_moved_out);
        Some(s)
    }

    fn unindex(&mut self, token: &str) -> Option<Session> {
        let session = self.sessions.remove(token)?;
        self.by_ufrag.remove(&session.ufrag);
        self.by_addr.retain(|_, t| t != token);
        self.handshaking.retain(|t| t != token);
        Some(session)
    }

    /// Ends a session: close_notify to the peer if DTLS is up, routes and
    /// directory entries removed. Returns false if it is not on this shard.
    pub fn close(&mut self, now: Instant, token: &str, reason: EndReason) -> bool {
        let Some(mut s) = self.unindex(token) else {
            return false;
        };
        let peer = s.peer();
        if let (Some(dtls), Some(peer)) = (s.dtls.as_mut(), peer) {
            if dtls.phase() == DtlsPhase::Connected && reason != EndReason::DtlsClosed {
                dtls.close(now);
            }
            while let Some(d) = dtls.poll_transmit() {
                self.out.datagrams.push((d, peer));
            }
        }
        let connected = s.is_connected();
        match (&s.media, connected) {
            (Media::Player(_), true) if self.router.remove_subscriber(&s.stream_key, &s.token) => {
                self.histories.remove(&s.stream_key);
                self.publisher_srs.remove(&s.stream_key);
                let msg = ShardMsg::Interest {
                    stream: s.stream_key.clone(),
                    shard: self.id,
                    on: false,
                };
                self.out.mesh.push((MeshDest::Others, msg));
            }
            (Media::Publisher(_), _) => self.router.remove_publisher(&s.stream_key, &s.token),
            _ => {}
        }
        self.shared.directory.remove(&s.token);
        let action = match s.role {
            Role::Publish => hooks::Action::Unpublish,
            Role::Play => hooks::Action::Stop,
        };
        let hooks = &self.shared.config.vhost(DEFAULT_VHOST).http_hooks;
        if !action.urls(hooks).is_empty() {
            self.out.ended.push(hooks::Ended {
                action,
                ip: peer.map_or_else(String::new, |p| p.ip().to_string()),
                app: s.app.clone(),
                stream: s.stream.clone(),
                tc_url: format!("webrtc://localhost/{}", s.app),
            });
        }
        // Live hook: the RTC → RTMP bridge of a publisher ends with it.
        crate::server::live::rtc_to_rtmp::on_close(&s.token);
        let stats = self.stats();
        ShardStats::dec(&stats.sessions);
        match reason {
            EndReason::StunTimeout => ShardStats::inc(&stats.sessions_timed_out),
            EndReason::DtlsFailed => ShardStats::inc(&stats.dtls_failures),
            _ => {}
        }
        tracing::info!(shard = self.id, session = %s.id, stream = %s.stream_key, ?reason, "session closed");
        true
    }

    /// The peer at `addr` is gone (its WebRTC-over-TCP connection closed):
    /// a session whose selected address it was ends now rather than at
    /// `stun_timeout`, and the address is forgotten either way.
    pub fn handle_transport_closed(&mut self, now: Instant, addr: SocketAddr) {
        let Some(token) = self.by_addr.remove(&addr) else {
            return;
        };
        if self
            .sessions
            .get(&token)
            .is_some_and(|s| s.peer() == Some(addr))
        {
            self.close(now, &token, EndReason::TransportClosed);
        }
    }

    /// The session with this token.
    pub fn session(&self, token: &str) -> Option<&Session> {
        self.sessions.get(token)
    }

    /// The token of the session whose server ufrag is `ufrag`.
    pub fn token_of_ufrag(&self, ufrag: &str) -> Option<&str> {
        self.by_ufrag.get(ufrag).map(String::as_str)
    }

    /// Sizes of the tables: sessions, ufrags, addresses, routed streams
    /// (subscribed, published, remote interest) and kept stream state
    /// (histories and Sender Reports). All zero when idle; tests use this to
    /// find leaks.
    pub fn table_sizes(&self) -> [usize; 7] {
        let (sub, publ, interest) = self.router.sizes();
        let kept = self.histories.len() + self.publisher_srs.len();
        [
            self.sessions.len(),
            self.by_ufrag.len(),
            self.by_addr.len(),
            sub,
            publ,
            interest,
            kept,
        ]
    }

    /// Iterates over the sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Handles one packet from the RTC UDP socket or a WebRTC-over-TCP
    /// connection (the runtime counts it by transport).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match classify(data) {
            PacketKind::Stun => self.handle_stun(now, from, data),
            PacketKind::Unknown => ShardStats::inc(&self.stats().packets_unclassified),
            kind => {
                let Some(token) = self.by_addr.get(&from).cloned() else {
                    ShardStats::inc(&self.stats().packets_unknown_source);
                    return;
                };
                match kind {
                    PacketKind::Dtls => self.handle_dtls(now, &token, data),
                    PacketKind::Rtp => self.handle_rtp(now, &token, data),
                    _ => self.handle_rtcp(now, &token, data),
                }
            }
        }
    }

    fn handle_stun(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let Ok(msg) = ice::parse(packet) else {
            return ShardStats::inc(&self.stats().stun_malformed);
        };
        let Some((local, _)) = msg.split_username() else {
            return ShardStats::inc(&self.stats().stun_malformed);
        };
        let Some(token) = self.by_ufrag.get(local).cloned() else {
            return self.forward_stun(from, local, packet);
        };
        let stats = &self.shared.stats[self.id];
        let Some(session) = self.sessions.get_mut(&token) else {
            return;
        };
        let mut out = Vec::with_capacity(128);
        if session
            .ice
            .handle_binding_request(now, from, &msg, &mut out)
            .is_err()
        {
            return ShardStats::inc(&stats.stun_rejected);
        }
        ShardStats::inc(&stats.stun_answered);
        self.out.datagrams.push((Bytes::from(out), from));
        if !self.by_addr.contains_key(&from) {
            // The agent bounds its validated addresses; keep the index in step.
            self.by_addr
                .retain(|a, t| *t != token || session.ice.is_validated(*a));
            self.by_addr.insert(from, token.clone());
        }
        while session.ice.poll_event().is_some() {}
        if session.dtls.is_none() {
            self.start_dtls(now, &token, from);
        }
    }

    /// A check for a session this shard does not hold: hand it to the shard
    /// that does (which moves the session here), or count it as unknown.
    fn forward_stun(&mut self, from: SocketAddr, ufrag: &str, packet: &[u8]) {
        match self.shared.directory.shard_of_ufrag(ufrag) {
            Some(owner) if owner != self.id => {
                let msg = ShardMsg::Stun {
                    arrived_on: self.id,
                    from,
                    packet: packet.to_vec(),
                };
                self.out.mesh.push((MeshDest::Shard(owner), msg));
                ShardStats::inc(&self.stats().stun_forwarded);
            }
            // Ours but in flight (moving in): the client retransmits.
            Some(_) => ShardStats::inc(&self.stats().stun_forwarded),
            None => ShardStats::inc(&self.stats().stun_unknown_ufrag),
        }
    }

    fn start_dtls(&mut self, now: Instant, token: &str, peer: SocketAddr) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        let role = if s.answer.we_are_dtls_client {
            DtlsRole::Client
        } else {
            DtlsRole::Server
        };
        let fps = s
            .answer
            .remote_fingerprints
            .iter()
            .map(|f| (f.algorithm.clone(), f.value.clone()))
            .collect();
        match DtlsTransport::new(&self.shared.cert, role, self.local_addr, peer, fps, now) {
            Ok(mut dtls) => {
                while let Some(d) = dtls.poll_transmit() {
                    self.out.datagrams.push((d, peer));
                }
                s.dtls = Some(dtls);
                self.handshaking.push(token.to_string());
            }
            Err(e) => {
                tracing::warn!(session = %s.id, "DTLS setup failed: {e}");
                self.close(now, token, EndReason::DtlsFailed);
            }
        }
    }

    fn handle_dtls(&mut self, now: Instant, token: &str, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let Some(dtls) = s.dtls.as_mut() else {
            return ShardStats::inc(&self.stats().dtls_dropped);
        };
        let ignored = dtls.stats().datagrams_ignored;
        dtls.handle_input(now, data);
        if dtls.stats().datagrams_ignored > ignored {
            ShardStats::inc(&self.stats().dtls_dropped);
        }
        self.drive_dtls(now, token);
    }

    /// Sends what DTLS has to send and acts on its events.
    fn drive_dtls(&mut self, now: Instant, token: &str) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        let peer = s.peer();
        let (Some(dtls), Some(peer)) = (s.dtls.as_mut(), peer) else {
            return;
        };
        while let Some(d) = dtls.poll_transmit() {
            s.counters.bytes_out += d.len() as u64;
            self.out.datagrams.push((d, peer));
        }
        let mut ended = None;
        let mut connected = false;
        while let Some(ev) = dtls.poll_event() {
            match ev {
                DtlsEvent::Connected { srtp } => match SrtpSession::new(&srtp) {
                    Ok(ctx) => {
                        s.srtp = Some(ctx);
                        connected = true;
                    }
                    Err(e) => {
                        tracing::warn!(session = %s.id, "SRTP setup failed: {e}");
                        ended = Some(EndReason::DtlsFailed);
                    }
                },
                DtlsEvent::Closed => ended = Some(EndReason::DtlsClosed),
                DtlsEvent::Failed(e) => {
                    tracing::warn!(session = %s.id, "DTLS failed: {e}");
                    ended = Some(EndReason::DtlsFailed);
                }
            }
        }
        if connected || ended.is_some() {
            self.handshaking.retain(|t| t != token);
        }
        if let Some(reason) = ended {
            self.close(now, token, reason);
        } else if connected {
            self.on_connected(now, token);
        }
    }

    /// Starts the media of a session whose DTLS just connected: a player
    /// joins its stream's fan-out (and asks for a keyframe), a publisher
    /// becomes the stream's source. Called by the DTLS driver; public so
    /// benchmarks can build connected sessions without a handshake.
    pub fn on_connected(&mut self, now: Instant, token: &str) {
        let Some(s) = self.sessions.get(token) else {
            return;
        };
        ShardStats::inc(&self.stats().dtls_connected);
        tracing::info!(shard = self.id, session = %s.id, stream = %s.stream_key, role = ?s.role, "media connected");
        let stream = s.stream_key.clone();
        match s.role {
            Role::Play => {
                if self.router.add_subscriber(&stream, token) {
                    let msg = ShardMsg::Interest {
                        stream: stream.clone(),
                        shard: self.id,
                        on: true,
                    };
                    self.out.mesh.push((MeshDest::Others, msg));
                }
                if let Some(Media::Player(p)) = self.sessions.get_mut(token).map(|s| &mut s.media) {
                    p.keyframe_requested(now);
                }
                self.request_keyframe(now, &stream);
            }
            Role::Publish => {
                self.router.set_publisher(&stream, token);
                // Players may already wait (a publisher came back): start them.
                if !self.router.subscribers(&stream).is_empty()
                    || !self.router.remote_shards(&stream).is_empty()
                {
                    self.send_pli(now, token);
                }
            }
        }
    }

    /// Asks the publisher of `stream` for a keyframe, wherever it is.
    fn request_keyframe(&mut self, now: Instant, stream: &str) {
        match self.router.publisher(stream).map(str::to_string) {
            Some(token) => self.send_pli(now, &token),
            None => self.out.mesh.push((
                MeshDest::Others,
                ShardMsg::Keyframe {
                    stream: stream.to_string(),
                },
            )),
        }
    }

    fn send_pli(&mut self, now: Instant, publisher: &str) {
        let Some(s) = self.sessions.get_mut(publisher) else {
            return;
        };
        let (Media::Publisher(p), Some(srtp), Some(peer)) =
            (&mut s.media, s.srtp.as_mut(), s.ice.selected())
        else {
            return;
        };
        let Some(media) = p.video_ssrc() else { return };
        if !p.allow_pli(now) {
            return;
        }
        self.scratch.clear();
        rtcp::write_pli(&mut self.scratch, Ssrc(1), Ssrc(media));
        let stats = &self.shared.stats[self.id];
        if queue_rtcp(&mut self.out, srtp, &mut s.counters, peer, &self.scratch) {
            ShardStats::inc(&stats.plis_sent);
        }
    }

    fn handle_rtp(&mut self, now: Instant, token: &str, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let (Some(srtp), Media::Publisher(p)) = (s.srtp.as_mut(), &mut s.media) else {
            s.counters.dropped += 1;
            return ShardStats::inc(&self.shared.stats[self.id].rtp_dropped);
        };
        let plain = match srtp.unprotect_rtp(data) {
            Ok(p) => p,
            Err(_) => {
                s.counters.srtp_errors += 1;
                return ShardStats::inc(&self.shared.stats[self.id].srtp_errors);
            }
        };
        s.counters.rtp_in += 1;
        let pkt = match p.classify(now, plain) {
            Ok(pkt) => pkt,
            Err(RtpDrop::Padding) => return,
            Err(_) => {
                s.counters.dropped += 1;
                return ShardStats::inc(&self.shared.stats[self.id].rtp_dropped);
            }
        };
        let stream = s.stream_key.clone();
        ShardStats::inc(&self.shared.stats[self.id].rtp_received);
        self.inject_media(now, &stream, &pkt);
        // Live hook: RTC → RTMP bridge (`rtc_to_rtmp`); may ask for a keyframe.
        if crate::server::live::rtc_to_rtmp::on_media(&self.shared, now, token, &stream, &pkt) {
            self.send_pli(now, token);
        }
    }

    /// Fans out a packet of `stream` that entered on this shard: once to
    /// every other shard with players of it, and to the local players. The
    /// WebRTC publisher path and the RTMP → RTC bridge both use it.
    pub fn inject_media(&mut self, now: Instant, stream: &str, pkt: &MediaPacket) {
        for &shard in self.router.remote_shards(stream) {
            let msg = ShardMsg::Media {
                stream: stream.to_string(),
                packet: pkt.clone(),
            };
            self.out.mesh.push((MeshDest::Shard(shard), msg));
        }
        self.fan_out(now, stream, pkt);
    }

    /// Sends `pkt` to every local player of `stream`.
    pub fn fan_out(&mut self, now: Instant, stream: &str, pkt: &MediaPacket) {
        if self.router.subscribers(stream).is_empty() {
            return;
        }
        self.histories
            .entry(stream.to_string())
            .or_default()
            .insert(pkt);
        let Self {
            router,
            sessions,
            scratch,
            out,
            shared,
            id,
            ..
        } = self;
        for token in router.subscribers(stream) {
            let Some(s) = sessions.get_mut(token) else {
                continue;
            };
            let (Media::Player(p), Some(srtp), Some(peer)) =
                (&mut s.media, s.srtp.as_mut(), s.ice.selected())
            else {
                continue;
            };
            if p.rewrite(now, pkt, scratch).is_err() {
                s.counters.dropped += 1;
                continue;
            }
            match srtp.protect_rtp(scratch) {
                Ok(enc) => {
                    s.counters.rtp_out += 1;
                    s.counters.bytes_out += enc.len() as u64;
                    out.datagrams.push((enc, peer));
                }
                Err(_) => ShardStats::inc(&shared.stats[*id].srtp_errors),
            }
        }
    }

    fn handle_rtcp(&mut self, now: Instant, token: &str, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let Some(srtp) = s.srtp.as_mut() else {
            s.counters.dropped += 1;
            return;
        };
        let plain = match srtp.unprotect_rtcp(data) {
            Ok(p) => p,
            Err(_) => {
                s.counters.srtp_errors += 1;
                return ShardStats::inc(&self.shared.stats[self.id].srtp_errors);
            }
        };
        s.counters.rtcp_in += 1;
        let mut wants_keyframe = false;
        let mut nacks: Vec<(u32, u16)> = Vec::new();
        let mut new_sr = None;
        for pkt in rtcp::parse_compound(&plain).flatten() {
            match (&mut s.media, pkt) {
                (Media::Publisher(p), RtcpPacket::SenderReport(sr)) => {
                    // Live hook: RTC → RTMP aligns audio and video by SRs.
                    crate::server::live::rtc_to_rtmp::on_sender_report(
                        &s.token,
                        sr.ssrc().0,
                        sr.ntp_time(),
                        sr.rtp_time(),
                    );
                    new_sr = Some(p.on_sender_report(now, &sr));
                }
                (Media::Player(p), RtcpPacket::Pli(_) | RtcpPacket::Fir(_)) => {
                    p.counters.plis_received += 1;
                    wants_keyframe = true
                }
                (Media::Player(p), RtcpPacket::ReceiverReport(rr)) => {
                    for b in rr.reports() {
                        p.on_report_block(now, &self.shared.ntp, &b);
                    }
                }
                (Media::Player(p), RtcpPacket::SenderReport(sr)) => {
                    for b in sr.reports() {
                        p.on_report_block(now, &self.shared.ntp, &b);
                    }
                }
                (Media::Player(_), RtcpPacket::Nack(n)) => {
                    let media = n.media().0;
                    nacks.extend(
                        n.lost()
                            .take(512 - nacks.len().min(512))
                            .map(|seq| (media, seq)),
                    );
                }
                _ => {}
            }
        }
        let stream = s.stream_key.clone();
        if let Some(sr) = new_sr {
            if !self.router.subscribers(&stream).is_empty() {
                self.store_sender_report(&stream, sr);
            }
            let msg = ShardMsg::SenderReport {
                stream: stream.clone(),
                sr,
            };
            self.out.mesh.push((MeshDest::Others, msg));
        }
        if !nacks.is_empty() {
            self.retransmit(now, token, &stream, &nacks);
        }
        if wants_keyframe {
            ShardStats::inc(&self.shared.stats[self.id].plis_received);
            self.request_keyframe(now, &stream);
        }
    }

    fn store_sender_report(&mut self, stream: &str, sr: PublisherSr) {
        let list = self.publisher_srs.entry(stream.to_string()).or_default();
        match list.iter_mut().find(|e| e.ssrc == sr.ssrc) {
            Some(e) => *e = sr,
            None => {
                if list.len() >= 4 {
                    list.remove(0);
                }
                list.push(sr);
            }
        }
    }

    /// Answers a player's NACKs from this shard's history of the stream.
    fn retransmit(&mut self, now: Instant, token: &str, stream: &str, nacks: &[(u32, u16)]) {
        let Self {
            sessions,
            histories,
            scratch,
            out,
            shared,
            id,
            ..
        } = self;
        let Some(s) = sessions.get_mut(token) else {
            return;
        };
        let (Media::Player(p), Some(srtp), Some(peer)) =
            (&mut s.media, s.srtp.as_mut(), s.ice.selected())
        else {
            return;
        };
        let stats = &shared.stats[*id];
        let history = histories.get(stream);
        for &(media, seq) in nacks {
            ShardStats::inc(&stats.nacks_received);
            let Some(h) = history.and_then(|h| h.for_ssrc(p, media)) else {
                p.counters.nacks_received += 1;
                p.counters.retransmit_refused += 1;
                ShardStats::inc(&stats.retransmit_refused);
                continue;
            };
            if !p.retransmit(now, media, seq, &h.packets, h.ext, scratch) {
                ShardStats::inc(&stats.retransmit_refused);
                continue;
            }
            if let Ok(enc) = srtp.protect_rtp(scratch) {
                s.counters.rtp_out += 1;
                s.counters.bytes_out += enc.len() as u64;
                ShardStats::inc(&stats.retransmitted);
                out.datagrams.push((enc, peer));
            }
        }
    }

    /// Handles a message from another shard.
    pub fn handle_mesh(&mut self, now: Instant, msg: ShardMsg) {
        match msg {
            ShardMsg::Stun {
                arrived_on,
                from,
                packet,
            } => self.move_session(now, arrived_on, from, packet),
            ShardMsg::Adopt {
                session,
                from,
                packet,
            } => {
                // The session may have been closed while it travelled.
                if self.shared.directory.set_shard(&session.token, self.id) {
                    self.insert(*session);
                    self.handle_stun(now, from, &packet);
                }
            }
            ShardMsg::Close { token } => {
                self.close(now, &token, EndReason::Deleted);
            }
            ShardMsg::Media { stream, packet } => self.fan_out(now, &stream, &packet),
            ShardMsg::Interest { stream, shard, on } => {
                self.router.set_interest(&stream, shard, on)
            }
            ShardMsg::SenderReport { stream, sr } => {
                if !self.router.subscribers(&stream).is_empty() {
                    self.store_sender_report(&stream, sr);
                }
            }
            ShardMsg::Keyframe { stream } => {
                if let Some(token) = self.router.publisher(&stream).map(str::to_string) {
                    self.send_pli(now, &token);
                }
            }
        }
    }

    /// Moves the session named by the check in `packet` to shard `to`.
    fn move_session(&mut self, now: Instant, to: usize, from: SocketAddr, packet: Vec<u8>) {
        let ufrag = ice::parse(&packet)
            .ok()
            .and_then(|m| m.split_username().map(|(l, _)| l.to_string()));
        let Some(token) = ufrag.and_then(|u| self.by_ufrag.get(&u).cloned()) else {
            return;
        };
        if self.sessions.get(&token).is_some_and(|s| s.dtls.is_some()) {
            // Too late to move (DTLS started here): the peer's address changed
            // after ICE. Answer from here; the reply leaves from the same port.
            return self.handle_stun(now, from, &packet);
        }
        let Some(session) = self.take_for_move(&token) else {
            return;
        };
        if self.shared.directory.set_shard(&token, to) {
            let msg = ShardMsg::Adopt {
                session: Box::new(session),
                from,
                packet,
            };
            self.out.mesh.push((MeshDest::Shard(to), msg));
        }
    }

    /// Puts a session back after its move failed (the target's channel was full).
    pub fn undo_move(&mut self, session: Session) {
        self.shared.directory.set_shard(&session.token, self.id);
        ShardStats::dec(&self.stats().sessions_moved_out);
        ShardStats::dec(&self.stats().sessions_created);
        self.insert(session);
    }

    /// The soonest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ice = self
            .sessions
            .values()
            .flat_map(|s| {
                let (a, b) = match &s.media {
                    Media::Publisher(p) if s.is_connected() => (p.poll_timeout(), None),
                    Media::Player(p) if s.is_connected() => (
                        p.keyframe_retry_due(),
                        Some(p.sr_due().unwrap_or(s.created)),
                    ),
                    _ => (None, None),
                };
                s.ice.poll_timeout().into_iter().chain(a).chain(b)
            })
            .min();
        let dtls = self
            .handshaking
            .iter()
            .filter_map(|t| self.sessions.get(t)?.dtls.as_ref()?.poll_timeout())
            .min();
        ice.into_iter().chain(dtls).min()
    }

    /// Runs due timers: DTLS retransmissions and `stun_timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<String> = self
            .handshaking
            .iter()
            .filter(|t| {
                self.sessions
                    .get(*t)
                    .and_then(|s| s.dtls.as_ref()?.poll_timeout())
                    .is_some_and(|at| at <= now)
            })
            .cloned()
            .collect();
        for token in due {
            if let Some(d) = self.sessions.get_mut(&token).and_then(|s| s.dtls.as_mut()) {
                d.handle_timeout(now);
            }
            self.drive_dtls(now, &token);
        }
        let mut plis = Vec::new();
        let mut retries = Vec::new();
        let Self {
            sessions,
            out,
            shared,
            id,
            scratch,
            publisher_srs,
            ..
        } = self;
        let stats = &shared.stats[*id];
        for s in sessions.values_mut() {
            let (Some(srtp), Some(peer)) = (s.srtp.as_mut(), s.ice.selected()) else {
                continue;
            };
            match &mut s.media {
                Media::Publisher(p) => {
                    if p.poll_timeout().is_none_or(|t| t > now) {
                        continue;
                    }
                    let (nacks, fbs) = (p.counters.nacks_sent, p.counters.twcc_feedback);
                    let keyframe = p.poll_rtcp(now, scratch);
                    ShardStats::add(&stats.nacks_sent, p.counters.nacks_sent - nacks);
                    ShardStats::add(&stats.twcc_feedback_sent, p.counters.twcc_feedback - fbs);
                    if queue_rtcp(out, srtp, &mut s.counters, peer, scratch) {
                        ShardStats::inc(&stats.reports_sent);
                    }
                    if keyframe || p.pli_due().is_some_and(|t| t <= now) {
                        plis.push(s.token.clone());
                    }
                }
                Media::Player(p) => {
                    if p.keyframe_retry_due().is_some_and(|t| t <= now) {
                        p.keyframe_requested(now);
                        retries.push(s.stream_key.clone());
                    }
                    if p.sr_due().is_some_and(|t| t > now) {
                        continue;
                    }
                    let srs = publisher_srs
                        .get(&s.stream_key)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    p.poll_sender_reports(now, &shared.ntp, srs, scratch);
                    if queue_rtcp(out, srtp, &mut s.counters, peer, scratch) {
                        ShardStats::inc(&stats.reports_sent);
                    }
                }
            }
        }
        for token in plis {
            self.send_pli(now, &token);
        }
        retries.sort();
        retries.dedup();
        for stream in retries {
            self.request_keyframe(now, &stream);
        }
        let mut timed_out = Vec::new();
        for s in self.sessions.values_mut() {
            if s.ice.poll_timeout().is_some_and(|t| t <= now) {
                s.ice.handle_timeout(now);
            }
            while let Some(ev) = s.ice.poll_event() {
                if ev == IceEvent::TimedOut {
                    timed_out.push(s.token.clone());
                }
            }
        }
        for token in timed_out {
            self.close(now, &token, EndReason::StunTimeout);
        }
    }

    /// Publishes the table sizes as gauges and, every
    /// [`SNAPSHOT_INTERVAL`](crate::server::snapshot::SNAPSHOT_INTERVAL), the
    /// sessions for the API.
    pub fn publish_stats(&mut self, now: Instant, with_clients: bool) {
        let [_, ufrags, addrs, sub, publ, interest, kept] = self.table_sizes();
        ShardStats::set(&self.shared.stats[self.id].table_history, kept as u64);
        let st = &self.shared.stats[self.id];
        ShardStats::set(&st.table_ufrags, ufrags as u64);
        ShardStats::set(&st.table_addrs, addrs as u64);
        ShardStats::set(&st.table_subscribed, sub as u64);
        ShardStats::set(&st.table_published, publ as u64);
        ShardStats::set(&st.table_interest, interest as u64);
        if with_clients {
            let id = self.id;
            let clients = self
                .sessions
                .values_mut()
                .map(|s| client_info(id, now, s))
                .collect();
            self.shared.snapshots.publish(id, ShardSnapshot { clients });
        }
    }

    /// Ends every session (shutdown).
    pub fn close_all(&mut self, now: Instant) {
        let tokens: Vec<String> = self.sessions.keys().cloned().collect();
        for t in tokens {
            self.close(now, &t, EndReason::Shutdown);
        }
    }
}

/// Protects `plain` RTCP with the session's SRTCP context and queues it to
/// `peer`. Returns whether it was queued (nothing is sent for empty input).
fn queue_rtcp(
    out: &mut Outputs,
    srtp: &mut SrtpSession,
    counters: &mut SessionCounters,
    peer: SocketAddr,
    plain: &[u8],
) -> bool {
    if plain.is_empty() {
        return false;
    }
    let Ok(enc) = srtp.protect_rtcp(plain) else {
        return false;
    };
    counters.rtcp_out += 1;
    counters.bytes_out += enc.len() as u64;
    out.datagrams.push((enc, peer));
    true
}
