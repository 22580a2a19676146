//! RTMP → RTC video: AVC FLV tags to H.264 RTP packets (RFC 6184,
//! packetization-mode 1). Sans-IO.
//!
//! Each NAL unit that fits [`MAX_PAYLOAD`] goes in one packet, larger ones
//! as FU-A fragments; every IDR picture is preceded by a STAP-A of the last
//! SPS and PPS so a player can start at any keyframe. B-frames (slice_type 1
//! or 6) are dropped unless `keep_bframe` (browsers handle them badly over
//! RTP: SRS drops them too). The marker bit ends each picture.

use bytes::{BufMut, Bytes, BytesMut};

use crate::live::avc::{avcc_nalus, AvcConfig, AvcTagHeader};
use crate::live::flv::{codec, FlvTag, TagKind};
use crate::rtp::{FixedHeader, Pt, Ssrc};

/// Largest RTP payload we produce (fits a 1500-byte MTU with SRTP and extensions).
pub const MAX_PAYLOAD: usize = 1200;
/// H.264 RTP clock.
pub const CLOCK_RATE: u32 = 90_000;
/// Payload type of the packets (the player rewrites it to the negotiated one).
pub const PT: u8 = 102;

/// One packet out of the packetizer.
#[derive(Debug, Clone)]
pub struct RtpOut {
    /// The whole RTP packet.
    pub rtp: Bytes,
    /// The packet belongs to an IDR picture (or its parameter sets).
    pub keyframe: bool,
}

/// Turns a publisher's AVC tags into RTP.
#[derive(Debug)]
pub struct H264Packetizer {
    ssrc: u32,
    seq: u16,
    keep_bframe: bool,
    config: Option<AvcConfig>,
    /// B-frames dropped so far.
    pub dropped_bframes: u64,
}

impl H264Packetizer {
    /// A packetizer sending as `ssrc`, starting at sequence number `seq`.
    pub fn new(ssrc: u32, seq: u16, keep_bframe: bool) -> Self {
        Self {
            ssrc,
            seq,
            keep_bframe,
            config: None,
            dropped_bframes: 0,
        }
    }

    /// The RTP packets of one FLV tag (none for non-AVC, headers, or skipped frames).
    pub fn packetize(&mut self, tag: &FlvTag) -> Vec<RtpOut> {
        let mut out = Vec::new();
        if tag.kind != TagKind::Video || tag.video_codec_id() != Some(codec::VIDEO_AVC) {
            return out;
        }
        let Ok((h, body)) = AvcTagHeader::parse(&tag.data) else {
            return out;
        };
        if h.packet_type == 0 {
            self.config = AvcConfig::parse(body).ok();
            return out;
        }
        let Some(cfg) = self.config.as_ref() else {
            return out;
        };
        if h.packet_type != 1 {
            return out;
        }
        let Ok(nalus) = avcc_nalus(body, cfg.nalu_length_size) else {
            return out;
        };
        let nalus: Vec<&[u8]> = nalus
            .into_iter()
            .filter(|n| !n.is_empty() && !matches!(n[0] & 0x1f, 9..=12))
            .collect();
        if !self.keep_bframe && nalus.iter().any(|n| is_b_slice(n)) {
            self.dropped_bframes += 1;
            return out;
        }
        let pts = (tag.timestamp_ms as i64 + h.cts as i64).max(0) as u64;
        let ts = (pts * (CLOCK_RATE as u64 / 1000)) as u32;
        let idr = nalus.iter().any(|n| n[0] & 0x1f == 5);
        let mut units: Vec<Vec<u8>> = Vec::new();
        if idr {
            let has_sps = nalus.iter().any(|n| n[0] & 0x1f == 7);
            if !has_sps {
                if let Some(stap) = stap_a(&cfg.sps, &cfg.pps) {
                    units.push(stap);
                }
            }
        }
        let count = units.len();
        for (i, u) in units.iter().enumerate() {
            let last = i + 1 == count && nalus.is_empty();
            out.push(self.packet(ts, last, idr, u));
        }
        for (i, n) in nalus.iter().enumerate() {
            let last_nal = i + 1 == nalus.len();
            if n.len() <= MAX_PAYLOAD {
                out.push(self.packet(ts, last_nal, idr, n));
                continue;
            }
            // FU-A: indicator keeps F and NRI, type 28; header has S/E and the type.
            let indicator = (n[0] & 0xe0) | 28;
            let typ = n[0] & 0x1f;
            let payload = &n[1..];
            let chunks: Vec<&[u8]> = payload.chunks(MAX_PAYLOAD - 2).collect();
            for (j, c) in chunks.iter().enumerate() {
                let start = j == 0;
                let end = j + 1 == chunks.len();
                let mut p = Vec::with_capacity(c.len() + 2);
                p.push(indicator);
                p.push(typ | if start { 0x80 } else { 0 } | if end { 0x40 } else { 0 });
                p.extend_from_slice(c);
                out.push(self.packet(ts, last_nal && end, idr, &p));
            }
        }
        out
    }

    fn packet(&mut self, ts: u32, marker: bool, keyframe: bool, payload: &[u8]) -> RtpOut {
        let mut b = BytesMut::with_capacity(12 + payload.len());
        FixedHeader::plain(marker, Pt(PT), self.seq, ts, Ssrc(self.ssrc)).write(&mut b);
        b.put_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        RtpOut {
            rtp: b.freeze(),
            keyframe,
        }
    }
}

