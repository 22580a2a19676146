//! A bounded history of recently forwarded packets of one track, kept so
//! NACKed packets can be retransmitted.
//!
//! One [`PacketHistory`] per publisher track per shard is shared by every
//! subscriber of that track on the shard: it stores the publisher's plain RTP
//! packets (`Bytes`, a reference-counted handle to the packet already in
//! flight, so an insert copies no payload) keyed by the publisher's extended
//! sequence number, oldest first.
//!
//! What it holds is bounded by time and by count: a packet leaves once it is
//! older than the history's age limit ([`DEFAULT_HISTORY_AGE`], libwebrtc's
//! 1 s: a retransmission later than that arrives after the receiver's jitter
//! buffer gave up) or more than `capacity` sequence numbers behind the newest.
//! So a 1 Mbit/s stream holds about 1 s of its packets, not a fixed number of
//! slots, and memory follows the bitrate. The deque keeps its allocation, so
//! steady-state inserts do not allocate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::id::SeqNo;

/// The default capacity: 1024 packets, about 1 s of 8 Mbit/s video.
pub const DEFAULT_HISTORY_CAPACITY: usize = 1024;

/// How long a packet stays at most, by default.
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(1);

/// Packets a history keeps at least and at most.
const MIN_CAPACITY: usize = 16;
const MAX_CAPACITY: usize = 32768;

/// One packet held.
#[derive(Debug, Clone)]
struct Held {
    seq: SeqNo,
    at: Instant,
    pkt: Bytes,
}

/// Recent packets of one track by the publisher's sequence number.
#[derive(Debug, Clone)]
pub struct PacketHistory {
    /// Ascending by `seq`, the oldest first.
    held: VecDeque<Held>,
    /// Highest extended sequence number inserted.
    max: Option<SeqNo>,
    capacity: u64,
    max_age: Duration,
}

impl PacketHistory {
    /// A history keeping at most the last `capacity` sequence numbers
    /// (rounded up to a power of two within 16..=32768), each for at most
    /// [`DEFAULT_HISTORY_AGE`].
    pub fn new(capacity: usize) -> Self {
        Self::with_max_age(capacity, DEFAULT_HISTORY_AGE)
    }

    /// As [`Self::new`], with packets kept at most `max_age`.
    pub fn with_max_age(capacity: usize, max_age: Duration) -> Self {
        let cap = capacity
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
            .next_power_of_two();
        Self {
            held: VecDeque::new(),
            max: None,
            capacity: cap as u64,
            max_age,
        }
    }

    /// How many sequence numbers back the history reaches at most.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing was inserted since creation or [`Self::clear`].
    pub fn is_empty(&self) -> bool {
        self.max.is_none()
    }

    /// The highest extended sequence number inserted so far.
    pub fn max_seq(&self) -> Option<SeqNo> {
        self.max
    }

    /// Extends a wire sequence number against the newest one inserted.
    pub fn extend(&self, seq: u16) -> SeqNo {
        match self.max {
            Some(max) => SeqNo::extend(max, seq),
            None => SeqNo(u64::from(seq)),
        }
    }

    /// Stores `pkt`, received at `now`, under wire sequence number `seq`
    /// (extended against the newest one); see [`Self::insert_ext`].
    pub fn insert(&mut self, now: Instant, seq: u16, pkt: Bytes) {
        let ext = self.extend(seq);
        self.insert_ext(now, ext, pkt);
    }

    /// Stores `pkt` under extended sequence number `seq`, then drops what is
    /// older than the age limit or `capacity` numbers behind the newest. A
    /// packet older than the window is ignored; a duplicate replaces the
    /// stored one.
    pub fn insert_ext(&mut self, now: Instant, seq: SeqNo, pkt: Bytes) {
        if let Some(max) = self.max {
            if seq.0 + self.capacity <= max.0 {
                return; // older than anything the window holds
            }
        }
        let held = Held { seq, at: now, pkt };
        match self.held.back() {
            None => self.held.push_back(held),
            Some(last) if last.seq < seq => self.held.push_back(held),
            // Reordered or repeated (rare): find its place.
            Some(_) => match self.held.binary_search_by_key(&seq, |h| h.seq) {
                Ok(i) => self.held[i] = held,
                Err(i) => self.held.insert(i, held),
            },
        }
        if self.max.is_none_or(|m| seq > m) {
            self.max = Some(seq);
        }
        self.trim(now);
    }

    /// How long a packet stays at most.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Changes how long packets stay at most (from the next insert or
    /// [`Self::expire`] on).
    pub fn set_max_age(&mut self, max_age: Duration) {
        self.max_age = max_age;
    }

    /// Drops the packets older than the age limit at `now` (for a track
    /// nobody NACKs any more, whose inserts stopped).
    pub fn expire(&mut self, now: Instant) {
        self.trim(now);
    }

    /// Drops packets past the age limit or out of the sequence window.
    fn trim(&mut self, now: Instant) {
        let Some(max) = self.max else { return };
        while let Some(front) = self.held.front() {
            let old = now.saturating_duration_since(front.at) > self.max_age;
            if old || front.seq.0 + self.capacity <= max.0 {
                self.held.pop_front();
            } else {
                break;
            }
        }
    }

