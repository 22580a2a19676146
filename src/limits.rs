//! Per-client limits that are not a session's: open TCP connections per
//! client address ([`PerIpConnections`]) and the rate of signaling requests
//! per client address ([`SignalingRate`], a token bucket each).
//!
//! Both are process-wide (every shard accepts on the same ports with
//! `SO_REUSEPORT`, so a per-shard count would be `workers` times the
//! limit), kept in a few lock stripes of small maps, and touched only on
//! accept and close, or once per signaling request: control plane, never
//! per packet. Both are sans-IO: the clock is passed in.
//!
//! A client is its address, except that an IPv6 address counts as its /64
//! (one subscriber's LAN, as one IPv4 NAT address would be: a client given
//! a /64 could otherwise take 2^64 slots) and an IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, from a dual-stack listener) as the IPv4 address. See
//! [`client_key`].

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Lock stripes of each table (a client always maps to the same one).
const STRIPES: usize = 16;

/// The key a client address is counted under: the IPv4 address itself
/// (also when it arrives IPv4-mapped), or an IPv6 address's /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// How a client's key is shown in a reason: `192.0.2.1`, `2001:db8::/64`.
pub fn show_key(key: &IpAddr) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Maps guarded by [`STRIPES`] mutexes, a client to one of them.
struct Striped<V> {
    stripes: Vec<Mutex<HashMap<IpAddr, V>>>,
    pick: RandomState,
}

impl<V> Striped<V> {
    fn new() -> Self {
        Striped {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            pick: RandomState::new(),
        }
    }

    fn lock(&self, key: IpAddr) -> MutexGuard<'_, HashMap<IpAddr, V>> {
        let i = (self.pick.hash_one(key) as usize) % self.stripes.len();
        // Plain counters survive a panic elsewhere; keep counting.
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// Open connections by client, for every TCP listener together (HTTP API
/// and server, plain and TLS, RTMP, WebRTC over TCP). An entry exists only
/// while its client has a connection open, so the table never holds more
/// entries than there are open connections (which `max_connections` bounds
/// per kind of listener).
pub struct PerIpConnections {
    open: Striped<u32>,
}

/// One counted connection; dropping it (when the connection ends) gives
/// the slot back.
pub struct ConnectionSlot {
    table: Arc<PerIpConnections>,
    key: IpAddr,
}

/// A connection refused because its client already has `limit` open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} already has {limit} connections open (max_connections_per_ip): retry later",
    show_key(.key)
)]
pub struct TooManyConnections {
    /// The client's key ([`client_key`]).
    pub key: IpAddr,
    /// The limit.
    pub limit: u32,
}

impl PerIpConnections {
    /// An empty table.
    pub fn new() -> Arc<Self> {
        Arc::new(PerIpConnections {
            open: Striped::new(),
        })
    }

    /// Counts a new connection from `ip`, unless its client already has
    /// `limit` open.
    pub fn open(
        self: &Arc<Self>,
        ip: IpAddr,
        limit: u32,
    ) -> Result<ConnectionSlot, TooManyConnections> {
        let key = client_key(ip);
        let mut map = self.open.lock(key);
        let n = map.entry(key).or_insert(0);
        if *n >= limit {
            if *n == 0 {
                map.remove(&key);
            }
            return Err(TooManyConnections { key, limit });
        }
        *n += 1;
        Ok(ConnectionSlot {
            table: self.clone(),
            key,
        })
    }

    /// Connections `ip`'s client has open.
    pub fn open_of(&self, ip: IpAddr) -> u32 {
        let key = client_key(ip);
        self.open.lock(key).get(&key).copied().unwrap_or(0)
    }

    /// Clients with a connection open (the table's size).
    pub fn clients(&self) -> usize {
        self.open.len()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self.table.open.lock(self.key);
        if let Entry::Occupied(mut e) = map.entry(self.key) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// The token-bucket settings: `rate` requests a second on average, up to
/// `burst` at once. A `rate` of 0 switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub rate: u32,
    /// Most tokens a bucket holds (and what a new client starts with).
    pub burst: u32,
}

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refills for the time since the last look.
    fn refill(&mut self, now: Instant, r: Rate) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * f64::from(r.rate)).min(f64::from(r.burst));
        self.at = self.at.max(now);
    }
}

/// A request refused by [`SignalingRate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimited {
    /// The client's key ([`client_key`]).
    pub key: IpAddr,
    /// The settings that refused it.
    pub limit: Rate,
    /// Whole seconds until the bucket holds a token again (at least 1).
    pub retry_after: u32,
}

/// Signaling requests (WHIP, WHEP, the legacy publish and play) per client,
/// a token bucket each. Buckets of idle clients go: a bucket that has
/// refilled completely is the same as no bucket. The table holds at most
/// [`SignalingRate::MAX_CLIENTS`] buckets; when a stripe is full it first
/// drops its full buckets, then, if every client in it is still limited,
/// the one nearest to full (that client gets at most one more burst early).
pub struct SignalingRate {
    buckets: Striped<Bucket>,
}

impl Default for SignalingRate {
    fn default() -> Self {
        SignalingRate {
            buckets: Striped::new(),
        }
    }
}

impl SignalingRate {
    /// Most clients with a bucket at once (~48 bytes each).
    pub const MAX_CLIENTS: usize = 64 * 1024;

