//! Real-peer check: FFmpeg publishes to and plays from [`RtmpServerConn`]
//! over a loopback TCP socket driven by this test (blocking std sockets; the
//! real runtime is the integrator's). Ignored by default: run with
//! `cargo test -p shardsfu --lib live::rtmp::ffmpeg_tests -- --ignored`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{RtmpEvent, RtmpServerConn};
use crate::live::flv::{FlvDemuxer, FlvTag, TagKind};
use crate::live::gop::GopCache;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/live/testsrc_2s.flv"
);

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

fn fixture_tags() -> Vec<FlvTag> {
    let mut d = FlvDemuxer::new();
    d.push(&std::fs::read(FIXTURE).unwrap());
    std::iter::from_fn(|| d.next_tag().unwrap()).collect()
}

/// Kills the child if the test panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serve one connection until it closes; `on_event` may answer requests.
fn serve(
    sock: &mut TcpStream,
    conn: &mut RtmpServerConn,
    mut on_event: impl FnMut(&mut RtmpServerConn, RtmpEvent) -> bool,
) {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        assert!(Instant::now() < deadline, "ffmpeg session took too long");
        let done = match sock.read(&mut buf) {
            Ok(0) => {
                conn.handle_eof();
                true
            }
            Ok(n) => {
                conn.handle_input(&buf[..n])
                    .expect("ffmpeg speaks valid RTMP");
                false
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(_) => {
                conn.handle_eof();
                true
            }
        };
        let mut stop = false;
        while let Some(ev) = conn.poll_event() {
            stop |= !on_event(conn, ev);
        }
        while let Some(out) = conn.poll_transmit() {
            if sock.write_all(&out).is_err() {
                return;
            }
        }
        if done || stop {
            return;
        }
    }
}

#[test]
#[ignore = "needs ffmpeg; run with --ignored"]
fn ffmpeg_publishes_and_plays() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not installed: skipping the real-peer RTMP check");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/livestream",
        listener.local_addr().unwrap().port()
    );

    // 1. ffmpeg publishes the fixture.
    let _pub = Guard(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i", FIXTURE, "-c", "copy", "-f", "flv"])
            .arg(&url)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (mut sock, _) = listener.accept().unwrap();
    let mut conn = RtmpServerConn::default();
    let mut got = Vec::new();
    let mut saw_publish = false;
    serve(&mut sock, &mut conn, |c, ev| {
        match ev {
            RtmpEvent::Publish { app, stream, .. } => {
                assert_eq!((app.as_str(), stream.as_str()), ("live", "livestream"));
                saw_publish = true;
                c.accept_publish().unwrap();
            }
            RtmpEvent::Media(t) => got.push(t),
            RtmpEvent::Closed => return false,
            _ => {}
        }
        true
    });
    assert!(saw_publish);
    let want = fixture_tags();
    let media = |tags: &[FlvTag]| -> Vec<(TagKind, u32, bytes::Bytes)> {
        tags.iter()
            .filter(|t| t.kind != TagKind::Script)
            .map(|t| (t.kind, t.timestamp_ms, t.data.clone()))
            .collect()
    };
    // ffmpeg re-muxes: same audio/video tags (it may drop the end-of-sequence tag).
    let (g, w) = (media(&got), media(&want));
    assert!(
        g.len() + 1 >= w.len() && g.len() <= w.len(),
        "{} vs {}",
        g.len(),
        w.len()
    );
    assert_eq!(g[..], w[..g.len()]);
    assert!(got.iter().any(FlvTag::is_metadata));

    // 2. ffmpeg plays it back: the GOP cache, then nothing more, then we close.
    let mut cache = GopCache::default();
    for t in &got {
        cache.push(t);
    }
    let out_path =
        std::env::temp_dir().join(format!("shardsfu-rtmp-play-{}.flv", std::process::id()));
    let _play = Guard(
        Command::new("ffmpeg")
            .args([
                "-v",
                &std::env::var("FFMPEG_LOGLEVEL").unwrap_or("error".into()),
                "-y",
                "-i",
            ])
            .arg(&url)
            .args(["-c", "copy", "-f", "flv"])
            .arg(&out_path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (mut sock, _) = listener.accept().unwrap();
    let mut conn = RtmpServerConn::default();
    let mut played = false;
    serve(&mut sock, &mut conn, |c, ev| {
        if let RtmpEvent::Play { stream, .. } = ev {
            assert_eq!(stream, "livestream");
            c.accept_play().unwrap();
            for t in cache.startup_tags() {
                c.send_tag(t).unwrap();
            }
            played = true;
            return false;
        }
        !matches!(ev, RtmpEvent::Closed)
    });
    assert!(played);
    // Half-close and drain: closing with unread input would reset the
    // connection and could discard what ffmpeg has not read yet.
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut sink = Vec::new();
    let _ = sock.read_to_end(&mut sink);
    let mut child = _play;
    let status = child.0.wait().unwrap();
    assert!(status.success(), "ffmpeg play exit {status}");
    let mut d = FlvDemuxer::new();
    d.push(&std::fs::read(&out_path).unwrap());
    let back: Vec<FlvTag> = std::iter::from_fn(|| d.next_tag().unwrap()).collect();
    let _ = std::fs::remove_file(&out_path);
    let frames = back
        .iter()
        .filter(|t| t.kind == TagKind::Video && t.data.get(1) == Some(&1))
        .count();
    // The cache holds the last GOP: 15 frames from the keyframe at 1 s.
    assert_eq!(frames, 15, "video frames played back");
    assert!(back.iter().any(FlvTag::is_video_sequence_header));
    assert!(back.iter().any(FlvTag::is_audio_sequence_header));
}
