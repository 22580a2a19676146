//! Hostile media input against the real server: a garbled DTLS record, SRTP
//! with bad authentication tags, RTP from an address that never did ICE, and
//! a DTLS peer whose certificate is not the one its offer announced. Each is
//! dropped and counted, and the server keeps serving a well-behaved peer.
//!
//! The peer here is built from shardsfu's own ICE, DTLS and SRTP cores
//! (acting as the client side); the real-client interop tests live in
//! tests/peers (aiortc) and tests/browser (Chromium).

mod common;

use std::net::UdpSocket;

use common::peer::{offer_announcing, Peer};
use common::*;
use shardsfu::dtls::{format_fingerprint, DtlsCert, DtlsEvent};

/// POSTs the aiortc WHIP offer announcing `announce` and passes ICE.
fn signal_and_ice(srv: &Server, stream: &str, announce: &str) -> Peer {
    let offer = offer_announcing("aiortc_whip_h264.sdp", announce);
    Peer::signal_and_ice(
        srv,
        &format!("/rtc/v1/whip/?app=live&stream={stream}"),
        &offer,
    )
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0, 0xf5, 0x5e, 0x56, 0x2d];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&[0xfc; 60]);
    p
}

#[test]
fn hostile_media_is_dropped_and_counted() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let cert = DtlsCert::generate().unwrap();
    let mine = cert.fingerprint_sha256();

    // A peer that passed ICE sends a garbled DTLS record.
    let mut good = signal_and_ice(&srv, "good", &mine);
    let garbled = [
        22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3,
    ];
    good.sock.send_to(&garbled, good.server).unwrap();
    assert_eq!(
        srv.wait_for_counter("dtls_dropped", 1),
        1,
        "the garbled record is counted"
    );

    // ...and still completes its handshake afterwards.
    match good.handshake(&cert) {
        Some(DtlsEvent::Connected { .. }) => {}
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
    assert_eq!(srv.wait_for_counter("dtls_connected", 1), 1);

    // Valid SRTP is received.
    let srtp = good.srtp.as_mut().unwrap();
    for seq in 1..=20u16 {
        let pkt = srtp.protect_rtp(&rtp(seq)).unwrap();
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert!(
        srv.wait_for_counter("rtp_received", 20) >= 20,
        "{}",
        srv.log()
    );

    // Bad authentication tags are dropped and counted.
    for seq in 21..=30u16 {
        let mut pkt = srtp.protect_rtp(&rtp(seq)).unwrap().to_vec();
        let last = pkt.len() - 1;
        pkt[last] ^= 0x5a;
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert_eq!(srv.wait_for_counter("srtp_errors", 10), 10);

    // RTP from an address that never did ICE is dropped and counted.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 1..=5u16 {
        stranger.send_to(&rtp(seq), srv.rtc).unwrap();
    }
    assert!(srv.wait_for_counter("packets_unknown_source", 5) >= 5);

    // A peer whose certificate is not the one its offer announced fails DTLS.
    let other = DtlsCert::generate().unwrap();
    let bogus = format_fingerprint(&[0xab; 32]);
    assert_ne!(bogus, other.fingerprint_sha256());
    let mut liar = signal_and_ice(&srv, "liar", &bogus);
    let ev = liar.handshake(&other);
    assert!(!matches!(ev, Some(DtlsEvent::Connected { .. })), "{ev:?}");
    assert_eq!(srv.wait_for_counter("dtls_failures", 1), 1, "{}", srv.log());

    // The good peer is still served.
    let before = srv.totals()["rtp_received"].as_u64().unwrap();
    let srtp = good.srtp.as_mut().unwrap();
    for seq in 31..=40u16 {
        let pkt = srtp.protect_rtp(&rtp(seq)).unwrap();
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert!(srv.wait_for_counter("rtp_received", before + 10) >= before + 10);
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(
        s["data"]["sessions"], 1,
        "the liar's session is gone, the good one stays"
    );
}
