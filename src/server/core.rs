//! One shard's runtime state and the async glue that feeds its sans-IO parts.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use shards::glommio::net::UdpSocket;
use shards::{Mesh, SendError};

use crate::rtp::{classify, PacketKind};
use crate::server::mesh_msg::ShardMsg;
use crate::server::session::Session;
use crate::server::shard::{ShardState, StunAction, StunDrop};
use crate::server::shared::Shared;
use crate::server::stats::ShardStats;

/// A shard: its sessions, sockets and channels. Lives in an `Rc` on its
/// executor; tasks borrow `state` only between awaits.
pub struct ShardCore {
    /// This shard's id.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
    /// Process-wide state.
    pub shared: Arc<Shared>,
    /// The sessions this shard holds.
    pub state: RefCell<ShardState>,
    /// Channels to the other shards.
    pub mesh: Mesh<ShardMsg>,
    /// The RTC UDP sockets of this shard (one per listen address).
    pub udp: Vec<Rc<UdpSocket>>,
}

impl ShardCore {
    /// This shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.shared.stats[self.id]
    }

    fn socket_for(&self, peer: &SocketAddr) -> Option<&Rc<UdpSocket>> {
        self.udp
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == peer.is_ipv4()))
            .or(self.udp.first())
    }

    async fn send_udp(&self, data: &[u8], to: SocketAddr) {
        let Some(sock) = self.socket_for(&to) else {
            return;
        };
        if sock.send_to(data, to).await.is_ok() {
            ShardStats::inc(&self.stats().udp_packets_out);
            ShardStats::add(&self.stats().udp_bytes_out, data.len() as u64);
        }
    }

    /// Handles one datagram received on this shard's RTC socket.
    pub async fn on_datagram(&self, from: SocketAddr, data: &[u8], out: &mut Vec<u8>) {
        let stats = self.stats();
        ShardStats::inc(&stats.udp_packets_in);
        ShardStats::add(&stats.udp_bytes_in, data.len() as u64);
        match classify(data) {
            PacketKind::Stun => self.on_stun(from, data, out).await,
            PacketKind::Unknown => ShardStats::inc(&stats.packets_unclassified),
            _ => {
                // DTLS, RTP and RTCP are only accepted from addresses that
                // passed ICE; the media path (DTLS/SRTP) builds on this.
                if self.state.borrow().token_of_addr(&from).is_none() {
                    ShardStats::inc(&stats.packets_unknown_source);
                }
            }
        }
    }

    async fn on_stun(&self, from: SocketAddr, data: &[u8], out: &mut Vec<u8>) {
        let action = self
            .state
            .borrow_mut()
            .handle_stun(Instant::now(), from, data, out);
        let stats = self.stats();
        match action {
            StunAction::Reply(to) => {
                ShardStats::inc(&stats.stun_answered);
                self.send_udp(out, to).await;
            }
            StunAction::Drop(StunDrop::Malformed) => ShardStats::inc(&stats.stun_malformed),
            StunAction::Drop(StunDrop::Rejected) => ShardStats::inc(&stats.stun_rejected),
            StunAction::NotHere(ufrag) => match self.shared.directory.shard_of_ufrag(&ufrag) {
                Some(owner) if owner != self.id => {
                    let msg = ShardMsg::Stun {
                        arrived_on: self.id,
                        from,
                        packet: data.to_vec(),
                    };
                    match self.mesh.try_send(owner, msg) {
                        Ok(()) => ShardStats::inc(&stats.stun_forwarded),
                        Err(_) => ShardStats::inc(&stats.stun_rejected),
                    }
                }
                // Owned here but in flight (moving in): the client retransmits.
                Some(_) => ShardStats::inc(&stats.stun_forwarded),
                None => ShardStats::inc(&stats.stun_unknown_ufrag),
            },
        }
    }

    /// Handles a message from another shard.
    pub async fn on_mesh(&self, msg: ShardMsg, out: &mut Vec<u8>) {
        match msg {
            ShardMsg::Stun {
                arrived_on,
                from,
                packet,
            } => {
                self.move_session_to(arrived_on, from, packet);
            }
            ShardMsg::Adopt {
                session,
                from,
                packet,
            } => {
                // The session may have been closed while it travelled.
                if !self.shared.directory.set_shard(&session.token, self.id) {
                    return;
                }
                self.adopt(*session);
                self.on_stun(from, &packet, out).await;
            }
            ShardMsg::Close { token } => {
                self.close_session(&token);
            }
        }
    }

    /// Moves the session named by the check in `packet` to shard `to`.
    fn move_session_to(&self, to: usize, from: SocketAddr, packet: Vec<u8>) {
        let token = {
            let state = self.state.borrow();
            let ufrag = crate::ice::parse(&packet)
                .ok()
                .and_then(|m| m.split_username().map(|(l, _)| l.to_string()));
            match ufrag.and_then(|u| state.token_of_ufrag(&u).map(str::to_string)) {
                Some(t) => t,
                None => return,
            }
        };
        let Some(session) = self.state.borrow_mut().remove(&token) else {
            return;
        };
        if !self.shared.directory.set_shard(&token, to) {
            return;
        }
        let msg = ShardMsg::Adopt {
            session: Box::new(session),
            from,
            packet,
        };
        match self.mesh.try_send(to, msg) {
            Ok(()) => {
                ShardStats::dec(&self.stats().sessions);
                ShardStats::inc(&self.stats().sessions_moved_out);
            }
            Err(SendError::Full(ShardMsg::Adopt { session, .. }))
            | Err(SendError::Closed(ShardMsg::Adopt { session, .. })) => {
                // Keep it here; the next check will try again.
                self.shared.directory.set_shard(&token, self.id);
                self.state.borrow_mut().insert(*session);
            }
            Err(_) => {}
        }
    }

    /// Adds a session created or moved to this shard.
    pub fn adopt(&self, session: Session) {
        ShardStats::inc(&self.stats().sessions);
        ShardStats::inc(&self.stats().sessions_created);
        self.state.borrow_mut().insert(session);
    }

    /// Ends a session held by this shard. Returns false if it is not here.
    pub fn close_session(&self, token: &str) -> bool {
        let Some(session) = self.state.borrow_mut().remove(token) else {
            return false;
        };
        self.release(&session);
        true
    }

    fn release(&self, session: &Session) {
        self.shared.directory.remove(&session.token);
        ShardStats::dec(&self.stats().sessions);
        tracing::info!(shard = self.id, session = %session.id, stream = %session.stream_key(), "session closed");
    }

    /// Runs the session timers (`stun_timeout`).
    pub fn tick(&self, now: Instant) {
        let due = self.state.borrow().poll_timeout().is_some_and(|t| t <= now);
        if !due {
            return;
        }
        let ended = self.state.borrow_mut().handle_timeout(now);
        for s in &ended {
            ShardStats::inc(&self.stats().sessions_timed_out);
            tracing::info!(shard = self.id, session = %s.id, "stun_timeout");
            self.release(s);
        }
    }

    /// Ends every session (shutdown).
    pub fn close_all(&self) {
        let tokens: Vec<String> = self
            .state
            .borrow()
            .sessions()
            .map(|s| s.token.clone())
            .collect();
        for t in tokens {
            self.close_session(&t);
        }
    }
}
