//! A world to test in: N shards' SFUs behind one server address, the
//! process-wide directory, sans-IO peers, and a simulated network, all in
//! virtual time. It plays the runtime's part (`src/server/core.rs`): the
//! kernel's choice of shard per client address, the mesh between shards,
//! the directory's side of the SFU's events, the 20 ms shard tick.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use shardsfu::control;
use shardsfu::directory::Directory;
use shardsfu::dtls::DtlsCert;
use shardsfu::rtp::receiver_stats::NtpClock;
use shardsfu::sdp::{Candidate, Role, Transport};
use shardsfu::sfu::{
    CreateSession, Created, EndReason, Event, MeshDest, Output, SessionToken, Sfu, SfuConfig,
    SfuSettings, ShardMsg, ShardStats,
};

use super::net::Net;
use super::peer::Peer;

/// The shard tick of the runtime.
const SHARD_TICK: Duration = Duration::from_millis(20);
/// How often peers run their timers.
const PEER_TICK: Duration = Duration::from_millis(5);

pub struct World {
    pub now: Instant,
    pub net: Net,
    pub shards: Vec<Sfu>,
    pub stats: Vec<Arc<ShardStats>>,
    pub directory: Directory,
    pub peers: Vec<Peer>,
    pub server: SocketAddr,
    /// The shard whose socket receives a client address's datagrams.
    pub shard_of: HashMap<SocketAddr, usize>,
    mesh: VecDeque<(usize, usize, ShardMsg)>,
    next_shard_tick: Instant,
    next_peer_tick: Instant,
}

