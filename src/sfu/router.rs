//! One shard's fan-out tables: which local sessions play or publish which
//! stream, and which other shards have players of a stream.

use std::collections::HashMap;

use crate::sfu::ids::{SessionToken, StreamKey};

/// Stream routing on one shard.
#[derive(Debug, Default)]
pub struct Router {
    subscribers: HashMap<StreamKey, Vec<SessionToken>>,
    publishers: HashMap<StreamKey, SessionToken>,
    interest: HashMap<StreamKey, Vec<usize>>,
}

impl Router {
    /// Adds a local player of `stream`; true when it is the first on this shard.
    pub fn add_subscriber(&mut self, stream: &StreamKey, token: &SessionToken) -> bool {
        let list = self.subscribers.entry(stream.clone()).or_default();
        if !list.contains(token) {
            list.push(token.clone());
        }
        list.len() == 1
    }

    /// Removes a local player; true when it was the last on this shard.
    pub fn remove_subscriber(&mut self, stream: &str, token: &SessionToken) -> bool {
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
    pub fn subscribers(&self, stream: &str) -> &[SessionToken] {
        self.subscribers
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Records whether shard `shard` has players of `stream`.
    pub fn set_interest(&mut self, stream: &StreamKey, shard: usize, on: bool) {
        if on {
            let list = self.interest.entry(stream.clone()).or_default();
            if !list.contains(&shard) {
                list.push(shard);
            }
        } else if let Some(list) = self.interest.get_mut(stream.as_str()) {
            list.retain(|&s| s != shard);
            if list.is_empty() {
                self.interest.remove(stream.as_str());
            }
        }
    }

    /// The other shards that have players of `stream`.
    pub fn remote_shards(&self, stream: &str) -> &[usize] {
        self.interest.get(stream).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Records the local publisher of `stream`.
    pub fn set_publisher(&mut self, stream: &StreamKey, token: &SessionToken) {
        self.publishers.insert(stream.clone(), token.clone());
    }

    /// Forgets the local publisher of `stream` if it is `token`.
    pub fn remove_publisher(&mut self, stream: &str, token: &SessionToken) {
        if self.publishers.get(stream).is_some_and(|t| t == token) {
            self.publishers.remove(stream);
        }
    }

    /// The local publisher of `stream`, if it is on this shard.
    pub fn publisher(&self, stream: &str) -> Option<&SessionToken> {
        self.publishers.get(stream)
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

    fn t(s: &str) -> SessionToken {
        SessionToken::from(s)
    }

    #[test]
    fn first_and_last_subscriber_are_reported() {
        let mut r = Router::default();
        let a = StreamKey::from("live/a");
        assert!(r.add_subscriber(&a, &t("t1")));
        assert!(!r.add_subscriber(&a, &t("t2")));
        assert!(!r.add_subscriber(&a, &t("t2")), "idempotent");
        assert_eq!(r.subscribers("live/a").len(), 2);
        assert!(!r.remove_subscriber("live/a", &t("t1")));
        assert!(!r.remove_subscriber("live/a", &t("nobody")));
        assert!(r.remove_subscriber("live/a", &t("t2")));
        assert_eq!(r.sizes(), (0, 0, 0));
    }

    #[test]
    fn interest_and_publishers() {
        let mut r = Router::default();
        let s = StreamKey::from("s");
        r.set_interest(&s, 2, true);
        r.set_interest(&s, 2, true);
        r.set_interest(&s, 3, true);
        assert_eq!(r.remote_shards("s"), &[2, 3]);
        r.set_interest(&s, 2, false);
        r.set_interest(&s, 3, false);
        assert!(r.remote_shards("s").is_empty());
        r.set_publisher(&s, &t("p1"));
        r.remove_publisher("s", &t("p2"));
        assert_eq!(r.publisher("s"), Some(&t("p1")));
        r.remove_publisher("s", &t("p1"));
        assert_eq!(r.sizes(), (0, 0, 0));
    }
}
