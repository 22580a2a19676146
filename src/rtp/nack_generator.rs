//! Asking a publisher for lost packets: gap detection on the extended
//! sequence number and NACK timing (RFC 4585 generic NACK).
//!
//! A [`NackGenerator`] belongs to one publisher media SSRC. The session
//! feeds it every packet that arrives ([`NackGenerator::on_packet`], with
//! RTX packets fed under their original sequence number), and when
//! [`NackGenerator::poll_timeout`] comes due it drains
//! [`NackGenerator::poll_nacks`] into [`super::rtcp::write_nack`]. A missing
//! packet is asked for at once, then again every `max(1.5 × RTT, 10 ms)`,
//! at most `max_tries` times and for at most `max_age`; then it is given up
//! and a keyframe request is raised for video.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::id::SeqNo;

/// Tuning of a [`NackGenerator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// Missing packets tracked at most; older ones are dropped (and a keyframe asked for).
    pub max_missing: usize,
    /// NACKs sent per packet at most.
    pub max_tries: u32,
    /// How long a packet is asked for after it was found missing.
    pub max_age: Duration,
    /// The least time between two NACKs for one packet.
    pub min_retry: Duration,
    /// Wait this long after finding a gap before the first NACK (absorbs reordering).
    pub reorder_delay: Duration,
    /// A forward jump larger than this is a restart, not loss: the list is
    /// cleared and a keyframe asked for.
    pub max_jump: u64,
}

impl Default for NackConfig {
    fn default() -> Self {
        Self {
            max_missing: 256,
            max_tries: 10,
            max_age: Duration::from_secs(1),
            min_retry: Duration::from_millis(10),
            reorder_delay: Duration::ZERO,
            max_jump: 3000,
        }
    }
}

/// What a packet's arrival meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next packet, or the first one.
    InOrder,
    /// Newer than expected: this many packets before it are now missing.
    Gap(u64),
    /// A packet that was missing arrived (reordered or retransmitted).
    Recovered,
    /// Older than the newest and not missing: a duplicate, or one given up on.
    Late,
    /// A jump of more than `max_jump`: tracking restarted from this packet.
    Restart,
}

/// Counters of one generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackGeneratorStats {
    /// Packets found missing.
    pub missing: u64,
    /// Sequence numbers put in NACKs (each try counts).
    pub nacks_sent: u64,
    /// Missing packets that arrived later.
    pub recovered: u64,
    /// Missing packets given up (too many tries, too old, or list full).
    pub given_up: u64,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    seq: SeqNo,
    found_at: Instant,
    sent_at: Option<Instant>,
    tries: u32,
}

/// NACK generation for one publisher SSRC.
#[derive(Debug, Clone)]
pub struct NackGenerator {
    cfg: NackConfig,
    max: Option<SeqNo>,
    /// Sorted by `seq`.
    missing: VecDeque<Missing>,
    rtt: Option<Duration>,
    keyframe: bool,
    stats: NackGeneratorStats,
}

impl NackGenerator {
    /// A generator with `cfg`.
    pub fn new(cfg: NackConfig) -> Self {
        Self {
            cfg,
            max: None,
            // Grows with loss only (up to `max_missing`): a clean stream keeps
            // nothing, where 256 slots of 48 bytes took 12 KiB per track.
            missing: VecDeque::new(),
            rtt: None,
            keyframe: false,
            stats: NackGeneratorStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> NackGeneratorStats {
        self.stats
    }

    /// Packets currently missing.
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// Sets the round-trip time to the publisher (from its RR/SR exchange).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    /// Extends a wire sequence number against the newest one seen.
    pub fn extend(&self, seq: u16) -> SeqNo {
        match self.max {
            Some(max) => SeqNo::extend(max, seq),
            None => SeqNo(u64::from(seq)),
        }
    }

    /// A packet with wire sequence number `seq` arrived; see [`Self::on_packet`].
    pub fn on_wire_seq(&mut self, now: Instant, seq: u16) -> Arrival {
        let ext = self.extend(seq);
        self.on_packet(now, ext)
    }

    /// A packet with extended sequence number `seq` arrived at `now`
    /// (an original, or an RTX packet's original sequence number).
    pub fn on_packet(&mut self, now: Instant, seq: SeqNo) -> Arrival {
        let Some(max) = self.max else {
            self.max = Some(seq);
            return Arrival::InOrder;
        };
        if seq <= max {
            return match self.missing.binary_search_by_key(&seq, |m| m.seq) {
                Ok(i) => {
                    self.missing.remove(i);
                    self.stats.recovered += 1;
                    Arrival::Recovered
                }
                Err(_) => Arrival::Late,
            };
        }
        self.max = Some(seq);
        let gap = seq.0 - max.0 - 1;
        if gap == 0 {
            return Arrival::InOrder;
        }
        if gap > self.cfg.max_jump {
            self.stats.given_up += self.missing.len() as u64;
            self.missing.clear();
            self.keyframe = true;
            return Arrival::Restart;
        }
        self.stats.missing += gap;
        // Only the newest `max_missing` of a long gap can be kept.
        let keep = gap.min(self.cfg.max_missing as u64);
        self.stats.given_up += gap - keep;
        for s in seq.0 - keep..seq.0 {
            self.missing.push_back(Missing {
                seq: SeqNo(s),
                found_at: now,
                sent_at: None,
                tries: 0,
            });
        }
        let over = self.missing.len().saturating_sub(self.cfg.max_missing);
        if over > 0 || gap > keep {
            self.missing.drain(..over);
            self.stats.given_up += over as u64;
            self.keyframe = true;
        }
        Arrival::Gap(gap)
    }

    /// Whether packets were given up since the last call (the caller asks
    /// the publisher for a keyframe, for video). Clears the flag.
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe)
    }

