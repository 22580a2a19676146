//! The ICE-lite agent of one session (RFC 8445 §2.5): it never sends checks,
//! it answers the client's, learns which of the client's addresses are
//! validated and which one the client nominated, and times out when checks
//! stop coming.
//!
//! Drive it with [`IceLite::handle_binding_request`] for every STUN Binding
//! request addressed to this session, [`IceLite::handle_timeout`] when
//! [`IceLite::poll_timeout`] is reached, and drain [`IceLite::poll_event`]
//! after each call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::stun::{self, IntegrityKey, StunClass, StunMessage};

/// How many validated client addresses are remembered; the least recently
/// checked one (never the selected one) makes room for a new one.
pub const MAX_VALIDATED: usize = 8;

/// Why a Binding request was refused. The server drops it (and counts it); it
/// never answers, so a stranger learns nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceError {
    /// The message is not a request (a response or an indication).
    #[error("STUN {0:?} where a request was expected")]
    NotARequest(StunClass),
    /// The request is not a Binding request.
    #[error("STUN method {0:#05x} is not Binding")]
    NotBinding(u16),
    /// USERNAME is absent.
    #[error("STUN request without USERNAME")]
    MissingUsername,
    /// USERNAME does not start with this session's ufrag.
    #[error("unknown ufrag in USERNAME {0:?}")]
    UnknownUfrag(String),
    /// The client part of USERNAME is not the client's ufrag from its offer.
    #[error("remote ufrag {got:?} in USERNAME, expected {expected:?}")]
    WrongRemoteUfrag {
        /// The ufrag the session knows for the client.
        expected: String,
        /// The ufrag the request carried.
        got: String,
    },
    /// MESSAGE-INTEGRITY is absent.
    #[error("STUN request without MESSAGE-INTEGRITY")]
    MissingIntegrity,
    /// MESSAGE-INTEGRITY does not verify with the local password.
    #[error("STUN MESSAGE-INTEGRITY does not verify (from {0})")]
    BadIntegrity(SocketAddr),
    /// FINGERPRINT is present and wrong.
    #[error("STUN FINGERPRINT does not verify (from {0})")]
    BadFingerprint(SocketAddr),
    /// The agent has timed out; the session is over.
    #[error("ICE agent timed out")]
    TimedOut,
}

/// What one accepted check changed. All false: a keep-alive on a known path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOutcome {
    /// This was the first valid check of the session ([`IceEvent::Connected`]).
    pub connected: bool,
    /// The source address was not validated before this check.
    pub new_address: bool,
    /// This check made its source the selected address ([`IceEvent::Nominated`]),
    /// either the first nomination or a switch.
    pub nominated: bool,
    /// The nomination replaced another selected address (the client moved).
    pub switched: bool,
}

/// Something the session should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceEvent {
    /// The first valid check arrived, from this address.
    Connected(SocketAddr),
    /// The client nominated this address (first time, or switching to it):
    /// send media and DTLS here from now on.
    Nominated(SocketAddr),
    /// No valid check within the STUN timeout: the session is dead.
    TimedOut,
}

/// One validated client address and when it was last checked.
#[derive(Debug, Clone, Copy)]
struct Validated {
    addr: SocketAddr,
    last_check: Instant,
}

/// The credentials of one ICE generation: ours and the client's ufrag.
#[derive(Debug)]
struct Credentials {
    local_ufrag: String,
    key: IntegrityKey,
    remote_ufrag: Option<String>,
}

/// The ICE-lite agent of one session (sans-IO; time comes in as `now`).
#[derive(Debug)]
pub struct IceLite {
    local_ufrag: String,
    key: IntegrityKey,
    remote_ufrag: Option<String>,
    /// The generation before an ICE restart, still answered until the first
    /// check with the new credentials arrives (RFC 8445 §9: media keeps
    /// flowing on the old pair meanwhile).
    previous: Option<Credentials>,
    /// ICE restarts so far.
    restarts: u32,
    stun_timeout: Duration,
    /// The latest time seen; earlier `now`s are treated as this one.
    now: Instant,
    /// When the last valid check arrived (creation time before any).
    last_valid: Instant,
    /// Validated addresses, least recently checked first; at most [`MAX_VALIDATED`].
    validated: Vec<Validated>,
    selected: Option<SocketAddr>,
    connected: bool,
    dead: bool,
    events: VecDeque<IceEvent>,
}

