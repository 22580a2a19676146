//! The live stream registry, process-wide: one [`LiveStream`] per `app/stream`,
//! holding its GOP cache, its HLS segmenter and the bounded queues of its
//! players (RTMP, HTTP-FLV, and bridges), whatever shard they live on.
//!
//! The lock of a stream is taken once per FLV tag (tens per second), never
//! per WebRTC packet. A player whose queue is full is disconnected (and
//! counted) so that a slow client never holds up the publisher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::VhostConfig;
use crate::live::flv::FlvTag;
use crate::live::gop::GopCache;
use crate::live::hls::HlsMuxer;

/// Tags a player may have queued before it is disconnected as too slow
/// (about 10 s of a 30 fps stream with audio).
pub const PLAYER_QUEUE: usize = 1024;

/// Why a publish was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    /// The stream already has a publisher (SRS: `StreamBusy`).
    #[error("stream {0} is already publishing")]
    StreamBusy(String),
}

/// How a stream's outputs are set up (from its vhost).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Keep a GOP cache for new players (`play { gop_cache }`).
    pub gop_cache: bool,
    /// HLS segmenting: `(hls_fragment, hls_window, hls_td_ratio)`, or `None` when off.
    pub hls: Option<(Duration, Duration, f64)>,
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
        }
    }
}

/// Process-wide registry of live streams.
#[derive(Debug, Default)]
pub struct Hub {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    /// Open RTMP connections (all shards).
    pub rtmp_connections: AtomicUsize,
    /// Players disconnected because their queue was full.
    pub slow_players: AtomicU64,
    next_publication: AtomicU64,
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
            s.gop.clear();
            s.gop_enabled = settings.gop_cache;
            s.hls = settings.hls.map(|(fragment, window, ratio)| {
                let mut h = HlsMuxer::new(fragment, window);
                h.set_td_ratio(ratio);
                h
            });
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

impl Drop for Publication {
    fn drop(&mut self) {
        let mut s = lock(&self.stream.inner);
        if s.publisher != Some(self.id) {
            return;
        }
        s.publisher = None;
        s.gop.clear();
        if let Some(hls) = s.hls.as_mut() {
            hls.flush();
        }
        // Players end with the stream (their queues drain, then close).
        s.players.clear();
        let keep = s.hls.is_some();
        drop(s);
        if !keep {
            let mut map = lock(&self.hub.streams);
            if map
                .get(&self.stream.key)
                .is_some_and(|st| Arc::ptr_eq(st, &self.stream))
                && lock(&self.stream.inner).publisher.is_none()
            {
                map.remove(&self.stream.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::flv::TagKind;

    fn settings() -> StreamSettings {
        StreamSettings {
            gop_cache: true,
            hls: None,
        }
    }

    fn key_video(ts: u32) -> FlvTag {
        FlvTag::new(TagKind::Video, ts, vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])
    }

    #[test]
    fn second_publisher_is_refused_until_the_first_leaves() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish("live/a", &settings()).unwrap();
        assert_eq!(
            hub.publish("live/a", &settings()).unwrap_err(),
            HubError::StreamBusy("live/a".into())
        );
        assert!(hub.publish("live/b", &settings()).is_ok());
        drop(p);
        assert!(hub.publish("live/a", &settings()).is_ok());
    }

    #[test]
    fn late_player_gets_the_gop_then_live_tags() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish("live/a", &settings()).unwrap();
        p.push(&key_video(0));
        let rx = hub.subscribe("live/a", false).unwrap();
        p.push(&key_video(40));
        assert_eq!(rx.try_recv().unwrap().timestamp_ms, 0);
        assert_eq!(rx.try_recv().unwrap().timestamp_ms, 40);
        drop(p);
        assert!(matches!(
            rx.try_recv(),
            Err(flume::TryRecvError::Disconnected)
        ));
        assert!(hub.subscribe("live/a", false).is_none());
    }

    #[test]
    fn slow_player_is_dropped_and_publisher_goes_on() {
        let hub = Arc::new(Hub::default());
        let p = hub.publish("live/a", &settings()).unwrap();
        let slow = hub.subscribe("live/a", false).unwrap();
        for i in 0..(PLAYER_QUEUE as u32 + 5) {
            p.push(&key_video(i));
        }
        assert_eq!(p.players(), 0);
        assert_eq!(slow.len(), PLAYER_QUEUE);
    }

    #[test]
    fn waiting_player_gets_tags_once_published() {
        let hub = Arc::new(Hub::default());
        let rx = hub.subscribe("live/w", true).unwrap();
        let p = hub.publish("live/w", &settings()).unwrap();
        p.push(&key_video(7));
        assert_eq!(rx.try_recv().unwrap().timestamp_ms, 7);
    }
}
