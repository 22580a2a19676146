//! What one room's mix should be doing, sans-IO: told who publishes in the
//! room and when the compositor exits, it says when to start the compositor
//! (with which inputs), when to stop it, and when the mix is over. Time is
//! passed in; the runtime (`server::mix`) runs the process.

use std::time::{Duration, Instant};

use crate::mix::layout::{MixInput, MAX_TILES};

/// How long the set of publishers must stay the same before the compositor
/// is restarted for it (joins and leaves often come in bursts).
pub const SETTLE: Duration = Duration::from_millis(500);

/// How long a room may have no publisher before its mix ends.
pub const EMPTY_GRACE: Duration = Duration::from_secs(3);

/// First wait before restarting a compositor that failed; it doubles up to
/// [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Failures in a row (each within [`HEALTHY_RUN`] of its start) after
/// which the mix gives up.
pub const MAX_FAILURES: u32 = 8;

/// A compositor that ran this long counts as healthy: its failure count
/// starts again from zero.
pub const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// What the runtime should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixAction {
    /// (Re)start the compositor with these inputs (stopping any running one first).
    Start(Vec<MixInput>),
    /// Stop the running compositor (the room has no publisher just now).
    Stop,
    /// The mix is over (the room stayed empty, or the compositor kept
    /// failing): stop anything running and forget the mix.
    Finish(FinishReason),
}

/// Why a mix ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Nobody published in the room for [`EMPTY_GRACE`].
    RoomEmpty,
    /// The compositor failed [`MAX_FAILURES`] times in a row.
    Failing,
}

/// One room's mix.
#[derive(Debug)]
pub struct MixPlan {
    /// Who publishes now (sorted, at most [`MAX_TILES`]), and since when.
    wanted: Vec<MixInput>,
    wanted_since: Instant,
    /// What the compositor runs with, and since when; `None` when stopped.
    running: Option<(Vec<MixInput>, Instant)>,
    empty_since: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    finished: bool,
}

impl MixPlan {
    /// A mix asked for at `now`, with the room's publishers then.
    pub fn new(now: Instant, publishers: Vec<MixInput>) -> Self {
        let mut plan = Self {
            wanted: Vec::new(),
            wanted_since: now,
            running: None,
            empty_since: None,
            failures: 0,
            retry_at: None,
            finished: false,
        };
        plan.handle_publishers(now, publishers);
        // The first start need not wait for the set to settle.
        plan.wanted_since = now - SETTLE;
        plan
    }

    /// The room's publishers as of `now` (any order; the mix shows the
    /// first [`MAX_TILES`] by name).
    pub fn handle_publishers(&mut self, now: Instant, mut publishers: Vec<MixInput>) {
        publishers.sort();
        publishers.dedup_by(|a, b| a.display == b.display);
        publishers.truncate(MAX_TILES);
        if publishers != self.wanted {
            self.wanted = publishers;
            self.wanted_since = now;
        }
        match (self.wanted.is_empty(), self.empty_since) {
            (true, None) => self.empty_since = Some(now),
            (false, _) => self.empty_since = None,
            _ => {}
        }
    }

