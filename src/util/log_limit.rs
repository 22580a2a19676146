//! Logging that a stranger cannot turn into a flood: each call site of
//! [`warn_limited!`](crate::warn_limited) or
//! [`info_limited!`](crate::info_limited) logs at most [`PER_SECOND`] lines
//! a second; what it drops is counted and reported in one line,
//! `N similar messages suppressed (file.rs:line)`, when the site logs again
//! or when the next [`flush`] (shard 0, every second) finds its second over.
//!
//! For events a remote peer can repeat at will: refused or malformed
//! requests and connections, limits being hit, failed handshakes. The
//! lines of an admitted session's life (created, connected, closed) are
//! bounded by the session limits and stay whole.
//!
//! The state of a site is a small mutex (uncontended: these are error
//! paths, never per packet); the clock is passed in, so the logic is
//! tested without waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::Level;

/// Lines a call site may log per [`WINDOW`].
pub const PER_SECOND: u32 = 10;

/// The window [`PER_SECOND`] counts in.
pub const WINDOW: Duration = Duration::from_secs(1);

/// Sites that suppressed something, for [`flush`].
static SITES: Mutex<Vec<&'static LogLimit>> = Mutex::new(Vec::new());

/// The budget of one call site (a `static` the macros make).
pub struct LogLimit {
    site: &'static str,
    level: Level,
    budget: u32,
    state: Mutex<State>,
    listed: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// When the current window started; `None` before the first line.
    window: Option<Instant>,
    /// Lines logged in it.
    logged: u32,
    /// Lines dropped and not yet reported.
    suppressed: u64,
}

/// What [`LogLimit::admit_at`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log the line, after reporting this many suppressed ones (if any).
    Log {
        /// Lines dropped since the last report.
        suppressed: u64,
    },
    /// Drop it (counted).
    Drop,
}

impl LogLimit {
    /// The budget of the call site `site` (`file:line`), logging at `level`,
    /// `budget` lines per [`WINDOW`].
    pub const fn new(site: &'static str, level: Level, budget: u32) -> Self {
        LogLimit {
            site,
            level,
            budget,
            state: Mutex::new(State {
                window: None,
                logged: 0,
                suppressed: 0,
            }),
            listed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a line may be logged at `now` (and what to report first).
    pub fn admit_at(&self, now: Instant) -> Admit {
        let mut s = self.lock();
        let over = s
            .window
            .is_none_or(|w| now.saturating_duration_since(w) >= WINDOW);
        if over {
            s.window = Some(now);
            s.logged = 0;
        }
        if s.logged < self.budget {
            s.logged += 1;
            Admit::Log {
                suppressed: std::mem::take(&mut s.suppressed),
            }
        } else {
            s.suppressed += 1;
            Admit::Drop
        }
    }

    /// [`LogLimit::admit_at`] for a `static` site, which is also listed for
    /// [`flush`] the first time it drops a line. `Some(n)`: log, after
    /// reporting `n` suppressed lines when `n > 0`.
    pub fn admit(&'static self, now: Instant) -> Option<u64> {
        match self.admit_at(now) {
            Admit::Log { suppressed } => Some(suppressed),
            Admit::Drop => {
                if !self.listed.swap(true, Ordering::Relaxed) {
                    SITES.lock().unwrap_or_else(|p| p.into_inner()).push(self);
                }
                None
            }
        }
    }

    /// Takes the count of lines dropped in a window that ended by `now`
    /// (0 while the window is still open: its own next line reports it).
    pub fn take_expired(&self, now: Instant) -> u64 {
        let mut s = self.lock();
        match s.window {
            Some(w) if now.saturating_duration_since(w) >= WINDOW => {
                std::mem::take(&mut s.suppressed)
            }
            _ => 0,
        }
    }

    /// Logs `N similar messages suppressed (site)` at the site's level.
    pub fn report(&self, suppressed: u64) {
        let site = self.site;
        if self.level == Level::ERROR {
            tracing::error!(
                suppressed,
                "{suppressed} similar messages suppressed ({site})"
            );
        } else if self.level == Level::WARN {
            tracing::warn!(
                suppressed,
                "{suppressed} similar messages suppressed ({site})"
            );
        } else if self.level == Level::INFO {
            tracing::info!(
                suppressed,
                "{suppressed} similar messages suppressed ({site})"
            );
        } else {
            tracing::debug!(
                suppressed,
                "{suppressed} similar messages suppressed ({site})"
            );
        }
    }
}

/// Reports, for every site whose window is over, the lines it dropped and
/// has not reported yet. Shard 0 calls it every second, so the count of a
/// flood that stopped is not held back until the site's next line.
pub fn flush(now: Instant) {
    let sites: Vec<&'static LogLimit> = SITES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for site in sites {
        let n = site.take_expired(now);
        if n > 0 {
            site.report(n);
        }
    }
}

/// Logs like `tracing::warn!`, at most [`PER_SECOND`] lines a second from
/// this call site; the rest are counted and reported in one line (see
/// [`crate::util::log_limit`]).
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {
        $crate::__log_limited!(WARN, warn, $($arg)+)
    };
}

