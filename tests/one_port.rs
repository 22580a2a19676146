//! One TCP port for everything (SRS's "one port" setup): the HTTP API and
//! WebRTC over TCP (`rtc_server.tcp.listen` = `http_api.listen`) on one
//! listener, whose first bytes decide. A WHIP publisher and a WHEP player
//! signal and carry media (ICE, DTLS, SRTP in RFC 4571 frames) over the
//! same port; the same inside TLS when the port is also the HTTPS one;
//! strangers (garbage, a silent client, a client too slow to decide) are
//! closed and counted while the port keeps serving; a configuration where
//! RTMP would share the port is refused at start-up naming its line; the
//! API and the HTTP server on one port serve both sites (as SRS does).
//! Chromium over the shared port with UDP blocked: tests/browser/one_port.test.mjs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::peer::rtp;
use common::{ice_credentials, post, Ports, Server};
use shardsfu::dtls::{parse_fingerprint, DtlsCert, DtlsEvent, DtlsRole, DtlsTransport};
use shardsfu::ice::{self, framing::write_frame};
use shardsfu::srtp::SrtpSession;

/// The test config with WebRTC over TCP (only) on the API's port.
fn one_port_config(ports: Ports) -> String {
    common::config(ports, 2, "").replace(
        "candidate 127.0.0.1; }",
        &format!(
            "candidate 127.0.0.1; tcp {{ enabled on; listen 127.0.0.1:{}; }} protocol tcp; }}",
            ports.api
        ),
    )
}

/// Reads one RFC 4571 frame (bounded by the socket's read timeout).
fn read_frame(s: &mut impl Read) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut packet).ok()?;
    Some(packet)
}

fn send_frame(s: &mut impl Write, packet: &[u8]) {
    let mut out = Vec::new();
    assert!(write_frame(&mut out, packet));
    s.write_all(&out).unwrap();
}

/// A peer over one TCP (or TLS) connection to the shared port.
struct TcpPeer<S> {
    conn: S,
    answer: String,
    srtp: Option<SrtpSession>,
}

/// POSTs the offer `fixture` (announcing `cert`) to `path` on the shared port; the answer must offer only
/// a passive TCP candidate on that same port.
fn signal(srv: &Server, path: &str, fixture: &str, cert: &DtlsCert) -> (String, String) {
    let offer = common::peer::offer_announcing(fixture, &cert.fingerprint_sha256());
    let r = post(&srv.api_url(path), "application/sdp", &offer);
    assert_eq!(r.status, 201, "{}", r.body);
    let passive = format!(
        " tcp 2130706431 127.0.0.1 {} typ host tcptype passive",
        srv.api.port()
    );
    let cands: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("a=candidate"))
        .collect();
    assert!(
        !cands.is_empty() && cands.iter().all(|c| c.ends_with(&passive)),
        "expected candidates ending {passive:?}:\n{}",
        r.body
    );
    (offer, r.body)
}

