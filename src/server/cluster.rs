//! The cluster runtime: one thread per process owns the Redis connection
//! and drives the sans-IO [`DirectoryCore`](crate::cluster::DirectoryCore).
//! Shards never touch Redis: a shard that wants to publish sends the thread
//! a request over a channel and awaits the answer with a deadline
//! ([`CLAIM_DEADLINE`]), as `resolver.rs` does for host names; past it, or
//! while Redis is unreachable, the publish goes ahead unchecked (fail open,
//! counted in `cluster_claims_unchecked`) and is claimed when Redis answers.
//!
//! Every round (a third of the lease) the thread lists the streams published
//! here (the directory's WebRTC publishers and the live hub's RTMP ones),
//! renews their claims and this node's entry, and reads the whole directory
//! for `/api/v1/cluster`. Connect and I/O timeouts are short; a failed
//! connection is retried with exponential backoff (the core decides when).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use futures_lite::FutureExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::json;
use shards::Shutdown;

use crate::cluster::pull::PullTable;
use crate::cluster::{Decision, DirectoryCore, Event, NodeEntry, StreamOwner, View};
use crate::config::{ClusterConfig, Config};
use crate::server::cluster_link::redacted;
pub(super) use crate::server::cluster_link::Link;
pub use crate::server::cluster_link::{CONNECT_TIMEOUT, IO_TIMEOUT};
use crate::server::cluster_rooms::{self, RoomRequest, RoomStats};
use crate::server::Shared;

/// How long a publish waits for the Redis thread's answer.
pub const CLAIM_DEADLINE: Duration = Duration::from_millis(1500);
/// Claim requests queued for the thread, all shards together; past it a
/// publish goes ahead unchecked.
pub const MAX_QUEUED: usize = 1024;
/// Keys read per kind (nodes, streams) by one directory read.
pub const MAX_LISTED: usize = 10_000;

/// The cluster's counters (`cluster_*` in the metrics).
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Redis commands or connections that failed.
    pub redis_errors: AtomicU64,
    /// Connections made again after the first.
    pub reconnects: AtomicU64,
    /// Publishes whose claim was granted.
    pub claims_granted: AtomicU64,
    /// Publishes refused because another node holds the stream.
    pub claims_refused: AtomicU64,
    /// Publishes let through without Redis's answer (fail open).
    pub claims_unchecked: AtomicU64,
    /// Streams published here found claimed by another node.
    pub claims_lost: AtomicU64,
    /// Malformed entries found in Redis (ignored).
    pub malformed_entries: AtomicU64,
    /// Pulls of a stream from its origin node begun (play anywhere).
    pub pulls_started: AtomicU64,
    /// Pulls that failed before their session existed (origin unreachable,
    /// refused, malformed entry or answer).
    pub pulls_failed: AtomicU64,
}

pub(super) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What the API shows, refreshed by the thread.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    redis_up: bool,
    view: View,
    claims: Vec<(String, String)>,
}

/// What shards ask of the cluster thread.
pub(super) enum Request {
    Claim {
        stream: String,
        reply: flume::Sender<Decision>,
    },
    Room(RoomRequest),
}

