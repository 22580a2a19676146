//! The limits of one signaling socket, sans-IO: message rate (a token
//! bucket), idle time, and when to ping.
//!
//! The runtime calls [`Guard::on_input`] for every read (any frame, pongs
//! included, is a sign of life), [`Guard::on_message`] for every complete
//! message before it is handled, and sleeps until [`Guard::poll_timeout`],
//! then calls [`Guard::handle_timeout`]: a [`Tick::Ping`] is to be sent, a
//! [`Tick::Close`] ends the socket.

use std::time::{Duration, Instant};

/// The per-socket limits (`signaling { }` directives).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardLimits {
    /// Messages a second, sustained (`message_rate`).
    pub rate: f64,
    /// Messages at once above the rate (`message_burst`).
    pub burst: f64,
    /// A socket that sends nothing (not even a pong) for this long is
    /// closed; the server pings at a third of it (`idle_timeout`).
    pub idle: Duration,
    /// A socket that has not joined a room this long after it opened is
    /// closed (the same `idle_timeout`, counted from the upgrade).
    pub join_within: Duration,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            rate: 10.0,
            burst: 20.0,
            idle: Duration::from_secs(60),
            join_within: Duration::from_secs(60),
        }
    }
}

/// Why a socket is closed by its guard.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GuardError {
    /// Messages came faster than the rate allows.
    #[error("more than {burst} messages at once or {rate} a second (signaling.message_rate, message_burst)")]
    Flood {
        /// The sustained rate.
        rate: f64,
        /// The burst.
        burst: f64,
    },
    /// Nothing arrived for the idle timeout.
    #[error("nothing received for {after:?} (signaling.idle_timeout)")]
    Idle {
        /// The timeout.
        after: Duration,
    },
    /// No join within the timeout after the upgrade.
    #[error("no join within {after:?} of connecting (signaling.idle_timeout)")]
    NoJoin {
        /// The timeout.
        after: Duration,
    },
}

/// What a timer asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    /// Send a ping (a browser answers it with a pong by itself).
    Ping,
    /// Close the socket for this reason.
    Close(GuardError),
}

/// The guard of one socket.
#[derive(Debug, Clone)]
pub struct Guard {
    limits: GuardLimits,
    opened: Instant,
    tokens: f64,
    refilled: Instant,
    last_input: Instant,
    last_ping: Instant,
    joined: bool,
}

impl Guard {
    /// A socket upgraded at `now`.
    pub fn new(limits: GuardLimits, now: Instant) -> Guard {
        Guard {
            limits,
            opened: now,
            tokens: limits.burst.max(1.0),
            refilled: now,
            last_input: now,
            last_ping: now,
            joined: false,
        }
    }

    /// Bytes arrived at `now`.
    pub fn on_input(&mut self, now: Instant) {
        self.last_input = self.last_input.max(now);
    }

    /// The socket is now a member of a room (the join deadline is off).
    pub fn on_joined(&mut self) {
        self.joined = true;
    }

    /// A complete message arrived at `now`: allowed, or the socket is flooding.
    pub fn on_message(&mut self, now: Instant) -> Result<(), GuardError> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = self.refilled.max(now);
        self.tokens = (self.tokens + elapsed * self.limits.rate).min(self.limits.burst.max(1.0));
        if self.tokens < 1.0 {
            return Err(GuardError::Flood {
                rate: self.limits.rate,
                burst: self.limits.burst,
            });
        }
        self.tokens -= 1.0;
        Ok(())
    }

    fn ping_every(&self) -> Duration {
        (self.limits.idle / 3).max(Duration::from_millis(100))
    }

    /// When [`Guard::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Instant {
        let idle = self.last_input + self.limits.idle;
        let ping = self.last_ping.max(self.last_input) + self.ping_every();
        let mut t = idle.min(ping);
        if !self.joined {
            t = t.min(self.opened + self.limits.join_within);
        }
        t
    }

    /// Fires what is due at `now`, if anything.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Tick> {
        if !self.joined && now >= self.opened + self.limits.join_within {
            return Some(Tick::Close(GuardError::NoJoin {
                after: self.limits.join_within,
            }));
        }
        if now >= self.last_input + self.limits.idle {
            return Some(Tick::Close(GuardError::Idle {
                after: self.limits.idle,
            }));
        }
        if now >= self.last_ping.max(self.last_input) + self.ping_every() {
            self.last_ping = now;
            return Some(Tick::Ping);
        }
        None
    }
}