/// Logs like `tracing::info!`, at most [`PER_SECOND`] lines a second from
/// this call site (see [`warn_limited!`](crate::warn_limited)).
#[macro_export]
macro_rules! info_limited {
    ($($arg:tt)+) => {
        $crate::__log_limited!(INFO, info, $($arg)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_limited {
    ($level:ident, $mac:ident, $($arg:tt)+) => {{
        static LIMIT: $crate::util::log_limit::LogLimit = $crate::util::log_limit::LogLimit::new(
            concat!(file!(), ":", line!()),
            ::tracing::Level::$level,
            $crate::util::log_limit::PER_SECOND,
        );
        if let Some(suppressed) = LIMIT.admit(::std::time::Instant::now()) {
            if suppressed > 0 {
                LIMIT.report(suppressed);
            }
            ::tracing::$mac!($($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(budget: u32) -> LogLimit {
        LogLimit::new("here.rs:1", Level::WARN, budget)
    }

    #[test]
    fn a_budget_a_window_then_the_count_when_it_resumes() {
        let l = site(3);
        let t0 = Instant::now();
        for i in 0..3 {
            let t = t0 + Duration::from_millis(i * 10);
            assert_eq!(l.admit_at(t), Admit::Log { suppressed: 0 });
        }
        for i in 0..100 {
            let t = t0 + Duration::from_millis(100 + i);
            assert_eq!(l.admit_at(t), Admit::Drop);
        }
        // The next window's first line carries the count, once.
        let t1 = t0 + WINDOW;
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 100 });
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 0 });
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 0 });
        assert_eq!(l.admit_at(t1), Admit::Drop);
    }

    #[test]
    fn windows_start_at_the_first_line_after_a_pause() {
        let l = site(1);
        let t0 = Instant::now();
        assert_eq!(l.admit_at(t0), Admit::Log { suppressed: 0 });
        assert_eq!(l.admit_at(t0 + Duration::from_millis(999)), Admit::Drop);
        // A quiet hour, then a line: a fresh window.
        let t1 = t0 + Duration::from_secs(3600);
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 1 });
        assert_eq!(l.admit_at(t1 + Duration::from_millis(500)), Admit::Drop);
        assert_eq!(l.admit_at(t1 + WINDOW), Admit::Log { suppressed: 1 });
    }

    #[test]
    fn a_flush_reports_a_finished_window_once() {
        let l = site(2);
        let t0 = Instant::now();
        for _ in 0..50 {
            let _ = l.admit_at(t0);
        }
        // Still inside the window: its next line reports it, not the flush.
        assert_eq!(l.take_expired(t0 + Duration::from_millis(500)), 0);
        assert_eq!(l.take_expired(t0 + WINDOW), 48);
        assert_eq!(l.take_expired(t0 + WINDOW * 2), 0);
        // And the site's next line has nothing left to report.
        assert_eq!(l.admit_at(t0 + WINDOW * 3), Admit::Log { suppressed: 0 });
    }

    #[test]
    fn a_clock_that_goes_backwards_stays_in_the_window() {
        let l = site(1);
        let t0 = Instant::now() + Duration::from_secs(10);
        assert_eq!(l.admit_at(t0), Admit::Log { suppressed: 0 });
        assert_eq!(l.admit_at(t0 - Duration::from_secs(5)), Admit::Drop);
        assert_eq!(l.take_expired(t0 - Duration::from_secs(5)), 0);
    }

    #[test]
    fn the_macros_log_a_bounded_number_of_lines() {
        // Runs the real macro path (statics, listing for flush).
        for i in 0..(PER_SECOND * 5) {
            crate::warn_limited!(i, "log_limit self-test");
        }
        let listed = SITES
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.site.starts_with("src/util/log_limit.rs:"));
        assert!(listed, "a site that dropped lines is listed for flush");
        flush(Instant::now() + WINDOW);
    }
}
