//! SRS's Prometheus exporter: `exporter { enabled on; listen 9972; }` serves
//! the counters at `GET /metrics`.
//!
//! It runs on a plain thread of its own, off the shards: a scrape reads the
//! shards' atomics, takes the directory lock once and reads `/proc`, none of
//! which belongs on a glommio executor, and a slow or hostile scraper must
//! not hold up media. One connection is served at a time (a scrape endpoint
//! needs no more): the request head is read with a 5 s timeout and at most
//! 8 KiB, parsed by httparse, answered, and the connection closed. The text
//! is built by `prometheus-client` (OpenMetrics text, which Prometheus
//! scrapes), from a registry made afresh for each scrape.

use std::borrow::Cow;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shards::Shutdown;

use crate::config::ExporterConfig;
use crate::server::Shared;

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a connection may take to send its request head, and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// The OpenMetrics text content type (what `prometheus-client` writes).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Per-shard counters that are gauges (the rest only grow).
fn is_gauge(name: &str) -> bool {
    name == "sessions"
        || name == "queue_delay_ms"
        || name == "busy_percent"
        || name.starts_with("table_")
}

/// Errors starting the exporter.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// An `exporter.listen` address could not be bound.
    #[error("exporter: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The thread could not be started.
    #[error("exporter: cannot start its thread: {0}")]
    Spawn(std::io::Error),
}

/// The running exporter thread; it ends once shutdown is requested.
pub struct Exporter {
    handle: JoinHandle<()>,
}

impl Exporter {
    /// Binds `exporter.listen` and starts the thread, or does nothing when
    /// the exporter is off.
    pub fn spawn(shared: Arc<Shared>, shutdown: Shutdown) -> Result<Option<Self>, MetricsError> {
        let cfg = shared.config.exporter.clone();
        if !cfg.enabled {
            return Ok(None);
        }
        let mut listeners = Vec::new();
        for &addr in &cfg.listen {
            let bind = |addr| {
                let l = shards::bind_std_tcp(addr, shards::v6_only(addr, &cfg.listen))?;
                l.set_nonblocking(true)?;
                Ok::<_, std::io::Error>(l)
            };
            let l = bind(addr).map_err(|source| MetricsError::Bind { addr, source })?;
            tracing::info!(%addr, "Prometheus exporter at /metrics");
            listeners.push(l);
        }
        let handle = std::thread::Builder::new()
            .name("shardsfu-metrics".into())
            .spawn(move || run(&shared, &cfg, &listeners, &shutdown))
            .map_err(MetricsError::Spawn)?;
        Ok(Some(Self { handle }))
    }

    /// Waits for the thread (shutdown must have been requested).
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the exporter thread panicked");
        }
    }
}

