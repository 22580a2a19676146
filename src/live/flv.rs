//! FLV: the tag model shared by RTMP, HTTP-FLV, the GOP cache and HLS, plus a
//! muxer and a sans-IO demuxer.
//!
//! An [`FlvTag`] is exactly an RTMP audio (8), video (9) or AMF0 data (18)
//! message: the tag body is the message payload, so RTMP and FLV convert
//! without copying.

use bytes::Bytes;
use thiserror::Error;

/// FLV/RTMP codec ids and packet types used by the helpers.
pub mod codec {
    /// Video codec id of H.264/AVC.
    pub const VIDEO_AVC: u8 = 7;
    /// Video codec id of H.265/HEVC (the Chinese/SRS extension).
    pub const VIDEO_HEVC: u8 = 12;
    /// Sound format of AAC.
    pub const AUDIO_AAC: u8 = 10;
    /// Sound format of MP3.
    pub const AUDIO_MP3: u8 = 2;
    /// Sound format of Opus (SRS extension).
    pub const AUDIO_OPUS: u8 = 13;
}

/// Largest tag body an FLV tag header can describe (24-bit size field).
pub const MAX_TAG_SIZE: usize = 0xFF_FFFF;

/// The kind of an FLV tag (its tag type / RTMP message type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// Audio (8).
    Audio,
    /// Video (9).
    Video,
    /// Script data, AMF0 (18): `onMetaData` and friends.
    Script,
}

impl TagKind {
    /// The FLV tag type / RTMP message type id.
    pub fn type_id(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
        }
    }

    /// The kind for an FLV tag type / RTMP message type id.
    pub fn from_type_id(id: u8) -> Option<Self> {
        match id {
            8 => Some(TagKind::Audio),
            9 => Some(TagKind::Video),
            18 => Some(TagKind::Script),
            _ => None,
        }
    }
}

/// One FLV tag: kind, timestamp and body (the RTMP message payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// Audio, video or script.
    pub kind: TagKind,
    /// Decode timestamp in milliseconds.
    pub timestamp_ms: u32,
    /// Tag body: for video `[frame type|codec][packet type][cts x3]...`, for audio `[format|rate|size|type][aac packet type]...`.
    pub data: Bytes,
}

impl FlvTag {
    /// A tag from its parts.
    pub fn new(kind: TagKind, timestamp_ms: u32, data: impl Into<Bytes>) -> Self {
        Self {
            kind,
            timestamp_ms,
            data: data.into(),
        }
    }

    /// Video codec id (low nibble of the first byte), for video tags.
    pub fn video_codec_id(&self) -> Option<u8> {
        match self.kind {
            TagKind::Video => self.data.first().map(|b| b & 0x0f),
            _ => None,
        }
    }

    /// Audio sound format (high nibble of the first byte), for audio tags.
    pub fn audio_codec_id(&self) -> Option<u8> {
        match self.kind {
            TagKind::Audio => self.data.first().map(|b| b >> 4),
            _ => None,
        }
    }

    /// A video keyframe that starts a GOP: frame type 1 and, for AVC/HEVC,
    /// packet type 1 (coded frames). Sequence headers and end-of-sequence
    /// tags (packet types 0 and 2, also marked frame type 1) are not keyframes.
    pub fn is_keyframe(&self) -> bool {
        if self.kind != TagKind::Video || self.data.first().is_none_or(|b| b >> 4 != 1) {
            return false;
        }
        match self.video_codec_id() {
            Some(codec::VIDEO_AVC | codec::VIDEO_HEVC) => self.data.get(1) == Some(&1),
            _ => true,
        }
    }

    /// An AVC/HEVC decoder configuration record or an AAC AudioSpecificConfig.
    pub fn is_sequence_header(&self) -> bool {
        self.is_video_sequence_header() || self.is_audio_sequence_header()
    }

