//! The live stream registry, process-wide: one [`LiveStream`] per `app/stream`,
//! holding its GOP cache, its HLS segmenter and the bounded queues of its
//! players (RTMP, HTTP-FLV, and bridges), whatever shard they live on.
//!
//! The lock of a stream is taken once per FLV tag (tens per second), never
//! per WebRTC packet. A player whose queue is full is disconnected (and
//! counted) so that a slow client never holds up the publisher.
//!
//! Entries are reclaimed: one shard calls [`Hub::sweep`] every second, which
//! forgets players that went away, drops a stream's HLS segments
//! `hls_dispose` after its unpublish, and removes streams with no publisher,
//! no player and no HLS left (an RTMP play of a name nobody publishes used
//! to stay forever). The bytes of unfinished RTMP messages of all
//! connections share one budget ([`RtmpBufferCharge`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::VhostConfig;
use crate::live::flv::FlvTag;
use crate::live::gop::GopCache;
use crate::live::hls::HlsMuxer;
use crate::live::media_info::MediaInfo;
use crate::server::live::clients::{
    ByteCounters, Kick, LiveClient, LiveClientDesc, LiveClientGuard, LiveClientInfo,
};

/// Tags a player may have queued before it is disconnected as too slow
/// (about 10 s of a 30 fps stream with audio).
pub const PLAYER_QUEUE: usize = 1024;

/// How often the runtime calls [`Hub::sweep`].
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes of unfinished RTMP messages all connections together may hold
/// (each one is also bounded by the chunk decoder).
pub const RTMP_BUFFER_BUDGET: usize = 128 * 1024 * 1024;

/// Why a publish was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    /// The stream already has a publisher (SRS: `StreamBusy`).
    #[error("stream {0} is already publishing")]
    StreamBusy(String),
    /// Unfinished RTMP messages of all connections would exceed the budget.
    #[error(
        "{held} bytes of unfinished RTMP messages would exceed the process budget of {budget}"
    )]
    BufferBudget {
        /// What all connections would hold with this one's growth.
        held: usize,
        /// [`RTMP_BUFFER_BUDGET`].
        budget: usize,
    },
}

/// How a stream's outputs are set up (from its vhost).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Keep a GOP cache for new players (`play { gop_cache }`).
    pub gop_cache: bool,
    /// HLS segmenting: `(hls_fragment, hls_window, hls_td_ratio)`, or `None` when off.
    pub hls: Option<(Duration, Duration, f64)>,
    /// How long a stream's HLS segments outlive its unpublish (`hls_dispose`;
    /// zero keeps them until the next publish, as SRS's 0 disables disposal).
    pub hls_dispose: Duration,
}

impl StreamSettings {
    /// The settings a vhost configures.
    pub fn from_vhost(v: &VhostConfig) -> Self {
        Self {
            gop_cache: v.play.gop_cache,
            hls: v.hls.enabled.then_some((
                v.hls.hls_fragment,
                v.hls.hls_window,
                v.hls.hls_td_ratio,
            )),
            hls_dispose: v.hls.hls_dispose,
        }
    }
}

/// Process-wide registry of live streams.
#[derive(Debug)]
pub struct Hub {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    /// Live clients (publishers and players) by id, for the HTTP API.
    clients: Mutex<HashMap<String, LiveClient>>,
    /// Open RTMP connections (all shards).
    pub rtmp_connections: AtomicUsize,
    /// Players disconnected because their queue was full.
    pub slow_players: AtomicU64,
    next_publication: AtomicU64,
    /// Bytes of unfinished RTMP messages held by all connections.
    rtmp_buffered: AtomicUsize,
    rtmp_budget: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_rtmp_budget(RTMP_BUFFER_BUDGET)
    }
}

/// One RTMP connection's share of [`RTMP_BUFFER_BUDGET`]; returned on drop.
#[derive(Debug)]
pub struct RtmpBufferCharge {
    hub: Arc<Hub>,
    held: usize,
}

/// One live stream.
#[derive(Debug)]
pub struct LiveStream {
    /// `app/stream`.
    pub key: String,
    inner: Mutex<StreamInner>,
}

