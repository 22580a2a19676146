//! The logs as an operator's tools read them: JSON lines (`log_format
//! json`), one start and one end line per session of every protocol, the
//! level of `srs_log_level` (and `RUST_LOG` winning over it), and the level
//! changed by a reload (SIGHUP).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::rtmp::{commands, handshake};
use common::*;
use serde_json::Value;
use shardsfu::live::rtmp::chunk::write_message;

/// Waits (at most 5 s) until `cond` holds on the server's log.
fn wait_for(server: &Server, what: &str, cond: impl Fn(&str) -> bool) {
    assert!(
        wait_until(Duration::from_secs(5), || cond(&server.log())),
        "no {what} in the log:\n{}",
        server.log()
    );
}

fn offer(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("sdp").join(name)).unwrap()
}

/// A WHIP (`whip`) or WHEP (`whep`) session of `live/STREAM`; its resource URL.
fn rtc_session(server: &Server, kind: &str, stream: &str) -> String {
    let sdp = offer(if kind == "whip" {
        "aiortc_whip_h264.sdp"
    } else {
        "aiortc_whep_recvonly.sdp"
    });
    let url = server.api_url(&format!("/rtc/v1/{kind}/?app=live&stream={stream}"));
    let r = post(&url, "application/sdp", &sdp);
    assert_eq!(r.status, 201, "{}", r.body);
    server.api_url(r.header("location").expect("Location"))
}

/// The log's lines that are JSON objects with this `message`.
fn lines_with(lines: &[Value], message: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["message"] == message)
        .cloned()
        .collect()
}

/// The one line of `lines` for `proto`/`role` of `stream`.
fn one<'a>(lines: &'a [Value], proto: &str, role: &str, stream: &str) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l["proto"] == proto && l["role"] == role && l["stream"] == stream)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{proto} {role} {stream}: {found:#?} in {lines:#?}"
    );
    found[0]
}

fn check_start(l: &Value) {
    assert_eq!(l["level"], "INFO", "{l}");
    assert!(l["timestamp"].is_string(), "{l}");
    assert!(l["session"].as_str().is_some_and(|s| !s.is_empty()), "{l}");
    assert_eq!(l["vhost"], "__defaultVhost__", "{l}");
    assert_eq!(l["app"], "live", "{l}");
    assert_eq!(l["ip"], "127.0.0.1", "{l}");
    assert!(l["shard"].is_u64(), "{l}");
}

fn check_end(l: &Value, start: &Value) {
    check_start(l);
    assert_eq!(l["session"], start["session"], "{l}\n{start}");
    for n in [
        "duration_ms",
        "packets_in",
        "packets_out",
        "bytes_in",
        "bytes_out",
    ] {
        assert!(l[n].is_u64(), "{n} in {l}");
    }
    assert!(l["reason"].is_string(), "{l}");
}

/// Reads what the socket has until `enough` bytes came (or 5 s passed).
fn read_some(s: &mut TcpStream, enough: usize) -> usize {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = 0;
    let mut buf = [0u8; 16 * 1024];
    while got < enough && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => {}
        }
    }
    got
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
fn json_lines_with_one_start_and_one_end_line_per_session() {
    let ports = Ports::free();
    let vhost = "vhost __defaultVhost__ { rtc { enabled on; } \
                 http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n";
    let conf = format!(
        "log_format json;\n{}",
        with_vhost(&config(ports, 2, ""), vhost)
    );
    let mut server = Server::start(&conf, ports, &[]);

    // WebRTC: a publisher ended by DELETE, a player ended by the shutdown.
    let publisher = rtc_session(&server, "whip", "cam");
    let _player = rtc_session(&server, "whep", "cam");
    assert_eq!(delete(&publisher).status, 200);

    // RTMP: a publisher with one tag, an RTMP and an HTTP-FLV player.
    let rtmp: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let mut rtmp_pub = handshake(rtmp);
    rtmp_pub.write_all(&commands("publish", "live1")).unwrap();
    wait_for(&server, "the RTMP publish", |l| {
        l.contains("\"proto\":\"rtmp\",\"role\":\"publish\"")
    });
    let mut rtmp_play = handshake(rtmp);
    rtmp_play.write_all(&commands("play", "live1")).unwrap();
    let mut flv = TcpStream::connect(server.http).unwrap();
    flv.write_all(b"GET /live/live1.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_for(&server, "both players", |l| {
        l.contains("\"proto\":\"flv\",\"role\":\"play\"")
            && l.contains("\"proto\":\"rtmp\",\"role\":\"play\"")
    });
    let mut wire = Vec::new();
    write_message(&mut wire, 6, 0, 9, 1, &keyframe(1000), 128);
    rtmp_pub.write_all(&wire).unwrap();
    assert!(
        read_some(&mut flv, 1000) >= 1000,
        "the FLV player got the tag"
    );
    // The publisher leaves: its players' streams end.
    drop(rtmp_pub);
    wait_for(&server, "three live end lines", |l| {
        l.matches("\"message\":\"session end\"").count() >= 4
    });
    drop((flv, rtmp_play));
    // One more RTMP publisher, there until the server stops.
    let mut rtmp_pub2 = handshake(rtmp);
    rtmp_pub2.write_all(&commands("publish", "live2")).unwrap();
    wait_for(&server, "the second RTMP publish", |l| {
        l.contains("\"stream\":\"live2\"")
    });

    let st = server
        .signal_and_wait(libc::SIGINT, Duration::from_secs(3))
        .expect("exits");
    assert!(st.success(), "{st}:\n{}", server.log());
    assert!(
        wait_until(Duration::from_secs(2), || server
            .stderr
            .lock()
            .unwrap()
            .contains("\"message\":\"stopped\"")),
        "{}",
        server.log()
    );
    let stderr = server.stderr.lock().unwrap().clone();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\n{stderr}"));
            assert!(v.is_object(), "{l}");
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
            assert!(v["message"].is_string(), "{l}");
            v
        })
        .collect();
    assert!(lines.len() >= 10, "{stderr}");

    let starts = lines_with(&lines, "session start");
    let ends = lines_with(&lines, "session end");
    assert_eq!(starts.len(), 6, "{stderr}");
    assert_eq!(ends.len(), 6, "{stderr}");
    let cases = [
        ("rtc", "publish", "cam", &["deleted"][..]),
        // Ended by the shutdown, unless first_check_timeout came first.
        ("rtc", "play", "cam", &["shutdown", "no_check"][..]),
        ("rtmp", "publish", "live1", &["unpublish"][..]),
        ("rtmp", "play", "live1", &["stream_ended"][..]),
        ("flv", "play", "live1", &["stream_ended"][..]),
        ("rtmp", "publish", "live2", &["shutdown"][..]),
    ];
    for (proto, role, stream, reasons) in cases {
        let start = one(&starts, proto, role, stream);
        check_start(start);
        let end = one(&ends, proto, role, stream);
        check_end(end, start);
        let reason = end["reason"].as_str().unwrap();
        assert!(reasons.contains(&reason), "{proto} {role}: {end}");
    }
    let rtc = one(&starts, "rtc", "publish", "cam")["session"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rtc.contains(':'), "the SRS-style session id: {rtc}");
    // What the live sessions moved.
    let rtmp_pub = one(&ends, "rtmp", "publish", "live1");
    assert!(rtmp_pub["packets_in"].as_u64() >= Some(1), "{rtmp_pub}");
    assert!(rtmp_pub["bytes_in"].as_u64() >= Some(1000), "{rtmp_pub}");
    for proto in ["rtmp", "flv"] {
        let player = one(&ends, proto, "play", "live1");
        assert!(player["packets_out"].as_u64() >= Some(1), "{player}");
        assert!(player["bytes_out"].as_u64() >= Some(1000), "{player}");
    }
    // The secret token of the session's resource URL is not logged.
    let token = publisher
        .split("token=")
        .nth(1)
        .and_then(|t| t.split('&').next())
        .expect("token in the Location");
    assert!(token.len() >= 16 && !stderr.contains(token), "{token}");
}

