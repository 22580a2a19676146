//! Recording live streams (SRS's DVR), sans-IO.
//!
//! The runtime ([`crate::server::dvr`]) feeds each recorded stream's FLV
//! tags to a [`Segmenter`], which says where a file ends ([`Step`]) and
//! keeps the metadata and sequence headers every new file starts with. The
//! tags then go to a [`DvrFile`]: [`flv_file::FlvFile`] or
//! [`mp4_file::Mp4File`], both writing to any `Write + Seek` (a file, or a
//! `Cursor` in tests). [`path::dvr_path`] names the files.
//!
//! Timestamps: each file starts at zero; with `time_jitter full` they are
//! also kept from going backwards ([`Jitter`]); `off` leaves them as sent.

pub mod flv_file;
pub mod mp4_file;
pub mod path;

use std::io::{Seek, Write};
use std::time::Duration;

use crate::config::{DvrPlan, TimeJitter};
use crate::live::flv::{FlvTag, TagKind};

pub use path::{dvr_path, DvrFormat, WallClock};

/// Why writing a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum DvrError {
    /// The output refused a write or seek.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The MP4 muxer refused a track or sample.
    #[error("mp4 {what}: {reason}")]
    Mp4 {
        /// What was being written (a track, a sample, the moov).
        what: &'static str,
        /// The muxer's error.
        reason: String,
    },
}

/// What to do with one tag of a recorded stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write it to the current file.
    Write,
    /// Finish the current file, start a new one with
    /// [`Segmenter::headers`], then write the tag to it.
    Cut,
}

/// Decides where files end (`dvr_plan`, `dvr_duration`,
/// `dvr_wait_keyframe`) and keeps what a new file starts with.
#[derive(Debug)]
pub struct Segmenter {
    plan: DvrPlan,
    duration: Duration,
    wait_keyframe: bool,
    metadata: Option<FlvTag>,
    video_header: Option<FlvTag>,
    audio_header: Option<FlvTag>,
    /// Timestamp of the first media tag of the current file.
    started_ms: Option<u32>,
    has_video: bool,
}

impl Segmenter {
    /// A segmenter for a `plan` with segments of `duration`.
    pub fn new(plan: DvrPlan, duration: Duration, wait_keyframe: bool) -> Self {
        Self {
            plan,
            duration,
            wait_keyframe,
            metadata: None,
            video_header: None,
            audio_header: None,
            started_ms: None,
            has_video: false,
        }
    }

    /// Where `tag` goes.
    pub fn push(&mut self, tag: &FlvTag) -> Step {
        if tag.is_metadata() {
            self.metadata = Some(tag.clone());
            return Step::Write;
        }
        if tag.is_video_sequence_header() {
            self.video_header = Some(tag.clone());
            return Step::Write;
        }
        if tag.is_audio_sequence_header() {
            self.audio_header = Some(tag.clone());
            return Step::Write;
        }
        if tag.kind == TagKind::Video {
            self.has_video = true;
        }
        let Some(start) = self.started_ms else {
            self.started_ms = Some(tag.timestamp_ms);
            return Step::Write;
        };
        if self.plan != DvrPlan::Segment {
            return Step::Write;
        }
        let elapsed = u64::from(tag.timestamp_ms.wrapping_sub(start));
        let long_enough =
            elapsed >= self.duration.as_millis() as u64 && elapsed < u64::from(u32::MAX / 2);
        let at_cut_point = !self.wait_keyframe || !self.has_video || tag.is_keyframe();
        if long_enough && at_cut_point {
            self.started_ms = Some(tag.timestamp_ms);
            Step::Cut
        } else {
            Step::Write
        }
    }

    /// The metadata and sequence headers seen so far (what a new file
    /// starts with), at time zero.
    pub fn headers(&self) -> Vec<FlvTag> {
        [&self.metadata, &self.video_header, &self.audio_header]
            .into_iter()
            .flatten()
            .map(|t| FlvTag::new(t.kind, 0, t.data.clone()))
            .collect()
    }
}

/// Rebases a file's timestamps to start at zero (`full`, `zero`) and keeps
/// each track's from going backwards (`full`).
#[derive(Debug, Clone)]
pub struct Jitter {
    mode: TimeJitter,
    base: Option<u32>,
    last: [u32; 3],
}

impl Jitter {
    /// A jitter correction for one file.
    pub fn new(mode: TimeJitter) -> Self {
        Self {
            mode,
            base: None,
            last: [0; 3],
        }
    }

    /// The timestamp `tag` gets in the file. Sequence headers and metadata
    /// before the first media tag do not set the base.
    pub fn correct(&mut self, tag: &FlvTag) -> u32 {
        if self.mode == TimeJitter::Off {
            return tag.timestamp_ms;
        }
        let header = tag.is_sequence_header() || tag.kind == TagKind::Script;
        if self.base.is_none() && header {
            return 0;
        }
        let base = *self.base.get_or_insert(tag.timestamp_ms);
        let mut ts = tag.timestamp_ms.wrapping_sub(base);
        if ts > u32::MAX / 2 {
            // Before the base (audio a little ahead of the first keyframe).
            ts = 0;
        }
        if self.mode == TimeJitter::Full {
            let i = match tag.kind {
                TagKind::Audio => 0,
                TagKind::Video => 1,
                TagKind::Script => 2,
            };
            ts = ts.max(self.last[i]);
            self.last[i] = ts;
        }
        ts
    }
}

/// One recording file being written.
#[derive(Debug)]
pub enum DvrFile<W: Write + Seek> {
    /// An FLV file.
    Flv(flv_file::FlvFile<W>),
    /// An MP4 file (boxed: its sample tables are large).
    Mp4(Box<mp4_file::Mp4File<W>>),
}

impl<W: Write + Seek> DvrFile<W> {
    /// Starts a file of `format` on `out`.
    pub fn start(format: DvrFormat, out: W, jitter: TimeJitter) -> Result<Self, DvrError> {
        Ok(match format {
            DvrFormat::Flv => DvrFile::Flv(flv_file::FlvFile::start(out, jitter)?),
            DvrFormat::Mp4 => DvrFile::Mp4(Box::new(mp4_file::Mp4File::new(out, jitter))),
        })
    }

    /// Writes one tag.
    pub fn write(&mut self, tag: &FlvTag) -> Result<(), DvrError> {
        match self {
            DvrFile::Flv(f) => f.write(tag),
            DvrFile::Mp4(f) => f.write(tag),
        }
    }

    /// Completes the file (FLV: its duration; MP4: the moov) and returns
    /// the output and the media duration written, in ms.
    pub fn finish(self) -> Result<(W, u32), DvrError> {
        match self {
            DvrFile::Flv(f) => f.finish(),
            DvrFile::Mp4(f) => f.finish(),
        }
    }
}

#[cfg(test)]
mod tests;