/// A STAP-A aggregating the parameter sets, if there are any and they fit.
fn stap_a(sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Option<Vec<u8>> {
    let sets: Vec<&Vec<u8>> = sps
        .iter()
        .chain(pps.iter())
        .filter(|s| !s.is_empty())
        .collect();
    if sets.is_empty() {
        return None;
    }
    let nri = sets.iter().map(|s| s[0] & 0x60).max().unwrap_or(0x60);
    let mut p = vec![nri | 24];
    for s in sets {
        let len = u16::try_from(s.len()).ok()?;
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(s);
    }
    (p.len() <= MAX_PAYLOAD).then_some(p)
}

/// Whether a NAL unit is a slice whose slice_type is B (1 or 6).
fn is_b_slice(nal: &[u8]) -> bool {
    if !matches!(nal[0] & 0x1f, 1 | 5) {
        return false;
    }
    let mut r = BitReader::new(&nal[1..]);
    // first_mb_in_slice, then slice_type (both ue(v)).
    if r.ue().is_none() {
        return false;
    }
    matches!(r.ue(), Some(1 | 6))
}

/// Exp-Golomb reader over the first bytes of a slice header (emulation
/// prevention bytes cannot occur this early in practice; a miss only keeps a frame).
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(b as u32)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut v: u32 = 0;
        for _ in 0..zeros {
            v = (v << 1) | self.bit()?;
        }
        Some((1u32 << zeros) - 1 + v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An AVC sequence-header tag (also used by the depacketizer's tests).
    pub(crate) fn seq_header() -> FlvTag {
        // AVCDecoderConfigurationRecord with one SPS (67 42 ..) and one PPS (68 ..).
        let mut d = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1];
        d.extend_from_slice(&[0, 4, 0x67, 0x42, 0, 0x1e]);
        d.extend_from_slice(&[1, 0, 2, 0x68, 0xce]);
        FlvTag::new(TagKind::Video, 0, d)
    }

    /// A one-NAL AVC video tag.
    pub(crate) fn frame(key: bool, nal: &[u8], ts: u32) -> FlvTag {
        let mut d = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        d.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        d.extend_from_slice(nal);
        FlvTag::new(TagKind::Video, ts, d)
    }

    #[test]
    fn keyframe_gets_parameter_sets_and_large_nal_is_fragmented() {
        let mut p = H264Packetizer::new(7, 100, false);
        assert!(p.packetize(&seq_header()).is_empty());
        let mut idr = vec![0x65, 0x88];
        idr.resize(3000, 0xab);
        let pkts = p.packetize(&frame(true, &idr, 40));
        // STAP-A + 3 FU-A fragments.
        assert_eq!(pkts.len(), 4);
        assert!(pkts.iter().all(|x| x.keyframe));
        assert_eq!(pkts[0].rtp[12] & 0x1f, 24);
        assert_eq!(pkts[1].rtp[12] & 0x1f, 28);
        assert_eq!(pkts[1].rtp[13], 0x80 | 5);
        assert_eq!(pkts[3].rtp[13], 0x40 | 5);
        // Marker only on the last, seq increments, ts at 90 kHz.
        assert!(pkts[..3].iter().all(|x| x.rtp[1] & 0x80 == 0));
        assert_eq!(pkts[3].rtp[1] & 0x80, 0x80);
        assert_eq!(u16::from_be_bytes([pkts[0].rtp[2], pkts[0].rtp[3]]), 100);
        assert_eq!(u16::from_be_bytes([pkts[3].rtp[2], pkts[3].rtp[3]]), 103);
        assert_eq!(
            u32::from_be_bytes([
                pkts[0].rtp[4],
                pkts[0].rtp[5],
                pkts[0].rtp[6],
                pkts[0].rtp[7]
            ]),
            40 * 90
        );
        // Reassembled FU-A payload equals the NAL.
        let mut re = vec![(pkts[1].rtp[12] & 0xe0) | (pkts[1].rtp[13] & 0x1f)];
        for x in &pkts[1..] {
            re.extend_from_slice(&x.rtp[14..]);
        }
        assert_eq!(re, idr);
    }

    #[test]
    fn b_frames_are_dropped_unless_kept() {
        // slice: first_mb=0 ('1'), slice_type=1 ('010') -> bits 1010 0000.
        let b = [0x01, 0xa0, 0x00];
        let p_slice = [0x41, 0x80 | 0x40 | 0x20, 0x00]; // first_mb=0, slice_type=0
        let mut p = H264Packetizer::new(1, 0, false);
        p.packetize(&seq_header());
        assert!(p.packetize(&frame(false, &b, 0)).is_empty());
        assert_eq!(p.dropped_bframes, 1);
        assert_eq!(p.packetize(&frame(false, &p_slice, 0)).len(), 1);
        let mut keep = H264Packetizer::new(1, 0, true);
        keep.packetize(&seq_header());
        assert_eq!(keep.packetize(&frame(false, &b, 0)).len(), 1);
    }

    #[test]
    fn frames_before_the_sequence_header_or_garbage_give_nothing() {
        let mut p = H264Packetizer::new(1, 0, false);
        assert!(p.packetize(&frame(true, &[0x65, 1], 0)).is_empty());
        p.packetize(&seq_header());
        let bad = FlvTag::new(TagKind::Video, 0, vec![0x27, 1, 0, 0, 0, 0, 0, 0, 99, 1]);
        assert!(p.packetize(&bad).is_empty());
    }
}
