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
    /// The first segment after a republish: listed after
    /// `#EXT-X-DISCONTINUITY` (its timestamps and codec state start afresh).
    pub discontinuity: bool,
}

/// The segment being written.
#[derive(Debug)]
struct OpenSegment {
    seq: u64,
    discontinuity: bool,
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
    /// The next segment opened follows a republish.
    discontinuity_next: bool,
    /// Discontinuities that slid out of the window
    /// (`#EXT-X-DISCONTINUITY-SEQUENCE`).
    discontinuity_seq: u64,
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
            discontinuity_next: false,
            discontinuity_seq: 0,
            scratch: Vec::new(),
            dropped: 0,
            limits: HlsLimits::default(),
        }
    }

    /// Carry on after a republish, as SRS does: the window and the media
    /// sequence numbers go on (a player polling the playlist keeps its
    /// place), the codec and timestamp state start afresh, and the first
    /// new segment follows `#EXT-X-DISCONTINUITY`. The settings are the
    /// new publish's.
    pub fn republish(&mut self, fragment: Duration, window: Duration, td_ratio: f64) {
        self.flush();
        self.fragment = fragment;
        self.window = window;
        self.set_td_ratio(td_ratio);
        self.ts = TsMuxer::new();
        self.avc = None;
        self.asc = None;
        self.discontinuity_next = !self.segments.is_empty();
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
            discontinuity: std::mem::take(&mut self.discontinuity_next),
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
            discontinuity: seg.discontinuity,
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
                self.discontinuity_seq += u64::from(old.discontinuity);
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
        if self.discontinuity_seq > 0 {
            let _ = writeln!(
                m,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_seq
            );
        }
        for s in &self.segments {
            if s.discontinuity {
                m.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let name = ts_name_fmt.replace("[seq]", &s.seq.to_string());
            let _ = write!(m, "#EXTINF:{:.3},\n{name}\n", s.duration.as_secs_f64());
        }
        m
    }
}

#[cfg(test)]
#[path = "hls_tests.rs"]
pub(crate) mod tests;
