//! What a subscriber counts of what it receives, and the seed mixer.

use shardsfu::rtp::SeqNo;

/// When a datagram arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The kernel's receive timestamp (CLOCK_REALTIME ns), if it gave one.
    pub kernel_ns: Option<u64>,
    /// When `recvmsg` returned (CLOCK_REALTIME ns).
    pub user_ns: u64,
}

/// Reception state of one subscriber track.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecvTrack {
    pub(crate) ssrc: u32,
    pub(crate) base: Option<SeqNo>,
    pub(crate) max: SeqNo,
    /// Packets received (retransmissions included, as RFC 3550 counts).
    pub received: u64,
    pub(crate) expected_prior: u64,
    pub(crate) received_prior: u64,
}

impl RecvTrack {
    /// Counts a packet with wire sequence number `seq`. When it jumps ahead
    /// past fewer than 256 missing numbers, puts them in `missing` (cleared
    /// first) and returns true: the caller sends a NACK.
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, missing: &mut Vec<u16>) -> bool {
        self.ssrc = ssrc;
        self.received += 1;
        let Some(_) = self.base else {
            // Start one cycle up so a reordered packet just below the first one still extends.
            let s = SeqNo(u64::from(seq) + (1 << 16));
            self.base = Some(s);
            self.max = s;
            return false;
        };
        let ext = SeqNo::extend(self.max, seq);
        if ext.0 <= self.max.0 {
            return false; // late or retransmitted
        }
        let gap = ext.0 - self.max.0 - 1;
        missing.clear();
        if gap > 0 && gap < 256 {
            missing.extend((self.max.0 + 1..ext.0).map(|s| s as u16));
        }
        self.max = ext;
        !missing.is_empty()
    }

    /// Expected packets so far.
    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |b| self.max.0 - b.0 + 1)
    }
}

/// A 64-bit mixer for seeds (SplitMix64).
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
