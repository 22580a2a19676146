//! The codecs behind the transcoder, each behind a small safe type: Opus
//! encode/decode (`unsafe-libopus`, libopus 1.3.1 translated to Rust), AAC
//! decode (`symphonia-codec-aac`) and AAC-LC encode (`fdk-aac`, feature
//! `fdk-aac`). All PCM here is interleaved stereo `f32` in [-1, 1].

use symphonia_core::audio::SampleBuffer;
use symphonia_core::codecs::{CodecParameters, Decoder as _, DecoderOptions, CODEC_TYPE_AAC};
use symphonia_core::formats::Packet;

use super::TranscodeError;

/// Output channels of every decoder and input channels of every encoder.
pub(super) const CHANNELS: usize = 2;
/// The Opus clock, and the rate of every encoder here.
pub(super) const RATE: u32 = 48_000;
/// Samples per channel in one Opus frame (20 ms).
pub(super) const OPUS_FRAME: usize = 960;
/// Largest Opus frame (120 ms at 48 kHz), per channel.
const OPUS_MAX_FRAME: usize = 5760;
/// Room for one encoded Opus packet (RFC 6716 caps a frame at 1275 bytes).
const OPUS_MAX_PACKET: usize = 1500;

/// libopus's error code as text.
fn opus_error(call: &'static str, code: i32) -> TranscodeError {
    TranscodeError::Opus {
        call,
        code,
        text: unsafe_libopus::opus_strerror(code).to_string(),
    }
}

/// A 48 kHz stereo Opus encoder (application "audio", CBR off, 20 ms frames).
pub(super) struct OpusEncoder {
    st: *mut unsafe_libopus::OpusEncoder,
    packet: Vec<u8>,
}

// SAFETY: the encoder state is owned by this value alone (created in `new`,
// freed in `drop`) and libopus keeps no thread-local or global state.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// An encoder at `bitrate` bits per second.
    pub(super) fn new(bitrate: u32) -> Result<Self, TranscodeError> {
        let mut err = 0;
        // SAFETY: plain constructor; `err` is a valid out-pointer.
        let st = unsafe {
            unsafe_libopus::opus_encoder_create(
                RATE as i32,
                CHANNELS as i32,
                unsafe_libopus::OPUS_APPLICATION_AUDIO,
                &mut err,
            )
        };
        if st.is_null() || err != unsafe_libopus::OPUS_OK {
            return Err(opus_error("opus_encoder_create", err));
        }
        let enc = Self {
            st,
            packet: vec![0; OPUS_MAX_PACKET],
        };
        let rate = i32::try_from(bitrate).unwrap_or(i32::MAX);
        // SAFETY: `st` is a live encoder; the request takes one i32.
        let r = unsafe {
            unsafe_libopus::opus_encoder_ctl!(
                enc.st,
                unsafe_libopus::OPUS_SET_BITRATE_REQUEST,
                rate
            )
        };
        if r != unsafe_libopus::OPUS_OK {
            return Err(opus_error("OPUS_SET_BITRATE", r));
        }
        Ok(enc)
    }

    /// Samples per channel the encoder delays its output by (its lookahead).
    pub(super) fn delay(&self) -> usize {
        let mut n: i32 = 0;
        // SAFETY: `st` is a live encoder; the request takes one `*mut i32`.
        let r = unsafe {
            unsafe_libopus::opus_encoder_ctl!(
                self.st,
                unsafe_libopus::OPUS_GET_LOOKAHEAD_REQUEST,
                &mut n
            )
        };
        if r == unsafe_libopus::OPUS_OK {
            n.max(0) as usize
        } else {
            0
        }
    }

    /// Encodes one 20 ms frame (`OPUS_FRAME` stereo samples) into a packet.
    pub(super) fn encode(&mut self, pcm: &[f32]) -> Result<Vec<u8>, TranscodeError> {
        debug_assert_eq!(pcm.len(), OPUS_FRAME * CHANNELS);
        // SAFETY: `pcm` holds OPUS_FRAME stereo samples; `packet` has
        // `packet.len()` writable bytes.
        let n = unsafe {
            unsafe_libopus::opus_encode_float(
                self.st,
                pcm.as_ptr(),
                OPUS_FRAME as i32,
                self.packet.as_mut_ptr(),
                self.packet.len() as i32,
            )
        };
        if n < 0 {
            return Err(opus_error("opus_encode_float", n));
        }
        Ok(self.packet[..n as usize].to_vec())
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, freed once.
        unsafe { unsafe_libopus::opus_encoder_destroy(self.st) }
    }
}

/// A 48 kHz stereo Opus decoder (mono packets come out as two equal channels).
pub(super) struct OpusDecoder {
    st: *mut unsafe_libopus::OpusDecoder,
    pcm: Vec<f32>,
}

