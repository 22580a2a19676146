//! [`HlsMuxer`]: FLV tags in, MPEG-TS segments and an m3u8 playlist out, all in memory.
//!
//! A segment is cut at a video keyframe once it holds at least `fragment` of
//! media (audio-only streams cut at any audio frame). The playlist keeps the
//! newest segments whose durations sum to at most `window` (always at least
//! one), and at most [`MAX_SEGMENTS`] segments of at most [`MAX_WINDOW_BYTES`]
//! together. Each segment starts with PAT/PMT and, on keyframes, SPS/PPS, so it
//! decodes on its own. Only H.264 and AAC are muxed; other codecs' tags are
//! skipped. SRS's `hls_td_ratio` is [`HlsMuxer::set_td_ratio`].
//! A segment over [`MAX_SEGMENT_BYTES`] is cut at the next video frame.
//!
//! Timestamps must advance for a cut: a segment is only closed once it spans
//! more than 0 ms, so a publisher repeating one timestamp cannot make
//! zero-length segments (which no window would ever trim). Frames that
//! would grow a segment that cannot be cut past [`MAX_SEGMENT_BYTES`] are
//! dropped and counted ([`HlsMuxer::dropped`]).
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
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// Most finished segments kept in the window, whatever their durations.
pub const MAX_SEGMENTS: usize = 256;

/// Most bytes the finished segments of one stream may hold together; the
/// oldest are dropped first (the newest is always kept).
pub const MAX_WINDOW_BYTES: usize = 128 * 1024 * 1024;

/// The memory bounds of one stream's segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsLimits {
    /// Most finished segments kept ([`MAX_SEGMENTS`]).
    pub segments: usize,
    /// Most bytes of finished segments kept ([`MAX_WINDOW_BYTES`]).
    pub window_bytes: usize,
    /// Most bytes of one segment ([`MAX_SEGMENT_BYTES`]).
    pub segment_bytes: usize,
}

impl Default for HlsLimits {
    fn default() -> Self {
        Self {
            segments: MAX_SEGMENTS,
            window_bytes: MAX_WINDOW_BYTES,
            segment_bytes: MAX_SEGMENT_BYTES,
        }
    }
}

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
    /// Frames dropped because their segment was full and could not be cut.
    dropped: u64,
    limits: HlsLimits,
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
            dropped: 0,
            limits: HlsLimits::default(),
        }
    }

    /// Other memory bounds than the defaults (tests use small ones).
    pub fn set_limits(&mut self, limits: HlsLimits) {
        self.limits = limits;
    }

    /// Frames dropped because their segment held its byte limit and
    /// the timestamps had not advanced enough to cut it.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes held: finished segments and the open one.
    pub fn bytes(&self) -> usize {
        self.segments.iter().map(|s| s.data.len()).sum::<usize>()
            + self.current.as_ref().map_or(0, |s| s.data.len())
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
            .is_some_and(|s| s.data.len() + body.len() > self.limits.segment_bytes);
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
        if seg.data.len() + body.len() > self.limits.segment_bytes {
            self.dropped += 1;
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
        if seg.data.len() + raw.len() > self.limits.segment_bytes {
            // Video stalled (no cut point) while audio flows: bounded all the same.
            self.dropped += 1;
            return Ok(());
        }
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
            // Signed (wrapping) differences: a timestamp behind the start is
            // no progress, not 49 days of it.
            let to_ts = i64::from(ts.wrapping_sub(seg.start_ms) as i32);
            let to_last = i64::from(seg.last_ms.wrapping_sub(seg.start_ms) as i32);
            let span = to_ts.max(to_last);
            if span <= 0 {
                // No media time has passed: a cut would make a 0 s segment.
                return;
            }
            let elapsed = Duration::from_millis(to_ts.max(0) as u64);
            if !force && elapsed < self.fragment.mul_f64(self.td_ratio) {
                return;
            }
            self.close_segment(Duration::from_millis(span as u64));
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

    /// Finish the open segment, `duration` long, and trim the window by
    /// duration, count and bytes (keeping the newest segment).
    fn close_segment(&mut self, duration: Duration) {
        let Some(seg) = self.current.take() else {
            return;
        };
        self.segments.push_back(HlsSegment {
            seq: seg.seq,
            duration,
            data: Bytes::from(seg.data),
        });
        let mut total: Duration = self.segments.iter().map(|s| s.duration).sum();
        let mut bytes: usize = self.segments.iter().map(|s| s.data.len()).sum();
        while self.segments.len() > 1
            && (total > self.window
                || self.segments.len() > self.limits.segments
                || bytes > self.limits.window_bytes)
        {
            if let Some(old) = self.segments.pop_front() {
                total -= old.duration;
                bytes -= old.data.len();
            }
        }
    }

    /// Close the open segment (on unpublish), so its media is listed too;
    /// a segment spanning no time is dropped instead.
    pub fn flush(&mut self) {
        let Some(seg) = &self.current else {
            return;
        };
        let span = seg.last_ms.wrapping_sub(seg.start_ms) as i32;
        if span > 0 {
            self.close_segment(Duration::from_millis(span as u64));
        } else {
            self.current = None;
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
}
