//! Overload control (`rtc_server.max_queue_delay`, src/overload.rs) against
//! the real server: datagrams made to wait in the kernel's queue (the
//! server is frozen with SIGSTOP while they arrive) are seen as late when
//! it resumes. Late RTP is counted, late STUN alone does not count, and new
//! sessions get `503` with `Retry-After` until the shard has caught up.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("sdp").join(name)).unwrap()
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0, 0xf5, 0x5e, 0x56, 0x2d];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0xfc; 100]);
    p
}

fn whip(srv: &Server, stream: &str) -> Resp {
    exchange(
        srv.api,
        "POST",
        &format!("/rtc/v1/whip/?app=live&stream={stream}"),
        &[("Content-Type", "application/sdp")],
        &fixture("aiortc_whip_h264.sdp"),
    )
}

/// Freezes the server while `send` puts datagrams in its queue, so they
/// have waited `frozen` when it resumes.
fn frozen_while(srv: &Server, frozen: Duration, send: impl FnOnce()) {
    srv.signal(libc::SIGSTOP);
    send();
    std::thread::sleep(frozen);
    srv.signal(libc::SIGCONT);
}

#[test]
fn late_rtp_makes_new_sessions_wait_until_the_shard_catches_up() {
    let ports = Ports::free();
    let conf = config(ports, 1, "").replace(
        "candidate 127.0.0.1;",
        "candidate 127.0.0.1; max_queue_delay 200;",
    );
    let srv = Server::start(&conf, ports, &[]);
    assert_eq!(whip(&srv, "before").status, 201, "{}", srv.log());
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = srv.rtc;
    let unknown_before = srv.totals()["stun_unknown_ufrag"].as_u64().unwrap();

    // The kernel stamps arrivals only once a socket has asked for stamps
    // and its deferred switch has run (on a loaded machine that can lag);
    // a datagram without a stamp counts as not having waited. So freeze,
    // and freeze again (up to three times) until the late RTP is seen.
    let mut late = 0;
    for round in 0..3u16 {
        frozen_while(&srv, Duration::from_millis(400), || {
            for seq in 0..40u16 {
                client.send_to(&rtp(round * 40 + seq), server).unwrap();
            }
            for i in 0..5u8 {
                let check = binding_check(&[i; 12], "nosuchufrag", "client", "pwd");
                client.send_to(&check, server).unwrap();
            }
        });
        late = srv.wait_for_counter("rtp_late", 38);
        if late > 0 {
            break;
        }
    }
    // The loop takes the first datagram after an empty queue with
    // glommio's receive, which passes no arrival stamp: on resuming, the
    // one io_uring was waiting for and the next one count as not late.
    assert!(
        (38..=40).contains(&late),
        "the late RTP datagrams of a frozen round are counted, all but the first one or two: {late}\n{}",
        srv.log()
    );
    assert!(
        srv.wait_for_counter("packets_unknown_source", late) >= late,
        "late RTP is still handled (here: dropped as from an address that never did ICE)"
    );
    assert!(
        srv.wait_for_counter("stun_unknown_ufrag", unknown_before + 5) >= unknown_before + 5,
        "late STUN is still handled"
    );
    let refused = whip(&srv, "during");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("2"));
    assert!(
        refused.body.contains("max_queue_delay"),
        "the answer names the limit: {}",
        refused.body
    );
    assert_eq!(srv.totals()["sessions_refused_overload"], 1);
    // The gauge is set on the shard's next tick (20 ms).
    let mut delay = 0;
    wait_until(Duration::from_secs(2), || {
        delay = srv.totals()["queue_delay_ms"].as_u64().unwrap();
        delay >= 300
    });
    assert!(delay >= 300, "the gauge shows the wait: {delay} ms");

    // Caught up: after the hold, sessions are taken again.
    let started = Instant::now();
    let mut status = 0;
    while started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(500));
        status = whip(&srv, "after").status;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
    }
    assert_eq!(status, 201, "taken again once the shard caught up");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[test]
fn with_max_queue_delay_off_late_rtp_is_not_late_and_sessions_are_taken() {
    let ports = Ports::free();
    let conf = config(ports, 1, "").replace(
        "candidate 127.0.0.1;",
        "candidate 127.0.0.1; max_queue_delay 0;",
    );
    let srv = Server::start(&conf, ports, &[]);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = srv.rtc;
    frozen_while(&srv, Duration::from_millis(300), || {
        for seq in 0..10u16 {
            client.send_to(&rtp(seq), server).unwrap();
        }
    });
    assert!(srv.wait_for_counter("packets_unknown_source", 10) >= 10);
    assert_eq!(srv.totals()["rtp_late"], 0);
    assert_eq!(whip(&srv, "s").status, 201);
}

#[test]
fn a_shard_busy_past_max_shard_load_refuses_new_sessions() {
    let ports = Ports::free();
    let conf = config(ports, 1, "").replace(
        "candidate 127.0.0.1;",
        "candidate 127.0.0.1; max_shard_load 5;",
    );
    let srv = Server::start(&conf, ports, &[]);
    // Start-up work counts in the first window: wait for an idle one.
    let mut busy = 100;
    wait_until(Duration::from_secs(6), || {
        busy = srv.totals()["busy_percent"].as_u64().unwrap();
        busy < 5
    });
    assert!(busy < 5, "an idle shard is not busy: {busy}%");
    assert_eq!(whip(&srv, "idle").status, 201, "{}", srv.log());

    // Datagrams of no known protocol (first byte 0xff): each is read,
    // classified, dropped and counted; bounded to 6 s of sending.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk = [0xffu8; 200];
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline && busy < 5 {
        for _ in 0..5_000 {
            let _ = client.send_to(&junk, srv.rtc);
        }
        busy = srv.totals()["busy_percent"].as_u64().unwrap();
    }
    assert!(busy >= 5, "the flood keeps the shard busy: {busy}%");
    assert!(srv.totals()["packets_unclassified"].as_u64().unwrap() > 0);
    let refused = whip(&srv, "busy");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("2"));
    assert!(refused.body.contains("max_shard_load"), "{}", refused.body);
}
