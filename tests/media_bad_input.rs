//! Hostile media input against the real server: a garbled DTLS record, SRTP
//! with bad authentication tags, RTP from an address that never did ICE, and
//! a DTLS peer whose certificate is not the one its offer announced. Each is
//! dropped and counted, and the server keeps serving a well-behaved peer.
//!
//! The peer here is built from shardsfu's own ICE, DTLS and SRTP cores
//! (acting as the client side); the real-client interop tests live in
//! tests/peers (aiortc) and tests/browser (Chromium).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use shardsfu::dtls::{
    format_fingerprint, parse_fingerprint, DtlsCert, DtlsEvent, DtlsRole, DtlsTransport,
};
use shardsfu::ice::{self, BindingRequest};
use shardsfu::srtp::SrtpSession;

struct Peer {
    sock: UdpSocket,
    server: SocketAddr,
    srtp: Option<SrtpSession>,
}

fn totals(srv: &Server) -> serde_json::Value {
    get(&srv.api_url("/api/v1/summaries")).json()["data"]["totals"].clone()
}

/// POSTs `offer` (its fingerprint replaced by `announce`) and passes ICE.
fn signal_and_ice(srv: &Server, stream: &str, announce: &str) -> (Peer, String) {
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let offer: String = offer
        .lines()
        .filter(|l| {
            !l.starts_with("a=fingerprint:sha-384") && !l.starts_with("a=fingerprint:sha-512")
        })
        .map(|l| {
            if l.starts_with("a=fingerprint:sha-256") {
                format!("a=fingerprint:sha-256 {announce}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    let r = post(
        &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (ufrag, pwd) = ice_credentials(&r.body);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut out = Vec::new();
    let username = format!("{ufrag}:n3R2");
    let req = BindingRequest {
        username: &username,
        priority: 1,
        ice_controlling: Some(9),
        use_candidate: true,
    };
    ice::write_binding_request(&[7; 12], &req, pwd.as_bytes(), &mut out);
    sock.send_to(&out, srv.rtc).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).expect("STUN answered");
    assert!(ice::parse(&buf[..n])
        .unwrap()
        .verify_integrity(pwd.as_bytes()));
    let server_fp = r
        .body
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("a=fingerprint:sha-256 ")
                .map(str::to_string)
        })
        .expect("answer fingerprint");
    (
        Peer {
            sock,
            server: srv.rtc,
            srtp: None,
        },
        server_fp,
    )
}

/// Runs the DTLS handshake as the server's peer; returns the last event.
fn handshake(peer: &mut Peer, cert: &DtlsCert, server_fp: &str) -> Option<DtlsEvent> {
    let local = peer.sock.local_addr().unwrap();
    let fps = vec![("sha-256".to_string(), parse_fingerprint(server_fp).unwrap())];
    // The offer said actpass, so the server is the DTLS server and we are the client.
    let mut dtls = DtlsTransport::new(
        cert,
        DtlsRole::Client,
        local,
        peer.server,
        fps,
        Instant::now(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        while let Some(d) = dtls.poll_transmit() {
            peer.sock.send_to(&d, peer.server).unwrap();
        }
        if let Some(ev) = dtls.poll_event() {
            if let DtlsEvent::Connected { srtp } = &ev {
                peer.srtp = Some(SrtpSession::new(srtp).unwrap());
            }
            return Some(ev);
        }
        match peer.sock.recv_from(&mut buf) {
            Ok((n, _)) if (20..64).contains(&buf[0]) => {
                dtls.handle_input(Instant::now(), &buf[..n])
            }
            Ok(_) => {}
            Err(_) => dtls.handle_timeout(Instant::now()),
        }
    }
    None
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0, 0xf5, 0x5e, 0x56, 0x2d];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&[0xfc; 60]);
    p
}

fn wait_for(srv: &Server, key: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let v = totals(srv)[key].as_u64().unwrap();
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hostile_media_is_dropped_and_counted() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let cert = DtlsCert::generate().unwrap();
    let mine = cert.fingerprint_sha256();

    // A peer that passed ICE sends a garbled DTLS record.
    let (mut good, server_fp) = signal_and_ice(&srv, "good", &mine);
    let garbled = [
        22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3,
    ];
    good.sock.send_to(&garbled, good.server).unwrap();
    assert_eq!(
        wait_for(&srv, "dtls_dropped", 1),
        1,
        "the garbled record is counted"
    );

    // ...and still completes its handshake afterwards.
    match handshake(&mut good, &cert, &server_fp) {
        Some(DtlsEvent::Connected { .. }) => {}
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
    assert_eq!(wait_for(&srv, "dtls_connected", 1), 1);

    // Valid SRTP is received.
    let srtp = good.srtp.as_mut().unwrap();
    for seq in 1..=20u16 {
        let pkt = srtp.protect_rtp(&rtp(seq)).unwrap();
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert!(wait_for(&srv, "rtp_received", 20) >= 20, "{}", srv.log());

    // Bad authentication tags are dropped and counted.
    for seq in 21..=30u16 {
        let mut pkt = srtp.protect_rtp(&rtp(seq)).unwrap().to_vec();
        let last = pkt.len() - 1;
        pkt[last] ^= 0x5a;
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert_eq!(wait_for(&srv, "srtp_errors", 10), 10);

    // RTP from an address that never did ICE is dropped and counted.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 1..=5u16 {
        stranger.send_to(&rtp(seq), srv.rtc).unwrap();
    }
    assert!(wait_for(&srv, "packets_unknown_source", 5) >= 5);

    // A peer whose certificate is not the one its offer announced fails DTLS.
    let other = DtlsCert::generate().unwrap();
    let bogus = format_fingerprint(&[0xab; 32]);
    assert_ne!(bogus, other.fingerprint_sha256());
    let (mut liar, server_fp2) = signal_and_ice(&srv, "liar", &bogus);
    let ev = handshake(&mut liar, &other, &server_fp2);
    assert!(!matches!(ev, Some(DtlsEvent::Connected { .. })), "{ev:?}");
    assert_eq!(wait_for(&srv, "dtls_failures", 1), 1, "{}", srv.log());

    // The good peer is still served.
    let before = totals(&srv)["rtp_received"].as_u64().unwrap();
    let srtp = good.srtp.as_mut().unwrap();
    for seq in 31..=40u16 {
        let pkt = srtp.protect_rtp(&rtp(seq)).unwrap();
        good.sock.send_to(&pkt, good.server).unwrap();
    }
    assert!(wait_for(&srv, "rtp_received", before + 10) >= before + 10);
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(
        s["data"]["sessions"], 1,
        "the liar's session is gone, the good one stays"
    );
}
