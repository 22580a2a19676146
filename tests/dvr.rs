//! Recording (DVR) against the real server, with FFmpeg as the RTMP
//! publisher and ffprobe as the judge: a session FLV and a session MP4 of a
//! 10 s publish hold H.264 and AAC for at least 9 s; the segment plan makes
//! several files; `on_dvr` is told each file; SIGTERM in the middle of a
//! recording still leaves a readable MP4; a path that cannot be written
//! costs one warning and nothing else.
//!
//! Skipped (with a message) when `ffmpeg`/`ffprobe` are not installed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ffmpeg::{have_ffmpeg, push, wait_for};
use common::{wait_until, Ports, Server, TempDir};

/// A config whose default vhost records with `dvr` (the inside of `dvr { }`)
/// and tells `hook` (if any) with `on_dvr`.
fn dvr_config(ports: Ports, dvr: &str, hook: Option<SocketAddr>) -> String {
    let hooks = hook.map_or_else(String::new, |h| {
        format!("http_hooks {{ enabled on; on_dvr http://{h}/api/v1/dvrs; }}")
    });
    let vhost = format!(
        "vhost __defaultVhost__ {{ rtc {{ enabled on; }} dvr {{ enabled on; {dvr} }} {hooks} }}\n"
    );
    common::with_vhost(&common::config(ports, 2, ""), &vhost)
}

/// ffprobe's `-show_streams -show_format` of `file`, as JSON.
fn probe(file: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe ran");
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// Asserts `file` holds H.264 and AAC for at least `secs` seconds.
fn assert_h264_aac(file: &Path, secs: f64, server: &Server) {
    let p = probe(file);
    let codecs: Vec<&str> = p["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_name"].as_str()).collect())
        .unwrap_or_default();
    let duration: f64 = p["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac") && duration >= secs,
        "{}: codecs {codecs:?}, duration {duration} (want >= {secs})\nffprobe: {p}\nserver log:\n{}",
        file.display(),
        server.log()
    );
}

/// Every file under `dir` (recursively) whose name ends in `ext`.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Publishes `secs` of FFmpeg test picture and tone to `live/<stream>` and
/// waits for FFmpeg to end.
fn publish(ports: Ports, stream: &str, secs: u32, server: &Server) {
    let url = format!("rtmp://127.0.0.1:{}/live/{stream}", ports.rtmp);
    let done = wait_for(push(&url, secs), Duration::from_secs(u64::from(secs) + 20));
    let (st, err) = done.expect("ffmpeg ended");
    assert!(st.success(), "ffmpeg: {err}\nserver log:\n{}", server.log());
}

/// An `on_dvr` endpoint on 127.0.0.1 that answers `0` and keeps every body.
struct HookServer {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl HookServer {
    fn start() -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or_default());
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n0",
                );
            }
        });
        HookServer { addr, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

fn session(ext: &str) {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("dvr");
    let hook = HookServer::start();
    let ports = Ports::free();
    let path = format!("{}/[app]/[stream].[timestamp].{ext}", dir.0.display());
    let server = Server::start(
        &dvr_config(ports, &format!("dvr_path {path};"), Some(hook.addr)),
        ports,
        &[],
    );
    publish(ports, "rec", 10, &server);
    assert!(
        wait_until(Duration::from_secs(10), || !hook.bodies().is_empty()),
        "no on_dvr call\nserver log:\n{}",
        server.log()
    );
    let found = files(&dir.0.join("live"), &format!(".{ext}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        files(&dir.0, ".tmp").is_empty(),
        "finished files are renamed"
    );
    assert_h264_aac(&found[0], 9.0, &server);
    let body = &hook.bodies()[0];
    assert_eq!(body["action"], "on_dvr");
    assert_eq!(body["app"], "live");
    assert_eq!(body["stream"], "rec");
    assert_eq!(body["vhost"], "__defaultVhost__");
    assert_eq!(body["ip"], "127.0.0.1");
    assert_eq!(Path::new(body["file"].as_str().unwrap()), found[0]);
    assert!(body["cwd"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(body["client_id"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn rtmp_publish_records_a_session_flv() {
    session("flv");
}

#[test]
fn rtmp_publish_records_a_session_mp4() {
    session("mp4");
}

#[test]
fn segment_plan_makes_several_files() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("dvr-seg");
    let hook = HookServer::start();
    let ports = Ports::free();
    let dvr = format!(
        "dvr_plan segment; dvr_duration 3; dvr_path {}/[stream]-[timestamp].flv;",
        dir.0.display()
    );
    let server = Server::start(&dvr_config(ports, &dvr, Some(hook.addr)), ports, &[]);
    publish(ports, "seg", 10, &server);
    let found = files(&dir.0, ".flv");
    assert!(
        wait_until(Duration::from_secs(10), || hook.bodies().len()
            == found.len()),
        "{} on_dvr calls for {} files",
        hook.bodies().len(),
        found.len()
    );
    assert!(
        (3..=4).contains(&found.len()),
        "{found:?}\n{}",
        server.log()
    );
    for f in &found[..found.len() - 1] {
        assert_h264_aac(f, 2.5, &server);
    }
}

#[test]
fn sigterm_mid_recording_leaves_a_readable_mp4() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("dvr-term");
    let ports = Ports::free();
    let dvr = format!("dvr_path {}/[stream].mp4;", dir.0.display());
    let mut server = Server::start(&dvr_config(ports, &dvr, None), ports, &[]);
    let url = format!("rtmp://127.0.0.1:{}/live/cut", ports.rtmp);
    let _ffmpeg = push(&url, 30);
    std::thread::sleep(Duration::from_secs(8));
    // The HTTP API names the file being written.
    let streams = common::get(&server.api_url("/api/v1/streams")).json();
    let rec = streams["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "cut"))
        .map(|s| s["dvr"]["file"].clone());
    assert_eq!(
        rec.as_ref().and_then(|f| f.as_str()).map(PathBuf::from),
        Some(dir.0.join("cut.mp4")),
        "{streams}"
    );
    let started = Instant::now();
    let st = server.terminate(Duration::from_secs(15));
    assert!(
        st.is_some_and(|s| s.success()),
        "exit {st:?}\n{}",
        server.log()
    );
    eprintln!("stopped in {:?}", started.elapsed());
    let file = dir.0.join("cut.mp4");
    assert!(file.exists(), "{:?}\n{}", files(&dir.0, ""), server.log());
    assert_h264_aac(&file, 6.0, &server);
}

#[test]
fn an_unwritable_path_is_one_warning_and_the_publish_goes_on() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let server = Server::start(
        &dvr_config(ports, "dvr_path /proc/shardsfu-no/[stream].flv;", None),
        ports,
        &[],
    );
    publish(ports, "nowhere", 3, &server);
    let log = server.log();
    let warnings = log.matches("dvr: not recording").count();
    assert_eq!(warnings, 1, "{log}");
    assert!(
        log.contains("/proc/shardsfu-no"),
        "the warning names the path"
    );
    // The server still serves.
    publish(ports, "again", 2, &server);
}
