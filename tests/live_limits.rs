//! Hostile RTMP, HTTP-FLV and HTTP clients against the real server (issue
//! 14): plays of names nobody publishes are reclaimed, bad names are
//! refused, the RTMP setup and HTTP heads have total deadlines, unfinished
//! messages are bounded per connection, and players that never read are
//! closed by the write timeout. Raw clients written here
//! (no FFmpeg needed).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::rtmp::{commands, handshake};
use common::{wait_until, Ports, Server};
use shardsfu::live::rtmp::chunk::write_message;

fn live_config(ports: Ports) -> String {
    let vhost = "vhost __defaultVhost__ { rtc { enabled on; } \
                 http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n";
    common::with_vhost(&common::config(ports, 2, ""), vhost)
}

/// Debug logs of the hub, so its sweeps show.
const HUB_LOG: (&str, &str) = ("RUST_LOG", "info,shardsfu::server::live::hub=debug");

/// The server's resident set (kB).
fn rss_kb(server: &Server) -> u64 {
    proc_status_kb(server, "VmRSS:")
}

/// A kB field of the server's /proc status (`VmRSS:`, `VmHWM:`).
fn proc_status_kb(server: &Server, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("server status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB field")
}

/// Reads what the server sends until it closes (true) or 5 s pass (false).
fn read_to_close(s: &mut TcpStream) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (true, all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (false, all)
            }
            Err(_) => return (true, all),
        }
    }
    (false, all)
}

#[test]
fn plays_of_unpublished_names_are_reclaimed_and_bad_names_refused() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[HUB_LOG]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();

    // A 60 KB stream name (the probe's): an error status, then the close.
    let mut long = handshake(addr);
    long.write_all(&commands("play", &"x".repeat(60_000)))
        .unwrap();
    let (closed, said) = read_to_close(&mut long);
    assert!(closed, "a 60 KB name was kept open");
    let said = String::from_utf8_lossy(&said);
    assert!(said.contains("NetStream.Play.StreamNotFound"), "{said}");
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .contains("invalid stream name of 60000 bytes")),
        "{}",
        server.log()
    );

    // 600 plays of longest-allowed names nobody publishes, 100 at a time.
    let before = rss_kb(&server);
    let mut peak = before;
    for batch in 0..6 {
        let players: Vec<TcpStream> = (0..100)
            .map(|i| {
                let mut s = handshake(addr);
                let mut name = format!("{batch}-{i}-{}", "n".repeat(256));
                name.truncate(256);
                s.write_all(&commands("play", &name)).unwrap();
                s
            })
            .collect();
        assert!(
            wait_until(Duration::from_secs(10), || server
                .log()
                .lines()
                .filter(|l| l.contains("session start") && l.contains("proto=rtmp role=play"))
                .count()
                >= (batch + 1) * 100),
            "plays were not accepted:\n{}",
            server.log()
        );
        peak = peak.max(rss_kb(&server));
        drop(players);
    }
    // Every entry goes within a sweep or two once its player left.
    let reclaimed = |log: &str| -> usize {
        log.lines()
            .filter_map(|l| l.split("reclaimed ").nth(1))
            .filter_map(|r| r.split_whitespace().next()?.parse::<usize>().ok())
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(10), || reclaimed(&server.log()) >= 600),
        "reclaimed {} of 600 unused streams:\n{}",
        reclaimed(&server.log()),
        server.log()
    );
    let after = rss_kb(&server);
    eprintln!("RSS: {before} kB before, {peak} kB peak, {after} kB after 600 plays");
}

#[test]
fn rtmp_setup_has_a_total_deadline() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    // C0 + C1 one byte every half second: each byte used to restart the timer.
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0x5a, 1536));
    let closed = common::trickle_until_closed(
        addr,
        &c0c1,
        Duration::from_millis(500),
        Duration::from_secs(20),
    )
    .expect("the trickling RTMP client was never closed");
    assert!(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(13),
        "closed after {closed:?}"
    );
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .contains("no publish or play within 10s")),
        "{}",
        server.log()
    );
}

/// The fixture's AVC sequence header tag body.
fn avc_sequence_header() -> Vec<u8> {
    use shardsfu::live::flv::{FlvDemuxer, TagKind};
    let mut d = FlvDemuxer::new();
    d.push(&std::fs::read(common::fixtures().join("live/testsrc_2s.flv")).expect("fixture"));
    while let Some(t) = d.next_tag().expect("fixture demuxes") {
        if t.kind == TagKind::Video && t.is_sequence_header() {
            return t.data.to_vec();
        }
    }
    panic!("no AVC sequence header in the fixture");
}

