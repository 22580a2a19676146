//! One peer connection: a publisher or a player of one stream.

use std::net::SocketAddr;
use std::time::Instant;

use crate::ice::IceLite;
use crate::sdp::{Answer, Role};

/// A WebRTC session as a shard holds it.
///
/// Before DTLS starts it is small and plain data, so it can move to the
/// shard that receives its first STUN check.
pub struct Session {
    /// The unguessable token in the session's resource URL.
    pub token: String,
    /// SRS-style session id: `server-ufrag:client-ufrag`.
    pub id: String,
    /// Publisher or player.
    pub role: Role,
    /// The `app` of the stream.
    pub app: String,
    /// The `stream` name.
    pub stream: String,
    /// The server's ICE ufrag.
    pub ufrag: String,
    /// The ICE-lite agent.
    pub ice: IceLite,
    /// What was negotiated in the offer/answer.
    pub answer: Answer,
    /// When the session was created.
    pub created: Instant,
}

impl Session {
    /// `app/stream`, the key of the stream in the directory.
    pub fn stream_key(&self) -> String {
        stream_key(&self.app, &self.stream)
    }

    /// The peer address ICE selected, if any.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.ice.selected()
    }
}

/// `app/stream`, the key of a stream in the directory.
pub fn stream_key(app: &str, stream: &str) -> String {
    format!("{app}/{stream}")
}
