//! Which protocol a new connection on a shared TCP port speaks, from its
//! first bytes (sans-IO): one port can then serve HTTP, HTTPS and WebRTC
//! over TCP (RFC 4571 frames, RFC 6544), as SRS's "one port" setup does.
//!
//! A [`Sniffer`] is fed the bytes of one connection as they arrive
//! ([`Sniffer::handle_input`]) and answers with a [`Verdict`]:
//! - [`Verdict::Http`]: an HTTP/1.x request line starts (`METHOD SP`,
//!   the method 1 to [`MAX_METHOD`] upper-case letters);
//! - [`Verdict::Tls`]: a TLS handshake record holding a ClientHello
//!   (`16 03 0x LL LL 01`);
//! - [`Verdict::Rfc4571Stun`]: an RFC 4571 frame holding a STUN binding
//!   request (`LL LL 00 01 MM MM 21 12 a4 42`, frame length = message
//!   length + 20, under 0x1600): the first packet of every ICE-TCP client;
//! - [`Verdict::Reject`]: none of these, one this port does not serve, a
//!   close, or nothing decided by the deadline ([`Sniffer::poll_timeout`]).
//!
//! The three shapes differ in their first byte (`0x16`, `A`-`Z`, and a frame
//! length whose high byte is below `0x16`: frames of a binding request are
//! taken only under 5632 bytes, far above any a client sends), so at most
//! [`MAX_DECIDE`] bytes decide, however the bytes are split into segments. Every byte fed is kept ([`Sniffer::into_buffered`])
//! for the protocol that takes the connection over; while undecided the
//! sniffer holds fewer than [`MAX_DECIDE`] bytes, and it takes no more once
//! it has decided.
//!
//! Over TLS the decrypted bytes are sniffed again, with only HTTP and
//! RFC 4571 allowed.

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

/// How long a new connection may take to send the bytes that decide its
/// protocol, in total from the accept (not per read): a silent or slow
/// client is closed then. The HTTP core allows as long for a request head.
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest method accepted in an HTTP request line (`BASELINE-CONTROL`
/// and the like are longer, but no client of this server sends them).
pub const MAX_METHOD: usize = 16;

/// The most bytes any verdict needs: a method of [`MAX_METHOD`] letters and
/// its space.
pub const MAX_DECIDE: usize = MAX_METHOD + 1;

/// The STUN magic cookie (RFC 5389).
const STUN_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

/// The largest TLS record a ClientHello may arrive in (2^14 plaintext plus
/// the expansion RFC 8446 allows).
const MAX_TLS_RECORD: usize = (1 << 14) + 256;

/// A protocol a shared port can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Plain HTTP/1.x.
    Http,
    /// TLS (HTTPS, or WebRTC over TCP inside TLS).
    Tls,
    /// RFC 4571 frames, the first holding a STUN binding request.
    Rfc4571Stun,
}

impl Protocol {
    /// The protocol's name in logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Tls => "TLS",
            Protocol::Rfc4571Stun => "WebRTC over TCP (RFC 4571 STUN)",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocols a port serves: anything else is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    /// Plain HTTP.
    pub http: bool,
    /// TLS.
    pub tls: bool,
    /// WebRTC over TCP.
    pub rfc4571_stun: bool,
}

impl Protocols {
    /// Whether `p` is among them.
    pub fn allows(self, p: Protocol) -> bool {
        match p {
            Protocol::Http => self.http,
            Protocol::Tls => self.tls,
            Protocol::Rfc4571Stun => self.rfc4571_stun,
        }
    }
}

/// Why a connection was refused before any protocol took it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    /// The first bytes fit no protocol this module knows.
    #[error(
        "the first bytes {prefix:02x?} are neither HTTP, TLS nor an RFC 4571 STUN binding request"
    )]
    Unknown {
        /// Up to [`MAX_DECIDE`] of the first bytes.
        prefix: Vec<u8>,
    },
    /// The bytes are a protocol this port does not serve (e.g. TLS on a
    /// port without HTTPS).
    #[error("{protocol} is not served on this port")]
    NotServed {
        /// What the client speaks.
        protocol: Protocol,
    },
    /// Nothing decided within the deadline.
    #[error("no protocol decided within {waited:?} ({got} bytes arrived)")]
    Timeout {
        /// How long the client had.
        waited: Duration,
        /// How many bytes it sent.
        got: usize,
    },
    /// The client closed the connection first.
    #[error("the client closed the connection after {got} bytes, before its protocol was known")]
    Closed {
        /// How many bytes it sent.
        got: usize,
    },
}

