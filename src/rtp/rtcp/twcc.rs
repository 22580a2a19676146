//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
//! RTPFB, FMT 15. Only the fixed part is parsed for now; the chunks stay raw.

use super::{ssrc_at, Raw, RtcpError};
use crate::rtp::id::Ssrc;

/// The FMT of transport-cc within RTPFB.
pub(super) const FMT: u8 = 15;
/// Header, sender, media, base seq, status count, reference time, fb count.
const FIXED: usize = 20;

/// The fixed part of a transport-cc feedback packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    data: &'a [u8],
}

impl<'a> TransportCc<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        raw.need(FIXED)?;
        Ok(Self { data: raw.data })
    }

    /// Who sends the feedback.
    pub fn sender(&self) -> Ssrc {
        ssrc_at(self.data, 4)
    }

    /// The media source field.
    pub fn media(&self) -> Ssrc {
        ssrc_at(self.data, 8)
    }

    /// The first transport-wide sequence number covered.
    pub fn base_seq(&self) -> u16 {
        u16::from_be_bytes([self.data[12], self.data[13]])
    }

    /// How many packets the feedback covers.
    pub fn status_count(&self) -> u16 {
        u16::from_be_bytes([self.data[14], self.data[15]])
    }

    /// Reference time, in multiples of 64 ms (24 bits).
    pub fn reference_time(&self) -> u32 {
        u32::from_be_bytes([0, self.data[16], self.data[17], self.data[18]])
    }

    /// Feedback packet counter.
    pub fn feedback_count(&self) -> u8 {
        self.data[19]
    }

    /// The packet status chunks and receive deltas, unparsed.
    pub fn chunks(&self) -> &'a [u8] {
        &self.data[FIXED..]
    }
}
