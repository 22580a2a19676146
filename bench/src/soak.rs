//! Churn for soak runs (`--soak`): every peer slot lives a random time, then
//! ends one of three ways (DELETE; vanishing without a word, so the server
//! must reclaim the session at `stun_timeout`; or never doing ICE at all, so
//! `first_check_timeout` must), and a new peer takes the slot at once. A
//! publisher slot publishes a new stream name each time; a subscriber plays
//! the stream of a random publisher slot, whether or not it is up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::peer::{splitmix, Peer, State};
use crate::signal::{Job, Role};

/// What the churn does.
#[derive(Debug, Clone)]
pub struct ChurnConfig {
    /// Shortest and longest life of a peer, from its POST.
    pub life: (Duration, Duration),
    /// Share of the peers that end with a DELETE (the rest vanish).
    pub delete_share: f64,
    /// Share of the peers that never do ICE.
    pub silent_share: f64,
    /// Peers started in all (0: no bound but the run's time).
    pub max_sessions: u64,
}

/// How peers ended, and how many ran at once.
#[derive(Debug, Default, Clone)]
pub struct ChurnCounts {
    /// Peers started (a POST sent).
    pub started: u64,
    /// Ended with a DELETE.
    pub deleted: u64,
    /// Ended without a DELETE after getting their answer.
    pub vanished: u64,
    /// Never did ICE; ended without a DELETE.
    pub silent: u64,
    /// Failed (their reason is in the failures), ended without a DELETE.
    pub failed: u64,
    /// Most peers past signaling (ICE, DTLS or media) at once.
    pub peak_concurrent: usize,
}

/// The churn's state.
pub struct Churn {
    /// Its settings.
    pub cfg: ChurnConfig,
    /// What happened so far.
    pub counts: ChurnCounts,
    rng: u64,
    /// Per publisher slot, the stream number it publishes now.
    streams: Vec<usize>,
    publishers: usize,
}

impl Churn {
    /// The churn for `publishers` publisher slots.
    pub fn new(cfg: ChurnConfig, seed: u64, publishers: usize) -> Self {
        Churn {
            cfg,
            counts: ChurnCounts::default(),
            rng: seed,
            streams: (0..publishers).collect(),
            publishers,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.rng = splitmix(self.rng);
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether another peer may start.
    pub fn may_start(&self) -> bool {
        self.cfg.max_sessions == 0 || self.counts.started < self.cfg.max_sessions
    }

    /// The stream number for a new peer in slot `slot` (`role` is the slot's).
    pub fn stream_for(&mut self, role: Role, slot: usize) -> usize {
        match role {
            Role::Publisher => {
                // A fresh name each time: the old one may still be held by a
                // session that vanished.
                self.streams[slot] += self.publishers.max(1);
                self.streams[slot]
            }
            Role::Subscriber if self.streams.is_empty() => slot,
            Role::Subscriber => {
                let i = (self.uniform() * self.streams.len() as f64) as usize;
                self.streams[i.min(self.streams.len() - 1)]
            }
        }
    }

    /// A peer's POST was just sent: draw its life and whether it is silent.
    pub fn on_start(&mut self, p: &mut Peer, now: Instant) {
        self.counts.started += 1;
        let (lo, hi) = self.cfg.life;
        p.silent = self.uniform() < self.cfg.silent_share;
        let life = if p.silent {
            // Long enough for the answer; ICE would have started long before.
            Duration::from_millis(500)
        } else {
            lo + (hi.saturating_sub(lo)).mul_f64(self.uniform())
        };
        p.ends_at = Some(now + life);
    }

    /// Whether the churn ends `p` now.
    pub fn due(&self, p: &Peer, now: Instant) -> bool {
        match p.state {
            State::Idle | State::Signaling | State::Ended => false,
            State::Failed => true,
            State::Ice | State::Dtls | State::Media => p.ends_at.is_some_and(|t| now >= t),
        }
    }

    /// Ends `p`: a DELETE goes to `jobs` if the draw says so (then true);
    /// counted. The caller drops the peer (its socket) afterwards.
    pub fn end(&mut self, p: &mut Peer, jobs: &crossbeam_channel::Sender<Job>) -> bool {
        let mut deleted = false;
        if p.state == State::Failed {
            self.counts.failed += 1;
        } else if p.silent {
            self.counts.silent += 1;
        } else if p.location.is_some() && self.uniform() < self.cfg.delete_share {
            if let Some(url) = p.location.clone() {
                let _ = jobs.send(Job::Delete { url });
            }
            self.counts.deleted += 1;
            deleted = true;
        } else {
            self.counts.vanished += 1;
        }
        p.state = State::Ended;
        deleted
    }

    /// Notes how many peers are past signaling now.
    pub fn observe(&mut self, peers: &[Peer]) {
        let live = peers
            .iter()
            .filter(|p| matches!(p.state, State::Ice | State::Dtls | State::Media))
            .count();
        self.counts.peak_concurrent = self.counts.peak_concurrent.max(live);
    }
}

impl ChurnCounts {
    /// The JSON form.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "started": self.started,
            "deleted": self.deleted,
            "vanished": self.vanished,
            "silent": self.silent,
            "failed": self.failed,
            "peak_concurrent": self.peak_concurrent,
        })
    }

    /// One line of text.
    pub fn text(&self) -> String {
        format!(
            "webrtc churn: {} peers started; ended: {} DELETE, {} vanished, {} silent (no ICE), {} failed; peak {} at once\n",
            self.started, self.deleted, self.vanished, self.silent, self.failed, self.peak_concurrent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn churn() -> Churn {
        Churn::new(
            ChurnConfig {
                life: (Duration::from_secs(1), Duration::from_secs(3)),
                delete_share: 0.5,
                silent_share: 0.2,
                max_sessions: 3,
            },
            42,
            2,
        )
    }

    #[test]
    fn publishers_get_fresh_names_and_subscribers_play_current_ones() {
        let mut c = churn();
        assert_eq!(c.stream_for(Role::Publisher, 1), 3);
        assert_eq!(c.stream_for(Role::Publisher, 1), 5);
        for _ in 0..20 {
            assert!([0, 5].contains(&c.stream_for(Role::Subscriber, 7)));
        }
    }

    #[test]
    fn the_session_bound_holds() {
        let mut c = churn();
        assert!(c.may_start());
        c.counts.started = 3;
        assert!(!c.may_start());
    }
}