#[derive(Debug, Default)]
struct StreamInner {
    /// Id of the active publication, if any.
    publisher: Option<u64>,
    gop: GopCache,
    gop_enabled: bool,
    hls: Option<HlsMuxer>,
    players: Vec<flume::Sender<FlvTag>>,
    /// Codecs of the active publication, for the HTTP API.
    media: MediaInfo,
    /// `hls_dispose` of the last publish.
    hls_dispose: Duration,
    /// When a sweep first saw the stream unpublished with HLS left.
    unpublished_at: Option<Instant>,
}

/// An active publish: feed it tags; dropping it unpublishes.
#[derive(Debug)]
pub struct Publication {
    hub: Arc<Hub>,
    stream: Arc<LiveStream>,
    id: u64,
}

/// `app/stream`, the registry key.
pub fn stream_key(app: &str, stream: &str) -> String {
    format!("{app}/{stream}")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a stream lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub whose RTMP connections share `budget` bytes of unfinished messages.
    pub fn with_rtmp_budget(budget: usize) -> Self {
        Self {
            streams: Mutex::default(),
            clients: Mutex::default(),
            rtmp_connections: AtomicUsize::new(0),
            slow_players: AtomicU64::new(0),
            next_publication: AtomicU64::new(0),
            rtmp_buffered: AtomicUsize::new(0),
            rtmp_budget: budget,
        }
    }

    /// An empty share of the RTMP buffer budget for a new connection.
    pub fn rtmp_charge(self: &Arc<Self>) -> RtmpBufferCharge {
        RtmpBufferCharge {
            hub: self.clone(),
            held: 0,
        }
    }

    /// Bytes of unfinished RTMP messages all connections hold now.
    pub fn rtmp_buffered(&self) -> usize {
        self.rtmp_buffered.load(Ordering::Relaxed)
    }

    /// Streams in the registry (publishing or not).
    pub fn len(&self) -> usize {
        lock(&self.streams).len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reclaims what nobody uses; call about once a second with the time.
    /// Forgets players whose queue was dropped, drops HLS segments
    /// `hls_dispose` after the unpublish (first seen by a sweep), and
    /// removes streams left with no publisher, player or HLS. Returns how
    /// many streams were removed.
    pub fn sweep(&self, now: Instant) -> usize {
        for c in lock(&self.clients).values() {
            c.update_rate(now);
        }
        let mut map = lock(&self.streams);
        let before = map.len();
        map.retain(|_, stream| {
            let mut s = lock(&stream.inner);
            s.players.retain(|p| !p.is_disconnected());
            if s.publisher.is_some() {
                return true;
            }
            if s.hls.is_some() {
                let since = *s.unpublished_at.get_or_insert(now);
                if !s.hls_dispose.is_zero() && now.saturating_duration_since(since) >= s.hls_dispose
                {
                    tracing::info!(stream = %stream.key, "hls: disposed {:?} after unpublish", s.hls_dispose);
                    s.hls = None;
                }
            }
            // A caller between `entry` and its lock of the stream (a publish
            // or subscribe in flight) holds another reference: keep it, or
            // it would attach to a stream no longer in the registry.
            s.hls.is_some() || !s.players.is_empty() || Arc::strong_count(stream) > 1
        });
        let removed = before - map.len();
        if removed > 0 {
            tracing::debug!(
                removed,
                left = map.len(),
                "live: reclaimed {removed} unused streams"
            );
        }
        removed
    }

    fn entry(&self, key: &str) -> Arc<LiveStream> {
        lock(&self.streams)
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(LiveStream {
                    key: key.to_owned(),
                    inner: Mutex::new(StreamInner::default()),
                })
            })
            .clone()
    }

    /// The stream `key`, if anyone ever used it.
    pub fn stream(&self, key: &str) -> Option<Arc<LiveStream>> {
        lock(&self.streams).get(key).cloned()
    }

    /// Start publishing `key`; refused while another publication is active.
    pub fn publish(
        self: &Arc<Self>,
        key: &str,
        settings: &StreamSettings,
    ) -> Result<Publication, HubError> {
        let stream = self.entry(key);
        let id = self.next_publication.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut s = lock(&stream.inner);
            if s.publisher.is_some() {
                return Err(HubError::StreamBusy(key.to_owned()));
            }
            s.publisher = Some(id);
            s.unpublished_at = None;
            s.hls_dispose = settings.hls_dispose;
            s.gop.clear();
            s.media = MediaInfo::default();
            s.gop_enabled = settings.gop_cache;
            s.hls = match (settings.hls, s.hls.take()) {
                // HLS players polling through a republish keep their place.
                (Some((fragment, window, ratio)), Some(mut h)) => {
                    h.republish(fragment, window, ratio);
                    Some(h)
                }
                (Some((fragment, window, ratio)), None) => {
                    let mut h = HlsMuxer::new(fragment, window);
                    h.set_td_ratio(ratio);
                    Some(h)
                }
                (None, _) => None,
            };
        }
        Ok(Publication {
            hub: self.clone(),
            stream,
            id,
        })
    }

    /// Whether `key` has an active publisher.
    pub fn is_publishing(&self, key: &str) -> bool {
        self.stream(key)
            .is_some_and(|s| lock(&s.inner).publisher.is_some())
    }

    /// Join `key` as a player: the queue starts with the metadata, sequence
    /// headers and last GOP. With `wait` the stream need not be publishing
    /// yet (RTMP players wait); without, `None` when it is not.
    pub fn subscribe(&self, key: &str, wait: bool) -> Option<flume::Receiver<FlvTag>> {
        let stream = if wait {
            self.entry(key)
        } else {
            self.stream(key)?
        };
        let mut s = lock(&stream.inner);
        if !wait && s.publisher.is_none() {
            return None;
        }
        let (tx, rx) = flume::bounded(PLAYER_QUEUE);
        for tag in s.gop.startup_tags() {
            // The queue is new and the GOP cache is bounded below PLAYER_QUEUE
            // only by configuration; a full queue just starts later.
            if tx.try_send(tag.clone()).is_err() {
                break;
            }
        }
        s.players.push(tx);
        Some(rx)
    }

    /// The HLS playlist of `key`, segments named `ts_name_fmt` (`[seq]` replaced).
    pub fn hls_playlist(&self, key: &str, ts_name_fmt: &str) -> Option<String> {
        let stream = self.stream(key)?;
        let s = lock(&stream.inner);
        let hls = s.hls.as_ref()?;
        hls.segments().next()?;
        Some(hls.playlist(ts_name_fmt))
    }

    /// HLS segment `seq` of `key`.
    pub fn hls_segment(&self, key: &str, seq: u64) -> Option<bytes::Bytes> {
        let stream = self.stream(key)?;
        let s = lock(&stream.inner);
        s.hls.as_ref()?.segment(seq)
    }

    /// Live clients (RTMP publishers and players, HTTP-FLV players) still
    /// connected: what a graceful stop waits for.
    pub fn clients_left(&self) -> usize {
        lock(&self.clients).len()
    }

    /// Registers a live client for the HTTP API until the guard drops; its
    /// connection counts `bytes` and ends when `kick` is pulled.
    pub fn add_client(
        self: &Arc<Self>,
        desc: LiveClientDesc,
        bytes: Arc<ByteCounters>,
        kick: &Kick,
    ) -> LiveClientGuard {
        let mut clients = lock(&self.clients);
        let id = loop {
            let id = crate::util::random_string(8);
            if !clients.contains_key(&id) {
                break id;
            }
        };
        clients.insert(id.clone(), LiveClient::new(id.clone(), desc, bytes, kick));
        LiveClientGuard::new(self.clone(), id)
    }

    pub(super) fn remove_client(&self, id: &str) {
        lock(&self.clients).remove(id);
    }

    /// Kicks the live client `id` (its connection closes at once); false if
    /// there is no such client (or it was already kicked).
    pub fn kick(&self, id: &str) -> bool {
        lock(&self.clients).get(id).is_some_and(LiveClient::kick)
    }

    /// Every live client not kicked yet.
    pub fn clients(&self, now: Instant) -> Vec<LiveClientInfo> {
        lock(&self.clients)
            .values()
            .filter(|c| !c.is_kicked())
            .map(|c| c.info(now))
            .collect()
    }

    /// What the active publication of `key` carries (`None` when nobody publishes it).
    pub fn media(&self, key: &str) -> Option<MediaInfo> {
        let stream = self.stream(key)?;
        let s = lock(&stream.inner);
        s.publisher.is_some().then(|| s.media.clone())
    }

    /// Live players (RTMP, HTTP-FLV, DVR) attached to `key` now.
    pub fn players_of(&self, key: &str) -> usize {
        self.stream(key).map_or(0, |s| {
            let mut inner = lock(&s.inner);
            inner.players.retain(|p| !p.is_disconnected());
            inner.players.len()
        })
    }

    /// Streams with live players waiting and no publisher (RTMP players
    /// wait for one).
    pub fn waiting(&self) -> Vec<String> {
        let streams: Vec<_> = lock(&self.streams).values().cloned().collect();
        streams
            .into_iter()
            .filter(|s| {
                let mut inner = lock(&s.inner);
                inner.players.retain(|p| !p.is_disconnected());
                inner.publisher.is_none() && !inner.players.is_empty()
            })
            .map(|s| s.key.clone())
            .collect()
    }

    /// Streams with an active publisher.
    pub fn publishing(&self) -> Vec<String> {
        let streams: Vec<_> = lock(&self.streams).values().cloned().collect();
        streams
            .into_iter()
            .filter(|s| lock(&s.inner).publisher.is_some())
            .map(|s| s.key.clone())
            .collect()
    }
}

