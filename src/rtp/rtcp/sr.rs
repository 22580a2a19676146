//! Writing sender reports (RFC 3550 §6.4.1).

use super::report::{ReportBlock, MAX_REPORT_BLOCKS};
use super::{begin, finish, pt};
use crate::rtp::id::Ssrc;

/// The sender info of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report, 64-bit NTP.
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_ts: u32,
    /// Packets sent on this SSRC.
    pub packets: u32,
    /// Payload octets sent on this SSRC.
    pub octets: u32,
}

/// Appends a sender report from `ssrc` with `info` and up to 31 report
/// `blocks` (extra ones are left out); returns the bytes written.
pub fn write_sr(out: &mut Vec<u8>, ssrc: Ssrc, info: &SenderInfo, blocks: &[ReportBlock]) -> usize {
    let blocks = &blocks[..blocks.len().min(MAX_REPORT_BLOCKS)];
    // At most 31, checked above.
    let start = begin(out, blocks.len() as u8, pt::SR);
    out.extend_from_slice(&ssrc.0.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    for v in [info.rtp_ts, info.packets, info.octets] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for b in blocks {
        // The same layout as `ReportBlock`'s writer in report.rs (private there).
        out.extend_from_slice(&b.ssrc.0.to_be_bytes());
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff).to_be_bytes();
        out.extend_from_slice(&[b.fraction_lost, lost[1], lost[2], lost[3]]);
        for v in [b.highest_seq, b.jitter, b.last_sr, b.delay_since_last_sr] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    finish(out, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{parse_compound, RtcpPacket};

    #[test]
    fn round_trips_through_the_parser() {
        let info = SenderInfo {
            ntp: 0x1122_3344_5566_7788,
            rtp_ts: 90_000,
            packets: 10,
            octets: 12_000,
        };
        let block = ReportBlock {
            ssrc: Ssrc(9),
            fraction_lost: 3,
            cumulative_lost: -2,
            highest_seq: 70_000,
            jitter: 44,
            last_sr: 0x3344_5566,
            delay_since_last_sr: 65_536,
        };
        let mut out = vec![0xEE]; // appends, does not clear
        let n = write_sr(&mut out, Ssrc(7), &info, &[block, block]);
        assert_eq!(n, 28 + 2 * 24);
        assert_eq!(out.len(), 1 + n);
        let mut it = parse_compound(&out[1..]);
        let Some(Ok(RtcpPacket::SenderReport(sr))) = it.next() else {
            panic!("not an SR");
        };
        assert!(it.next().is_none());
        assert_eq!(sr.ssrc(), Ssrc(7));
        assert_eq!(
            (
                sr.ntp_time(),
                sr.rtp_time(),
                sr.packet_count(),
                sr.octet_count()
            ),
            (info.ntp, 90_000, 10, 12_000)
        );
        assert_eq!(sr.reports().collect::<Vec<_>>(), vec![block, block]);

        let many = vec![block; 40];
        let mut out = Vec::new();
        assert_eq!(write_sr(&mut out, Ssrc(7), &info, &many), 28 + 31 * 24);
        assert_eq!(write_sr(&mut out, Ssrc(7), &info, &[]), 28);
    }
}
