//! An MP4 recording, written with the `mp4` crate: `ftyp`, one `mdat`
//! growing as samples come, and the `moov` (sample tables) at the end, so a
//! file is readable once [`Mp4File::finish`] has run.
//!
//! Tracks: H.264 (timescale 1000, the FLV milliseconds, with composition
//! offsets) and AAC (timescale the sample rate). Both are added when their
//! sequence headers are known; tags are held until then (at most
//! [`HOLD_MS`] of media or [`HOLD_TAGS`] tags, after which the file starts
//! with what it has). The file starts at the first video keyframe; audio
//! before it is dropped so both tracks start together. A sample's duration
//! is the distance to the next one of its track.

use std::io::{Seek, Write};

use bytes::{BufMut, Bytes, BytesMut};
use mp4::{
    AacConfig, AudioObjectType, ChannelConfig, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer,
    SampleFreqIndex, TrackConfig, TrackType,
};

use super::{DvrError, Jitter};
use crate::config::TimeJitter;
use crate::live::aac::AudioSpecificConfig;
use crate::live::avc::{avcc_nalus, sps_dimensions, AvcConfig, AvcTagHeader};
use crate::live::flv::{codec, FlvTag, TagKind};

/// Media held while waiting for both sequence headers, in ms.
pub const HOLD_MS: u32 = 3000;

/// Tags held while waiting for both sequence headers.
pub const HOLD_TAGS: usize = 512;

/// Movie timescale (ms).
const MOVIE_TIMESCALE: u32 = 1000;

fn mp4_err(what: &'static str) -> impl FnOnce(mp4::Error) -> DvrError {
    move |e| DvrError::Mp4 {
        what,
        reason: e.to_string(),
    }
}

/// One sample held until the next of its track gives its duration.
#[derive(Debug)]
struct Held {
    dts_ms: u32,
    cts_ms: i32,
    sync: bool,
    bytes: Bytes,
}

/// A track of the file.
#[derive(Debug)]
struct Track {
    id: u32,
    /// Samples per second of its timescale.
    rate: u32,
    held: Option<Held>,
    /// Duration of the last sample written, in ticks (for the last one).
    last_duration: u32,
}

impl Track {
    fn ticks(&self, ms: u32) -> u64 {
        u64::from(ms) * u64::from(self.rate) / 1000
    }
}

/// An MP4 file being written.
#[derive(Debug)]
pub struct Mp4File<W: Write + Seek> {
    out: Option<W>,
    writer: Option<Mp4Writer<W>>,
    jitter: Jitter,
    video_config: Option<(AvcConfig, u16, u16)>,
    audio_config: Option<AudioSpecificConfig>,
    pending: Vec<FlvTag>,
    video: Option<Track>,
    audio: Option<Track>,
    /// DTS of the first keyframe (audio before it is dropped).
    first_keyframe: Option<u32>,
    last_ms: u32,
}

impl<W: Write + Seek> Mp4File<W> {
    /// A file on `out`; nothing is written before the first tag.
    pub fn new(out: W, jitter: TimeJitter) -> Self {
        Self {
            out: Some(out),
            writer: None,
            jitter: Jitter::new(jitter),
            video_config: None,
            audio_config: None,
            pending: Vec::new(),
            video: None,
            audio: None,
            first_keyframe: None,
            last_ms: 0,
        }
    }

    /// Takes one tag: a sequence header, or a sample of a track.
    pub fn write(&mut self, tag: &FlvTag) -> Result<(), DvrError> {
        if self.writer.is_none() {
            self.on_header(tag);
            if tag.is_sequence_header() || tag.kind == TagKind::Script {
                return Ok(());
            }
            self.pending.push(tag.clone());
            let span = self
                .pending
                .last()
                .map_or(0, |l| l.timestamp_ms)
                .wrapping_sub(self.pending[0].timestamp_ms);
            let both = self.video_config.is_some() && self.audio_config.is_some();
            if both || span >= HOLD_MS || self.pending.len() >= HOLD_TAGS {
                self.begin()?;
            }
            return Ok(());
        }
        self.sample(tag)
    }

