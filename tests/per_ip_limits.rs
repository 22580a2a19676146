//! Per-client limits on a real server: `max_connections_per_ip` on every
//! TCP listener, `signaling_rate_per_ip` on the signaling POSTs, and the
//! rate limit on the log lines a stranger can cause. 127.0.0.1 is the
//! stranger, 127.0.0.2 everybody else (the test namespace's `lo` accepts
//! all of 127.0.0.0/8, and a client socket bound to 127.0.0.2 is another
//! address to the server).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

const STRANGER: [u8; 4] = [127, 0, 0, 1];
const OTHER: [u8; 4] = [127, 0, 0, 2];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("sdp").join(name)).unwrap()
}

fn get_versions() -> &'static [u8] {
    b"GET /api/v1/versions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
}

/// `data` of the summaries, asked from [`OTHER`].
fn summaries(srv: &Server) -> serde_json::Value {
    let r = request_from(
        OTHER,
        srv.api,
        b"GET /api/v1/summaries HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["data"].clone()
}

fn http_connections(srv: &Server) -> u64 {
    summaries(srv)["http_connections"].as_u64().unwrap_or(0)
}

/// Sends RTMP's C0+C1 from `from`; true when S0+S1+S2 come back, false
/// when the server closes the connection instead.
fn rtmp_answers(from: [u8; 4], addr: SocketAddr) -> bool {
    let mut s = connect_from(from, addr);
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0x5a, 1536));
    let _ = s.write_all(&c0c1);
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    match s.read_exact(&mut s012) {
        Ok(()) => true,
        Err(e) => {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "neither answered nor closed: {e}"
            );
            false
        }
    }
}

#[test]
fn connections_past_the_per_ip_limit_are_refused_on_every_listener() {
    let ports = Ports::free();
    let conf = config(ports, 2, "")
        .replace(
            "max_connections 1000;",
            "max_connections 1000;\nmax_connections_per_ip 8;",
        )
        .replace(
            "candidate 127.0.0.1;",
            &format!(
                "candidate 127.0.0.1; protocol all; tcp {{ enabled on; listen 127.0.0.1:{}; }}",
                ports.rtc
            ),
        );
    let srv = Server::start(&conf, ports, &[]);
    let rtmp: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();

    // Server::start's probe from 127.0.0.1 has gone (only the query's own
    // connection is open), then the stranger holds 8 idle HTTP connections
    // (kept for 30 s).
    assert!(wait_until(Duration::from_secs(5), || http_connections(
        &srv
    ) == 1));
    let idle: Vec<TcpStream> = (0..8).map(|_| connect_from(STRANGER, srv.api)).collect();
    assert!(
        wait_until(Duration::from_secs(5), || http_connections(&srv) >= 9),
        "the server never held the 8 idle connections:\n{}",
        srv.log()
    );

    // A 9th: 429 with Retry-After and the limit named, on either HTTP port.
    for port in [srv.api, srv.http] {
        let r = request_from(STRANGER, port, get_versions());
        assert!(r.starts_with("HTTP/1.1 429 Too Many Requests"), "{r}");
        assert!(r.contains("Retry-After: 5"), "{r}");
        assert!(r.contains("Connection: close"), "{r}");
        assert!(
            r.contains("127.0.0.1 already has 8 connections open (max_connections_per_ip)"),
            "{r}"
        );
    }
    // RTMP and WebRTC over TCP: closed without a word.
    assert!(!rtmp_answers(STRANGER, rtmp), "RTMP served past the limit");
    let mut rtc = connect_from(STRANGER, srv.rtc);
    let (said, closed) = read_until_closed(&mut rtc);
    assert!(closed && said.is_empty(), "rtc tcp kept open: {said:?}");

    // Another address is served on every listener meanwhile.
    let r = request_from(OTHER, srv.api, get_versions());
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let r = request_from(
        OTHER,
        srv.http,
        b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        rtmp_answers(OTHER, rtmp),
        "RTMP from another address refused"
    );
    let mut rtc = connect_from(OTHER, srv.rtc);
    rtc.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let (_, closed) = read_until_closed(&mut rtc);
    assert!(!closed, "rtc tcp from another address was closed");

    let refused = || summaries(&srv)["totals"]["connections_refused_per_ip"].as_u64();
    assert!(
        wait_until(Duration::from_secs(3), || refused() >= Some(4)),
        "connections_refused_per_ip {:?}",
        refused()
    );
    assert!(
        srv.log()
            .contains("connection refused: 127.0.0.1 already has 8"),
        "{}",
        srv.log()
    );

    // The stranger's connections end: it is served again.
    drop(idle);
    assert!(
        wait_until(Duration::from_secs(5), || request_from(
            STRANGER,
            srv.api,
            get_versions()
        )
        .starts_with("HTTP/1.1 200")),
        "{}",
        srv.log()
    );
}

