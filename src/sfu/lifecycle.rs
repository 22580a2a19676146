//! Session lifecycle: sessions are added (created here or moved in), move
//! to the shard of their first STUN check, connect (join the fan-out or
//! become a stream's source) and close. Also the messages other shards send.

use std::net::SocketAddr;
use std::time::Instant;

use crate::dtls::DtlsPhase;
use crate::ice;
use crate::sdp::Role;
use crate::sfu::mesh::IceRestart;
use crate::sfu::{
    Closed, EndReason, Event, Media, MeshDest, Session, SessionToken, Sfu, ShardMsg, ShardStats,
};

impl Sfu {
    /// Adds a session (created on this shard, or moved in from another).
    pub fn insert(&mut self, session: Session) {
        ShardStats::inc(&self.stats.sessions);
        ShardStats::inc(&self.stats.sessions_created);
        self.by_ufrag
            .insert(session.ufrag.clone(), session.token.clone());
        for u in &session.ice_ufrags {
            self.by_ufrag.insert(u.clone(), session.token.clone());
        }
        for addr in session.ice.validated() {
            self.by_addr.insert(addr, session.token.clone());
        }
        if let Some(up) = &session.upstream {
            // A pull's origin answers from this address from the start.
            self.by_addr.insert(up.target, session.token.clone());
        }
        self.sessions.insert(session.token.clone(), session);
    }

    fn unindex(&mut self, token: &str) -> Option<Session> {
        let session = self.sessions.remove(token)?;
        self.by_ufrag.remove(&session.ufrag);
        for u in &session.ice_ufrags {
            self.by_ufrag.remove(u);
        }
        self.by_addr.retain(|_, t| t.as_str() != token);
        self.handshaking.retain(|t| t.as_str() != token);
        let owner = self.id;
        for (from, shard) in self.routes.remove_session(token) {
            self.mesh(MeshDest::Shard(shard), ShardMsg::Unroute { from, owner });
        }
        Some(session)
    }

