//! Generic NACK (RFC 4585 §6.2.1): RTPFB, FMT 1, entries of (PID, BLP).

use super::{begin, finish, pt, ssrc_at, Raw, RtcpError};
use crate::rtp::id::Ssrc;

/// The FMT of generic NACK within RTPFB.
pub(super) const FMT: u8 = 1;
/// Header, sender SSRC, media SSRC.
const FIXED: usize = 12;
/// One FCI entry: PID and BLP.
const ENTRY: usize = 4;
/// Most (PID, BLP) entries [`write_nack`] writes.
pub const MAX_NACK_ENTRIES: usize = 256;

/// A generic NACK view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    data: &'a [u8],
}

impl<'a> Nack<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        raw.need_fci(FIXED, ENTRY)?;
        Ok(Self { data: raw.data })
    }

    /// Who asks.
    pub fn sender(&self) -> Ssrc {
        ssrc_at(self.data, 4)
    }

    /// The media source whose packets are missing.
    pub fn media(&self) -> Ssrc {
        ssrc_at(self.data, 8)
    }

    /// The raw (PID, BLP) entries.
    pub fn entries(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.data[FIXED..].chunks_exact(ENTRY).map(|e| {
            (
                u16::from_be_bytes([e[0], e[1]]),
                u16::from_be_bytes([e[2], e[3]]),
            )
        })
    }

    /// Every sequence number reported lost, in entry order.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.entries().flat_map(|(pid, blp)| {
            std::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |i| blp & (1 << i) != 0)
                    .map(move |i| pid.wrapping_add(i + 1)),
            )
        })
    }
}

/// Appends a NACK for the `lost` sequence numbers (in the order given,
/// each entry covering a PID and the 16 after it); returns the bytes written,
/// or 0 when `lost` is empty (a NACK must carry an entry).
pub fn write_nack(out: &mut Vec<u8>, sender: Ssrc, media: Ssrc, lost: &[u16]) -> usize {
    let Some((&first, rest)) = lost.split_first() else {
        return 0;
    };
    let start = begin(out, FMT, pt::RTPFB);
    out.extend_from_slice(&sender.0.to_be_bytes());
    out.extend_from_slice(&media.0.to_be_bytes());
    let (mut pid, mut blp) = (first, 0u16);
    let mut entries = 0;
    let flush = |out: &mut Vec<u8>, pid: u16, blp: u16| {
        out.extend_from_slice(&pid.to_be_bytes());
        out.extend_from_slice(&blp.to_be_bytes());
    };
    for &seq in rest {
        let d = seq.wrapping_sub(pid);
        if (1..=16).contains(&d) {
            blp |= 1 << (d - 1);
        } else if d != 0 {
            flush(out, pid, blp);
            entries += 1;
            if entries == MAX_NACK_ENTRIES {
                return finish(out, start);
            }
            (pid, blp) = (seq, 0);
        }
    }
    flush(out, pid, blp);
    finish(out, start)
}
