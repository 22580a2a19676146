//! Messages between shards.

use std::net::SocketAddr;

use crate::sfu::ids::{SessionToken, StreamKey};
use crate::sfu::publisher::MediaPacket;
use crate::sfu::session::Session;

/// Where a mesh message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshDest {
    /// One shard.
    Shard(usize),
    /// Every other shard.
    Others,
}

/// The new ICE credentials of a session (an ICE restart by `PATCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceRestart {
    /// The session's token.
    pub token: SessionToken,
    /// The server's new ufrag.
    pub ufrag: String,
    /// The server's new password.
    pub pwd: String,
    /// The client's new ufrag.
    pub remote_ufrag: String,
}

/// What one shard asks of another.
pub enum ShardMsg {
    /// A STUN check for a session the receiver holds arrived on shard
    /// `arrived_on`: the receiver moves the session there (if the check is
    /// authentic).
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
    /// An ICE restart of a session the receiver holds (a `PATCH` arrived on
    /// another shard).
    IceRestart(Box<IceRestart>),
    /// End the session with this token (a DELETE arrived on another shard).
    Close {
        /// The session's token.
        token: SessionToken,
    },
    /// A packet of `stream` for this shard's players (sent once per shard
    /// by the publisher's shard).
    Media {
        /// `app/stream`.
        stream: StreamKey,
        /// The packet, shared by reference count.
        packet: MediaPacket,
    },
    /// Shard `shard` now has (`on`) or no longer has players of `stream`.
    Interest {
        /// `app/stream`.
        stream: StreamKey,
        /// The shard whose players changed.
        shard: usize,
        /// Whether it has players now.
        on: bool,
    },
    /// The publisher of `stream` sent a Sender Report: every shard keeps the
    /// latest per source to map it onto its players' timestamps.
    SenderReport {
        /// `app/stream`.
        stream: StreamKey,
        /// The report.
        sr: crate::rtp::sr_mapping::PublisherSr,
    },
    /// A player of `stream` needs a keyframe: the shard of its publisher
    /// sends a PLI (rate-limited per stream).
    Keyframe {
        /// `app/stream`.
        stream: StreamKey,
    },
    /// Shard `owner` answered an authentic check from `from`, which the
    /// receiver's socket receives: hand it that address's datagrams
    /// ([`routes`](crate::sfu::routes)).
    Route {
        /// The client's address.
        from: SocketAddr,
        /// The shard that holds its session.
        owner: usize,
    },
    /// Shard `owner` no longer wants `from`'s datagrams (its session ended).
    Unroute {
        /// The client's address.
        from: SocketAddr,
        /// The shard that asked for them.
        owner: usize,
    },
    /// A datagram from `from` for a session the receiver holds, received
    /// by another shard's socket (after a [`ShardMsg::Route`]).
    Routed {
        /// The client's address.
        from: SocketAddr,
        /// The datagram.
        packet: Vec<u8>,
    },
}

impl ShardMsg {
    /// A copy for broadcasting to every other shard; `None` for messages
    /// meant for one shard only.
    pub fn broadcast_copy(&self) -> Option<ShardMsg> {
        match self {
            ShardMsg::Interest { stream, shard, on } => Some(ShardMsg::Interest {
                stream: stream.clone(),
                shard: *shard,
                on: *on,
            }),
            ShardMsg::Keyframe { stream } => Some(ShardMsg::Keyframe {
                stream: stream.clone(),
            }),
            ShardMsg::SenderReport { stream, sr } => Some(ShardMsg::SenderReport {
                stream: stream.clone(),
                sr: *sr,
            }),
            ShardMsg::Close { token } => Some(ShardMsg::Close {
                token: token.clone(),
            }),
            _ => None,
        }
    }
}
