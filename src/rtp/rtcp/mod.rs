//! RTCP (RFC 3550 §6, RFC 4585, RFC 5104): compound packets parsed into
//! borrowed views, and writers for what an SFU sends (RR, PLI, FIR, NACK).
//!
//! [`parse_compound`] walks a compound packet; each item is an
//! [`RtcpPacket`] or an [`RtcpError`] naming the offending length or type.
//! Parsing stops at the first framing error (the rest cannot be located).

mod bye;
mod fir;
mod nack;
mod pli;
mod report;
mod sr;
#[cfg(test)]
mod tests;
mod twcc;
mod twcc_fb;

pub use bye::Bye;
pub use fir::{write_fir, Fir};
pub use nack::{write_nack, Nack};
pub use pli::{write_pli, Pli};
pub use report::{write_rr, ReceiverReport, ReportBlock, SenderReport};
pub use sr::{write_sr, SenderInfo};
pub use twcc::TransportCc;
pub use twcc_fb::{TwccError, TwccFeedback, TwccStatus};

use super::id::Ssrc;

/// RTCP packet types (RFC 3550, RFC 4585).
pub mod pt {
    /// Sender report.
    pub const SR: u8 = 200;
    /// Receiver report.
    pub const RR: u8 = 201;
    /// Source description.
    pub const SDES: u8 = 202;
    /// Goodbye.
    pub const BYE: u8 = 203;
    /// Application-defined.
    pub const APP: u8 = 204;
    /// Transport-layer feedback.
    pub const RTPFB: u8 = 205;
    /// Payload-specific feedback.
    pub const PSFB: u8 = 206;
    /// Extended report.
    pub const XR: u8 = 207;
}

/// Length of the common RTCP header.
pub(super) const HEADER_LEN: usize = 4;

