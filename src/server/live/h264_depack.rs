//! RTC → RTMP video: H.264 RTP (RFC 6184: single NAL, STAP-A, FU-A) to AVC
//! FLV tag bodies. Sans-IO.
//!
//! Packets are grouped into pictures by RTP timestamp; a picture is emitted
//! when the marker bit ends it or the next timestamp begins. A picture with
//! a sequence-number gap inside it is dropped, and so is everything until the
//! next IDR (a decoder could not use it). The AVC sequence header is emitted
//! before the first IDR and whenever the SPS/PPS change.
//!
//! A picture is buffered up to [`MAX_PICTURE_BYTES`]: a publisher that
//! never sets the marker bit nor changes the timestamp (or sends one
//! endless FU-A) cannot grow it further. Past the cap the picture is
//! dropped, counted in [`H264Depacketizer::oversized`], and everything
//! waits for the next IDR, as after a loss.

use bytes::{BufMut, Bytes, BytesMut};

/// Most payload bytes one picture may buffer (a 4 MiB picture is far above
/// any WebRTC encoder's keyframe).
pub const MAX_PICTURE_BYTES: usize = 4 * 1024 * 1024;

/// A picture (or configuration) ready for FLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvcOut {
    /// AVC sequence header tag body (`0x17 0x00 ...` + AVCDecoderConfigurationRecord).
    Config(Bytes),
    /// A picture's tag body (`0x17`/`0x27`, `0x01`, cts 0, AVCC NAL units) at RTP time `rtp_ts`.
    Picture {
        /// The tag body.
        body: Bytes,
        /// RTP timestamp (90 kHz) of the picture.
        rtp_ts: u32,
        /// An IDR picture.
        keyframe: bool,
    },
}

/// Reassembles H.264 RTP into AVC tag bodies.
#[derive(Debug, Default)]
pub struct H264Depacketizer {
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    sent_config: Option<(Vec<u8>, Vec<u8>)>,
    cur_ts: Option<u32>,
    last_seq: Option<u16>,
    nalus: Vec<Vec<u8>>,
    fu: Option<Vec<u8>>,
    broken: bool,
    /// Waiting for an IDR after a loss (or at the start).
    need_idr: bool,
    started: bool,
    /// Pictures dropped for loss or while waiting for an IDR.
    pub dropped: u64,
    /// Pictures dropped for growing past [`MAX_PICTURE_BYTES`] (also in `dropped`).
    pub oversized: u64,
    /// Payload bytes buffered for the current picture.
    bytes: usize,
    /// The current picture passed the cap: its further packets are ignored.
    overflowed: bool,
}

impl H264Depacketizer {
    /// A depacketizer waiting for the first IDR.
    pub fn new() -> Self {
        Self {
            need_idr: true,
            ..Self::default()
        }
    }

    /// True until an IDR picture arrives (at the start and after a loss).
    pub fn waiting_idr(&self) -> bool {
        self.need_idr
    }