/// This node's membership in the cluster (in [`Shared`] when
/// `cluster.enabled` is on).
pub struct Cluster {
    /// This node as it registers itself.
    pub me: NodeEntry,
    /// The counters.
    pub stats: ClusterStats,
    /// The rooms' counters.
    pub room_stats: RoomStats,
    config: ClusterConfig,
    pub(super) tx: flume::Sender<Request>,
    rx: Mutex<Option<flume::Receiver<Request>>>,
    snapshot: Mutex<Snapshot>,
    pulls: Mutex<PullTable>,
    /// Until when the directory is being rebuilt after Redis came back.
    settle_until: Mutex<Option<Instant>>,
    /// Streams published here and found claimed by another node, for the
    /// shards to end (bounded: [`MAX_QUEUED`]).
    lost: Mutex<Vec<String>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Cluster {
    /// The cluster membership `config` asks for (`None` when off); the
    /// node advertises `candidate` as its RTC candidate.
    pub fn new(config: &Config, candidate: &str) -> Option<Self> {
        let c = &config.cluster;
        if !c.enabled {
            return None;
        }
        let api = c.advertise.map_or_else(
            || {
                let listen = config.http_api.listen.first().copied();
                let port = listen.map_or(1985, |l| l.port());
                match listen.map(|l| l.ip()).filter(|ip| !ip.is_unspecified()) {
                    Some(ip) => std::net::SocketAddr::new(ip, port).to_string(),
                    None => {
                        let host = candidate.split(' ').next().unwrap_or("127.0.0.1");
                        let host = if host == "*" { "127.0.0.1" } else { host };
                        match host.parse::<std::net::Ipv6Addr>() {
                            Ok(_) => format!("[{host}]:{port}"),
                            Err(_) => format!("{host}:{port}"),
                        }
                    }
                }
            },
            |a| a.to_string(),
        );
        let me = NodeEntry {
            id: format!("{api}-{}", crate::util::random_string(6)),
            api,
            candidate: candidate.to_string(),
            since: unix_ms(),
        };
        let (tx, rx) = flume::bounded(MAX_QUEUED);
        Some(Cluster {
            me,
            stats: ClusterStats::default(),
            room_stats: RoomStats::default(),
            config: c.clone(),
            tx,
            rx: Mutex::new(Some(rx)),
            snapshot: Mutex::default(),
            pulls: Mutex::default(),
            settle_until: Mutex::default(),
            lost: Mutex::default(),
        })
    }

    /// Whether Redis answered again less than a lease ago (it may have
    /// restarted empty): every node re-registers within a lease, so a
    /// stream or member missing from the directory now may only be late.
    pub fn settling(&self, now: Instant) -> bool {
        let until = *self.settle_until.lock().unwrap_or_else(|p| p.into_inner());
        until.is_some_and(|t| now < t)
    }

    /// Streams published here that another node holds now (taken once):
    /// their local publishers are to end.
    pub fn take_lost(&self) -> Vec<String> {
        std::mem::take(&mut *self.lost.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The lease, in ms.
    pub fn lease_ms(&self) -> u64 {
        self.config.lease.as_millis() as u64
    }

    /// A Redis client for `cluster.redis` (`None` when the address is bad;
    /// logged).
    pub fn redis_client(&self) -> Option<redis::Client> {
        let c = &self.config;
        let client = redis::IntoConnectionInfo::into_connection_info(c.redis_url().as_str())
            .map(|info| match &c.password {
                Some(p) => {
                    let r = info.redis_settings().clone().set_password(p);
                    info.set_redis_settings(r)
                }
                None => info,
            })
            .and_then(redis::Client::open);
        client
            .map_err(|e| tracing::error!("cluster: redis {}: {e}", redacted(&c.redis_url())))
            .ok()
    }

    fn snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims `stream` (`app/stream`) for a publisher on this node: the
    /// Redis thread's answer, or [`Decision::Unchecked`] when it does not
    /// come within [`CLAIM_DEADLINE`]. Counted.
    pub async fn claim(&self, stream: &str) -> Decision {
        let (reply, answer) = flume::bounded(1);
        let request = Request::Claim {
            stream: stream.to_string(),
            reply,
        };
        let decision = if self.tx.try_send(request).is_err() {
            None
        } else {
            let timeout = async {
                shards::glommio::timer::sleep(CLAIM_DEADLINE).await;
                None
            };
            async { answer.recv_async().await.ok() }.or(timeout).await
        };
        let decision = decision.unwrap_or(Decision::Unchecked);
        match &decision {
            Decision::Granted => inc(&self.stats.claims_granted),
            Decision::Unchecked => {
                inc(&self.stats.claims_unchecked);
                crate::warn_limited!(
                    stream,
                    "cluster: Redis did not answer; publish let through unchecked"
                );
            }
            Decision::Refused(o) => {
                inc(&self.stats.claims_refused);
                tracing::info!(stream, owner = %o.node, "cluster: publish refused, the stream is live on another node");
            }
        }
        decision
    }

    /// The node that holds `stream` by the last directory read, when it is
    /// another one (a check for publishers that cannot wait, e.g. RTMP).
    pub fn owner_elsewhere(&self, stream: &str) -> Option<StreamOwner> {
        let snap = self.snapshot();
        snap.view
            .streams
            .iter()
            .find(|(s, o)| s == stream && o.node != self.me.id)
            .map(|(_, o)| o.clone())
    }

    /// The API address of node `id` by the last directory read.
    pub fn node_api(&self, id: &str) -> Option<String> {
        let snap = self.snapshot();
        snap.view
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.api.clone())
    }

    /// The API addresses of the other nodes by the last directory read.
    pub fn other_nodes(&self) -> Vec<String> {
        let snap = self.snapshot();
        snap.view
            .nodes
            .iter()
            .filter(|n| n.id != self.me.id)
            .map(|n| n.api.clone())
            .collect()
    }

    /// The node that holds `stream` by the last directory read, if any.
    pub fn owner_of(&self, stream: &str) -> Option<String> {
        let snap = self.snapshot();
        snap.view
            .streams
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, o)| o.node.clone())
    }

