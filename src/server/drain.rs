//! Graceful stop: SIGTERM (or SIGQUIT) starts a drain, the process exits
//! when the last client is gone or the drain time is up.
//!
//! While draining:
//! - new signaling (WHIP, WHEP, the legacy publish/play API) and new
//!   HTTP-FLV plays are answered `503` with `Retry-After`, so a load balancer
//!   or a client retries elsewhere;
//! - new RTMP connections are closed at accept;
//! - sessions, RTMP and HTTP-FLV clients that exist go on, and may still end
//!   the usual ways (WHIP/WHEP `DELETE`, the peer leaving, timeouts);
//! - the API keeps answering (`/api/v1/...`, kicks).
//!
//! The drain ends when nothing is left or after `grace_final_wait` (SRS's
//! "final wait for cleanup", default 3.2 s, read when the drain starts so a
//! reload applies), whichever is first; then every shard stops as on SIGINT:
//! sessions are closed, live streams end (HLS writes its last segment), and
//! the process exits 0. A second SIGTERM during the drain stops at once.
//!
//! The shards read one relaxed atomic per request or accept; the
//! operations thread ([`crate::server::ops`]) runs the drain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The process-wide "stopping" flag the shards read.
#[derive(Debug, Default)]
pub struct DrainFlag {
    draining: AtomicBool,
}

impl DrainFlag {
    /// Whether a graceful stop has begun: refuse new clients.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks the start of the drain.
    pub fn begin(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// What the drain decides on each poll of the operations thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainStep {
    /// Not draining, or clients are still there and time is left.
    Wait,
    /// Stop every shard now, because of the reason given.
    Stop(StopReason),
}

/// Why a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every client had left.
    Empty,
    /// The drain time passed with `left` clients still there.
    TimeUp {
        /// Sessions and live clients still open.
        left: usize,
    },
    /// A second stop signal arrived.
    Again,
}

/// The drain's clock (sans-IO: the caller passes the time and the count of
/// clients left).
#[derive(Debug, Default)]
pub struct Drain {
    deadline: Option<Instant>,
}

impl Drain {
    /// Whether a drain is under way.
    pub fn is_draining(&self) -> bool {
        self.deadline.is_some()
    }

    /// A stop signal arrived at `now`: the first starts a drain of at most
    /// `wait`; the second stops at once.
    pub fn handle_signal(&mut self, now: Instant, wait: Duration) -> DrainStep {
        if self.deadline.is_some() {
            return DrainStep::Stop(StopReason::Again);
        }
        self.deadline = Some(now + wait);
        DrainStep::Wait
    }

    /// Whether to stop now, with `left` clients still open.
    pub fn poll(&self, now: Instant, left: usize) -> DrainStep {
        let Some(deadline) = self.deadline else {
            return DrainStep::Wait;
        };
        if left == 0 {
            DrainStep::Stop(StopReason::Empty)
        } else if now >= deadline {
            DrainStep::Stop(StopReason::TimeUp { left })
        } else {
            DrainStep::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(3200);

    #[test]
    fn nothing_happens_before_a_signal() {
        let d = Drain::default();
        assert_eq!(d.poll(Instant::now(), 0), DrainStep::Wait);
        assert!(!d.is_draining());
    }

    #[test]
    fn an_empty_server_stops_at_the_first_poll() {
        let t0 = Instant::now();
        let mut d = Drain::default();
        assert_eq!(d.handle_signal(t0, WAIT), DrainStep::Wait);
        assert_eq!(d.poll(t0, 0), DrainStep::Stop(StopReason::Empty));
    }

    #[test]
    fn clients_are_waited_for_until_they_leave_or_time_is_up() {
        let t0 = Instant::now();
        let mut d = Drain::default();
        d.handle_signal(t0, WAIT);
        assert_eq!(d.poll(t0 + Duration::from_secs(1), 3), DrainStep::Wait);
        assert_eq!(
            d.poll(t0 + Duration::from_secs(2), 0),
            DrainStep::Stop(StopReason::Empty)
        );
        assert_eq!(
            d.poll(t0 + WAIT, 2),
            DrainStep::Stop(StopReason::TimeUp { left: 2 })
        );
    }

    #[test]
    fn a_second_signal_stops_at_once() {
        let t0 = Instant::now();
        let mut d = Drain::default();
        d.handle_signal(t0, WAIT);
        assert_eq!(
            d.handle_signal(t0 + Duration::from_millis(10), WAIT),
            DrainStep::Stop(StopReason::Again)
        );
    }
}
