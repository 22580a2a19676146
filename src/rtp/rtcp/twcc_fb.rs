//! Transport-wide congestion control feedback, fully parsed and written
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
//!
//! The FCI is: base sequence number, packet status count, 24-bit reference
//! time (64 ms units), feedback packet count, then packet status chunks
//! (run-length, or status vectors of 14 one-bit or 7 two-bit symbols), then
//! one receive delta per received packet (250 µs units; one unsigned byte
//! for symbol 1, two signed bytes for symbol 2). [`TwccFeedback::write`]
//! chooses chunks as libwebrtc does: runs while the symbols repeat, the
//! denser one-bit vector while no large delta needs the two-bit one.

use super::twcc::{TransportCc, FMT};
use super::{begin, pt, HEADER_LEN};
use crate::rtp::id::Ssrc;

/// Header, sender, media, base seq, status count, reference time, fb count.
const FIXED: usize = 20;
/// The longest run a run-length chunk holds (13 bits).
const MAX_RUN: usize = 0x1fff;
/// Symbols in a one-bit and a two-bit status vector.
const ONE_BIT_CAP: usize = 14;
const TWO_BIT_CAP: usize = 7;
/// Receive delta units, in microseconds.
pub const DELTA_UNIT_US: i64 = 250;
/// Reference time units, in microseconds.
pub const REFERENCE_UNIT_US: i64 = 64_000;

/// The status of one packet in a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwccStatus {
    /// Not received (yet).
    NotReceived,
    /// Received, delta in 0..=63.75 ms (symbol 1), in 250 µs units.
    Small(u8),
    /// Received, delta in -8192..8191.75 ms (symbol 2), in 250 µs units.
    Large(i16),
}

impl TwccStatus {
    /// The status for a received packet with `delta` 250 µs units after the
    /// previous one; `None` when it does not fit even a large delta.
    pub fn received(delta: i64) -> Option<Self> {
        if let Ok(d) = u8::try_from(delta) {
            Some(Self::Small(d))
        } else {
            i16::try_from(delta).ok().map(Self::Large)
        }
    }

    /// The receive delta in 250 µs units, if received.
    pub fn delta(self) -> Option<i64> {
        match self {
            Self::NotReceived => None,
            Self::Small(d) => Some(i64::from(d)),
            Self::Large(d) => Some(i64::from(d)),
        }
    }

    fn symbol(self) -> u8 {
        match self {
            Self::NotReceived => 0,
            Self::Small(_) => 1,
            Self::Large(_) => 2,
        }
    }
}

/// Why a transport-cc feedback did not parse.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum TwccError {
    /// Shorter than the 20-byte fixed part, or than its length field says.
    #[error("transport-cc packet of {len} bytes, needs {need}")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes required.
        need: usize,
    },
    /// Not an RTCP version 2 RTPFB packet with FMT 15.
    #[error("not transport-cc: version {version}, type {pt}, fmt {fmt}")]
    NotTwcc {
        /// The version field.
        version: u8,
        /// The packet type.
        pt: u8,
        /// The FMT field.
        fmt: u8,
    },
    /// The padding count is zero or larger than the packet.
    #[error("transport-cc padding of {padding} bytes in a {len}-byte packet")]
    BadPadding {
        /// The last byte.
        padding: u8,
        /// Packet length.
        len: usize,
    },
    /// The chunks end before covering the packet status count.
    #[error("transport-cc chunks cover {covered} of {count} packets")]
    ChunksTruncated {
        /// The packet status count.
        count: u16,
        /// Packets the chunks present cover.
        covered: usize,
    },
    /// A chunk uses the reserved symbol 3.
    #[error("transport-cc chunk {chunk:#06x} uses the reserved symbol 3")]
    ReservedSymbol {
        /// The chunk.
        chunk: u16,
    },
    /// The receive deltas end early.
    #[error("transport-cc receive deltas need {need} bytes, {have} left")]
    DeltasTruncated {
        /// Bytes the deltas need.
        need: usize,
        /// Bytes left after the chunks.
        have: usize,
    },
}

/// A transport-cc feedback packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TwccFeedback {
    /// Who sends the feedback.
    pub sender: Ssrc,
    /// The media source field (libwebrtc puts a media SSRC of the peer here).
    pub media: Ssrc,
    /// Transport-wide sequence number of the first status.
    pub base_seq: u16,
    /// Reference time, in 64 ms units (24 bits).
    pub reference_time: u32,
    /// Feedback packet counter.
    pub fb_count: u8,
    /// One status per packet from `base_seq` on (at most 65535).
    pub statuses: Vec<TwccStatus>,
}