/// What the first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not known yet: feed more bytes (or the deadline, or the close).
    Undecided,
    /// An HTTP request.
    Http,
    /// A TLS ClientHello.
    Tls,
    /// An RFC 4571 frame holding a STUN binding request.
    Rfc4571Stun,
    /// Close the connection.
    Reject(SniffError),
}

impl From<Protocol> for Verdict {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Http => Verdict::Http,
            Protocol::Tls => Verdict::Tls,
            Protocol::Rfc4571Stun => Verdict::Rfc4571Stun,
        }
    }
}

/// How one protocol's shape fits the bytes so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// It is this protocol.
    Yes,
    /// It cannot be.
    No,
    /// So far so good.
    More,
}

/// Classifies one connection's first bytes. Feed it with
/// [`Sniffer::handle_input`] until the verdict is not
/// [`Verdict::Undecided`]; call [`Sniffer::handle_timeout`] at
/// [`Sniffer::poll_timeout`] and [`Sniffer::handle_eof`] on a close. Then
/// hand [`Sniffer::into_buffered`] to the chosen protocol.
#[derive(Debug)]
pub struct Sniffer {
    buf: Vec<u8>,
    allowed: Protocols,
    started: Instant,
    deadline: Instant,
    verdict: Verdict,
}

impl Sniffer {
    /// A sniffer for a connection accepted at `now` on a port serving
    /// `allowed`, giving the client `timeout` in total.
    pub fn new(now: Instant, allowed: Protocols, timeout: Duration) -> Self {
        Sniffer {
            buf: Vec::new(),
            allowed,
            started: now,
            deadline: now + timeout,
            verdict: Verdict::Undecided,
        }
    }

    /// Takes bytes read from the connection. Once decided, the verdict is
    /// final and more input is neither kept nor looked at.
    pub fn handle_input(&mut self, _now: Instant, data: &[u8]) -> Verdict {
        if self.verdict == Verdict::Undecided && !data.is_empty() {
            self.buf.extend_from_slice(data);
            self.verdict = classify(&self.buf, self.allowed);
        }
        self.verdict.clone()
    }

    /// The client closed its side: undecided becomes a rejection.
    pub fn handle_eof(&mut self) -> Verdict {
        if self.verdict == Verdict::Undecided {
            self.verdict = Verdict::Reject(SniffError::Closed {
                got: self.buf.len(),
            });
        }
        self.verdict.clone()
    }

    /// The clock reached `now`: undecided past the deadline becomes a
    /// rejection. Time going backwards changes nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Verdict {
        if self.verdict == Verdict::Undecided && now >= self.deadline {
            self.verdict = Verdict::Reject(SniffError::Timeout {
                waited: self.deadline - self.started,
                got: self.buf.len(),
            });
        }
        self.verdict.clone()
    }

    /// When to call [`Sniffer::handle_timeout`]; `None` once decided.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.verdict == Verdict::Undecided).then_some(self.deadline)
    }

    /// The verdict so far.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Every byte fed up to the verdict, in order.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes fed, for the protocol that takes the connection over.
    pub fn into_buffered(self) -> Vec<u8> {
        self.buf
    }
}

/// The verdict on `b`, the first bytes of a connection: a protocol once
/// exactly one shape fits and the others cannot, a rejection when none
/// can, else undecided.
pub fn classify(b: &[u8], allowed: Protocols) -> Verdict {
    let fits = [
        (Protocol::Http, http(b)),
        (Protocol::Tls, tls(b)),
        (Protocol::Rfc4571Stun, stun_frame(b)),
    ];
    if fits.iter().all(|(_, f)| *f == Fit::No) {
        return Verdict::Reject(SniffError::Unknown {
            prefix: b[..b.len().min(MAX_DECIDE)].to_vec(),
        });
    }
    let mut yes = fits.iter().filter(|(_, f)| *f == Fit::Yes);
    match (yes.next(), fits.iter().any(|(_, f)| *f == Fit::More)) {
        (Some(&(p, _)), false) if allowed.allows(p) => p.into(),
        (Some(&(p, _)), false) => Verdict::Reject(SniffError::NotServed { protocol: p }),
        _ => Verdict::Undecided,
    }
}