impl<S: Read + Write> TcpPeer<S> {
    /// Passes ICE (a framed check, answered with a framed response whose
    /// integrity verifies) and DTLS over `conn`.
    fn connect(
        mut conn: S,
        offer: &str,
        answer: String,
        cert: &DtlsCert,
        local: SocketAddr,
        server: SocketAddr,
    ) -> Self {
        let (ufrag, pwd) = ice_credentials(&answer);
        let (client_ufrag, _) = ice_credentials(offer);
        let check = common::binding_check(&[9; 12], &ufrag, &client_ufrag, &pwd);
        send_frame(&mut conn, &check);
        let reply = read_frame(&mut conn).expect("a framed STUN answer");
        assert!(ice::parse(&reply)
            .expect("STUN")
            .verify_integrity(pwd.as_bytes()));
        let fp = answer
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=fingerprint:sha-256 "))
            .expect("answer fingerprint");
        let fps = vec![("sha-256".to_string(), parse_fingerprint(fp).unwrap())];
        let mut dtls =
            DtlsTransport::new(cert, DtlsRole::Client, local, server, fps, Instant::now()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut srtp = None;
        while Instant::now() < deadline && srtp.is_none() {
            while let Some(d) = dtls.poll_transmit() {
                send_frame(&mut conn, &d);
            }
            if let Some(ev) = dtls.poll_event() {
                match ev {
                    DtlsEvent::Connected { srtp: keys } => {
                        srtp = Some(SrtpSession::new(&keys).unwrap())
                    }
                    other => panic!("DTLS: {other:?}"),
                }
                continue;
            }
            match read_frame(&mut conn) {
                Some(p) if (20..64).contains(&p[0]) => dtls.handle_input(Instant::now(), &p),
                Some(_) => {}
                None => dtls.handle_timeout(Instant::now()),
            }
        }
        assert!(srtp.is_some(), "no DTLS over the shared port within 5 s");
        TcpPeer { conn, answer, srtp }
    }

    fn answer_pt(&self, kind: &str) -> u8 {
        self.answer
            .lines()
            .find_map(|l| l.strip_prefix(&format!("m={kind} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|pt| pt.parse().ok())
            .unwrap()
    }
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    c
}

/// Publishes `count` packets from `publisher` and returns how many the
/// player decrypted (reading its frames as they come).
fn carry<P: Read + Write, Q: Read + Write>(
    publisher: &mut TcpPeer<P>,
    player: &mut TcpPeer<Q>,
    count: u16,
) -> usize {
    let pt = publisher.answer_pt("video");
    let mut seqs = std::collections::BTreeSet::new();
    for seq in 0..count {
        let pkt = rtp(pt, seq, 0x1111, if seq == 0 { 0x65 } else { 0x41 }, 800);
        let enc = publisher.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
        send_frame(&mut publisher.conn, &enc);
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && seqs.len() < usize::from(count) {
        let Some(p) = read_frame(&mut player.conn) else {
            continue;
        };
        if p.len() > 12 && (128..192).contains(&p[0]) && !(192..224).contains(&p[1]) {
            if let Ok(plain) = player.srtp.as_mut().unwrap().unprotect_rtp(&p) {
                seqs.insert(u16::from_be_bytes([plain[2], plain[3]]));
            }
        }
    }
    seqs.len()
}

#[test]
fn whip_and_whep_media_share_the_api_port_over_tcp() {
    let ports = Ports::free();
    let srv = Server::start(&one_port_config(ports), ports, &[]);
    let cert = DtlsCert::generate().unwrap();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let (offer, answer) = signal(
        &srv,
        "/rtc/v1/whip/?app=live&stream=one",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let mut publisher = TcpPeer::connect(tcp(srv.api), &offer, answer, &cert, local, srv.api);
    let (offer, answer) = signal(
        &srv,
        "/rtc/v1/whep/?app=live&stream=one",
        "aiortc_whep_recvonly.sdp",
        &cert,
    );
    let mut player = TcpPeer::connect(tcp(srv.api), &offer, answer, &cert, local, srv.api);
    std::thread::sleep(Duration::from_millis(300));
    // The API still answers on the port while media flows on it.
    assert_eq!(common::get(&srv.api_url("/api/v1/versions")).status, 200);
    let got = carry(&mut publisher, &mut player, 200);
    assert!(
        got >= 180,
        "the player decrypted {got} of 200 packets\n{}",
        srv.log()
    );
    let t = srv.totals();
    assert!(
        t["tcp_connections"].as_u64() >= Some(2) && t["udp_packets_in"].as_u64() == Some(0),
        "{t}"
    );
    assert_eq!(t["port_sniff_rejected"].as_u64(), Some(0), "{t}");
}

#[test]
fn strangers_on_the_shared_port_are_closed_and_counted() {
    let ports = Ports::free();
    let srv = Server::start(&one_port_config(ports), ports, &[]);
    // Garbage: closed at once, counted.
    let mut junk = tcp(srv.api);
    junk.write_all(&[0xff; 32]).unwrap();
    assert!(
        closed_within(&mut junk, Duration::from_secs(2)),
        "garbage not closed"
    );
    // TLS where no HTTPS is configured: refused by name, counted.
    let mut tls = tcp(srv.api);
    tls.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .unwrap();
    assert!(
        closed_within(&mut tls, Duration::from_secs(2)),
        "TLS not closed"
    );
    assert!(
        srv.wait_for_counter("port_sniff_rejected", 2) >= 2,
        "{}",
        srv.totals()
    );
    // A silent client and one sending a letter a second (never deciding):
    // both closed FIRST_BYTES_TIMEOUT (10 s) after their accept.
    let start = Instant::now();
    let mut silent = tcp(srv.api);
    let mut slow = tcp(srv.api);
    // An HTTP request sent a byte at a time is served meanwhile.
    let mut byte_by_byte = tcp(srv.api);
    byte_by_byte
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for b in b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" {
        byte_by_byte.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut reply = String::new();
    let _ = byte_by_byte.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let mut slow_open = true;
    let mut silent_closed_at = None;
    while start.elapsed() < Duration::from_secs(14) && (slow_open || silent_closed_at.is_none()) {
        if slow_open {
            slow_open = slow.write_all(b"A").is_ok()
                && !closed_within(&mut slow, Duration::from_millis(500));
        }
        if silent_closed_at.is_none() && closed_within(&mut silent, Duration::from_millis(500)) {
            silent_closed_at = Some(start.elapsed());
        }
    }
    let took = start.elapsed();
    assert!(!slow_open, "the slow client was still open after {took:?}");
    let silent_at = silent_closed_at.expect("the silent client was never closed");
    assert!(
        silent_at >= Duration::from_secs(9),
        "closed too early: {silent_at:?}"
    );
    assert!(
        srv.wait_for_counter("port_sniff_timeouts", 2) >= 2,
        "{}",
        srv.totals()
    );
}

/// True when the server closes `s` within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn rtmp_on_the_http_port_is_refused_at_start_up_with_its_line() {
    let dir = common::TempDir::new("oneport");
    let conf = dir.0.join("bad.conf");
    std::fs::write(
        &conf,
        "listen 127.0.0.1:18080;\nhttp_server {\n    enabled on;\n    listen 127.0.0.1:18080;\n}\n",
    )
    .unwrap();
    for args in [&["-t", "-c"][..], &["-c"][..]] {
        let out = std::process::Command::new(common::binary())
            .args(args)
            .arg(&conf)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?} accepted it: {text}");
        assert!(
            text.contains("bad.conf:4: directive \"http_server.listen\": TCP 127.0.0.1:18080 overlaps listen 127.0.0.1:18080 (")
                && text.contains("bad.conf:1): listen cannot share a port"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn api_and_server_on_one_port_serve_both_sites() {
    let ports = Ports::free();
    let conf = common::config(ports, 2, "").replace(
        &format!("listen 127.0.0.1:{}; dir", ports.http),
        &format!("listen 127.0.0.1:{}; dir", ports.api),
    );
    let srv = Server::start(&conf, ports, &[]);
    let api = common::get(&srv.api_url("/api/v1/versions"));
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(api.json()["data"]["major"].is_number(), "{}", api.body);
    // A file of http_server.dir (tests/fixtures/www), on the API's port.
    let name = "index.html";
    let page = common::get(&srv.api_url(&format!("/{name}")));
    assert_eq!(page.status, 200, "/{name}: {}", page.body);
    // Nothing listens on the HTTP server's own port now.
    assert!(TcpStream::connect(("127.0.0.1", ports.http)).is_err());
}

/// A self-signed certificate for 127.0.0.1 (`cert.pem`, `key.pem` in
/// `dir`), or `None` (the test is skipped) without the openssl command.
fn make_cert(dir: &std::path::Path) -> Option<()> {
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // webpki refuses a CA certificate as the server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output();
    match st {
        Ok(o) if o.status.success() => Some(()),
        _ => {
            eprintln!("openssl could not make a certificate: skipping (scripts/install-test-deps installs it)");
            None
        }
    }
}

type TlsConn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` trusting only the test's certificate.
fn tls_connect(addr: SocketAddr, dir: &std::path::Path) -> TlsConn {
    use futures_rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("cert.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, tcp(addr))
}

use futures_rustls::rustls;

#[test]
fn plain_http_https_and_webrtc_over_tls_share_one_port() {
    let dir = common::TempDir::new("oneport-tls");
    if make_cert(&dir.0).is_none() {
        return;
    }
    let ports = Ports::free();
    let https = format!(
        "https {{ enabled on; listen 127.0.0.1:{}; key {}; cert {}; }}",
        ports.api,
        dir.0.join("key.pem").display(),
        dir.0.join("cert.pem").display()
    );
    let conf = one_port_config(ports).replace(
        "http_api { enabled on;",
        &format!("http_api {{ enabled on; {https}"),
    );
    let srv = Server::start(&conf, ports, &[]);
    // Plain HTTP and HTTPS on the one port.
    assert_eq!(common::get(&srv.api_url("/api/v1/versions")).status, 200);
    let mut https = tls_connect(srv.api, &dir.0);
    https
        .write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    https
        .sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = https.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // A publisher whose ICE, DTLS and SRTP go in RFC 4571 frames inside TLS,
    // a player over plain TCP, both on the port.
    let cert = DtlsCert::generate().unwrap();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let whip = "/rtc/v1/whip/?app=live&stream=tls";
    let (offer, answer) = signal(&srv, whip, "aiortc_whip_h264.sdp", &cert);
    let conn = tls_connect(srv.api, &dir.0);
    let mut publisher = TcpPeer::connect(conn, &offer, answer, &cert, local, srv.api);
    let whep = "/rtc/v1/whep/?app=live&stream=tls";
    let (offer, answer) = signal(&srv, whep, "aiortc_whep_recvonly.sdp", &cert);
    let mut player = TcpPeer::connect(tcp(srv.api), &offer, answer, &cert, local, srv.api);
    std::thread::sleep(Duration::from_millis(300));
    let got = carry(&mut publisher, &mut player, 200);
    assert!(
        got >= 180,
        "the player decrypted {got} of 200 packets\n{}",
        srv.log()
    );
    let t = srv.totals();
    assert!(t["tcp_connections"].as_u64() >= Some(2), "{t}");
}
