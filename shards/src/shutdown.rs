//! Process-wide stop request, set by SIGINT/SIGTERM or by hand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared flag that asks every shard to stop.
///
/// Shards poll it on their timer tick (one relaxed load), so no shard needs a
/// waker registered with the signal handler.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
}

impl Shutdown {
    /// A flag that only [`Shutdown::request`] sets.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag that SIGINT and SIGTERM set, as well as [`Shutdown::request`].
    /// [`crate::Signals::install`] also handles SIGHUP, SIGUSR1 and SIGUSR2.
    pub fn install_signal_handlers() -> std::io::Result<Self> {
        let this = Self::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            this.register(sig)?;
        }
        Ok(this)
    }

    /// Makes `sig` set the flag.
    pub(crate) fn register(&self, sig: i32) -> std::io::Result<()> {
        signal_hook::flag::register(sig, self.flag.clone()).map(drop)
    }

    /// Asks every shard to stop.
    pub fn request(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}
