//! Host names resolved off the shard threads: a lookup runs on a thread of
//! its own while the shard task awaits it with a deadline, and answers are
//! cached (failures too, briefly). A resolver that never answers costs a
//! request its name's candidate, never a shard its time: lookups in flight
//! are bounded, and past the bound a name is skipped.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;

/// How long a request waits for a lookup.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer is kept.
pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
/// How long a failure (or a timeout) is kept.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Lookups running at once, all shards together.
pub const MAX_IN_FLIGHT: usize = 16;
/// Names kept in the cache.
pub const MAX_CACHED: usize = 1024;

struct Entry {
    addrs: Vec<IpAddr>,
    until: Instant,
}

/// A shared cache of host name lookups.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, Entry>>,
    in_flight: Arc<AtomicUsize>,
}

impl Resolver {
    fn cached(&self, name: &str, now: Instant) -> Option<Vec<IpAddr>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(name)
            .filter(|e| e.until > now)
            .map(|e| e.addrs.clone())
    }

    fn remember(&self, name: &str, addrs: Vec<IpAddr>, now: Instant) {
        let ttl = if addrs.is_empty() {
            NEGATIVE_TTL
        } else {
            POSITIVE_TTL
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, e| e.until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            name.to_string(),
            Entry {
                addrs,
                until: now + ttl,
            },
        );
    }

    /// The addresses of `name` (a host name, already checked by
    /// [`host_name`]); empty when it does not resolve in time.
    pub async fn resolve(&self, name: &str) -> Vec<IpAddr> {
        if let Some(addrs) = self.cached(name, Instant::now()) {
            return addrs;
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(name, "resolver busy: name skipped");
            return Vec::new();
        }
        let (tx, rx) = flume::bounded(1);
        let in_flight = self.in_flight.clone();
        let owned = name.to_string();
        let spawned = std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                let addrs: Vec<IpAddr> = (owned.as_str(), 0)
                    .to_socket_addrs()
                    .map(|it| it.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(addrs);
            });
        if spawned.is_err() {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Vec::new();
        }
        let timeout = async {
            shards::glommio::timer::sleep(LOOKUP_TIMEOUT).await;
            None
        };
        let answer = async { rx.recv_async().await.ok() }.or(timeout).await;
        if answer.is_none() {
            crate::warn_limited!(name, "host name lookup timed out: skipped");
        }
        let addrs = answer.unwrap_or_default();
        self.remember(name, addrs.clone(), Instant::now());
        addrs
    }
}

/// The host name of a `Host` header value (`name[:port]`), lower-cased, if
/// it is a name worth resolving: not an IP literal, and made of DNS
/// characters only.
pub fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    if host.starts_with('[') {
        return None;
    }
    let name = crate::api::host_without_port(host);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && name.parse::<IpAddr>().is_err();
    ok.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_names_are_resolved() {
        assert_eq!(
            host_name("Example.COM:1985").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_name("1.2.3.4:1985"), None);
        assert_eq!(host_name("[::1]:1985"), None);
        assert_eq!(host_name("bad name"), None);
        assert_eq!(host_name(""), None);
        assert_eq!(host_name(&"a".repeat(300)), None);
    }

    #[test]
    fn the_cache_is_bounded_and_expires() {
        let r = Resolver::default();
        let now = Instant::now();
        for i in 0..MAX_CACHED + 10 {
            r.remember(&format!("h{i}"), vec![], now);
        }
        assert!(r.cache.lock().unwrap().len() <= MAX_CACHED);
        r.remember("x", vec![IpAddr::from([1, 2, 3, 4])], now);
        assert_eq!(r.cached("x", now), Some(vec![IpAddr::from([1, 2, 3, 4])]));
        assert_eq!(r.cached("x", now + POSITIVE_TTL), None);
    }
}
