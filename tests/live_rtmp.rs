//! Live streaming with FFmpeg as the real client: RTMP publish, read back
//! over RTMP, HTTP-FLV and HLS; a second publisher is refused; malformed
//! RTMP closes only its own connection; silent publishers are closed after
//! SRS's publish timeouts.
//!
//! Skipped (with a message) when `ffmpeg`/`ffprobe` are not installed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ffmpeg::{have_ffmpeg, probe_codecs, push, wait_for};
use common::{rtmp, wait_until, Ports, Server};

fn live_config(ports: Ports) -> String {
    // Replace the default vhost line with one that also turns on HTTP-FLV and HLS.
    let vhost = "vhost __defaultVhost__ { rtc { enabled on; } \
                 http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } \
                 hls { enabled on; hls_fragment 1; hls_window 10; } }\n";
    common::with_vhost(&common::config(ports, 2, ""), vhost)
}

fn assert_h264_aac(url: &str, server: &Server) {
    let codecs = probe_codecs(url);
    assert!(
        codecs.iter().any(|c| c == "h264") && codecs.iter().any(|c| c == "aac"),
        "{url}: ffprobe found {codecs:?}\nserver log:\n{}",
        server.log()
    );
}

fn http_get_status(addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    common::raw_http(addr, req.as_bytes(), Duration::from_secs(5))
}

#[test]
fn rtmp_push_reads_back_over_rtmp_http_flv_and_hls() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let rtmp = format!("rtmp://127.0.0.1:{}/live/cam", ports.rtmp);
    let publisher = push(&rtmp, 25);
    // HLS has a segment once a second of video is in, and the publish is known.
    let m3u8 = "/live/cam.m3u8";
    assert!(
        wait_until(Duration::from_secs(15), || http_get_status(
            server.http,
            m3u8
        )
        .starts_with("HTTP/1.1 200")),
        "no HLS playlist appeared:\n{}",
        server.log()
    );
    assert_h264_aac(&rtmp, &server);
    assert_h264_aac(
        &format!("http://127.0.0.1:{}/live/cam.flv", ports.http),
        &server,
    );
    assert_h264_aac(
        &format!("http://127.0.0.1:{}/live/cam.m3u8", ports.http),
        &server,
    );

    // A second publisher of the same stream is refused; the first goes on.
    let second = push(&rtmp, 5);
    let (st, _) = wait_for(second, Duration::from_secs(15)).expect("second publisher ended");
    assert!(!st.success(), "a second publisher was accepted");
    assert!(
        server.log().contains("already publishing"),
        "{}",
        server.log()
    );
    assert_h264_aac(
        &format!("http://127.0.0.1:{}/live/cam.flv", ports.http),
        &server,
    );

    // Unknown streams: 404 over HTTP-FLV and HLS.
    assert!(http_get_status(server.http, "/live/nope.flv").starts_with("HTTP/1.1 404"));
    assert!(http_get_status(server.http, "/live/nope.m3u8").starts_with("HTTP/1.1 404"));
    drop(publisher);
}

/// True when the server closes `s` (EOF or reset) within 5 s; anything it
/// sends first (e.g. protocol control messages) is skipped.
fn closed_by_server(mut s: TcpStream) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

/// A fmt-0 chunk header on chunk stream 3 for a message of `len` bytes of `kind`.
fn chunk_header(len: u32, kind: u8) -> Vec<u8> {
    let mut h = vec![0x03, 0, 0, 0];
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h.push(kind);
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

#[test]
fn malformed_rtmp_closes_only_that_connection() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let server = Server::start(&live_config(ports), ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let rtmp = format!("rtmp://127.0.0.1:{}/live/ok", ports.rtmp);
    let publisher = push(&rtmp, 25);
    assert!(wait_until(Duration::from_secs(10), || server
        .log()
        .contains("proto=rtmp role=publish")));

    // Bad handshake: RTMPE's version 6 in C0.
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c0c1 = vec![6u8];
    c0c1.extend(std::iter::repeat_n(0, 1536));
    bad.write_all(&c0c1).unwrap();
    assert!(closed_by_server(bad), "bad handshake left open");

    // Oversized message: 16 MiB declared, over the 8 MiB limit.
    let mut big = rtmp::handshake(addr);
    big.write_all(&chunk_header(0xFF_FFFF, 20)).unwrap();
    assert!(closed_by_server(big), "oversized message left open");

    // Bad AMF: a command whose first value has an unknown AMF0 marker.
    let mut amf = rtmp::handshake(addr);
    let body = [0x55u8, 1, 2, 3, 4];
    let mut msg = chunk_header(body.len() as u32, 20);
    msg.extend_from_slice(&body);
    amf.write_all(&msg).unwrap();
    assert!(closed_by_server(amf), "bad AMF left open");

    // The log lines may reach the test a moment after the sockets close.
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .matches("rtmp: closing the connection")
            .count()
            >= 3),
        "expected one log line per bad connection:\n{}",
        server.log()
    );
    // The good publisher was not disturbed.
    assert_h264_aac(&rtmp, &server);
    drop(publisher);
}

/// The SRS publish timeouts: a publisher that sends no media for
/// `publish.firstpkt_timeout` after `publish`, or nothing for
/// `publish.normal_timeout` once media flowed (a hung encoder, here FFmpeg
/// stopped with SIGSTOP), is closed and frees its stream, so a restarted
/// encoder can publish it again.
#[test]
fn silent_publishers_are_closed_after_the_publish_timeouts() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let conf = live_config(ports).replace(
        "vhost __defaultVhost__ {",
        "vhost __defaultVhost__ { publish { firstpkt_timeout 1000; normal_timeout 2000; }",
    );
    let server = Server::start(&conf, ports, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();

    // No first packet: connect, createStream, publish, then silence. No real
    // client stops there on demand, so the commands are written here.
    let mut silent = rtmp::handshake(addr);
    silent
        .write_all(&rtmp::commands("publish", "silent"))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("stream=silent")),
        "the silent publish was not accepted:\n{}",
        server.log()
    );
    let asked = Instant::now();
    assert!(
        closed_by_server(silent),
        "a publisher that sent no media was left open"
    );
    let closed_after = asked.elapsed();
    // The log line may reach the file a moment after the socket closes.
    assert!(
        closed_after < Duration::from_secs(4)
            && wait_until(Duration::from_secs(2), || server
                .log()
                .contains("no data for 1s")),
        "not closed after firstpkt_timeout ({closed_after:?}):\n{}",
        server.log()
    );

    // A hung encoder: media flowed (HLS has a segment), then nothing.
    let rtmp = format!("rtmp://127.0.0.1:{}/live/hung", ports.rtmp);
    let hung = push(&rtmp, 60);
    assert!(
        wait_until(Duration::from_secs(15), || http_get_status(
            server.http,
            "/live/hung.m3u8"
        )
        .starts_with("HTTP/1.1 200")),
        "no media from the encoder:\n{}",
        server.log()
    );
    let stop = Command::new("kill")
        .args(["-STOP", &hung.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(stop.success());
    assert!(
        wait_until(Duration::from_secs(6), || server
            .log()
            .contains("no data for 2s")),
        "the hung encoder was not closed after normal_timeout:\n{}",
        server.log()
    );
    // Its stream is free again: a restarted encoder publishes to the end.
    let (st, err) =
        wait_for(push(&rtmp, 3), Duration::from_secs(20)).expect("the new encoder ended");
    assert!(
        st.success(),
        "the new encoder was refused: {err}\n{}",
        server.log()
    );
    drop(hung);
}
