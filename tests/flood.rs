//! One client address cannot lock others out: a flood of 1,000 WHIP
//! sessions that never do ICE from 127.0.0.1 is capped per address (429 +
//! Retry-After: by `signaling_rate_per_ip` at its default, 20 a second after
//! a burst of 40, and by `max_pending_per_ip`), 127.0.0.2 still publishes
//! and plays, and the flood's sessions end at `first_check_timeout`,
//! freeing their stream names.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};

/// A WHIP/WHEP POST from `from` (an address of the loopback range) on a
/// connection of its own; returns the status line and headers.
fn post_from(from: [u8; 4], api: SocketAddr, path: &str, offer: &str) -> String {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&api.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{offer}",
        offer.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("sdp").join(name)).unwrap()
}

#[test]
fn a_flood_from_one_address_leaves_another_able_to_publish_and_play() {
    let ports = Ports::free();
    let conf = config(ports, 2, "")
        .replace(
            "candidate 127.0.0.1;",
            "candidate 127.0.0.1; max_pending_per_ip 20; first_check_timeout 3;",
        )
        .replace("max_connections 1000;", "max_connections 5000;");
    let srv = Server::start(&conf, ports, &[]);
    let offer = fixture("aiortc_whip_h264.sdp");
    let (mut created, mut pending, mut rate) = (0, 0, 0);
    let started = Instant::now();
    for i in 0..1000 {
        let r = post_from(
            [127, 0, 0, 1],
            srv.api,
            &format!("/rtc/v1/whip/?app=live&stream=f{i}"),
            &offer,
        );
        if r.starts_with("HTTP/1.1 201") {
            created += 1;
            continue;
        }
        assert!(r.starts_with("HTTP/1.1 429"), "{r}");
        assert!(r.contains("Retry-After: "), "{r}");
        if r.contains("waiting for ICE") {
            pending += 1;
        } else {
            assert!(r.contains("signaling requests"), "{r}");
            rate += 1;
        }
    }
    let took = started.elapsed().as_secs_f64();
    eprintln!("1000 POSTs in {took:.1} s: {created} created, {pending} over max_pending_per_ip, {rate} over the signaling rate");
    // The burst (40) and the rate (20 a second) pass the signaling rate; of
    // them 20 become sessions (max_pending_per_ip), the others are refused.
    let tokens = (40.0 + 20.0 * took).floor() as usize + 1;
    assert_eq!(
        created, 20,
        "{pending} pending-refused, {rate} rate-refused"
    );
    assert!(
        pending >= 20 && created + pending <= tokens,
        "{created} created, {pending} pending-refused, {tokens} tokens"
    );
    assert_eq!(created + pending + rate, 1000);
    assert!(
        rate >= 1000 - tokens,
        "{rate} refused by rate of 1000 with {tokens} tokens"
    );
    // Another address is not affected.
    let r = post_from(
        [127, 0, 0, 2],
        srv.api,
        "/rtc/v1/whip/?app=live&stream=mine",
        &offer,
    );
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    let play = fixture("aiortc_whep_recvonly.sdp");
    let r = post_from(
        [127, 0, 0, 2],
        srv.api,
        "/rtc/v1/whep/?app=live&stream=mine",
        &play,
    );
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    // The flood's sessions end without a check (first_check_timeout)...
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sum: serde_json::Value =
            serde_json::from_str(&get(&srv.api_url("/api/v1/summaries")).body).unwrap();
        if sum["data"]["totals"]["sessions_no_check"].as_u64() >= Some(20) {
            break;
        }
        assert!(Instant::now() < deadline, "the flood never ended: {sum}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ... so the address and the names are free again.
    let r = post_from(
        [127, 0, 0, 1],
        srv.api,
        "/rtc/v1/whip/?app=live&stream=f0",
        &offer,
    );
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
}