    /// An AVC (or HEVC) sequence header: codec 7/12, packet type 0.
    pub fn is_video_sequence_header(&self) -> bool {
        matches!(
            self.video_codec_id(),
            Some(codec::VIDEO_AVC | codec::VIDEO_HEVC)
        ) && self.data.get(1) == Some(&0)
    }

    /// An AAC sequence header: sound format 10, packet type 0.
    pub fn is_audio_sequence_header(&self) -> bool {
        self.audio_codec_id() == Some(codec::AUDIO_AAC) && self.data.get(1) == Some(&0)
    }

    /// A script tag whose first AMF0 value is the string `onMetaData` (or
    /// `@setDataFrame`, which RTMP publishers put in front of it).
    pub fn is_metadata(&self) -> bool {
        if self.kind != TagKind::Script {
            return false;
        }
        let d = &self.data[..];
        d.len() >= 3 && d[0] == 2 && {
            let n = usize::from(u16::from_be_bytes([d[1], d[2]]));
            matches!(d.get(3..3 + n), Some(b"onMetaData" | b"@setDataFrame"))
        }
    }
}

/// Errors of the FLV muxer and demuxer.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FlvError {
    /// The file does not start with `FLV`.
    #[error("not an FLV stream: signature {0:02x?}")]
    BadSignature([u8; 3]),
    /// The header's data offset is smaller than 9 or unreasonably large.
    #[error("FLV header data offset {0} out of range 9..=1024")]
    BadHeaderSize(u32),
    /// A tag type other than 8, 9 or 18 (or with the filter/encryption bit set).
    #[error("unsupported FLV tag type {0:#04x}")]
    UnknownTagType(u8),
    /// A PreviousTagSize field that disagrees with the tag before it.
    #[error("previous tag size {found} does not match the tag length {expected}")]
    PrevTagSizeMismatch {
        /// 11 + body length of the tag before.
        expected: u32,
        /// The value found.
        found: u32,
    },
    /// A tag body longer than the 24-bit size field allows.
    #[error("tag body of {0} bytes exceeds the FLV limit of 16 MiB")]
    TagTooLarge(usize),
}

/// Writes an FLV stream: a header, then tags each followed by its size.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlvMuxer;

impl FlvMuxer {
    /// The 9-byte FLV header plus PreviousTagSize0 (13 bytes).
    pub fn header(has_audio: bool, has_video: bool) -> [u8; 13] {
        let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
        [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
    }

    /// Append one tag (11-byte header, body, PreviousTagSize) to `out`.
    pub fn write_tag(tag: &FlvTag, out: &mut Vec<u8>) -> Result<(), FlvError> {
        let len = tag.data.len();
        if len > MAX_TAG_SIZE {
            return Err(FlvError::TagTooLarge(len));
        }
        let ts = tag.timestamp_ms;
        out.reserve(15 + len);
        out.push(tag.kind.type_id());
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        out.push((ts >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&tag.data);
        out.extend_from_slice(&(11 + len as u32).to_be_bytes());
        Ok(())
    }
}

/// The stream header as read by the demuxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// The audio flag.
    pub has_audio: bool,
    /// The video flag.
    pub has_video: bool,
}

/// Reads an FLV stream from bytes as they arrive.
#[derive(Debug, Default)]
pub struct FlvDemuxer {
    buf: Vec<u8>,
    pos: usize,
    header: Option<FlvHeader>,
    /// Length of the previous tag (for the PreviousTagSize check); `None` before the first.
    prev_len: Option<u32>,
}

impl FlvDemuxer {
    /// A demuxer expecting the FLV header.
    pub fn new() -> Self {
        Self::default()
    }

    /// The header, once read.
    pub fn header(&self) -> Option<FlvHeader> {
        self.header
    }

