//! The control-plane directory every shard can consult: which shard holds a
//! session, and which stream is being published by whom.
//!
//! It is behind a mutex on purpose: it is touched when a session is created,
//! moved or closed, when a stream starts or stops publishing, and when a STUN
//! check names a ufrag the receiving shard does not hold (the first check of
//! each session). It is never touched per media packet.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sdp::{Codec, Role};

/// What the directory knows of one session.
#[derive(Clone, Debug)]
pub struct SessionEntry {
    /// The session's id in the HTTP API (`server-ufrag:client-ufrag`);
    /// empty for entries that are no API client (the RTMP→RTC bridge).
    pub id: String,
    /// The server's ICE ufrag of the session.
    pub ufrag: String,
    /// The shard that holds the session now.
    pub shard: usize,
    /// Publisher or player.
    pub role: Role,
    /// `app/stream`.
    pub stream: String,
    /// The client IP it counts against until it passes ICE.
    pub pending_ip: Option<std::net::IpAddr>,
    /// The vhost it was created for (its Bearer tokens).
    pub vhost: String,
    /// Its ICE generation, as WHIP's `PATCH` sees it.
    pub ice: IceView,
    /// A `DELETE` (or kick) has been sent to its shard: the resource is
    /// gone for the API while the shard closes it.
    pub closing: bool,
}

/// Ufrags of past ICE restarts still routed to a session, besides its first.
pub const MAX_ICE_ALIASES: usize = 2;

/// The ICE state of a session that the signaling API decides a `PATCH`
/// on (trickle or restart), kept with the directory so any shard can answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IceView {
    /// The server's ufrag of the current generation (the `ETag` names it).
    pub ufrag: String,
    /// The client's ufrag of the current generation.
    pub remote_ufrag: String,
    /// Whether the client sent `a=end-of-candidates` in this generation.
    pub end_of_candidates: bool,
    /// Candidates trickled in this generation.
    pub candidates: usize,
    /// ICE restarts so far.
    pub restarts: u32,
    /// Server ufrags of restarts, routed to the session (at most
    /// [`MAX_ICE_ALIASES`], newest last).
    pub aliases: Vec<String>,
}

/// What the directory knows of one published stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// Token of the publishing session.
    pub publisher: String,
    /// Video codec the publisher sends, if any.
    pub video: Option<Codec>,
    /// Audio codec the publisher sends, if any.
    pub audio: Option<Codec>,
}

/// Why a session could not be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Another session already uses this server ufrag.
    #[error("ice-ufrag {0:?} is already in use by another session")]
    UfragInUse(String),
    /// The stream already has a publisher.
    #[error("stream {0:?} is already publishing")]
    StreamBusy(String),
    /// The stream is live on another node of the cluster.
    #[error("stream {stream:?} is already publishing on cluster node {node} ({api})")]
    ClaimedElsewhere {
        /// `app/stream`.
        stream: String,
        /// The owning node's id.
        node: String,
        /// The owning node's API address.
        api: String,
    },
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, SessionEntry>,
    by_ufrag: HashMap<String, String>,
    streams: HashMap<String, StreamEntry>,
    /// Sessions not yet past ICE, by client IP (entries removed at zero).
    pending: HashMap<std::net::IpAddr, usize>,
    /// Sessions marked closing (a DELETE answered) but not yet removed.
    closing: usize,
}

impl Inner {
    fn unpend(pending: &mut HashMap<std::net::IpAddr, usize>, ip: std::net::IpAddr) {
        if let Some(n) = pending.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&ip);
            }
        }
    }
}

/// Sessions by token and by ufrag, streams by `app/stream`.
#[derive(Default)]
pub struct Directory {
    inner: Mutex<Inner>,
}

