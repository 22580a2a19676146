//! One shard's runtime glue: feeds datagrams, mesh messages and the clock
//! into its [`ShardState`] and carries out what it asks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use shards::glommio::net::UdpSocket;
use shards::{Mesh, SendBatch, SendError, MAX_BATCH};

use crate::server::mesh_msg::ShardMsg;
use crate::server::session::Session;
use crate::server::shard::{EndReason, MeshDest, Outputs, ShardState};
use crate::server::shared::Shared;
use crate::server::stats::ShardStats;

/// A shard: its state, sockets and channels. Lives in an `Rc` on its
/// executor; tasks borrow `state` only between awaits.
pub struct ShardCore {
    /// This shard's id.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
    /// Process-wide state.
    pub shared: Arc<Shared>,
    /// The sessions and routes this shard holds (sans-IO).
    pub state: RefCell<ShardState>,
    /// Channels to the other shards.
    pub mesh: Mesh<ShardMsg>,
    /// The RTC UDP sockets of this shard (one per listen address).
    pub udp: Vec<RtcSocket>,
    /// Reused buffers for batched sends.
    pub batch: RefCell<SendBatch>,
    /// The send queues of this shard's WebRTC-over-TCP connections, by
    /// peer address: packets for these addresses go there, not to UDP.
    pub tcp_peers: RefCell<HashMap<SocketAddr, flume::Sender<bytes::Bytes>>>,
}

/// One RTC UDP socket and its address family (known at bind time, so
/// choosing a socket costs no syscall per datagram).
#[derive(Clone)]
pub struct RtcSocket {
    /// The socket.
    pub sock: Rc<UdpSocket>,
    /// Whether it is bound to an IPv4 address.
    pub v4: bool,
}