impl Publication {
    /// The stream's key, `app/stream`.
    pub fn key(&self) -> &str {
        &self.stream.key
    }

    /// One tag of the live stream: cached, segmented and queued to each player.
    pub fn push(&self, tag: &FlvTag) {
        let mut s = lock(&self.stream.inner);
        if s.publisher != Some(self.id) {
            return;
        }
        s.media.on_tag(tag);
        if s.gop_enabled {
            s.gop.push(tag);
        }
        if let Some(hls) = s.hls.as_mut() {
            if let Err(e) = hls.push(tag) {
                tracing::debug!(stream = %self.stream.key, "hls: skipped a tag: {e}");
            }
        }
        let before = s.players.len();
        s.players.retain(|p| match p.try_send(tag.clone()) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => false,
            Err(flume::TrySendError::Disconnected(_)) => false,
        });
        let gone = before - s.players.len();
        if gone > 0 {
            tracing::debug!(stream = %self.stream.key, gone, "live players left or were too slow");
        }
    }

    /// Players currently attached.
    pub fn players(&self) -> usize {
        lock(&self.stream.inner).players.len()
    }
}

impl RtmpBufferCharge {
    /// The connection now holds `bytes` of unfinished messages: take the
    /// growth from the budget (refused past it: close the connection) or
    /// give back what it released.
    pub fn set(&mut self, bytes: usize) -> Result<(), HubError> {
        let total = &self.hub.rtmp_buffered;
        if bytes > self.held {
            let more = bytes - self.held;
            let before = total.fetch_add(more, Ordering::Relaxed);
            if before + more > self.hub.rtmp_budget {
                total.fetch_sub(more, Ordering::Relaxed);
                return Err(HubError::BufferBudget {
                    held: before + more,
                    budget: self.hub.rtmp_budget,
                });
            }
        } else {
            total.fetch_sub(self.held - bytes, Ordering::Relaxed);
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for RtmpBufferCharge {
    fn drop(&mut self) {
        self.hub
            .rtmp_buffered
            .fetch_sub(self.held, Ordering::Relaxed);
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        let mut s = lock(&self.stream.inner);
        if s.publisher != Some(self.id) {
            return;
        }
        s.publisher = None;
        s.gop.clear();
        s.media = MediaInfo::default();
        if let Some(hls) = s.hls.as_mut() {
            hls.flush();
        }
        // Players end with the stream (their queues drain, then close).
        s.players.clear();
        let keep = s.hls.is_some();
        drop(s);
        if !keep {
            let mut map = lock(&self.hub.streams);
            // Only the registry and this publication hold the stream: no
            // publish or subscribe is in flight (else the sweep removes it).
            if map
                .get(&self.stream.key)
                .is_some_and(|st| Arc::ptr_eq(st, &self.stream))
                && Arc::strong_count(&self.stream) == 2
                && lock(&self.stream.inner).publisher.is_none()
            {
                map.remove(&self.stream.key);
            }
        }
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