    /// The packet with wire sequence number `seq`, if still held.
    pub fn get(&self, seq: u16) -> Option<&Bytes> {
        self.get_ext(self.extend(seq))
    }

    /// The packet with extended sequence number `seq`, if still held.
    pub fn get_ext(&self, seq: SeqNo) -> Option<&Bytes> {
        let first = self.held.front()?.seq;
        // Without losses the packets are contiguous: try the direct index.
        let guess = seq.0.checked_sub(first.0)? as usize;
        if let Some(h) = self.held.get(guess) {
            if h.seq == seq {
                return Some(&h.pkt);
            }
        }
        let i = self.held.binary_search_by_key(&seq, |h| h.seq).ok()?;
        Some(&self.held[i].pkt)
    }

    /// Forgets every packet (call when the publisher's source changes, so
    /// the new source's sequence numbers start afresh). Keeps the allocation.
    pub fn clear(&mut self) {
        self.held.clear();
        self.max = None;
    }
}

impl Default for PacketHistory {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    fn pkt(n: u64) -> Bytes {
        Bytes::from(n.to_be_bytes().to_vec())
    }

    #[test]
    fn keeps_the_last_capacity_packets() {
        let mut h = PacketHistory::new(16);
        assert_eq!(h.capacity(), 16);
        assert!(h.get(0).is_none());
        for s in 0..40u16 {
            h.insert(t0(), s, pkt(u64::from(s)));
        }
        assert!(h.get(23).is_none(), "evicted");
        assert_eq!(h.get(24), Some(&pkt(24)));
        assert_eq!(h.get(39), Some(&pkt(39)));
        assert!(h.get(40).is_none(), "not yet sent");
    }

    #[test]
    fn wraps_the_16_bit_sequence() {
        let mut h = PacketHistory::new(32);
        for i in 0..64u64 {
            let s = (65_520 + i) as u16;
            h.insert(t0(), s, pkt(i));
        }
        assert_eq!(h.max_seq(), Some(SeqNo(65_520 + 63)));
        // The last 32: 65_552..65_584, i.e. wire 16..47.
        assert_eq!(h.get(47), Some(&pkt(63)));
        assert_eq!(h.get(16), Some(&pkt(32)));
        assert!(h.get(15).is_none());
        assert!(h.get(65_530).is_none(), "before the window");
    }

    #[test]
    fn holes_and_late_inserts() {
        let mut h = PacketHistory::new(16);
        h.insert(t0(), 100, pkt(100));
        h.insert(t0(), 103, pkt(103));
        assert!(h.get(101).is_none(), "a hole stays empty");
        h.insert(t0(), 101, pkt(101)); // reordered, inside the window
        assert_eq!(h.get(101), Some(&pkt(101)));
        h.insert(t0(), 130, pkt(130));
        h.insert(t0(), 110, pkt(110)); // too old now (130 - 16 = 114)
        assert!(h.get(110).is_none());
        assert!(h.get(103).is_none(), "outside the window");
        assert_eq!(h.get(130), Some(&pkt(130)));
    }

    #[test]
    fn a_big_jump_invalidates_old_slots() {
        let mut h = PacketHistory::new(16);
        for s in 0..16u16 {
            h.insert(t0(), s, pkt(u64::from(s)));
        }
        h.insert(t0(), 20_000, pkt(20_000));
        for s in 0..16u16 {
            assert!(h.get(s).is_none());
        }
        assert_eq!(h.get(20_000), Some(&pkt(20_000)));
        h.clear();
        assert!(h.is_empty());
        assert!(h.get(20_000).is_none());
    }

    #[test]
    fn packets_leave_after_the_age_limit() {
        let mut h = PacketHistory::with_max_age(1024, Duration::from_millis(500));
        let start = t0();
        for s in 0..100u16 {
            // One packet every 10 ms: 1 s of packets.
            h.insert(
                start + Duration::from_millis(10 * u64::from(s)),
                s,
                pkt(u64::from(s)),
            );
        }
        // At 990 ms, what arrived before 490 ms is gone.
        assert!(h.get(48).is_none());
        assert_eq!(h.get(49), Some(&pkt(49)));
        assert_eq!(h.get(99), Some(&pkt(99)));
        assert!(h.len() <= 52, "{}", h.len());
    }

    #[test]
    fn lookups_find_packets_across_holes() {
        let mut h = PacketHistory::new(1024);
        for s in (0..200u16).filter(|s| s % 7 != 3) {
            h.insert(t0(), s, pkt(u64::from(s)));
        }
        for s in 0..200u16 {
            assert_eq!(h.get(s).is_some(), s % 7 != 3, "{s}");
        }
        // A late one fills its hole.
        h.insert(t0(), 10, pkt(10));
        assert_eq!(h.get(10), Some(&pkt(10)));
        assert_eq!(h.get(11), Some(&pkt(11)));
    }

    #[test]
    fn capacity_is_clamped_to_a_power_of_two() {
        assert_eq!(PacketHistory::new(0).capacity(), 16);
        assert_eq!(PacketHistory::new(1000).capacity(), 1024);
        assert_eq!(PacketHistory::new(usize::MAX).capacity(), 32768);
        assert_eq!(
            PacketHistory::default().capacity(),
            DEFAULT_HISTORY_CAPACITY
        );
    }
}