/// Keyframes that all carry one timestamp used to be cut into 0 s HLS
/// segments no window trimmed (+315 MB kept for 300 MB sent), and HLS
/// state was never dropped after unpublish. 96 MiB sent now leave a small
/// peak, and the state goes `hls_dispose` (1 s here) after the unpublish.
#[test]
fn hls_of_a_constant_timestamp_is_bounded_and_disposed() {
    let ports = Ports::free();
    let conf = live_config(ports).replace(
        "http_remux {",
        "hls { enabled on; hls_fragment 1; hls_window 10; hls_dispose 1; } http_remux {",
    );
    let server = Server::start(&conf, ports, &[HUB_LOG]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let mut publisher = handshake(addr);
    publisher.write_all(&commands("publish", "still")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("proto=rtmp role=publish")),
        "{}",
        server.log()
    );
    let before = proc_status_kb(&server, "VmHWM:");
    let mut wire = Vec::new();
    write_message(&mut wire, 2, 0, 1, 0, &65_536u32.to_be_bytes(), 128);
    write_message(&mut wire, 6, 0, 9, 1, &avc_sequence_header(), 65_536);
    publisher.write_all(&wire).unwrap();
    let tag = keyframe(1 << 20);
    for _ in 0..96 {
        wire.clear();
        write_message(&mut wire, 6, 5000, 9, 1, &tag, 65_536);
        publisher.write_all(&wire).unwrap();
    }
    // Wait until the server has taken it all (its ack or our write), then look.
    std::thread::sleep(Duration::from_secs(1));
    let peak = proc_status_kb(&server, "VmHWM:");
    eprintln!("HLS: peak RSS {before} kB before, {peak} kB after 96 MiB at one timestamp");
    assert!(
        peak < before + 48 * 1024,
        "peak RSS grew from {before} to {peak} kB"
    );
    // No segment was cut: no playlist.
    let reply = common::raw_http(
        server.http,
        b"GET /live/still.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    drop(publisher);
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("hls: disposed")
            && server.log().contains("reclaimed 1 unused streams")),
        "{}",
        server.log()
    );
}

/// An 8 MiB AMF0 command of one-byte nulls used to decode into 8M values
/// (+264 MiB peak); it is now refused at its header, and the largest
/// command allowed (64 KiB of nulls) at the AMF0 value count.
#[test]
fn amf0_bombs_cost_little() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let before = proc_status_kb(&server, "VmHWM:");
    for len in [8 * 1024 * 1024 - 1, 64 * 1024] {
        for _ in 0..4 {
            let mut s = handshake(addr);
            let mut set_chunk = Vec::new();
            write_message(&mut set_chunk, 2, 0, 1, 0, &65_536u32.to_be_bytes(), 128);
            let mut bomb = Vec::new();
            write_message(&mut bomb, 3, 0, 20, 0, &vec![5u8; len], 65_536);
            // The server may close before it has read it all.
            let _ = s.write_all(&set_chunk).and_then(|()| s.write_all(&bomb));
            let (closed, _) = read_to_close(&mut s);
            assert!(closed, "a {len}-byte AMF0 bomb was kept open");
        }
    }
    let peak = proc_status_kb(&server, "VmHWM:");
    eprintln!("peak RSS {before} kB before, {peak} kB after 8 AMF0 bombs");
    assert!(
        peak < before + 16 * 1024,
        "peak RSS grew from {before} to {peak} kB"
    );
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .matches("rtmp: closing the connection")
            .count()
            >= 8),
        "{}",
        server.log()
    );
}

/// Unfinished media messages on several chunk streams used to be buffered
/// without a total: 4 messages of ~4 MB, each one chunk short of its end,
/// held ~16 MB per connection for as long as it stayed open. Now a
/// connection whose unfinished messages pass 4 MiB + 64 KiB is closed: 8
/// such connections held open together leave the peak RSS small.
#[test]
fn unfinished_rtmp_messages_are_bounded_per_connection() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let before = proc_status_kb(&server, "VmHWM:");
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = handshake(addr);
        let mut wire = Vec::new();
        write_message(&mut wire, 2, 0, 1, 0, &65_536u32.to_be_bytes(), 128);
        // The server may close before it has read it all.
        let mut sent = s.write_all(&wire).is_ok();
        for csid in 4..8 {
            wire.clear();
            write_message(&mut wire, csid, 0, 9, 1, &vec![0x17; 4_000_000], 65_536);
            // All but the last chunk: the message stays unfinished.
            wire.truncate(wire.len() - 4_000_000 % 65_536 - 1);
            sent = sent && s.write_all(&wire).is_ok();
        }
        let (closed, _) = read_to_close(&mut s);
        assert!(
            closed,
            "a connection holding ~16 MB of unfinished messages was kept (all sent: {sent})"
        );
        held.push(s);
    }
    let peak = proc_status_kb(&server, "VmHWM:");
    eprintln!("peak RSS {before} kB before, {peak} kB after 8 x 16 MB of unfinished messages");
    assert!(
        peak < before + 40 * 1024,
        "peak RSS grew from {before} to {peak} kB"
    );
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .matches("bytes of unfinished messages exceed the limit")
            .count()
            >= 8),
        "{}",
        server.log()
    );
    drop(held);
}