    /// Append input bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos > 64 * 1024) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete tag; `Ok(None)` when more input is needed.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        if self.header.is_none() {
            let d = &self.buf[self.pos..];
            if d.len() < 9 {
                if d.len() >= 3 && &d[..3] != b"FLV" {
                    return Err(FlvError::BadSignature([d[0], d[1], d[2]]));
                }
                return Ok(None);
            }
            if &d[..3] != b"FLV" {
                return Err(FlvError::BadSignature([d[0], d[1], d[2]]));
            }
            let offset = u32::from_be_bytes([d[5], d[6], d[7], d[8]]);
            if !(9..=1024).contains(&offset) {
                return Err(FlvError::BadHeaderSize(offset));
            }
            if d.len() < offset as usize {
                return Ok(None);
            }
            self.header = Some(FlvHeader {
                has_audio: d[4] & 4 != 0,
                has_video: d[4] & 1 != 0,
            });
            self.pos += offset as usize;
        }
        // PreviousTagSize, then an 11-byte tag header.
        let d = &self.buf[self.pos..];
        if d.len() < 15 {
            return Ok(None);
        }
        let found = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        let expected = self.prev_len.unwrap_or(0);
        if found != expected {
            return Err(FlvError::PrevTagSizeMismatch { expected, found });
        }
        let h = &d[4..15];
        let Some(kind) = TagKind::from_type_id(h[0]) else {
            return Err(FlvError::UnknownTagType(h[0]));
        };
        let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let ts = (u32::from(h[7]) << 24)
            | (u32::from(h[4]) << 16)
            | (u32::from(h[5]) << 8)
            | u32::from(h[6]);
        if d.len() < 15 + len {
            return Ok(None);
        }
        let data = Bytes::copy_from_slice(&d[15..15 + len]);
        self.pos += 15 + len;
        self.prev_len = Some(11 + len as u32);
        Ok(Some(FlvTag {
            kind,
            timestamp_ms: ts,
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/live/testsrc_2s.flv"
        );
        std::fs::read(path).expect("fixture tests/fixtures/live/testsrc_2s.flv")
    }

    pub(crate) fn fixture_tags() -> Vec<FlvTag> {
        let mut d = FlvDemuxer::new();
        d.push(&fixture());
        let mut tags = Vec::new();
        while let Some(t) = d.next_tag().unwrap() {
            tags.push(t);
        }
        tags
    }

    #[test]
    fn demuxes_the_ffmpeg_fixture() {
        let tags = fixture_tags();
        assert!(tags[0].is_metadata(), "ffmpeg writes onMetaData first");
        let vsh = tags.iter().filter(|t| t.is_video_sequence_header()).count();
        let ash = tags.iter().filter(|t| t.is_audio_sequence_header()).count();
        assert_eq!((vsh, ash), (1, 1));
        let keys = tags.iter().filter(|t| t.is_keyframe()).count();
        assert_eq!(
            keys, 2,
            "2 s at -g 15 and 15 fps (plus an end-of-sequence tag)"
        );
        let video = tags.iter().filter(|t| t.kind == TagKind::Video).count();
        assert!((29..=32).contains(&video), "{video} video tags");
        assert!(tags
            .iter()
            .any(|t| t.audio_codec_id() == Some(codec::AUDIO_AAC)));
        assert!(tags
            .iter()
            .all(|t| t.kind != TagKind::Video || t.video_codec_id() == Some(codec::VIDEO_AVC)));
        let last = tags.iter().map(|t| t.timestamp_ms).max().unwrap();
        assert!((1900..=2100).contains(&last), "last ts {last}");
    }

    #[test]
    fn byte_by_byte_matches_whole() {
        let data = fixture();
        let mut d = FlvDemuxer::new();
        let mut tags = Vec::new();
        for b in &data {
            d.push(std::slice::from_ref(b));
            while let Some(t) = d.next_tag().unwrap() {
                tags.push(t);
            }
        }
        assert_eq!(tags, fixture_tags());
        assert_eq!(
            d.header(),
            Some(FlvHeader {
                has_audio: true,
                has_video: true
            })
        );
    }

    #[test]
    fn mux_then_demux_round_trips() {
        let tags = fixture_tags();
        let mut out = FlvMuxer::header(true, true).to_vec();
        for t in &tags {
            FlvMuxer::write_tag(t, &mut out).unwrap();
        }
        let mut d = FlvDemuxer::new();
        d.push(&out);
        let mut back = Vec::new();
        while let Some(t) = d.next_tag().unwrap() {
            back.push(t);
        }
        assert_eq!(back, tags);
        // And the bytes equal what ffmpeg wrote after its header.
        let orig = fixture();
        assert_eq!(&out[13..], &orig[13..]);
    }

    #[test]
    fn extended_timestamp_byte() {
        let tag = FlvTag::new(TagKind::Audio, 0x1234_5678, vec![0xAF, 1]);
        let mut out = FlvMuxer::header(true, false).to_vec();
        FlvMuxer::write_tag(&tag, &mut out).unwrap();
        let mut d = FlvDemuxer::new();
        d.push(&out);
        assert_eq!(d.next_tag().unwrap().unwrap().timestamp_ms, 0x1234_5678);
    }

    #[test]
    fn bad_inputs() {
        let mut d = FlvDemuxer::new();
        d.push(b"FLX\x01\x05\0\0\0\x09");
        assert_eq!(d.next_tag(), Err(FlvError::BadSignature(*b"FLX")));

        let mut d = FlvDemuxer::new();
        d.push(b"FLV\x01\x05\0\0\0\x02");
        assert_eq!(d.next_tag(), Err(FlvError::BadHeaderSize(2)));

        let mut d = FlvDemuxer::new();
        let mut bytes = FlvMuxer::header(true, true).to_vec();
        bytes.extend_from_slice(&[0x0F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        d.push(&bytes);
        assert_eq!(d.next_tag(), Err(FlvError::UnknownTagType(0x0F)));

        let mut d = FlvDemuxer::new();
        let mut bytes = FlvMuxer::header(true, true).to_vec();
        FlvMuxer::write_tag(&FlvTag::new(TagKind::Audio, 0, vec![1, 2]), &mut bytes).unwrap();
        let n = bytes.len();
        bytes[n - 1] = 99;
        bytes.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        d.push(&bytes);
        assert!(d.next_tag().unwrap().is_some());
        assert_eq!(
            d.next_tag(),
            Err(FlvError::PrevTagSizeMismatch {
                expected: 13,
                found: 99
            })
        );

        let big = FlvTag::new(TagKind::Video, 0, vec![0u8; MAX_TAG_SIZE + 1]);
        assert_eq!(
            FlvMuxer::write_tag(&big, &mut Vec::new()),
            Err(FlvError::TagTooLarge(MAX_TAG_SIZE + 1))
        );
    }

    #[test]
    fn tag_helpers() {
        let avc_sh = FlvTag::new(TagKind::Video, 0, vec![0x17, 0, 0, 0, 0]);
        assert!(!avc_sh.is_keyframe() && avc_sh.is_sequence_header());
        let key = FlvTag::new(TagKind::Video, 0, vec![0x17, 1, 0, 0, 0]);
        assert!(key.is_keyframe() && !key.is_sequence_header());
        let eos = FlvTag::new(TagKind::Video, 0, vec![0x17, 2, 0, 0, 0]);
        assert!(!eos.is_keyframe() && !eos.is_sequence_header());
        let inter = FlvTag::new(TagKind::Video, 0, vec![0x27, 1, 0, 0, 0]);
        assert!(!inter.is_keyframe() && !inter.is_sequence_header());
        let aac_sh = FlvTag::new(TagKind::Audio, 0, vec![0xAF, 0, 0x12, 0x10]);
        assert!(aac_sh.is_audio_sequence_header() && !aac_sh.is_keyframe());
        let aac_raw = FlvTag::new(TagKind::Audio, 0, vec![0xAF, 1, 0x21]);
        assert!(!aac_raw.is_sequence_header());
        assert!(!FlvTag::new(TagKind::Audio, 0, Bytes::new()).is_sequence_header());
    }
}