    /// The compositor exited at `now` without being told to.
    pub fn handle_exit(&mut self, now: Instant) {
        let Some((_, started)) = self.running.take() else {
            return;
        };
        if now.duration_since(started) >= HEALTHY_RUN {
            self.failures = 0;
        }
        self.failures += 1;
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.failures - 1).min(10))
            .min(MAX_BACKOFF);
        self.retry_at = Some(now + backoff);
    }

    /// The inputs the compositor runs with, if it runs.
    pub fn running(&self) -> Option<&[MixInput]> {
        self.running.as_ref().map(|(i, _)| i.as_slice())
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The next thing to do at `now`, if any. After a [`MixAction::Finish`]
    /// there is nothing more.
    pub fn poll_action(&mut self, now: Instant) -> Option<MixAction> {
        if self.finished {
            return None;
        }
        if self.failures >= MAX_FAILURES {
            return Some(self.finish(FinishReason::Failing));
        }
        if let Some(since) = self.empty_since {
            if now.duration_since(since) >= EMPTY_GRACE {
                return Some(self.finish(FinishReason::RoomEmpty));
            }
            if self.running.is_some() {
                self.running = None;
                return Some(MixAction::Stop);
            }
            return None;
        }
        if self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let settled = now.duration_since(self.wanted_since) >= SETTLE;
        let differs = self.running.as_ref().is_none_or(|(i, _)| *i != self.wanted);
        if settled && differs {
            self.retry_at = None;
            self.running = Some((self.wanted.clone(), now));
            return Some(MixAction::Start(self.wanted.clone()));
        }
        None
    }

    fn finish(&mut self, why: FinishReason) -> MixAction {
        self.finished = true;
        self.running = None;
        MixAction::Finish(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(names: &[&str]) -> Vec<MixInput> {
        names
            .iter()
            .map(|n| MixInput {
                display: n.to_string(),
                has_audio: true,
            })
            .collect()
    }

    #[test]
    fn starts_at_once_then_follows_a_settled_change() {
        let t0 = Instant::now();
        let mut p = MixPlan::new(t0, people(&["b", "a"]));
        assert_eq!(
            p.poll_action(t0),
            Some(MixAction::Start(people(&["a", "b"])))
        );
        assert_eq!(p.poll_action(t0), None);
        p.handle_publishers(t0 + SETTLE, people(&["a", "b", "c"]));
        assert_eq!(
            p.poll_action(t0 + SETTLE + SETTLE / 2),
            None,
            "not settled yet"
        );
        let t1 = t0 + SETTLE * 2;
        assert_eq!(
            p.poll_action(t1),
            Some(MixAction::Start(people(&["a", "b", "c"])))
        );
        assert_eq!(p.running().unwrap().len(), 3);
    }

    #[test]
    fn an_empty_room_stops_the_compositor_then_ends_the_mix() {
        let t0 = Instant::now();
        let mut p = MixPlan::new(t0, people(&["a"]));
        assert!(matches!(p.poll_action(t0), Some(MixAction::Start(_))));
        p.handle_publishers(t0 + SETTLE, vec![]);
        assert_eq!(p.poll_action(t0 + SETTLE), Some(MixAction::Stop));
        // Someone comes back within the grace: the mix goes on.
        p.handle_publishers(t0 + EMPTY_GRACE, people(&["a"]));
        assert!(matches!(
            p.poll_action(t0 + EMPTY_GRACE + SETTLE),
            Some(MixAction::Start(_))
        ));
        let t1 = t0 + EMPTY_GRACE * 2;
        p.handle_publishers(t1, vec![]);
        assert_eq!(p.poll_action(t1), Some(MixAction::Stop));
        assert_eq!(p.poll_action(t1 + EMPTY_GRACE / 2), None);
        assert_eq!(
            p.poll_action(t1 + EMPTY_GRACE),
            Some(MixAction::Finish(FinishReason::RoomEmpty))
        );
        assert_eq!(p.poll_action(t1 + EMPTY_GRACE * 2), None);
    }

    #[test]
    fn a_failing_compositor_is_restarted_with_backoff_then_given_up() {
        let t0 = Instant::now();
        let mut p = MixPlan::new(t0, people(&["a"]));
        let mut starts = vec![];
        let mut now = t0;
        let finish = loop {
            match p.poll_action(now) {
                Some(MixAction::Start(_)) => {
                    starts.push(now);
                    p.handle_exit(now + Duration::from_millis(10));
                }
                Some(MixAction::Finish(why)) => break why,
                Some(other) => panic!("{other:?}"),
                None => {}
            }
            now += Duration::from_millis(50);
            assert!(now - t0 < Duration::from_secs(120), "never gave up");
        };
        assert_eq!(finish, FinishReason::Failing);
        assert_eq!(starts.len() as u32, MAX_FAILURES);
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] < Duration::from_secs(1), "{gaps:?}");
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(
            *gaps.last().unwrap() <= MAX_BACKOFF + Duration::from_millis(100),
            "{gaps:?}"
        );
    }

    #[test]
    fn a_long_healthy_run_forgives_earlier_failures() {
        let t0 = Instant::now();
        let mut p = MixPlan::new(t0, people(&["a"]));
        assert!(p.poll_action(t0).is_some());
        p.handle_exit(t0 + Duration::from_millis(1));
        let t1 = t0 + Duration::from_secs(1);
        assert!(matches!(p.poll_action(t1), Some(MixAction::Start(_))));
        p.handle_exit(t1 + HEALTHY_RUN);
        assert_eq!(p.failures(), 1);
    }
}