// SAFETY: as for `OpusEncoder`: state owned by this value alone.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    pub(super) fn new() -> Result<Self, TranscodeError> {
        let mut err = 0;
        // SAFETY: plain constructor; `err` is a valid out-pointer.
        let st =
            unsafe { unsafe_libopus::opus_decoder_create(RATE as i32, CHANNELS as i32, &mut err) };
        if st.is_null() || err != unsafe_libopus::OPUS_OK {
            return Err(opus_error("opus_decoder_create", err));
        }
        Ok(Self {
            st,
            pcm: vec![0.0; OPUS_MAX_FRAME * CHANNELS],
        })
    }

    /// Decodes one packet; a packet libopus refuses is an error (the caller
    /// skips it).
    pub(super) fn decode(&mut self, packet: &[u8]) -> Result<&[f32], TranscodeError> {
        if packet.is_empty() {
            return Ok(&[]);
        }
        // SAFETY: `packet` is readable for its length; `pcm` holds
        // OPUS_MAX_FRAME stereo samples.
        let n = unsafe {
            unsafe_libopus::opus_decode_float(
                self.st,
                packet.as_ptr(),
                packet.len() as i32,
                self.pcm.as_mut_ptr(),
                OPUS_MAX_FRAME as i32,
                0,
            )
        };
        if n < 0 {
            return Err(opus_error("opus_decode_float", n));
        }
        Ok(&self.pcm[..n as usize * CHANNELS])
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, freed once.
        unsafe { unsafe_libopus::opus_decoder_destroy(self.st) }
    }
}

/// What an AudioSpecificConfig (ISO 14496-3 1.6.2.1) announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AscInfo {
    /// Audio object type: 2 is AAC-LC, 5 HE-AAC (SBR), 29 HE-AAC v2 (SBR+PS).
    pub object_type: u8,
    /// Sampling rate of the AAC core, in Hz.
    pub core_rate: u32,
    /// Channel configuration (1 mono, 2 stereo, 0 in a PCE).
    pub channel_config: u8,
}

impl AscInfo {
    /// Reads the first fields of an AudioSpecificConfig.
    pub fn parse(asc: &[u8]) -> Result<Self, TranscodeError> {
        const RATES: [u32; 13] = [
            96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
        ];
        let bad = |reason| TranscodeError::BadAacConfig {
            config: hex(asc),
            reason,
        };
        let mut bits = BitReader { data: asc, pos: 0 };
        let mut object_type = bits.read(5).ok_or(bad("too short"))?;
        if object_type == 31 {
            object_type = 32 + bits.read(6).ok_or(bad("too short"))?;
        }
        let index = bits.read(4).ok_or(bad("too short"))?;
        let core_rate = match index {
            15 => bits.read(24).ok_or(bad("too short"))?,
            i => *RATES
                .get(i as usize)
                .ok_or(bad("reserved sampling index"))?,
        };
        let channel_config = bits.read(4).ok_or(bad("too short"))? as u8;
        Ok(Self {
            object_type: object_type as u8,
            core_rate,
            channel_config,
        })
    }

    /// Why only part of this stream can be decoded, if that is so: symphonia
    /// decodes the AAC-LC core and drops SBR (HE-AAC) and PS (HE-AAC v2).
    pub fn core_only_warning(&self) -> Option<String> {
        match self.object_type {
            5 | 29 => Some(format!(
                "HE-AAC{} input (audio object type {}): only the AAC-LC core at {} Hz is \
                 decoded, so the output has no audio above {} Hz{}",
                if self.object_type == 29 { " v2" } else { "" },
                self.object_type,
                self.core_rate,
                self.core_rate / 2,
                if self.object_type == 29 {
                    " and parametric stereo is lost"
                } else {
                    ""
                },
            )),
            2 if self.core_rate <= 24_000 => Some(format!(
                "AAC-LC at {} Hz: if this is HE-AAC with implicit SBR signalling, only the \
                 core is decoded and the output has no audio above {} Hz",
                self.core_rate,
                self.core_rate / 2
            )),
            _ => None,
        }
    }
}

/// Most significant bit first.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }
}

/// Bytes as lowercase hex, for error messages.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An AAC decoder for raw access units (as RTMP carries them) after the
/// AudioSpecificConfig.
pub(super) struct AacDecoder {
    dec: symphonia_codec_aac::AacDecoder,
    buf: Option<SampleBuffer<f32>>,
    stereo: Vec<f32>,
    /// Sampling rate of the decoded PCM.
    rate: u32,
}