impl IceLite {
    /// An agent for a session whose answer gave `local_ufrag`/`local_pwd`.
    /// `remote_ufrag` is the client's ufrag from its offer; when `None`, the
    /// first valid check's ufrag is learnt and required afterwards.
    pub fn new(
        local_ufrag: impl Into<String>,
        local_pwd: &str,
        remote_ufrag: Option<String>,
        stun_timeout: Duration,
        now: Instant,
    ) -> Self {
        IceLite {
            local_ufrag: local_ufrag.into(),
            key: IntegrityKey::new(local_pwd.as_bytes()),
            remote_ufrag,
            previous: None,
            restarts: 0,
            stun_timeout,
            now,
            last_valid: now,
            validated: Vec::with_capacity(MAX_VALIDATED),
            selected: None,
            connected: false,
            dead: false,
            events: VecDeque::new(),
        }
    }

    /// The session's ufrag (the server side of USERNAME).
    pub fn local_ufrag(&self) -> &str {
        &self.local_ufrag
    }

    /// The client's ufrag of the current generation, once known.
    pub fn remote_ufrag(&self) -> Option<&str> {
        self.remote_ufrag.as_deref()
    }

    /// The ufrag of the generation before the last restart while it is
    /// still answered.
    pub fn previous_ufrag(&self) -> Option<&str> {
        self.previous.as_ref().map(|p| p.local_ufrag.as_str())
    }

    /// ICE restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// An ICE restart (RFC 8445 §9, by WHIP's `PATCH`): checks must use
    /// `local_ufrag`/`local_pwd` and the client's new `remote_ufrag` from now
    /// on. The validated and selected addresses stay (DTLS and SRTP go on
    /// over them), and the old credentials are still answered until the
    /// first check with the new ones arrives; a restart before that replaces
    /// the generation in between. Returns the ufrag no longer answered, if
    /// any (the caller forgets it in its indexes).
    pub fn restart(
        &mut self,
        local_ufrag: impl Into<String>,
        local_pwd: &str,
        remote_ufrag: Option<String>,
    ) -> Option<String> {
        let old = Credentials {
            local_ufrag: std::mem::replace(&mut self.local_ufrag, local_ufrag.into()),
            key: std::mem::replace(&mut self.key, IntegrityKey::new(local_pwd.as_bytes())),
            remote_ufrag: std::mem::replace(&mut self.remote_ufrag, remote_ufrag),
        };
        self.restarts = self.restarts.saturating_add(1);
        match self.previous.as_ref() {
            // A second restart before the first completed: the connection
            // that works is still the oldest one; keep answering it.
            Some(_) => Some(old.local_ufrag),
            None => {
                self.previous = Some(old);
                None
            }
        }
    }

