//! Per-subscriber rewriting of a publisher's RTP packets.
//!
//! A [`Rewriter`] belongs to one subscriber track. It maps each publisher
//! source's sequence numbers and timestamps into one continuous output space
//! by adding wrapping offsets. When the source changes (a publisher reconnect
//! shows up as a new SSRC), the new source continues at `max_out_seq + 1`,
//! and its timestamps at the last output timestamp plus the wall time since
//! that packet (times the clock rate), so the subscriber's jitter buffer sees
//! one stream with a gap, not a jump.

use std::time::Instant;

use super::header::{RtpError, RtpHeader, ONE_BYTE_PROFILE, TWO_BYTE_PROFILE};
use super::id::{MediaTime, Pt, SeqNo, Ssrc};

/// Maps a publisher's header extension ids to a subscriber's (0 = drop).
#[derive(Clone, PartialEq, Eq)]
pub struct ExtIdMap {
    map: [u8; 256],
}

impl ExtIdMap {
    /// A map that drops every extension.
    pub fn drop_all() -> Self {
        Self { map: [0; 256] }
    }

    /// A map from `(publisher id, subscriber id)` pairs; other ids are dropped.
    pub fn from_pairs(pairs: &[(u8, u8)]) -> Self {
        let mut m = Self::drop_all();
        for &(from, to) in pairs {
            m.set(from, to);
        }
        m
    }

    /// Maps `from` to `to` (`to == 0` drops it).
    pub fn set(&mut self, from: u8, to: u8) {
        self.map[usize::from(from)] = to;
    }

    /// The subscriber id for publisher id `from`, or `None` to drop it.
    pub fn get(&self, from: u8) -> Option<u8> {
        match self.map[usize::from(from)] {
            0 => None,
            to => Some(to),
        }
    }
}

impl Default for ExtIdMap {
    fn default() -> Self {
        Self::drop_all()
    }
}

impl std::fmt::Debug for ExtIdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<(usize, u8)> = self
            .map
            .iter()
            .enumerate()
            .filter(|(_, &to)| to != 0)
            .map(|(from, &to)| (from, to))
            .collect();
        f.debug_struct("ExtIdMap").field("pairs", &pairs).finish()
    }
}

/// The publisher source currently mapped.
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: Ssrc,
    seq_offset: u16,
    ts_offset: u32,
}

/// Sequence/timestamp continuity for one subscriber track.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    source: Option<Source>,
    /// Highest output sequence number written, extended.
    max_out_seq: Option<SeqNo>,
    /// Timestamp written with the newest packet, and when.
    last_out_ts: u32,
    last_out_at: Option<Instant>,
    switches: u64,
}

