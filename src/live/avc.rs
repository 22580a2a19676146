//! H.264 in FLV: the AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1),
//! the FLV video tag header, AVCC (length-prefixed) to Annex-B conversion,
//! and the picture size of a sequence parameter set (for the HTTP API).

use thiserror::Error;

/// Errors parsing H.264 data from FLV.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AvcError {
    /// The record or tag ended early; `what` names the field being read.
    #[error("AVC data truncated while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// configurationVersion other than 1.
    #[error("AVCDecoderConfigurationRecord version {0}, expected 1")]
    BadVersion(u8),
    /// A record without any SPS or PPS.
    #[error("AVCDecoderConfigurationRecord with {sps} SPS and {pps} PPS")]
    MissingParameterSets {
        /// Number of SPS found.
        sps: usize,
        /// Number of PPS found.
        pps: usize,
    },
    /// A NAL unit length that runs past the end of the sample.
    #[error("NAL unit length {len} at offset {offset} exceeds the {remaining} bytes left")]
    BadNaluLength {
        /// The declared length.
        len: usize,
        /// Where the length field starts.
        offset: usize,
        /// Bytes left after the length field.
        remaining: usize,
    },
    /// A video tag whose codec id is not 7 (AVC).
    #[error("video codec id {0} is not AVC (7)")]
    NotAvc(u8),
}

/// NAL unit types used here.
pub mod nal {
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// The AVCDecoderConfigurationRecord carried by the AVC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication.
    pub profile: u8,
    /// profile_compatibility.
    pub compatibility: u8,
    /// AVCLevelIndication.
    pub level: u8,
    /// Bytes of each NAL unit length prefix (1, 2 or 4).
    pub nalu_length_size: usize,
    /// Sequence parameter sets.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Parse the record (the video tag body after its 5-byte header).
    pub fn parse(data: &[u8]) -> Result<Self, AvcError> {
        let mut r = data;
        let head = take(&mut r, 6, "record header")?;
        if head[0] != 1 {
            return Err(AvcError::BadVersion(head[0]));
        }
        // lengthSizeMinusOne is 0, 1 or 3; 2 (3-byte lengths) is not allowed but harmless.
        let nalu_length_size = usize::from(head[4] & 3) + 1;
        let sps_count = usize::from(head[5] & 0x1f);
        let mut sps = Vec::with_capacity(sps_count);
        for _ in 0..sps_count {
            let n = take(&mut r, 2, "SPS length")?;
            let len = usize::from(u16::from_be_bytes([n[0], n[1]]));
            sps.push(take(&mut r, len, "SPS")?.to_vec());
        }
        let pps_count = usize::from(take(&mut r, 1, "PPS count")?[0]);
        let mut pps = Vec::with_capacity(pps_count);
        for _ in 0..pps_count {
            let n = take(&mut r, 2, "PPS length")?;
            let len = usize::from(u16::from_be_bytes([n[0], n[1]]));
            pps.push(take(&mut r, len, "PPS")?.to_vec());
        }
        if sps.is_empty() || pps.is_empty() {
            return Err(AvcError::MissingParameterSets {
                sps: sps.len(),
                pps: pps.len(),
            });
        }
        Ok(Self {
            profile: head[1],
            compatibility: head[2],
            level: head[3],
            nalu_length_size,
            sps,
            pps,
        })
    }

    /// Append every SPS and PPS to `out` in Annex-B form.
    pub fn write_parameter_sets_annexb(&self, out: &mut Vec<u8>) {
        for p in self.sps.iter().chain(&self.pps) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(p);
        }
    }
}

/// The 5-byte header of an FLV AVC video tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcTagHeader {
    /// Frame type 1 (keyframe).
    pub keyframe: bool,
    /// AVCPacketType: 0 sequence header, 1 NALUs, 2 end of sequence.
    pub packet_type: u8,
    /// Composition time offset (pts - dts) in ms.
    pub cts: i32,
}

