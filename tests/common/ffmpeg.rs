//! FFmpeg as the RTMP encoder of a test.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `ffmpeg` and `ffprobe` run here (says so when they do not).
pub fn have_ffmpeg() -> bool {
    let ok = |b: &str| Command::new(b).arg("-version").output().is_ok();
    if !(ok("ffmpeg") && ok("ffprobe")) {
        eprintln!(
            "ffmpeg/ffprobe not installed: skipping (scripts/install-test-deps installs them)"
        );
        return false;
    }
    true
}

/// Kills the child (if still running) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ffmpeg` pushing `secs` of 25 fps H.264 + 44.1 kHz AAC in real time.
pub fn push(url: &str, secs: u32) -> Proc {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "25", "-c:a", "aac", "-t", &secs.to_string()])
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    Proc(child)
}

/// Waits up to `limit` for a child; `None` if it is still running (then killed).
pub fn wait_for(mut p: Proc, limit: Duration) -> Option<(std::process::ExitStatus, String)> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = p.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = p.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Some((st, err));
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What ffprobe finds at `url`: one row per stream, the comma-separated
/// values of `entries` (e.g. `"codec_name"` or `"codec_name,width,height"`).
/// Bounded: ffprobe's own 10 s I/O timeout, and 20 s in all.
pub fn probe_streams(url: &str, entries: &str) -> Vec<Vec<String>> {
    let child = Command::new("ffprobe")
        .args(["-hide_banner", "-v", "error", "-rw_timeout", "10000000"])
        .args([
            "-show_entries",
            &format!("stream={entries}"),
            "-of",
            "csv=p=0",
        ])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ffprobe");
    let out = std::thread::spawn(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.is_finished() {
        assert!(Instant::now() < deadline, "ffprobe {url} hung");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = out.join().unwrap().expect("ffprobe ran");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The codec names ffprobe finds at `url` (see [`probe_streams`]).
pub fn probe_codecs(url: &str) -> Vec<String> {
    probe_streams(url, "codec_name")
        .into_iter()
        .filter_map(|row| row.into_iter().next())
        .collect()
}
