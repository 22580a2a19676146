//! Rooms across nodes, the runtime (the sans-IO side is
//! [`crate::signaling::remote`] and [`crate::signaling::Rooms`]).
//!
//! - A local join first reserves its display in the room's Redis hash and
//!   reads the members already there ([`Cluster::room_join`], 1.5 s
//!   deadline, then the join goes ahead unchecked, as publishes do).
//! - What local members do is published on the channel by the cluster
//!   thread ([`Cluster::room_event`]), after it updates the hash.
//! - A subscriber thread ([`spawn_subscriber`]) feeds other nodes' events
//!   into the [`RoomHub`](crate::server::rooms::RoomHub).
//! - Every round the cluster thread rewrites this node's members into the
//!   hashes and reads them back ([`resync`]): this makes up for events lost
//!   while Redis or the subscription was down, for a Redis restarted
//!   empty, and drops the members of nodes that died (their node entry's
//!   lease ran out).
//!
//! Redis never sees a shard thread: shards hand requests to the cluster
//! thread over its channel and await answers with a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::FutureExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::json;
use shards::Shutdown;

use crate::cluster::node_key;
use crate::server::cluster::{Cluster, Link, Request, CLAIM_DEADLINE, CONNECT_TIMEOUT};
use crate::server::Shared;
use crate::signaling::remote::{self, room_key, MemberEntry, CHANNEL};
use crate::signaling::{MemberEvent, RemoteMember, RoomEvent};

/// Sets this node's members in a room's hash (each display unless a live
/// node other than this one holds it), drops members of dead nodes and
/// malformed entries, refreshes the hash's expiry, and returns what each
/// display got (0: held elsewhere, 1: set, 2: was already this node's)
/// and the hash's remaining field, value pairs.
///
/// KEYS[1]: the hash. ARGV: this node, the node-key prefix, the expiry in
/// ms, then display, value pairs.
const ROOM_LUA: &str = r"
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'hash' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
local function holder(v)
  local ok, e = pcall(cjson.decode, v)
  if ok and type(e) == 'table' and type(e.node) == 'string' then return e.node end
  return nil
