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
//! None of these stops the process. SIGTERM/SIGQUIT start a graceful stop
//! that this thread runs ([`crate::server::drain`]): when it is over it
//! raises [`Signals::shutdown`], which the shards poll themselves, as SIGINT
//! does at once. Keeping this work on its own thread
//! keeps log formatting and directory locks off the shards' packet loops.
//!
//! Under systemd (`Type=notify`, `NOTIFY_SOCKET` set) the same thread speaks
//! the notify protocol through the `sd-notify` crate, all from here:
//!
//! - `READY=1` (with a first `STATUS=`) once every shard has bound all its
//!   sockets: each shard calls [`Liveness::shard_bound`], which wakes this
//!   thread;
//! - `STATUS=` with sessions and streams every [`STATUS_INTERVAL`];
//! - `WATCHDOG=1` every half of `WATCHDOG_USEC`, but only while every shard's
//!   tick keeps running ([`Liveness::shard_ticked`]): a stuck shard lets the
//!   watchdog fire;
//! - `STOPPING=1` when a graceful stop begins (and when the shards stop).
//!
//! Without `NOTIFY_SOCKET` none of this sends anything.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use shards::Signals;

use crate::server::drain::{Drain, DrainStep, StopReason};
use crate::server::Shared;

/// How often the thread looks at the flags (it is also woken when a shard
/// has bound its sockets).
const POLL: Duration = Duration::from_millis(100);

/// How often `STATUS=` is sent to systemd.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// What the shards tell the operations thread: that they are bound, and that
/// their tick still runs. Two relaxed atomics; one `unpark` per shard at start.
#[derive(Debug)]
pub struct Liveness {
    bound: AtomicUsize,
    ticks: Vec<AtomicU64>,
    waker: OnceLock<Thread>,
}

impl Liveness {
    /// For `shards` shards, none bound yet.
    pub fn new(shards: usize) -> Self {
        Self {
            bound: AtomicUsize::new(0),
            ticks: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            waker: OnceLock::new(),
        }
    }

    /// A shard has bound every socket it serves (call once per shard).
    pub fn shard_bound(&self) {
        self.bound.fetch_add(1, Ordering::Release);
        if let Some(t) = self.waker.get() {
            t.unpark();
        }
    }

    /// Shard `id`'s timer tick ran.
    pub fn shard_ticked(&self, id: usize) {
        if let Some(t) = self.ticks.get(id) {
            t.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether every shard has bound its sockets.
    pub fn all_bound(&self) -> bool {
        self.bound.load(Ordering::Acquire) >= self.ticks.len()
    }

    fn ticks(&self) -> Vec<u64> {
        self.ticks
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .collect()
    }
}

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
    let _ = shared.liveness.waker.set(std::thread::current());
    let mut notify = Notifier::from_env();
    let mut drain = Drain::default();
    let mut ready_logged = false;
    while !signals.shutdown.is_requested() {
        let now = Instant::now();
        if !ready_logged && shared.liveness.all_bound() {
            ready_logged = true;
            tracing::info!(
                after_ms = shared.started.elapsed().as_millis() as u64,
                "ready: every shard has bound its sockets"
            );
        }
        on_signals(shared, signals, notify.as_mut());
        if drain_step(shared, signals, &mut drain, notify.as_mut(), now) {
            signals.shutdown.request();
            break;
        }
        if let Some(n) = notify.as_mut() {
            n.on_poll(shared, now);
        }
        // Woken early by the last shard to bind, so READY=1 is not late.
        let wait = notify
            .as_ref()
            .and_then(|n| n.next_deadline())
            .map_or(POLL, |d| d.saturating_duration_since(now).min(POLL));
        std::thread::park_timeout(wait);
    }
    if let Some(n) = notify.as_mut() {
        n.send(&[NotifyState::Stopping]);
    }
}

/// The systemd side: what was sent and when the next message is due.
struct Notifier {
    ready: bool,
    next_status: Instant,
    /// Half of `WATCHDOG_USEC`, when systemd asked for pings.
    watchdog: Option<Duration>,
    next_watchdog: Instant,
    last_ticks: Vec<u64>,
    /// Whether a failed send was already logged (log it once, not every poll).
    send_failed: bool,
}

impl Notifier {
    /// `None` without `NOTIFY_SOCKET`: not under systemd (or not `Type=notify`).
    fn from_env() -> Option<Self> {
        std::env::var_os("NOTIFY_SOCKET")?;
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(w) = watchdog {
            tracing::info!("systemd watchdog: pinging every {w:?}");
        }
        let now = Instant::now();
        Some(Self {
            ready: false,
            next_status: now,
            watchdog,
            next_watchdog: now,
            last_ticks: Vec::new(),
            send_failed: false,
        })
    }

