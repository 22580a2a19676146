//! Ingress: every packet from a peer is classified once (RFC 7983) and goes
//! to STUN (ICE-lite checks), DTLS (the handshake), or, from an address that
//! passed ICE, to SRTP/SRTCP ([`forward`](super::forward),
//! [`feedback`](super::feedback)).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::dtls::{DtlsEvent, DtlsRole, DtlsTransport};
use crate::ice;
use crate::rtp::{classify, PacketKind};
use crate::sfu::{EndReason, Event, MeshDest, SessionToken, Sfu, ShardMsg, ShardStats};
use crate::srtp::SrtpSession;

impl Sfu {
    /// Handles one packet from the RTC UDP socket or a WebRTC-over-TCP
    /// connection (the runtime counts it by transport), received at `now`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match classify(data) {
            PacketKind::Stun => self.handle_stun(now, from, data),
            PacketKind::Unknown => ShardStats::inc(&self.stats.packets_unclassified),
            kind => {
                let Some(token) = self.by_addr.get(&from).cloned() else {
                    return self.route_or_drop(from, data);
                };
                self.handle_from_peer(now, kind, &token, data);
            }
        }
    }

    /// A datagram another shard's socket received for a session of this
    /// shard ([`ShardMsg::Routed`](crate::sfu::ShardMsg::Routed)): handled
    /// as if it came in here, and never routed on.
    pub(super) fn handle_routed(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match classify(data) {
            PacketKind::Stun => self.handle_stun(now, from, data),
            PacketKind::Unknown => ShardStats::inc(&self.stats.packets_unclassified),
            kind => match self.by_addr.get(&from).cloned() {
                Some(token) => self.handle_from_peer(now, kind, &token, data),
                None => ShardStats::inc(&self.stats.packets_unknown_source),
            },
        }
    }

    fn handle_from_peer(
        &mut self,
        now: Instant,
        kind: PacketKind,
        token: &SessionToken,
        data: &[u8],
    ) {
        match kind {
            PacketKind::Dtls => self.handle_dtls(now, token, data),
            PacketKind::Rtp => self.handle_rtp(now, token, data),
            _ => self.handle_rtcp(now, token, data),
        }
    }

    /// A datagram from an address with no session here: to the shard that
    /// asked for the address ([`routes`](crate::sfu::routes)), else dropped.
    fn route_or_drop(&mut self, from: SocketAddr, data: &[u8]) {
        match self.routes.owner_of(&from) {
            Some(owner) => {
                ShardStats::inc(&self.stats.packets_routed);
                let msg = ShardMsg::Routed {
                    from,
                    packet: data.to_vec(),
                };
                self.mesh(MeshDest::Shard(owner), msg);
            }
            None => ShardStats::inc(&self.stats.packets_unknown_source),
        }
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
            self.close(now, token.as_str(), EndReason::TransportClosed);
        }
    }

    pub(super) fn handle_stun(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let Ok(msg) = ice::parse(packet) else {
            return ShardStats::inc(&self.stats.stun_malformed);
        };
        if matches!(msg.class(), ice::StunClass::Success | ice::StunClass::Error) {
            // An answer to one of our checks (pulls are the controlling side).
            return self.handle_stun_response(now, from, &msg);
        }
        let Some((local, _)) = msg.split_username() else {
            return ShardStats::inc(&self.stats.stun_malformed);
        };
        let Some(token) = self.by_ufrag.get(local).cloned() else {
            let ufrag = local.to_string();
            return self.event(Event::UnknownUfrag {
                ufrag,
                from,
                packet: packet.to_vec(),
            });
        };
        let Some(session) = self.sessions.get_mut(&token) else {
            return;
        };
        let mut out = Vec::with_capacity(128);
        if session
            .ice
            .handle_binding_request(now, from, &msg, &mut out)
            .is_err()
        {
            return ShardStats::inc(&self.stats.stun_rejected);
        }
        ShardStats::inc(&self.stats.stun_answered);
        while session.ice.poll_event().is_some() {}
        let first_check = session.check_deadline.take().is_some();
        let start_dtls = session.dtls.is_none();
        if !self.by_addr.contains_key(&from) {
            // The agent bounds its validated addresses; keep the index in step.
            let ice = &session.ice;
            self.by_addr
                .retain(|a, t| *t != token || ice.is_validated(*a));
            self.by_addr.insert(from, token.clone());
        }
        self.transmit(Bytes::from(out), from);
        if first_check {
            self.event(Event::IceConnected {
                token: token.clone(),
            });
        }
        if start_dtls {
            self.start_dtls(now, &token, from);
        }
    }

    pub(super) fn start_dtls(&mut self, now: Instant, token: &SessionToken, peer: SocketAddr) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        if s.answer.remote_fingerprints.is_empty() {
            // An offer without a fingerprint passes ICE (SRS's diagnostics
            // need that) but can never authenticate DTLS: no media, ever.
            if !s.unauthenticated_logged {
                s.unauthenticated_logged = true;
                crate::warn_limited!(session = %s.id, "offer had no fingerprint: ICE passed, DTLS refused");
            }
            return;
        }
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
        match DtlsTransport::new(&self.cert, role, self.local_addr, peer, fps, now) {
            Ok(mut dtls) => {
                let mut first = Vec::new();
                while let Some(d) = dtls.poll_transmit() {
                    first.push(d);
                }
                s.dtls = Some(dtls);
                self.handshaking.push(token.clone());
                for d in first {
                    self.transmit(d, peer);
                }
            }
            Err(e) => {
                crate::warn_limited!(session = %s.id, "DTLS setup failed: {e}");
                self.close(now, token.as_str(), EndReason::DtlsFailed);
            }
        }
    }

    fn handle_dtls(&mut self, now: Instant, token: &SessionToken, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let Some(dtls) = s.dtls.as_mut() else {
            return ShardStats::inc(&self.stats.dtls_dropped);
        };
        let ignored = dtls.stats().datagrams_ignored;
        dtls.handle_input(now, data);
        if dtls.stats().datagrams_ignored > ignored {
            ShardStats::inc(&self.stats.dtls_dropped);
        }
        self.drive_dtls(now, token);
    }

    /// Sends what DTLS has to send and acts on its events.
    pub(super) fn drive_dtls(&mut self, now: Instant, token: &SessionToken) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        let peer = s.peer();
        let (Some(dtls), Some(peer)) = (s.dtls.as_mut(), peer) else {
            return;
        };
        let mut sends = Vec::new();
        while let Some(d) = dtls.poll_transmit() {
            s.counters.bytes_out += d.len() as u64;
            sends.push(d);
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
                        crate::warn_limited!(session = %s.id, "SRTP setup failed: {e}");
                        ended = Some(EndReason::DtlsFailed);
                    }
                },
                DtlsEvent::Closed => ended = Some(EndReason::DtlsClosed),
                DtlsEvent::Failed(e) => {
                    crate::warn_limited!(session = %s.id, "DTLS failed: {e}");
                    ended = Some(EndReason::DtlsFailed);
                }
            }
        }
        for d in sends {
            self.transmit(d, peer);
        }
        if connected || ended.is_some() {
            self.handshaking.retain(|t| t != token);
        }
        if let Some(reason) = ended {
            self.close(now, token.as_str(), reason);
        } else if connected {
            self.on_connected(now, token);
        }
    }
}
