//! `/api/v1/versions`, `/api/v1/summaries`, `/api/v1/clients`,
//! `/api/v1/streams` and the API index, in SRS's JSON shape.
//!
//! Clients are WebRTC sessions (from each shard's snapshot, at most a second
//! old, less those deleted since) and live clients (RTMP publishers and
//! players, HTTP-FLV players, from the hub). Both lists are sorted by id, as
//! SRS's are, so `start`/`count` pages are stable while nothing changes.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::api::{ApiError, InfoQuery, Page};
use crate::http::Response;
use crate::live::media_info::MediaInfo;
use crate::server::live::clients::LiveClientInfo;
use crate::sfu::snapshot::{ClientInfo, Kbps};
use crate::sfu::StatsSnapshot;

/// What the reports need of the server; the runtime provides it.
pub trait ServerFigures {
    /// The shard serving the request.
    fn shard(&self) -> usize;
    /// Every shard's counters, by shard id.
    fn shard_stats(&self) -> Vec<StatsSnapshot>;
    /// Every WebRTC session on every shard (each shard's last snapshot,
    /// less the sessions that ended since).
    fn clients(&self) -> Vec<ClientInfo>;
    /// Every live client (RTMP publishers and players, HTTP-FLV players).
    fn live_clients(&self) -> Vec<LiveClientInfo>;
    /// What the live publication of `app/stream` carries, when there is one.
    fn live_media(&self, key: &str) -> Option<MediaInfo>;
    /// Sessions and published streams in the directory.
    fn counts(&self) -> (usize, usize);
    /// Whether `app/stream` has a publisher.
    fn is_published(&self, key: &str) -> bool;
    /// Open HTTP connections.
    fn http_connections(&self) -> usize;
    /// Seconds since the server started.
    fn uptime_secs(&self) -> u64;
    /// Whether every shard has bound all its sockets (until then a port
    /// may answer on one shard and not yet on another).
    fn ready(&self) -> bool;
    /// The file `app/stream` is being recorded to (DVR), if it is.
    fn dvr_file(&self, _key: &str) -> Option<String> {
        None
    }
}

/// The answer to a [`Route::Info`](crate::api::Route::Info).
pub fn report(q: InfoQuery, server: &dyn ServerFigures) -> Response {
    match q {
        InfoQuery::Summaries => summaries(server),
        InfoQuery::Clients(page) => list("clients", page, all_clients(server)),
        InfoQuery::Streams(page) => list("streams", page, all_streams(server)),
        InfoQuery::Client(id) => one("client", &id, all_clients(server))
            .unwrap_or_else(|| crate::api::api_error(ApiError::ClientNotFound(id))),
        InfoQuery::Stream(id) => one("stream", &id, all_streams(server))
            .unwrap_or_else(|| crate::api::api_error(ApiError::NoSuchStream(id))),
        // Answered by the runtime, which holds the cluster's state.
        InfoQuery::Cluster => Response::error(404, "the cluster is off"),
    }
}

/// SRS's answer to a write that worked: `{"code": 0, "server", "service", "pid"}`.
pub fn ok() -> Response {
    let mut v = envelope(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("data");
    }
    Response::json(200, &v)
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

/// SRS's envelope of a report: `{code: 0, server, service, pid, data}`.
pub fn envelope(data: Value) -> Value {
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
            "cluster": "this node, the other nodes and the streams of the cluster's Redis directory (404 when off)",
            "clients": "the clients (WebRTC, RTMP, HTTP-FLV); ?start=0&count=10; DELETE /api/v1/clients/{id} kicks one",
            "streams": "the streams; ?start=0&count=10; /api/v1/streams/{app}/{stream} for one",
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
            "ready": server.ready(),
            "served_by_shard": server.shard(),
            "sessions": sessions,
            "streams": streams,
            "http_connections": server.http_connections(),
            "totals": totals,
            "per_shard": per_shard,
        })),
    )
}

/// A page of `items` as SRS answers a list: the envelope with `key`.
fn list(key: &str, page: Page, items: Vec<(String, Value)>) -> Response {
    let mut v = envelope(json!({}));
    let shown: Vec<&Value> = page.slice(&items).iter().map(|(_, v)| v).collect();
    v[key] = json!(shown);
    Response::json(200, &v)
}

/// The item `id` of `items` as SRS answers it (the envelope with `key`).
fn one(key: &str, id: &str, items: Vec<(String, Value)>) -> Option<Response> {
    let (_, item) = items.into_iter().find(|(i, _)| i == id)?;
    let mut v = envelope(json!({}));
    v[key] = item;
    Some(Response::json(200, &v))
}

/// SRS's stream URL: `/app/stream`, with the vhost in front unless it is
/// the default one.
fn stream_url(vhost: &str, app: &str, name: &str) -> String {
    if vhost == crate::config::DEFAULT_VHOST {
        format!("/{app}/{name}")
    } else {
        format!("{vhost}/{app}/{name}")
    }
}

/// Every client, WebRTC and live, as `(id, JSON)` sorted by id.
fn all_clients(server: &dyn ServerFigures) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = server
        .clients()
        .iter()
        .map(|c| (c.id.clone(), rtc_client(c)))
        .chain(
            server
                .live_clients()
                .iter()
                .map(|c| (c.id.clone(), live_client(c))),
        )
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A WebRTC session: its own fields (counters, quality, `connected`,
/// codecs) and SRS's (`vhost`, `stream`, `url`, `send_bytes`, ...).
fn rtc_client(c: &ClientInfo) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("stream".into(), json!(format!("{}/{}", c.app, c.name)));
        m.insert("url".into(), json!(stream_url(&c.vhost, &c.app, &c.name)));
        m.insert("tcUrl".into(), json!(""));
        m.insert("pageUrl".into(), json!(""));
        m.insert("swfUrl".into(), json!(""));
        m.insert("send_bytes".into(), json!(c.counters.bytes_out));
        m.insert("recv_bytes".into(), json!(c.counters.bytes_in));
    }
    v
}

