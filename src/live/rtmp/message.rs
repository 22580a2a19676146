//! RTMP message type ids, chunk stream ids we send on, and the builders of
//! protocol control and command messages.

use super::amf0::{self, Amf0Value};
use super::chunk::write_message;

/// Message type ids (RTMP spec section 5.4 and 7.1).
pub mod msg_type {
    /// Set Chunk Size.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message.
    pub const ABORT: u8 = 2;
    /// Acknowledgement.
    pub const ACK: u8 = 3;
    /// User Control Message.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio.
    pub const AUDIO: u8 = 8;
    /// Video.
    pub const VIDEO: u8 = 9;
    /// AMF3 data message (an AMF0 body after one format byte).
    pub const DATA_AMF3: u8 = 15;
    /// AMF3 command message (an AMF0 body after one format byte).
    pub const COMMAND_AMF3: u8 = 17;
    /// AMF0 data message.
    pub const DATA_AMF0: u8 = 18;
    /// AMF0 command message.
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate message.
    pub const AGGREGATE: u8 = 22;
}

/// User Control event types.
pub mod user_control {
    /// Stream Begin.
    pub const STREAM_BEGIN: u16 = 0;
    /// Stream EOF.
    pub const STREAM_EOF: u16 = 1;
    /// Set Buffer Length.
    pub const SET_BUFFER_LENGTH: u16 = 3;
    /// Ping Request.
    pub const PING_REQUEST: u16 = 6;
    /// Ping Response.
    pub const PING_RESPONSE: u16 = 7;
}

/// Chunk stream ids used when sending (the same split as SRS).
pub mod csid {
    /// Protocol control messages.
    pub const PROTOCOL_CONTROL: u32 = 2;
    /// Commands over the connection (`_result`, `onBWDone`).
    pub const OVER_CONNECTION: u32 = 3;
    /// Commands and data over a stream (`onStatus`, metadata).
    pub const OVER_STREAM: u32 = 5;
    /// Video.
    pub const VIDEO: u32 = 6;
    /// Audio.
    pub const AUDIO: u32 = 7;
}

/// An encoder of outgoing messages with the chunk size we announced.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) chunk_size: usize,
}

impl Writer {
    /// A protocol control message carrying one u32.
    pub(crate) fn control_u32(&self, out: &mut Vec<u8>, type_id: u8, value: u32) {
        write_message(
            out,
            csid::PROTOCOL_CONTROL,
            0,
            type_id,
            0,
            &value.to_be_bytes(),
            self.chunk_size,
        );
    }

    /// Set Peer Bandwidth (`limit` 2 = dynamic).
    pub(crate) fn peer_bandwidth(&self, out: &mut Vec<u8>, size: u32, limit: u8) {
        let mut p = size.to_be_bytes().to_vec();
        p.push(limit);
        write_message(
            out,
            csid::PROTOCOL_CONTROL,
            0,
            msg_type::SET_PEER_BANDWIDTH,
            0,
            &p,
            self.chunk_size,
        );
    }

    /// A User Control event with a u32 argument (stream id or ping timestamp).
    pub(crate) fn user_control(&self, out: &mut Vec<u8>, event: u16, value: u32) {
        let mut p = event.to_be_bytes().to_vec();
        p.extend_from_slice(&value.to_be_bytes());
        write_message(
            out,
            csid::PROTOCOL_CONTROL,
            0,
            msg_type::USER_CONTROL,
            0,
            &p,
            self.chunk_size,
        );
    }

    /// The `_result` of the command with transaction id `tid`: `[_result,
    /// tid, null, value]` over the connection's command chunk stream.
    pub(crate) fn result(&self, out: &mut Vec<u8>, tid: f64, value: Amf0Value) {
        self.command(
            out,
            csid::OVER_CONNECTION,
            0,
            &[
                Amf0Value::string("_result"),
                Amf0Value::Number(tid),
                Amf0Value::Null,
                value,
            ],
        );
    }

    /// An AMF0 command (type 20) on `cs` and message stream `stream_id`.
    pub(crate) fn command(&self, out: &mut Vec<u8>, cs: u32, stream_id: u32, values: &[Amf0Value]) {
        let body = amf0::encode_all(values);
        write_message(
            out,
            cs,
            0,
            msg_type::COMMAND_AMF0,
            stream_id,
            &body,
            self.chunk_size,
        );
    }

    /// An AMF0 data message (type 18) on the stream chunk stream.
    pub(crate) fn data(&self, out: &mut Vec<u8>, stream_id: u32, values: &[Amf0Value]) {
        let body = amf0::encode_all(values);
        write_message(
            out,
            csid::OVER_STREAM,
            0,
            msg_type::DATA_AMF0,
            stream_id,
            &body,
            self.chunk_size,
        );
    }

    /// `onStatus(0, null, {level, code, description})` on a stream.
    pub(crate) fn on_status(
        &self,
        out: &mut Vec<u8>,
        stream_id: u32,
        level: &str,
        code: &str,
        description: &str,
    ) {
        self.command(
            out,
            csid::OVER_STREAM,
            stream_id,
            &[
                Amf0Value::string("onStatus"),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
                status_object(level, code, description),
            ],
        );
    }
}

/// `{level, code, description, clientid}` as SRS sends it.
pub(crate) fn status_object(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string(level)),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string(description)),
        ("clientid", Amf0Value::string("ASAICiss")),
    ])
}
