//! One shard's runtime: its sockets, its channels to the other shards and
//! its [`Sfu`]. It feeds the SFU datagrams, mesh messages and the clock,
//! and carries out what the SFU returns: datagrams go out in `sendmmsg`
//! batches, mesh messages to their shards, events to the directory, the
//! hooks and the RTC→RTMP bridge.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shards::glommio::net::UdpSocket;
use shards::{Mesh, SendBatch, SendError, MAX_BATCH};

use crate::overload::ShardLoad;
use crate::server::hooks;
use crate::server::shared::Shared;
use crate::sfu::{Closed, EndReason, Event, MeshDest, Output, Sfu, ShardMsg, ShardStats};

/// A shard: its SFU, sockets and channels. Lives in an `Rc` on its
/// executor; tasks borrow `sfu` only between awaits.
pub struct ShardRuntime {
    /// This shard's id.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
    /// Process-wide state.
    pub shared: Arc<Shared>,
    /// The sessions and routes this shard holds (sans-IO).
    pub sfu: RefCell<Sfu>,
    /// Channels to the other shards.
    pub mesh: Mesh<ShardMsg>,
    /// The RTC UDP sockets of this shard (one per listen address).
    pub udp: Vec<RtcSocket>,
    /// Reused buffers for batched sends.
    pub batch: RefCell<SendBatch>,
    /// The send queues of this shard's WebRTC-over-TCP connections, by
    /// peer address: packets for these addresses go there, not to UDP.
    pub tcp_peers: RefCell<HashMap<SocketAddr, flume::Sender<Bytes>>>,
    /// The reload generation whose settings the SFU has.
    pub settings_generation: std::cell::Cell<u64>,
    /// Spare output buffers, so a flush allocates nothing in steady state.
    pub spare: RefCell<Option<FlushBuffers>>,
    /// Raised when the shard stops: its RTMP and HTTP-FLV connections end.
    pub stop: crate::server::live::session::StopSignal,
    /// This shard's pulls from origin nodes, by the address the SFU knows
    /// each by (its socket's local address): packets for these go out of
    /// the pull's socket to the origin.
    pub pull_routes: RefCell<HashMap<SocketAddr, crate::server::pull::PullRoute>>,
    /// This runtime itself (to start tasks from a request's handler).
    pub this: std::rc::Weak<ShardRuntime>,
    /// How long datagrams wait in this shard's receive queues and how busy
    /// it is, and whether that makes it overloaded (`max_queue_delay`,
    /// `max_shard_load`).
    pub load: RefCell<ShardLoad>,
}

/// The buffers one flush works in, reused: the SFU's outputs, the
/// datagrams, and the same grouped by destination.
#[derive(Default)]
pub struct FlushBuffers {
    outs: Vec<Output>,
    datagrams: Vec<(Bytes, SocketAddr)>,
    grouping: shards::DestinationOrder,
    grouped: Vec<(Bytes, SocketAddr)>,
}

/// Outputs one flush sends at a time: a received batch's fan-out is made
/// player by player as it is drained ([`crate::sfu::Sfu::drain_outputs_upto`]),
/// and sent every ~64 copies (a player's run is not split), so a large
/// audience's copies are not all held at once (~1.3 KB a copy) while each
/// player's run still goes as one GSO message ([`shards::SendBatch`]).
/// Other outputs (answers, retransmissions) past it flush a batch of
/// received datagrams before the rest of it is handled. docs/BENCHMARKS.md,
/// "UDP GSO" and "Fan-out player by player".
pub const FLUSH_AT: usize = 64;

/// `rtc_server.max_queue_delay` and `max_shard_load` applied to `q`.
pub fn configure_overload(q: &mut ShardLoad, config: &crate::config::Config) {
    let rtc = &config.rtc_server;
    q.set_budget(match rtc.max_queue_delay {
        0 => None,
        ms => Some(std::time::Duration::from_millis(u64::from(ms))),
    });
    q.set_max_busy((rtc.max_shard_load > 0).then_some(rtc.max_shard_load));
}