impl TwccFeedback {
    /// Parses one RTCP packet (header included; padding honoured; bytes
    /// after its length field are ignored).
    pub fn parse(pkt: &[u8]) -> Result<Self, TwccError> {
        if pkt.len() < FIXED {
            return Err(TwccError::TooShort {
                len: pkt.len(),
                need: FIXED,
            });
        }
        let (version, fmt, ptype) = (pkt[0] >> 6, pkt[0] & 0x1f, pkt[1]);
        if version != 2 || ptype != pt::RTPFB || fmt != FMT {
            return Err(TwccError::NotTwcc {
                version,
                pt: ptype,
                fmt,
            });
        }
        let declared = 4 * (usize::from(u16::from_be_bytes([pkt[2], pkt[3]])) + 1);
        if declared > pkt.len() || declared < FIXED {
            return Err(TwccError::TooShort {
                len: pkt.len().min(declared),
                need: declared.max(FIXED),
            });
        }
        let mut data = &pkt[..declared];
        if pkt[0] & 0x20 != 0 {
            let padding = data[declared - 1];
            if padding == 0 || usize::from(padding) > declared - FIXED {
                return Err(TwccError::BadPadding {
                    padding,
                    len: declared,
                });
            }
            data = &data[..declared - usize::from(padding)];
        }
        Self::parse_body(data)
    }

    /// Parses the chunks of a transport-cc view from [`super::parse_compound`].
    pub fn from_view(v: &TransportCc<'_>) -> Result<Self, TwccError> {
        let mut fb = Self {
            sender: v.sender(),
            media: v.media(),
            base_seq: v.base_seq(),
            reference_time: v.reference_time(),
            fb_count: v.feedback_count(),
            statuses: Vec::new(),
        };
        fb.statuses = parse_fci(v.status_count(), v.chunks())?;
        Ok(fb)
    }

    /// `data`: the whole packet without padding, at least FIXED bytes.
    fn parse_body(d: &[u8]) -> Result<Self, TwccError> {
        let be16 = |o: usize| u16::from_be_bytes([d[o], d[o + 1]]);
        let be32 = |o: usize| u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        Ok(Self {
            sender: Ssrc(be32(4)),
            media: Ssrc(be32(8)),
            base_seq: be16(12),
            reference_time: be32(16) >> 8,
            fb_count: d[19],
            statuses: parse_fci(be16(14), &d[FIXED..])?,
        })
    }

    /// The reference time in microseconds.
    pub fn reference_us(&self) -> i64 {
        i64::from(self.reference_time) * REFERENCE_UNIT_US
    }

    /// Each packet's sequence number and, if received, its arrival time in
    /// microseconds since the reference time's origin.
    pub fn arrivals(&self) -> impl Iterator<Item = (u16, Option<i64>)> + '_ {
        let mut t = self.reference_us();
        self.statuses.iter().enumerate().map(move |(i, s)| {
            let seq = self.base_seq.wrapping_add(i as u16);
            let at = s.delta().map(|d| {
                t += d * DELTA_UNIT_US;
                t
            });
            (seq, at)
        })
    }

    /// Appends the packet (padded to 32 bits with the P bit, as libwebrtc
    /// does) and returns the bytes written. At most 65535 statuses are written.
    pub fn write(&self, out: &mut Vec<u8>) -> usize {
        let statuses = &self.statuses[..self.statuses.len().min(usize::from(u16::MAX))];
        let start = begin(out, FMT, pt::RTPFB);
        out.extend_from_slice(&self.sender.0.to_be_bytes());
        out.extend_from_slice(&self.media.0.to_be_bytes());
        out.extend_from_slice(&self.base_seq.to_be_bytes());
        // At most 65535, cut above.
        out.extend_from_slice(&(statuses.len() as u16).to_be_bytes());
        let rt = (self.reference_time & 0xff_ffff) << 8 | u32::from(self.fb_count);
        out.extend_from_slice(&rt.to_be_bytes());
        write_chunks(statuses, out);
        for s in statuses {
            match *s {
                TwccStatus::NotReceived => {}
                TwccStatus::Small(d) => out.push(d),
                TwccStatus::Large(d) => out.extend_from_slice(&d.to_be_bytes()),
            }
        }
        let pad = (4 - (out.len() - start) % 4) % 4;
        if pad > 0 {
            out.extend(std::iter::repeat_n(0, pad - 1));
            // 1..=3.
            out.push(pad as u8);
            out[start] |= 0x20;
        }
        let len = out.len() - start;
        // A packet of at most 65535 statuses is under 2^18 bytes.
        let words = (len / 4 - 1) as u16;
        out[start + 2..start + HEADER_LEN].copy_from_slice(&words.to_be_bytes());
        len
    }
}

