//! Typed wire identifiers: SSRC, payload type, extended sequence number, media time.

use std::fmt;

/// A synchronization source identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for Ssrc {
    fn from(v: u32) -> Self {
        Ssrc(v)
    }
}

/// An RTP payload type (7 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pt(pub u8);

impl Pt {
    /// The payload type as it sits in the header (the top bit, the marker, masked off).
    pub fn wire(self) -> u8 {
        self.0 & 0x7f
    }
}

impl fmt::Display for Pt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An RTP sequence number extended past its 16-bit rollover (RFC 3550 A.1):
/// the low 16 bits are the wire value, the rest count rollovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The 16-bit value on the wire.
    pub fn wire(self) -> u16 {
        self.0 as u16
    }

    /// How many times the 16-bit counter rolled over.
    pub fn rollovers(self) -> u64 {
        self.0 >> 16
    }

    /// Extends `wire` to the value closest to `prev` (within ±2^15), so a
    /// packet just after a wrap counts up and a reordered one just before it
    /// counts down.
    pub fn extend(prev: SeqNo, wire: u16) -> SeqNo {
        let delta = wire.wrapping_sub(prev.wire()) as i16;
        let v = prev.0 as i64 + i64::from(delta);
        // Before the first rollover a late packet cannot go below zero.
        SeqNo(v.max(0) as u64)
    }

    /// Whether wire value `a` is newer than `b` in 16-bit serial arithmetic.
    pub fn wire_newer(a: u16, b: u16) -> bool {
        a != b && (a.wrapping_sub(b) as i16) > 0
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A media timestamp paired with its clock rate (90 000 for video, 48 000 for Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaTime {
    /// Ticks of the clock.
    pub ticks: u64,
    /// Ticks per second; never zero when built through [`MediaTime::new`].
    pub clock_rate: u32,
}

impl MediaTime {
    /// A time of `ticks` at `clock_rate` Hz (a zero rate is taken as 1 Hz).
    pub fn new(ticks: u64, clock_rate: u32) -> Self {
        Self {
            ticks,
            clock_rate: clock_rate.max(1),
        }
    }

    /// Converts a wall-clock duration into ticks of `clock_rate`.
    pub fn from_duration(d: std::time::Duration, clock_rate: u32) -> Self {
        let rate = clock_rate.max(1);
        let ticks = d.as_micros().saturating_mul(u128::from(rate)) / 1_000_000;
        Self::new(u64::try_from(ticks).unwrap_or(u64::MAX), rate)
    }

    /// The same instant expressed at another clock rate.
    pub fn rebase(self, clock_rate: u32) -> Self {
        let rate = clock_rate.max(1);
        let t = u128::from(self.ticks) * u128::from(rate) / u128::from(self.clock_rate.max(1));
        Self::new(u64::try_from(t).unwrap_or(u64::MAX), rate)
    }

    /// The low 32 bits, as an RTP timestamp.
    pub fn rtp_timestamp(self) -> u32 {
        self.ticks as u32
    }

    /// As a wall-clock duration.
    pub fn as_duration(self) -> std::time::Duration {
        let us = u128::from(self.ticks) * 1_000_000 / u128::from(self.clock_rate.max(1));
        std::time::Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }
}
