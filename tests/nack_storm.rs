//! A player that sends a NACK storm (thousands of lost-packet reports a
//! second) gets rate-limited retransmissions, and the other player of the
//! stream is unaffected (workers 2, real server, peers from shardsfu's own
//! cores: no real client can be made to storm).

mod common;

use std::time::{Duration, Instant};

use common::peer::{offer_announcing, rtp, Peer};
use common::*;
use shardsfu::dtls::{DtlsCert, DtlsEvent};
use shardsfu::rtp::rtcp::write_nack;
use shardsfu::rtp::{RtpHeader, Ssrc};

fn connect(srv: &Server, path: &str, fixture: &str, cert: &DtlsCert) -> Peer {
    let offer = offer_announcing(fixture, &cert.fingerprint_sha256());
    let mut p = Peer::signal_and_ice(srv, path, &offer);
    match p.handshake(cert) {
        Some(DtlsEvent::Connected { .. }) => p,
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
}

/// Receives and decrypts what is waiting; returns (video seqs, our SSRC).
fn drain(p: &mut Peer, seqs: &mut Vec<u16>, ssrc: &mut u32) {
    let mut buf = [0u8; 2048];
    p.sock
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    while let Ok((n, _)) = p.sock.recv_from(&mut buf) {
        if !(128..=191).contains(&buf[0]) || (192..=223).contains(&buf[1]) {
            continue;
        }
        if let Ok(plain) = p.srtp.as_mut().unwrap().unprotect_rtp(&buf[..n]) {
            let h = RtpHeader::parse(&plain).unwrap();
            seqs.push(h.seq());
            *ssrc = h.ssrc().0;
        }
    }
}

#[test]
fn a_nack_storm_is_rate_limited_and_others_are_unaffected() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &srv,
        "/rtc/v1/whip/?app=live&stream=storm",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let pt = publisher.answer_pt("video");
    let whep = "/rtc/v1/whep/?app=live&stream=storm";
    let mut good = connect(&srv, whep, "aiortc_whep_recvonly.sdp", &cert);
    let mut stormer = connect(&srv, whep, "aiortc_whep_recvonly.sdp", &cert);
    std::thread::sleep(Duration::from_millis(300));

    let (mut good_seqs, mut stormer_seqs) = (Vec::new(), Vec::new());
    let (mut good_ssrc, mut stormer_ssrc) = (0u32, 0u32);
    let mut sent = 0u32;
    let mut nacks_sent = 0u32;
    let start = Instant::now();
    let mut seq = 0u16;
    // 2.5 s: the publisher sends a packet per round (the first an IDR; a
    // round also drains both players for 5 ms each); after the first 0.5 s
    // the stormer NACKs its 16 newest packets 25 times a round: thousands
    // of NACKed sequence numbers per second.
    while start.elapsed() < Duration::from_millis(2500) {
        let pkt = rtp(pt, seq, 0x5eed, if seq == 0 { 0x65 } else { 0x41 }, 900);
        let enc = publisher.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
        publisher.sock.send_to(&enc, publisher.server).unwrap();
        sent += 1;
        seq = seq.wrapping_add(1);
        drain(&mut good, &mut good_seqs, &mut good_ssrc);
        drain(&mut stormer, &mut stormer_seqs, &mut stormer_ssrc);
        if start.elapsed() > Duration::from_millis(500) && !stormer_seqs.is_empty() {
            let lost: Vec<u16> = stormer_seqs.iter().rev().take(16).copied().collect();
            for _ in 0..25 {
                let mut rtcp = Vec::new();
                // A compound starts with a report; an empty RR will do.
                shardsfu::rtp::rtcp::write_rr(&mut rtcp, Ssrc(0xbad), &[]);
                write_nack(&mut rtcp, Ssrc(0xbad), Ssrc(stormer_ssrc), &lost);
                let enc = stormer.srtp.as_mut().unwrap().protect_rtcp(&rtcp).unwrap();
                stormer.sock.send_to(&enc, stormer.server).unwrap();
                nacks_sent += lost.len() as u32;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    drain(&mut good, &mut good_seqs, &mut good_ssrc);
    let totals = srv.totals();
    let retransmitted = totals["retransmitted"].as_u64().unwrap();
    let refused = totals["retransmit_refused"].as_u64().unwrap();
    let received = totals["nacks_received"].as_u64().unwrap();
    eprintln!(
        "published {sent}, good player got {}, stormer asked {nacks_sent} (server saw {received}), \
         retransmitted {retransmitted}, refused {refused}",
        good_seqs.len()
    );
    assert!(nacks_sent > 5_000, "a storm: {nacks_sent}");
    assert!(received > 5_000, "the server saw the storm: {received}");
    // 500 packets/s and a burst of 100 over ~2 s of storm, plus slack.
    assert!(
        retransmitted <= 1_400,
        "retransmissions are rate-limited: {retransmitted}"
    );
    assert!(
        refused > received / 2,
        "most of the storm is refused: {refused} of {received}"
    );
    // The good player lost nothing (loopback), storm or not.
    let mut uniq = good_seqs.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert!(
        uniq.len() as u32 >= sent * 99 / 100,
        "good player got {} of {sent}\n{}",
        uniq.len(),
        srv.log()
    );
    assert_eq!(
        uniq.len(),
        good_seqs.len(),
        "the good player got no retransmissions it did not ask for"
    );
}
