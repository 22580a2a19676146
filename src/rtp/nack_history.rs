//! A bounded history of recently forwarded packets of one track, kept so
//! NACKed packets can be retransmitted.
//!
//! One [`PacketHistory`] per publisher track per shard is shared by every
//! subscriber of that track on the shard: it stores the publisher's plain RTP
//! packets (`Bytes`, a reference-counted handle, so an insert copies no
//! payload) keyed by the publisher's extended sequence number. It is a ring
//! of fixed size: an insert overwrites the slot of the packet `capacity`
//! sequence numbers older, so steady-state inserts never allocate.

use bytes::Bytes;

use super::id::SeqNo;

/// The default capacity: 1024 packets, about 1 s of 8 Mbit/s video.
pub const DEFAULT_HISTORY_CAPACITY: usize = 1024;

/// Packets a history keeps at least and at most.
const MIN_CAPACITY: usize = 16;
const MAX_CAPACITY: usize = 32768;

/// Recent packets of one track by the publisher's sequence number.
#[derive(Debug, Clone)]
pub struct PacketHistory {
    /// Slot `ext % len` holds the packet with extended seq `ext`, if still there.
    slots: Box<[Option<(SeqNo, Bytes)>]>,
    /// Highest extended sequence number inserted.
    max: Option<SeqNo>,
}

impl PacketHistory {
    /// A history keeping the last `capacity` sequence numbers (rounded up to
    /// a power of two within 16..=32768). Allocates once, here.
    pub fn new(capacity: usize) -> Self {
        let cap = capacity
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
            .next_power_of_two();
        Self {
            slots: vec![None; cap].into_boxed_slice(),
            max: None,
        }
    }

    /// How many sequence numbers back the history reaches.
    pub fn capacity(&self) -> usize {
        self.slots.len()
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

    /// Stores `pkt` under wire sequence number `seq` (extended against the
    /// newest one); see [`Self::insert_ext`].
    pub fn insert(&mut self, seq: u16, pkt: Bytes) {
        let ext = self.extend(seq);
        self.insert_ext(ext, pkt);
    }

    /// Stores `pkt` under extended sequence number `seq`, evicting the packet
    /// `capacity` numbers older. A packet older than the window is ignored;
    /// a duplicate replaces the stored one.
    pub fn insert_ext(&mut self, seq: SeqNo, pkt: Bytes) {
        let cap = self.slots.len() as u64;
        if let Some(max) = self.max {
            if seq.0 + cap <= max.0 {
                return; // older than anything the ring can hold
            }
        }
        let idx = (seq.0 % cap) as usize;
        self.slots[idx] = Some((seq, pkt));
        if self.max.is_none_or(|m| seq > m) {
            self.max = Some(seq);
        }
    }

    /// The packet with wire sequence number `seq`, if still held.
    pub fn get(&self, seq: u16) -> Option<&Bytes> {
        self.get_ext(self.extend(seq))
    }

    /// The packet with extended sequence number `seq`, if still held.
    pub fn get_ext(&self, seq: SeqNo) -> Option<&Bytes> {
        let max = self.max?;
        let cap = self.slots.len() as u64;
        if seq > max || seq.0 + cap <= max.0 {
            return None;
        }
        match &self.slots[(seq.0 % cap) as usize] {
            Some((s, pkt)) if *s == seq => Some(pkt),
            _ => None,
        }
    }

    /// Forgets every packet (call when the publisher's source changes, so
    /// the new source's sequence numbers start afresh). Keeps the allocation.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
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

    fn pkt(n: u64) -> Bytes {
        Bytes::from(n.to_be_bytes().to_vec())
    }

    #[test]
    fn keeps_the_last_capacity_packets() {
        let mut h = PacketHistory::new(16);
        assert_eq!(h.capacity(), 16);
        assert!(h.get(0).is_none());
        for s in 0..40u16 {
            h.insert(s, pkt(u64::from(s)));
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
            h.insert(s, pkt(i));
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
        h.insert(100, pkt(100));
        h.insert(103, pkt(103));
        assert!(h.get(101).is_none(), "a hole stays empty");
        h.insert(101, pkt(101)); // reordered, inside the window
        assert_eq!(h.get(101), Some(&pkt(101)));
        h.insert(130, pkt(130));
        h.insert(110, pkt(110)); // too old now (130 - 16 = 114)
        assert!(h.get(110).is_none());
        assert!(h.get(103).is_none(), "outside the window");
        assert_eq!(h.get(130), Some(&pkt(130)));
    }

    #[test]
    fn a_big_jump_invalidates_old_slots() {
        let mut h = PacketHistory::new(16);
        for s in 0..16u16 {
            h.insert(s, pkt(u64::from(s)));
        }
        h.insert(20_000, pkt(20_000));
        for s in 0..16u16 {
            assert!(h.get(s).is_none());
        }
        assert_eq!(h.get(20_000), Some(&pkt(20_000)));
        h.clear();
        assert!(h.is_empty());
        assert!(h.get(20_000).is_none());
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
