//! Overload control for a shard (sans-IO): admission, not queueing.
//!
//! A shard that cannot keep up used to queue: its socket never emptied, the
//! kernel's receive buffer became up to a second of latency for everyone,
//! and joins kept coming. Now a shard counts as overloaded for [`HOLD`]:
//! - after a second in which its executor was busy `max_shard_load` percent
//!   of the time or more (it is about to saturate), or
//! - after RTP that waited in its receive queue longer than
//!   `max_queue_delay` (the kernel stamps each datagram's arrival): it has
//!   fallen behind, whatever the cause;
//!
//! and while any shard is, new sessions get `503` with `Retry-After`
//! rather than joining a shard that cannot serve them; those already
//! connected keep their latency. Late packets are still forwarded:
//! dropping them on arrival was measured (docs/BENCHMARKS.md, overload)
//! to make things worse in a fan-out, since every subscriber NACKs a lost
//! packet and the retransmissions arrive later still. (Late STUN or RTCP
//! alone does not count: a keyframe fanned out to a large audience delays
//! them for a moment without the shard being behind.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a shard counts as overloaded after its last late datagram.
pub const HOLD: Duration = Duration::from_secs(2);

/// How long the `queue_delay_ms` gauge remembers a wait.
pub const WINDOW: Duration = Duration::from_secs(1);

/// One shard's view of its receive queue and of how busy it is.
#[derive(Debug)]
pub struct ShardLoad {
    budget: Option<Duration>,
    max_busy: Option<u32>,
    /// Where the current busy-share window began: when, and the shard
    /// thread's CPU time then (`None` until the first sample).
    busy_window: Option<(Instant, Duration)>,
    busy_at: Option<Instant>,
    late_at: Option<Instant>,
    max_waited: Duration,
    last_window: Duration,
    window_start: Option<Instant>,
}

impl ShardLoad {
    /// A view with `budget` (`max_queue_delay`; `None` switches dropping and
    /// refusing off).
    pub fn new(budget: Option<Duration>) -> Self {
        Self {
            budget,
            max_busy: None,
            busy_window: None,
            busy_at: None,
            late_at: None,
            max_waited: Duration::ZERO,
            last_window: Duration::ZERO,
            window_start: None,
        }
    }

    /// Changes the budget (a reload).
    pub fn set_budget(&mut self, budget: Option<Duration>) {
        self.budget = budget;
    }

    /// Sets the busy share (percent of the shard's core) at or past which
    /// the shard counts as overloaded (`max_shard_load`; `None`: never).
    pub fn set_max_busy(&mut self, percent: Option<u32>) {
        self.max_busy = percent;
    }

    /// Whether a busy-share window ended at `now`: the caller then reads
    /// the shard thread's CPU time for [`Self::handle_cpu_time`] (a
    /// syscall, so not on every tick).
    pub fn wants_cpu_time(&self, now: Instant) -> bool {
        self.busy_window
            .is_none_or(|(since, _)| now.saturating_duration_since(since) >= WINDOW)
    }

    /// The shard thread had used `cpu` of CPU time at `now`. Returns the
    /// busy share (percent of one core) since the last sample, `None` at
    /// the first. The shard thread's own CPU time, not wall-clock run
    /// time: on a shared machine that would count others' use of the core.
    pub fn handle_cpu_time(&mut self, now: Instant, cpu: Duration) -> Option<u32> {
        let (since, cpu_then) = self.busy_window.replace((now, cpu))?;
        let window = now.saturating_duration_since(since);
        if window.is_zero() {
            return None;
        }
        let ran = cpu.saturating_sub(cpu_then);
        let percent = (ran.as_secs_f64() * 100.0 / window.as_secs_f64()).min(100.0) as u32;
        self.handle_busy(now, percent);
        Some(percent)
    }

    /// The shard was busy `percent` of the last measured window, at `now`.
    fn handle_busy(&mut self, now: Instant, percent: u32) {
        if self.max_busy.is_some_and(|max| percent >= max) {
            self.busy_at = Some(now);
        }
    }

    /// A datagram received at `now` after waiting `waited` in the queue.
    /// Returns whether it is late RTP (past the budget).
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8], waited: Duration) -> bool {
        self.max_waited = self.max_waited.max(waited);
        let late = self
            .budget
            .is_some_and(|budget| waited > budget && is_rtp(data));
        if late {
            self.late_at = Some(now);
        }
        late
    }

    /// Whether the shard counts as overloaded at `now`.
    pub fn is_overloaded(&self, now: Instant) -> bool {
        self.overloaded_at()
            .is_some_and(|at| now.saturating_duration_since(at) < HOLD)
    }

    /// The last time the shard was seen overloaded.
    fn overloaded_at(&self) -> Option<Instant> {
        self.late_at.max(self.busy_at)
    }

    /// The longest wait seen in the last one to two [`WINDOW`]s (the
    /// `queue_delay_ms` gauge), read from the shard's tick at `now`.
    pub fn handle_tick(&mut self, now: Instant) -> Duration {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= WINDOW {
            self.last_window = std::mem::take(&mut self.max_waited);
            self.window_start = Some(now);
        }
        self.max_waited.max(self.last_window)
    }
}

/// Whether `data` is RTP (RFC 7983's range for RTP/RTCP, and not one of
/// RTCP's packet types, RFC 5761 §4).
fn is_rtp(data: &[u8]) -> bool {
    matches!(data, [128..=191, pt, ..] if !(192..=223).contains(pt))
}

/// Every shard's overload state, for the API threads to read: per shard,
/// the time (milliseconds since `epoch`) until which it counts as
/// overloaded.
#[derive(Debug)]
pub struct Load {
    epoch: Instant,
    until_ms: Vec<AtomicU64>,
}

