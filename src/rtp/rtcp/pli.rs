//! Picture loss indication (RFC 4585 §6.3.1): PSFB, FMT 1, no FCI.

use super::{begin, finish, pt, ssrc_at, Raw, RtcpError};
use crate::rtp::id::Ssrc;

/// The FMT of PLI within PSFB.
pub(super) const FMT: u8 = 1;

/// A PLI: the sender asks `media` for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pli {
    /// Who asks.
    pub sender: Ssrc,
    /// The media source asked for a keyframe.
    pub media: Ssrc,
}

impl Pli {
    pub(super) fn parse(raw: Raw<'_>) -> Result<Self, RtcpError> {
        raw.need(12)?;
        Ok(Self {
            sender: ssrc_at(raw.data, 4),
            media: ssrc_at(raw.data, 8),
        })
    }
}

/// Appends a PLI; returns the bytes written (12).
pub fn write_pli(out: &mut Vec<u8>, sender: Ssrc, media: Ssrc) -> usize {
    let start = begin(out, FMT, pt::PSFB);
    out.extend_from_slice(&sender.0.to_be_bytes());
    out.extend_from_slice(&media.0.to_be_bytes());
    finish(out, start)
}
