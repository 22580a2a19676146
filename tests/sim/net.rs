//! A simulated network: datagrams between addresses, delivered in virtual
//! time with seeded loss, delay and jitter (jitter reorders). Deterministic
//! for a given seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A small seeded generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A duration in `[0, max]`.
    pub fn upto(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return max;
        }
        Duration::from_micros(self.next_u64() % (max.as_micros() as u64 + 1))
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One direction of a path between two addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]` (reorders datagrams).
    pub jitter: Duration,
}

/// A datagram in flight.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// The network: links by (from, to), a default link, and the datagrams in flight.
pub struct Net {
    seed: u64,
    /// One generator per direction of a path, so a datagram's fate does
    /// not depend on what other paths carried before it.
    rngs: HashMap<(SocketAddr, SocketAddr), Rng>,
    default: Link,
    links: HashMap<(SocketAddr, SocketAddr), Link>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    flying: HashMap<u64, Datagram>,
    next_id: u64,
    /// Datagrams sent and lost, for assertions.
    pub sent: u64,
    pub lost: u64,
}

impl Net {
    pub fn new(seed: u64) -> Self {
        Net {
            seed,
            rngs: HashMap::new(),
            default: Link {
                loss: 0.0,
                delay: Duration::from_millis(10),
                jitter: Duration::ZERO,
            },
            links: HashMap::new(),
            queue: BinaryHeap::new(),
            flying: HashMap::new(),
            next_id: 0,
            sent: 0,
            lost: 0,
        }
    }

    /// Sets the link from `a` to `b` and from `b` to `a`.
    pub fn set_path(&mut self, a: SocketAddr, b: SocketAddr, link: Link) {
        self.links.insert((a, b), link);
        self.links.insert((b, a), link);
    }

    /// Sets one direction only.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, link: Link) {
        self.links.insert((from, to), link);
    }

    /// Sends a datagram at `now`; true if it will arrive.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: Vec<u8>) -> bool {
        self.sent += 1;
        let link = *self.links.get(&(from, to)).unwrap_or(&self.default);
        let seed = self.seed;
        let rng = self
            .rngs
            .entry((from, to))
            .or_insert_with(|| Rng::new(seed ^ fnv(&format!("{from}>{to}"))));
        if rng.chance(link.loss) {
            self.lost += 1;
            return false;
        }
        let at = now + link.delay + rng.upto(link.jitter);
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push(Reverse((at, id)));
        self.flying.insert(id, Datagram { from, to, data });
        true
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// The next datagram due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        match self.queue.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let Reverse((_, id)) = self.queue.pop()?;
                self.flying.remove(&id)
            }
            _ => None,
        }
    }
}