impl AvcTagHeader {
    /// Parse the header; returns it and the rest of the body.
    pub fn parse(body: &[u8]) -> Result<(Self, &[u8]), AvcError> {
        let mut r = body;
        let h = take(&mut r, 5, "video tag header")?;
        if h[0] & 0x0f != 7 {
            return Err(AvcError::NotAvc(h[0] & 0x0f));
        }
        // 24-bit signed composition time.
        let raw = (u32::from(h[2]) << 16) | (u32::from(h[3]) << 8) | u32::from(h[4]);
        let cts = ((raw << 8) as i32) >> 8;
        Ok((
            Self {
                keyframe: h[0] >> 4 == 1,
                packet_type: h[1],
                cts,
            },
            r,
        ))
    }
}

/// Iterate over the NAL units of an AVCC sample (each prefixed by a
/// `length_size`-byte big-endian length).
pub fn avcc_nalus(data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, AvcError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(lb) = data.get(pos..pos + length_size) else {
            return Err(AvcError::Truncated {
                what: "NAL unit length",
            });
        };
        let len = lb.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
        let start = pos + length_size;
        let remaining = data.len() - start;
        if len > remaining {
            return Err(AvcError::BadNaluLength {
                len,
                offset: pos,
                remaining,
            });
        }
        out.push(&data[start..start + len]);
        pos = start + len;
    }
    Ok(out)
}

