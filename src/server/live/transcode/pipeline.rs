//! One stream's transcoder, sans-IO: compressed frames with their times in,
//! compressed frames with their times out. Decoder → resampler (to 48 kHz) →
//! FIFO cutting encoder-sized frames → encoder.
//!
//! Output times follow a sample clock: each input frame is expected where
//! the previous one ended. Jitter (RTMP's millisecond times) is absorbed, a
//! short gap (a lost packet) is filled with silence, and anything else
//! (a jump, time going backwards) re-anchors the clock on the input.

#[cfg(feature = "fdk-aac")]
use std::collections::VecDeque;

use bytes::Bytes;

use super::codecs::{AacDecoder, OpusDecoder, OpusEncoder, CHANNELS, OPUS_FRAME, RATE};
use super::resample::Resampler;
use super::{AudioOut, Direction, TranscodeError};

/// Input time differences up to this (1/48000 s) count as jitter: 10 ms.
const JITTER: i64 = 480;
/// Gaps up to this (1/48000 s) are filled with silence: 200 ms.
const MAX_GAP: i64 = 9600;

enum Decoder {
    Aac(Box<AacDecoder>),
    Opus(OpusDecoder),
}

enum Encoder {
    Opus(OpusEncoder),
    #[cfg(feature = "fdk-aac")]
    Aac(super::codecs::AacEncoder),
}

/// Decoder → resampler → FIFO → encoder, for one stream.
pub(super) struct Transcoder {
    dec: Decoder,
    enc: Encoder,
    /// Made on the first decoded frame, when the input rate is known.
    resampler: Option<Resampler>,
    /// 48 kHz interleaved stereo waiting for a full encoder frame.
    fifo: Vec<f32>,
    /// Time (1/48000 s) of the first sample in `fifo`.
    fifo_pts: i64,
    /// Where the next input frame should start (1/48000 s).
    expected: Option<i64>,
    /// Times of the frames the encoder holds (it may emit them later).
    #[cfg(feature = "fdk-aac")]
    in_flight: VecDeque<i64>,
    /// Samples per channel in one encoder frame.
    frame: usize,
    /// The encoder's delay, taken off output times as FFmpeg does.
    delay: i64,
    extradata: Bytes,
}

impl Transcoder {
    /// A transcoder for `dir`; `config` is the input's AudioSpecificConfig
    /// (AAC) or empty (Opus); `bitrate` the output's, in bit/s.
    pub(super) fn new(
        dir: Direction,
        config: &[u8],
        bitrate: u32,
        stream: &str,
    ) -> Result<Self, TranscodeError> {
        let (dec, enc, frame, delay, extradata) = match dir {
            Direction::AacToOpus => {
                let dec = Decoder::Aac(Box::new(AacDecoder::new(config, stream)?));
                let enc = OpusEncoder::new(bitrate)?;
                let delay = enc.delay();
                (dec, Encoder::Opus(enc), OPUS_FRAME, delay, Bytes::new())
            }
            Direction::OpusToAac => {
                let dec = Decoder::Opus(OpusDecoder::new()?);
                #[cfg(feature = "fdk-aac")]
                {
                    use super::codecs::AacEncoder;
                    let enc = AacEncoder::new(bitrate)?;
                    let (delay, asc) = (enc.delay, Bytes::from(enc.asc.clone()));
                    (dec, Encoder::Aac(enc), AacEncoder::FRAME, delay, asc)
                }
                #[cfg(not(feature = "fdk-aac"))]
                {
                    let _ = (dec, bitrate);
                    return Err(TranscodeError::NoAacEncoder);
                }
            }
        };
        Ok(Self {
            dec,
            enc,
            resampler: None,
            fifo: Vec::with_capacity(4 * frame * CHANNELS),
            fifo_pts: 0,
            expected: None,
            #[cfg(feature = "fdk-aac")]
            in_flight: VecDeque::new(),
            frame,
            delay: delay as i64,
            extradata,
        })
    }

    /// The encoder's codec configuration (AAC AudioSpecificConfig; empty for Opus).
    pub(super) fn extradata(&self) -> Bytes {
        self.extradata.clone()
    }

    /// Transcodes one input frame whose first sample is at `pts` (1/48000 s).
    /// A frame the decoder refuses is an error and changes nothing.
    pub(super) fn transcode(
        &mut self,
        data: &[u8],
        pts: i64,
    ) -> Result<Vec<AudioOut>, TranscodeError> {
        let (pcm, rate) = match &mut self.dec {
            Decoder::Aac(d) => d.decode(data)?,
            Decoder::Opus(d) => (d.decode(data)?, RATE),
        };
        if pcm.is_empty() || rate == 0 {
            return Ok(Vec::new());
        }
        let resampler = match &mut self.resampler {
            Some(r) if r.input_rate() == rate => r,
            r => {
                self.expected = None;
                r.insert(Resampler::new(rate, RATE)?)
            }
        };
        let to_48k = |n: usize| n as i64 * i64::from(RATE) / i64::from(rate);
        let expected = match self.expected {
            Some(e) if (pts - e).abs() <= JITTER => e,
            Some(e) if pts > e && pts - e <= MAX_GAP => {
                let gap = ((pts - e) * i64::from(rate) / i64::from(RATE)) as usize;
                resampler.push(&vec![0.0; gap * CHANNELS], &mut self.fifo);
                pts
            }
            _ => {
                // First frame, or a jump: start the sample clock on this frame.
                resampler.reset();
                self.fifo.clear();
                self.fifo_pts = pts;
                pts
            }
        };
        self.expected = Some(expected + to_48k(pcm.len() / CHANNELS));
        resampler.push(pcm, &mut self.fifo);
        self.drain()
    }

    /// Encodes every full frame in the FIFO.
    fn drain(&mut self) -> Result<Vec<AudioOut>, TranscodeError> {
        let n = self.frame * CHANNELS;
        let mut out = Vec::new();
        let mut first_error = None;
        let mut at = 0;
        while self.fifo.len() - at >= n {
            let pcm = &self.fifo[at..at + n];
            let pts = self.fifo_pts;
            at += n;
            self.fifo_pts += self.frame as i64;
            let encoded = match &mut self.enc {
                Encoder::Opus(e) => e.encode(pcm).map(|p| Some((p, pts))),
                #[cfg(feature = "fdk-aac")]
                Encoder::Aac(e) => {
                    self.in_flight.push_back(pts);
                    e.encode(pcm)
                        .map(|au| au.map(|au| (au, self.in_flight.pop_front().unwrap_or(pts))))
                }
            };
            match encoded {
                Ok(Some((data, pts))) => out.push(AudioOut {
                    data: Bytes::from(data),
                    pts: pts - self.delay,
                }),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.fifo.drain(..at);
        match first_error {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// Input frames held by the resampler and FIFO, in 1/48000 s.
    #[cfg(all(test, feature = "fdk-aac"))]
    pub(super) fn buffered(&self) -> i64 {
        self.resampler.as_ref().map_or(0, |r| r.pending_at(RATE))
            + (self.fifo.len() / CHANNELS) as i64
    }
}