    fn next_deadline(&self) -> Option<Instant> {
        if !self.ready {
            return None;
        }
        let status = self.next_status;
        Some(
            self.watchdog
                .map_or(status, |_| status.min(self.next_watchdog)),
        )
    }

    fn on_poll(&mut self, shared: &Shared, now: Instant) {
        if !self.ready {
            if !shared.liveness.all_bound() {
                return;
            }
            self.ready = true;
            let status = status_line(shared);
            self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
            tracing::info!("told systemd READY=1");
            self.next_status = now + STATUS_INTERVAL;
            // The first ping is due one interval from now; the shards' ticks
            // until then show that they run.
            self.last_ticks = shared.liveness.ticks();
            self.next_watchdog = now + self.watchdog.unwrap_or_default();
        }
        if now >= self.next_status {
            self.next_status = now + STATUS_INTERVAL;
            let status = status_line(shared);
            self.send(&[NotifyState::Status(&status)]);
        }
        if let Some(interval) = self.watchdog {
            if now >= self.next_watchdog {
                self.next_watchdog = now + interval;
                self.pet_watchdog(shared);
            }
        }
    }

    /// Sends `WATCHDOG=1` if every shard ticked since the last time.
    fn pet_watchdog(&mut self, shared: &Shared) {
        let ticks = shared.liveness.ticks();
        let stuck: Vec<usize> = ticks
            .iter()
            .zip(&self.last_ticks)
            .enumerate()
            .filter(|(_, (now, before))| now == before)
            .map(|(id, _)| id)
            .collect();
        self.last_ticks = ticks;
        if stuck.is_empty() {
            self.send(&[NotifyState::Watchdog]);
        } else {
            tracing::error!(
                ?stuck,
                "shards did not tick: not pinging the systemd watchdog"
            );
        }
    }

    fn send(&mut self, state: &[NotifyState]) {
        match sd_notify::notify(state) {
            Ok(()) => self.send_failed = false,
            Err(e) if !self.send_failed => {
                self.send_failed = true;
                tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}");
            }
            Err(_) => {}
        }
    }
}

/// Clients a graceful stop waits for: WebRTC sessions and live clients.
fn clients_left(shared: &Shared) -> usize {
    shared.directory.counts().0 + shared.live.clients_left()
}

/// Starts or advances a graceful stop; `true` when the shards must stop now.
fn drain_step(
    shared: &Shared,
    signals: &Signals,
    drain: &mut Drain,
    mut notify: Option<&mut Notifier>,
    now: Instant,
) -> bool {
    if signals.drain.take() {
        let wait = shared.current.get().config.grace_final_wait;
        if let DrainStep::Stop(_) = drain.handle_signal(now, wait) {
            tracing::info!("second stop signal: stopping now");
            return true;
        }
        shared.drain.begin();
        let left = clients_left(shared);
        tracing::info!(
            left,
            wait_ms = wait.as_millis() as u64,
            "SIGTERM: draining: new clients are refused, waiting for {left} to leave \
             (grace_final_wait)"
        );
        if let Some(n) = notify.as_mut() {
            let status = format!("draining: {left} clients left");
            n.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
        }
    }
    if !drain.is_draining() {
        return false;
    }
    match drain.poll(now, clients_left(shared)) {
        DrainStep::Wait => false,
        DrainStep::Stop(StopReason::Empty) => {
            tracing::info!("drained: every client has left, stopping");
            true
        }
        DrainStep::Stop(StopReason::TimeUp { left }) => {
            tracing::info!(
                left,
                "drain time is up (grace_final_wait): closing {left} clients"
            );
            true
        }
        DrainStep::Stop(StopReason::Again) => true,
    }
}

/// `STATUS=` text: what `systemctl status` shows.
fn status_line(shared: &Shared) -> String {
    let (sessions, streams) = shared.directory.counts();
    format!("{sessions} sessions, {streams} streams")
}

/// Acts on the flags that were raised since the last poll.
fn on_signals(shared: &Shared, signals: &Signals, mut notify: Option<&mut Notifier>) {
    if signals.reload.take() {
        if let Some(n) = notify.as_mut() {
            n.send(&[NotifyState::Reloading]);
        }
        crate::server::reload::reload(&shared.current, &shared.source);
        if let Some(n) = notify.as_mut() {
            let status = status_line(shared);
            n.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
        }
    }
    if signals.usr1.take() {
        tracing::info!("SIGUSR1: {}", Summary::of(shared));
    }
    if signals.usr2.take() {
        tracing::info!("SIGUSR2: logs go to stderr, there is no log file to reopen");
    }
}