    /// Remembers the first sequence header of each codec (later changes
    /// cannot be described in the tracks already written and are ignored).
    fn on_header(&mut self, tag: &FlvTag) {
        if tag.is_video_sequence_header() && tag.video_codec_id() == Some(codec::VIDEO_AVC) {
            if self.video_config.is_none() {
                if let Ok(cfg) = tag
                    .data
                    .get(5..)
                    .ok_or(())
                    .and_then(|b| AvcConfig::parse(b).map_err(|_| ()))
                {
                    let (w, h) = sps_dimensions(&cfg.sps[0]).unwrap_or((0, 0));
                    let dim = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
                    self.video_config = Some((cfg, dim(w), dim(h)));
                }
            }
        } else if tag.is_audio_sequence_header() && self.audio_config.is_none() {
            self.audio_config = tag
                .data
                .get(2..)
                .and_then(|b| AudioSpecificConfig::parse(b).ok());
        }
    }

    /// Adds the tracks known now and writes what was held.
    fn begin(&mut self) -> Result<(), DvrError> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let brand = |s: &str| s.parse().unwrap_or_else(|_| unreachable!("4-letter brand"));
        let config = Mp4Config {
            major_brand: brand("isom"),
            minor_version: 512,
            compatible_brands: ["isom", "iso2", "avc1", "mp41"].map(brand).to_vec(),
            timescale: MOVIE_TIMESCALE,
        };
        let mut writer = Mp4Writer::write_start(out, &config).map_err(mp4_err("ftyp"))?;
        let mut next_id = 1;
        if let Some((cfg, width, height)) = &self.video_config {
            writer
                .add_track(&TrackConfig {
                    track_type: TrackType::Video,
                    timescale: 1000,
                    language: "und".into(),
                    media_conf: MediaConfig::AvcConfig(mp4::AvcConfig {
                        width: *width,
                        height: *height,
                        seq_param_set: cfg.sps[0].clone(),
                        pic_param_set: cfg.pps[0].clone(),
                    }),
                })
                .map_err(mp4_err("video track"))?;
            self.video = Some(Track {
                id: next_id,
                rate: 1000,
                held: None,
                last_duration: 33,
            });
            next_id += 1;
        }
        if let Some(asc) = self.audio_config {
            let aac = (
                AudioObjectType::try_from(asc.object_type),
                SampleFreqIndex::try_from(asc.sample_rate_index),
                ChannelConfig::try_from(asc.channels),
            );
            if let (Ok(profile), Ok(freq_index), Ok(chan_conf)) = aac {
                writer
                    .add_track(&TrackConfig {
                        track_type: TrackType::Audio,
                        timescale: asc.sample_rate(),
                        language: "und".into(),
                        media_conf: MediaConfig::AacConfig(AacConfig {
                            bitrate: 0,
                            profile,
                            freq_index,
                            chan_conf,
                        }),
                    })
                    .map_err(mp4_err("audio track"))?;
                self.audio = Some(Track {
                    id: next_id,
                    rate: asc.sample_rate(),
                    held: None,
                    last_duration: 1024,
                });
            }
        }
        self.writer = Some(writer);
        for tag in std::mem::take(&mut self.pending) {
            self.sample(&tag)?;
        }
        Ok(())
    }

    /// One audio or video sample of a track that exists.
    fn sample(&mut self, tag: &FlvTag) -> Result<(), DvrError> {
        let held = match tag.kind {
            TagKind::Video => {
                if self.video.is_none() || tag.video_codec_id() != Some(codec::VIDEO_AVC) {
                    return Ok(());
                }
                let Ok((h, body)) = AvcTagHeader::parse(&tag.data) else {
                    return Ok(());
                };
                if h.packet_type != 1 {
                    return Ok(());
                }
                if self.first_keyframe.is_none() {
                    if !h.keyframe {
                        return Ok(());
                    }
                    self.first_keyframe = Some(tag.timestamp_ms);
                }
                let len_size = self
                    .video_config
                    .as_ref()
                    .map_or(4, |c| c.0.nalu_length_size);
                let Some(bytes) = to_length4(body, len_size) else {
                    return Ok(());
                };
                Held {
                    dts_ms: 0,
                    cts_ms: h.cts,
                    sync: h.keyframe,
                    bytes,
                }
            }
            TagKind::Audio => {
                if self.audio.is_none()
                    || tag.audio_codec_id() != Some(codec::AUDIO_AAC)
                    || tag.data.get(1) != Some(&1)
                {
                    return Ok(());
                }
                if self.video.is_some() {
                    match self.first_keyframe {
                        Some(k) if tag.timestamp_ms.wrapping_sub(k) < u32::MAX / 2 => {}
                        _ => return Ok(()),
                    }
                }
                Held {
                    dts_ms: 0,
                    cts_ms: 0,
                    sync: true,
                    bytes: tag.data.slice(2..),
                }
            }
            TagKind::Script => return Ok(()),
        };
        let dts_ms = self.jitter.correct(tag);
        self.last_ms = self.last_ms.max(dts_ms);
        let held = Held { dts_ms, ..held };
        let (writer, track) = match (self.writer.as_mut(), tag.kind) {
            (Some(w), TagKind::Video) => (w, self.video.as_mut()),
            (Some(w), _) => (w, self.audio.as_mut()),
            (None, _) => return Ok(()),
        };
        let Some(track) = track else {
            return Ok(());
        };
        if let Some(prev) = track.held.take() {
            let ticks = track
                .ticks(held.dts_ms)
                .saturating_sub(track.ticks(prev.dts_ms));
            let duration = u32::try_from(ticks).unwrap_or(u32::MAX);
            track.last_duration = duration;
            write_sample(writer, track, prev, duration)?;
        }
        track.held = Some(held);
        Ok(())
    }

    /// Writes the last samples and the moov; returns the output and the
    /// duration written, in ms.
    pub fn finish(mut self) -> Result<(W, u32), DvrError> {
        if self.writer.is_none() {
            self.begin()?;
        }
        let Some(mut writer) = self.writer.take() else {
            // `begin` only leaves no writer when it already failed.
            return Err(DvrError::Mp4 {
                what: "moov",
                reason: "the file was never started".into(),
            });
        };
        for track in [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(prev) = track.held.take() {
                let d = track.last_duration;
                write_sample(&mut writer, track, prev, d)?;
            }
        }
        writer.write_end().map_err(mp4_err("moov"))?;
        let mut out = writer.into_writer();
        out.flush()?;
        Ok((out, self.last_ms))
    }
}

fn write_sample<W: Write + Seek>(
    writer: &mut Mp4Writer<W>,
    track: &Track,
    s: Held,
    duration: u32,
) -> Result<(), DvrError> {
    let sample = Mp4Sample {
        start_time: track.ticks(s.dts_ms),
        duration,
        rendering_offset: i32::try_from(i64::from(s.cts_ms) * i64::from(track.rate) / 1000)
            .unwrap_or(0),
        is_sync: s.sync,
        bytes: s.bytes,
    };
    writer
        .write_sample(track.id, &sample)
        .map_err(mp4_err("sample"))
}

/// An AVCC sample with `len_size`-byte NAL unit lengths, as MP4's 4-byte
/// ones (`None` when it does not parse).
fn to_length4(body: &[u8], len_size: usize) -> Option<Bytes> {
    if len_size == 4 {
        return Some(Bytes::copy_from_slice(body));
    }
    let nalus = avcc_nalus(body, len_size).ok()?;
    let mut out = BytesMut::with_capacity(body.len() + 4 * nalus.len());
    for n in nalus {
        out.put_u32(u32::try_from(n.len()).ok()?);
        out.put_slice(n);
    }
    Some(out.freeze())
}
