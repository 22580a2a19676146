//! Answering a subscriber's NACKs: which publisher packet an output
//! sequence number was, whether it is still in the track's
//! [`PacketHistory`], and whether this subscriber may have another
//! retransmission now.
//!
//! A [`NackResponder`] belongs to one subscriber track. The player calls
//! [`NackResponder::record`] for every packet it forwards (the Rewriter
//! just produced `out_seq` from the publisher's `in_seq`) and
//! [`NackResponder::on_media_sent`] with its size. When a NACK arrives it
//! calls [`NackResponder::resend`] for each lost sequence number; a granted
//! resend hands back the publisher's packet, which the player rewrites
//! again (the same Rewriter maps it to the same `out_seq` while the source
//! is unchanged) and sends as is or wrapped with [`super::write_rtx`].
//!
//! Two limits keep a NACK storm from amplifying load: a token bucket of
//! packets per second, and a byte budget that grows by a percentage of the
//! media bytes sent. A packet resent less than an RTT ago is not resent.
//!
//! Out→in needs no per-packet table: the Rewriter maps one publisher source
//! with one constant offset, so the responder keeps the runs of one offset
//! (a new run per source switch). A number inside a run that was never
//! forwarded (the publisher's own loss) maps to the publisher's number and
//! is answered if the history has it (recovered since), else refused as
//! evicted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::id::SeqNo;
use super::nack_history::PacketHistory;

/// Limits of one subscriber's retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackLimits {
    /// Retransmissions per second in the long run.
    pub packets_per_sec: u32,
    /// Retransmissions allowed at once after a quiet period.
    pub burst_packets: u32,
    /// Retransmitted bytes may reach this percentage of media bytes sent.
    pub percent_of_media: u32,
    /// Byte budget held at most (and given at start).
    pub burst_bytes: u32,
    /// The least time between two resends of one packet when no RTT is known
    /// (with an RTT, the larger of the two).
    pub min_resend_interval: Duration,
}

impl Default for NackLimits {
    fn default() -> Self {
        Self {
            packets_per_sec: 500,
            burst_packets: 100,
            percent_of_media: 50,
            burst_bytes: 128 * 1024,
            min_resend_interval: Duration::from_millis(20),
        }
    }
}

/// Why a resend was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This output sequence number was never recorded (or is too old for the map).
    Unknown,
    /// The publisher's packet has left the track's history.
    Evicted,
    /// The packet was resent less than an RTT ago.
    TooSoon,
    /// The subscriber's retransmission budget is spent.
    RateLimited,
}

/// A granted resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend<'h> {
    /// The publisher's sequence number of the packet.
    pub in_seq: u16,
    /// The publisher's plain packet, from the history.
    pub packet: &'h Bytes,
}

/// Counters of one responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackResponderStats {
    /// Sequence numbers asked for.
    pub requested: u64,
    /// Resends granted.
    pub granted: u64,
    /// Bytes granted.
    pub granted_bytes: u64,
    /// Refused: unknown sequence number.
    pub unknown: u64,
    /// Refused: no longer in the history.
    pub evicted: u64,
    /// Refused: resent too recently.
    pub too_soon: u64,
    /// Refused: over the rate limit.
    pub rate_limited: u64,
}

/// How far back (in output sequence numbers) a NACK is answered: as far as
/// the track history's default capacity reaches (older packets are gone
/// from it anyway).
const REACH: u64 = 1024;
/// Runs of one offset kept at most (a new one starts only when the
/// subscriber's Rewriter switches source).
const MAX_RUNS: usize = 8;
/// Resend times kept at most (only packets resent within the last interval
/// are kept, so this is reached only in a NACK storm).
const MAX_RESENT: usize = 256;
/// Micro-tokens per packet token.
const MICRO: u64 = 1_000_000;

/// Output sequence numbers from `start` on were the publisher's numbers
/// plus `offset` (the Rewriter maps a source with one constant offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: SeqNo,
    offset: u16,
}

