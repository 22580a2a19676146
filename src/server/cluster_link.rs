//! The cluster thread's Redis connection: made on demand with short
//! connect and I/O timeouts, dropped after any failed command, and the
//! directory's operations (claim, release, node entry, scan) as commands.

use std::time::Duration;

use crate::cluster::{node_key, stream_key, Op, Reply, KEY_PREFIX};
use crate::server::cluster::{inc, Cluster, ClusterStats, MAX_LISTED};

/// How long connecting to Redis may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one command may take to be written or answered.
pub const IO_TIMEOUT: Duration = Duration::from_millis(500);
/// Set the claim if absent, ours, or the malformed value being replaced
/// (any type: SET overwrites); else return what holds it.
const CLAIM_LUA: &str = r"
local t = redis.call('TYPE', KEYS[1]).ok
local v = false
if t == 'string' then v = redis.call('GET', KEYS[1]) elseif t ~= 'none' then v = '(a ' .. t .. ', not a string)' end
if v == false or v == ARGV[1] or (ARGV[3] ~= '' and v == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return v";

/// Delete the claim only if it is still ours.
const RELEASE_LUA: &str = r"
if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// `url` without its password.
pub(super) fn redacted(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(s, rest)| Some((s, rest.split_once('@')?)))
    {
        Some((scheme, (user, host))) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// The Redis connection, made on demand.
pub(super) struct Link {
    client: Option<redis::Client>,
    conn: Option<redis::Connection>,
    connected_once: bool,
    lease_ms: u64,
}

impl Link {
    pub(super) fn new(cluster: &Cluster) -> Self {
        Link {
            client: cluster.redis_client(),
            conn: None,
            connected_once: false,
            lease_ms: cluster.lease_ms(),
        }
    }

    /// A command failed: start from a fresh connection; its error as text.
    pub(super) fn failed(&mut self, e: redis::RedisError) -> String {
        self.conn = None;
        e.to_string()
    }

    /// The connection, made now if there is none.
    pub(super) fn conn(&mut self, stats: &ClusterStats) -> Result<&mut redis::Connection, String> {
        if self.conn.is_none() {
            let client = self.client.as_ref().ok_or("no valid redis address")?;
            let c = client
                .get_connection_with_timeout(CONNECT_TIMEOUT)
                .map_err(|e| format!("cannot connect: {e}"))?;
            c.set_read_timeout(Some(IO_TIMEOUT))
                .and_then(|()| c.set_write_timeout(Some(IO_TIMEOUT)))
                .map_err(|e| e.to_string())?;
            if self.connected_once {
                inc(&stats.reconnects);
            }
            self.connected_once = true;
            tracing::info!("cluster: connected to Redis");
            self.conn = Some(c);
        }
        self.conn.as_mut().ok_or_else(|| "not connected".into())
    }

    pub(super) fn run(&mut self, op: &Op, stats: &ClusterStats) -> Result<Reply, String> {
        let lease = self.lease_ms;
        let c = self.conn(stats)?;
        let result = match op {
            Op::Claim {
                stream,
                value,
                replace,
            } => redis::cmd("EVAL")
                .arg(CLAIM_LUA)
                .arg(1)
                .arg(stream_key(stream))
                .arg(value)
                .arg(lease)
                .arg(replace.as_deref().unwrap_or(""))
                .query::<Option<String>>(c)
                .map(Reply::Claim),
            Op::Release { stream, value } => redis::cmd("EVAL")
                .arg(RELEASE_LUA)
                .arg(1)
                .arg(stream_key(stream))
                .arg(value)
                .query::<i64>(c)
                .map(|_| Reply::Done),
            Op::Node { value } => {
                let id = crate::cluster::parse_node("", value)
                    .map(|n| n.id)
                    .unwrap_or_default();
                redis::cmd("SET")
                    .arg(node_key(&id))
                    .arg(value)
                    .arg("PX")
                    .arg(lease)
                    .query::<()>(c)
                    .map(|()| Reply::Done)
            }
            Op::Scan => scan(c, "node:").and_then(|nodes| {
                Ok(Reply::Scan {
                    nodes,
                    streams: scan(c, "stream:")?,
                })
            }),
        };
        // Whatever went wrong, start from a fresh connection.
        result.map_err(|e| self.failed(e))
    }
}

/// Every `(key, value)` under `shardsfu:<kind>*` (string values only).
fn scan(c: &mut redis::Connection, kind: &str) -> redis::RedisResult<Vec<(String, String)>> {
    let pattern = format!("{KEY_PREFIX}{kind}*");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query(c)?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 || keys.len() >= MAX_LISTED {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    keys.truncate(MAX_LISTED);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // MGET answers nil for a key gone meanwhile or of another type.
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c)?;
    Ok(keys
        .into_iter()
        .zip(values)
        .filter_map(|(k, v)| Some((k, v?)))
        .collect())
}