    /// Ends a session (DELETE of its resource, or any other `reason`):
    /// close_notify to the peer if DTLS is up, routes removed, and
    /// [`Event::SessionClosed`] for the runtime. Returns false if it is not
    /// on this shard.
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
                self.transmit(d, peer);
            }
        }
        let connected = s.is_connected();
        match (&s.media, connected) {
            (Media::Player(_), true)
                if self
                    .router
                    .remove_subscriber(s.stream_key.as_str(), &s.token) =>
            {
                self.histories.remove(s.stream_key.as_str());
                self.publisher_srs.remove(s.stream_key.as_str());
                let msg = ShardMsg::Interest {
                    stream: s.stream_key.clone(),
                    shard: self.id,
                    on: false,
                };
                self.mesh(MeshDest::Others, msg);
            }
            (Media::Publisher(_), _) => self
                .router
                .remove_publisher(s.stream_key.as_str(), &s.token),
            _ => {}
        }
        ShardStats::dec(&self.stats.sessions);
        match reason {
            EndReason::StunTimeout => ShardStats::inc(&self.stats.sessions_timed_out),
            EndReason::DtlsFailed => ShardStats::inc(&self.stats.dtls_failures),
            EndReason::NoPublisher => ShardStats::inc(&self.stats.players_wait_expired),
            EndReason::NoCheck => ShardStats::inc(&self.stats.sessions_no_check),
            _ => {}
        }
        s.log_end(self.id, now, reason);
        self.event(Event::SessionClosed(Closed {
            token: s.token,
            role: s.role,
            vhost: s.vhost,
            app: s.app,
            stream: s.stream,
            peer,
            reason,
        }));
        true
    }

    /// Ends every session (shutdown).
    pub fn close_all(&mut self, now: Instant) {
        let tokens: Vec<SessionToken> = self.sessions.keys().cloned().collect();
        for t in tokens {
            self.close(now, t.as_str(), EndReason::Shutdown);
        }
    }

    /// Starts the media of a session whose DTLS just connected: a player
    /// joins its stream's fan-out (and asks for a keyframe), a publisher
    /// becomes the stream's source. Called by the DTLS driver; public so
    /// benchmarks can build connected sessions without a handshake.
    pub fn on_connected(&mut self, now: Instant, token: &SessionToken) {
        let Some(s) = self.sessions.get(token) else {
            return;
        };
        ShardStats::inc(&self.stats.dtls_connected);
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
                    self.mesh(MeshDest::Others, msg);
                }
                if let Some(Media::Player(p)) = self.sessions.get_mut(token).map(|s| &mut s.media) {
                    p.keyframe_requested(now);
                }
                self.request_keyframe(now, &stream);
            }
            Role::Publish => {
                self.router.set_publisher(&stream, token);
                // Players may already wait (a publisher came back): start them.
                if !self.router.subscribers(stream.as_str()).is_empty()
                    || !self.router.remote_shards(stream.as_str()).is_empty()
                {
                    self.send_pli(now, token);
                }
            }
        }
    }

    /// Handles a message from another shard. An [`ShardMsg::Adopt`] must
    /// only be handed in when the directory still knows the session (it
    /// may have been deleted while it travelled).
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
                self.insert(*session);
                self.handle_stun(now, from, &packet);
            }
            ShardMsg::Close { token } => {
                self.close(now, token.as_str(), EndReason::Deleted);
            }
            ShardMsg::IceRestart(r) => {
                self.handle_ice_restart(&r);
            }
            ShardMsg::Media { stream, packet } => self.fan_out(now, &stream, &packet),
            ShardMsg::Interest { stream, shard, on } => {
                self.router.set_interest(&stream, shard, on)
            }
            ShardMsg::SenderReport { stream, sr } => {
                if !self.router.subscribers(stream.as_str()).is_empty() {
                    self.store_sender_report(&stream, sr);
                }
            }
            ShardMsg::Route { from, owner } => {
                self.routes.add_inbound(from, owner);
            }
            ShardMsg::Unroute { from, owner } => self.routes.remove_inbound(from, owner),
            ShardMsg::Routed { from, packet } => self.handle_routed(now, from, &packet),
            ShardMsg::Keyframe { stream } => {
                if let Some(token) = self.router.publisher(stream.as_str()).cloned() {
                    self.send_pli(now, &token);
                }
            }
        }
    }

    /// Moves the session named by the check in `packet` to shard `to`, if
    /// the check is authentic (a stranger who read a ufrag cannot move or
    /// touch a session).
    fn move_session(&mut self, now: Instant, to: usize, from: SocketAddr, packet: Vec<u8>) {
        let Ok(msg) = ice::parse(&packet) else {
            return;
        };
        let Some(token) = msg
            .split_username()
            .and_then(|(l, _)| self.by_ufrag.get(l).cloned())
        else {
            return;
        };
        let Some(session) = self.sessions.get(&token) else {
            return;
        };
        if session.ice.check_authentic(from, &msg).is_err() {
            return ShardStats::inc(&self.stats.stun_rejected);
        }
        if session.dtls.is_some() {
            // Too late to move (DTLS started here): the peer's address changed
            // after ICE. Answer from here (the reply leaves from the same
            // port), and have shard `to` hand over the address's datagrams.
            self.handle_stun(now, from, &packet);
            return self.route_here(&token, from, to);
        }
        let Some(session) = self.unindex(token.as_str()) else {
            return;
        };
        ShardStats::dec(&self.stats.sessions);
        ShardStats::inc(&self.stats.sessions_moved_out);
        let msg = ShardMsg::Adopt {
            session: Box::new(session),
            from,
            packet,
        };
        self.mesh(MeshDest::Shard(to), msg);
    }

    /// After an authentic check from `from` (received by shard `via`) was
    /// answered here: ask `via` for the address's datagrams.
    fn route_here(&mut self, token: &SessionToken, from: SocketAddr, via: usize) {
        let Some(session) = self.sessions.get(token) else {
            return;
        };
        if via == self.id || self.by_addr.get(&from) != Some(token) {
            return;
        }
        let ice = &session.ice;
        let change = self
            .routes
            .add_outbound(token, from, via, |a| ice.is_validated(a));
        if let Some((from, shard)) = change.unroute {
            let owner = self.id;
            self.mesh(MeshDest::Shard(shard), ShardMsg::Unroute { from, owner });
        }
        if let Some((from, shard)) = change.route {
            tracing::debug!(shard = self.id, session = %token, %from, via = shard, "client address routed from another shard");
            let owner = self.id;
            self.mesh(MeshDest::Shard(shard), ShardMsg::Route { from, owner });
        }
    }

    /// An ICE restart of session `r.token` (WHIP's `PATCH`, decided by the
    /// API against the directory): checks with the new credentials are
    /// answered from now on, the old ones until the client uses the new
    /// ones; DTLS, SRTP and the selected address stay. Returns false if the
    /// session is not on this shard.
    pub fn handle_ice_restart(&mut self, r: &IceRestart) -> bool {
        let Some(s) = self.sessions.get_mut(r.token.as_str()) else {
            return false;
        };
        s.ice
            .restart(r.ufrag.clone(), &r.pwd, Some(r.remote_ufrag.clone()));
        s.ice_ufrags.push(r.ufrag.clone());
        if s.ice_ufrags.len() > crate::directory::MAX_ICE_ALIASES {
            let old = s.ice_ufrags.remove(0);
            self.by_ufrag.remove(&old);
        }
        self.by_ufrag.insert(r.ufrag.clone(), r.token.clone());
        ShardStats::inc(&self.stats.ice_restarts);
        tracing::info!(shard = self.id, session = %s.id, restarts = s.ice.restarts(), "ICE restart");
        true
    }

    /// Puts a session back after its move failed (the target's channel was
    /// full or closed); the runtime points the directory back here.
    pub fn handle_undo_move(&mut self, session: Session) {
        ShardStats::dec(&self.stats.sessions_moved_out);
        ShardStats::dec(&self.stats.sessions_created);
        self.insert(session);
    }
}
