//! A publisher's burst (a keyframe's packets, sent back to back) reaches
//! each player as runs of its copies that the server sends as UDP GSO
//! messages, and every player still gets every packet, in order (real
//! server, peers from shardsfu's own cores: the burst must be exact).

mod common;

use std::time::{Duration, Instant};

use common::peer::{offer_announcing, rtp, Peer};
use common::*;
use shardsfu::dtls::{DtlsCert, DtlsEvent};
use shardsfu::rtp::RtpHeader;

fn connect(srv: &Server, path: &str, fixture: &str, cert: &DtlsCert) -> Peer {
    let offer = offer_announcing(fixture, &cert.fingerprint_sha256());
    let mut p = Peer::signal_and_ice(srv, path, &offer);
    match p.handshake(cert) {
        Some(DtlsEvent::Connected { .. }) => p,
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
}

/// The video sequence numbers `p` receives until `want` came or 2 s passed.
fn receive(p: &mut Peer, want: usize) -> Vec<u16> {
    let mut buf = [0u8; 2048];
    let mut seqs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    p.sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while seqs.len() < want && Instant::now() < deadline {
        let Ok((n, _)) = p.sock.recv_from(&mut buf) else {
            continue;
        };
        if !(128..=191).contains(&buf[0]) || (192..=223).contains(&buf[1]) {
            continue;
        }
        if let Ok(plain) = p.srtp.as_mut().unwrap().unprotect_rtp(&buf[..n]) {
            seqs.push(RtpHeader::parse(&plain).unwrap().seq());
        }
    }
    seqs
}

#[test]
fn a_burst_goes_to_each_player_as_gso_runs() {
    const BURSTS: u16 = 10;
    const BURST: u16 = 16;
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 1, ""), ports, &[]);
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &srv,
        "/rtc/v1/whip/?app=live&stream=burst",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let pt = publisher.answer_pt("video");
    let whep = "/rtc/v1/whep/?app=live&stream=burst";
    let mut players: Vec<Peer> = (0..3)
        .map(|_| connect(&srv, whep, "aiortc_whep_recvonly.sdp", &cert))
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // Each burst: equal-size packets sent back to back, the first of the
    // first burst an IDR so the players start.
    let mut seq = 0u16;
    let mut got: Vec<Vec<u16>> = vec![Vec::new(); players.len()];
    for _ in 0..BURSTS {
        let burst: Vec<Vec<u8>> = (0..BURST)
            .map(|k| {
                let first = if seq + k == 0 { 0x65 } else { 0x41 };
                let pkt = rtp(pt, seq + k, 0x5eed, first, 1000);
                publisher
                    .srtp
                    .as_mut()
                    .unwrap()
                    .protect_rtp(&pkt)
                    .unwrap()
                    .to_vec()
            })
            .collect();
        for enc in &burst {
            publisher.sock.send_to(enc, publisher.server).unwrap();
        }
        seq += BURST;
        // Read each burst before the next: a socket's default receive
        // buffer holds ~100 of these on loopback.
        for (p, seqs) in players.iter_mut().zip(&mut got) {
            seqs.extend(receive(p, usize::from(BURST)));
        }
    }
    let want = usize::from(BURSTS * BURST);
    for (i, seqs) in got.into_iter().enumerate() {
        assert_eq!(
            seqs.len(),
            want,
            "player {i} got every packet\n{}",
            srv.log()
        );
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "player {i} got them in order: {seqs:?}"
        );
    }
    let totals = srv.totals();
    let messages = totals["udp_gso_messages"].as_u64().unwrap();
    let carried = totals["udp_gso_datagrams"].as_u64().unwrap();
    eprintln!("GSO: {messages} messages carried {carried} datagrams");
    assert!(
        messages >= 1 && carried >= 2 * messages,
        "bursts went out as GSO runs: {messages} messages, {carried} datagrams"
    );
}
