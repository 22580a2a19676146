//! The node's pulls (sans-IO): which streams this node plays from their
//! origin node, one pull per stream however many local players, and when
//! each pull ends. Time is passed in; the runtime (`server::pull`) makes
//! the pulls and carries out the ends.
//!
//! A pull goes `Starting` (the origin's answer is awaited; other players of
//! the stream wait for it) → `Active` (a session on one shard) → gone: its
//! session ended (ICE or DTLS timeout, the origin closed it), or
//! [`PullTable::handle_tick`] found no local player for [`LINGER`], or the
//! directory no longer names the origin node for the stream.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a pull outlives its last local player.
pub const LINGER: Duration = Duration::from_secs(3);
/// How long an HLS request keeps a pull without other players: HLS
/// players hold no connection, they poll the playlist.
pub const HLS_KEEP: Duration = Duration::from_secs(30);
/// How long a `Starting` pull is trusted before another player may try
/// again (the origin's answer has a shorter deadline than this).
pub const START_DEADLINE: Duration = Duration::from_secs(5);

/// Why a pull could not be made; the player that asked gets it (502).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The directory entry's `api` is not `ip:port`.
    #[error("the cluster directory names {api:?} as the API of the origin of stream {stream:?}: not an ip:port")]
    BadApi {
        /// `app/stream`.
        stream: String,
        /// The entry's `api`.
        api: String,
    },
    /// The origin did not answer within the deadline, or refused the connection.
    #[error("origin {api} of stream {stream:?} is unreachable: {why}")]
    Unreachable {
        /// `app/stream`.
        stream: String,
        /// The origin's API address.
        api: String,
        /// What failed.
        why: String,
    },
    /// The origin answered with another status than 201.
    #[error("origin {api} refused the pull of stream {stream:?}: HTTP {status}: {body}")]
    Refused {
        /// `app/stream`.
        stream: String,
        /// The origin's API address.
        api: String,
        /// Its status.
        status: u16,
        /// The start of its answer.
        body: String,
    },
    /// The origin's SDP answer cannot be used.
    #[error("origin {api}'s answer for stream {stream:?} is unusable: {why}")]
    BadAnswer {
        /// `app/stream`.
        stream: String,
        /// The origin's API address.
        api: String,
        /// What is wrong.
        why: String,
    },
    /// No UDP socket for the pull.
    #[error("no UDP socket on {ip} for the pull of {stream:?}: {why}")]
    Socket {
        /// `app/stream`.
        stream: String,
        /// The local address asked for.
        ip: IpAddr,
        /// The error.
        why: String,
    },
}

/// Where one pull stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullState {
    /// The offer went to the origin; no answer yet.
    Starting {
        /// Since when.
        since: Instant,
    },
    /// The pull's session exists.
    Active {
        /// The shard that holds it.
        shard: usize,
        /// Its session token.
        token: String,
        /// The origin's WHEP resource URL (to DELETE at the end).
        resource: String,
    },
}

/// One pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its state.
    pub state: PullState,
    /// The origin node's id (from the directory).
    pub origin: String,
    /// Since when no local player has played the stream, if so.
    pub idle_since: Option<Instant>,
    /// Kept until then whatever the players (an HLS request's [`HLS_KEEP`]).
    pub kept_until: Option<Instant>,
}

/// What a player of a stream published on another node should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Make the pull (this caller is its maker).
    Start,
    /// Another request is making it: wait.
    Wait,
    /// It exists.
    Active,
}

/// A pull that has ended and what is left to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `app/stream`.
    pub stream: String,
    /// The origin's WHEP resource URL to DELETE.
    pub resource: String,
}

/// The node's pulls, by `app/stream`.
#[derive(Debug, Default)]
pub struct PullTable {
    pulls: HashMap<String, Pull>,
    /// When each stream's last pull failed (resumes wait [`RETRY_AFTER`]).
    failures: HashMap<String, Instant>,
}

/// How long after a failed pull of a stream the node tries it again by
/// itself for its waiting players (a new player tries at once).
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

