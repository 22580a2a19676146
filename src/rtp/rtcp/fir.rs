//! Full intra request (RFC 5104 §4.3.1): PSFB, FMT 4, entries of (SSRC, seq nr).

use super::{begin, finish, pt, ssrc_at, Raw, RtcpError};
use crate::rtp::id::Ssrc;

/// The FMT of FIR within PSFB.
pub(super) const FMT: u8 = 4;
/// Header, sender SSRC and the (unused) media SSRC.
const FIXED: usize = 12;
/// One FCI entry: SSRC, seq nr, 3 reserved bytes.
const ENTRY: usize = 8;
/// Most entries [`write_fir`] writes.
pub const MAX_FIR_ENTRIES: usize = 64;

/// A FIR view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    data: &'a [u8],
}

impl<'a> Fir<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        raw.need_fci(FIXED, ENTRY)?;
        Ok(Self { data: raw.data })
    }

    /// Who asks.
    pub fn sender(&self) -> Ssrc {
        ssrc_at(self.data, 4)
    }

    /// The requests: (media source, command sequence number).
    pub fn entries(&self) -> impl Iterator<Item = (Ssrc, u8)> + 'a {
        self.data[FIXED..]
            .chunks_exact(ENTRY)
            .map(|e| (ssrc_at(e, 0), e[4]))
    }
}

/// Appends a FIR with up to 64 `(media, seq nr)` entries; returns the bytes written.
pub fn write_fir(out: &mut Vec<u8>, sender: Ssrc, entries: &[(Ssrc, u8)]) -> usize {
    let start = begin(out, FMT, pt::PSFB);
    out.extend_from_slice(&sender.0.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // media SSRC unused (RFC 5104 §4.3.1.2)
    for (ssrc, seq) in entries.iter().take(MAX_FIR_ENTRIES) {
        out.extend_from_slice(&ssrc.0.to_be_bytes());
        out.extend_from_slice(&[*seq, 0, 0, 0]);
    }
    finish(out, start)
}
