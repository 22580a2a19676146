//! Goodbye (RFC 3550 §6.6).

use super::{ssrc_at, Raw, RtcpError, HEADER_LEN};
use crate::rtp::id::Ssrc;

/// A BYE view: the sources leaving and an optional reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    data: &'a [u8],
    count: u8,
}

impl<'a> Bye<'a> {
    pub(super) fn parse(raw: Raw<'a>) -> Result<Self, RtcpError> {
        let end = HEADER_LEN + 4 * usize::from(raw.count);
        raw.need(end)?;
        if let Some(&reason_len) = raw.data.get(end) {
            raw.need(end + 1 + usize::from(reason_len))?;
        }
        Ok(Self {
            data: raw.data,
            count: raw.count,
        })
    }

    /// The SSRCs/CSRCs leaving.
    pub fn ssrcs(&self) -> impl Iterator<Item = Ssrc> + 'a {
        let d = self.data;
        (0..usize::from(self.count)).map(move |i| ssrc_at(d, HEADER_LEN + 4 * i))
    }

    /// The reason text, if any (bytes as sent; usually UTF-8).
    pub fn reason(&self) -> Option<&'a [u8]> {
        let end = HEADER_LEN + 4 * usize::from(self.count);
        let len = usize::from(*self.data.get(end)?);
        self.data.get(end + 1..end + 1 + len)
    }
}