impl PullTable {
    /// A player wants `stream`, which the directory says `origin` publishes.
    pub fn begin(&mut self, stream: &str, origin: &str, now: Instant) -> Begin {
        if let Some(p) = self.pulls.get_mut(stream) {
            match &p.state {
                PullState::Active { .. } => {
                    p.idle_since = None;
                    return Begin::Active;
                }
                PullState::Starting { since }
                    if now.saturating_duration_since(*since) < START_DEADLINE =>
                {
                    return Begin::Wait
                }
                // A maker that never reported back: take over.
                PullState::Starting { .. } => {}
            }
        }
        self.pulls.insert(
            stream.to_string(),
            Pull {
                state: PullState::Starting { since: now },
                origin: origin.to_string(),
                idle_since: None,
                kept_until: None,
            },
        );
        Begin::Start
    }

    /// The pull of `stream` has its session `token` on `shard`.
    pub fn started(&mut self, stream: &str, shard: usize, token: &str, resource: &str) {
        if let Some(p) = self.pulls.get_mut(stream) {
            p.state = PullState::Active {
                shard,
                token: token.to_string(),
                resource: resource.to_string(),
            };
        }
    }

    /// Keeps the pull of `stream` (if any) until at least `until`, players
    /// or not.
    pub fn keep(&mut self, stream: &str, until: Instant) {
        if let Some(p) = self.pulls.get_mut(stream) {
            p.kept_until = Some(p.kept_until.map_or(until, |t| t.max(until)));
        }
    }

    /// Whether a pull of `stream` failed less than [`RETRY_AFTER`] ago.
    pub fn recently_failed(&self, stream: &str, now: Instant) -> bool {
        self.failures
            .get(stream)
            .is_some_and(|t| now.saturating_duration_since(*t) < RETRY_AFTER)
    }

    /// Making the pull of `stream` failed at `now`: the next player tries again.
    pub fn failed(&mut self, stream: &str, now: Instant) {
        self.failures
            .retain(|_, t| now.saturating_duration_since(*t) < RETRY_AFTER);
        self.failures.insert(stream.to_string(), now);
        if matches!(
            self.pulls.get(stream).map(|p| &p.state),
            Some(PullState::Starting { .. })
        ) {
            self.pulls.remove(stream);
        }
    }

    /// The session `token` ended: if it was a pull, it is forgotten and
    /// its origin resource is to be deleted.
    pub fn session_ended(&mut self, token: &str) -> Option<Ended> {
        let stream = self.pulls.iter().find_map(|(k, p)| match &p.state {
            PullState::Active { token: t, .. } if t == token => Some(k.clone()),
            _ => None,
        })?;
        let p = self.pulls.remove(&stream)?;
        match p.state {
            PullState::Active { resource, .. } => Some(Ended { stream, resource }),
            PullState::Starting { .. } => None,
        }
    }

    /// Whether `stream` is pulled here (or being pulled): such a stream is
    /// not this node's to claim in the directory.
    pub fn is_pulled(&self, stream: &str) -> bool {
        self.pulls.contains_key(stream)
    }

    /// The pull of `stream`, if any.
    pub fn get(&self, stream: &str) -> Option<&Pull> {
        self.pulls.get(stream)
    }

    /// Active pulls.
    pub fn active(&self) -> usize {
        self.pulls
            .values()
            .filter(|p| matches!(p.state, PullState::Active { .. }))
            .count()
    }