    /// This node's pulls (play anywhere; control plane, never per packet).
    pub fn pulls(&self) -> std::sync::MutexGuard<'_, PullTable> {
        self.pulls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `/api/v1/cluster`'s data: this node, every node, every stream.
    pub fn report(&self) -> serde_json::Value {
        let snap = self.snapshot().clone();
        let s = &self.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "self": self.me,
            "redis": {
                "url": redacted(&self.config.redis_url()),
                "up": snap.redis_up,
            },
            "lease_ms": self.config.lease.as_millis() as u64,
            "nodes": snap.view.nodes,
            "streams": snap.view.streams.iter().map(|(k, o)| json!({
                "stream": k, "node": o.node, "api": o.api, "candidate": o.candidate,
                "since": o.since, "local": o.node == self.me.id,
            })).collect::<Vec<_>>(),
            "claims": snap.claims.iter().map(|(k, st)| json!({"stream": k, "state": st})).collect::<Vec<_>>(),
            "counters": {
                "redis_errors": load(&s.redis_errors),
                "reconnects": load(&s.reconnects),
                "claims_granted": load(&s.claims_granted),
                "claims_refused": load(&s.claims_refused),
                "claims_unchecked": load(&s.claims_unchecked),
                "claims_lost": load(&s.claims_lost),
                "malformed_entries": load(&s.malformed_entries),
                "pulls_started": load(&s.pulls_started),
                "pulls_failed": load(&s.pulls_failed),
                "pulls_active": self.pulls().active(),
                "rooms": self.room_stats.report(),
            },
        })
    }

    /// Adds the `cluster_*` counters to a metrics registry.
    pub fn register_metrics(&self, reg: &mut Registry) {
        let s = &self.stats;
        let rows: [(&str, &str, &AtomicU64); 9] = [
            (
                "cluster_redis_errors",
                "Redis commands or connections that failed",
                &s.redis_errors,
            ),
            (
                "cluster_redis_reconnects",
                "Redis connections made again",
                &s.reconnects,
            ),
            (
                "cluster_claims_granted",
                "Publishes whose cluster claim was granted",
                &s.claims_granted,
            ),
            (
                "cluster_claims_refused",
                "Publishes refused: the stream is live on another node",
                &s.claims_refused,
            ),
            (
                "cluster_claims_unchecked",
                "Publishes let through without Redis's answer",
                &s.claims_unchecked,
            ),
            (
                "cluster_claims_lost",
                "Streams published here found claimed by another node",
                &s.claims_lost,
            ),
            (
                "cluster_malformed_entries",
                "Malformed entries found in Redis and ignored",
                &s.malformed_entries,
            ),
            (
                "cluster_pulls_started",
                "Pulls of a stream from its origin node begun",
                &s.pulls_started,
            ),
            (
                "cluster_pulls_failed",
                "Pulls that failed before their session existed",
                &s.pulls_failed,
            ),
        ];
        for (name, help, v) in rows {
            let c = Counter::<u64>::default();
            c.inc_by(v.load(Ordering::Relaxed));
            reg.register(name, help, c);
        }
        self.room_stats.register_metrics(reg);
        let g = Gauge::<i64>::default();
        g.set(i64::from(self.snapshot().redis_up));
        reg.register(
            "cluster_redis_up",
            "Whether Redis answered the last command",
            g,
        );
        let g = Gauge::<i64>::default();
        g.set(self.pulls().active() as i64);
        reg.register(
            "cluster_pulls_active",
            "Streams this node pulls from their origin node now",
            g,
        );
    }

    /// Starts the Redis thread; it runs until `shutdown`, then releases this
    /// node's claims and entry.
    pub fn spawn(
        shared: Arc<Shared>,
        shutdown: Shutdown,
    ) -> std::io::Result<Option<JoinHandle<()>>> {
        let Some(rx) = shared
            .cluster
            .as_ref()
            .and_then(|c| c.rx.lock().unwrap_or_else(|p| p.into_inner()).take())
        else {
            return Ok(None);
        };
        let Some(cluster) = &shared.cluster else {
            return Ok(None);
        };
        shared.rooms.set_node(&cluster.me.id);
        let subscriber = cluster_rooms::spawn_subscriber(shared.clone(), shutdown.clone())?;
        std::thread::Builder::new()
            .name("cluster".into())
            .spawn(move || {
                run(&shared, &rx, &shutdown);
                if let Some(s) = subscriber {
                    let _ = s.join();
                }
            })
            .map(Some)
    }
}