/// NACK handling for one subscriber track.
///
/// It keeps no per-packet map: out→in is a constant offset per run of one
/// publisher source, so a track's state is a few runs and the resend times
/// of the packets resent within the last interval (empty unless there is
/// loss): ~200 bytes, where a 1024-slot map took 8 KiB per subscriber.
#[derive(Debug, Clone)]
pub struct NackResponder {
    limits: NackLimits,
    /// Oldest first; `start` ascending.
    runs: VecDeque<Run>,
    max_out: Option<SeqNo>,
    /// Packets resent within the last interval, oldest first.
    resent: VecDeque<(SeqNo, Instant)>,
    /// Packet tokens, in millionths.
    tokens: u64,
    refilled_at: Option<Instant>,
    /// Byte budget.
    bytes: u64,
    rtt: Option<Duration>,
    stats: NackResponderStats,
}

impl NackResponder {
    /// A responder with `limits`; the budgets start full.
    pub fn new(limits: NackLimits) -> Self {
        Self {
            limits,
            runs: VecDeque::new(),
            max_out: None,
            resent: VecDeque::new(),
            tokens: u64::from(limits.burst_packets) * MICRO,
            refilled_at: None,
            bytes: u64::from(limits.burst_bytes),
            rtt: None,
            stats: NackResponderStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> NackResponderStats {
        self.stats
    }

    /// Sets the subscriber's round-trip time (from its receiver reports).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    /// Notes that the publisher's `in_seq` was forwarded as `out_seq`
    /// (per packet: no allocation unless the offset changes).
    pub fn record(&mut self, out_seq: u16, in_seq: u16) {
        let out = match self.max_out {
            Some(max) => SeqNo::extend(max, out_seq),
            None => SeqNo(u64::from(out_seq)),
        };
        let offset = out_seq.wrapping_sub(in_seq);
        match self.runs.back() {
            Some(last) if last.offset == offset => {}
            // A late packet of an older run: that run still maps it.
            Some(last) if out < last.start => return,
            // The first packet, or a new source (the Rewriter switched).
            _ => {
                if self.runs.len() == MAX_RUNS {
                    self.runs.pop_front();
                }
                self.runs.push_back(Run { start: out, offset });
            }
        }
        if self.max_out.is_none_or(|m| out > m) {
            self.max_out = Some(out);
        }
        // Runs wholly out of reach go.
        let max = self.max_out.unwrap_or(out);
        while self.runs.len() > 1 && self.runs[1].start.0 + REACH <= max.0 {
            self.runs.pop_front();
        }
    }

    /// Adds `len` bytes of media sent to the subscriber to the byte budget
    /// (their configured percentage of them).
    pub fn on_media_sent(&mut self, len: usize) {
        let add = len as u64 * u64::from(self.limits.percent_of_media) / 100;
        self.bytes = (self.bytes + add).min(u64::from(self.limits.burst_bytes));
    }

    /// The publisher's sequence number forwarded as `out_seq`, if still mapped.
    pub fn lookup(&self, out_seq: u16) -> Option<u16> {
        let max = self.max_out?;
        let out = SeqNo::extend(max, out_seq);
        if out > max || out.0 + REACH <= max.0 {
            return None;
        }
        let run = self.runs.iter().rev().find(|r| r.start <= out)?;
        Some(out_seq.wrapping_sub(run.offset))
    }

    /// Decides on one lost `out_seq` of a NACK received at `now`: the
    /// publisher's packet to resend, or why not. A grant takes a packet
    /// token and the packet's size from the byte budget.
    pub fn resend<'h>(
        &mut self,
        now: Instant,
        out_seq: u16,
        history: &'h PacketHistory,
    ) -> Result<Resend<'h>, Refusal> {
        self.stats.requested += 1;
        self.refill(now);
        let Some(in_seq) = self.lookup(out_seq) else {
            self.stats.unknown += 1;
            return Err(Refusal::Unknown);
        };
        let Some(packet) = history.get(in_seq) else {
            self.stats.evicted += 1;
            return Err(Refusal::Evicted);
        };
        let interval = self.rtt.map_or(self.limits.min_resend_interval, |r| {
            r.max(self.limits.min_resend_interval)
        });
        // Resend times older than the interval matter no more.
        while self
            .resent
            .front()
            .is_some_and(|&(_, at)| now.saturating_duration_since(at) >= interval)
        {
            self.resent.pop_front();
        }
        let out = self
            .max_out
            .map_or(SeqNo(u64::from(out_seq)), |m| SeqNo::extend(m, out_seq));
        if self.resent.iter().any(|&(seq, _)| seq == out) {
            self.stats.too_soon += 1;
            return Err(Refusal::TooSoon);
        }
        let len = packet.len() as u64;
        if self.tokens < MICRO || self.bytes < len {
            self.stats.rate_limited += 1;
            return Err(Refusal::RateLimited);
        }
        self.tokens -= MICRO;
        self.bytes -= len;
        if self.resent.len() == MAX_RESENT {
            self.resent.pop_front();
        }
        self.resent.push_back((out, now));
        self.stats.granted += 1;
        self.stats.granted_bytes += len;
        Ok(Resend { in_seq, packet })
    }