impl Load {
    /// State for `shards` shards, none overloaded.
    pub fn new(shards: usize, epoch: Instant) -> Self {
        Self {
            epoch,
            until_ms: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Publishes shard `shard`'s state at `now` (from its tick).
    pub fn set(&self, shard: usize, now: Instant, q: &ShardLoad) {
        let until = match q.overloaded_at() {
            Some(at) if q.is_overloaded(now) => self.ms(at + HOLD),
            _ => 0,
        };
        if let Some(slot) = self.until_ms.get(shard) {
            slot.store(until, Ordering::Relaxed);
        }
    }

    /// The first shard overloaded at `now`, if any.
    pub fn overloaded(&self, now: Instant) -> Option<usize> {
        let now = self.ms(now);
        self.until_ms
            .iter()
            .position(|u| u.load(Ordering::Relaxed) > now)
    }

    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTP: [u8; 12] = [0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    const RTCP_RR: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 1];
    const STUN: [u8; 20] = [
        0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    const DTLS: [u8; 3] = [22, 254, 253];

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_late_rtp_marks_the_shard_overloaded() {
        let t0 = Instant::now();
        let mut q = ShardLoad::new(Some(ms(100)));
        assert!(!q.handle_datagram(t0, &RTP, ms(100)));
        for other in [&RTCP_RR[..], &STUN, &DTLS, &[], &[0x80]] {
            assert!(!q.handle_datagram(t0, other, ms(900)));
        }
        assert!(!q.is_overloaded(t0), "late STUN/RTCP alone is no overload");
        assert!(q.handle_datagram(t0, &RTP, ms(101)));
        assert!(q.is_overloaded(t0 + HOLD - ms(1)));
        assert!(!q.is_overloaded(t0 + HOLD));
    }

    #[test]
    fn the_gauge_remembers_the_longest_wait_for_one_to_two_windows() {
        let t0 = Instant::now();
        let mut q = ShardLoad::new(Some(ms(100)));
        assert_eq!(q.handle_tick(t0), Duration::ZERO);
        q.handle_datagram(t0, &STUN, ms(30));
        q.handle_datagram(t0, &STUN, ms(7));
        assert_eq!(q.handle_tick(t0 + ms(20)), ms(30));
        assert_eq!(
            q.handle_tick(t0 + WINDOW),
            ms(30),
            "kept as the last window"
        );
        q.handle_datagram(t0, &STUN, ms(5));
        assert_eq!(q.handle_tick(t0 + WINDOW + ms(500)), ms(30));
        assert_eq!(q.handle_tick(t0 + WINDOW * 2), ms(5));
        assert_eq!(q.handle_tick(t0 + WINDOW * 3), Duration::ZERO);
    }

    #[test]
    fn a_busy_shard_is_overloaded_until_its_hold_ends() {
        let t0 = Instant::now();
        let mut q = ShardLoad::new(None);
        q.handle_busy(t0, 100);
        assert!(!q.is_overloaded(t0), "no max_shard_load: never");
        q.set_max_busy(Some(90));
        q.handle_busy(t0, 89);
        assert!(!q.is_overloaded(t0));
        q.handle_busy(t0, 90);
        assert!(q.is_overloaded(t0 + HOLD - ms(1)));
        assert!(!q.is_overloaded(t0 + HOLD));
        let load = Load::new(1, t0);
        load.set(0, t0 + ms(1), &q);
        assert_eq!(load.overloaded(t0 + ms(2)), Some(0));
    }

    #[test]
    fn the_busy_share_is_cpu_time_over_each_window() {
        let t0 = Instant::now();
        let mut q = ShardLoad::new(None);
        q.set_max_busy(Some(90));
        assert!(q.wants_cpu_time(t0));
        assert_eq!(q.handle_cpu_time(t0, ms(5_000)), None, "the first sample");
        assert!(!q.wants_cpu_time(t0 + WINDOW - ms(1)));
        assert!(q.wants_cpu_time(t0 + WINDOW));
        let t1 = t0 + ms(2_000);
        assert_eq!(q.handle_cpu_time(t1, ms(6_000)), Some(50));
        assert!(!q.is_overloaded(t1));
        assert_eq!(q.handle_cpu_time(t1 + WINDOW, ms(6_950)), Some(95));
        assert!(q.is_overloaded(t1 + WINDOW));
        // More CPU than wall time (a coarse clock) is one full core.
        assert_eq!(q.handle_cpu_time(t1 + WINDOW * 2, ms(9_000)), Some(100));
    }

    #[test]
    fn without_a_budget_no_wait_is_late() {
        let t0 = Instant::now();
        let mut q = ShardLoad::new(None);
        assert!(!q.handle_datagram(t0, &RTP, ms(5000)));
        assert!(!q.is_overloaded(t0));
        assert_eq!(q.handle_tick(t0), ms(5000));
        q.set_budget(Some(ms(10)));
        assert!(q.handle_datagram(t0, &RTP, ms(11)));
    }

    #[test]
    fn the_load_names_an_overloaded_shard_until_its_hold_ends() {
        let t0 = Instant::now();
        let load = Load::new(3, t0);
        let mut q = ShardLoad::new(Some(ms(100)));
        let t1 = t0 + ms(500);
        load.set(2, t1, &q);
        assert_eq!(load.overloaded(t1), None);
        q.handle_datagram(t1, &RTP, ms(400));
        load.set(2, t1, &q);
        assert_eq!(load.overloaded(t1 + ms(10)), Some(2));
        assert_eq!(load.overloaded(t1 + HOLD + ms(1)), None);
        // A later tick after the hold clears it.
        load.set(2, t1 + HOLD, &q);
        assert_eq!(load.overloaded(t1 + ms(10)), None);
        load.set(7, t1, &q); // no such shard: ignored
    }
}