/// Decodes `count` statuses from chunks and deltas in `fci`.
fn parse_fci(count: u16, fci: &[u8]) -> Result<Vec<TwccStatus>, TwccError> {
    let count = usize::from(count);
    let mut symbols: Vec<u8> = Vec::with_capacity(count.min(fci.len() * 8));
    let mut pos = 0;
    while symbols.len() < count {
        let Some(c) = fci.get(pos..pos + 2) else {
            return Err(TwccError::ChunksTruncated {
                count: count as u16,
                covered: symbols.len(),
            });
        };
        let chunk = u16::from_be_bytes([c[0], c[1]]);
        pos += 2;
        let left = count - symbols.len();
        if chunk & 0x8000 == 0 {
            let sym = ((chunk >> 13) & 3) as u8;
            if sym == 3 {
                return Err(TwccError::ReservedSymbol { chunk });
            }
            let run = usize::from(chunk & 0x1fff).min(left);
            symbols.extend(std::iter::repeat_n(sym, run));
        } else if chunk & 0x4000 == 0 {
            for i in (0..ONE_BIT_CAP).take(left) {
                symbols.push(((chunk >> (13 - i)) & 1) as u8);
            }
        } else {
            for i in (0..TWO_BIT_CAP).take(left) {
                let sym = ((chunk >> (12 - 2 * i)) & 3) as u8;
                if sym == 3 {
                    return Err(TwccError::ReservedSymbol { chunk });
                }
                symbols.push(sym);
            }
        }
    }
    let need: usize = symbols.iter().map(|&s| usize::from(s)).sum();
    let deltas = &fci[pos..];
    if deltas.len() < need {
        return Err(TwccError::DeltasTruncated {
            need,
            have: deltas.len(),
        });
    }
    let mut p = 0;
    Ok(symbols
        .into_iter()
        .map(|s| match s {
            1 => {
                p += 1;
                TwccStatus::Small(deltas[p - 1])
            }
            2 => {
                p += 2;
                TwccStatus::Large(i16::from_be_bytes([deltas[p - 2], deltas[p - 1]]))
            }
            _ => TwccStatus::NotReceived,
        })
        .collect())
}

/// Appends the status chunks for `statuses` (libwebrtc's greedy choice).
fn write_chunks(statuses: &[TwccStatus], out: &mut Vec<u8>) {
    let mut last = LastChunk::default();
    for s in statuses {
        let sym = s.symbol();
        if !last.can_add(sym) {
            last.emit(out);
        }
        last.add(sym);
    }
    if last.size > 0 {
        last.emit_last(out);
    }
}

/// The symbols not yet written: up to 14 kept, more only while all equal.
#[derive(Debug)]
struct LastChunk {
    syms: [u8; ONE_BIT_CAP],
    size: usize,
    all_same: bool,
    has_large: bool,
}

impl Default for LastChunk {
    fn default() -> Self {
        Self {
            syms: [0; ONE_BIT_CAP],
            size: 0,
            all_same: true,
            has_large: false,
        }
    }
}

impl LastChunk {
    fn can_add(&self, sym: u8) -> bool {
        self.size < TWO_BIT_CAP
            || (self.size < ONE_BIT_CAP && !self.has_large && sym != 2)
            || (self.all_same && self.syms[0] == sym && self.size < MAX_RUN)
    }

    fn add(&mut self, sym: u8) {
        if self.size < ONE_BIT_CAP {
            self.syms[self.size] = sym;
        }
        self.size += 1;
        self.all_same &= sym == self.syms[0];
        self.has_large |= sym == 2;
    }

    /// Writes a chunk because the next symbol does not fit.
    fn emit(&mut self, out: &mut Vec<u8>) {
        if self.all_same {
            push_chunk(out, u16::from(self.syms[0]) << 13 | self.size as u16);
            *self = Self::default();
        } else if self.size == ONE_BIT_CAP {
            emit_vector(out, &self.syms, false);
            *self = Self::default();
        } else {
            // 7..14 symbols with a large delta among them or coming.
            emit_vector(out, &self.syms[..TWO_BIT_CAP], true);
            let rest = self.size - TWO_BIT_CAP;
            let mut next = Self::default();
            for i in 0..rest {
                next.add(self.syms[TWO_BIT_CAP + i]);
            }
            *self = next;
        }
    }

    /// Writes the final chunk.
    fn emit_last(&mut self, out: &mut Vec<u8>) {
        if self.all_same {
            push_chunk(out, u16::from(self.syms[0]) << 13 | self.size as u16);
        } else if self.size <= TWO_BIT_CAP {
            emit_vector(out, &self.syms[..self.size], true);
        } else {
            // More than 7 mixed symbols only when none is large.
            emit_vector(out, &self.syms[..self.size], false);
        }
    }
}

/// Writes a status vector chunk of `syms` (padded with "not received").
fn emit_vector(out: &mut Vec<u8>, syms: &[u8], two_bit: bool) {
    let mut c: u16 = 0x8000;
    if two_bit {
        c |= 0x4000;
        for (i, &s) in syms.iter().take(TWO_BIT_CAP).enumerate() {
            c |= u16::from(s) << (12 - 2 * i);
        }
    } else {
        for (i, &s) in syms.iter().take(ONE_BIT_CAP).enumerate() {
            c |= u16::from(s & 1) << (13 - i);
        }
    }
    push_chunk(out, c);
}

fn push_chunk(out: &mut Vec<u8>, c: u16) {
    out.extend_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
#[path = "twcc_fb_tests.rs"]
mod tests;