impl Rewriter {
    /// A rewriter for a track whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            source: None,
            max_out_seq: None,
            last_out_ts: 0,
            last_out_at: None,
            switches: 0,
        }
    }

    /// How many times the source changed after the first.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The highest output sequence number so far.
    pub fn max_out_seq(&self) -> Option<SeqNo> {
        self.max_out_seq
    }

    /// Rewrites `pkt` for the subscriber into `out` (cleared first; it only
    /// allocates when it must grow): SSRC and PT replaced, seq/ts mapped,
    /// header extension ids remapped through `ext_map` or dropped, CSRCs,
    /// marker, payload and padding kept. `now` is the packet's arrival time,
    /// used only when the source changes. Returns the output length.
    #[allow(clippy::too_many_arguments)] // The packet, the target fields and time: all needed per packet.
    pub fn rewrite_into(
        &mut self,
        now: Instant,
        pkt: &[u8],
        out: &mut Vec<u8>,
        ssrc: Ssrc,
        pt: Pt,
        ext_map: &ExtIdMap,
    ) -> Result<usize, RtpError> {
        let h = RtpHeader::parse(pkt)?;
        let (seq, ts) = self.map(now, &h);
        out.clear();
        out.reserve(pkt.len() + 8);
        let csrc_len = 4 * usize::from(pkt[0] & 0x0f);
        out.extend_from_slice(&[
            (pkt[0] & 0xef) | 0x80, // V=2, P and CC kept, X set below
            (pkt[1] & 0x80) | pt.wire(),
        ]);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&ssrc.0.to_be_bytes());
        out.extend_from_slice(&pkt[12..12 + csrc_len]);
        if write_extensions(&h, ext_map, out) {
            out[0] |= 0x10;
        }
        out.extend_from_slice(&pkt[h.payload_offset()..]);
        Ok(out.len())
    }

    /// The output (seq, ts) for `h`, switching source when its SSRC is new.
    fn map(&mut self, now: Instant, h: &RtpHeader<'_>) -> (u16, u32) {
        let (in_seq, in_ts) = (h.seq(), h.timestamp());
        let src = match self.source {
            Some(s) if s.ssrc == h.ssrc() => s,
            prev => {
                let s = match (self.max_out_seq, self.last_out_at) {
                    (Some(max), Some(at)) => {
                        let elapsed = now.saturating_duration_since(at);
                        let ticks = MediaTime::from_duration(elapsed, self.clock_rate).ticks;
                        // At least one tick: a new frame must not share the last timestamp.
                        let next_ts = self.last_out_ts.wrapping_add((ticks as u32).max(1));
                        Source {
                            ssrc: h.ssrc(),
                            seq_offset: max.wire().wrapping_add(1).wrapping_sub(in_seq),
                            ts_offset: next_ts.wrapping_sub(in_ts),
                        }
                    }
                    // The first source passes through unchanged.
                    _ => Source {
                        ssrc: h.ssrc(),
                        seq_offset: 0,
                        ts_offset: 0,
                    },
                };
                if prev.is_some() {
                    self.switches += 1;
                }
                self.source = Some(s);
                s
            }
        };
        let out_seq = in_seq.wrapping_add(src.seq_offset);
        let out_ts = in_ts.wrapping_add(src.ts_offset);
        let ext = match self.max_out_seq {
            None => SeqNo(u64::from(out_seq)),
            Some(max) => SeqNo::extend(max, out_seq),
        };
        if self.max_out_seq.is_none_or(|max| ext > max) {
            self.max_out_seq = Some(ext);
            self.last_out_ts = out_ts;
            self.last_out_at = Some(now);
        }
        (out_seq, out_ts)
    }
}

/// Appends the remapped extension block of `h` to `out`; returns whether one was written.
fn write_extensions(h: &RtpHeader<'_>, map: &ExtIdMap, out: &mut Vec<u8>) -> bool {
    if h.extension_form().is_none() {
        return false;
    }
    // One-byte form is possible when every kept element fits it.
    let mut any = false;
    let mut one_byte = true;
    for (id, v) in h.extensions() {
        if let Some(to) = map.get(id) {
            any = true;
            one_byte &= to <= 14 && (1..=16).contains(&v.len());
        }
    }
    if !any {
        return false;
    }
    let start = out.len();
    let profile = if one_byte {
        ONE_BYTE_PROFILE
    } else {
        TWO_BYTE_PROFILE
    };
    out.extend_from_slice(&profile.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // length, patched below
    for (id, v) in h.extensions() {
        let Some(to) = map.get(id) else { continue };
        if one_byte {
            // Lengths 1..=16 checked above, so `len - 1` fits 4 bits.
            out.push((to << 4) | (v.len() as u8 - 1));
        } else {
            // A value comes from a one-byte (<= 16) or two-byte (<= 255) element.
            out.extend_from_slice(&[to, v.len() as u8]);
        }
        out.extend_from_slice(v);
    }
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    // Input is one datagram (< 64 KiB), and the two-byte form at most grows it by half:
    // the word count fits u16.
    let words = ((out.len() - start - 4) / 4) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    true
}