/// One RTC UDP socket and the address families it serves (known at bind
/// time, so choosing a socket costs no syscall per datagram).
#[derive(Clone)]
pub struct RtcSocket {
    /// The socket.
    pub sock: Rc<UdpSocket>,
    /// Whether it is bound to an IPv4 address.
    pub v4: bool,
    /// Whether it is a dual-stack `[::]` socket: it also serves IPv4 peers,
    /// which it addresses as `::ffff:a.b.c.d`.
    pub dual: bool,
}

impl RtcSocket {
    /// Wraps a bound socket, reading its family and `IPV6_V6ONLY` once.
    pub fn new(sock: Rc<UdpSocket>) -> Self {
        let v4 = sock.local_addr().map_or(true, |a| a.is_ipv4());
        let dual = !v4 && !only_v6(sock.as_raw_fd());
        Self { sock, v4, dual }
    }
}

/// `IPV6_V6ONLY` of the IPv6 socket `fd` (true when it cannot be read).
fn only_v6(fd: std::os::fd::RawFd) -> bool {
    let mut v: libc::c_int = 1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket; `v` and `len` outlive the call and
    // `len` is the size of `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc != 0 || v != 0
}

impl ShardRuntime {
    /// Hands the SFU the running configuration's settings if a reload
    /// replaced them (one atomic load when nothing changed). Called on every
    /// tick and before a session is created, so a request that follows a
    /// reload always gets the new settings.
    pub fn sync_settings(&self) {
        let latest = self.shared.current.generation();
        if latest != self.settings_generation.get() {
            self.settings_generation.set(latest);
            let current = self.shared.current.get();
            configure_overload(&mut self.load.borrow_mut(), &current.config);
            self.sfu
                .borrow_mut()
                .handle_settings(current.settings.clone());
        }
    }