fn run(shared: &Shared, cfg: &ExporterConfig, listeners: &[TcpListener], shutdown: &Shutdown) {
    while !shutdown.is_requested() {
        let mut idle = true;
        for l in listeners {
            match l.accept() {
                Ok((conn, _)) => {
                    idle = false;
                    if let Err(e) = serve(conn, shared, cfg, shutdown) {
                        tracing::debug!(error = %e, "exporter connection");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => tracing::debug!(error = %e, "exporter accept"),
            }
        }
        if idle {
            std::thread::sleep(POLL);
        }
    }
}

/// Reads one request head, answers it and closes the connection.
fn serve(
    mut conn: TcpStream,
    shared: &Shared,
    cfg: &ExporterConfig,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    // Short reads, so that shutdown is not held up by a silent client.
    conn.set_read_timeout(Some(POLL))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    let answer = loop {
        if len == buf.len() {
            break respond("431 Request Header Fields Too Large", "", false);
        }
        let n = match conn.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shutdown.is_requested() || Instant::now() >= deadline {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(_)) => {
                let method = req.method.unwrap_or("");
                let path = req.path.unwrap_or("");
                let path = path.split('?').next().unwrap_or(path);
                break route(method, path, shared, cfg);
            }
            Err(_) => break respond("400 Bad Request", "", false),
        }
    };
    conn.write_all(&answer)?;
    conn.flush()
}

fn route(method: &str, path: &str, shared: &Shared, cfg: &ExporterConfig) -> Vec<u8> {
    if path != "/metrics" {
        return respond("404 Not Found", "", false);
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return respond("405 Method Not Allowed", "", false),
    };
    match render(shared, cfg) {
        Ok(text) => respond("200 OK", &text, head),
        Err(_) => respond("500 Internal Server Error", "", false),
    }
}

fn respond(status: &str, body: &str, head_only: bool) -> Vec<u8> {
    let ctype = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Labels of a per-shard series.
type ShardLabel = Vec<(&'static str, String)>;

/// The metrics text, read now from `shared`.
pub fn render(shared: &Shared, cfg: &ExporterConfig) -> Result<String, std::fmt::Error> {
    let mut consts: Vec<(Cow<'static, str>, Cow<'static, str>)> = Vec::new();
    for (k, v) in [("label", &cfg.label), ("tag", &cfg.tag)] {
        if !v.is_empty() {
            consts.push((k.into(), v.clone().into()));
        }
    }
    let mut reg = Registry::with_prefix_and_labels("shardsfu", consts.into_iter());
    shard_counters(shared, &mut reg);
    let (sessions, streams) = shared.directory.counts();
    gauge(
        &mut reg,
        "sessions",
        "WebRTC sessions in the directory",
        sessions as i64,
    );
    gauge(
        &mut reg,
        "streams",
        "Published WebRTC streams in the directory",
        streams as i64,
    );
    let http = shared.http_connections.load(Ordering::Relaxed);
    gauge(
        &mut reg,
        "http_connections",
        "Open HTTP connections",
        http as i64,
    );
    let tcp = shared.rtc_tcp_connections.load(Ordering::Relaxed);
    gauge(
        &mut reg,
        "rtc_tcp_connections",
        "Open WebRTC-over-TCP connections",
        tcp as i64,
    );
    let hooks = shared.hooks_in_flight.current();
    gauge(
        &mut reg,
        "hooks_in_flight",
        "HTTP hook calls in flight",
        hooks as i64,
    );
    let live = shared.live.len();
    gauge(
        &mut reg,
        "live_streams",
        "Live streams (RTMP, HTTP-FLV, HLS)",
        live as i64,
    );
    let rtmp = shared.live.rtmp_connections.load(Ordering::Relaxed);
    gauge(
        &mut reg,
        "rtmp_connections",
        "Open RTMP connections",
        rtmp as i64,
    );
    let dvr = &shared.dvr.stats;
    gauge(
        &mut reg,
        "dvr_recordings",
        "Streams being recorded (DVR)",
        dvr.recording.load(Ordering::Relaxed) as i64,
    );
    for (name, help, v) in [
        ("dvr_files", "Recording files finished", &dvr.files),
        (
            "dvr_errors",
            "Recordings stopped by a path or write error",
            &dvr.errors,
        ),
        (
            "dvr_too_slow",
            "Recordings the hub dropped as too slow",
            &dvr.too_slow,
        ),
        (
            "dvr_refused",
            "Publishes not recorded (limit reached)",
            &dvr.refused,
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(v.load(Ordering::Relaxed));
        reg.register(name, help, c);
    }
    let uptime = shared.started.elapsed().as_secs_f64();
    gauge_f(
        &mut reg,
        "uptime_seconds",
        "Seconds since the server started",
        uptime,
    );
    if let Some(rss) = rss_bytes() {
        gauge(
            &mut reg,
            "process_resident_memory_bytes",
            "Resident set size (VmRSS)",
            rss,
        );
    }
    if let Some(cpu) = cpu_seconds() {
        let c = Counter::<f64, AtomicU64>::default();
        c.inc_by(cpu);
        reg.register("process_cpu_seconds", "User and system CPU time", c);
    }
    if let Some(c) = &shared.cluster {
        c.register_metrics(&mut reg);
        crate::server::cluster_forward::register_metrics(&mut reg);
    }
    let info = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
    info.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))])
        .set(1);
    reg.register("build_info", "Build information", info);
    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(out)
}

/// Every `ShardStats` counter, by shard (`shard="0"`...) and summed (`shard="all"`).
fn shard_counters(shared: &Shared, reg: &mut Registry) {
    let snaps: Vec<_> = shared.stats.iter().map(|s| s.snapshot()).collect();
    let total = shared.totals();
    // The snapshot's fields by name, in declaration order (serde keeps it).
    let fields = |s: &crate::sfu::StatsSnapshot| -> Vec<(String, u64)> {
        match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
                .collect(),
            _ => Vec::new(),
        }
    };
    let per: Vec<_> = snaps.iter().map(fields).collect();
    for (name, all) in fields(&total) {
        let rows = per
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let v = f.iter().find(|(k, _)| *k == name).map_or(0, |(_, v)| *v);
                (i.to_string(), v)
            })
            .chain(std::iter::once(("all".to_string(), all)));
        let help = format!("Per-shard counter {name} (src/sfu/stats.rs)");
        if is_gauge(&name) {
            let fam = Family::<ShardLabel, Gauge>::default();
            for (shard, v) in rows {
                fam.get_or_create(&vec![("shard", shard)]).set(v as i64);
            }
            reg.register(format!("shard_{name}"), help, fam);
        } else {
            let fam = Family::<ShardLabel, Counter>::default();
            for (shard, v) in rows {
                fam.get_or_create(&vec![("shard", shard)]).inc_by(v);
            }
            reg.register(format!("shard_{name}"), help, fam);
        }
    }
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn gauge_f(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    reg.register(name, help, g);
}

/// VmRSS from /proc/self/status, in bytes.
fn rss_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User plus system CPU time of the process (getrusage).
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage writes only into the zeroed struct it is handed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(ru.ru_utime) + secs(ru.ru_stime))
}
