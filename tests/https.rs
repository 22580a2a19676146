//! HTTPS on the HTTP API (`http_api { https { } }`, SRS's 1990) and the HTTP
//! server (`http_server { https { } }`), with curl as the client and a
//! certificate made by the openssl command line: WHIP over HTTPS, the JSON
//! API, static files, and what a stranger can send to a TLS port.
//!
//! Skipped (with a message) when `curl`/`openssl` are not installed
//! (scripts/install-test-deps installs them).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Ports, Server, TempDir};

fn have_tools() -> bool {
    let ok = |b: &str| {
        Command::new(b).arg("--version").output().is_ok()
            || Command::new(b).arg("version").output().is_ok()
    };
    if !(ok("curl") && ok("openssl")) {
        eprintln!("curl/openssl not installed: skipping (scripts/install-test-deps installs them)");
        return false;
    }
    true
}

/// A self-signed P-256 certificate for 127.0.0.1 (`cert.pem`, `key.pem` in `dir`).
fn make_cert(dir: &Path) {
    let st = Command::new("openssl")
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
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success(), "openssl could not make a certificate");
}

/// The test config plus `https { }` for the API on `api_tls` and the HTTP
/// server on `files_tls`.
fn https_config(ports: Ports, dir: &Path, api_tls: u16, files_tls: u16) -> String {
    let tls = |port: u16| {
        format!(
            "https {{ enabled on; listen 127.0.0.1:{port}; key {}; cert {}; }}",
            dir.join("key.pem").display(),
            dir.join("cert.pem").display()
        )
    };
    common::config(ports, 2, "")
        .replace(
            "http_api { enabled on;",
            &format!("http_api {{ enabled on; {}", tls(api_tls)),
        )
        .replace(
            "http_server { enabled on;",
            &format!("http_server {{ enabled on; {}", tls(files_tls)),
        )
}

/// A server with HTTPS on both HTTP ports, its certificate and ports.
struct TlsServer {
    server: Server,
    dir: TempDir,
    ports: Ports,
    api_tls: u16,
    files_tls: u16,
}

/// Makes a certificate and starts a server with `https { }` on the API and
/// the HTTP server; `vhost` is added to the default vhost's block. `None`
/// (the test is skipped) without curl and openssl.
fn start_tls(tag: &str, vhost: &str) -> Option<TlsServer> {
    if !have_tools() {
        return None;
    }
    let dir = TempDir::new(tag);
    make_cert(&dir.0);
    let ports = Ports::free();
    let (api_tls, files_tls) = (common::free_port(), common::free_port());
    let conf = https_config(ports, &dir.0, api_tls, files_tls).replace(
        "vhost __defaultVhost__ {",
        &format!("vhost __defaultVhost__ {{ {vhost}"),
    );
    Some(TlsServer {
        server: Server::start(&conf, ports, &[]),
        dir,
        ports,
        api_tls,
        files_tls,
    })
}

/// curl with the test's CA; returns (status code, body, headers).
fn curl(dir: &Path, args: &[&str]) -> (u16, String, String) {
    let headers = dir.join(format!("headers-{}", common::rand_u64()));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.join("cert.pem"))
        .arg("-D")
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let head = std::fs::read_to_string(&headers).unwrap_or_default();
    let _ = std::fs::remove_file(&headers);
    (
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
        head + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn whip_api_and_files_over_https() {
    let Some(TlsServer {
        server,
        dir,
        api_tls,
        files_tls,
        ..
    }) = start_tls("https", "")
    else {
        return;
    };
    let api = format!("https://127.0.0.1:{api_tls}");

    // The JSON API, verified against the certificate (no -k).
    let (code, body, head) = curl(&dir.0, &[&format!("{api}/api/v1/versions")]);
    assert_eq!(code, 200, "{body}\n{head}\n{}", server.log());
    assert!(body.contains("\"major\""), "{body}");

    // WHIP over HTTPS: 201, an answer, a Location that DELETE ends.
    let offer = common::fixtures().join("sdp/chromium156_whip.sdp");
    let (code, answer, head) = curl(
        &dir.0,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/sdp",
            "--data-binary",
            &format!("@{}", offer.display()),
            &format!("{api}/rtc/v1/whip/?app=live&stream=tls"),
        ],
    );
    assert_eq!(code, 201, "{answer}\n{head}\n{}", server.log());
    assert!(answer.contains("a=ice-lite"), "{answer}");
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .expect("a Location header")
        .trim()
        .to_owned();
    let (code, body, head) = curl(&dir.0, &["-X", "DELETE", &format!("{api}{location}")]);
    assert_eq!(code, 200, "{body}\n{head}");

    // Static files on the HTTP server's HTTPS port.
    let (code, body, head) = curl(
        &dir.0,
        &[&format!("https://127.0.0.1:{files_tls}/index.html")],
    );
    assert_eq!(code, 200, "{body}\n{head}");
    // The plain ports still answer.
    assert_eq!(common::get(&server.api_url("/api/v1/versions")).status, 200);
}

