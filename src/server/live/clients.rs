//! The live clients of the process (RTMP publishers and players, HTTP-FLV
//! players) as the HTTP API lists and kicks them.
//!
//! A connection registers itself in the [`Hub`](super::Hub) once it
//! publishes or plays ([`Hub::add_client`](super::Hub::add_client)) and is
//! forgotten when the returned [`LiveClientGuard`] drops. Its byte counters
//! are atomics it adds to as it reads and writes; the hub's sweep turns them
//! into rates once a second. `DELETE /api/v1/clients/{id}`, from any shard,
//! wakes the connection's [`Kick`]: the connection task races every wait and
//! every write with it, so it ends at once, whatever it was blocked on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::sfu::snapshot::{Kbps, RateMeter};

/// Longest `tcUrl`, `pageUrl` or `swfUrl` kept for the API (a client may
/// send up to a whole RTMP message).
pub const MAX_URL_LEN: usize = 1024;

/// SRS's client types for live connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveKind {
    /// An RTMP publisher that sent `releaseStream`/`FCPublish` (FFmpeg, OBS).
    FmlePublish,
    /// An RTMP publisher that did not.
    FlashPublish,
    /// An RTMP player.
    RtmpPlay,
    /// An HTTP-FLV player.
    FlvPlay,
}

impl LiveKind {
    /// SRS's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::FmlePublish => "fmle-publish",
            LiveKind::FlashPublish => "flash-publish",
            LiveKind::RtmpPlay => "rtmp-play",
            LiveKind::FlvPlay => "flv-play",
        }
    }

    /// Whether it publishes.
    pub fn is_publish(self) -> bool {
        matches!(self, LiveKind::FmlePublish | LiveKind::FlashPublish)
    }
}

/// Bytes a connection received and sent, shared with the hub.
#[derive(Debug, Default)]
pub struct ByteCounters {
    /// Bytes read from the socket.
    pub recv: AtomicU64,
    /// Bytes written to the socket.
    pub sent: AtomicU64,
}

impl ByteCounters {
    /// Counts `n` bytes read.
    pub fn add_recv(&self, n: usize) {
        self.recv.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` bytes written.
    pub fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A connection's kick switch: the API pulls it from any thread, the
/// connection's task waits on it next to its socket.
#[derive(Debug)]
pub struct Kick {
    tx: flume::Sender<()>,
    rx: flume::Receiver<()>,
}

impl Default for Kick {
    fn default() -> Self {
        let (tx, rx) = flume::bounded(1);
        Self { tx, rx }
    }
}

impl Kick {
    /// Returns once the connection is kicked (never otherwise).
    pub async fn kicked(&self) {
        // This handle holds a sender, so the channel never disconnects.
        if self.rx.recv_async().await.is_err() {
            std::future::pending::<()>().await;
        }
        // Stay kicked for any later wait.
        let _ = self.tx.try_send(());
    }

    /// `fut`, or `None` as soon as the connection is kicked.
    pub async fn or<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        futures_lite::future::or(
            async {
                self.kicked().await;
                None
            },
            async { Some(fut.await) },
        )
        .await
    }

    fn sender(&self) -> flume::Sender<()> {
        self.tx.clone()
    }
}

/// What a connection tells the hub about its client.
#[derive(Clone, Debug)]
pub struct LiveClientDesc {
    /// SRS's client type.
    pub kind: LiveKind,
    /// The shard whose task serves it.
    pub shard: usize,
    /// The vhost.
    pub vhost: String,
    /// The app.
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// The peer's IP address.
    pub ip: String,
    /// The client's `tcUrl` (RTMP), or `http://host/app` (HTTP-FLV).
    pub tc_url: String,
    /// The client's `pageUrl` (RTMP `connect`), else empty.
    pub page_url: String,
    /// The client's `swfUrl` (RTMP `connect`), else empty.
    pub swf_url: String,
}

/// One registered client.
#[derive(Debug)]
pub(super) struct LiveClient {
    pub(super) id: String,
    desc: LiveClientDesc,
    created: Instant,
    bytes: Arc<ByteCounters>,
    kick: flume::Sender<()>,
    kicked: AtomicBool,
    rate: Mutex<RateMeter>,
}

/// A live client as the API shows it.
#[derive(Clone, Debug)]
pub struct LiveClientInfo {
    /// Its id (8 random characters, like SRS's connection ids).
    pub id: String,
    /// What the connection registered.
    pub desc: LiveClientDesc,
    /// Seconds since it started publishing or playing.
    pub alive: f64,
    /// Bytes received.
    pub recv_bytes: u64,
    /// Bytes sent.
    pub send_bytes: u64,
    /// Rates over the last second.
    pub kbps: Kbps,
}

/// Keeps a client registered; dropping it unregisters the client.
#[derive(Debug)]
pub struct LiveClientGuard {
    hub: Arc<super::Hub>,
    id: String,
}

impl LiveClientGuard {
    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for LiveClientGuard {
    fn drop(&mut self) {
        self.hub.remove_client(&self.id);
    }
}

fn truncated(mut s: String) -> String {
    if s.len() > MAX_URL_LEN {
        let mut end = MAX_URL_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl LiveClient {
    pub(super) fn new(
        id: String,
        mut desc: LiveClientDesc,
        bytes: Arc<ByteCounters>,
        kick: &Kick,
    ) -> Self {
        desc.tc_url = truncated(desc.tc_url);
        desc.page_url = truncated(desc.page_url);
        desc.swf_url = truncated(desc.swf_url);
        Self {
            id,
            desc,
            created: Instant::now(),
            bytes,
            kick: kick.sender(),
            kicked: AtomicBool::new(false),
            rate: Mutex::default(),
        }
    }

    pub(super) fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Relaxed)
    }

    /// Pulls the connection's kick switch; false if it was already kicked.
    pub(super) fn kick(&self) -> bool {
        if self.kicked.swap(true, Ordering::Relaxed) {
            return false;
        }
        // Bounded(1): a full channel means a kick is already pending.
        let _ = self.kick.try_send(());
        true
    }

    fn counters(&self) -> crate::sfu::session::SessionCounters {
        crate::sfu::session::SessionCounters {
            bytes_in: self.bytes.recv.load(Ordering::Relaxed),
            bytes_out: self.bytes.sent.load(Ordering::Relaxed),
            ..Default::default()
        }
    }

    /// Updates the rates (the sweep, once a second).
    pub(super) fn update_rate(&self, now: Instant) {
        let c = self.counters();
        self.rate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(now, &c);
    }

    pub(super) fn info(&self, now: Instant) -> LiveClientInfo {
        let c = self.counters();
        let kbps = self.rate.lock().unwrap_or_else(|p| p.into_inner()).kbps();
        LiveClientInfo {
            id: self.id.clone(),
            desc: self.desc.clone(),
            // Milliseconds, as SRS's `alive`.
            alive: now.saturating_duration_since(self.created).as_millis() as f64 / 1000.0,
            recv_bytes: c.bytes_in,
            send_bytes: c.bytes_out,
            kbps,
        }
    }
}

impl LiveClientGuard {
    pub(super) fn new(hub: Arc<super::Hub>, id: String) -> Self {
        Self { hub, id }
    }
}