impl ShardCore {
    /// This shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.shared.stats[self.id]
    }

    fn socket_for(&self, v4: bool) -> Option<&Rc<UdpSocket>> {
        self.udp
            .iter()
            .find(|s| s.v4 == v4)
            .or(self.udp.first())
            .map(|s| &s.sock)
    }

    /// Handles one datagram received on this shard's RTC socket.
    pub async fn on_datagram(&self, from: SocketAddr, data: &[u8]) {
        let stats = self.stats();
        self.on_packet(&stats.udp_packets_in, &stats.udp_bytes_in, from, data)
            .await;
    }

    /// Handles one packet received in a frame on a WebRTC-over-TCP
    /// connection from `from`.
    pub async fn on_tcp_frame(&self, from: SocketAddr, data: &[u8]) {
        let stats = self.stats();
        self.on_packet(&stats.tcp_frames_in, &stats.tcp_bytes_in, from, data)
            .await;
    }

    /// The WebRTC-over-TCP connection from `peer` closed: its session ends
    /// (its last packets, e.g. close_notify, still go to the connection's
    /// queue), then packets for `peer` stop going to TCP.
    pub async fn on_tcp_closed(&self, peer: SocketAddr) {
        self.state
            .borrow_mut()
            .handle_transport_closed(Instant::now(), peer);
        self.flush().await;
        self.tcp_peers.borrow_mut().remove(&peer);
    }

    /// Counts a received packet on its transport's counters, then hands it
    /// to the state and carries out what that queued.
    async fn on_packet(
        &self,
        packets: &std::sync::atomic::AtomicU64,
        bytes: &std::sync::atomic::AtomicU64,
        from: SocketAddr,
        data: &[u8],
    ) {
        ShardStats::inc(packets);
        ShardStats::add(bytes, data.len() as u64);
        self.state
            .borrow_mut()
            .handle_datagram(Instant::now(), from, data);
        self.flush().await;
    }

    /// Handles a message from another shard.
    pub async fn on_mesh(&self, msg: ShardMsg) {
        self.state.borrow_mut().handle_mesh(Instant::now(), msg);
        self.flush().await;
    }

    /// Adds a session created on this shard.
    pub fn adopt(&self, session: Session) {
        self.state.borrow_mut().insert(session);
    }

    /// Ends a session held by this shard (its close_notify goes out at the
    /// next [`Self::flush`]). Returns false if it is not here.
    pub fn close_session(&self, token: &str) -> bool {
        self.state
            .borrow_mut()
            .close(Instant::now(), token, EndReason::Deleted)
    }

    /// Runs due timers (DTLS retransmissions, `stun_timeout`) and publishes
    /// the shard's figures for the API.
    pub async fn tick(&self, now: Instant, with_clients: bool) {
        self.state.borrow_mut().publish_stats(now, with_clients);
        let due = self.state.borrow().poll_timeout().is_some_and(|t| t <= now);
        if due {
            self.state.borrow_mut().handle_timeout(now);
            self.flush().await;
        }
    }

    /// Ends every session (shutdown), sending close_notify where DTLS is up.
    pub async fn close_all(&self) {
        self.state.borrow_mut().close_all(Instant::now());
        self.flush().await;
    }

    /// Carries out what the state queued: mesh messages, hook notifications
    /// (each in a task of its own), then datagrams.
    pub async fn flush(&self) {
        loop {
            let out: Outputs = self.state.borrow_mut().take_outputs();
            if out.is_empty() {
                return;
            }
            for (to, msg) in out.mesh {
                match to {
                    MeshDest::Shard(s) => self.send_mesh(s, msg),
                    MeshDest::Others => {
                        for s in (0..self.count).filter(|&s| s != self.id) {
                            if let Some(copy) = msg.broadcast_copy() {
                                self.send_mesh(s, copy);
                            }
                        }
                    }
                }
            }
            for ended in out.ended {
                ended.spawn_notify(self.shared.clone());
            }
            self.send_datagrams(&out.datagrams).await;
        }
    }

    /// Sends packets: to the send queue of a WebRTC-over-TCP connection when
    /// the address is one (only looked up while this shard has any), else
    /// over UDP.
    async fn send_datagrams(&self, datagrams: &[(bytes::Bytes, SocketAddr)]) {
        let udp: Vec<(bytes::Bytes, SocketAddr)>;
        let datagrams = {
            let tcp = self.tcp_peers.borrow();
            if tcp.is_empty() {
                datagrams
            } else {
                let stats = self.stats();
                let mut rest = Vec::with_capacity(datagrams.len());
                for (data, to) in datagrams {
                    match tcp.get(to) {
                        None => rest.push((data.clone(), *to)),
                        Some(queue) => {
                            if queue.try_send(data.clone()).is_ok() {
                                ShardStats::inc(&stats.tcp_frames_out);
                                ShardStats::add(&stats.tcp_bytes_out, data.len() as u64);
                            } else {
                                ShardStats::inc(&stats.tcp_dropped);
                            }
                        }
                    }
                }
                udp = rest;
                &udp[..]
            }
        };
        self.send_udp(datagrams).await;
    }

    /// Sends datagrams in `sendmmsg` batches (runs of one address family);
    /// when the kernel's buffer is full, the next one waits the slow way.
    async fn send_udp(&self, datagrams: &[(bytes::Bytes, SocketAddr)]) {
        let stats = self.stats();
        let mut i = 0;
        while i < datagrams.len() {
            let v4 = datagrams[i].1.is_ipv4();
            let Some(sock) = self.socket_for(v4) else {
                return;
            };
            let end = datagrams[i..]
                .iter()
                .position(|(_, a)| a.is_ipv4() != v4)
                .map_or(datagrams.len(), |p| i + p)
                .min(i + MAX_BATCH);
            let sent = self
                .batch
                .borrow_mut()
                .send(sock.as_raw_fd(), &datagrams[i..end])
                .unwrap_or(0);
            let bytes: usize = datagrams[i..i + sent].iter().map(|(d, _)| d.len()).sum();
            ShardStats::add(&stats.udp_packets_out, sent as u64);
            ShardStats::add(&stats.udp_bytes_out, bytes as u64);
            i += sent;
            if i < end {
                // Full (or an error for this one datagram): wait for room.
                let (data, to) = &datagrams[i];
                if sock.send_to(data, *to).await.is_ok() {
                    ShardStats::inc(&stats.udp_packets_out);
                    ShardStats::add(&stats.udp_bytes_out, data.len() as u64);
                }
                i += 1;
            }
        }
    }

    fn send_mesh(&self, to: usize, msg: ShardMsg) {
        match self.mesh.try_send(to, msg) {
            Ok(()) => {}
            Err(SendError::Full(ShardMsg::Adopt { session, .. }))
            | Err(SendError::Closed(ShardMsg::Adopt { session, .. })) => {
                // Keep it here; the next check tries again.
                self.state.borrow_mut().undo_move(*session);
            }
            Err(_) => ShardStats::inc(&self.stats().mesh_dropped),
        }
    }
}
