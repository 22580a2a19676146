//! The sessions one shard holds, and what it does with a STUN check (sans-IO).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::ice::{self, IceEvent};
use crate::server::session::Session;

/// What to do with a STUN message that arrived on this shard.
#[derive(Debug, PartialEq, Eq)]
pub enum StunAction {
    /// Send the response written into the output buffer to this address.
    Reply(SocketAddr),
    /// No local session has this server ufrag; ask the directory.
    NotHere(String),
    /// Drop it; the reason is counted.
    Drop(StunDrop),
}

/// Why a STUN message was dropped.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum StunDrop {
    /// It did not parse as STUN or had no usable USERNAME.
    Malformed,
    /// The session's ICE agent refused it (integrity, fingerprint, ufrag, class).
    Rejected,
}

/// The sessions of one shard, indexed by token, server ufrag and peer address.
#[derive(Default)]
pub struct ShardState {
    sessions: HashMap<String, Session>,
    by_ufrag: HashMap<String, String>,
    by_addr: HashMap<SocketAddr, String>,
}

impl ShardState {
    /// Adds a session (new, or moved in from another shard).
    pub fn insert(&mut self, session: Session) {
        self.by_ufrag
            .insert(session.ufrag.clone(), session.token.clone());
        for addr in session.ice.validated() {
            self.by_addr.insert(addr, session.token.clone());
        }
        self.sessions.insert(session.token.clone(), session);
    }

    /// Removes a session and every index entry that points at it.
    pub fn remove(&mut self, token: &str) -> Option<Session> {
        let session = self.sessions.remove(token)?;
        self.by_ufrag.remove(&session.ufrag);
        self.by_addr.retain(|_, t| t != token);
        Some(session)
    }

    /// The session with this token.
    pub fn session(&self, token: &str) -> Option<&Session> {
        self.sessions.get(token)
    }

    /// The token of the session whose server ufrag is `ufrag`.
    pub fn token_of_ufrag(&self, ufrag: &str) -> Option<&str> {
        self.by_ufrag.get(ufrag).map(String::as_str)
    }

    /// The token of the session that validated `addr` through ICE.
    pub fn token_of_addr(&self, addr: &SocketAddr) -> Option<&str> {
        self.by_addr.get(addr).map(String::as_str)
    }

    /// Number of sessions, ufrag entries and address entries (all zero when
    /// the shard is empty; tests use this to find leaks).
    pub fn table_sizes(&self) -> (usize, usize, usize) {
        (self.sessions.len(), self.by_ufrag.len(), self.by_addr.len())
    }

    /// Iterates over the sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Handles a STUN message from `from`, writing any response into `out`.
    pub fn handle_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> StunAction {
        let Ok(msg) = ice::parse(packet) else {
            return StunAction::Drop(StunDrop::Malformed);
        };
        let Some((local, _remote)) = msg.split_username() else {
            return StunAction::Drop(StunDrop::Malformed);
        };
        let Some(token) = self.by_ufrag.get(local) else {
            return StunAction::NotHere(local.to_string());
        };
        let Some(session) = self.sessions.get_mut(token) else {
            return StunAction::NotHere(local.to_string());
        };
        out.clear();
        match session.ice.handle_binding_request(now, from, &msg, out) {
            Ok(_) => {
                if !self.by_addr.contains_key(&from) {
                    // The agent bounds its validated addresses; keep the index in step.
                    let token = token.clone();
                    self.by_addr
                        .retain(|a, t| *t != token || session.ice.is_validated(*a));
                    self.by_addr.insert(from, token);
                }
                StunAction::Reply(from)
            }
            Err(_) => StunAction::Drop(StunDrop::Rejected),
        }
    }

    /// The soonest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|s| s.ice.poll_timeout())
            .min()
    }

    /// Runs session timers and returns the sessions that ended (removed).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Session> {
        let mut ended = Vec::new();
        for s in self.sessions.values_mut() {
            if s.ice.poll_timeout().is_some_and(|t| t <= now) {
                s.ice.handle_timeout(now);
            }
            while let Some(ev) = s.ice.poll_event() {
                if matches!(ev, IceEvent::TimedOut) {
                    ended.push(s.token.clone());
                }
            }
        }
        ended.iter().filter_map(|t| self.remove(t)).collect()
    }
}