/// Convert an AVCC sample to Annex-B into `out`: an access unit delimiter
/// first, and for keyframes the parameter sets of `config` unless the sample
/// carries its own (what SRS does for HLS, so every segment decodes alone).
pub fn avcc_to_annexb(
    data: &[u8],
    config: &AvcConfig,
    keyframe: bool,
    out: &mut Vec<u8>,
) -> Result<(), AvcError> {
    let nalus = avcc_nalus(data, config.nalu_length_size)?;
    out.extend_from_slice(&[0, 0, 0, 1, nal::AUD, 0xF0]);
    let has_sps = nalus
        .iter()
        .any(|n| n.first().is_some_and(|b| b & 0x1f == nal::SPS));
    let has_idr = nalus
        .iter()
        .any(|n| n.first().is_some_and(|b| b & 0x1f == nal::IDR));
    if (keyframe || has_idr) && !has_sps {
        config.write_parameter_sets_annexb(out);
    }
    for n in nalus {
        if n.first().is_some_and(|b| b & 0x1f == nal::AUD) {
            continue;
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(n);
    }
    Ok(())
}

/// The displayed width and height of an H.264 sequence parameter set (the
/// whole NAL unit, header byte included), after frame cropping (ITU-T H.264
/// 7.3.2.1.1). `None` when it is not an SPS or is cut short.
pub fn sps_dimensions(sps: &[u8]) -> Option<(u32, u32)> {
    if sps.first()? & 0x1f != nal::SPS {
        return None;
    }
    // The RBSP: emulation prevention bytes (00 00 03) removed.
    let mut rbsp = Vec::with_capacity(sps.len());
    let mut zeros = 0;
    for &b in &sps[1..] {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits {
        data: &rbsp,
        pos: 0,
    };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    let mut separate_planes = false;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            separate_planes = r.bits(1)? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            // seq_scaling_matrix_present_flag: skip the lists.
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bits(1)?);
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let mut crop = [0u64; 4];
    if r.bits(1)? == 1 {
        for c in &mut crop {
            *c = u64::from(r.ue()?);
        }
    }
    let chroma_array_type = if separate_planes { 0 } else { chroma_format };
    let (unit_x, unit_y) = match chroma_array_type {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(unit_x * (crop[0] + crop[1]))?;
    let height =
        (height_units * 16 * (2 - frame_mbs_only)).checked_sub(unit_y * (crop[2] + crop[3]))?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

/// A big-endian bit reader over an RBSP.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    /// Exp-Golomb ue(v), at most 32 bits of value.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    /// Exp-Golomb se(v).
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

fn take<'a>(r: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], AvcError> {
    if r.len() < n {
        return Err(AvcError::Truncated { what });
    }
    let (a, b) = r.split_at(n);
    *r = b;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Vec<u8> {
        let sps = [0x67, 0x42, 0xC0, 0x0D, 0xAB];
        let pps = [0x68, 0xCE, 0x3C, 0x80];
        let mut v = vec![1, 0x42, 0xC0, 0x0D, 0xFF, 0xE1, 0, sps.len() as u8];
        v.extend_from_slice(&sps);
        v.extend_from_slice(&[1, 0, pps.len() as u8]);
        v.extend_from_slice(&pps);
        v
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sps_gives_the_picture_size() {
        // x264's SPSs (ffmpeg -f lavfi -i testsrc=size=WxH -c:v libx264 ...):
        // High 4:4:4, constrained baseline with cropping (1088 -> 1080),
        // interlaced High, High 4:2:2 with cropping.
        for (sps, size) in [
            (
                "67f4000d919b28283f6022000003000200000300641e28532c",
                (320, 240),
            ),
            (
                "6742c028da01e0089f97011000000300100000030320f1832a",
                (1920, 1080),
            ),
            (
                "6764001eacd940b424d8088000000300800000190f8a14cb",
                (720, 576),
            ),
            (
                "6764001facd9405005bb011000000300100000030320f1831960",
                (1280, 720),
            ),
            (
                "677a0020bcd94056061e6f011000000300100000030320f1831960",
                (1366, 768),
            ),
        ] {
            assert_eq!(sps_dimensions(&hex(sps)), Some(size), "{sps}");
        }
        assert_eq!(sps_dimensions(&hex("6742c028da")), None, "cut short");
        assert_eq!(sps_dimensions(&hex("68ce3c80")), None, "a PPS");
        assert_eq!(sps_dimensions(&[]), None);
        // All zeros: an ue(v) longer than 32 bits is refused, not looped on.
        assert_eq!(
            sps_dimensions(&[0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn parses_a_record() {
        let c = AvcConfig::parse(&record()).unwrap();
        assert_eq!((c.profile, c.level, c.nalu_length_size), (0x42, 0x0D, 4));
        assert_eq!(c.sps, vec![vec![0x67, 0x42, 0xC0, 0x0D, 0xAB]]);
        assert_eq!(c.pps.len(), 1);
    }

    #[test]
    fn bad_records() {
        let mut r = record();
        r[0] = 2;
        assert_eq!(AvcConfig::parse(&r), Err(AvcError::BadVersion(2)));
        let r = record();
        assert!(matches!(
            AvcConfig::parse(&r[..r.len() - 1]),
            Err(AvcError::Truncated { what: "PPS" })
        ));
        let mut r = record()[..13].to_vec();
        r.push(0);
        assert_eq!(
            AvcConfig::parse(&r),
            Err(AvcError::MissingParameterSets { sps: 1, pps: 0 })
        );
    }

    #[test]
    fn keyframe_gets_aud_and_parameter_sets() {
        let c = AvcConfig::parse(&record()).unwrap();
        let sample = [0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 2, 0x06, 0x05];
        let mut out = Vec::new();
        avcc_to_annexb(&sample, &c, true, &mut out).unwrap();
        let mut want = vec![0, 0, 0, 1, 9, 0xF0];
        want.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x0D, 0xAB]);
        want.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80]);
        want.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        want.extend_from_slice(&[0, 0, 0, 1, 0x06, 0x05]);
        assert_eq!(out, want);

        let mut out = Vec::new();
        avcc_to_annexb(&[0, 0, 0, 2, 0x41, 0x9A], &c, false, &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 1, 9, 0xF0, 0, 0, 0, 1, 0x41, 0x9A]);
    }

    #[test]
    fn bad_nalu_length() {
        assert_eq!(
            avcc_nalus(&[0, 0, 0, 9, 1, 2], 4),
            Err(AvcError::BadNaluLength {
                len: 9,
                offset: 0,
                remaining: 2
            })
        );
        assert!(matches!(
            avcc_nalus(&[0, 0, 0, 1, 5, 0, 0], 4),
            Err(AvcError::Truncated { .. })
        ));
    }

    #[test]
    fn tag_header_with_negative_cts() {
        let (h, rest) = AvcTagHeader::parse(&[0x27, 1, 0xFF, 0xFF, 0xD8, 9]).unwrap();
        assert_eq!(
            h,
            AvcTagHeader {
                keyframe: false,
                packet_type: 1,
                cts: -40
            }
        );
        assert_eq!(rest, &[9]);
        assert_eq!(
            AvcTagHeader::parse(&[0x2C, 1, 0, 0, 0]),
            Err(AvcError::NotAvc(12))
        );
    }
}
