//! [`GopCache`]: what a new player needs to start at once.
//!
//! It keeps the latest metadata, AVC sequence header and AAC sequence header,
//! and every tag since the last video keyframe. For an audio-only stream it
//! keeps the most recent audio tags. Both are bounded by tag count and bytes;
//! a GOP that outgrows the bound is dropped until the next keyframe (a player
//! then waits for that keyframe, as with SRS's `gop_cache off`).

use std::collections::VecDeque;

use crate::live::flv::{FlvTag, TagKind};

/// Default bound on cached tags (about 10 s of 30 fps video plus audio).
pub const DEFAULT_MAX_TAGS: usize = 1024;
/// Default bound on cached bytes.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The startup cache of one live stream.
#[derive(Debug, Clone)]
pub struct GopCache {
    metadata: Option<FlvTag>,
    video_header: Option<FlvTag>,
    audio_header: Option<FlvTag>,
    gop: VecDeque<FlvTag>,
    gop_bytes: usize,
    /// A video tag has been seen: the GOP must start at a keyframe.
    has_video: bool,
    max_tags: usize,
    max_bytes: usize,
}

impl Default for GopCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TAGS, DEFAULT_MAX_BYTES)
    }
}

impl GopCache {
    /// An empty cache bounded by `max_tags` tags and `max_bytes` bytes of tag bodies.
    pub fn new(max_tags: usize, max_bytes: usize) -> Self {
        Self {
            metadata: None,
            video_header: None,
            audio_header: None,
            gop: VecDeque::new(),
            gop_bytes: 0,
            has_video: false,
            max_tags,
            max_bytes,
        }
    }

    /// Record one tag of the live stream (cloning a `FlvTag` shares its bytes).
    pub fn push(&mut self, tag: &FlvTag) {
        if tag.kind == TagKind::Script {
            if tag.is_metadata() {
                self.metadata = Some(tag.clone());
            }
            return;
        }
        if tag.is_video_sequence_header() {
            self.video_header = Some(tag.clone());
            return;
        }
        if tag.is_audio_sequence_header() {
            self.audio_header = Some(tag.clone());
            return;
        }
        if tag.kind == TagKind::Video {
            if !self.has_video {
                // Audio cached before the first video tag is no GOP: start over.
                self.has_video = true;
                self.clear_gop();
            }
            if tag.is_keyframe() {
                self.clear_gop();
            } else if self.gop.is_empty() {
                // Still waiting for a keyframe.
                return;
            }
        } else if self.has_video && self.gop.is_empty() {
            return;
        }
        self.gop_bytes += tag.data.len();
        self.gop.push_back(tag.clone());
        if self.gop.len() > self.max_tags || self.gop_bytes > self.max_bytes {
            if self.has_video {
                self.clear_gop();
            } else {
                while self.gop.len() > self.max_tags || self.gop_bytes > self.max_bytes {
                    match self.gop.pop_front() {
                        Some(t) => self.gop_bytes -= t.data.len(),
                        None => break,
                    }
                }
            }
        }
    }

    /// Metadata, sequence headers, then the cached GOP, in send order.
    pub fn startup_tags(&self) -> impl Iterator<Item = &FlvTag> {
        self.metadata
            .iter()
            .chain(self.video_header.iter())
            .chain(self.audio_header.iter())
            .chain(self.gop.iter())
    }

    /// Tags in the current GOP (headers and metadata not counted).
    pub fn gop_len(&self) -> usize {
        self.gop.len()
    }

    /// Forget everything (on unpublish).
    pub fn clear(&mut self) {
        *self = Self::new(self.max_tags, self.max_bytes);
    }

    fn clear_gop(&mut self) {
        self.gop.clear();
        self.gop_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ts: u32, key: bool) -> FlvTag {
        FlvTag::new(
            TagKind::Video,
            ts,
            vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 1],
        )
    }
    fn a(ts: u32) -> FlvTag {
        FlvTag::new(TagKind::Audio, ts, vec![0xAF, 1, 0x21])
    }

    fn meta() -> FlvTag {
        let mut d = vec![2, 0, 10];
        d.extend_from_slice(b"onMetaData");
        d.push(5);
        FlvTag::new(TagKind::Script, 0, d)
    }

    #[test]
    fn starts_at_the_last_keyframe_after_headers() {
        let mut c = GopCache::default();
        c.push(&meta());
        c.push(&FlvTag::new(TagKind::Video, 0, vec![0x17, 0, 0, 0, 0, 1]));
        c.push(&FlvTag::new(TagKind::Audio, 0, vec![0xAF, 0, 0x12, 0x10]));
        c.push(&a(10));
        c.push(&v(20, false)); // before any keyframe: dropped
        c.push(&v(40, true));
        c.push(&a(50));
        c.push(&v(60, false));
        c.push(&v(1000, true));
        c.push(&a(1010));
        c.push(&v(1040, false));
        // FFmpeg ends AVC with an end-of-sequence tag marked as a keyframe: not a GOP start.
        c.push(&FlvTag::new(TagKind::Video, 1080, vec![0x17, 2, 0, 0, 0]));
        let got: Vec<(TagKind, u32)> = c.startup_tags().map(|t| (t.kind, t.timestamp_ms)).collect();
        assert_eq!(
            got,
            vec![
                (TagKind::Script, 0),
                (TagKind::Video, 0),
                (TagKind::Audio, 0),
                (TagKind::Video, 1000),
                (TagKind::Audio, 1010),
                (TagKind::Video, 1040),
                (TagKind::Video, 1080),
            ]
        );
        assert!(c.startup_tags().nth(1).unwrap().is_video_sequence_header());
        c.clear();
        assert_eq!(c.startup_tags().count(), 0);
    }

    #[test]
    fn oversized_gop_is_dropped_until_next_keyframe() {
        let mut c = GopCache::new(4, 1 << 20);
        c.push(&v(0, true));
        for i in 1..=4 {
            c.push(&v(i * 40, false));
        }
        assert_eq!(c.gop_len(), 0);
        c.push(&v(200, false));
        assert_eq!(c.gop_len(), 0);
        c.push(&v(240, true));
        assert_eq!(c.gop_len(), 1);

        let mut c = GopCache::new(100, 20);
        c.push(&v(0, true));
        for i in 1..=4 {
            c.push(&v(i * 40, false));
        }
        assert_eq!(c.gop_len(), 0, "bytes bound");
    }

    #[test]
    fn audio_only_keeps_recent_audio() {
        let mut c = GopCache::new(3, 1 << 20);
        for i in 0..10 {
            c.push(&a(i * 23));
        }
        let ts: Vec<u32> = c.startup_tags().map(|t| t.timestamp_ms).collect();
        assert_eq!(ts, vec![161, 184, 207]);
        // Video arrives: audio-only history is dropped, wait for a keyframe.
        c.push(&v(230, false));
        assert_eq!(c.gop_len(), 0);
        c.push(&a(240));
        assert_eq!(c.gop_len(), 0);
    }
}