    /// This shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.shared.stats[self.id]
    }

    /// The socket for peers of one family, and whether IPv4 addresses go
    /// through it mapped: a socket of that family first, else a dual-stack
    /// `[::]` one for IPv4 peers. `None`: nothing here reaches that family.
    fn socket_for(&self, v4: bool) -> Option<(&Rc<UdpSocket>, bool)> {
        if let Some(s) = self.udp.iter().find(|s| s.v4 == v4) {
            return Some((&s.sock, false));
        }
        self.udp
            .iter()
            .find(|s| v4 && s.dual)
            .map(|s| (&s.sock, true))
    }

    /// Handles one datagram received on this shard's RTC socket.
    pub async fn on_datagram(&self, from: SocketAddr, data: &[u8]) {
        let stats = self.stats();
        self.on_packet(&stats.udp_packets_in, &stats.udp_bytes_in, from, data)
            .await;
    }

    /// Handles a batch of datagrams received on an RTC socket, then carries
    /// out what they queued in one flush: the batch's fan-out player by
    /// player, each player's copies of the batch together. Other outputs
    /// past [`FLUSH_AT`] (a NACK's retransmissions) are flushed before the
    /// rest of the batch is handled. Cut datagrams are dropped here, and RTP that waited
    /// past `max_queue_delay` is counted (it marks the shard overloaded).
    pub async fn on_datagrams(&self, batch: &shards::RecvBatch) {
        let stats = self.stats();
        let now = Instant::now();
        for d in (0..batch.len()).filter_map(|i| batch.get(i)) {
            ShardStats::inc(&stats.udp_packets_in);
            ShardStats::add(&stats.udp_bytes_in, d.data.len() as u64);
            if d.truncated {
                ShardStats::inc(&stats.udp_truncated);
                continue;
            }
            let late = self
                .load
                .borrow_mut()
                .handle_datagram(now, d.data, d.waited);
            if late {
                ShardStats::inc(&stats.rtp_late);
            }
            let pending = {
                let mut sfu = self.sfu.borrow_mut();
                sfu.handle_datagram(now, d.from, d.data);
                sfu.pending_outputs()
            };
            if pending >= FLUSH_AT {
                self.flush().await;
            }
        }
        self.flush().await;
    }

    /// Handles one packet received in a frame on a WebRTC-over-TCP
    /// connection from `from`.
    pub async fn on_tcp_frame(&self, from: SocketAddr, data: &[u8]) {
        let stats = self.stats();
        self.on_packet(&stats.tcp_frames_in, &stats.tcp_bytes_in, from, data)
            .await;
    }

    /// Counts a received packet on its transport's counters, hands it to the
    /// SFU and carries out what that queued.
    async fn on_packet(
        &self,
        packets: &AtomicU64,
        bytes: &AtomicU64,
        from: SocketAddr,
        data: &[u8],
    ) {
        ShardStats::inc(packets);
        ShardStats::add(bytes, data.len() as u64);
        self.sfu
            .borrow_mut()
            .handle_datagram(Instant::now(), from, data);
        self.flush().await;
    }

    /// The WebRTC-over-TCP connection from `peer` closed: its session ends
    /// (its last packets, e.g. close_notify, still go to the connection's
    /// queue), then packets for `peer` stop going to TCP.
    pub async fn on_tcp_closed(&self, peer: SocketAddr) {
        self.sfu
            .borrow_mut()
            .handle_transport_closed(Instant::now(), peer);
        self.flush().await;
        self.tcp_peers.borrow_mut().remove(&peer);
    }

    /// Handles a message from another shard. A session moving in is
    /// dropped if it was deleted while it travelled (its end line is logged
    /// here: no shard holds it any more).
    pub async fn on_mesh(&self, msg: ShardMsg) {
        if let ShardMsg::Adopt { session, .. } = &msg {
            if !self
                .shared
                .directory
                .set_shard(session.token.as_str(), self.id)
            {
                session.log_end(self.id, Instant::now(), EndReason::Deleted);
                return;
            }
        }
        self.sfu.borrow_mut().handle_mesh(Instant::now(), msg);
        self.flush().await;
    }

    /// Ends a session held by this shard (its close_notify goes out at the
    /// next [`Self::flush`]). Returns false if it is not here.
    pub fn close_session(&self, token: &str) -> bool {
        self.sfu
            .borrow_mut()
            .close(Instant::now(), token, EndReason::Deleted)
    }

    /// Runs due timers (DTLS retransmissions, RTCP, `stun_timeout`) and
    /// publishes the shard's figures for the API.
    pub async fn tick(&self, now: Instant, with_clients: bool) {
        {
            let mut load = self.load.borrow_mut();
            let waited = load.handle_tick(now);
            if load.wants_cpu_time(now) {
                if let Some(percent) = load.handle_cpu_time(now, shards::thread_cpu_time()) {
                    ShardStats::set(&self.stats().busy_percent, u64::from(percent));
                }
            }
            ShardStats::set(&self.stats().queue_delay_ms, waited.as_millis() as u64);
            self.shared.load.set(self.id, now, &load);
        }
        let snapshot = self.sfu.borrow_mut().snapshot(now, with_clients);
        if let Some(snap) = snapshot {
            self.shared.snapshots.publish(self.id, snap);
        }
        let due = self.sfu.borrow().poll_timeout().is_some_and(|t| t <= now);
        if due {
            self.sfu.borrow_mut().handle_timeout(now);
            self.flush().await;
        }
    }

    /// Ends every session (shutdown), sending close_notify where DTLS is up.
    pub async fn close_all(&self) {
        self.sfu.borrow_mut().close_all(Instant::now());
        self.flush().await;
    }

    /// Carries out what the SFU queued: mesh messages and events first,
    /// then datagrams.
    pub async fn flush(&self) {
        let mut b = self.spare.borrow_mut().take().unwrap_or_default();
        loop {
            self.sfu
                .borrow_mut()
                .drain_outputs_upto(&mut b.outs, FLUSH_AT);
            if b.outs.is_empty() {
                break;
            }
            for out in b.outs.drain(..) {
                match out {
                    Output::Transmit(data, to) => b.datagrams.push((data, to)),
                    Output::Mesh(to, msg) => self.route_mesh(to, msg),
                    Output::Event(ev) => self.on_event(ev),
                }
            }
            b.grouping.group(&mut b.datagrams, &mut b.grouped);
            self.send_datagrams(&b.grouped).await;
            b.grouped.clear();
        }
        *self.spare.borrow_mut() = Some(b);
    }

    fn route_mesh(&self, to: MeshDest, msg: ShardMsg) {
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

    /// Carries out one event of the SFU.
    fn on_event(&self, ev: Event) {
        match ev {
            Event::UnknownUfrag {
                ufrag,
                from,
                packet,
            } => match self.shared.directory.shard_of_ufrag(&ufrag) {
                Some(owner) if owner != self.id => {
                    let msg = ShardMsg::Stun {
                        arrived_on: self.id,
                        from,
                        packet,
                    };
                    self.send_mesh(owner, msg);
                    ShardStats::inc(&self.stats().stun_forwarded);
                }
                // Ours but in flight (moving in): the client retransmits.
                Some(_) => ShardStats::inc(&self.stats().stun_forwarded),
                None => ShardStats::inc(&self.stats().stun_unknown_ufrag),
            },
            Event::IceConnected { token } => self.shared.directory.ice_done(token.as_str()),
            Event::SessionClosed(closed) => self.on_closed(closed),
            Event::PublisherMedia {
                token,
                stream,
                packet,
            } => {
                let now = Instant::now();
                let token_str = token.as_str();
                let wants_keyframe = crate::server::live::rtc_to_rtmp::on_media(
                    &self.shared,
                    now,
                    token_str,
                    stream.as_str(),
                    &packet,
                );
                if wants_keyframe {
                    self.sfu.borrow_mut().handle_keyframe_request(now, &token);
                }
            }
            Event::PublisherSenderReport {
                token,
                ssrc,
                ntp,
                rtp,
            } => crate::server::live::rtc_to_rtmp::on_sender_report(token.as_str(), ssrc, ntp, rtp),
        }
    }

    /// A session ended: the directory forgets it, `on_unpublish`/`on_stop`
    /// are told (in a task of their own), its RTC→RTMP bridge ends.
    fn on_closed(&self, c: Closed) {
        self.shared.directory.remove(c.token.as_str());
        crate::server::pull::on_session_closed(self, c.token.as_str());
        let action = match c.role {
            crate::sdp::Role::Publish => hooks::Action::Unpublish,
            crate::sdp::Role::Play => hooks::Action::Stop,
        };
        let current = self.shared.current.get();
        let config = &current.config.vhost(&c.vhost).http_hooks;
        if !action.urls(config).is_empty() {
            hooks::Ended {
                action,
                vhost: c.vhost.clone(),
                ip: c.peer.map_or_else(String::new, |p| p.ip().to_string()),
                tc_url: format!("webrtc://localhost/{}", c.app),
                app: c.app,
                stream: c.stream,
            }
            .spawn_notify(self.shared.clone());
        }
        crate::server::live::rtc_to_rtmp::on_close(c.token.as_str());
    }

    /// Sends packets: to the send queue of a WebRTC-over-TCP connection when
    /// the address is one (only looked up while this shard has any), else
    /// over UDP.
    async fn send_datagrams(&self, datagrams: &[(Bytes, SocketAddr)]) {
        let rest: Vec<(Bytes, SocketAddr)>;
        let datagrams = if self.pull_routes.borrow().is_empty() {
            datagrams
        } else {
            rest = self.send_pulls(datagrams).await;
            &rest[..]
        };
        let udp: Vec<(Bytes, SocketAddr)>;
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
                            // A copy of its own: protected packets share
                            // arena chunks (crate::srtp::seal), and a slow
                            // connection's queue of 1,024 would otherwise
                            // hold up to as many chunks.
                            if queue.try_send(Bytes::copy_from_slice(data)).is_ok() {
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

    /// Sends the datagrams of pulls out of their own sockets to their
    /// origins; returns the others.
    async fn send_pulls(&self, datagrams: &[(Bytes, SocketAddr)]) -> Vec<(Bytes, SocketAddr)> {
        let mut rest = Vec::with_capacity(datagrams.len());
        let stats = self.stats();
        for (data, to) in datagrams {
            let route = self.pull_routes.borrow().get(to).cloned();
            match route {
                None => rest.push((data.clone(), *to)),
                Some(r) => {
                    if r.sock.send_to(data, r.origin).await.is_ok() {
                        ShardStats::inc(&stats.udp_packets_out);
                        ShardStats::add(&stats.udp_bytes_out, data.len() as u64);
                    }
                }
            }
        }
        rest
    }

    /// Sends datagrams in `sendmmsg` batches (runs of one address family);
    /// when the kernel's buffer is full, the next one waits the slow way.
    async fn send_udp(&self, datagrams: &[(Bytes, SocketAddr)]) {
        let stats = self.stats();
        let mut i = 0;
        while i < datagrams.len() {
            let v4 = datagrams[i].1.is_ipv4();
            let Some((sock, map_v4)) = self.socket_for(v4) else {
                // No socket of this family: skip the run.
                i = datagrams[i..]
                    .iter()
                    .position(|(_, a)| a.is_ipv4() != v4)
                    .map_or(datagrams.len(), |p| i + p);
                continue;
            };
            let end = datagrams[i..]
                .iter()
                .position(|(_, a)| a.is_ipv4() != v4)
                .map_or(datagrams.len(), |p| i + p)
                .min(i + MAX_BATCH);
            let sent = {
                let mut batch = self.batch.borrow_mut();
                let (messages, carried) = batch.gso_sent();
                let sent = batch
                    .send(sock.as_raw_fd(), &datagrams[i..end], map_v4)
                    .unwrap_or(0);
                let (m, c) = batch.gso_sent();
                ShardStats::add(&stats.udp_gso_messages, m - messages);
                ShardStats::add(&stats.udp_gso_datagrams, c - carried);
                if let Some(e) = batch.take_gso_refusal() {
                    tracing::warn!(
                        shard = self.id,
                        "udp: the kernel refused GSO ({e}); sending datagrams one by one"
                    );
                }
                sent
            };
            let bytes: usize = datagrams[i..i + sent].iter().map(|(d, _)| d.len()).sum();
            ShardStats::add(&stats.udp_packets_out, sent as u64);
            ShardStats::add(&stats.udp_bytes_out, bytes as u64);
            i += sent;
            if i < end {
                // Full (or an error for this one datagram): wait for room.
                let (data, to) = &datagrams[i];
                let to = if map_v4 { shards::v4_mapped(*to) } else { *to };
                if sock.send_to(data, to).await.is_ok() {
                    ShardStats::inc(&stats.udp_packets_out);
                    ShardStats::add(&stats.udp_bytes_out, data.len() as u64);
                }
                i += 1;
            }
        }
    }

    /// Sends a message to shard `to`. A session moving there is recorded in
    /// the directory first (and dropped if it was deleted meanwhile); when
    /// the channel refuses it, it comes back here.
    fn send_mesh(&self, to: usize, msg: ShardMsg) {
        if let ShardMsg::Adopt { session, .. } = &msg {
            if !self.shared.directory.set_shard(session.token.as_str(), to) {
                session.log_end(self.id, Instant::now(), EndReason::Deleted);
                return;
            }
        }
        match self.mesh.try_send(to, msg) {
            Ok(()) => {}
            Err(SendError::Full(ShardMsg::Adopt { session, .. }))
            | Err(SendError::Closed(ShardMsg::Adopt { session, .. })) => {
                // Keep it here; the next check tries again.
                self.shared
                    .directory
                    .set_shard(session.token.as_str(), self.id);
                self.sfu.borrow_mut().handle_undo_move(*session);
            }
            Err(_) => ShardStats::inc(&self.stats().mesh_dropped),
        }
    }
}
