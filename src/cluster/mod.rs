//! The cluster's stream directory, sans-IO: which node publishes which
//! stream, kept in Redis with leases (see docs/cluster.md).
//!
//! [`DirectoryCore`] decides what to ask Redis and what to answer a shard
//! that wants to publish; the runtime (`server::cluster`) is one thread per
//! process that carries out its [`Op`]s on a Redis connection and feeds the
//! replies back. The entries written to Redis are JSON: [`NodeEntry`] under
//! [`node_key`], [`StreamOwner`] under [`stream_key`].
//!
//! # Run loop
//!
//! ```no_run
//! use std::time::{Instant, Duration};
//! use shardsfu::cluster::{DirectoryCore, NodeEntry, Op, Reply};
//! let me = NodeEntry { id: "n1".into(), api: "127.0.0.2:1985".into(), candidate: "127.0.0.2".into(), since: 0 };
//! let mut core = DirectoryCore::new(me, Duration::from_secs(5), Instant::now());
//! let run = |_op: &Op| -> Result<Reply, String> { unimplemented!("talk to Redis") };
//! loop {
//!     let now = Instant::now();
//!     core.handle_timeout(now);
//!     while let Some(op) = core.poll_op() {
//!         let reply = run(&op);
//!         core.handle_reply(op, reply, now);
//!     }
//!     while let Some(_event) = core.poll_event() { /* answer shards, count */ }
//!     std::thread::sleep(core.poll_timeout().saturating_duration_since(Instant::now()));
//! }
//! ```

mod core;
pub mod pull;
#[cfg(test)]
mod tests;

pub use self::core::{
    ClaimState, Decision, DirectoryCore, Event, Op, Reply, RequestId, View, BACKOFF_MAX,
    BACKOFF_MIN,
};

use serde::{Deserialize, Serialize};

/// Prefix of every key shardsfu writes.
pub const KEY_PREFIX: &str = "shardsfu:";

/// The Redis key of the claim on stream `key` (`app/stream`).
pub fn stream_key(key: &str) -> String {
    format!("{KEY_PREFIX}stream:{key}")
}

/// The Redis key of node `id`'s own entry.
pub fn node_key(id: &str) -> String {
    format!("{KEY_PREFIX}node:{id}")
}

/// A node as it registers itself (the value under [`node_key`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The node's id: its advertised API address and a random suffix, so a
    /// restarted process is a new node.
    pub id: String,
    /// `ip:port` of the node's HTTP API.
    pub api: String,
    /// The node's RTC candidate(s), as its answers carry them.
    pub candidate: String,
    /// When the node started, Unix milliseconds.
    pub since: u64,
}

/// The value of a stream claim (under [`stream_key`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOwner {
    /// The owning node's id.
    pub node: String,
    /// `ip:port` of the owner's HTTP API.
    pub api: String,
    /// The owner's RTC candidate(s).
    pub candidate: String,
    /// When the claim was made, Unix milliseconds.
    pub since: u64,
}

/// A value read from Redis that is not what shardsfu writes.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed cluster entry under {key:?}: {why} (value {shown:?})")]
pub struct MalformedEntry {
    /// The Redis key.
    pub key: String,
    /// The value, cut to 80 characters.
    pub shown: String,
    /// What is wrong with it.
    pub why: String,
}

impl MalformedEntry {
    fn new(key: &str, raw: &str, why: impl std::fmt::Display) -> Self {
        MalformedEntry {
            key: key.to_string(),
            shown: raw.chars().take(80).collect(),
            why: why.to_string(),
        }
    }
}

/// Reads a stream claim found under `key`.
pub fn parse_owner(key: &str, raw: &str) -> Result<StreamOwner, MalformedEntry> {
    let o: StreamOwner = serde_json::from_str(raw).map_err(|e| MalformedEntry::new(key, raw, e))?;
    if o.node.is_empty() {
        return Err(MalformedEntry::new(key, raw, "empty node id"));
    }
    Ok(o)
}

/// Reads a node entry found under `key`.
pub fn parse_node(key: &str, raw: &str) -> Result<NodeEntry, MalformedEntry> {
    let n: NodeEntry = serde_json::from_str(raw).map_err(|e| MalformedEntry::new(key, raw, e))?;
    if n.id.is_empty() {
        return Err(MalformedEntry::new(key, raw, "empty node id"));
    }
    Ok(n)
}
