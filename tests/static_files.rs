//! Static files of `http_server.dir` are streamed from disk: a large file
//! costs a request one chunk of memory, not the file's size, and a shard
//! serving it (and stalled readers of it) still answers everything else.
//! HEAD, keep-alive and the content types work as for any response.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// 48 MiB of a pattern that shows a byte out of place.
const BIG: usize = 48 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// The server's resident set, kB.
fn rss_kb(srv: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", srv.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Reads one response's head from `s`: (head, the body bytes that came with it).
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            return (head, buf[end + 4..].to_vec());
        }
        let n = s.read(&mut chunk).expect("read head");
        assert!(n > 0, "closed before the head ended");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"))
}

#[test]
fn large_files_are_streamed_in_bounded_memory() {
    let www = TempDir::new("www");
    std::fs::write(www.0.join("index.html"), "<p>small</p>\n").unwrap();
    let big: Vec<u8> = (0..BIG).map(pattern).collect();
    std::fs::write(www.0.join("big.bin"), &big).unwrap();
    drop(big);
    let ports = Ports::free();
    let conf = config(ports, 1, "").replace(
        &fixtures().join("www").display().to_string(),
        &www.0.display().to_string(),
    );
    let srv = Server::start(&conf, ports, &[]);

    // HEAD: the length and type, no body.
    let head = raw_http(
        srv.http,
        b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {BIG}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Content-Type: application/octet-stream"),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "HEAD sent a body: {}",
        head.len()
    );

    // GET: every byte, in order.
    let mut s = TcpStream::connect(srv.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, mut body) = read_head(&mut s);
    assert_eq!(content_length(&head), BIG);
    s.read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), BIG);
    assert!(
        body.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "the file arrived corrupted"
    );
    drop(body);

    // Four readers that stop after the head: the file is not held for them.
    let before = rss_kb(&srv);
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(srv.http).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let (head, _) = read_head(&mut s);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = rss_kb(&srv);
    eprintln!("RSS {before} kB before, {during} kB with 4 stalled 48 MiB downloads");
    assert!(
        during < before + 16 * 1024,
        "RSS grew from {before} to {during} kB: files are held in memory"
    );
    // The only shard still answers, at once.
    let started = std::time::Instant::now();
    let v = get(&srv.api_url("/api/v1/versions"));
    assert_eq!(v.status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(stalled);

    // Keep-alive: two pipelined requests on one connection, two answers.
    let mut s = TcpStream::connect(srv.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8_lossy(&all);
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
    assert_eq!(all.matches("<p>small</p>").count(), 2, "{all}");
    assert!(all.contains("Content-Type: text/html"), "{all}");

    // Outside the root, or missing: refused as before.
    let r = raw_http(
        srv.http,
        b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(r.starts_with("HTTP/1.1 40"), "{r}");
    assert!(!r.contains("root:"), "{r}");
    let r = raw_http(
        srv.http,
        b"GET /missing.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}