    /// Verify a check `msg` from `from` and, if it is good, append the Binding
    /// success response to `out` (to be sent back to `from`), validate `from`,
    /// and nominate it when USE-CANDIDATE is present. On error nothing is
    /// written and nothing changes: drop the datagram, do not answer.
    pub fn handle_binding_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &StunMessage<'_>,
        out: &mut Vec<u8>,
    ) -> Result<CheckOutcome, IceError> {
        // A check that arrives past the deadline does not revive the session,
        // however late the runtime's timer fires.
        self.handle_timeout(now);
        if self.dead {
            return Err(IceError::TimedOut);
        }
        let previous = self.verify(from, msg)?;
        if !previous && self.remote_ufrag.is_none() {
            self.remote_ufrag = msg.split_username().map(|(_, remote)| remote.to_owned());
        }
        let key = match (&self.previous, previous) {
            (Some(p), true) => &p.key,
            _ => &self.key,
        };
        stun::write_binding_success_with(msg.transaction_id(), from, key, out);
        if !previous {
            // The client uses the new generation: the old one is over.
            self.previous = None;
        }

        let now = self.now;
        self.last_valid = now;
        let mut outcome = CheckOutcome {
            new_address: self.validate(from, now),
            ..CheckOutcome::default()
        };
        if !self.connected {
            self.connected = true;
            outcome.connected = true;
            self.events.push_back(IceEvent::Connected(from));
        }
        if msg.use_candidate() && self.selected != Some(from) {
            outcome.nominated = true;
            outcome.switched = self.selected.is_some();
            self.selected = Some(from);
            self.events.push_back(IceEvent::Nominated(from));
        }
        Ok(outcome)
    }

    /// As the controlling side (a pull from an origin node): the origin at
    /// `from` answered our check at `now`. It counts as a valid check: the
    /// address is validated and selected, and the STUN timeout restarts.
    pub fn handle_check_response(&mut self, now: Instant, from: SocketAddr) {
        self.handle_timeout(now);
        if self.dead {
            return;
        }
        let now = self.now;
        self.last_valid = now;
        self.validate(from, now);
        if !self.connected {
            self.connected = true;
            self.events.push_back(IceEvent::Connected(from));
        }
        if self.selected != Some(from) {
            self.selected = Some(from);
            self.events.push_back(IceEvent::Nominated(from));
        }
    }

    /// Whether `msg` from `from` is an authentic check for this session
    /// (credentials, FINGERPRINT and MESSAGE-INTEGRITY), without changing
    /// anything: a session moves between shards only for such a check.
    pub fn check_authentic(&self, from: SocketAddr, msg: &StunMessage<'_>) -> Result<(), IceError> {
        self.verify(from, msg).map(|_| ())
    }

    /// Every check on a request, cheapest first; no state changes. `Ok(true)`
    /// when it used the credentials from before a restart.
    fn verify(&self, from: SocketAddr, msg: &StunMessage<'_>) -> Result<bool, IceError> {
        if msg.class() != StunClass::Request {
            return Err(IceError::NotARequest(msg.class()));
        }
        if msg.method() != stun::METHOD_BINDING {
            return Err(IceError::NotBinding(msg.method()));
        }
        let username = msg.username().ok_or(IceError::MissingUsername)?;
        let (local, remote) = username.split_once(':').unwrap_or((username, ""));
        let (key, remote_ufrag, previous) = if local == self.local_ufrag {
            (&self.key, &self.remote_ufrag, false)
        } else {
            match &self.previous {
                Some(p) if local == p.local_ufrag => (&p.key, &p.remote_ufrag, true),
                _ => return Err(IceError::UnknownUfrag(username.to_owned())),
            }
        };
        if let Some(expected) = remote_ufrag {
            if remote != expected {
                return Err(IceError::WrongRemoteUfrag {
                    expected: expected.clone(),
                    got: remote.to_owned(),
                });
            }
        }
        if !msg.verify_fingerprint() {
            return Err(IceError::BadFingerprint(from));
        }
        if msg.integrity_offset().is_none() {
            return Err(IceError::MissingIntegrity);
        }
        if !msg.verify_integrity_with(key) {
            return Err(IceError::BadIntegrity(from));
        }
        Ok(previous)
    }

    /// Mark `addr` validated at `now`; true if it was not before.
    fn validate(&mut self, addr: SocketAddr, now: Instant) -> bool {
        if let Some(i) = self.validated.iter().position(|v| v.addr == addr) {
            let mut v = self.validated.remove(i);
            v.last_check = now;
            self.validated.push(v);
            return false;
        }
        if self.validated.len() >= MAX_VALIDATED {
            // Least recently checked first; the selected address stays.
            if let Some(i) = self
                .validated
                .iter()
                .position(|v| Some(v.addr) != self.selected)
            {
                self.validated.remove(i);
            }
        }
        self.validated.push(Validated {
            addr,
            last_check: now,
        });
        true
    }

    /// The next event, if any. Drain after every `handle_*` call.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// The nominated client address (where media and DTLS go), if any.
    pub fn selected(&self) -> Option<SocketAddr> {
        self.selected
    }

    /// Whether `addr` passed a check. Only such addresses may reach DTLS/SRTP.
    pub fn is_validated(&self, addr: SocketAddr) -> bool {
        !self.dead && self.validated.iter().any(|v| v.addr == addr)
    }

    /// Every address that passed a check and is still kept (at most
    /// [`MAX_VALIDATED`]); none once the agent is dead.
    pub fn validated(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.validated.iter().filter(|_| !self.dead).map(|v| v.addr)
    }

    /// Whether the agent has timed out.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// When [`Self::handle_timeout`] must be called: the last valid check (or
    /// the creation) plus the STUN timeout. `None` once the agent is dead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            None
        } else {
            Some(self.last_valid + self.stun_timeout)
        }
    }

    /// Let time pass; past the deadline the agent emits
    /// [`IceEvent::TimedOut`] once and is dead from then on.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if !self.dead && self.now >= self.last_valid + self.stun_timeout {
            self.dead = true;
            self.selected = None;
            self.validated.clear();
            self.events.push_back(IceEvent::TimedOut);
        }
    }

    /// Move the clock forward; time going backwards is ignored.
    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }
}
