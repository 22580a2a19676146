//! The vocabulary of [`super::RtmpServerConn`]: its errors, the events it
//! reports, its knobs, and the rule for app and stream names.

use thiserror::Error;

use super::amf0::Amf0Error;
use super::chunk::{ChunkError, DEFAULT_MAX_MESSAGE_SIZE};
use super::handshake::HandshakeError;
use crate::live::flv::FlvTag;

/// Errors that end an RTMP connection.
#[derive(Debug, Error, PartialEq)]
pub enum RtmpError {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream was malformed or over a limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A command or data message whose AMF0 body does not decode.
    #[error("AMF0 in message type {type_id}: {source}")]
    Amf0 {
        /// Message type id of the message.
        type_id: u8,
        /// What was wrong.
        source: Amf0Error,
    },
    /// An app or stream name outside the naming rule (the peer was sent an
    /// error status first).
    #[error("{0}")]
    BadName(#[from] NameError),
    /// A command this server does not know.
    #[error("unknown RTMP command {0:?}")]
    UnknownCommand(String),
    /// A command other than `connect` before `connect`.
    #[error("command {0:?} before connect")]
    CommandBeforeConnect(String),
    /// A command missing a required argument, or with one of the wrong type.
    #[error("malformed {command:?} command: {reason}")]
    MalformedCommand {
        /// The command name.
        command: String,
        /// What is missing or wrong.
        reason: &'static str,
    },
    /// A protocol control message with a payload too short for its type.
    #[error("protocol control message type {type_id} with {len}-byte payload")]
    BadControlMessage {
        /// Message type id.
        type_id: u8,
        /// Payload length received.
        len: usize,
    },
    /// `publish` or `play` while the connection already publishes or plays.
    #[error("{0:?} while a stream is already active on this connection")]
    StreamBusy(String),
    /// `accept_publish`/`accept_play` called without a matching pending request.
    #[error("no pending {0} request to accept")]
    NothingToAccept(&'static str),
    /// `send_tag` on a connection that is not playing.
    #[error("send_tag on a connection that is not playing")]
    NotPlaying,
    /// `send_tag` with a body larger than an RTMP message can carry.
    #[error("tag of {0} bytes is too large to send")]
    TagTooLarge(usize),
}

/// What the runtime learns from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum RtmpEvent {
    /// The client connected to `app` (already answered with `_result`).
    Connect {
        /// Application name, without any `?query`.
        app: String,
        /// The client's `tcUrl` (e.g. `rtmp://host/live`), empty if absent.
        tc_url: String,
        /// The `?query` part of the app, if any (e.g. `?vhost=x`), else empty.
        param: String,
        /// The client's `pageUrl`, empty if absent.
        page_url: String,
        /// The client's `swfUrl`, empty if absent.
        swf_url: String,
    },
    /// The client asks to publish; answer with `accept_publish` or `reject`.
    Publish {
        /// Application name.
        app: String,
        /// Stream name, without any `?query`.
        stream: String,
        /// The `?query` part of the stream name (tokens), else empty.
        param: String,
        /// The `tcUrl` of the connect.
        tc_url: String,
    },
    /// The client asks to play; answer with `accept_play` or `reject`.
    Play {
        /// Application name.
        app: String,
        /// Stream name, without any `?query`.
        stream: String,
        /// The `?query` part of the stream name, else empty.
        param: String,
        /// The `tcUrl` of the connect.
        tc_url: String,
    },
    /// A media or metadata tag from an accepted publisher (`@setDataFrame` stripped).
    Media(FlvTag),
    /// The publisher stopped (FCUnpublish, deleteStream, closeStream or EOF).
    Unpublish,
    /// The player stopped (deleteStream or closeStream); stop sending to it.
    PlayStop,
    /// The connection is over (EOF or reject): flush `poll_transmit`, then close.
    Closed,
}

/// Knobs of a connection.
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// Largest message accepted from the peer (bytes).
    pub max_message_size: usize,
    /// Chunk size we announce and send with (SRS: 60000).
    pub out_chunk_size: u32,
    /// Window Acknowledgement Size and Peer Bandwidth we announce.
    pub window_ack_size: u32,
    /// Media tags held while a publish awaits its answer.
    pub max_pending_media: usize,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            out_chunk_size: 60_000,
            window_ack_size: 2_500_000,
            max_pending_media: 512,
        }
    }
}

/// The longest app or stream name accepted (as WHIP's `check_name`).
pub use crate::util::MAX_NAME_LEN;

/// An app or stream name that breaks the naming rule of [`check_name`].
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid {what} name of {len} bytes starting {head:?} (1..=256 of A-Z a-z 0-9 - _ . ~)")]
pub struct NameError {
    /// `app` or `stream`.
    pub what: &'static str,
    /// Its length in bytes.
    pub len: usize,
    /// Its first characters (at most 32), enough to recognize it in a log.
    pub head: String,
}

/// Checks an app or stream name as the WHIP API does: 1 to
/// [`MAX_NAME_LEN`] bytes of `A-Z a-z 0-9 - _ . ~`. Names become hub keys,
/// HTTP-FLV and HLS paths and hook arguments, so nothing else gets in.
pub fn check_name(what: &'static str, name: &str) -> Result<(), NameError> {
    if crate::util::is_valid_name(name) {
        Ok(())
    } else {
        Err(NameError {
            what,
            len: name.len(),
            head: name.chars().take(32).collect(),
        })
    }
}
