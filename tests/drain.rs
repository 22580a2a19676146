//! Graceful stop: SIGTERM refuses new clients with 503, lets the ones there
//! end for up to `grace_final_wait`, then exits 0; SIGINT and a second
//! SIGTERM stop at once.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// A server whose drain lasts `wait_ms`, with `sessions` WHIP sessions that
/// never do ICE (they stay for the whole drain); returns their Locations.
fn server_with_sessions(wait_ms: u64, sessions: usize) -> (Server, Ports, Vec<String>) {
    let ports = Ports::free();
    let conf = format!("grace_final_wait {wait_ms};\n{}", config(ports, 2, ""));
    let srv = Server::start(&conf, ports, &[]);
    let locations = (0..sessions)
        .map(|i| {
            let r = publish(&srv, &format!("d{i}"));
            assert_eq!(r.status, 201, "{}", r.body);
            srv.api_url(r.header("location").expect("Location"))
        })
        .collect();
    (srv, ports, locations)
}

fn offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap()
}

fn publish(srv: &Server, stream: &str) -> Resp {
    post(
        &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        &offer(),
    )
}

/// Waits until the server logs that the drain began.
fn wait_draining(srv: &Server) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !srv.log().contains("draining") {
        assert!(
            Instant::now() < deadline,
            "no drain log line:\n{}",
            srv.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_refuses_new_clients_keeps_old_ones_then_exits_0() {
    let (mut srv, ports, locations) = server_with_sessions(1500, 3);
    let t0 = Instant::now();
    srv.signal(libc::SIGTERM);
    wait_draining(&srv);

    // New signaling: 503 with Retry-After, WHIP and the legacy API alike.
    let r = publish(&srv, "late");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some(), "no Retry-After");
    assert!(r.body.contains("stopping"), "{}", r.body);
    let legacy = post(
        &srv.api_url("/rtc/v1/play/"),
        "application/json",
        &serde_json::json!({"streamurl": "webrtc://127.0.0.1/live/d0", "sdp": offer()}).to_string(),
    );
    assert!(
        legacy.status == 503 || legacy.json()["code"].as_u64().unwrap_or(0) != 0,
        "legacy play during a drain: {} {}",
        legacy.status,
        legacy.body
    );
    // New HTTP-FLV plays too; the API itself still answers.
    let flv = get(&format!("http://{}/live/d0.flv", srv.http));
    assert_eq!(flv.status, 503, "{}", flv.body);
    assert_eq!(get(&srv.api_url("/api/v1/versions")).status, 200);
    // New RTMP connections are closed at once.
    let mut rtmp = TcpStream::connect(("127.0.0.1", ports.rtmp)).unwrap();
    rtmp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(rtmp.read(&mut buf), Ok(0) | Err(_)),
        "RTMP accepted"
    );

    // The sessions made before the stop are still there and still end by
    // DELETE. With two shards the session may live on the other one, which
    // closes it when the mesh message arrives, after the 200.
    assert_eq!(delete(&locations[0]).status, 200);
    wait_until(Duration::from_millis(500), || srv.totals()["sessions"] == 2);
    assert_eq!(srv.totals()["sessions"], 2, "{}", srv.totals());

    // Two sessions stay: the drain lasts its full 1.5 s, then the process exits 0.
    let status = srv
        .wait_exit(Duration::from_secs(4))
        .expect("exited within the drain time and a second");
    let took = t0.elapsed();
    assert!(status.success(), "exit status {status}\n{}", srv.log());
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2800),
        "stopped after {took:?}"
    );
    assert!(srv.log().contains("drain time is up"), "{}", srv.log());
}

#[test]
fn the_drain_ends_as_soon_as_the_last_client_leaves() {
    let (mut srv, _, locations) = server_with_sessions(20_000, 2);
    srv.signal(libc::SIGTERM);
    wait_draining(&srv);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "stopped with clients left"
    );
    let t0 = Instant::now();
    for l in &locations {
        assert_eq!(delete(l).status, 200);
    }
    let status = srv
        .wait_exit(Duration::from_secs(2))
        .expect("exited once drained");
    assert!(status.success(), "exit status {status}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(srv.log().contains("every client has left"), "{}", srv.log());
}

#[test]
fn an_idle_server_stops_at_once_on_sigterm() {
    let (mut srv, _, _) = server_with_sessions(20_000, 0);
    let t0 = Instant::now();
    let status = srv
        .terminate(Duration::from_secs(2))
        .expect("exited within 2 s");
    assert!(status.success(), "exit status {status}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[test]
fn a_second_sigterm_or_sigint_stops_at_once() {
    let (mut srv, _, _) = server_with_sessions(20_000, 3);
    srv.signal(libc::SIGTERM);
    wait_draining(&srv);
    let t0 = Instant::now();
    let status = srv
        .terminate(Duration::from_secs(2))
        .expect("a second SIGTERM stops at once");
    assert!(status.success(), "exit status {status}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());

    let (mut srv, _, _) = server_with_sessions(20_000, 3);
    let t0 = Instant::now();
    let status = srv
        .signal_and_wait(libc::SIGINT, Duration::from_secs(2))
        .expect("SIGINT stops at once");
    assert!(status.success(), "exit status {status}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}