impl World {
    /// `shards` SFUs with `settings`; the network seeded with `seed`.
    pub fn new(shards: usize, seed: u64, settings: SfuSettings) -> Self {
        let now = Instant::now();
        let cert = Arc::new(DtlsCert::generate().unwrap());
        let settings = Arc::new(settings);
        let server: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let stats: Vec<Arc<ShardStats>> = (0..shards).map(|_| Arc::default()).collect();
        let sfus = (0..shards)
            .map(|id| {
                Sfu::new(SfuConfig {
                    id,
                    local_addr: server,
                    cert: cert.clone(),
                    ntp: NtpClock::new(now, SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
                    stats: stats[id].clone(),
                    settings: settings.clone(),
                })
            })
            .collect();
        World {
            now,
            net: Net::new(seed),
            shards: sfus,
            stats,
            directory: Directory::default(),
            peers: Vec::new(),
            server,
            shard_of: HashMap::new(),
            mesh: VecDeque::new(),
            next_shard_tick: now,
            next_peer_tick: now,
        }
    }

    /// Adds a peer whose datagrams land on `shard`; returns its index.
    pub fn add_peer(&mut self, role: Role, shard: usize, twcc: bool) -> usize {
        let i = self.peers.len();
        let addr: SocketAddr = format!("10.0.{}.{}:5000", i / 250, i % 250 + 1)
            .parse()
            .unwrap();
        self.add_peer_at(addr, role, shard, twcc)
    }

    /// Adds a peer at `addr` (several may share an IP, on other ports).
    pub fn add_peer_at(&mut self, addr: SocketAddr, role: Role, shard: usize, twcc: bool) -> usize {
        let i = self.peers.len();
        self.peers.push(Peer::new(addr, role, i as u64 + 1, twcc));
        self.shard_of.insert(addr, shard);
        i
    }

    /// Peer `i` moves to `addr`, whose datagrams land on `shard`.
    pub fn rebind(&mut self, i: usize, addr: SocketAddr, shard: usize) {
        self.shard_of.insert(addr, shard);
        let now = self.now;
        self.peers[i].rebind(addr, now);
    }

    /// Signals peer `i` (its offer POSTed to shard `api_shard`) for
    /// `app/stream`; the answer goes back to the peer.
    pub fn signal(&mut self, i: usize, api_shard: usize, stream: &str) -> Result<Created, String> {
        let p = &self.peers[i];
        let req = CreateSession {
            role: p.role,
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: stream.into(),
            offer: p.offer(),
            ice_ufrag: None,
            ice_pwd: None,
            client_ip: Some(p.addr.ip()),
        };
        let cand = Candidate {
            address: "127.0.0.1".into(),
            port: 8000,
            transport: Transport::Udp,
        };
        let created = control::admit(
            &self.directory,
            &mut self.shards[api_shard],
            self.now,
            &req,
            vec![cand],
        )
        .map_err(|e| e.to_string())?;
        self.drain(api_shard);
        let server = self.server;
        self.peers[i].handle_answer(&created.answer, server, self.now);
        Ok(created)
    }

    /// DELETE of a session's resource, as `server/signaling.rs` does it.
    pub fn delete(&mut self, api_shard: usize, token: &SessionToken) {
        let entry = self
            .directory
            .session(token.as_str())
            .expect("known session");
        if entry.shard == api_shard {
            let closed = self.shards[api_shard].close(self.now, token.as_str(), EndReason::Deleted);
            assert!(closed);
            self.drain(api_shard);
        } else {
            self.mesh.push_back((
                api_shard,
                entry.shard,
                ShardMsg::Close {
                    token: token.clone(),
                },
            ));
        }
    }

    /// Runs until `d` of virtual time has passed.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.deliver_mesh();
            let next = [
                self.net.next_arrival(),
                Some(self.next_shard_tick),
                Some(self.next_peer_tick),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(d) = self.net.pop_due(now) {
            if d.to == self.server {
                let Some(&shard) = self.shard_of.get(&d.from) else {
                    continue;
                };
                self.shards[shard].handle_datagram(now, d.from, &d.data);
                self.drain(shard);
            } else if let Some(i) = self.peers.iter().position(|p| p.addr == d.to) {
                self.peers[i].handle_datagram(now, &d.data);
                self.flush_peer(i);
            }
        }
        if self.next_shard_tick <= now {
            for s in 0..self.shards.len() {
                let due = self.shards[s].poll_timeout().is_some_and(|t| t <= now);
                if due {
                    self.shards[s].handle_timeout(now);
                    self.drain(s);
                }
            }
            self.next_shard_tick += SHARD_TICK;
        }
        if self.next_peer_tick <= now {
            for i in 0..self.peers.len() {
                self.peers[i].handle_timeout(now);
                self.flush_peer(i);
            }
            self.next_peer_tick += PEER_TICK;
        }
    }

    fn flush_peer(&mut self, i: usize) {
        let from = self.peers[i].addr;
        while let Some((data, to)) = self.peers[i].poll_transmit() {
            self.net.send(self.now, from, to, data);
        }
    }

    fn deliver_mesh(&mut self) {
        while let Some((from, to, msg)) = self.mesh.pop_front() {
            if let ShardMsg::Adopt { session, .. } = &msg {
                if !self.directory.set_shard(session.token.as_str(), to) {
                    continue;
                }
            }
            debug_assert_ne!(from, to);
            self.shards[to].handle_mesh(self.now, msg);
            self.drain(to);
        }
    }

    /// Carries out shard `s`'s outputs, as the runtime's flush does.
    fn drain(&mut self, s: usize) {
        let mut outs = Vec::new();
        self.shards[s].drain_outputs(&mut outs);
        for out in outs {
            match out {
                Output::Transmit(data, to) => {
                    self.net.send(self.now, self.server, to, data.to_vec());
                }
                Output::Mesh(MeshDest::Shard(to), msg) => {
                    if let ShardMsg::Adopt { session, .. } = &msg {
                        if !self.directory.set_shard(session.token.as_str(), to) {
                            continue;
                        }
                    }
                    self.mesh.push_back((s, to, msg));
                }
                Output::Mesh(MeshDest::Others, msg) => {
                    for to in (0..self.shards.len()).filter(|&t| t != s) {
                        if let Some(copy) = msg.broadcast_copy() {
                            self.mesh.push_back((s, to, copy));
                        }
                    }
                }
                Output::Event(Event::UnknownUfrag {
                    ufrag,
                    from,
                    packet,
                }) => {
                    if let Some(owner) = self.directory.shard_of_ufrag(&ufrag) {
                        if owner != s {
                            let msg = ShardMsg::Stun {
                                arrived_on: s,
                                from,
                                packet,
                            };
                            self.mesh.push_back((s, owner, msg));
                        }
                    }
                }
                Output::Event(Event::IceConnected { token }) => {
                    self.directory.ice_done(token.as_str());
                }
                Output::Event(Event::SessionClosed(c)) => {
                    self.directory.remove(c.token.as_str());
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Every shard's table sizes added up, and the directory's counts.
    pub fn tables(&self) -> ([usize; 7], (usize, usize)) {
        let mut sum = [0; 7];
        for s in &self.shards {
            for (a, b) in sum.iter_mut().zip(s.table_sizes()) {
                *a += b;
            }
        }
        (sum, self.directory.counts())
    }

    /// The shard that holds the session `token`, if any.
    pub fn holder(&self, token: &SessionToken) -> Option<usize> {
        self.shards
            .iter()
            .position(|s| s.session(token.as_str()).is_some())
    }
}
