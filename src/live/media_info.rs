//! What a live stream carries, as SRS's `/api/v1/streams` describes it
//! (`video {codec, profile, level, width, height}`, `audio {codec,
//! sample_rate, channel, profile}`), learned from the publisher's tags: the
//! codec from the first tag of each kind, the rest from the sequence headers.

use serde::Serialize;

use crate::live::aac::AudioSpecificConfig;
use crate::live::avc::{sps_dimensions, AvcConfig};
use crate::live::flv::{codec, FlvTag, TagKind};

/// The video of a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VideoInfo {
    /// SRS's codec name: `H264`, `HEVC`, `AV1`, `VP6` or `Other`.
    pub codec: &'static str,
    /// The profile (`Baseline`, `Main`, `High`, ...; `Other` until known).
    pub profile: &'static str,
    /// The level (`3.1`, ...; `Other` until known).
    pub level: &'static str,
    /// Picture width from the SPS (0 until known).
    pub width: u32,
    /// Picture height from the SPS (0 until known).
    pub height: u32,
}

/// The audio of a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AudioInfo {
    /// SRS's codec name: `AAC`, `MP3`, `Opus` or `Other`.
    pub codec: &'static str,
    /// Sampling rate in Hz (from the AudioSpecificConfig for AAC, else the FLV header).
    pub sample_rate: u32,
    /// Channels (1 mono, 2 stereo, ...).
    pub channel: u8,
    /// AAC profile (`LC`, `HE`, `HEv2`, `Main`, `SSR`; `Other` for others).
    pub profile: &'static str,
}

/// The media of one publication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaInfo {
    /// Known once a video tag arrived.
    pub video: Option<VideoInfo>,
    /// Known once an audio tag arrived.
    pub audio: Option<AudioInfo>,
}

impl MediaInfo {
    /// Learns from one tag of the publisher; cheap for all but the first
    /// tag of each kind and the sequence headers.
    pub fn on_tag(&mut self, tag: &FlvTag) {
        match tag.kind {
            TagKind::Video if self.video.is_none() || tag.is_video_sequence_header() => {
                self.video = Some(video_info(tag));
            }
            TagKind::Audio if self.audio.is_none() || tag.is_audio_sequence_header() => {
                self.audio = Some(audio_info(tag));
            }
            _ => {}
        }
    }
}

fn video_info(tag: &FlvTag) -> VideoInfo {
    let id = tag.video_codec_id().unwrap_or(0);
    let mut v = VideoInfo {
        codec: match id {
            codec::VIDEO_AVC => "H264",
            codec::VIDEO_HEVC => "HEVC",
            // FLV's VP6 and VP6 with alpha; SRS's enhanced-RTMP AV1.
            4 | 5 => "VP6",
            13 => "AV1",
            _ => "Other",
        },
        profile: "Other",
        level: "Other",
        width: 0,
        height: 0,
    };
    if id == codec::VIDEO_AVC && tag.is_video_sequence_header() {
        if let Some(c) = tag.data.get(5..).and_then(|r| AvcConfig::parse(r).ok()) {
            v.profile = avc_profile(c.profile, c.compatibility);
            v.level = avc_level(c.level);
            if let Some((w, h)) = c.sps.first().and_then(|s| sps_dimensions(s)) {
                (v.width, v.height) = (w, h);
            }
        }
    }
    v
}

fn audio_info(tag: &FlvTag) -> AudioInfo {
    let first = tag.data.first().copied().unwrap_or(0);
    let id = first >> 4;
    let mut a = AudioInfo {
        codec: match id {
            codec::AUDIO_AAC => "AAC",
            codec::AUDIO_MP3 => "MP3",
            codec::AUDIO_OPUS => "Opus",
            _ => "Other",
        },
        // FLV's SoundRate and SoundType.
        sample_rate: [5512, 11025, 22050, 44100][usize::from((first >> 2) & 3)],
        channel: (first & 1) + 1,
        profile: "Other",
    };
    if tag.is_audio_sequence_header() {
        if let Some(c) = tag
            .data
            .get(2..)
            .and_then(|r| AudioSpecificConfig::parse(r).ok())
        {
            a.sample_rate = c.sample_rate();
            if c.channels > 0 {
                a.channel = c.channels;
            }
            a.profile = match c.object_type {
                1 => "Main",
                2 => "LC",
                3 => "SSR",
                5 => "HE",
                29 => "HEv2",
                _ => "Other",
            };
        }
    }
    a
}

