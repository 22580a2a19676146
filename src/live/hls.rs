//! [`HlsMuxer`]: FLV tags in, MPEG-TS segments and an m3u8 playlist out, all in memory.
//!
//! A segment is cut at a video keyframe once it holds at least `fragment` of
//! media (audio-only streams cut at any audio frame). The playlist keeps the
//! newest segments whose durations sum to at most `window` (always at least
//! one). Each segment starts with PAT/PMT and, on keyframes, SPS/PPS, so it
//! decodes on its own. Only H.264 and AAC are muxed; other codecs' tags are
//! skipped. SRS's `hls_td_ratio` is [`HlsMuxer::set_td_ratio`].
//! A segment over [`MAX_SEGMENT_BYTES`] is cut at the next video frame.
//! Not done yet: `#EXT-X-DISCONTINUITY` on timestamp jumps, and writing to `hls_path`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::live::aac::{AacError, AudioSpecificConfig};
use crate::live::avc::{self, AvcConfig, AvcError, AvcTagHeader};
use crate::live::flv::{codec, FlvTag, TagKind};
use crate::live::ts::TsMuxer;

/// A segment that grows past this many bytes is cut at the next frame even
/// without a keyframe, so a publisher that never sends one cannot grow memory.
pub const MAX_SEGMENT_BYTES: usize = 32 * 1024 * 1024;

