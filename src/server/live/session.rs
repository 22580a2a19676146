//! The start and end lines of an RTMP publish or play and of an HTTP-FLV
//! play ([`crate::logging::session_start`], [`crate::logging::session_end`]):
//! a [`LiveSession`] logs the first when made and the second when ended
//! (or dropped). When a shard stops it raises its [`StopSignal`]: its RTMP
//! connections and HTTP-FLV plays are dropped (reason `shutdown`) and the
//! shard waits a moment for their end lines ([`open_here`]).

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config::DEFAULT_VHOST;
use crate::logging::{session_end, session_start, Proto, SessionCounts, SessionLine};

thread_local! {
    /// Live sessions open on this thread (a shard's sessions stay on its thread).
    static OPEN: Cell<usize> = const { Cell::new(0) };
}

/// Whether the server is stopping (a shard raised its [`StopSignal`]):
/// sessions that end from then on end because of it, whatever they saw
/// first (a player whose publisher, on a shard that stopped a moment
/// before, was dropped sees its stream end).
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Live sessions open on the calling shard.
pub fn open_here() -> usize {
    OPEN.with(Cell::get)
}

/// Raised once when a shard stops: its live connections end.
#[derive(Debug)]
pub struct StopSignal {
    tx: RefCell<Option<flume::Sender<()>>>,
    rx: flume::Receiver<()>,
}

impl Default for StopSignal {
    fn default() -> Self {
        let (tx, rx) = flume::bounded(1);
        StopSignal {
            tx: RefCell::new(Some(tx)),
            rx,
        }
    }
}

impl StopSignal {
    /// Raises it: every [`StopSignal::stopped`] future completes.
    pub fn raise(&self) {
        STOPPING.store(true, Ordering::Release);
        self.tx.borrow_mut().take();
    }

    /// Completes once the signal is raised.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + 'static {
        let rx = self.rx.clone();
        async move {
            // Nothing is ever sent: this ends when the sender is dropped.
            let _ = rx.recv_async().await;
        }
    }
}

/// A live publish or play, from its start line to its end line.
#[derive(Debug)]
pub struct LiveSession {
    id: String,
    proto: Proto,
    publish: bool,
    app: String,
    stream: String,
    ip: Option<IpAddr>,
    shard: usize,
    started: Instant,
    /// Its counts so far (the connection adds to them).
    pub counts: SessionCounts,
    reason: &'static str,
}

impl LiveSession {
    /// Starts a session of stream `key` (`app/stream`) and logs its start
    /// line. The live side serves every stream with `__defaultVhost__`.
    pub fn start(proto: Proto, publish: bool, key: &str, ip: Option<IpAddr>, shard: usize) -> Self {
        let (app, stream) = key.split_once('/').unwrap_or(("", key));
        let s = LiveSession {
            id: crate::util::random_string(8),
            proto,
            publish,
            app: app.to_owned(),
            stream: stream.to_owned(),
            ip,
            shard,
            started: Instant::now(),
            counts: SessionCounts::default(),
            reason: "shutdown",
        };
        session_start(&s.line());
        OPEN.with(|n| n.set(n.get() + 1));
        s
    }

    fn line(&self) -> SessionLine<'_> {
        SessionLine {
            id: &self.id,
            proto: self.proto,
            publish: self.publish,
            vhost: DEFAULT_VHOST,
            app: &self.app,
            stream: &self.stream,
            ip: self.ip,
            shard: self.shard,
        }
    }

    /// Ends it for `reason` (`shutdown` once the shard stops): its end
    /// line is logged.
    pub fn end(mut self, reason: &'static str) {
        if !STOPPING.load(Ordering::Acquire) {
            self.reason = reason;
        }
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        OPEN.with(|n| n.set(n.get().saturating_sub(1)));
        session_end(
            &self.line(),
            self.reason,
            self.started.elapsed(),
            self.counts,
            None,
        );
    }
}