/// SRS's names of H.264 profiles (`srs_avc_profile2str`), constraint flags
/// (`profile_compatibility`) included.
fn avc_profile(profile: u8, compatibility: u8) -> &'static str {
    let set1 = compatibility & 0x40 != 0;
    let set3 = compatibility & 0x10 != 0;
    match profile {
        66 if set1 => "Baseline(Constrained)",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 if set3 => "High(10+Intra)",
        110 => "High(10)",
        122 if set3 => "High(422+Intra)",
        122 => "High(422)",
        144 => "High(444)",
        244 if set3 => "High(444+Intra)",
        244 => "High(444+Predictive)",
        _ => "Other",
    }
}

/// SRS's names of H.264 levels (`srs_avc_level2str`).
fn avc_level(level: u8) -> &'static str {
    match level {
        10 => "1",
        11 => "1.1",
        12 => "1.2",
        13 => "1.3",
        20 => "2",
        21 => "2.1",
        22 => "2.2",
        30 => "3",
        31 => "3.1",
        32 => "3.2",
        40 => "4",
        41 => "4.1",
        42 => "4.2",
        50 => "5",
        51 => "5.1",
        52 => "5.2",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An AVC sequence header tag around x264's SPS of a 320x240 High 4:4:4 stream.
    fn avc_header() -> FlvTag {
        let sps = hex("67f4000d919b28283f6022000003000200000300641e28532c");
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut body = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        body.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        body.extend_from_slice(&sps);
        body.extend_from_slice(&[1, 0, pps.len() as u8]);
        body.extend_from_slice(&pps);
        FlvTag::new(TagKind::Video, 0, body)
    }

    #[test]
    fn learns_codecs_then_details_from_sequence_headers() {
        let mut m = MediaInfo::default();
        m.on_tag(&FlvTag::new(TagKind::Video, 0, vec![0x27, 1, 0, 0, 0, 0]));
        assert_eq!(m.video.as_ref().unwrap().codec, "H264");
        assert_eq!(m.video.as_ref().unwrap().profile, "Other");
        m.on_tag(&avc_header());
        assert_eq!(
            m.video,
            Some(VideoInfo {
                codec: "H264",
                profile: "High(444+Predictive)",
                level: "1.3",
                width: 320,
                height: 240,
            })
        );
        // AAC LC, 44.1 kHz stereo: AudioSpecificConfig 0x12 0x10.
        m.on_tag(&FlvTag::new(TagKind::Audio, 0, vec![0xaf, 0, 0x12, 0x10]));
        assert_eq!(
            m.audio,
            Some(AudioInfo {
                codec: "AAC",
                sample_rate: 44100,
                channel: 2,
                profile: "LC",
            })
        );
        // Coded frames change nothing.
        let before = m.clone();
        m.on_tag(&FlvTag::new(TagKind::Audio, 20, vec![0xaf, 1, 0x21]));
        m.on_tag(&FlvTag::new(TagKind::Video, 40, vec![0x27, 1, 0, 0, 0, 0]));
        assert_eq!(m, before);
    }

    #[test]
    fn other_codecs_and_garbage_are_named_not_parsed() {
        let mut m = MediaInfo::default();
        m.on_tag(&FlvTag::new(TagKind::Video, 0, vec![0x12]));
        m.on_tag(&FlvTag::new(TagKind::Audio, 0, vec![0x2e]));
        assert_eq!(m.video.unwrap().codec, "Other");
        let a = m.audio.unwrap();
        assert_eq!((a.codec, a.sample_rate, a.channel), ("MP3", 44100, 1));
        let mut m = MediaInfo::default();
        m.on_tag(&FlvTag::new(TagKind::Video, 0, vec![0x17, 0, 0, 0, 0, 1]));
        m.on_tag(&FlvTag::new(TagKind::Audio, 0, vec![0xaf, 0]));
        assert_eq!(m.video.unwrap().width, 0);
        assert_eq!(m.audio.unwrap().profile, "Other");
        assert_eq!(avc_level(31), "3.1");
        assert_eq!(avc_profile(66, 0xc0), "Baseline(Constrained)");
    }
}
