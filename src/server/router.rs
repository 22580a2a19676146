//! One shard's fan-out tables: which local sessions play or publish which
//! stream, and which other shards have players of a stream.

use std::collections::HashMap;

/// Stream routing on one shard.
#[derive(Debug, Default)]
pub struct Router {
    subscribers: HashMap<String, Vec<String>>,
    publishers: HashMap<String, String>,
    interest: HashMap<String, Vec<usize>>,
}

impl Router {
    /// Adds a local player of `stream`; true when it is the first on this shard.
    pub fn add_subscriber(&mut self, stream: &str, token: &str) -> bool {
        let list = self.subscribers.entry(stream.to_string()).or_default();
        if !list.iter().any(|t| t == token) {
            list.push(token.to_string());
        }
        list.len() == 1
    }

    /// Removes a local player; true when it was the last on this shard.
    pub fn remove_subscriber(&mut self, stream: &str, token: &str) -> bool {
        let Some(list) = self.subscribers.get_mut(stream) else {
            return false;
        };
        let before = list.len();
        list.retain(|t| t != token);
        let removed = list.len() < before;
        if list.is_empty() {
            self.subscribers.remove(stream);
        }
        removed && !self.subscribers.contains_key(stream)
    }

    /// The local players of `stream`.
    pub fn subscribers(&self, stream: &str) -> &[String] {
        self.subscribers
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Records whether shard `shard` has players of `stream`.
    pub fn set_interest(&mut self, stream: &str, shard: usize, on: bool) {
        if on {
            let list = self.interest.entry(stream.to_string()).or_default();
            if !list.contains(&shard) {
                list.push(shard);
            }
        } else if let Some(list) = self.interest.get_mut(stream) {
            list.retain(|&s| s != shard);
            if list.is_empty() {
                self.interest.remove(stream);
            }
        }
    }

    /// The other shards that have players of `stream`.
    pub fn remote_shards(&self, stream: &str) -> &[usize] {
        self.interest.get(stream).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Records the local publisher of `stream`.
    pub fn set_publisher(&mut self, stream: &str, token: &str) {
        self.publishers
            .insert(stream.to_string(), token.to_string());
    }

    /// Forgets the local publisher of `stream` if it is `token`.
    pub fn remove_publisher(&mut self, stream: &str, token: &str) {
        if self.publishers.get(stream).is_some_and(|t| t == token) {
            self.publishers.remove(stream);
        }
    }

    /// The local publisher of `stream`, if it is on this shard.
    pub fn publisher(&self, stream: &str) -> Option<&str> {
        self.publishers.get(stream).map(String::as_str)
    }

    /// Entries in each table (subscribed streams, published streams, streams
    /// with remote interest); all zero when the shard routes nothing.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.subscribers.len(),
            self.publishers.len(),
            self.interest.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_subscriber_are_reported() {
        let mut r = Router::default();
        assert!(r.add_subscriber("live/a", "t1"));
        assert!(!r.add_subscriber("live/a", "t2"));
        assert!(!r.add_subscriber("live/a", "t2"), "idempotent");
        assert_eq!(r.subscribers("live/a").len(), 2);
        assert!(!r.remove_subscriber("live/a", "t1"));
        assert!(!r.remove_subscriber("live/a", "nobody"));
        assert!(r.remove_subscriber("live/a", "t2"));
        assert_eq!(r.sizes(), (0, 0, 0));
    }

    #[test]
    fn interest_and_publishers() {
        let mut r = Router::default();
        r.set_interest("s", 2, true);
        r.set_interest("s", 2, true);
        r.set_interest("s", 3, true);
        assert_eq!(r.remote_shards("s"), &[2, 3]);
        r.set_interest("s", 2, false);
        r.set_interest("s", 3, false);
        assert!(r.remote_shards("s").is_empty());
        r.set_publisher("s", "p1");
        r.remove_publisher("s", "p2");
        assert_eq!(r.publisher("s"), Some("p1"));
        r.remove_publisher("s", "p1");
        assert_eq!(r.sizes(), (0, 0, 0));
    }
}
