//! WebRTC over TCP against the real server (workers 2): the answer's
//! candidates, a STUN check answered in an RFC 4571 frame on the
//! connection it came from, and what a stranger can send on the TCP port:
//! garbage frames are dropped and counted, a declared frame that never
//! completes and a silent connection are closed after `stun_timeout`, and
//! the server keeps answering others; closing a connection ends its session
//! at once; a peer that sends but never reads is closed by the write
//! timeout. Media over TCP with a real client is
//! tested with Chromium (tests/browser/rtc_to_rtc.test.mjs).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{ice_credentials, post, Ports, Server};
use shardsfu::ice::{self, framing::write_frame};
use socket2::{Domain, Socket, Type};

fn tcp_config(ports: Ports, stun_timeout: u32) -> String {
    common::config(ports, 2, &format!("stun_timeout {stun_timeout};")).replace(
        "candidate 127.0.0.1; }",
        &format!(
            "candidate 127.0.0.1; tcp {{ enabled on; listen 127.0.0.1:{}; }} protocol tcp; }}",
            ports.rtc
        ),
    )
}

/// Reads one RFC 4571 frame (bounded by the socket's read timeout).
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut packet).ok()?;
    Some(packet)
}

/// True when the server closes `s` within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

/// A WHIP session whose answer offers only a passive TCP candidate on the
/// RTC port, and a connection to it whose check (split across two writes)
/// is answered in a frame whose integrity verifies. Returns the connection.
fn session_over_tcp(server: &Server, ports: Ports, stream: &str) -> TcpStream {
    session_over_tcp_with(server, ports, stream, None).0
}

/// [`session_over_tcp`] on a connection whose receive buffer is `rcvbuf`
/// bytes (the kernel's default if `None`); also returns the framed check,
/// which the server answers each time it is sent again.
fn session_over_tcp_with(
    server: &Server,
    ports: Ports,
    stream: &str,
    rcvbuf: Option<usize>,
) -> (TcpStream, Vec<u8>) {
    let offer =
        std::fs::read_to_string(common::fixtures().join("sdp/chromium156_whip.sdp")).unwrap();
    let r = post(
        &server.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let candidates: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("a=candidate"))
        .collect();
    let passive = format!(
        " tcp 2130706431 127.0.0.1 {} typ host tcptype passive",
        ports.rtc
    );
    // (Repeated in each m-section, as SRS does.)
    assert!(
        !candidates.is_empty() && candidates.iter().all(|c| c.ends_with(&passive)),
        "expected only candidates ending {passive:?}:\n{}",
        r.body
    );

    let (ufrag, pwd) = ice_credentials(&r.body);
    let (client_ufrag, _) = ice_credentials(&offer);
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if let Some(bytes) = rcvbuf {
        sock.set_recv_buffer_size(bytes).unwrap();
    }
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], ports.rtc)).into())
        .unwrap();
    let mut conn: TcpStream = sock.into();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let check = common::binding_check(&[7; 12], &ufrag, &client_ufrag, &pwd);
    let mut framed = Vec::new();
    assert!(write_frame(&mut framed, &check));
    // Framing must not depend on segment boundaries.
    conn.write_all(&framed[..3]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    conn.write_all(&framed[3..]).unwrap();
    let answer = read_frame(&mut conn).expect("a framed STUN answer");
    assert!(
        ice::parse(&answer)
            .expect("STUN")
            .verify_integrity(pwd.as_bytes()),
        "the answer's integrity does not verify"
    );
    (conn, framed)
}

