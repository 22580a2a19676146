//! Sender and receiver reports (RFC 3550 §6.4) and their report blocks.

use super::{be32, begin, finish, pt, ssrc_at, Raw, RtcpError};
use crate::rtp::id::Ssrc;

/// Size of one report block.
const BLOCK_LEN: usize = 24;
/// SR: header, SSRC and 20 bytes of sender info.
const SR_FIXED: usize = 28;
/// RR: header and SSRC.
const RR_FIXED: usize = 8;

/// One reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        // Sign-extend the 24-bit cumulative loss.
        let lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        Self {
            ssrc: ssrc_at(b, 0),
            fraction_lost: b[4],
            cumulative_lost: lost,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7f_ffff)
            .to_be_bytes();
        out.extend_from_slice(&[self.fraction_lost, lost[1], lost[2], lost[3]]);
        for v in [
            self.highest_seq,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Iterates report blocks of a checked SR/RR.
fn blocks(d: &[u8]) -> impl Iterator<Item = ReportBlock> + '_ {
    d.chunks_exact(BLOCK_LEN).map(ReportBlock::parse)
}

/// A sender report view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    data: &'a [u8],
    count: u8,
}

impl<'a> SenderReport<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        raw.need(SR_FIXED + BLOCK_LEN * usize::from(raw.count))?;
        Ok(Self {
            data: raw.data,
            count: raw.count,
        })
    }

    /// The sender's SSRC.
    pub fn ssrc(&self) -> Ssrc {
        ssrc_at(self.data, 4)
    }

    /// The 64-bit NTP timestamp.
    pub fn ntp_time(&self) -> u64 {
        (u64::from(be32(self.data, 8)) << 32) | u64::from(be32(self.data, 12))
    }

    /// The RTP timestamp matching [`Self::ntp_time`].
    pub fn rtp_time(&self) -> u32 {
        be32(self.data, 16)
    }

    /// Packets sent.
    pub fn packet_count(&self) -> u32 {
        be32(self.data, 20)
    }

    /// Payload octets sent.
    pub fn octet_count(&self) -> u32 {
        be32(self.data, 24)
    }

    /// The report blocks.
    pub fn reports(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let end = SR_FIXED + BLOCK_LEN * usize::from(self.count);
        blocks(&self.data[SR_FIXED..end])
    }
}

/// A receiver report view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    data: &'a [u8],
    count: u8,
}

impl<'a> ReceiverReport<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        raw.need(RR_FIXED + BLOCK_LEN * usize::from(raw.count))?;
        Ok(Self {
            data: raw.data,
            count: raw.count,
        })
    }

    /// The reporter's SSRC.
    pub fn ssrc(&self) -> Ssrc {
        ssrc_at(self.data, 4)
    }

    /// The report blocks.
    pub fn reports(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let end = RR_FIXED + BLOCK_LEN * usize::from(self.count);
        blocks(&self.data[RR_FIXED..end])
    }
}

/// Most report blocks one packet can carry (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// Appends a receiver report from `sender` with up to 31 `blocks` (extra ones
/// are left out); returns the bytes written.
pub fn write_rr(out: &mut Vec<u8>, sender: Ssrc, blocks: &[ReportBlock]) -> usize {
    let blocks = &blocks[..blocks.len().min(MAX_REPORT_BLOCKS)];
    // At most 31, checked above.
    let start = begin(out, blocks.len() as u8, pt::RR);
    out.extend_from_slice(&sender.0.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    finish(out, start)
}