    /// Takes one token of `ip`'s client at `now`, or says when to retry.
    pub fn check(&self, ip: IpAddr, now: Instant, limit: Rate) -> Result<(), RateLimited> {
        if limit.rate == 0 {
            return Ok(());
        }
        let key = client_key(ip);
        let mut map = self.buckets.lock(key);
        if !map.contains_key(&key) && map.len() >= Self::MAX_CLIENTS / STRIPES {
            make_room(&mut map, now, limit);
        }
        let bucket = map.entry(key).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            at: now,
        });
        bucket.refill(now, limit);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / f64::from(limit.rate);
        Err(RateLimited {
            key,
            limit,
            retry_after: (wait.ceil() as u32).max(1),
        })
    }

    /// Clients with a bucket now.
    pub fn clients(&self) -> usize {
        self.buckets.len()
    }
}

/// Drops the full buckets of a stripe, or, when none is full, the fullest.
fn make_room(map: &mut HashMap<IpAddr, Bucket>, now: Instant, limit: Rate) {
    let full = f64::from(limit.burst);
    map.retain(|_, b| {
        b.refill(now, limit);
        b.tokens < full
    });
    if map.len() >= SignalingRate::MAX_CLIENTS / STRIPES {
        let fullest = map
            .iter()
            .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
            .map(|(k, _)| *k);
        if let Some(k) = fullest {
            map.remove(&k);
        }
    }
}

/// How long a refused client should wait, as a `Retry-After` for refused
/// connections: other connections of the client have to end first.
pub const CONNECTION_RETRY_AFTER: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
    }

    #[test]
    fn keys_fold_ipv6_to_its_64_and_unmap_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        assert_eq!(show_key(&client_key(a)), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4(7));
        assert_eq!(show_key(&v4(7)), "192.0.2.7");
    }

    #[test]
    fn connections_are_counted_per_client_and_entries_go_at_zero() {
        let t = PerIpConnections::new();
        let a: Vec<_> = (0..3).map(|_| t.open(v4(1), 3).unwrap()).collect();
        let e = t.open(v4(1), 3).err().unwrap();
        assert_eq!(
            e,
            TooManyConnections {
                key: v4(1),
                limit: 3
            }
        );
        assert!(e
            .to_string()
            .contains("192.0.2.1 already has 3 connections open"));
        // Another client is not affected.
        let b = t.open(v4(2), 3).unwrap();
        assert_eq!((t.open_of(v4(1)), t.open_of(v4(2)), t.clients()), (3, 1, 2));
        drop(a);
        assert_eq!((t.open_of(v4(1)), t.clients()), (0, 1));
        let _again = t.open(v4(1), 3).unwrap();
        drop(b);
        assert_eq!(t.clients(), 1);
    }

    #[test]
    fn a_refusal_leaves_no_entry_behind() {
        let t = PerIpConnections::new();
        assert!(t.open(v4(1), 0).is_err());
        assert_eq!(t.clients(), 0);
    }

    #[test]
    fn a_bucket_allows_a_burst_then_the_rate() {
        let r = SignalingRate::default();
        let limit = Rate { rate: 2, burst: 4 };
        let t0 = Instant::now();
        for _ in 0..4 {
            r.check(v4(1), t0, limit).unwrap();
        }
        let e = r.check(v4(1), t0, limit).unwrap_err();
        assert_eq!((e.key, e.retry_after), (v4(1), 1));
        // Another client has its own bucket.
        r.check(v4(2), t0, limit).unwrap();
        // Half a second later: one token (rate 2/s).
        let t1 = t0 + Duration::from_millis(500);
        r.check(v4(1), t1, limit).unwrap();
        assert!(r.check(v4(1), t1, limit).is_err());
        // A long pause refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..4 {
            r.check(v4(1), t2, limit).unwrap();
        }
        assert!(r.check(v4(1), t2, limit).is_err());
    }

    #[test]
    fn retry_after_is_when_a_token_is_back() {
        let r = SignalingRate::default();
        let limit = Rate { rate: 1, burst: 1 };
        let t0 = Instant::now();
        r.check(v4(1), t0, limit).unwrap();
        assert_eq!(r.check(v4(1), t0, limit).unwrap_err().retry_after, 1);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.check(v4(1), t1, limit).unwrap_err().retry_after, 1);
        r.check(v4(1), t0 + Duration::from_secs(1), limit).unwrap();
        // A clock that goes backwards (two shards' Instants) refills nothing.
        assert!(r.check(v4(1), t1, limit).is_err());
    }

    #[test]
    fn rate_zero_is_off() {
        let r = SignalingRate::default();
        let off = Rate { rate: 0, burst: 0 };
        let t0 = Instant::now();
        for _ in 0..1000 {
            r.check(v4(1), t0, off).unwrap();
        }
        assert_eq!(r.clients(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_full_buckets_first() {
        let r = SignalingRate::default();
        let limit = Rate { rate: 1, burst: 2 };
        let t0 = Instant::now();
        // Many clients, each with a spent bucket.
        let n = SignalingRate::MAX_CLIENTS + 5000;
        for i in 0..n as u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = r.check(ip, t0, limit);
            let _ = r.check(ip, t0, limit);
        }
        assert!(r.clients() <= SignalingRate::MAX_CLIENTS, "{}", r.clients());
        // Later every bucket is full again: they make room, all at once.
        let later = t0 + Duration::from_secs(10);
        r.check(v4(9), later, limit).unwrap();
        assert!(r.clients() < SignalingRate::MAX_CLIENTS);
    }
}
