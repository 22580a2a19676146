//! The channel mesh between shards.

use glommio::channels::channel_mesh::{Receivers, Senders};
use glommio::channels::shared_channel::ConnectedReceiver;

/// Why a message could not be sent to another shard.
#[derive(Debug)]
pub enum SendError<M> {
    /// The channel to that shard is full (only from `try_send`); the message comes back.
    Full(M),
    /// That shard has stopped; the message comes back.
    Closed(M),
    /// The shard id is this shard's own or out of range.
    InvalidShard(usize),
}

impl<M> SendError<M> {
    fn from_glommio(to: usize, e: glommio::GlommioError<M>) -> Self {
        match e {
            glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(m)) => Self::Full(m),
            glommio::GlommioError::Closed(glommio::ResourceType::Channel(m)) => Self::Closed(m),
            // `check` rules out the I/O error glommio returns for a bad index.
            _ => Self::InvalidShard(to),
        }
    }
}

/// One shard's end of the full mesh: a bounded lock-free channel to every
/// other shard and one from each.
pub struct Mesh<M: Send> {
    senders: Senders<M>,
    receivers: Receivers<M>,
}

impl<M: Send + 'static> Mesh<M> {
    pub(crate) fn new(senders: Senders<M>, receivers: Receivers<M>) -> Self {
        Self { senders, receivers }
    }

    /// This shard's index in the mesh (equal to its shard id).
    pub fn id(&self) -> usize {
        self.senders.peer_id()
    }

    /// Sends `msg` to shard `to`, waiting while that channel is full.
    pub async fn send(&self, to: usize, msg: M) -> Result<(), SendError<M>> {
        self.check(to)?;
        self.senders
            .send_to(to, msg)
            .await
            .map_err(|e| SendError::from_glommio(to, e))
    }

    /// Sends `msg` to shard `to` without waiting; the caller counts the drop
    /// when the channel is full.
    pub fn try_send(&self, to: usize, msg: M) -> Result<(), SendError<M>> {
        self.check(to)?;
        self.senders
            .try_send_to(to, msg)
            .map_err(|e| SendError::from_glommio(to, e))
    }

    fn check(&self, to: usize) -> Result<(), SendError<M>> {
        if to == self.id() || to >= self.senders.nr_consumers() {
            return Err(SendError::InvalidShard(to));
        }
        Ok(())
    }

    /// Takes the receiving ends (peer shard id, receiver); call once and spawn
    /// a task per receiver.
    pub fn take_receivers(&mut self) -> Vec<(usize, ConnectedReceiver<M>)> {
        self.receivers.streams()
    }

    /// Closes this shard's sending ends so peers' receive loops end.
    pub fn close(&self) {
        self.senders.close();
    }
}