/// Errors from malformed publisher data. The muxer stays usable: the bad tag is skipped.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HlsError {
    /// A malformed H.264 sequence header or frame.
    #[error("H.264: {0}")]
    Avc(#[from] AvcError),
    /// A malformed AAC sequence header or frame.
    #[error("AAC: {0}")]
    Aac(#[from] AacError),
}

/// One finished segment.
#[derive(Debug, Clone)]
pub struct HlsSegment {
    /// Media sequence number.
    pub seq: u64,
    /// Media duration.
    pub duration: Duration,
    /// The MPEG-TS bytes.
    pub data: Bytes,
}

/// The segment being written.
#[derive(Debug)]
struct OpenSegment {
    seq: u64,
    start_ms: u32,
    last_ms: u32,
    /// The PMT of this segment lists video / audio: only those PIDs may be written.
    video: bool,
    audio: bool,
    data: Vec<u8>,
}

/// The HLS segmenter of one stream.
#[derive(Debug)]
pub struct HlsMuxer {
    fragment: Duration,
    window: Duration,
    td_ratio: f64,
    ts: TsMuxer,
    avc: Option<AvcConfig>,
    asc: Option<AudioSpecificConfig>,
    current: Option<OpenSegment>,
    segments: VecDeque<HlsSegment>,
    next_seq: u64,
    scratch: Vec<u8>,
}

impl HlsMuxer {
    /// A segmenter cutting at `fragment` and keeping `window` of segments
    /// (SRS's `hls_fragment` and `hls_window`).
    pub fn new(fragment: Duration, window: Duration) -> Self {
        Self {
            fragment,
            window,
            td_ratio: 1.0,
            ts: TsMuxer::new(),
            avc: None,
            asc: None,
            current: None,
            segments: VecDeque::new(),
            next_seq: 0,
            scratch: Vec::new(),
        }
    }

    /// Cut only once a segment holds `fragment * ratio` (SRS's `hls_td_ratio`,
    /// 1.5 in SRS's full.conf; 1.0 here by default). Ratios below 0.1 are raised to 0.1.
    pub fn set_td_ratio(&mut self, ratio: f64) {
        self.td_ratio = ratio.max(0.1);
    }

    /// Feed one tag of the live stream, in timestamp order. An error names a
    /// malformed tag, which is skipped; later tags still work.
    pub fn push(&mut self, tag: &FlvTag) -> Result<(), HlsError> {
        match tag.kind {
            TagKind::Script => Ok(()),
            TagKind::Video => self.push_video(tag),
            TagKind::Audio => self.push_audio(tag),
        }
    }

    fn push_video(&mut self, tag: &FlvTag) -> Result<(), HlsError> {
        if tag.video_codec_id() != Some(codec::VIDEO_AVC) {
            return Ok(());
        }
        let (h, body) = AvcTagHeader::parse(&tag.data)?;
        match h.packet_type {
            0 => {
                self.avc = Some(AvcConfig::parse(body)?);
                return Ok(());
            }
            1 => {}
            _ => return Ok(()),
        }
        let ts = tag.timestamp_ms;
        let oversized = self
            .current
            .as_ref()
            .is_some_and(|s| s.data.len() > MAX_SEGMENT_BYTES);
        if h.keyframe || oversized {
            // A segment opened before the video config (audio first) has no
            // video in its PMT: cut it at the first keyframe.
            let force = oversized || self.current.as_ref().is_some_and(|s| !s.video);
            self.maybe_cut(ts, force);
        }
        let (Some(cfg), Some(seg)) = (&self.avc, &mut self.current) else {
            // No sequence header yet, or waiting for the first keyframe.
            return Ok(());
        };
        if !seg.video {
            return Ok(());
        }
        self.scratch.clear();
        avc::avcc_to_annexb(body, cfg, h.keyframe, &mut self.scratch)?;
        let dts = u64::from(ts) * 90;
        let pts = (i64::from(ts) + i64::from(h.cts)).max(0) as u64 * 90;
        self.ts
            .write_video(&mut seg.data, pts, dts, &self.scratch, h.keyframe);
        seg.last_ms = ts;
        Ok(())
    }

    fn push_audio(&mut self, tag: &FlvTag) -> Result<(), HlsError> {
        if tag.audio_codec_id() != Some(codec::AUDIO_AAC) || tag.data.len() < 2 {
            return Ok(());
        }
        if tag.data[1] == 0 {
            self.asc = Some(AudioSpecificConfig::parse(&tag.data[2..])?);
            return Ok(());
        }
        let ts = tag.timestamp_ms;
        if self.avc.is_none() {
            // Audio-only stream: any frame may start a segment.
            self.maybe_cut(ts, false);
        }
        let (Some(asc), Some(seg)) = (&self.asc, &mut self.current) else {
            return Ok(());
        };
        if !seg.audio {
            // The AAC config came after this segment's PMT: audio starts with the next segment.
            return Ok(());
        }
        let raw = &tag.data[2..];
        self.scratch.clear();
        self.scratch.extend_from_slice(&asc.adts_header(raw.len())?);
        self.scratch.extend_from_slice(raw);
        self.ts
            .write_audio(&mut seg.data, u64::from(ts) * 90, &self.scratch);
        seg.last_ms = ts;
        Ok(())
    }

    /// At a possible cut point: open the first segment, or close the current
    /// one and open the next once it holds `fragment` of media.
    fn maybe_cut(&mut self, ts: u32, force: bool) {
        if let Some(seg) = &self.current {
            let elapsed = Duration::from_millis(u64::from(ts.wrapping_sub(seg.start_ms)));
            if !force && elapsed < self.fragment.mul_f64(self.td_ratio) {
                return;
            }
            self.close_segment(ts);
        }
        let (video, audio) = (self.avc.is_some(), self.asc.is_some());
        let mut data = Vec::with_capacity(64 * 1024);
        self.ts.write_tables(&mut data, video, audio);
        self.current = Some(OpenSegment {
            seq: self.next_seq,
            start_ms: ts,
            last_ms: ts,
            video,
            audio,
            data,
        });
        self.next_seq += 1;
    }

    /// Finish the open segment at `end_ms` and trim the window.
    fn close_segment(&mut self, end_ms: u32) {
        let Some(seg) = self.current.take() else {
            return;
        };
        let duration = Duration::from_millis(u64::from(end_ms.wrapping_sub(seg.start_ms)));
        self.segments.push_back(HlsSegment {
            seq: seg.seq,
            duration,
            data: Bytes::from(seg.data),
        });
        let mut total: Duration = self.segments.iter().map(|s| s.duration).sum();
        while self.segments.len() > 1 && total > self.window {
            if let Some(old) = self.segments.pop_front() {
                total -= old.duration;
            }
        }
    }

    /// Close the open segment (on unpublish), so its media is listed too.
    pub fn flush(&mut self) {
        if let Some(seg) = &self.current {
            let end = seg.last_ms;
            self.close_segment(end);
        }
    }

    /// The finished segments in the window, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &HlsSegment> {
        self.segments.iter()
    }

    /// The TS bytes of segment `seq`, while it is in the window.
    pub fn segment(&self, seq: u64) -> Option<Bytes> {
        self.segments
            .iter()
            .find(|s| s.seq == seq)
            .map(|s| s.data.clone())
    }

    /// The m3u8 playlist. `ts_name_fmt` names each segment, with `[seq]`
    /// replaced by its sequence number (e.g. `livestream-[seq].ts`).
    pub fn playlist(&self, ts_name_fmt: &str) -> String {
        let first = self.segments.front().map_or(0, |s| s.seq);
        let max_ms = self
            .segments
            .iter()
            .map(|s| s.duration.as_millis())
            .max()
            .unwrap_or(0);
        let target = max_ms.div_ceil(1000).max(1);
        let mut m = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:NO\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        );
        for s in &self.segments {
            let name = ts_name_fmt.replace("[seq]", &s.seq.to_string());
            let _ = write!(m, "#EXTINF:{:.3},\n{name}\n", s.duration.as_secs_f64());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::flv::FlvDemuxer;

    fn fixture_tags() -> Vec<FlvTag> {
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
}
