//! The Prometheus exporter (`exporter { enabled on; }`): `GET /metrics`
//! parses as Prometheus text and follows the server's state; other paths,
//! methods and garbage are refused without stopping it.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

struct Exported {
    server: Server,
    addr: SocketAddr,
}

fn start() -> Exported {
    let ports = Ports::free();
    let port = free_port();
    let conf = format!(
        "{}exporter {{ enabled on; listen 127.0.0.1:{port}; label cn-beijing; tag cn-edge; }}\n",
        config(ports, 2, "")
    );
    let server = Server::start(&conf, ports, &[]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Exported { server, addr }
}

/// Scrapes `/metrics` and parses it; every sample line must parse.
fn scrape(e: &Exported) -> prometheus_parse::Scrape {
    let r = get(&format!("http://{}/metrics", e.addr));
    assert_eq!(r.status, 200, "{}", r.body);
    let ctype = r.header("content-type").unwrap_or("").to_string();
    assert!(ctype.contains("openmetrics-text"), "{ctype}");
    assert!(r.body.trim_end().ends_with("# EOF"), "{}", r.body);
    let lines = r.body.lines().map(|l| Ok(l.to_string()));
    let s = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let samples = r
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(
        s.samples.len(),
        samples,
        "every line is a sample:\n{}",
        r.body
    );
    s
}

fn value(s: &prometheus_parse::Scrape, metric: &str, shard: Option<&str>) -> f64 {
    let found = s
        .samples
        .iter()
        .find(|x| x.metric == metric && shard.is_none_or(|sh| x.labels.get("shard") == Some(sh)));
    match found.map(|x| &x.value) {
        Some(prometheus_parse::Value::Counter(v))
        | Some(prometheus_parse::Value::Gauge(v))
        | Some(prometheus_parse::Value::Untyped(v)) => *v,
        other => panic!("{metric} {shard:?}: {other:?}"),
    }
}

fn wait_sessions(e: &Exported, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = value(&scrape(e), "shardsfu_sessions", None);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "sessions {got}, want {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_parse_and_name_what_the_docs_list() {
    let e = start();
    let s = scrape(&e);
    for name in [
        "shardsfu_shard_udp_packets_in_total",
        "shardsfu_shard_sessions_created_total",
        "shardsfu_shard_sessions",
        "shardsfu_shard_table_ufrags",
        "shardsfu_sessions",
        "shardsfu_streams",
        "shardsfu_http_connections",
        "shardsfu_rtc_tcp_connections",
        "shardsfu_hooks_in_flight",
        "shardsfu_live_streams",
        "shardsfu_rtmp_connections",
        "shardsfu_uptime_seconds",
        "shardsfu_process_resident_memory_bytes",
        "shardsfu_process_cpu_seconds_total",
        "shardsfu_build_info",
    ] {
        let x = s.samples.iter().find(|x| x.metric == name);
        let x = x.unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(x.labels.get("label"), Some("cn-beijing"), "{name}");
        assert_eq!(x.labels.get("tag"), Some("cn-edge"), "{name}");
    }
    for shard in ["0", "1", "all"] {
        value(&s, "shardsfu_shard_udp_packets_in_total", Some(shard));
    }
    let info = s.samples.iter().find(|x| x.metric == "shardsfu_build_info");
    let info = info.unwrap();
    assert_eq!(info.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(value(&s, "shardsfu_process_resident_memory_bytes", None) > 1e6);
    let r = raw_http(
        e.addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("\r\n\r\n"), "HEAD has no body: {r}");
}

#[test]
fn sessions_gauge_follows_a_whip_publish_and_delete() {
    let e = start();
    wait_sessions(&e, 0.0);
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let url = e.server.api_url("/rtc/v1/whip/?app=live&stream=x");
    let r = post(&url, "application/sdp", &offer);
    assert_eq!(r.status, 201, "{}", r.body);
    wait_sessions(&e, 1.0);
    assert_eq!(value(&scrape(&e), "shardsfu_streams", None), 1.0);
    let loc = r.header("location").expect("Location").to_string();
    assert_eq!(delete(&e.server.api_url(&loc)).status, 200);
    wait_sessions(&e, 0.0);
}

#[test]
fn other_paths_methods_and_garbage_are_refused_and_it_keeps_serving() {
    let e = start();
    let t = Duration::from_secs(3);
    let r = raw_http(e.addr, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n", t);
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let r = raw_http(e.addr, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", t);
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    assert!(r.contains("Allow: GET, HEAD"), "{r}");
    let r = raw_http(e.addr, b"\x00\x01garbage\r\n\r\n", t);
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
    let big = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    let r = raw_http(e.addr, big.as_bytes(), t);
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 431"), "{r}");
    scrape(&e);
}

#[test]
fn a_silent_scraper_holds_up_neither_shutdown_nor_later_scrapes() {
    let mut e = start();
    let silent = std::net::TcpStream::connect(e.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Served one at a time: the next scrape waits out the silent one (5 s).
    let t = Instant::now();
    scrape(&e);
    assert!(t.elapsed() < Duration::from_secs(7), "{:?}", t.elapsed());
    let _silent_again = std::net::TcpStream::connect(e.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let st = e.server.terminate(Duration::from_secs(3)).expect("exits");
    assert!(st.success(), "{st}:\n{}", e.server.log());
    drop(silent);
}