/// The HTTP core's head deadline is a total from the first byte: a head
/// sent one byte every half second gets 408 and the close at 10 s.
#[test]
fn an_http_head_sent_a_byte_at_a_time_is_closed_at_10s() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let mut head = b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'X', 100));
    let closed = common::trickle_until_closed(
        server.api,
        &head,
        Duration::from_millis(500),
        Duration::from_secs(20),
    )
    .expect("the trickling HTTP client was never closed");
    assert!(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(13),
        "closed after {closed:?}"
    );
}

/// An HTTP client that pipelines requests for 20 MB and never reads is
/// closed once the socket buffers are full and 10 s pass without the
/// server getting 64 KiB out (the connection used to wait forever).
#[test]
fn an_http_client_that_never_reads_is_closed() {
    let ports = Ports::free();
    let www = common::TempDir::new("www-big");
    std::fs::write(www.0.join("big.bin"), vec![0x42u8; 2 << 20]).unwrap();
    let conf = live_config(ports).replace(
        &common::fixtures().join("www").display().to_string(),
        &www.0.display().to_string(),
    );
    let server = Server::start(&conf, ports, &[]);
    let mut s = TcpStream::connect(server.http).unwrap();
    let req = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10);
    s.write_all(&req).unwrap();
    std::thread::sleep(Duration::from_secs(13));
    // Now read: what the kernel held, then the close (not all 10 files).
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(
        closed && got < 10 * (2 << 20),
        "closed: {closed}, {got} bytes read"
    );
}

/// An AVC keyframe tag body of `len` bytes (one IDR NAL unit).
fn keyframe(len: usize) -> Vec<u8> {
    let mut d = vec![0x17, 1, 0, 0, 0];
    d.extend_from_slice(&((len - 9) as u32).to_be_bytes());
    d.push(0x65);
    d.resize(len, 0xAB);
    d
}

#[test]
fn players_that_never_read_are_closed_by_the_write_timeout() {
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();

    let mut publisher = handshake(addr);
    publisher.write_all(&commands("publish", "flood")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("proto=rtmp role=publish")),
        "{}",
        server.log()
    );
    // Players that never read: HTTP-FLV and RTMP.
    let mut flv = TcpStream::connect(server.http).unwrap();
    flv.write_all(b"GET /live/flood.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rtmp_player = handshake(addr);
    rtmp_player.write_all(&commands("play", "flood")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("proto=flv role=play")
            && server.log().contains("proto=rtmp role=play")),
        "{}",
        server.log()
    );
    // 24 MiB of 60 KiB keyframes, well past every socket buffer, then the
    // stream ends. Chunks of 64 KiB.
    let mut set_chunk = Vec::new();
    write_message(&mut set_chunk, 2, 0, 1, 0, &65_536u32.to_be_bytes(), 128);
    publisher.write_all(&set_chunk).unwrap();
    let tag = keyframe(60 * 1024);
    let mut wire = Vec::new();
    for i in 0..400u32 {
        wire.clear();
        write_message(&mut wire, 6, i * 40, 9, 1, &tag, 65_536);
        publisher.write_all(&wire).unwrap();
    }
    let rss_stuck = rss_kb(&server);
    drop(publisher);
    let ended = Instant::now();
    // Not a byte read by either player: both are closed within the write
    // timeout (10 s) of their last progress.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let log = server.log();
            log.contains("http-flv: closing: ")
                && log.contains("rtmp: closing the connection: write")
        }),
        "players that never read were kept:\n{}",
        server.log()
    );
    let rss_after = rss_kb(&server);
    eprintln!(
        "closed {:?} after the stream ended; RSS {rss_stuck} kB while stuck, {rss_after} kB after",
        ended.elapsed()
    );
    drop((flv, rtmp_player));
}
