//! The latest [`ShardSnapshot`] of every shard, for API requests on any
//! shard. Each shard replaces its own once a second; a request copies them.

use std::sync::Mutex;

use crate::sfu::snapshot::{ClientInfo, ShardSnapshot};

/// The snapshots of all shards.
#[derive(Debug)]
pub struct Snapshots {
    shards: Vec<Mutex<ShardSnapshot>>,
}

impl Snapshots {
    /// Empty snapshots for `n` shards.
    pub fn new(n: usize) -> Self {
        Self {
            shards: (0..n)
                .map(|_| Mutex::new(ShardSnapshot::default()))
                .collect(),
        }
    }

    /// Replaces shard `id`'s snapshot.
    pub fn publish(&self, id: usize, snap: ShardSnapshot) {
        if let Some(slot) = self.shards.get(id) {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = snap;
        }
    }

    /// Every shard's clients.
    pub fn clients(&self) -> Vec<ClientInfo> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clients.clone())
            .collect()
    }
}