    /// Forgets every mapping (call when the subscriber's Rewriter switches
    /// source, since the history is cleared too). Budgets are kept.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.resent.clear();
        self.max_out = None;
    }

    fn refill(&mut self, now: Instant) {
        let cap = u64::from(self.limits.burst_packets) * MICRO;
        if let Some(at) = self.refilled_at {
            let us = now.saturating_duration_since(at).as_micros();
            let add = us.saturating_mul(u128::from(self.limits.packets_per_sec));
            let add = u64::try_from(add).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(add).min(cap);
        }
        if self.refilled_at.is_none_or(|at| now > at) {
            self.refilled_at = Some(now);
        }
    }
}

impl Default for NackResponder {
    fn default() -> Self {
        Self::new(NackLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn maps_out_to_in_across_the_wrap() {
        let mut r = NackResponder::default();
        let mut h = PacketHistory::new(1024);
        // Output continues from 65_500 while the publisher's starts at 10.
        for i in 0..100u16 {
            let (out, inp) = (65_500u16.wrapping_add(i), 10 + i);
            r.record(out, inp);
            h.insert(Instant::now(), inp, pkt(100));
        }
        assert_eq!(r.lookup(65_500), Some(10));
        assert_eq!(r.lookup(3), Some(49), "65_536 + 3 is the 39th after 65_500");
        assert_eq!(r.lookup(63), Some(109));
        assert_eq!(r.lookup(64), None, "not forwarded yet");
        let now = Instant::now();
        let got = r.resend(now, 3, &h).unwrap();
        assert_eq!(got.in_seq, 49);
        assert_eq!(got.packet.len(), 100);
    }

    #[test]
    fn refusals() {
        let mut r = NackResponder::default();
        let mut h = PacketHistory::new(16);
        let now = Instant::now();
        assert_eq!(r.resend(now, 1, &h), Err(Refusal::Unknown));
        for s in 0..40u16 {
            r.record(s, s);
            h.insert(Instant::now(), s, pkt(10));
        }
        assert_eq!(r.resend(now, 5, &h), Err(Refusal::Evicted));
        assert!(r.resend(now, 39, &h).is_ok());
        assert_eq!(r.resend(now, 39, &h), Err(Refusal::TooSoon));
        let later = now + Duration::from_millis(25);
        assert!(r.resend(later, 39, &h).is_ok(), "after the interval");
        r.set_rtt(Duration::from_millis(200));
        assert_eq!(
            r.resend(later + Duration::from_millis(100), 39, &h),
            Err(Refusal::TooSoon),
            "an RTT of 200 ms widens the interval"
        );
        r.clear();
        assert_eq!(r.resend(later, 38, &h), Err(Refusal::Unknown));
        let s = r.stats();
        assert_eq!(
            (s.requested, s.granted, s.unknown, s.evicted, s.too_soon),
            (7, 2, 2, 1, 2)
        );
    }

    #[test]
    fn a_storm_of_10000_nacks_is_capped() {
        let limits = NackLimits::default();
        let mut r = NackResponder::new(limits);
        let mut h = PacketHistory::new(1024);
        for s in 0..1000u16 {
            r.record(s, s);
            h.insert(Instant::now(), s, pkt(1000));
        }
        let t0 = Instant::now();
        // 10,000 NACKs over one second, each for a different recent packet,
        // while 1000 media packets of 1000 bytes are sent.
        let mut granted = 0;
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 100);
            if i % 10 == 0 {
                r.on_media_sent(1000);
            }
            if r.resend(now, (i % 1000) as u16, &h).is_ok() {
                granted += 1;
            }
        }
        let s = r.stats();
        assert_eq!(s.requested, 10_000);
        assert_eq!(s.granted, granted);
        // Packets: at most the burst plus one second of rate.
        assert!(granted <= u64::from(limits.burst_packets + limits.packets_per_sec));
        // Bytes: at most the starting budget plus half the media bytes.
        let byte_cap = u64::from(limits.burst_bytes) + 1000 * 1000 / 2;
        assert!(
            s.granted_bytes <= byte_cap,
            "{} > {byte_cap}",
            s.granted_bytes
        );
        assert!(s.rate_limited > 8000, "{s:?}");
        assert!(granted >= 400, "the budget is used, not starved: {granted}");
    }

