//! Tests of the HLS segmenter.

use super::*;
use crate::live::flv::FlvDemuxer;

/// The tags of `tests/fixtures/live/testsrc_2s.flv` (H.264 + AAC, 2 s).
pub(crate) fn fixture_tags() -> Vec<FlvTag> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/live/testsrc_2s.flv"
    );
    let mut d = FlvDemuxer::new();
    d.push(&std::fs::read(path).expect("fixture"));
    let mut tags = Vec::new();
    while let Some(t) = d.next_tag().expect("fixture demuxes") {
        tags.push(t);
    }
    tags
}

fn muxed(fragment_ms: u64, window_ms: u64) -> HlsMuxer {
    let mut h = HlsMuxer::new(
        Duration::from_millis(fragment_ms),
        Duration::from_millis(window_ms),
    );
    for t in fixture_tags() {
        h.push(&t).unwrap();
    }
    h.flush();
    h
}

#[test]
fn a_republish_carries_on_after_a_discontinuity() {
    let mut h = muxed(500, 60_000);
    let republish = |h: &mut HlsMuxer, window_ms| {
        h.republish(
            Duration::from_millis(500),
            Duration::from_millis(window_ms),
            1.0,
        );
        // The new publisher's timestamps start at 0 again.
        for t in fixture_tags() {
            h.push(&t).unwrap();
        }
        h.flush();
    };
    republish(&mut h, 60_000);
    let seqs: Vec<(u64, bool)> = h.segments().map(|s| (s.seq, s.discontinuity)).collect();
    assert_eq!(seqs, vec![(0, false), (1, false), (2, true), (3, false)]);
    let pl = h.playlist("[seq].ts");
    assert!(pl.contains("1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:"), "{pl}");
    assert!(!pl.contains("DISCONTINUITY-SEQUENCE"), "{pl}");
    // Once the marked segment leaves the window, the playlist counts it.
    republish(&mut h, 2_500);
    let seqs: Vec<(u64, bool)> = h.segments().map(|s| (s.seq, s.discontinuity)).collect();
    assert_eq!(seqs, vec![(4, true), (5, false)]);
    let pl = h.playlist("[seq].ts");
    assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-DISCONTINUITY\n#EXTINF:"), "{pl}");
    // A republish with nothing listed has nothing to mark.
    let mut empty = HlsMuxer::new(Duration::from_millis(500), Duration::from_secs(60));
    empty.republish(Duration::from_millis(500), Duration::from_secs(60), 1.0);
    for t in fixture_tags() {
        empty.push(&t).unwrap();
    }
    assert!(empty.segments().all(|s| !s.discontinuity));
}

#[test]
fn segments_cut_at_keyframes() {
    // Keyframes at 0 and 1000 ms; 500 ms fragments cut at each keyframe.
    let h = muxed(500, 60_000);
    let segs: Vec<_> = h.segments().collect();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].duration, Duration::from_millis(1000));
    assert!(segs[1].duration >= Duration::from_millis(900));
    for s in &segs {
        assert_eq!(s.data.len() % 188, 0);
        assert_eq!(s.data[0], 0x47);
        assert!(s.data.chunks(188).all(|p| p[0] == 0x47));
    }
    let pl = h.playlist("live/livestream-[seq].ts");
    assert!(pl.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"));
    assert!(pl.contains("#EXT-X-TARGETDURATION:1\n"));
    assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    assert!(pl.contains("#EXTINF:1.000,\nlive/livestream-0.ts\n"));
    assert!(pl.contains("live/livestream-1.ts\n"));
    assert!(h.segment(1).is_some());
    assert!(h.segment(2).is_none());
}

#[test]
fn long_fragment_keeps_one_segment_until_flush() {
    let mut h = HlsMuxer::new(Duration::from_secs(10), Duration::from_secs(60));
    for t in fixture_tags() {
        h.push(&t).unwrap();
    }
    assert_eq!(h.segments().count(), 0);
    h.flush();
    assert_eq!(h.segments().count(), 1);
}

#[test]
fn window_drops_old_segments() {
    let h = muxed(500, 1000);
    let seqs: Vec<u64> = h.segments().map(|s| s.seq).collect();
    assert_eq!(seqs, vec![1]);
    assert!(h.playlist("[seq].ts").contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
    assert!(h.segment(0).is_none());
}

#[test]
fn td_ratio_delays_the_cut() {
    let mut h = HlsMuxer::new(Duration::from_millis(800), Duration::from_secs(60));
    h.set_td_ratio(1.5);
    for t in fixture_tags() {
        h.push(&t).unwrap();
    }
    h.flush();
    // 800 ms * 1.5 = 1.2 s: the keyframe at 1 s does not cut.
    assert_eq!(h.segments().count(), 1);
}

#[test]
fn audio_before_video_config_does_not_mix_pids() {
    // Audio config and frames first, then video: the audio-only segment
    // is cut at the first keyframe so the next PMT lists video.
    let tags = fixture_tags();
    let mut h = HlsMuxer::new(Duration::from_secs(10), Duration::from_secs(60));
    let (video, other): (Vec<&FlvTag>, Vec<&FlvTag>) =
        tags.iter().partition(|t| t.kind == TagKind::Video);
    for t in other.iter().filter(|t| t.timestamp_ms < 500) {
        h.push(t).unwrap();
    }
    for t in &video {
        h.push(t).unwrap();
    }
    h.flush();
    let segs: Vec<_> = h.segments().collect();
    assert_eq!(segs.len(), 2);
    let pids = |d: &[u8]| -> std::collections::BTreeSet<u16> {
        d.chunks(188)
            .map(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]))
            .collect()
    };
    assert!(!pids(&segs[0].data).contains(&crate::live::ts::VIDEO_PID));
    assert!(pids(&segs[1].data).contains(&crate::live::ts::VIDEO_PID));
}