end
local held = {}
for i = 4, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local s = 1
  if v then
    local n = holder(v)
    if n == ARGV[1] then s = 2
    elseif n and redis.call('EXISTS', ARGV[2] .. n) == 1 then s = 0 end
  end
  if s > 0 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  held[#held + 1] = s
end
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local n = holder(all[i + 1])
  if n == ARGV[1] or (n and redis.call('EXISTS', ARGV[2] .. n) == 1) then
    live[#live + 1] = all[i]
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if #live > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {held, live}";

/// Deletes a member from a room's hash if this node holds it.
/// KEYS[1]: the hash. ARGV: this node, the display.
const LEAVE_LUA: &str = r"
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if ok and type(e) == 'table' and e.node == ARGV[1] then return redis.call('HDEL', KEYS[1], ARGV[2]) end
return 0";

/// The rooms' counters (`cluster_room_*` in the metrics).
#[derive(Debug, Default)]
pub struct RoomStats {
    /// Joins whose display was reserved cluster-wide.
    pub joins_checked: AtomicU64,
    /// Joins let through without Redis's answer (fail open).
    pub joins_unchecked: AtomicU64,
    /// Events of local members published for the other nodes.
    pub events_published: AtomicU64,
    /// Events of other nodes' members received.
    pub events_received: AtomicU64,
    /// Events or hash entries refused as malformed.
    pub malformed: AtomicU64,
}

impl RoomStats {
    fn rows(&self) -> [(&'static str, &'static str, &AtomicU64); 5] {
        [
            (
                "room_joins_checked",
                "Room joins whose display was reserved cluster-wide",
                &self.joins_checked,
            ),
            (
                "room_joins_unchecked",
                "Room joins let through without Redis's answer",
                &self.joins_unchecked,
            ),
            (
                "room_events_published",
                "Room events of local members published for the other nodes",
                &self.events_published,
            ),
            (
                "room_events_received",
                "Room events of other nodes' members received",
                &self.events_received,
            ),
            (
                "room_malformed",
                "Room events or member entries refused as malformed",
                &self.malformed,
            ),
        ]
    }

    /// The counters for `/api/v1/cluster`.
    pub fn report(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        for (name, _, v) in self.rows() {
            o.insert(name.into(), json!(v.load(Ordering::Relaxed)));
        }
        o.into()
    }

    /// Adds `cluster_room_*` to a metrics registry.
    pub fn register_metrics(&self, reg: &mut Registry) {
        for (name, help, v) in self.rows() {
            let c = Counter::<u64>::default();
            c.inc_by(v.load(Ordering::Relaxed));
            reg.register(format!("cluster_{name}"), help, c);
        }
    }
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A room request for the cluster thread.
pub enum RoomRequest {
    /// Reserve a display for a local join; answer with the room's members.
    Join {
        /// The room.
        room: String,
        /// The display.
        display: String,
        /// Where the answer goes.
        reply: flume::Sender<JoinGrant>,
    },
    /// Record and publish a local member's event.
    Event(RoomEvent),
}

/// The answer to a join's reservation.
#[derive(Debug, Clone)]
pub struct JoinGrant {
    /// The display was not this node's before: release it if the join is
    /// refused here.
    pub fresh: bool,
    /// The room's members on other nodes (the holder of the display too,
    /// when another node has it, so the local join is refused).
    pub members: Vec<RemoteMember>,
}

impl Cluster {
    /// Reserves `display` in `room` for a local join: the room's members
    /// on other nodes, or `None` when Redis does not answer within
    /// [`CLAIM_DEADLINE`] (the join goes ahead unchecked; counted).
    pub async fn room_join(&self, room: &str, display: &str) -> Option<JoinGrant> {
        let (reply, answer) = flume::bounded(1);
        let request = Request::Room(RoomRequest::Join {
            room: room.to_owned(),
            display: display.to_owned(),
            reply,
        });
        let grant = if self.tx.try_send(request).is_ok() {
            let timeout = async {
                shards::glommio::timer::sleep(CLAIM_DEADLINE).await;
                None
            };
            async { answer.recv_async().await.ok() }.or(timeout).await
        } else {
            None
        };
        if grant.is_some() {
            inc(&self.room_stats.joins_checked);
        } else {
            inc(&self.room_stats.joins_unchecked);
            crate::warn_limited!(
                room,
                "cluster: Redis did not answer; room join let through unchecked"
            );
        }
        grant
    }

    /// Hands local members' events to the cluster thread (dropped when its
    /// queue is full: the next resync makes up for them).
    pub fn room_events(&self, events: Vec<RoomEvent>) {
        for ev in events {
            let _ = self.tx.try_send(Request::Room(RoomRequest::Event(ev)));
        }
    }
}

fn entry(node: &str, publishing: bool) -> String {
    MemberEntry {
        node: node.to_owned(),
        publishing,
    }
    .encode()
}

/// Runs [`ROOM_LUA`] for `room` with this node's `members`.
fn room_script(
    link: &mut Link,
    cluster: &Cluster,
    room: &str,
    members: &[(String, bool)],
) -> Result<(Vec<i64>, Vec<RemoteMember>), String> {
    let me = &cluster.me.id;
    let ttl = (cluster.lease_ms() * 3).max(1000);
    let c = link.conn(&cluster.stats)?;
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(ROOM_LUA)
        .arg(1)
        .arg(room_key(room))
        .arg(me)
        .arg(node_key(""))
        .arg(ttl);
    for (display, publishing) in members {
        cmd.arg(display).arg(entry(me, *publishing));
    }
    let (held, flat): (Vec<i64>, Vec<String>) = cmd.query(c).map_err(|e| link.failed(e))?;
    let pairs: Vec<(String, String)> = flat
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let (members, bad) = remote::remote_members(&pairs, me);
    for e in bad {
        inc(&cluster.room_stats.malformed);
        crate::warn_limited!(room, "cluster: {e}; ignored");
    }
    Ok((held, members))
}

/// Carries out one room request on the cluster thread.
pub(super) fn handle(link: &mut Link, cluster: &Cluster, req: RoomRequest) -> Result<(), String> {
    match req {
        RoomRequest::Join {
            room,
            display,
            reply,
        } => {
            let (held, members) = room_script(link, cluster, &room, &[(display, false)])?;
            // The shard may have stopped waiting (deadline): nothing to do.
            let _ = reply.try_send(JoinGrant {
                fresh: held.first() == Some(&1),
                members,
            });
            Ok(())
        }
        RoomRequest::Event(ev) => {
            match ev.event {
                MemberEvent::Publish => {
                    room_script(link, cluster, &ev.room, &[(ev.display.clone(), true)])?;
                }
                MemberEvent::Leave => {
                    let c = link.conn(&cluster.stats)?;
                    redis::cmd("EVAL")
                        .arg(LEAVE_LUA)
                        .arg(1)
                        .arg(room_key(&ev.room))
                        .arg(&cluster.me.id)
                        .arg(&ev.display)
                        .query::<i64>(c)
                        .map_err(|e| link.failed(e))?;
                }
                MemberEvent::Join | MemberEvent::Control => {}
            }
            let c = link.conn(&cluster.stats)?;
            redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(ev.encode())
                .query::<i64>(c)
                .map_err(|e| link.failed(e))?;
            inc(&cluster.room_stats.events_published);
            Ok(())
        }
    }
}

/// A round: this node's members written again and every room's members
/// on other nodes read back into the hub. Stops at the first failure (the
/// next round tries again).
pub(super) fn resync(link: &mut Link, shared: &Shared, cluster: &Cluster) -> Result<(), String> {
    let settling = cluster.settling(std::time::Instant::now());
    for (room, members) in shared.rooms.local_members() {
        let (_, remote) = room_script(link, cluster, &room, &members)?;
        shared.rooms.sync(&room, &remote, settling);
    }
    Ok(())
}

/// How long the subscriber waits for a message before looking at shutdown.
const POLL: Duration = Duration::from_millis(250);

/// Starts the subscriber thread (in a cluster): other nodes' room events
/// into the hub until `shutdown`.
pub fn spawn_subscriber(
    shared: std::sync::Arc<Shared>,
    shutdown: Shutdown,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if shared.cluster.is_none() {
        return Ok(None);
    }
    std::thread::Builder::new()
        .name("cluster-rooms".into())
        .spawn(move || subscribe(&shared, &shutdown))
        .map(Some)
}

fn subscribe(shared: &Shared, shutdown: &Shutdown) {
    let Some(cluster) = shared.cluster.as_ref() else {
        return;
    };
    let Some(client) = cluster.redis_client() else {
        return;
    };
    let mut backoff = crate::cluster::BACKOFF_MIN;
    while !shutdown.is_requested() {
        match client.get_connection_with_timeout(CONNECT_TIMEOUT) {
            Ok(mut conn) => {
                let mut ps = conn.as_pubsub();
                let ready = ps
                    .set_read_timeout(Some(POLL))
                    .and_then(|()| ps.subscribe(CHANNEL));
                match ready {
                    Ok(()) => {
                        backoff = crate::cluster::BACKOFF_MIN;
                        listen(&mut ps, shared, cluster, shutdown);
                    }
                    Err(e) => tracing::warn!("cluster: cannot subscribe to {CHANNEL}: {e}"),
                }
            }
            Err(e) => crate::warn_limited!("cluster: room events: cannot connect to Redis: {e}"),
        }
        let until = std::time::Instant::now() + backoff;
        while !shutdown.is_requested() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(crate::cluster::BACKOFF_MAX);
    }
}

/// Reads messages until the connection fails or `shutdown`.
fn listen(ps: &mut redis::PubSub<'_>, shared: &Shared, cluster: &Cluster, shutdown: &Shutdown) {
    while !shutdown.is_requested() {
        let msg = match ps.get_message() {
            Ok(m) => m,
            Err(e) if e.is_timeout() => continue,
            Err(e) => {
                tracing::warn!("cluster: room events: {e}; subscribing again");
                return;
            }
        };
        match RoomEvent::decode(msg.get_payload_bytes()) {
            Ok(ev) if ev.node == cluster.me.id => {}
            Ok(ev) => {
                inc(&cluster.room_stats.events_received);
                shared.rooms.remote(&ev);
            }
            Err(e) => {
                inc(&cluster.room_stats.malformed);
                crate::warn_limited!("cluster: {e}; ignored");
            }
        }
    }
}