/// Why an RTCP packet did not parse.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    /// Fewer than 4 bytes left for a header.
    #[error("RTCP header needs 4 bytes, {len} left")]
    TooShort {
        /// Bytes left.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {version}, expected 2 (packet type {pt})")]
    BadVersion {
        /// The version found.
        version: u8,
        /// The packet type byte.
        pt: u8,
    },
    /// The length field points past the end of the datagram.
    #[error("RTCP packet type {pt} declares {declared} bytes, {available} left")]
    LengthOverflow {
        /// The packet type byte.
        pt: u8,
        /// Bytes the length field declares (including the header).
        declared: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// The padding count is zero or larger than the packet body.
    #[error("RTCP packet type {pt} has invalid padding {padding} in {len} bytes")]
    BadPadding {
        /// The packet type byte.
        pt: u8,
        /// The last byte of the packet.
        padding: u8,
        /// Packet length.
        len: usize,
    },
    /// The packet is shorter than its type (and count) require.
    #[error("RTCP packet type {pt} fmt/count {count}: {len} bytes, needs {need}")]
    Truncated {
        /// The packet type byte.
        pt: u8,
        /// The FMT / count field.
        count: u8,
        /// Packet length (without padding).
        len: usize,
        /// Bytes required.
        need: usize,
    },
    /// A feedback message whose FCI length is not a whole number of entries.
    #[error("RTCP packet type {pt} fmt {fmt}: FCI of {len} bytes is not a multiple of {entry}")]
    BadFci {
        /// The packet type byte.
        pt: u8,
        /// The FMT field.
        fmt: u8,
        /// FCI length.
        len: usize,
        /// Entry size.
        entry: usize,
    },
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report (200).
    SenderReport(SenderReport<'a>),
    /// Receiver report (201).
    ReceiverReport(ReceiverReport<'a>),
    /// Source description (202): not parsed.
    Sdes,
    /// Goodbye (203).
    Bye(Bye<'a>),
    /// Generic NACK (205, FMT 1).
    Nack(Nack<'a>),
    /// Transport-wide congestion control feedback (205, FMT 15): header only.
    TransportCc(TransportCc<'a>),
    /// Picture loss indication (206, FMT 1).
    Pli(Pli),
    /// Full intra request (206, FMT 4).
    Fir(Fir<'a>),
    /// Application-layer feedback (206, FMT 15), e.g. REMB: not parsed.
    Remb,
    /// Any other type or format, skipped.
    Other {
        /// The packet type byte.
        pt: u8,
        /// The FMT / count field.
        fmt: u8,
    },
}

/// The common header fields and the body of one RTCP packet (padding removed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'a> {
    pub pt: u8,
    pub count: u8,
    /// The whole packet without padding, header included.
    pub data: &'a [u8],
}

impl Raw<'_> {
    /// Checks a feedback message: the `fixed` part and at least one FCI
    /// entry of `entry` bytes, and a whole number of entries.
    pub(super) fn need_fci(&self, fixed: usize, entry: usize) -> Result<(), RtcpError> {
        self.need(fixed + entry)?;
        let len = self.data.len() - fixed;
        if len % entry != 0 {
            return Err(RtcpError::BadFci {
                pt: self.pt,
                fmt: self.count,
                len,
                entry,
            });
        }
        Ok(())
    }

    pub(super) fn need(&self, need: usize) -> Result<(), RtcpError> {
        if self.data.len() < need {
            return Err(RtcpError::Truncated {
                pt: self.pt,
                count: self.count,
                len: self.data.len(),
                need,
            });
        }
        Ok(())
    }
}

/// Reads a big-endian u32 at `off`; callers checked the length.
pub(super) fn be32(d: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

/// Reads an SSRC at `off`; callers checked the length.
pub(super) fn ssrc_at(d: &[u8], off: usize) -> Ssrc {
    Ssrc(be32(d, off))
}

/// Iterator over the packets of a compound RTCP datagram.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    rest: &'a [u8],
}

/// Walks a compound RTCP datagram (already SRTCP-unprotected).
pub fn parse_compound(datagram: &[u8]) -> Compound<'_> {
    Compound { rest: datagram }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = split(self.rest);
        match r {
            Ok((raw, tail)) => {
                self.rest = tail;
                Some(decode(raw))
            }
            Err(e) => {
                // The next packet cannot be located: stop.
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Splits the first packet off `d`.
fn split(d: &[u8]) -> Result<(Raw<'_>, &[u8]), RtcpError> {
    if d.len() < HEADER_LEN {
        return Err(RtcpError::TooShort { len: d.len() });
    }
    let (version, pt) = (d[0] >> 6, d[1]);
    if version != 2 {
        return Err(RtcpError::BadVersion { version, pt });
    }
    let declared = 4 * (usize::from(u16::from_be_bytes([d[2], d[3]])) + 1);
    if declared > d.len() {
        return Err(RtcpError::LengthOverflow {
            pt,
            declared,
            available: d.len(),
        });
    }
    let (pkt, tail) = d.split_at(declared);
    let mut data = pkt;
    if d[0] & 0x20 != 0 {
        let padding = pkt[declared - 1];
        if padding == 0 || usize::from(padding) > declared - HEADER_LEN {
            return Err(RtcpError::BadPadding {
                pt,
                padding,
                len: declared,
            });
        }
        data = &pkt[..declared - usize::from(padding)];
    }
    Ok((
        Raw {
            pt,
            count: d[0] & 0x1f,
            data,
        },
        tail,
    ))
}

fn decode(raw: Raw<'_>) -> Result<RtcpPacket<'_>, RtcpError> {
    Ok(match (raw.pt, raw.count) {
        (pt::SR, _) => RtcpPacket::SenderReport(SenderReport::parse(raw)?),
        (pt::RR, _) => RtcpPacket::ReceiverReport(ReceiverReport::parse(raw)?),
        (pt::SDES, _) => RtcpPacket::Sdes,
        (pt::BYE, _) => RtcpPacket::Bye(Bye::parse(raw)?),
        (pt::RTPFB, nack::FMT) => RtcpPacket::Nack(Nack::parse(raw)?),
        (pt::RTPFB, twcc::FMT) => RtcpPacket::TransportCc(TransportCc::parse(raw)?),
        (pt::PSFB, pli::FMT) => RtcpPacket::Pli(Pli::parse(raw)?),
        (pt::PSFB, fir::FMT) => RtcpPacket::Fir(Fir::parse(raw)?),
        (pt::PSFB, 15) => RtcpPacket::Remb,
        (pt, fmt) => RtcpPacket::Other { pt, fmt },
    })
}

/// Writes a common header with a zero length into `out`; returns its offset for [`finish`].
pub(super) fn begin(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), pt, 0, 0]);
    start
}

/// Patches the length field of the packet begun at `start`; returns its size in bytes.
pub(super) fn finish(out: &mut [u8], start: usize) -> usize {
    let len = out.len() - start;
    debug_assert_eq!(len % 4, 0, "RTCP writers emit whole words");
    // Writers cap their entries so a packet stays well under 2^18 bytes.
    let words = (len / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    len
}