impl Directory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new session; a publisher also claims its stream.
    pub fn register(
        &self,
        token: &str,
        entry: SessionEntry,
        publish: Option<StreamEntry>,
    ) -> Result<(), DirectoryError> {
        let mut inner = self.lock();
        if inner.by_ufrag.contains_key(&entry.ufrag) {
            return Err(DirectoryError::UfragInUse(entry.ufrag));
        }
        if let Some(stream) = publish {
            if inner.streams.contains_key(&entry.stream) {
                return Err(DirectoryError::StreamBusy(entry.stream));
            }
            inner.streams.insert(entry.stream.clone(), stream);
        }
        if let Some(ip) = entry.pending_ip {
            *inner.pending.entry(ip).or_default() += 1;
        }
        inner
            .by_ufrag
            .insert(entry.ufrag.clone(), token.to_string());
        inner.sessions.insert(token.to_string(), entry);
        Ok(())
    }

    /// Marks session `token` as being closed, once: its entry, or `None`
    /// when there is none or it was already marked (a second `DELETE` is a
    /// 404 even before the owning shard has closed it).
    pub fn mark_closing(&self, token: &str) -> Option<SessionEntry> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(token).filter(|e| !e.closing)?;
        entry.closing = true;
        let entry = entry.clone();
        inner.closing += 1;
        Some(entry)
    }

    /// Forgets a session; a publisher's stream is released.
    pub fn remove(&self, token: &str) -> Option<SessionEntry> {
        let mut inner = self.lock();
        let entry = inner.sessions.remove(token)?;
        if entry.closing {
            inner.closing -= 1;
        }
        inner.by_ufrag.remove(&entry.ufrag);
        for alias in &entry.ice.aliases {
            inner.by_ufrag.remove(alias);
        }
        if let Some(ip) = entry.pending_ip {
            Inner::unpend(&mut inner.pending, ip);
        }
        if inner
            .streams
            .get(&entry.stream)
            .is_some_and(|s| s.publisher == token)
        {
            inner.streams.remove(&entry.stream);
        }
        Some(entry)
    }

    /// Runs `f` on the ICE state of session `token` under the lock (so
    /// `PATCH`es from several shards see each other), or `None` when there
    /// is no such session. `f` may move the session to the new generation
    /// `fresh_ufrag` (a restart) by setting [`IceView::ufrag`] to it: the
    /// ufrag is then routed to the session, and the oldest alias beyond
    /// [`MAX_ICE_ALIASES`] forgotten. `fresh_ufrag` must be unused:
    /// [`DirectoryError::UfragInUse`] otherwise, before `f` runs.
    pub fn update_ice<R>(
        &self,
        token: &str,
        fresh_ufrag: &str,
        f: impl FnOnce(&SessionEntry, &mut IceView) -> R,
    ) -> Option<Result<R, DirectoryError>> {
        let mut inner = self.lock();
        let Inner {
            sessions, by_ufrag, ..
        } = &mut *inner;
        let entry = sessions.get_mut(token)?;
        if by_ufrag.contains_key(fresh_ufrag) {
            return Some(Err(DirectoryError::UfragInUse(fresh_ufrag.to_owned())));
        }
        let mut ice = std::mem::take(&mut entry.ice);
        let r = f(entry, &mut ice);
        if ice.ufrag == fresh_ufrag {
            by_ufrag.insert(fresh_ufrag.to_owned(), token.to_owned());
            ice.aliases.push(fresh_ufrag.to_owned());
            if ice.aliases.len() > MAX_ICE_ALIASES {
                let old = ice.aliases.remove(0);
                by_ufrag.remove(&old);
            }
        }
        entry.ice = ice;
        Some(Ok(r))
    }

    /// The session `token` passed ICE: it no longer counts as pending.
    pub fn ice_done(&self, token: &str) {
        let mut inner = self.lock();
        let Inner {
            sessions, pending, ..
        } = &mut *inner;
        if let Some(ip) = sessions.get_mut(token).and_then(|e| e.pending_ip.take()) {
            Inner::unpend(pending, ip);
        }
    }

    /// Sessions from `ip` that have not passed ICE yet.
    pub fn pending_of(&self, ip: std::net::IpAddr) -> usize {
        self.lock().pending.get(&ip).copied().unwrap_or(0)
    }

    /// The session registered under `token`.
    pub fn session(&self, token: &str) -> Option<SessionEntry> {
        self.lock().sessions.get(token).cloned()
    }

    /// The token of the session whose API id is `id` (`server-ufrag:client-ufrag`).
    pub fn token_of_id(&self, id: &str) -> Option<String> {
        let inner = self.lock();
        Self::token_of_id_in(&inner, id).map(str::to_owned)
    }

    fn token_of_id_in<'a>(inner: &'a Inner, id: &str) -> Option<&'a str> {
        let (ufrag, _) = id.split_once(':')?;
        let token = inner.by_ufrag.get(ufrag)?;
        let entry = inner.sessions.get(token)?;
        (!entry.id.is_empty() && entry.id == id).then_some(token.as_str())
    }

    /// Keeps the items whose API id (`id_of`) names a session still
    /// registered (one lock for all).
    pub fn retain_registered<T>(&self, items: &mut Vec<T>, id_of: impl Fn(&T) -> &str) {
        let inner = self.lock();
        items.retain(|t| Self::token_of_id_in(&inner, id_of(t)).is_some());
    }

    /// The shard holding the session with server ufrag `ufrag`.
    pub fn shard_of_ufrag(&self, ufrag: &str) -> Option<usize> {
        let inner = self.lock();
        let token = inner.by_ufrag.get(ufrag)?;
        inner.sessions.get(token).map(|e| e.shard)
    }

    /// Records that the session `token` now lives on `shard`. Returns false if
    /// the session is gone (closed while it moved).
    pub fn set_shard(&self, token: &str, shard: usize) -> bool {
        match self.lock().sessions.get_mut(token) {
            Some(e) => {
                e.shard = shard;
                true
            }
            None => false,
        }
    }

    /// The stream published as `app/stream`, if any.
    pub fn stream(&self, key: &str) -> Option<StreamEntry> {
        self.lock().streams.get(key).cloned()
    }

    /// Every published stream's `app/stream`.
    pub fn stream_keys(&self) -> Vec<String> {
        self.lock().streams.keys().cloned().collect()
    }

    /// Players of `stream` (`app/stream`) on this node, those being
    /// deleted left out.
    pub fn players_of(&self, stream: &str) -> usize {
        self.lock()
            .sessions
            .values()
            .filter(|e| e.role == Role::Play && !e.closing && e.stream == stream)
            .count()
    }

    /// Streams that have players here but no publisher, with the vhost of
    /// one of their players (a pull can resume them).
    pub fn played_unpublished(&self) -> Vec<(String, String)> {
        let inner = self.lock();
        let mut out: Vec<(String, String)> = Vec::new();
        for e in inner.sessions.values() {
            if e.role == Role::Play
                && !e.closing
                && !inner.streams.contains_key(&e.stream)
                && !out.iter().any(|(s, _)| *s == e.stream)
            {
                out.push((e.stream.clone(), e.vhost.clone()));
            }
        }
        out
    }

    /// Number of sessions and of published streams.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.sessions.len(), inner.streams.len())
    }

    /// Sessions not closing: what `max_connections` counts, so a session
    /// whose DELETE was answered makes room at once, even while the shard
    /// that holds it has yet to close it.
    pub fn open_sessions(&self) -> usize {
        let inner = self.lock();
        inner.sessions.len() - inner.closing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ufrag: &str, role: Role) -> SessionEntry {
        SessionEntry {
            id: format!("{ufrag}:c"),
            ufrag: ufrag.into(),
            shard: 0,
            role,
            stream: "live/s".into(),
            pending_ip: Some([10, 0, 0, 1].into()),
            vhost: "v".into(),
            ice: IceView {
                ufrag: ufrag.into(),
                remote_ufrag: "c".into(),
                ..IceView::default()
            },
            closing: false,
        }
    }

    #[test]
    fn a_session_is_marked_closing_once_and_still_routed_until_removed() {
        let d = Directory::default();
        d.register("t1", entry("u1", Role::Play), None).unwrap();
        assert!(d.mark_closing("t1").is_some_and(|e| e.closing));
        assert_eq!(
            (d.open_sessions(), d.counts().0),
            (0, 1),
            "closing: not open"
        );
        assert!(
            d.mark_closing("t1").is_none(),
            "a second DELETE finds nothing"
        );
        assert!(d.mark_closing("nope").is_none());
        assert_eq!(
            d.shard_of_ufrag("u1"),
            Some(0),
            "its shard still gets its packets"
        );
        assert!(d.remove("t1").is_some());
        assert_eq!(d.shard_of_ufrag("u1"), None);
        assert_eq!((d.open_sessions(), d.counts().0), (0, 0));
    }

    #[test]
    fn restart_ufrags_route_to_the_session_and_are_bounded() {
        let d = Directory::default();
        d.register("t1", entry("u1", Role::Play), None).unwrap();
        d.register("t2", entry("u2", Role::Play), None).unwrap();
        let restart = |fresh: &str| {
            d.update_ice("t1", fresh, |_, ice| ice.ufrag = fresh.to_owned())
                .unwrap()
        };
        assert_eq!(restart("u2"), Err(DirectoryError::UfragInUse("u2".into())));
        for u in ["r1", "r2", "r3"] {
            restart(u).unwrap();
        }
        assert_eq!(d.shard_of_ufrag("r1"), None, "beyond MAX_ICE_ALIASES");
        assert_eq!(d.shard_of_ufrag("r3"), Some(0));
        assert_eq!(d.shard_of_ufrag("u1"), Some(0), "the first ufrag stays");
        assert_eq!(
            d.token_of_id("u1:c").as_deref(),
            Some("t1"),
            "the API id stays"
        );
        // No change of ufrag: nothing routed.
        d.update_ice("t1", "r9", |_, ice| ice.candidates += 1)
            .unwrap()
            .unwrap();
        assert_eq!(d.shard_of_ufrag("r9"), None);
        assert!(d.update_ice("nope", "r8", |_, _| ()).is_none());
        d.remove("t1");
        assert_eq!(
            (d.shard_of_ufrag("r2"), d.shard_of_ufrag("r3")),
            (None, None)
        );
        assert_eq!(d.lock().by_ufrag.len(), 1);
    }

    fn stream(token: &str) -> StreamEntry {
        StreamEntry {
            publisher: token.into(),
            video: Some(Codec::H264),
            audio: None,
        }
    }

    #[test]
    fn a_stream_has_one_publisher_until_it_leaves() {
        let d = Directory::default();
        d.register("t1", entry("u1", Role::Publish), Some(stream("t1")))
            .unwrap();
        let err = d.register("t2", entry("u2", Role::Publish), Some(stream("t2")));
        assert_eq!(err, Err(DirectoryError::StreamBusy("live/s".into())));
        assert!(d.remove("t1").is_some());
        assert_eq!(d.stream("live/s"), None);
        d.register("t2", entry("u2", Role::Publish), Some(stream("t2")))
            .unwrap();
        assert_eq!(d.stream("live/s").unwrap().publisher, "t2");
    }

    #[test]
    fn sessions_are_found_by_their_api_id() {
        let d = Directory::default();
        d.register("t1", entry("u1", Role::Play), None).unwrap();
        let mut bridge = entry("rtmp-1", Role::Publish);
        bridge.id.clear();
        d.register("rtmp-1", bridge, None).unwrap();
        assert_eq!(d.token_of_id("u1:c").as_deref(), Some("t1"));
        for unknown in ["u1:x", "u1", "u2:c", "", ":", "rtmp-1:c", "rtmp-1"] {
            assert_eq!(d.token_of_id(unknown), None, "{unknown:?}");
        }
        let mut ids = vec!["u1:c", "u2:c", "u1:x"];
        d.retain_registered(&mut ids, |s| s);
        assert_eq!(ids, ["u1:c"]);
        d.remove("t1");
        assert_eq!(d.token_of_id("u1:c"), None);
    }

    #[test]
    fn ufrags_are_unique_and_follow_moves() {
        let d = Directory::default();
        d.register("t1", entry("u1", Role::Play), None).unwrap();
        assert_eq!(
            d.register("t2", entry("u1", Role::Play), None),
            Err(DirectoryError::UfragInUse("u1".into()))
        );
        assert!(d.set_shard("t1", 3));
        assert_eq!(d.shard_of_ufrag("u1"), Some(3));
        d.remove("t1");
        assert!(!d.set_shard("t1", 1));
        assert_eq!(d.shard_of_ufrag("u1"), None);
        assert_eq!(d.counts(), (0, 0));
    }

    #[test]
    fn pending_sessions_are_counted_per_ip_until_ice_or_removal() {
        let d = Directory::default();
        let ip = [10, 0, 0, 1].into();
        d.register("t1", entry("u1", Role::Play), None).unwrap();
        d.register("t2", entry("u2", Role::Play), None).unwrap();
        assert_eq!(d.pending_of(ip), 2);
        d.ice_done("t1");
        d.ice_done("t1");
        assert_eq!(d.pending_of(ip), 1);
        d.remove("t1");
        assert_eq!(d.pending_of(ip), 1, "t1 had passed ICE already");
        d.remove("t2");
        assert_eq!(d.pending_of(ip), 0);
        assert!(d.lock().pending.is_empty());
    }

    #[test]
    fn a_player_leaving_does_not_release_the_stream() {
        let d = Directory::default();
        d.register("p", entry("u1", Role::Publish), Some(stream("p")))
            .unwrap();
        d.register("v", entry("u2", Role::Play), None).unwrap();
        d.remove("v");
        assert!(d.stream("live/s").is_some());
    }
}
