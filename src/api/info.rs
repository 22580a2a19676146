//! `/api/v1/versions`, `/api/v1/summaries` and the API index, in SRS's JSON shape.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::api::InfoQuery;
use crate::http::Response;
use crate::sfu::snapshot::ClientInfo;
use crate::sfu::{StatsSnapshot, StreamKey};

/// What the reports need of the server; the runtime provides it.
pub trait ServerFigures {
    /// The shard serving the request.
    fn shard(&self) -> usize;
    /// Every shard's counters, by shard id.
    fn shard_stats(&self) -> Vec<StatsSnapshot>;
    /// Every session on every shard (each shard's last snapshot).
    fn clients(&self) -> Vec<ClientInfo>;
    /// Sessions and published streams in the directory.
    fn counts(&self) -> (usize, usize);
    /// Whether `app/stream` has a publisher.
    fn is_published(&self, key: &str) -> bool;
    /// Open HTTP connections.
    fn http_connections(&self) -> usize;
    /// Seconds since the server started.
    fn uptime_secs(&self) -> u64;
}

/// The answer to a [`Route::Info`](crate::api::Route::Info).
pub fn report(q: InfoQuery, server: &dyn ServerFigures) -> Response {
    match q {
        InfoQuery::Summaries => summaries(server),
        InfoQuery::Clients => clients(server),
        InfoQuery::Streams => streams(server),
    }
}

/// A per-process id, like SRS's `server` field.
pub fn server_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("vid-{}", crate::util::random_string(7)))
}

/// A per-start id, like SRS's `service` field.
pub fn service_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| crate::util::random_string(8))
}

fn envelope(data: Value) -> Value {
    json!({
        "code": 0,
        "server": server_id(),
        "service": service_id(),
        "pid": std::process::id().to_string(),
        "data": data,
    })
}

/// `GET /api/v1/versions`.
pub fn versions() -> Response {
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, revision) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    Response::json(
        200,
        &envelope(
            json!({ "major": major, "minor": minor, "revision": revision, "version": v, "server": "shardsfu" }),
        ),
    )
}

/// `GET /api/v1`.
pub fn index() -> Response {
    Response::json(
        200,
        &envelope(json!({
            "versions": "the version of shardsfu",
            "summaries": "the summary (pid, uptime, shards, sessions) of shardsfu",
        })),
    )
}

/// Resident set size of this process in KiB, from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// `GET /api/v1/summaries`: real figures from every shard's counters.
fn summaries(server: &dyn ServerFigures) -> Response {
    let uptime = server.uptime_secs();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (sessions, streams) = server.counts();
    let stats = server.shard_stats();
    let per_shard: Vec<Value> = stats
        .iter()
        .enumerate()
        .map(|(id, s)| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), json!(id));
            }
            v
        })
        .collect();
    let mut totals = StatsSnapshot::default();
    for s in &stats {
        totals += *s;
    }
    Response::json(
        200,
        &envelope(json!({
            "ok": true,
            "now_ms": now_ms,
            "self": {
                "version": env!("CARGO_PKG_VERSION"),
                "pid": std::process::id(),
                "mem_kbyte": rss_kib(),
                "srs_uptime": uptime,
            },
            "system": {
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            },
            "shards": stats.len(),
            "served_by_shard": server.shard(),
            "sessions": sessions,
            "streams": streams,
            "http_connections": server.http_connections(),
            "totals": totals,
            "per_shard": per_shard,
        })),
    )
}

/// `GET /api/v1/clients`: every session on every shard, as of the shards'
/// last snapshot (at most a second old).
fn clients(server: &dyn ServerFigures) -> Response {
    let clients = server.clients();
    let mut v = envelope(json!({}));
    v["clients"] = serde_json::to_value(&clients).unwrap_or(Value::Null);
    Response::json(200, &v)
}

/// `GET /api/v1/streams`: published and played streams, from the directory
/// and the shards' snapshots.
fn streams(server: &dyn ServerFigures) -> Response {
    use std::collections::BTreeMap;
    let clients = server.clients();
    let mut by_stream: BTreeMap<(String, String), Vec<&ClientInfo>> = BTreeMap::new();
    for c in &clients {
        by_stream
            .entry((c.app.clone(), c.name.clone()))
            .or_default()
            .push(c);
    }
    let streams: Vec<Value> = by_stream
        .iter()
        .map(|((app, name), cs)| {
            let key = StreamKey::new(app, name).to_string();
            let publisher = cs.iter().find(|c| c.publish);
            let players = cs.iter().filter(|c| !c.publish).count();
            let active = server.is_published(&key);
            let send: u64 = cs.iter().filter(|c| !c.publish).map(|c| c.kbps.send_30s).sum();
            let recv = publisher.map(|p| p.kbps.recv_30s).unwrap_or(0);
            json!({
                "id": key,
                "name": name,
                "vhost": crate::config::DEFAULT_VHOST,
                "app": app,
                "url": format!("/{key}"),
                "clients": players,
                "recv_bytes": publisher.map(|p| p.counters.bytes_in).unwrap_or(0),
                "send_bytes": cs.iter().filter(|c| !c.publish).map(|c| c.counters.bytes_out).sum::<u64>(),
                "kbps": { "recv_30s": recv, "send_30s": send },
                "publish": { "active": active, "cid": publisher.map(|p| p.id.clone()) },
                "video": publisher.and_then(|p| p.video).map(|c| json!({ "codec": c })),
                "audio": publisher.and_then(|p| p.audio).map(|c| json!({ "codec": c })),
            })
        })
        .collect();
    let mut v = envelope(json!({}));
    v["streams"] = Value::Array(streams);
    Response::json(200, &v)
}
