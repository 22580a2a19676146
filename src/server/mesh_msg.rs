//! Messages between shards.

use std::net::SocketAddr;

use crate::server::session::Session;

/// What one shard asks of another.
pub enum ShardMsg {
    /// A STUN check for a session the receiver holds arrived on shard
    /// `arrived_on`: the receiver moves the session there.
    Stun {
        /// The shard whose socket received the check.
        arrived_on: usize,
        /// The check's source address.
        from: SocketAddr,
        /// The check itself.
        packet: Vec<u8>,
    },
    /// A session moving in, with the check that made it move.
    Adopt {
        /// The session.
        session: Box<Session>,
        /// The check's source address.
        from: SocketAddr,
        /// The check, to be answered by the new owner.
        packet: Vec<u8>,
    },
    /// End the session with this token (a DELETE arrived on another shard).
    Close {
        /// The session's token.
        token: String,
    },
}