/// An RTMP or HTTP-FLV client in SRS's shape (`SrsStatisticClient::dumps`),
/// plus `app` and `shard` as WebRTC clients have them.
fn live_client(c: &LiveClientInfo) -> Value {
    let d = &c.desc;
    json!({
        "id": c.id,
        "vhost": d.vhost,
        "stream": format!("{}/{}", d.app, d.stream),
        "ip": d.ip,
        "pageUrl": d.page_url,
        "swfUrl": d.swf_url,
        "tcUrl": d.tc_url,
        "url": stream_url(&d.vhost, &d.app, &d.stream),
        "name": d.stream,
        "app": d.app,
        "type": d.kind.as_str(),
        "publish": d.kind.is_publish(),
        "alive": c.alive,
        "send_bytes": c.send_bytes,
        "recv_bytes": c.recv_bytes,
        "kbps": c.kbps,
        "shard": d.shard,
    })
}

/// One stream's clients, WebRTC and live.
#[derive(Default)]
struct StreamClients<'a> {
    rtc: Vec<&'a ClientInfo>,
    live: Vec<&'a LiveClientInfo>,
}

/// Every stream that has a client, as `(id, JSON)` sorted by id (`app/stream`).
fn all_streams(server: &dyn ServerFigures) -> Vec<(String, Value)> {
    let rtc = server.clients();
    let live = server.live_clients();
    let mut by_stream: BTreeMap<String, StreamClients<'_>> = BTreeMap::new();
    for c in &rtc {
        let key = format!("{}/{}", c.app, c.name);
        by_stream.entry(key).or_default().rtc.push(c);
    }
    for c in &live {
        let key = format!("{}/{}", c.desc.app, c.desc.stream);
        by_stream.entry(key).or_default().live.push(c);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    by_stream
        .into_iter()
        .map(|(key, cs)| {
            let v = stream(server, &key, &cs, now_ms);
            (key, v)
        })
        .collect()
}

/// One stream in SRS's shape (`SrsStatisticStream::dumps`). `clients`
/// counts its players (WebRTC, RTMP and HTTP-FLV); `publish.cid` is the id
/// of its publisher, WebRTC or RTMP.
fn stream(server: &dyn ServerFigures, key: &str, cs: &StreamClients<'_>, now_ms: u64) -> Value {
    let (app, name) = key.split_once('/').unwrap_or(("", key));
    let rtc_pub = cs.rtc.iter().find(|c| c.publish);
    let live_pub = cs.live.iter().find(|c| c.desc.kind.is_publish());
    let rtc_players = cs.rtc.iter().filter(|c| !c.publish);
    let live_players = cs.live.iter().filter(|c| !c.desc.kind.is_publish());
    let players = rtc_players.clone().count() + live_players.clone().count();
    let media = server.live_media(key);
    let active = server.is_published(key) || media.is_some();
    let vhost = cs
        .rtc
        .first()
        .map(|c| c.vhost.as_str())
        .or_else(|| cs.live.first().map(|c| c.desc.vhost.as_str()))
        .unwrap_or(crate::config::DEFAULT_VHOST);
    let send_bytes: u64 = rtc_players
        .clone()
        .map(|c| c.counters.bytes_out)
        .sum::<u64>()
        + live_players.clone().map(|c| c.send_bytes).sum::<u64>();
    let recv_bytes = rtc_pub
        .map(|p| p.counters.bytes_in)
        .or_else(|| live_pub.map(|p| p.recv_bytes))
        .unwrap_or(0);
    let kbps = Kbps {
        recv_30s: rtc_pub
            .map(|p| p.kbps.recv_30s)
            .or_else(|| live_pub.map(|p| p.kbps.recv_30s))
            .unwrap_or(0),
        send_30s: rtc_players.map(|c| c.kbps.send_30s).sum::<u64>()
            + live_players.map(|c| c.kbps.send_30s).sum::<u64>(),
    };
    let cid = rtc_pub
        .map(|p| p.id.clone())
        .or_else(|| live_pub.map(|p| p.id.clone()));
    let (video, audio) = match (rtc_pub, &media) {
        (Some(p), _) => (
            p.video.map(|c| json!({ "codec": c })),
            p.audio.map(|c| json!({ "codec": c })),
        ),
        (None, Some(m)) => (
            m.video.as_ref().map(|v| json!(v)),
            m.audio.as_ref().map(|a| json!(a)),
        ),
        (None, None) => (None, None),
    };
    let tc_url = live_pub.map_or("", |p| p.desc.tc_url.as_str());
    json!({
        "id": key,
        "name": name,
        "vhost": vhost,
        "app": app,
        "tcUrl": tc_url,
        "url": stream_url(vhost, app, name),
        "live_ms": now_ms,
        "clients": players,
        "recv_bytes": recv_bytes,
        "send_bytes": send_bytes,
        "kbps": kbps,
        "publish": { "active": active, "cid": cid },
        "video": video,
        "audio": audio,
        "dvr": server.dvr_file(key).map(|f| json!({ "file": f })),
    })
}