    /// When [`Self::poll_nacks`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.missing.iter().map(|m| self.due(m)).min()
    }

    /// Gives up on expired packets and appends to `out` the wire sequence
    /// numbers due for a NACK at `now` (oldest first), marking them sent.
    /// Returns how many were appended.
    pub fn poll_nacks(&mut self, now: Instant, out: &mut Vec<u16>) -> usize {
        let (cfg, before) = (self.cfg, out.len());
        let retry = self.retry_interval();
        let mut given_up = 0u64;
        self.missing.retain(|m| {
            let expired = m.tries >= cfg.max_tries
                || now.saturating_duration_since(m.found_at) >= cfg.max_age;
            given_up += u64::from(expired);
            !expired
        });
        if given_up > 0 {
            self.stats.given_up += given_up;
            self.keyframe = true;
        }
        for m in self.missing.iter_mut() {
            let due = match m.sent_at {
                None => m.found_at + cfg.reorder_delay,
                Some(at) => at + retry,
            };
            if due <= now {
                m.sent_at = Some(now);
                m.tries += 1;
                out.push(m.seq.wire());
            }
        }
        let n = out.len() - before;
        self.stats.nacks_sent += n as u64;
        n
    }

    /// Time between two NACKs for one packet.
    fn retry_interval(&self) -> Duration {
        let rtt = self.rtt.unwrap_or(Duration::from_millis(100));
        (rtt * 3 / 2).max(self.cfg.min_retry)
    }

    /// When `m` next needs attention: its next NACK, or its expiry.
    fn due(&self, m: &Missing) -> Instant {
        let expiry = m.found_at + self.cfg.max_age;
        if m.tries >= self.cfg.max_tries {
            // Expired: the next poll gives it up. Not earlier than its last NACK.
            return m.sent_at.unwrap_or(m.found_at);
        }
        let next = match m.sent_at {
            None => m.found_at + self.cfg.reorder_delay,
            Some(at) => at + self.retry_interval(),
        };
        next.min(expiry)
    }
}