    #[test]
    fn the_byte_budget_follows_media() {
        let limits = NackLimits {
            burst_bytes: 2000,
            percent_of_media: 10,
            ..NackLimits::default()
        };
        let mut r = NackResponder::new(limits);
        let mut h = PacketHistory::new(64);
        for s in 0..10u16 {
            r.record(s, s);
            h.insert(Instant::now(), s, pkt(1000));
        }
        let now = Instant::now();
        assert!(r.resend(now, 0, &h).is_ok());
        assert!(r.resend(now, 1, &h).is_ok());
        assert_eq!(r.resend(now, 2, &h), Err(Refusal::RateLimited));
        r.on_media_sent(5000); // 10 % = 500 bytes
        assert_eq!(r.resend(now, 2, &h), Err(Refusal::RateLimited));
        r.on_media_sent(5000);
        assert!(r.resend(now, 2, &h).is_ok());
    }

    #[test]
    fn a_subscriber_tracks_nack_state_is_small_without_loss() {
        let mut r = NackResponder::default();
        for s in 0..5000u16 {
            r.record(s.wrapping_add(30_000), s);
        }
        assert_eq!(r.runs.len(), 1);
        assert!(r.resent.capacity() == 0, "nothing resent, nothing kept");
        assert!(std::mem::size_of::<NackResponder>() <= 256);
    }

    #[test]
    fn a_source_switch_starts_a_new_run() {
        let mut r = NackResponder::default();
        for s in 0..10u16 {
            r.record(100 + s, 1000 + s);
        }
        // The Rewriter continues at 110 with a new source numbered from 7.
        for s in 0..10u16 {
            r.record(110 + s, 7 + s);
        }
        assert_eq!(r.lookup(105), Some(1005));
        assert_eq!(r.lookup(110), Some(7));
        assert_eq!(r.lookup(99), None, "before the first packet forwarded");
        assert_eq!(r.runs.len(), 2);
    }

    #[test]
    fn resends_are_spaced_by_the_interval_long_after_the_epoch() {
        let mut r = NackResponder::default();
        let mut h = PacketHistory::new(64);
        let t = Instant::now();
        r.record(1, 1);
        h.insert(t, 1, pkt(10));
        assert!(r.resend(t, 1, &h).is_ok());
        // An hour later the same number (a later lap) resends again.
        let later = t + Duration::from_secs(3600);
        assert!(r.resend(later, 1, &h).is_ok());
        assert_eq!(r.resend(later, 1, &h), Err(Refusal::TooSoon));
    }

    #[test]
    fn reordered_records_keep_the_newer_mapping() {
        let mut r = NackResponder::default();
        r.record(5000, 1);
        r.record(5000 + REACH as u16, 2);
        r.record(5000, 3); // late duplicate of an old out_seq: ignored
        assert_eq!(r.lookup(5000 + REACH as u16), Some(2));
        assert_eq!(r.lookup(5000), None);
    }
}
