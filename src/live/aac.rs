//! AAC in FLV: the AudioSpecificConfig (ISO 14496-3 1.6.2.1) and ADTS headers.

use thiserror::Error;

/// Sampling frequencies by index (ISO 14496-3 table 1.18).
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Errors parsing AAC configuration.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AacError {
    /// The AudioSpecificConfig is shorter than its fields.
    #[error("AudioSpecificConfig truncated ({0} bytes)")]
    Truncated(usize),
    /// A sampling frequency index ADTS cannot express (13, 14 reserved; 15 explicit).
    #[error("sampling frequency index {0} cannot be carried in ADTS")]
    BadSampleRateIndex(u8),
    /// Audio object type 0 (null).
    #[error("audio object type {0} is not usable")]
    BadObjectType(u8),
    /// A frame larger than the 13-bit ADTS frame length allows.
    #[error("AAC frame of {0} bytes is too large for ADTS")]
    FrameTooLarge(usize),
}

/// The fields of an AudioSpecificConfig that ADTS needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type (2 = AAC LC, 5 = SBR, 29 = PS).
    pub object_type: u8,
    /// Sampling frequency index into [`SAMPLE_RATES`].
    pub sample_rate_index: u8,
    /// Channel configuration (1 = mono, 2 = stereo).
    pub channels: u8,
}

impl AudioSpecificConfig {
    /// Parse the config (the AAC sequence header body after its 2-byte header).
    pub fn parse(data: &[u8]) -> Result<Self, AacError> {
        if data.len() < 2 {
            return Err(AacError::Truncated(data.len()));
        }
        let bits = u16::from_be_bytes([data[0], data[1]]);
        let mut object_type = (bits >> 11) as u8;
        let mut rest = bits << 5;
        if object_type == 31 {
            // Escape: 6 more bits; the rest of the fields shift by 6.
            if data.len() < 3 {
                return Err(AacError::Truncated(data.len()));
            }
            let wide = u32::from_be_bytes([data[0], data[1], data[2], 0]);
            object_type = 32 + ((wide >> 21) & 0x3f) as u8;
            rest = ((wide >> 5) & 0xffff) as u16;
        }
        if object_type == 0 {
            return Err(AacError::BadObjectType(0));
        }
        let sample_rate_index = (rest >> 12) as u8;
        if sample_rate_index as usize >= SAMPLE_RATES.len() {
            return Err(AacError::BadSampleRateIndex(sample_rate_index));
        }
        let channels = ((rest >> 8) & 0x0f) as u8;
        Ok(Self {
            object_type,
            sample_rate_index,
            channels,
        })
    }

    /// The sampling rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATES[usize::from(self.sample_rate_index).min(SAMPLE_RATES.len() - 1)]
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], AacError> {
        let frame_len = payload_len + 7;
        if frame_len > 0x1FFF {
            return Err(AacError::FrameTooLarge(payload_len));
        }
        // ADTS has 2 bits for the profile (object type - 1): Main, LC, SSR, LTP.
        // HE-AAC (SBR/PS) is signalled implicitly over an LC base, as FFmpeg does.
        let profile = match self.object_type {
            1..=4 => self.object_type - 1,
            _ => 1,
        };
        let ch = self.channels & 7;
        let fl = frame_len as u16;
        Ok([
            0xFF,
            0xF1, // sync, MPEG-4, layer 0, no CRC
            (profile << 6) | (self.sample_rate_index << 2) | (ch >> 2),
            ((ch & 3) << 6) | ((fl >> 11) as u8 & 3),
            (fl >> 3) as u8,
            ((fl as u8 & 7) << 5) | 0x1F,
            0xFC, // buffer fullness 0x7FF, one raw data block
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_44100_stereo() {
        let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            c,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate_index: 4,
                channels: 2
            }
        );
        assert_eq!(c.sample_rate(), 44_100);
    }

    #[test]
    fn adts_header_fields() {
        let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        let h = c.adts_header(100).unwrap();
        // FFmpeg writes FF F1 50 80 0D 7F FC for LC/44.1k/stereo, 107-byte frame.
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]);
        assert_eq!(c.adts_header(9000), Err(AacError::FrameTooLarge(9000)));
    }

    #[test]
    fn bad_configs() {
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(AacError::Truncated(1))
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x17, 0x80]),
            Err(AacError::BadSampleRateIndex(15))
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x00, 0x10]),
            Err(AacError::BadObjectType(0))
        );
    }

    #[test]
    fn escaped_object_type() {
        // object type 31 + 6 bits (0 -> 32), rate index 3, channels 1.
        // bits: 11111 000000 0011 0001 -> 11111000 00000110 001xxxxx
        let c = AudioSpecificConfig::parse(&[0xF8, 0x06, 0x20]).unwrap();
        assert_eq!((c.object_type, c.sample_rate_index, c.channels), (32, 3, 1));
    }
}