    /// One RTP packet's header fields and payload; returns finished outputs.
    pub fn push(&mut self, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<AvcOut> {
        let mut out = Vec::new();
        if self.cur_ts.is_some_and(|t| t != ts) {
            self.finish(&mut out);
        }
        if let Some(last) = self.last_seq {
            if seq != last.wrapping_add(1) {
                self.broken = true;
            }
        }
        self.last_seq = Some(seq);
        self.cur_ts = Some(ts);
        self.add_payload(payload);
        if marker {
            self.finish(&mut out);
        }
        out
    }

    /// Payload bytes buffered for the picture being assembled.
    pub fn buffered(&self) -> usize {
        self.bytes
    }

    fn add_payload(&mut self, p: &[u8]) {
        if self.overflowed {
            return;
        }
        if self.bytes + p.len() > MAX_PICTURE_BYTES {
            self.oversized += 1;
            self.overflowed = true;
            self.broken = true;
            self.nalus = Vec::new();
            self.fu = None;
            self.bytes = 0;
            return;
        }
        self.bytes += p.len();
        let Some(&first) = p.first() else {
            return;
        };
        match first & 0x1f {
            1..=23 => self.nalus.push(p.to_vec()),
            24 => {
                let mut rest = &p[1..];
                while rest.len() >= 2 {
                    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                    rest = &rest[2..];
                    if len == 0 || len > rest.len() {
                        self.broken = true;
                        return;
                    }
                    self.nalus.push(rest[..len].to_vec());
                    rest = &rest[len..];
                }
            }
            28 => {
                if p.len() < 2 {
                    self.broken = true;
                    return;
                }
                let (start, end) = (p[1] & 0x80 != 0, p[1] & 0x40 != 0);
                if start {
                    let mut n = vec![(p[0] & 0xe0) | (p[1] & 0x1f)];
                    n.extend_from_slice(&p[2..]);
                    self.fu = Some(n);
                } else if let Some(n) = self.fu.as_mut() {
                    n.extend_from_slice(&p[2..]);
                } else {
                    self.broken = true;
                }
                if end {
                    if let Some(n) = self.fu.take() {
                        self.nalus.push(n);
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<AvcOut>) {
        let nalus = std::mem::take(&mut self.nalus);
        self.bytes = 0;
        self.overflowed = false;
        let broken = std::mem::take(&mut self.broken) || self.fu.take().is_some();
        let Some(ts) = self.cur_ts.take() else {
            return;
        };
        for n in &nalus {
            match n[0] & 0x1f {
                7 => self.sps = Some(n.clone()),
                8 => self.pps = Some(n.clone()),
                _ => {}
            }
        }
        let keyframe = nalus.iter().any(|n| n[0] & 0x1f == 5);
        let has_slice = nalus.iter().any(|n| matches!(n[0] & 0x1f, 1 | 5));
        if broken {
            self.dropped += 1;
            self.need_idr = true;
            return;
        }
        if !has_slice {
            return;
        }
        if self.need_idr && !keyframe {
            self.dropped += 1;
            return;
        }
        if keyframe {
            let (Some(sps), Some(pps)) = (self.sps.clone(), self.pps.clone()) else {
                self.dropped += 1;
                return;
            };
            if self.sent_config.as_ref() != Some(&(sps.clone(), pps.clone())) {
                out.push(AvcOut::Config(config_record(&sps, &pps)));
                self.sent_config = Some((sps, pps));
            }
            self.need_idr = false;
            self.started = true;
        }
        let mut b = BytesMut::new();
        b.put_slice(&[if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
        for n in nalus.iter().filter(|n| !matches!(n[0] & 0x1f, 7..=9)) {
            b.put_u32(n.len() as u32);
            b.put_slice(n);
        }
        out.push(AvcOut::Picture {
            body: b.freeze(),
            rtp_ts: ts,
            keyframe,
        });
    }
}

/// The AVC sequence header tag body for one SPS and PPS.
fn config_record(sps: &[u8], pps: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(&[0x17, 0, 0, 0, 0, 1]);
    b.put_u8(sps.get(1).copied().unwrap_or(0x42));
    b.put_u8(sps.get(2).copied().unwrap_or(0));
    b.put_u8(sps.get(3).copied().unwrap_or(0x1f));
    b.put_u8(0xff);
    b.put_u8(0xe1);
    b.put_u16(sps.len() as u16);
    b.put_slice(sps);
    b.put_u8(1);
    b.put_u16(pps.len() as u16);
    b.put_slice(pps);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::avc::AvcConfig;
    use crate::server::live::h264_rtp::tests::{frame, seq_header};
    use crate::server::live::h264_rtp::H264Packetizer;

    fn feed(d: &mut H264Depacketizer, pk: &[crate::server::live::h264_rtp::RtpOut]) -> Vec<AvcOut> {
        let mut out = Vec::new();
        for p in pk {
            let r = &p.rtp;
            out.extend(d.push(
                u16::from_be_bytes([r[2], r[3]]),
                u32::from_be_bytes([r[4], r[5], r[6], r[7]]),
                r[1] & 0x80 != 0,
                &r[12..],
            ));
        }
        out
    }

    #[test]
    fn packetizer_output_round_trips() {
        let mut p = H264Packetizer::new(1, 65530, false);
        p.packetize(&seq_header());
        let mut idr = vec![0x65, 0x88];
        idr.resize(4000, 7);
        let mut d = H264Depacketizer::new();
        let out = feed(&mut d, &p.packetize(&frame(true, &idr, 0)));
        assert_eq!(out.len(), 2);
        let AvcOut::Config(cfg) = &out[0] else {
            panic!("config first")
        };
        let c = AvcConfig::parse(&cfg[5..]).unwrap();
        assert_eq!(c.sps, vec![vec![0x67, 0x42, 0, 0x1e]]);
        assert_eq!(c.pps, vec![vec![0x68, 0xce]]);
        let AvcOut::Picture { body, keyframe, .. } = &out[1] else {
            panic!("picture")
        };
        assert!(keyframe);
        assert_eq!(&body[5..9], &4000u32.to_be_bytes());
        assert_eq!(&body[9..], &idr[..]);
        // A P picture follows without a new config.
        let out = feed(&mut d, &p.packetize(&frame(false, &[0x41, 0xe0, 1], 40)));
        assert!(matches!(
            &out[..],
            [AvcOut::Picture {
                keyframe: false,
                rtp_ts: 3600,
                ..
            }]
        ));
    }

    #[test]
    fn loss_drops_until_the_next_idr() {
        let mut p = H264Packetizer::new(1, 0, false);
        p.packetize(&seq_header());
        let mut big = vec![0x41, 0xe0];
        big.resize(3000, 1);
        let mut d = H264Depacketizer::new();
        // Before any IDR: nothing.
        assert!(feed(&mut d, &p.packetize(&frame(false, &[0x41, 0xe0], 0))).is_empty());
        feed(&mut d, &p.packetize(&frame(true, &[0x65, 1], 40)));
        let mut pk = p.packetize(&frame(false, &big, 80));
        pk.remove(1);
        assert!(feed(&mut d, &pk).is_empty());
        assert!(feed(&mut d, &p.packetize(&frame(false, &[0x41, 0xe0], 120))).is_empty());
        assert_eq!(
            feed(&mut d, &p.packetize(&frame(true, &[0x65, 1], 160))).len(),
            1
        );
        assert!(d.dropped >= 3);
    }

    #[test]
    fn an_endless_picture_is_capped_then_the_next_idr_plays() {
        let mut p = H264Packetizer::new(1, 0, false);
        p.packetize(&seq_header());
        let mut d = H264Depacketizer::new();
        assert_eq!(
            feed(&mut d, &p.packetize(&frame(true, &[0x65, 1], 0))).len(),
            2
        );
        // One FU-A that never ends, all at one timestamp: 6 MiB offered.
        let mut start = vec![0x7c, 0x85];
        start.resize(1200, 9);
        let mut middle = vec![0x7c, 0x05];
        middle.resize(1200, 9);
        assert!(d.push(100, 3600, false, &start).is_empty());
        let mut peak = 0;
        for i in 0..(6 << 20) / 1200 {
            assert!(d.push(101 + i as u16, 3600, false, &middle).is_empty());
            peak = peak.max(d.buffered());
        }
        assert!(peak <= MAX_PICTURE_BYTES, "{peak} bytes buffered");
        assert_eq!(d.buffered(), 0, "the overflowing picture was freed");
        assert_eq!(d.oversized, 1);
        // Its end and the next P picture are dropped; the next IDR plays.
        let out = feed(&mut d, &p.packetize(&frame(false, &[0x41, 0xe0], 7200)));
        assert!(out.is_empty());
        assert!(d.waiting_idr());
        let out = feed(&mut d, &p.packetize(&frame(true, &[0x65, 1], 10_800)));
        assert!(matches!(&out[..], [AvcOut::Picture { keyframe: true, .. }]));
        assert!(d.dropped >= 2);
    }

    #[test]
    fn garbage_payloads_do_not_panic() {
        let mut d = H264Depacketizer::new();
        for (i, p) in [&[][..], &[24, 0, 9, 1], &[28], &[28, 0x40], &[0xff; 3]]
            .iter()
            .enumerate()
        {
            d.push(i as u16, 0, true, p);
        }
    }
}