/// `METHOD SP`: 1 to [`MAX_METHOD`] upper-case ASCII letters, then a space.
fn http(b: &[u8]) -> Fit {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'A'..=b'Z' if i < MAX_METHOD => {}
            b' ' if i > 0 => return Fit::Yes,
            _ => return Fit::No,
        }
    }
    Fit::More
}

/// A TLS handshake record (content type 22, version 3.x, a plausible
/// length) whose first message is a ClientHello (type 1).
fn tls(b: &[u8]) -> Fit {
    for i in 0..6 {
        let Some(&c) = b.get(i) else {
            return Fit::More;
        };
        let ok = match i {
            0 => c == 0x16,
            1 => c == 0x03,
            2 => c <= 0x04,
            3 => true,
            4 => (4..=MAX_TLS_RECORD).contains(&usize::from(u16::from_be_bytes([b[3], c]))),
            _ => c == 0x01,
        };
        if !ok {
            return Fit::No;
        }
    }
    Fit::Yes
}

/// An RFC 4571 frame (shorter than 0x1600 bytes) whose packet starts as a
/// STUN binding request: type 0x0001, a length that is a multiple of 4 and
/// 20 less than the frame's, the magic cookie.
fn stun_frame(b: &[u8]) -> Fit {
    for i in 0..10 {
        let Some(&c) = b.get(i) else {
            return Fit::More;
        };
        let ok = match i {
            // Frames under 0x1600 bytes (no binding request comes near):
            // the first byte then differs from TLS's 0x16 and HTTP's letters.
            0 => c < 0x16,
            1 | 4 => true,
            2 => c == 0x00,
            3 => c == 0x01,
            5 => {
                let frame = u32::from(u16::from_be_bytes([b[0], b[1]]));
                let msg = u32::from(u16::from_be_bytes([b[4], c]));
                msg % 4 == 0 && frame == msg + 20
            }
            _ => c == STUN_COOKIE[i - 6],
        };
        if !ok {
            return Fit::No;
        }
    }
    Fit::Yes
}

#[cfg(any(test, feature = "fuzz"))]
/// Fuzz entry (fuzz/fuzz_targets/port_sniff.rs): the first byte picks the
/// protocols served (low 3 bits) and the size of the pieces the rest is fed
/// in; checks that the verdict does not depend on how the bytes were split
/// (the same as one [`classify`] of the bytes it saw), that a decision is
/// final, that undecided means fewer than [`MAX_DECIDE`] bytes held, and
/// that the bytes kept are exactly those fed up to the verdict. Never
/// panics on any input.
#[doc(hidden)]
pub fn fuzz_sniff(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let allowed = Protocols {
        http: first & 1 != 0,
        tls: first & 2 != 0,
        rfc4571_stun: first & 4 != 0,
    };
    let piece = usize::from(first >> 3) + 1;
    let now = Instant::now();
    let mut s = Sniffer::new(now, allowed, FIRST_BYTES_TIMEOUT);
    let mut fed = 0;
    let mut decided_at = None;
    for chunk in rest.chunks(piece) {
        let v = s.handle_input(now, chunk);
        fed += chunk.len();
        if v == Verdict::Undecided {
            assert!(s.buffered().len() < MAX_DECIDE, "undecided holds too much");
        } else if let Some((_, first)) = &decided_at {
            assert_eq!(&v, first, "a verdict changed");
        } else {
            decided_at = Some((fed, v));
        }
    }
    // A byte at a time must reach the same kind of verdict.
    let mut single = Sniffer::new(now, allowed, FIRST_BYTES_TIMEOUT);
    let mut by_byte = Verdict::Undecided;
    for b in rest {
        by_byte = single.handle_input(now, std::slice::from_ref(b));
    }
    assert_eq!(
        kind(&by_byte),
        kind(s.verdict()),
        "the split changed the verdict"
    );
    match decided_at {
        Some((n, v)) => {
            assert_eq!(s.buffered(), &rest[..n], "kept bytes differ from those fed");
            assert_eq!(&v, s.verdict());
        }
        None => {
            assert_eq!(s.buffered(), rest);
            assert!(matches!(s.handle_eof(), Verdict::Reject(_)));
        }
    }
}

/// A verdict without the bytes an `Unknown` rejection quotes.
#[cfg(any(test, feature = "fuzz"))]
fn kind(v: &Verdict) -> String {
    match v {
        Verdict::Reject(SniffError::Unknown { .. }) => "unknown".into(),
        other => format!("{other:?}"),
    }
}