/// A config at `srs_log_level LEVEL` (text lines), with one directive
/// that warns (`pithy_print_ms`: accepted without effect).
fn leveled(ports: Ports, level: &str) -> String {
    format!(
        "srs_log_level {level};\npithy_print_ms 5000;\n{}",
        config(ports, 1, "")
    )
}

fn start_without_rust_log(conf: &str, ports: Ports) -> Server {
    Server::start_with(conf, ports, &[], |cmd| {
        cmd.env_remove("RUST_LOG");
    })
}

/// Lines at INFO (text format: ` INFO ` after the timestamp).
fn info_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" INFO ")).collect()
}

#[test]
fn srs_log_level_warn_keeps_out_info_lines_unless_rust_log_is_set() {
    let ports = Ports::free();
    let mut server = start_without_rust_log(&leveled(ports, "warn"), ports);
    rtc_session(&server, "whip", "quiet");
    server
        .signal_and_wait(libc::SIGINT, Duration::from_secs(3))
        .expect("exits");
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    assert!(
        log.contains(" WARN ") && log.contains("pithy_print_ms"),
        "the warning is logged:\n{log}"
    );
    assert!(info_lines(&log).is_empty(), "{log}");

    // RUST_LOG wins over the file.
    let ports = Ports::free();
    let server = Server::start(&leveled(ports, "warn"), ports, &[("RUST_LOG", "info")]);
    rtc_session(&server, "whip", "loud");
    wait_for(&server, "the session's start line", |l| {
        l.contains("session start") && l.contains("stream=loud")
    });
}

#[test]
fn sighup_changes_the_log_level() {
    let ports = Ports::free();
    let conf = leveled(ports, "warn");
    let server = start_without_rust_log(&conf, ports);
    rtc_session(&server, "whip", "before");
    std::thread::sleep(Duration::from_millis(300));
    assert!(info_lines(&server.log()).is_empty(), "{}", server.log());

    // warn -> trace (SRS's trace is tracing's INFO): the change is said
    // at the new level, and sessions' lines show.
    std::fs::write(
        server.conf_path(),
        conf.replace("srs_log_level warn;", "srs_log_level trace;"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for(&server, "the level change", |l| {
        l.contains("reload: log level changed from=warn to=info")
            && l.contains("configuration reloaded")
    });
    rtc_session(&server, "whip", "after");
    wait_for(&server, "the session's start line", |l| {
        l.contains("session start") && l.contains("stream=after")
    });

    // Back to warn (SRS 5's name this time): the change is said before it
    // applies, then info lines stop.
    std::fs::write(
        server.conf_path(),
        conf.replace("srs_log_level warn;", "srs_log_level_v2 warn;"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for(&server, "the second level change", |l| {
        l.contains("reload: log level changed from=info to=warn")
    });
    let infos = info_lines(&server.log()).len();
    rtc_session(&server, "whip", "quiet-again");
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    assert_eq!(info_lines(&log).len(), infos, "{log}");
    assert!(!log.contains("stream=quiet-again"), "{log}");
}