#[test]
fn stun_over_tcp_and_strangers_on_the_tcp_port() {
    let ports = Ports::free();
    let server = Server::start(&tcp_config(ports, 2), ports, &[]);
    let tcp: SocketAddr = ([127, 0, 0, 1], ports.rtc).into();
    let _first = session_over_tcp(&server, ports, "tcp1");

    // Garbage from a stranger: a frame of no known protocol and RTP from an
    // address that never did ICE. Dropped and counted.
    let mut stranger = TcpStream::connect(tcp).unwrap();
    let mut junk = Vec::new();
    write_frame(&mut junk, &[0xff; 40]);
    write_frame(&mut junk, &common::peer::rtp(96, 1, 0x1234, 0x80, 100));
    stranger.write_all(&junk).unwrap();
    assert!(
        server.wait_for_counter("packets_unclassified", 1) >= 1
            && server.wait_for_counter("packets_unknown_source", 1) >= 1,
        "garbage over TCP was not counted: {}",
        server.totals()
    );

    // A frame declared 65535 bytes long that never completes, and a
    // connection that sends nothing: both closed after stun_timeout (2 s).
    let mut partial = TcpStream::connect(tcp).unwrap();
    partial.write_all(&[0xff, 0xff, 0x80, 0x60]).unwrap();
    let mut silent = TcpStream::connect(tcp).unwrap();
    assert!(
        closed_within(&mut partial, Duration::from_secs(6)),
        "partial frame left open"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)),
        "silent connection left open"
    );

    // The server still serves a new session over TCP.
    let _second = session_over_tcp(&server, ports, "tcp2");
    let totals = server.totals();
    assert!(
        totals["tcp_connections"].as_u64() >= Some(5)
            && totals["tcp_frames_in"].as_u64() >= Some(4)
            && totals["udp_packets_in"].as_u64() == Some(0),
        "{totals}"
    );
}

#[test]
fn closing_the_tcp_connection_ends_its_session_at_once() {
    let ports = Ports::free();
    let server = Server::start(&tcp_config(ports, 10), ports, &[]);
    let conn = session_over_tcp(&server, ports, "bye");
    assert_eq!(server.totals()["sessions"].as_u64(), Some(1));
    drop(conn);
    let closed = Instant::now();
    // stun_timeout is 10 s: only the closed connection can end it this soon.
    while server.totals()["sessions"].as_u64() != Some(0) {
        assert!(
            closed.elapsed() < Duration::from_secs(3),
            "the session outlived its TCP connection: {}\n{}",
            server.totals(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    assert!(log.contains("reason=transport_closed"), "{log}");
}

/// A peer that keeps sending checks but never reads the answers: once its
/// small receive buffer and the server's send buffer are full, the server's
/// writer waits `WRITE_TIMEOUT` (10 s), then closes the connection and ends
/// the session, however busily the peer goes on sending. (Before the write
/// timeouts the connection was held for as long as the peer kept sending.)
#[test]
fn a_tcp_peer_that_never_reads_is_closed_by_the_write_timeout() {
    let ports = Ports::free();
    let server = Server::start(
        &tcp_config(ports, 30),
        ports,
        &[("RUST_LOG", "info,shardsfu::server::rtc_tcp=debug")],
    );
    let (mut conn, check) = session_over_tcp_with(&server, ports, "deaf", Some(4096));
    let batch = check.repeat(50);
    conn.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let start = Instant::now();
    // 50 checks every 5 ms (~10,000 a second, ~1 MB/s in, ~0.7 MB/s of
    // answers) until a write fails: the server closed (or reset) it.
    let closed = loop {
        if start.elapsed() > Duration::from_secs(30) {
            break None;
        }
        match conn.write_all(&batch) {
            Ok(()) => std::thread::sleep(Duration::from_millis(5)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break Some(start.elapsed()),
        }
    };
    let closed = closed.unwrap_or_else(|| {
        panic!(
            "a peer that never reads was kept 30 s: {}\n{}",
            server.totals(),
            server.log()
        )
    });
    assert!(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(25),
        "closed after {closed:?}"
    );
    assert!(
        common::wait_until(Duration::from_secs(3), || server.totals()["sessions"]
            .as_u64()
            == Some(0)),
        "the session outlived its connection: {}",
        server.totals()
    );
    let totals = server.totals();
    assert!(totals["tcp_dropped"].as_u64() > Some(0), "{totals}");
    assert!(
        server
            .log()
            .contains("rtc tcp connection ends: a write failed or timed out"),
        "{}",
        server.log()
    );
    eprintln!("a TCP peer that never reads: closed after {closed:?}; {totals}");
}