#[test]
fn a_signaling_burst_is_refused_per_address() {
    let ports = Ports::free();
    let conf = config(ports, 2, "").replace(
        "candidate 127.0.0.1;",
        "candidate 127.0.0.1; signaling_rate_per_ip 1; signaling_burst_per_ip 5;",
    );
    let srv = Server::start(&conf, ports, &[]);
    let offer = fixture("aiortc_whip_h264.sdp");
    let whip = |from, stream: &str| {
        request_from(
            from,
            srv.api,
            &http_post(
                &format!("/rtc/v1/whip/?app=live&stream={stream}"),
                "application/sdp",
                &offer,
            ),
        )
    };
    let mut created = 0;
    let mut limited = 0;
    for i in 0..10 {
        let r = whip(STRANGER, &format!("burst{i}"));
        if r.starts_with("HTTP/1.1 201") {
            created += 1;
            continue;
        }
        assert!(r.starts_with("HTTP/1.1 429"), "{r}");
        assert!(r.contains("Retry-After: 1\r\n"), "{r}");
        assert!(
            r.contains("127.0.0.1 made more than 5 signaling requests"),
            "{r}"
        );
        assert!(r.contains("signaling_rate_per_ip"), "{r}");
        limited += 1;
    }
    // The burst, plus at most one token that came back meanwhile.
    assert!((5..=6).contains(&created), "created {created}");
    assert_eq!(created + limited, 10);
    // The legacy API counts against the same bucket, refused in its style.
    let legacy = serde_json::json!({"streamurl": "webrtc://127.0.0.1/live/old", "sdp": offer});
    let r = request_from(
        STRANGER,
        srv.api,
        &http_post("/rtc/v1/publish/", "application/json", &legacy.to_string()),
    );
    assert!(r.starts_with("HTTP/1.1 429"), "{r}");
    assert!(r.contains("\"code\":4429"), "{r}");
    assert!(r.contains("Retry-After: 1\r\n"), "{r}");

    // Another address publishes and plays meanwhile.
    let r = whip(OTHER, "mine");
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    let play = request_from(
        OTHER,
        srv.api,
        &http_post(
            "/rtc/v1/whep/?app=live&stream=mine",
            "application/sdp",
            &fixture("aiortc_whep_recvonly.sdp"),
        ),
    );
    assert!(play.starts_with("HTTP/1.1 201"), "{play}");
    // Other requests of the stranger are not counted.
    let r = request_from(STRANGER, srv.api, get_versions());
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // A second later the stranger has a token again.
    std::thread::sleep(Duration::from_millis(1100));
    let r = whip(STRANGER, "later");
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    let n = srv.wait_for_counter("signaling_rate_limited", (limited + 1) as u64);
    assert_eq!(n, (limited + 1) as u64);
    assert!(
        srv.log().contains("signaling refused: 429"),
        "{}",
        srv.log()
    );
}

/// How many lines of `log` contain `what` (one rate-limited call site's
/// message), and the sum of the `N similar messages suppressed (FILE:LINE)`
/// lines of the sites in `file`.
fn logged_and_suppressed(log: &str, what: &str, file: &str) -> (usize, u64) {
    let lines = log.lines().filter(|l| l.contains(what)).count();
    let marker = format!(" similar messages suppressed ({file}:");
    let suppressed = log
        .lines()
        .filter_map(|l| {
            let (n, _) = l.split_once(&marker)?;
            n.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    (lines, suppressed)
}

#[test]
fn a_flood_of_bad_requests_logs_a_bounded_number_of_lines() {
    const FLOOD: usize = 300;
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let started = Instant::now();
    for _ in 0..FLOOD {
        let r = request_from(
            STRANGER,
            srv.api,
            b"GET / HTTP/1.1\r\nHost: test\r\nthis is no header\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    }
    let took = started.elapsed();
    // Every line dropped is accounted for within a second or two (shard 0
    // reports a site's count once its second is over).
    let (what, file) = ("http: bad request, answered 400", "src/server/http_conn.rs");
    let count = || logged_and_suppressed(&srv.log(), what, file);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let (lines, suppressed) = count();
            lines + suppressed as usize == FLOOD
        }),
        "{:?} of {FLOOD} accounted for:\n{}",
        count(),
        srv.log()
    );
    let (lines, suppressed) = count();
    let windows = took.as_secs() as usize + 2;
    assert!(
        lines <= 10 * windows,
        "{lines} lines in {took:?} (at most 10 a second)"
    );
    assert!(suppressed > 0, "nothing suppressed");
    eprintln!("{FLOOD} bad requests in {took:?}: {lines} lines logged, {suppressed} suppressed");

    // The same for RTMP connections that open with garbage.
    let rtmp: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    for _ in 0..100 {
        let mut s = connect_from(STRANGER, rtmp);
        let mut c0c1 = vec![6u8];
        c0c1.extend(std::iter::repeat_n(0, 1536));
        let _ = s.write_all(&c0c1);
        let (_, closed) = read_until_closed(&mut s);
        assert!(closed, "a bad handshake was kept open");
    }
    let count = || {
        logged_and_suppressed(
            &srv.log(),
            "rtmp: closing the connection",
            "src/server/live/rtmp_conn.rs",
        )
    };
    assert!(
        wait_until(Duration::from_secs(5), || {
            let (lines, suppressed) = count();
            lines + suppressed as usize == 100 && suppressed > 0
        }),
        "{:?}:\n{}",
        count(),
        srv.log()
    );
}