impl Default for NackGenerator {
    fn default() -> Self {
        Self::new(NackConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn feed(g: &mut NackGenerator, now: Instant, seqs: &[u16]) -> Vec<Arrival> {
        seqs.iter().map(|&s| g.on_wire_seq(now, s)).collect()
    }

    fn nacks(g: &mut NackGenerator, now: Instant) -> Vec<u16> {
        let mut v = Vec::new();
        assert_eq!(g.poll_nacks(now, &mut v), v.len());
        v
    }

    #[test]
    fn gaps_are_nacked_at_once_and_recovery_stops_them() {
        let t0 = Instant::now();
        let mut g = NackGenerator::default();
        assert_eq!(g.poll_timeout(), None);
        let a = feed(&mut g, t0, &[10, 11, 14]);
        assert_eq!(a, vec![Arrival::InOrder, Arrival::InOrder, Arrival::Gap(2)]);
        assert_eq!(g.poll_timeout(), Some(t0));
        assert_eq!(nacks(&mut g, t0), vec![12, 13]);
        assert!(
            nacks(&mut g, t0 + MS).is_empty(),
            "not again before the retry time"
        );
        // The RTX of 12 arrives.
        assert_eq!(g.on_wire_seq(t0 + 20 * MS, 12), Arrival::Recovered);
        assert_eq!(g.on_wire_seq(t0 + 20 * MS, 12), Arrival::Late, "duplicate");
        // Without an RTT the retry waits 150 ms.
        assert_eq!(g.poll_timeout(), Some(t0 + 150 * MS));
        assert_eq!(nacks(&mut g, t0 + 150 * MS), vec![13]);
        assert_eq!(g.on_wire_seq(t0 + 160 * MS, 13), Arrival::Recovered);
        assert_eq!(g.poll_timeout(), None);
        let s = g.stats();
        assert_eq!(
            (s.missing, s.nacks_sent, s.recovered, s.given_up),
            (2, 3, 2, 0)
        );
        assert!(!g.take_keyframe_request());
    }

    #[test]
    fn retry_follows_the_rtt() {
        let t0 = Instant::now();
        let mut g = NackGenerator::default();
        g.set_rtt(40 * MS);
        feed(&mut g, t0, &[1, 3]);
        assert_eq!(nacks(&mut g, t0), vec![2]);
        assert_eq!(g.poll_timeout(), Some(t0 + 60 * MS));
        assert!(nacks(&mut g, t0 + 59 * MS).is_empty());
        assert_eq!(nacks(&mut g, t0 + 60 * MS), vec![2]);
        g.set_rtt(MS); // tiny RTT: the 10 ms floor applies
        assert_eq!(g.poll_timeout(), Some(t0 + 70 * MS));
    }

    #[test]
    fn reordering_within_the_delay_sends_nothing() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new(NackConfig {
            reorder_delay: 5 * MS,
            ..NackConfig::default()
        });
        feed(&mut g, t0, &[1, 3]);
        assert_eq!(g.poll_timeout(), Some(t0 + 5 * MS));
        assert!(nacks(&mut g, t0 + MS).is_empty());
        assert_eq!(g.on_wire_seq(t0 + 2 * MS, 2), Arrival::Recovered);
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.stats().nacks_sent, 0);
    }

    #[test]
    fn gives_up_after_max_tries() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new(NackConfig {
            max_tries: 3,
            ..NackConfig::default()
        });
        g.set_rtt(20 * MS); // retry every 30 ms
        feed(&mut g, t0, &[1, 3]);
        let mut now = t0;
        let mut sent = 0;
        while let Some(t) = g.poll_timeout() {
            now = t;
            sent += nacks(&mut g, now).len();
        }
        assert_eq!(sent, 3);
        assert_eq!(
            now,
            t0 + 60 * MS,
            "given up at the poll after the third NACK"
        );
        assert_eq!(g.stats().given_up, 1);
        assert!(g.take_keyframe_request());
        assert!(!g.take_keyframe_request(), "the flag clears");
        assert_eq!(g.on_wire_seq(now, 2), Arrival::Late);
    }

    #[test]
    fn gives_up_after_max_age() {
        let t0 = Instant::now();
        let mut g = NackGenerator::default();
        g.set_rtt(Duration::from_millis(400)); // retry every 600 ms
        feed(&mut g, t0, &[1, 3]);
        assert_eq!(nacks(&mut g, t0), vec![2]);
        assert_eq!(nacks(&mut g, t0 + 600 * MS), vec![2]);
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        assert!(nacks(&mut g, t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(g.missing_len(), 0);
        assert_eq!(g.stats().given_up, 1);
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut g = NackGenerator::default();
        g.on_wire_seq(t0, 0);
        assert_eq!(g.on_wire_seq(t0, 1001), Arrival::Gap(1000));
        assert_eq!(g.missing_len(), 256);
        assert_eq!(g.stats().given_up, 744);
        assert!(g.take_keyframe_request());
        let v = nacks(&mut g, t0);
        assert_eq!((v[0], v[255]), (745, 1000), "the newest are kept");
        // Many small gaps also stay within the bound.
        for i in 0..200u16 {
            g.on_wire_seq(t0, 1003 + 2 * i);
        }
        assert_eq!(g.missing_len(), 256);
    }

    #[test]
    fn a_big_jump_restarts_and_the_wrap_is_seamless() {
        let t0 = Instant::now();
        let mut g = NackGenerator::default();
        feed(&mut g, t0, &[65_534, 65_535]);
        assert_eq!(g.on_wire_seq(t0, 1), Arrival::Gap(1));
        assert_eq!(nacks(&mut g, t0), vec![0]);
        assert_eq!(g.on_wire_seq(t0, 0), Arrival::Recovered);
        g.on_wire_seq(t0, 3);
        assert_eq!(g.on_wire_seq(t0, 20_000), Arrival::Restart);
        assert_eq!(g.missing_len(), 0);
        assert!(g.take_keyframe_request());
        assert_eq!(g.on_wire_seq(t0, 20_001), Arrival::InOrder);
    }
}