/// The fixture's sequence headers, then nothing else.
fn configured(limits: HlsLimits, fragment_ms: u64, window_ms: u64) -> HlsMuxer {
    let mut h = HlsMuxer::new(
        Duration::from_millis(fragment_ms),
        Duration::from_millis(window_ms),
    );
    h.set_limits(limits);
    for t in fixture_tags().iter().filter(|t| t.is_sequence_header()) {
        h.push(t).unwrap();
    }
    h
}

/// An AVC keyframe at `ts` with one IDR NALU of `len` bytes.
fn idr(ts: u32, len: usize) -> FlvTag {
    let mut d = vec![0x17, 1, 0, 0, 0];
    d.extend_from_slice(&(len as u32).to_be_bytes());
    d.push(0x65);
    d.resize(9 + len, 0xAB);
    FlvTag::new(TagKind::Video, ts, d)
}

#[test]
fn a_constant_timestamp_makes_no_segment_and_stays_bounded() {
    // The probe: 1 MiB keyframes all at one timestamp. They used to be
    // cut into 0 s segments (oversized) that no window trimmed.
    let limits = HlsLimits {
        segment_bytes: 4 << 20,
        ..HlsLimits::default()
    };
    let mut h = configured(limits, 1000, 60_000);
    for _ in 0..40 {
        h.push(&idr(5000, 1 << 20)).unwrap();
    }
    assert_eq!(h.segments().count(), 0, "a 0 s segment was cut");
    assert!(h.bytes() <= (4 << 20) + (64 << 10), "{} bytes", h.bytes());
    assert!(h.dropped() >= 35, "{} dropped", h.dropped());
    // Time moves on: the full segment is cut (1 ms long) for the next frame.
    h.push(&idr(5001, 1 << 20)).unwrap();
    let segs: Vec<_> = h.segments().collect();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].duration, Duration::from_millis(1));
    // A timestamp behind the segment's start is no progress either.
    h.push(&idr(100, 1000)).unwrap();
    assert_eq!(h.segments().count(), 1);
    // And flushing a segment spanning no time lists nothing.
    h.flush();
    assert_eq!(h.segments().count(), 1);
}

#[test]
fn the_window_is_bounded_by_count_and_bytes() {
    // 1 ms fragments in a one-hour window: only the count bounds it.
    let limits = HlsLimits {
        segments: 16,
        ..HlsLimits::default()
    };
    let mut h = configured(limits, 1, 3_600_000);
    for i in 0..100 {
        h.push(&idr(i * 2, 100)).unwrap();
    }
    assert_eq!(h.segments().count(), 16);
    assert_eq!(h.segments().next().map(|s| s.seq), Some(83));
    // 64 KiB segments under a 256 KiB window: the bytes bound it.
    let limits = HlsLimits {
        window_bytes: 256 << 10,
        ..HlsLimits::default()
    };
    let mut h = configured(limits, 1, 3_600_000);
    for i in 0..50 {
        h.push(&idr(i * 2, 64 << 10)).unwrap();
    }
    let kept: usize = h.segments().map(|s| s.data.len()).sum();
    assert!(kept <= 256 << 10, "{kept} bytes kept");
    assert!(h.segments().count() >= 3);
}

#[test]
fn bad_sequence_header_is_an_error_and_skipped() {
    let mut h = HlsMuxer::new(Duration::from_secs(1), Duration::from_secs(10));
    let bad = FlvTag::new(
        TagKind::Video,
        0,
        vec![0x17, 0, 0, 0, 0, 2, 0x42, 0, 0x1e, 0xff, 0xe1],
    );
    assert_eq!(h.push(&bad), Err(HlsError::Avc(AvcError::BadVersion(2))));
    let bad_aac = FlvTag::new(TagKind::Audio, 0, vec![0xAF, 0, 0x17, 0x80]);
    assert_eq!(
        h.push(&bad_aac),
        Err(HlsError::Aac(AacError::BadSampleRateIndex(15)))
    );
    // A truncated NALU length in a frame.
    for t in fixture_tags().iter().filter(|t| t.is_sequence_header()) {
        h.push(t).unwrap();
    }
    let frame = FlvTag::new(TagKind::Video, 0, vec![0x17, 1, 0, 0, 0, 0, 0, 0, 9, 1]);
    assert!(matches!(
        h.push(&frame),
        Err(HlsError::Avc(AvcError::BadNaluLength { .. }))
    ));
}

#[test]
fn ffprobe_accepts_the_segments() {
    let Ok(out) = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
    else {
        eprintln!("ffprobe not installed: skipping the TS check against a real demuxer");
        return;
    };
    assert!(out.status.success());
    let h = muxed(500, 60_000);
    let dir = std::env::temp_dir().join(format!("shardsfu-hls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for s in h.segments() {
        let path = dir.join(format!("{}.ts", s.seq));
        std::fs::write(&path, &s.data).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ffprobe failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
        assert!(
            stdout.contains("h264") && stdout.contains("aac"),
            "{stdout}"
        );
        // Decode every frame: counts errors that a header probe would miss.
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "ffmpeg decode: {stderr}"
        );
    }
    let pl = dir.join("index.m3u8");
    // ENDLIST, or ffprobe keeps reloading a live playlist.
    let text = h.playlist("[seq].ts") + "#EXT-X-ENDLIST\n";
    std::fs::write(&pl, text).unwrap();
    // Through the playlist, every video frame of the fixture is there.
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(&pl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let frames = stdout.lines().find(|l| !l.trim().is_empty());
    assert_eq!(frames, Some("30"), "video packets read through the m3u8");
    let _ = std::fs::remove_dir_all(&dir);
}