#[test]
fn strangers_on_the_https_port_are_dropped_and_others_served() {
    let Some(TlsServer {
        server,
        dir,
        api_tls,
        ..
    }) = start_tls("https-bad", "")
    else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], api_tls).into();

    // Plain HTTP on the TLS port: no HTTP answer, the connection ends.
    let reply = common::raw_http(
        addr,
        b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!reply.contains("HTTP/1.1 200"), "{reply}");
    // Garbage that looks like a TLS record, and a client that stalls mid-handshake.
    let garbage = common::raw_http(
        addr,
        &[0x16, 3, 1, 0xff, 0xff, 1, 2, 3],
        Duration::from_secs(5),
    );
    assert!(garbage.is_empty() || !garbage.contains("HTTP"), "{garbage}");
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(&[0x16, 3, 1]).unwrap();

    // Meanwhile a real client is served.
    let (code, body, head) = curl(
        &dir.0,
        &[&format!("https://127.0.0.1:{api_tls}/api/v1/versions")],
    );
    assert_eq!(code, 200, "{body}\n{head}\n{}", server.log());
    drop(stalled);
}

#[test]
fn unreadable_certificate_stops_start_up_naming_the_file() {
    let dir = TempDir::new("https-missing");
    let ports = Ports::free();
    let conf = https_config(ports, &dir.0, common::free_port(), common::free_port());
    let path = dir.0.join("test.conf");
    std::fs::write(&path, conf).unwrap();
    // Both the config test (-t) and start-up read the certificate.
    for args in [&["-t", "-c"][..], &["-c"][..]] {
        let out = Command::new(common::binary())
            .args(args)
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .expect("run shardsfu");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success(),
            "{args:?}: accepted without its certificate:\n{text}"
        );
        let cert = dir.0.join("cert.pem");
        assert!(
            text.contains("http_api.https") && text.contains(&*cert.to_string_lossy()),
            "{args:?}: the error does not name the section and file:\n{text}"
        );
    }
}

#[test]
fn http_flv_over_https() {
    if !common::ffmpeg::have_ffmpeg() {
        return;
    }
    let Some(TlsServer {
        server,
        dir,
        ports,
        files_tls,
        ..
    }) = start_tls(
        "https-flv",
        "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }",
    )
    else {
        return;
    };
    let encoder = common::ffmpeg::push(&format!("rtmp://127.0.0.1:{}/live/tls", ports.rtmp), 20);
    // curl reads the FLV stream over TLS for 3 s (it ends by timeout: exit 28).
    let flv = dir.0.join("out.flv");
    let mut got = Vec::new();
    for _ in 0..10 {
        let _ = Command::new("curl")
            .args(["-sS", "--max-time", "3", "--cacert"])
            .arg(dir.0.join("cert.pem"))
            .arg("-o")
            .arg(&flv)
            .arg(format!("https://127.0.0.1:{files_tls}/live/tls.flv"))
            .status();
        got = std::fs::read(&flv).unwrap_or_default();
        if got.len() > 1000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(encoder);
    assert!(
        got.starts_with(b"FLV") && got.len() > 1000,
        "{} bytes of FLV over HTTPS:\n{}",
        got.len(),
        server.log()
    );
}

/// A ClientHello sent one byte every half second used to hold the
/// connection for as long as the bytes kept coming (the read timeout
/// restarted on each one); the handshake now has 10 s in total.
#[test]
fn a_byte_at_a_time_tls_handshake_is_closed_after_10s() {
    let Some(TlsServer {
        server, api_tls, ..
    }) = start_tls("https-trickle", "")
    else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], api_tls).into();
    // A handshake record header announcing 16 KiB, then filler.
    let mut hello = vec![0x16, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc, 3, 3];
    hello.resize(64, 0x5a);
    let closed = common::trickle_until_closed(
        addr,
        &hello,
        Duration::from_millis(500),
        Duration::from_secs(20),
    );
    let closed = closed.expect("the trickling TLS client was never closed");
    assert!(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(13),
        "closed after {closed:?}"
    );
    drop(server);
}

/// The signaling WebSocket (`/sig/v1/rtc`) as `wss://` on both HTTPS ports
/// (SRS's pages served over HTTPS connect there): openssl s_client sends
/// the upgrade and a join, and reads the 101 and the join's answer.
#[test]
fn signaling_websocket_over_wss() {
    let Some(TlsServer {
        server,
        dir,
        api_tls,
        files_tls,
        ..
    }) = start_tls("wss", "")
    else {
        return;
    };
    for port in [files_tls, api_tls] {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-CAfile")
            .arg(dir.0.join("cert.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_client");
        let join = format!(
            r#"{{"tid":"w{port}","msg":{{"action":"join","room":"secure","display":"d{port}"}}}}"#
        );
        let mut input = b"GET /sig/v1/rtc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            .to_vec();
        // A masked text frame (mask 0: the payload stays as it is).
        input.extend_from_slice(&[0x81, 0x80 | join.len() as u8, 0, 0, 0, 0]);
        input.extend_from_slice(join.as_bytes());
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains("\"participants\"") {
                    break;
                }
            }
            String::from_utf8_lossy(&seen).into_owned()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !reader.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        drop(stdin);
        let _ = child.wait();
        let seen = reader.join().unwrap();
        assert!(
            seen.starts_with("HTTP/1.1 101 Switching Protocols")
                && seen.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                && seen.contains(&format!(r#""tid":"w{port}""#))
                && seen.contains(&format!(
                    r#""self":{{"display":"d{port}","publishing":false}}"#
                )),
            "port {port}: {seen}\n{}",
            server.log()
        );
    }
}
