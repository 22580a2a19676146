//! IPv6 and dual stack against the real server, in SRS 7's spelling:
//! `listen [::]:port` serves both families on one socket; `listen port
//! [::]:port` binds one socket per family; `candidate ::1` gives IPv6 host
//! candidates. Clients are shardsfu's own sans-IO peers over real sockets
//! (STUN, DTLS, SRTP), plain TCP (RFC 4571 ICE-TCP, HTTP) and FFmpeg
//! (RTMP, HTTP-FLV). Media with aiortc: tests/peers/test_ipv6.py.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::ffmpeg::{have_ffmpeg, probe_codecs, push};
use common::peer::{offer_announcing, rtp, Peer};
use common::*;
use shardsfu::dtls::{DtlsCert, DtlsEvent};
use shardsfu::ice::{self, framing::write_frame};
use shardsfu::rtp::RtpHeader;

const LO6: [u16; 8] = [0, 0, 0, 0, 0, 0, 0, 1];

fn v6(port: u16) -> SocketAddr {
    (LO6, port).into()
}

fn v4(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// `[::]` everywhere (dual stack), `candidate ::1`, `workers 2`.
fn dual_stack_config(ports: Ports) -> String {
    format!(
        "listen [::]:{rtmp};\ndaemon off;\nsrs_log_tank console;\nworkers 2;\n\
         http_server {{ enabled on; listen [::]:{http}; dir {dir}; }}\n\
         http_api {{ enabled on; listen [::]:{api}; }}\n\
         rtc_server {{ enabled on; listen [::]:{rtc}; candidate ::1; }}\n\
         vhost __defaultVhost__ {{ rtc {{ enabled on; }} \
         http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }} }}\n",
        rtmp = ports.rtmp,
        http = ports.http,
        api = ports.api,
        rtc = ports.rtc,
        dir = fixtures().join("www").display(),
    )
}

fn connect(srv: &Server, path: &str, fixture: &str, cert: &DtlsCert) -> Peer {
    let offer = offer_announcing(fixture, &cert.fingerprint_sha256());
    let mut p = Peer::signal_and_ice(srv, path, &offer);
    match p.handshake(cert) {
        Some(DtlsEvent::Connected { .. }) => p,
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
}

/// Points the test's API and RTC addresses at one family.
fn via(srv: &mut Server, ports: Ports, ipv6: bool) {
    let at = if ipv6 { v6 } else { v4 };
    srv.api = at(ports.api);
    srv.rtc = at(ports.rtc);
}

/// Decrypted RTP sequence numbers waiting on `p`'s socket.
fn drain(p: &mut Peer, seqs: &mut Vec<u16>) {
    let mut buf = [0u8; 2048];
    p.sock
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    while let Ok((n, _)) = p.sock.recv_from(&mut buf) {
        if !(128..=191).contains(&buf[0]) || (192..=223).contains(&buf[1]) {
            continue;
        }
        if let Ok(plain) = p.srtp.as_mut().unwrap().unprotect_rtp(&buf[..n]) {
            seqs.push(RtpHeader::parse(&plain).unwrap().seq());
        }
    }
}

#[test]
fn whip_at_an_ipv6_url_answers_ipv6_candidates_and_media_reaches_an_ipv4_player() {
    let ports = Ports::free();
    // `Server::start` waits on 127.0.0.1: the `[::]` API answers it (dual stack).
    let mut srv = Server::start(&dual_stack_config(ports), ports, &[]);
    via(&mut srv, ports, true);
    assert!(srv.api_url("/").starts_with("http://[::1]:"));
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &srv,
        "/rtc/v1/whip/?app=live&stream=six",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let want = format!(" udp 2130706431 ::1 {} typ host", ports.rtc);
    assert!(
        publisher
            .answer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(&want)),
        "no ::1 candidate in\n{}",
        publisher.answer
    );
    assert!(publisher.answer.contains("c=IN IP6 ::1\r\n"));
    assert!(publisher.sock.local_addr().unwrap().is_ipv6());

    // The player comes over IPv4, to the same `[::]` sockets.
    via(&mut srv, ports, false);
    let whep = "/rtc/v1/whep/?app=live&stream=six";
    let mut player = connect(&srv, whep, "aiortc_whep_recvonly.sdp", &cert);
    assert!(player.sock.local_addr().unwrap().is_ipv4());
    std::thread::sleep(Duration::from_millis(300));

    let pt = publisher.answer_pt("video");
    let mut seqs = Vec::new();
    let sent = 200u16;
    for seq in 0..sent {
        let pkt = rtp(pt, seq, 0x6666, if seq == 0 { 0x65 } else { 0x41 }, 900);
        let enc = publisher.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
        publisher.sock.send_to(&enc, publisher.server).unwrap();
        drain(&mut player, &mut seqs);
    }
    std::thread::sleep(Duration::from_millis(200));
    drain(&mut player, &mut seqs);
    seqs.sort_unstable();
    seqs.dedup();
    assert!(
        seqs.len() >= usize::from(sent) * 95 / 100,
        "the IPv4 player got {} of {sent} packets from the IPv6 publisher\n{}",
        seqs.len(),
        srv.log()
    );
    // The summary reports what the API's clients see, whichever family.
    let totals = srv.totals();
    assert!(totals["udp_packets_in"].as_u64().unwrap() >= u64::from(sent));
}

/// Checks answered over IPv6 whichever shard the kernel hands them to: with
/// 2 shards, sessions created by one shard's API move to the other when
/// their first check lands there, and keep answering over IPv6.
#[test]
fn ipv6_sessions_move_between_shards_and_keep_their_family() {
    let ports = Ports::free();
    let mut srv = Server::start(&dual_stack_config(ports), ports, &[]);
    via(&mut srv, ports, true);
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let (client_ufrag, _) = ice_credentials(&offer);
    let mut answered = 0;
    for i in 0..16 {
        let r = post(
            &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream=m{i}")),
            "application/sdp",
            &offer,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let (ufrag, pwd) = ice_credentials(&r.body);
        let sock = UdpSocket::bind("[::1]:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        // Twice: a check that landed on the other shard moves the session
        // there (the first may be answered only once it has arrived).
        for round in 0..2u8 {
            let out = binding_check(&[round; 12], &ufrag, &client_ufrag, &pwd);
            sock.send_to(&out, srv.rtc).unwrap();
            let mut buf = [0u8; 1500];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                assert_eq!(from, srv.rtc);
                assert!(ice::parse(&buf[..n])
                    .unwrap()
                    .verify_integrity(pwd.as_bytes()));
                answered += 1;
                break;
            }
        }
    }
    assert_eq!(answered, 16, "{}", srv.log());
    let moved = srv.totals()["sessions_moved_out"].as_u64().unwrap();
    assert!(moved > 0, "16 sessions, 2 shards, and none moved?");
}

/// SRS's `listen 8000 [::]:8000`: each family gets its own socket (the
/// `[::]` one IPv6-only), on every listener, and both serve.
#[test]
fn a_port_listed_for_both_families_serves_both() {
    let ports = Ports::free();
    let conf = format!(
        "listen {rtmp} [::]:{rtmp};\ndaemon off;\nsrs_log_tank console;\nworkers 2;\n\
         http_api {{ enabled on; listen {api} [::]:{api}; }}\n\
         rtc_server {{ enabled on; listen {rtc} [::]:{rtc}; candidate 127.0.0.1 [::1]; \
         protocol all; tcp {{ enabled on; listen {rtc} [::]:{rtc}; }} }}\n\
         vhost __defaultVhost__ {{ rtc {{ enabled on; }} }}\n",
        rtmp = ports.rtmp,
        api = ports.api,
        rtc = ports.rtc,
    );
    let mut srv = Server::start(&conf, ports, &[]);
    let offer = std::fs::read_to_string(fixtures().join("sdp/chromium156_whip.sdp")).unwrap();
    let (client_ufrag, _) = ice_credentials(&offer);
    for ipv6 in [false, true] {
        via(&mut srv, ports, ipv6);
        let r = post(
            &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream=b{ipv6}")),
            "application/sdp",
            &offer,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        // One UDP and one TCP host candidate per address.
        let cands: Vec<&str> = r
            .body
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        for want in [
            format!(" udp 2130706431 127.0.0.1 {} typ host", ports.rtc),
            format!(
                " tcp 2130706431 127.0.0.1 {} typ host tcptype passive",
                ports.rtc
            ),
            format!(" udp 2130706431 ::1 {} typ host", ports.rtc),
            format!(" tcp 2130706431 ::1 {} typ host tcptype passive", ports.rtc),
        ] {
            assert!(
                cands.iter().any(|c| c.contains(&want)),
                "{want:?} in {cands:?}"
            );
        }
        let (ufrag, pwd) = ice_credentials(&r.body);
        // UDP.
        let local = if ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
        let sock = UdpSocket::bind(local).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut answered = false;
        for round in 0..3u8 {
            let out = binding_check(&[round; 12], &ufrag, &client_ufrag, &pwd);
            sock.send_to(&out, srv.rtc).unwrap();
            let mut buf = [0u8; 1500];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                assert_eq!(from, srv.rtc);
                answered = ice::parse(&buf[..n])
                    .unwrap()
                    .verify_integrity(pwd.as_bytes());
                break;
            }
        }
        assert!(answered, "UDP check over ipv6={ipv6}\n{}", srv.log());
        // ICE-TCP (RFC 4571 frames) to a fresh session.
        let r = post(
            &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream=t{ipv6}")),
            "application/sdp",
            &offer,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let (ufrag, pwd) = ice_credentials(&r.body);
        let mut tcp = TcpStream::connect(srv.rtc).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let check = binding_check(&[9; 12], &ufrag, &client_ufrag, &pwd);
        let mut framed = Vec::new();
        assert!(write_frame(&mut framed, &check));
        tcp.write_all(&framed).unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).unwrap();
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut packet).unwrap();
        assert!(ice::parse(&packet)
            .unwrap()
            .verify_integrity(pwd.as_bytes()));
        // RTMP accepts the connection and answers the handshake.
        let at = if ipv6 { v6 } else { v4 };
        let _rtmp = rtmp::handshake(at(ports.rtmp));
    }
}

#[test]
fn ffmpeg_pushes_rtmp_over_ipv6_and_reads_it_back_over_rtmp_and_http_flv() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let srv = Server::start(&dual_stack_config(ports), ports, &[]);
    let url = format!("rtmp://[::1]:{}/live/s", ports.rtmp);
    let _publisher = push(&url, 20);
    let flv = format!("http://[::1]:{}/live/s.flv", ports.http);
    let mut codecs = Vec::new();
    let found = wait_until(Duration::from_secs(15), || {
        codecs = probe_codecs(&flv);
        codecs.iter().any(|c| c == "h264")
    });
    assert!(found, "HTTP-FLV over [::1]: {codecs:?}\n{}", srv.log());
    assert!(codecs.iter().any(|c| c == "aac"), "{codecs:?}");
    let back = probe_codecs(&url);
    assert!(
        back.iter().any(|c| c == "h264"),
        "RTMP over [::1]: {back:?}"
    );
}
