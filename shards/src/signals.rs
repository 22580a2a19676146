//! The process's signals, turned into flags that the runtime polls.
//!
//! | signal | effect |
//! |---|---|
//! | SIGINT | [`Signals::shutdown`]: every shard stops at once |
//! | SIGTERM, SIGQUIT | [`Signals::drain`]: a graceful stop is asked for (a second one: stop at once) |
//! | SIGHUP | [`Signals::reload`]: a configuration reload is asked for |
//! | SIGUSR1 | [`Signals::usr1`]: the server logs a summary |
//! | SIGUSR2 | [`Signals::usr2`]: the server says it has no log file to reopen |
//!
//! Installing a handler replaces the default action, so none of these kills
//! the process any more (SIGHUP, SIGUSR1 and SIGUSR2 would by default). The
//! handlers only store to an atomic; whoever polls the flag does the work on
//! an ordinary thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::Shutdown;

/// A flag a signal raises and a poller takes down.
#[derive(Clone, Debug, Default)]
pub struct SignalFlag {
    flag: Arc<AtomicBool>,
}

impl SignalFlag {
    /// A flag that only [`SignalFlag::raise`] sets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag, as its signal would.
    pub fn raise(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether the flag was raised since the last `take`; lowers it. Signals
    /// that arrive between two polls count once.
    pub fn take(&self) -> bool {
        // A relaxed load first keeps the common (not raised) case a plain read.
        self.flag.load(Ordering::Relaxed) && self.flag.swap(false, Ordering::Relaxed)
    }

    fn register(&self, sig: i32) -> std::io::Result<()> {
        signal_hook::flag::register(sig, self.flag.clone()).map(drop)
    }
}

/// Every signal the server handles, as flags.
#[derive(Clone, Debug, Default)]
pub struct Signals {
    /// SIGINT (and whoever decides a drain is over): stop now.
    pub shutdown: Shutdown,
    /// SIGTERM and SIGQUIT: stop gracefully (the server drains first).
    pub drain: SignalFlag,
    /// SIGHUP: reload the configuration.
    pub reload: SignalFlag,
    /// SIGUSR1: log a summary.
    pub usr1: SignalFlag,
    /// SIGUSR2: reopen logs (there are none: logs go to stderr).
    pub usr2: SignalFlag,
}

impl Signals {
    /// Flags that only their `request`/`raise` methods set (for tests and
    /// embedding).
    pub fn new() -> Self {
        Self::default()
    }

    /// Flags that the signals of the table in this module's docs set. Call it
    /// once, before starting threads that should not see the default actions.
    pub fn install() -> std::io::Result<Self> {
        let this = Self::new();
        this.shutdown.register(SIGINT)?;
        for sig in [SIGTERM, SIGQUIT] {
            this.drain.register(sig)?;
        }
        this.reload.register(SIGHUP)?;
        this.usr1.register(SIGUSR1)?;
        this.usr2.register(SIGUSR2)?;
        Ok(this)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_taken_once() {
        let f = SignalFlag::new();
        assert!(!f.take());
        f.raise();
        f.raise();
        assert!(f.take());
        assert!(!f.take());
    }

    #[test]
    fn hup_and_usr_signals_raise_flags_instead_of_killing() {
        let s = Signals::install().expect("install");
        let flags = [
            (SIGHUP, &s.reload),
            (SIGUSR1, &s.usr1),
            (SIGUSR2, &s.usr2),
            (SIGTERM, &s.drain),
            (SIGQUIT, &s.drain),
        ];
        for (sig, flag) in flags {
            // SAFETY: raise(3) on this process; the handler above is installed.
            assert_eq!(unsafe { libc::raise(sig) }, 0);
            assert!(flag.take(), "signal {sig}");
        }
        assert!(!s.shutdown.is_requested());
    }
}