    /// Time passed: the sessions (shard, token) of pulls to end now, those
    /// on `shard` only. `players(stream)` counts the stream's local
    /// players; `origin(stream)` is the node the directory names for it now.
    /// While the directory is `settling` (Redis restarted, being rebuilt),
    /// a stream it does not name yet keeps its pull.
    pub fn handle_tick(
        &mut self,
        now: Instant,
        shard: usize,
        players: impl Fn(&str) -> usize,
        origin: impl Fn(&str) -> Option<String>,
        settling: bool,
    ) -> Vec<String> {
        let mut end = Vec::new();
        for (stream, p) in &mut self.pulls {
            let PullState::Active {
                shard: s, token, ..
            } = &p.state
            else {
                continue;
            };
            if *s != shard {
                continue;
            }
            match origin(stream) {
                Some(o) if o == p.origin => {}
                None if settling => {}
                _ => {
                    end.push(token.clone());
                    continue;
                }
            }
            if players(stream) > 0 || p.kept_until.is_some_and(|t| now < t) {
                p.idle_since = None;
                continue;
            }
            let since = *p.idle_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= LINGER {
                end.push(token.clone());
            }
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "live/s";

    fn active(t: &mut PullTable, now: Instant) {
        assert_eq!(t.begin(S, "A", now), Begin::Start);
        t.started(S, 1, "tok", "http://a/res");
    }

    #[test]
    fn one_pull_per_stream_however_many_players() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        assert_eq!(t.begin(S, "A", t0), Begin::Start);
        assert_eq!(t.begin(S, "A", t0), Begin::Wait);
        assert!(t.is_pulled(S));
        assert_eq!(t.active(), 0);
        t.started(S, 1, "tok", "http://a/res");
        assert_eq!(t.begin(S, "A", t0), Begin::Active);
        assert_eq!(t.active(), 1);
    }

    #[test]
    fn a_failed_start_lets_the_next_player_try_again() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        assert_eq!(t.begin(S, "A", t0), Begin::Start);
        t.failed(S, t0);
        assert!(!t.is_pulled(S));
        assert!(t.recently_failed(S, t0));
        assert!(!t.recently_failed(S, t0 + RETRY_AFTER));
        assert_eq!(t.begin(S, "A", t0), Begin::Start);
        // A maker that never reports back is replaced after the deadline.
        assert_eq!(t.begin(S, "A", t0 + START_DEADLINE), Begin::Start);
    }

    #[test]
    fn the_pull_ends_a_linger_after_its_last_player() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        active(&mut t, t0);
        let origin = |_: &str| Some("A".to_string());
        assert!(t.handle_tick(t0, 1, |_| 2, origin, false).is_empty());
        assert!(t.handle_tick(t0, 1, |_| 0, origin, false).is_empty());
        // A player came back within the linger: the clock restarts.
        assert!(t
            .handle_tick(t0 + LINGER / 2, 1, |_| 1, origin, false)
            .is_empty());
        let t1 = t0 + LINGER;
        assert!(t.handle_tick(t1, 1, |_| 0, origin, false).is_empty());
        // Other shards do not end it.
        assert!(t
            .handle_tick(t1 + LINGER, 0, |_| 0, origin, false)
            .is_empty());
        assert_eq!(
            t.handle_tick(t1 + LINGER, 1, |_| 0, origin, false),
            vec!["tok"]
        );
        let ended = t.session_ended("tok").unwrap();
        assert_eq!(ended.resource, "http://a/res");
        assert!(!t.is_pulled(S));
        assert_eq!(t.session_ended("tok"), None);
    }

    #[test]
    fn a_kept_pull_outlives_its_players_until_then() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        active(&mut t, t0);
        t.keep(S, t0 + HLS_KEEP);
        t.keep(S, t0 + LINGER);
        let origin = |_: &str| Some("A".to_string());
        assert!(t
            .handle_tick(t0 + HLS_KEEP - LINGER, 1, |_| 0, origin, false)
            .is_empty());
        assert!(t
            .handle_tick(t0 + HLS_KEEP, 1, |_| 0, origin, false)
            .is_empty());
        assert_eq!(
            t.handle_tick(t0 + HLS_KEEP + LINGER, 1, |_| 0, origin, false),
            vec!["tok"]
        );
    }

    #[test]
    fn the_pull_ends_when_the_directory_drops_or_moves_the_stream() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        active(&mut t, t0);
        // Not while the directory settles after a Redis restart.
        assert!(t.handle_tick(t0, 1, |_| 3, |_| None, true).is_empty());
        assert_eq!(t.handle_tick(t0, 1, |_| 3, |_| None, false), vec!["tok"]);
        assert_eq!(
            t.handle_tick(t0, 1, |_| 3, |_| Some("B".into()), false),
            vec!["tok"]
        );
        assert!(t
            .handle_tick(t0, 1, |_| 3, |_| Some("A".into()), false)
            .is_empty());
    }

    #[test]
    fn a_player_session_ending_is_not_a_pull() {
        let t0 = Instant::now();
        let mut t = PullTable::default();
        active(&mut t, t0);
        assert_eq!(t.session_ended("other"), None);
        assert!(t.is_pulled(S));
    }
}