/// The streams published on this node now.
fn local_streams(shared: &Shared) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = shared.directory.stream_keys().into_iter().collect();
    s.extend(shared.live.publishing());
    // A pulled stream is the origin's, not ours to claim.
    if let Some(c) = &shared.cluster {
        let pulls = c.pulls();
        s.retain(|k| !pulls.is_pulled(k));
    }
    s
}

/// The thread: requests in, rounds on the core's timer, ops carried out.
fn run(shared: &Shared, rx: &flume::Receiver<Request>, shutdown: &Shutdown) {
    let Some(cluster) = shared.cluster.as_ref() else {
        return;
    };
    let stats = &cluster.stats;
    let mut link = Link::new(cluster);
    let mut core = DirectoryCore::new(cluster.me.clone(), cluster.config.lease, Instant::now());
    let mut waiting: HashMap<u64, flume::Sender<Decision>> = HashMap::new();
    let mut next_id = 0u64;
    tracing::info!(node = %cluster.me.id, redis = %redacted(&cluster.config.redis_url()), "cluster: joining");
    while !shutdown.is_requested() {
        let wait = core
            .poll_timeout()
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        let mut requests: Vec<Request> = rx.recv_timeout(wait).into_iter().collect();
        requests.extend(rx.try_iter());
        let now = Instant::now();
        for request in requests {
            match request {
                Request::Claim { stream, reply } => {
                    next_id += 1;
                    waiting.insert(next_id, reply);
                    core.handle_claim(next_id, &stream, now, unix_ms());
                }
                Request::Room(r) => {
                    if let Err(e) = cluster_rooms::handle(&mut link, cluster, r) {
                        inc(&stats.redis_errors);
                        crate::warn_limited!("cluster: a room request failed: {e}");
                    }
                }
            }
        }
        if now >= core.poll_timeout() {
            core.handle_local(&local_streams(shared), now, unix_ms());
            core.handle_timeout(now);
            if core.redis_up() {
                if let Err(e) = cluster_rooms::resync(&mut link, shared, cluster) {
                    inc(&stats.redis_errors);
                    crate::warn_limited!("cluster: the rooms' resync failed: {e}");
                }
            }
        }
        let mut ran = false;
        while let Some(op) = core.poll_op() {
            let reply = link.run(&op, stats);
            if reply.is_err() {
                inc(&stats.redis_errors);
            }
            core.handle_reply(op, reply, Instant::now());
            ran = true;
        }
        while let Some(ev) = core.poll_event() {
            if let Event::Lost { stream, .. } = &ev {
                let mut lost = cluster.lost.lock().unwrap_or_else(|p| p.into_inner());
                if lost.len() < MAX_QUEUED && !lost.contains(stream) {
                    lost.push(stream.clone());
                }
            }
            if matches!(ev, Event::RedisUp) {
                let until = Instant::now() + cluster.config.lease;
                *cluster
                    .settle_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(until);
            }
            on_event(ev, &mut waiting, stats);
        }
        if ran {
            let mut snap = cluster.snapshot();
            snap.redis_up = core.redis_up();
            snap.view = core.view().clone();
            snap.claims = core
                .claims()
                .map(|(k, st)| (k.to_string(), format!("{st:?}").to_lowercase()))
                .collect();
        }
    }
    // Leaving: give the streams back now rather than at the lease's end.
    core.handle_shutdown();
    while let Some(op) = core.poll_op() {
        if link.run(&op, stats).is_err() {
            break;
        }
    }
    tracing::info!(node = %cluster.me.id, "cluster: left");
}

fn on_event(ev: Event, waiting: &mut HashMap<u64, flume::Sender<Decision>>, stats: &ClusterStats) {
    match ev {
        Event::Answer { req, decision, .. } => {
            if let Some(tx) = waiting.remove(&req) {
                // The shard may have stopped waiting (deadline): nothing to do.
                let _ = tx.try_send(decision);
            }
        }
        Event::Malformed(bad) => {
            inc(&stats.malformed_entries);
            crate::warn_limited!("cluster: {bad}; ignored");
        }
        Event::Lost { stream, owner } => {
            inc(&stats.claims_lost);
            tracing::warn!(stream, owner = %owner.node, "cluster: a stream published here is claimed by another node; its publisher here is ended");
        }
        Event::RedisDown(why) => {
            tracing::warn!(
                "cluster: Redis unreachable ({why}); publishes go ahead unchecked until it answers"
            );
        }
        Event::RedisUp => tracing::info!("cluster: Redis answers; claims renewed"),
    }
}
