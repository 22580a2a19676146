//! The operations thread: what the process does for its operator, off the
//! shards.
//!
//! One plain thread (`shardsfu-ops`) polls the [`Signals`] flags and acts:
//!
//! - SIGHUP logs `reload requested: not applied yet, restart to change the
//!   configuration` (the reload itself is not implemented yet);
//! - SIGUSR1 logs one summary line (sessions, streams, connections, uptime);
//! - SIGUSR2 logs that there is no log file to reopen (logs go to stderr).
//!
//! None of these stops the process; SIGINT/SIGTERM stop the shards, which
//! poll [`Signals::shutdown`] themselves. Keeping this work on its own thread
//! keeps log formatting and directory locks off the shards' packet loops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use shards::Signals;

use crate::server::Shared;

/// How often the thread looks at the flags.
const POLL: Duration = Duration::from_millis(100);

/// What the process holds at one moment, for SIGUSR1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// WebRTC sessions (publishers and players) in the directory.
    pub sessions: usize,
    /// Published WebRTC streams.
    pub streams: usize,
    /// Sessions per shard, from the shards' counters.
    pub per_shard: Vec<u64>,
    /// Open HTTP connections.
    pub http_connections: usize,
    /// Open WebRTC-over-TCP connections.
    pub rtc_tcp_connections: usize,
    /// Seconds since start.
    pub uptime_secs: u64,
}

impl Summary {
    /// Reads the counts (one directory lock, one load per shard counter).
    pub fn of(shared: &Shared) -> Self {
        let (sessions, streams) = shared.directory.counts();
        Self {
            sessions,
            streams,
            per_shard: shared
                .stats
                .iter()
                .map(|s| s.sessions.load(Ordering::Relaxed))
                .collect(),
            http_connections: shared.http_connections.load(Ordering::Relaxed),
            rtc_tcp_connections: shared.rtc_tcp_connections.load(Ordering::Relaxed),
            uptime_secs: shared.started.elapsed().as_secs(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sessions, {} streams, sessions per shard {:?}, {} HTTP connections, \
             {} WebRTC-over-TCP connections, up {} s",
            self.sessions,
            self.streams,
            self.per_shard,
            self.http_connections,
            self.rtc_tcp_connections,
            self.uptime_secs
        )
    }
}

/// The running operations thread; [`Ops::stop`] ends it.
pub struct Ops {
    handle: JoinHandle<()>,
    signals: Signals,
}

impl Ops {
    /// Starts the thread. It ends once `signals.shutdown` is requested.
    pub fn spawn(shared: Arc<Shared>, signals: Signals) -> std::io::Result<Self> {
        let s = signals.clone();
        let handle = std::thread::Builder::new()
            .name("shardsfu-ops".into())
            .spawn(move || run(&shared, &s))?;
        Ok(Self { handle, signals })
    }

    /// Asks the thread to end (by requesting shutdown, which the shards have
    /// done or are doing) and waits for it.
    pub fn stop(self) {
        self.signals.shutdown.request();
        if self.handle.join().is_err() {
            tracing::error!("the operations thread panicked");
        }
    }
}

fn run(shared: &Shared, signals: &Signals) {
    while !signals.shutdown.is_requested() {
        std::thread::sleep(POLL);
        on_signals(shared, signals);
    }
}

/// Acts on the flags that were raised since the last poll.
fn on_signals(shared: &Shared, signals: &Signals) {
    if signals.reload.take() {
        // The place for the configuration reload, when it exists.
        tracing::warn!("reload requested: not applied yet, restart to change the configuration");
    }
    if signals.usr1.take() {
        tracing::info!("SIGUSR1: {}", Summary::of(shared));
    }
    if signals.usr2.take() {
        tracing::info!("SIGUSR2: logs go to stderr, there is no log file to reopen");
    }
}