impl AacDecoder {
    /// A decoder for the stream `asc` describes.
    pub(super) fn new(asc: &[u8], stream: &str) -> Result<Self, TranscodeError> {
        let info = AscInfo::parse(asc)?;
        if let Some(w) = info.core_only_warning() {
            crate::warn_limited!(stream, "transcode: {w}");
        }
        let mut params = CodecParameters::new();
        params.for_codec(CODEC_TYPE_AAC).with_extra_data(asc.into());
        let dec = symphonia_codec_aac::AacDecoder::try_new(&params, &DecoderOptions::default())
            .map_err(|e| TranscodeError::BadAacConfig {
                config: hex(asc),
                reason: match e {
                    symphonia_core::errors::Error::Unsupported(s) => s,
                    _ => "refused by the decoder",
                },
            })?;
        Ok(Self {
            dec,
            buf: None,
            stereo: Vec::new(),
            rate: info.core_rate,
        })
    }

    /// Decodes one raw access unit to interleaved stereo, with its rate.
    pub(super) fn decode(&mut self, au: &[u8]) -> Result<(&[f32], u32), TranscodeError> {
        let packet = Packet::new_from_slice(0, 0, 0, au);
        // A peer's bytes must not take the worker down: should the decoder
        // panic on them, start a fresh one and skip the frame.
        let dec = &mut self.dec;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dec.decode(&packet).map(|_| ())
        })) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(TranscodeError::Decode(e.to_string())),
            Err(_) => {
                let params = self.dec.codec_params().clone();
                if let Ok(d) =
                    symphonia_codec_aac::AacDecoder::try_new(&params, &DecoderOptions::default())
                {
                    self.dec = d;
                }
                return Err(TranscodeError::Decode("the decoder panicked".into()));
            }
        }
        let decoded = self.dec.last_decoded();
        let spec = *decoded.spec();
        self.rate = spec.rate;
        let frames = decoded.frames();
        let buf = match &mut self.buf {
            Some(b) if b.capacity() >= frames * spec.channels.count() => b,
            b => b.insert(SampleBuffer::new(frames as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        let samples = buf.samples();
        self.stereo.clear();
        match spec.channels.count() {
            1 => self.stereo.extend(samples.iter().flat_map(|&s| [s, s])),
            2 => self.stereo.extend_from_slice(samples),
            n => self
                .stereo
                .extend(samples.chunks_exact(n).flat_map(|c| [c[0], c[1]])),
        }
        Ok((&self.stereo, self.rate))
    }
}

/// A 48 kHz stereo AAC-LC encoder (Fraunhofer FDK AAC), raw access units out.
#[cfg(feature = "fdk-aac")]
pub(super) struct AacEncoder {
    enc: fdk_aac::enc::Encoder,
    pcm: Vec<i16>,
    out: Vec<u8>,
    /// The AudioSpecificConfig.
    pub(super) asc: Vec<u8>,
    /// Samples per channel the output lags the input by.
    pub(super) delay: usize,
}

#[cfg(feature = "fdk-aac")]
impl AacEncoder {
    /// Samples per channel in one frame.
    pub(super) const FRAME: usize = 1024;

    /// A 48 kHz encoder at `bitrate` bits per second (constant bitrate).
    pub(super) fn new(bitrate: u32) -> Result<Self, TranscodeError> {
        Self::with_rate(bitrate, RATE)
    }

    /// An encoder for `rate` Hz input at `bitrate` bits per second.
    pub(super) fn with_rate(bitrate: u32, rate: u32) -> Result<Self, TranscodeError> {
        use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams};
        let fdk = |call: &'static str| {
            move |e: fdk_aac::enc::EncoderError| TranscodeError::Aac {
                call,
                error: e.to_string(),
            }
        };
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate),
            sample_rate: rate,
            transport: fdk_aac::enc::Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(fdk("aacEncOpen"))?;
        let info = enc.info().map_err(fdk("aacEncInfo"))?;
        let conf = info.confSize as usize;
        Ok(Self {
            asc: info.confBuf[..conf.min(info.confBuf.len())].to_vec(),
            delay: info.nDelay as usize,
            out: vec![0; (info.maxOutBufBytes as usize).max(8192)],
            pcm: Vec::with_capacity(Self::FRAME * CHANNELS),
            enc,
        })
    }

    /// Encodes one frame (`FRAME` stereo samples); the encoder may hold it
    /// back (its lookahead) and return nothing, or return an earlier frame.
    pub(super) fn encode(&mut self, pcm: &[f32]) -> Result<Option<Vec<u8>>, TranscodeError> {
        self.pcm.clear();
        self.pcm.extend(
            pcm.iter()
                .map(|&s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16),
        );
        let info = self
            .enc
            .encode(&self.pcm, &mut self.out)
            .map_err(|e| TranscodeError::Aac {
                call: "aacEncEncode",
                error: e.to_string(),
            })?;
        Ok((info.output_size > 0).then(|| self.out[..info.output_size].to_vec()))
    }
}
