//! [`RtmpServerConn`]: the server side of one RTMP connection, sans-IO.
//!
//! # Run loop
//! For every read from the socket call [`RtmpServerConn::handle_input`]; then
//! drain [`RtmpServerConn::poll_event`] and [`RtmpServerConn::poll_transmit`]
//! (write what it returns to the socket). On EOF call
//! [`RtmpServerConn::handle_eof`] and drain events once more. An `Err` from
//! `handle_input` means the peer broke the protocol: close the socket.
//!
//! Answering requests: `connect` is answered by the core (the runtime sees a
//! [`RtmpEvent::Connect`] and may still [`RtmpServerConn::reject`]).
//! `publish` and `play` wait for the runtime, which checks the stream registry
//! and calls [`RtmpServerConn::accept_publish`] / [`RtmpServerConn::accept_play`]
//! or [`RtmpServerConn::reject`]. Media that a publisher sends before the
//! answer is held (bounded) and released as [`RtmpEvent::Media`] on accept.

use std::collections::VecDeque;

use bytes::Bytes;

use super::amf0::{self, Amf0Value};
use super::chunk::{write_message, ChunkDecoder, RtmpMessage};
pub use super::event::{check_name, NameError, RtmpConfig, RtmpError, RtmpEvent};
use super::handshake::ServerHandshake;
use super::message::{csid, msg_type, status_object, user_control, Writer};
use crate::live::flv::{FlvTag, TagKind, MAX_TAG_SIZE};

/// What the connection is doing with its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Idle,
    PublishPending { stream_id: u32 },
    Publishing { stream_id: u32 },
    PlayPending { stream_id: u32 },
    Playing { stream_id: u32 },
    Closed,
}

/// The server side of one RTMP connection.
#[derive(Debug)]
pub struct RtmpServerConn {
    config: RtmpConfig,
    handshake: ServerHandshake,
    decoder: ChunkDecoder,
    writer: Writer,
    out: Vec<u8>,
    events: VecDeque<RtmpEvent>,
    connected: bool,
    app: String,
    tc_url: String,
    /// Whether the client sent `releaseStream` or `FCPublish` (SRS's FMLE
    /// publish, as FFmpeg and OBS do) before publishing.
    fmle: bool,
    next_stream_id: u32,
    role: Role,
    pending_media: Vec<FlvTag>,
    /// Bytes received in total and at the last Acknowledgement we sent.
    received: u64,
    acked: u64,
    /// The peer's Window Acknowledgement Size (0 until it sends one).
    peer_window: u32,
}

/// Commands that need no answer and change nothing here.
const IGNORED_COMMANDS: &[&str] = &[
    "_checkbw",
    "_result",
    "_error",
    "onBWDone",
    "FCSubscribe",
    "FCUnsubscribe",
    "receiveAudio",
    "receiveVideo",
    "pause",
    "seek",
];

impl Default for RtmpServerConn {
    fn default() -> Self {
        Self::new(RtmpConfig::default())
    }
}

impl RtmpServerConn {
    /// A connection waiting for C0/C1.
    pub fn new(config: RtmpConfig) -> Self {
        Self {
            decoder: ChunkDecoder::new(config.max_message_size),
            config,
            handshake: ServerHandshake::new(),
            writer: Writer {
                chunk_size: super::chunk::DEFAULT_CHUNK_SIZE,
            },
            out: Vec::new(),
            events: VecDeque::new(),
            connected: false,
            app: String::new(),
            tc_url: String::new(),
            fmle: false,
            next_stream_id: 1,
            role: Role::Idle,
            pending_media: Vec::new(),
            received: 0,
            acked: 0,
            peer_window: 0,
        }
    }

    /// Feed bytes read from the socket. An error means: close the connection.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        if self.role == Role::Closed {
            return Ok(());
        }
        self.received += data.len() as u64;
        let mut rest = data;
        if !self.handshake.is_done() {
            let used = self.handshake.handle_input(rest, &mut self.out)?;
            rest = &rest[used..];
            if !self.handshake.is_done() {
                return Ok(());
            }
        }
        self.decoder.push(rest);
        while let Some(msg) = self.decoder.next_message()? {
            self.handle_message(msg)?;
            if self.role == Role::Closed {
                break;
            }
        }
        if self.peer_window > 0 && self.received - self.acked >= u64::from(self.peer_window) {
            self.acked = self.received;
            // The Acknowledgement carries the byte count modulo 2^32.
            self.writer
                .control_u32(&mut self.out, msg_type::ACK, self.received as u32);
        }
        Ok(())
    }

    /// The peer closed its side: ends any publish and emits [`RtmpEvent::Closed`].
    pub fn handle_eof(&mut self) {
        self.close();
    }

    /// Bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// Bytes of input held: half-received messages and unparsed chunks
    /// (for the runtime's process-wide budget).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Bytes waiting in the transmit buffer (for backpressure on slow players).
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RtmpEvent> {
        self.events.pop_front()
    }

    /// True while an accepted publish is active.
    pub fn is_publishing(&self) -> bool {
        matches!(self.role, Role::Publishing { .. })
    }

    /// Whether the client announced its publish with `releaseStream` or
    /// `FCPublish` (SRS's `fmle-publish`; else `flash-publish`).
    pub fn is_fmle_publish(&self) -> bool {
        self.fmle
    }

    /// True while an accepted play is active.
    pub fn is_playing(&self) -> bool {
        matches!(self.role, Role::Playing { .. })
    }

    /// Accept the pending publish: answers `NetStream.Publish.Start` and
    /// releases media held since the request.
    pub fn accept_publish(&mut self) -> Result<(), RtmpError> {
        let Role::PublishPending { stream_id } = self.role else {
            return Err(RtmpError::NothingToAccept("publish"));
        };
        let desc = "Started publishing stream.";
        self.writer.command(
            &mut self.out,
            csid::OVER_STREAM,
            stream_id,
            &[
                Amf0Value::string("onFCPublish"),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
                status_object("status", "NetStream.Publish.Start", desc),
            ],
        );
        self.writer.on_status(
            &mut self.out,
            stream_id,
            "status",
            "NetStream.Publish.Start",
            desc,
        );
        self.role = Role::Publishing { stream_id };
        for tag in self.pending_media.drain(..) {
            self.events.push_back(RtmpEvent::Media(tag));
        }
        Ok(())
    }

    /// Accept the pending play: StreamBegin, `NetStream.Play.Reset`/`Start`,
    /// `|RtmpSampleAccess` and `NetStream.Data.Start`. Then send the GOP cache
    /// and live tags with [`RtmpServerConn::send_tag`].
    pub fn accept_play(&mut self) -> Result<(), RtmpError> {
        let Role::PlayPending { stream_id } = self.role else {
            return Err(RtmpError::NothingToAccept("play"));
        };
        let out = &mut self.out;
        let w = &self.writer;
        w.user_control(out, user_control::STREAM_BEGIN, stream_id);
        w.on_status(
            out,
            stream_id,
            "status",
            "NetStream.Play.Reset",
            "Playing and resetting stream.",
        );
        w.on_status(
            out,
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing stream.",
        );
        w.data(
            out,
            stream_id,
            &[
                Amf0Value::string("|RtmpSampleAccess"),
                Amf0Value::Boolean(true),
                Amf0Value::Boolean(true),
            ],
        );
        w.data(
            out,
            stream_id,
            &[
                Amf0Value::string("onStatus"),
                Amf0Value::object([("code", Amf0Value::string("NetStream.Data.Start"))]),
            ],
        );
        self.role = Role::Playing { stream_id };
        Ok(())
    }

    /// Refuse the pending publish/play (or the connection): sends an error
    /// status naming `reason`, emits [`RtmpEvent::Closed`]; flush and close.
    pub fn reject(&mut self, reason: &str) {
        match self.role {
            Role::PublishPending { stream_id } | Role::Publishing { stream_id } => {
                self.writer.on_status(
                    &mut self.out,
                    stream_id,
                    "error",
                    "NetStream.Publish.BadName",
                    reason,
                );
            }
            Role::PlayPending { stream_id } | Role::Playing { stream_id } => {
                self.writer.on_status(
                    &mut self.out,
                    stream_id,
                    "error",
                    "NetStream.Play.StreamNotFound",
                    reason,
                );
            }
            Role::Idle => {
                self.writer.command(
                    &mut self.out,
                    csid::OVER_CONNECTION,
                    0,
                    &[
                        Amf0Value::string("onStatus"),
                        Amf0Value::Number(0.0),
                        Amf0Value::Null,
                        status_object("error", "NetConnection.Connect.Rejected", reason),
                    ],
                );
            }
            Role::Closed => return,
        }
        self.pending_media.clear();
        if self.is_publishing() {
            self.events.push_back(RtmpEvent::Unpublish);
        }
        self.role = Role::Closed;
        self.events.push_back(RtmpEvent::Closed);
    }

    /// Send one tag to an accepted player, on the audio/video/data chunk stream.
    pub fn send_tag(&mut self, tag: &FlvTag) -> Result<(), RtmpError> {
        let Role::Playing { stream_id } = self.role else {
            return Err(RtmpError::NotPlaying);
        };
        if tag.data.len() > MAX_TAG_SIZE {
            return Err(RtmpError::TagTooLarge(tag.data.len()));
        }
        let cs = match tag.kind {
            TagKind::Audio => csid::AUDIO,
            TagKind::Video => csid::VIDEO,
            TagKind::Script => csid::OVER_STREAM,
        };
        write_message(
            &mut self.out,
            cs,
            tag.timestamp_ms,
            tag.kind.type_id(),
            stream_id,
            &tag.data,
            self.writer.chunk_size,
        );
        Ok(())
    }

    fn close(&mut self) {
        if self.role == Role::Closed {
            return;
        }
        if self.is_publishing() {
            self.events.push_back(RtmpEvent::Unpublish);
        }
        self.role = Role::Closed;
        self.events.push_back(RtmpEvent::Closed);
    }

    fn handle_message(&mut self, msg: RtmpMessage) -> Result<(), RtmpError> {
        match msg.type_id {
            msg_type::SET_CHUNK_SIZE => {
                let v = control_u32(&msg)?;
                // The top bit is reserved and must be zero; SRS masks it too.
                self.decoder.set_chunk_size(v & 0x7FFF_FFFF)?;
            }
            msg_type::ABORT => self.decoder.abort(control_u32(&msg)?),
            msg_type::ACK => {
                control_u32(&msg)?;
            }
            msg_type::WINDOW_ACK_SIZE => self.peer_window = control_u32(&msg)?,
            msg_type::SET_PEER_BANDWIDTH => {
                control_u32(&msg)?;
            }
            msg_type::USER_CONTROL => self.handle_user_control(&msg)?,
            msg_type::AUDIO | msg_type::VIDEO => {
                let kind = if msg.type_id == msg_type::AUDIO {
                    TagKind::Audio
                } else {
                    TagKind::Video
                };
                if !msg.payload.is_empty() {
                    self.media(msg.stream_id, FlvTag::new(kind, msg.timestamp, msg.payload));
                }
            }
            msg_type::DATA_AMF0 | msg_type::DATA_AMF3 => self.handle_data(msg)?,
            msg_type::COMMAND_AMF0 | msg_type::COMMAND_AMF3 => self.handle_command(msg)?,
            // Aggregate and shared-object messages are not used by the encoders we serve.
            _ => {}
        }
        Ok(())
    }

    fn handle_user_control(&mut self, msg: &RtmpMessage) -> Result<(), RtmpError> {
        let p = &msg.payload;
        if p.len() < 2 {
            return Err(RtmpError::BadControlMessage {
                type_id: msg.type_id,
                len: p.len(),
            });
        }
        let event = u16::from_be_bytes([p[0], p[1]]);
        if event == user_control::PING_REQUEST {
            let Some(ts) = p.get(2..6) else {
                return Err(RtmpError::BadControlMessage {
                    type_id: msg.type_id,
                    len: p.len(),
                });
            };
            let ts = u32::from_be_bytes([ts[0], ts[1], ts[2], ts[3]]);
            self.writer
                .user_control(&mut self.out, user_control::PING_RESPONSE, ts);
        }
        Ok(())
    }

    /// A media tag from the peer: forwarded when publishing, held while pending.
    fn media(&mut self, stream_id: u32, tag: FlvTag) {
        match self.role {
            Role::Publishing { stream_id: s } if s == stream_id => {
                self.events.push_back(RtmpEvent::Media(tag));
            }
            // Held media beyond the bound is dropped (the stream has not started yet).
            Role::PublishPending { stream_id: s }
                if s == stream_id && self.pending_media.len() < self.config.max_pending_media =>
            {
                self.pending_media.push(tag);
            }
            _ => {}
        }
    }

    fn handle_data(&mut self, msg: RtmpMessage) -> Result<(), RtmpError> {
        let body = amf_body(&msg);
        let (first, used) = amf0::decode(body).map_err(|source| RtmpError::Amf0 {
            type_id: msg.type_id,
            source,
        })?;
        let data = match first.as_str() {
            // Publishers wrap metadata as @setDataFrame("onMetaData", {...}); FLV wants it bare.
            Some("@setDataFrame") => Bytes::copy_from_slice(&body[used..]),
            Some("onMetaData") => Bytes::copy_from_slice(body),
            _ => return Ok(()),
        };
        let tag = FlvTag::new(TagKind::Script, msg.timestamp, data);
        if tag.is_metadata() {
            self.media(msg.stream_id, tag);
        }
        Ok(())
    }

    fn handle_command(&mut self, msg: RtmpMessage) -> Result<(), RtmpError> {
        let values = amf0::decode_all(amf_body(&msg)).map_err(|source| RtmpError::Amf0 {
            type_id: msg.type_id,
            source,
        })?;
        let Some(name) = values.first().and_then(Amf0Value::as_str) else {
            return Err(RtmpError::MalformedCommand {
                command: String::new(),
                reason: "the first value is not a command name",
            });
        };
        let name = name.to_owned();
        let tid = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        if name == "connect" {
            return self.on_connect(tid, values.get(2));
        }
        if !self.connected {
            return Err(RtmpError::CommandBeforeConnect(name));
        }
        let w = &self.writer;
        let out = &mut self.out;
        match name.as_str() {
            "createStream" => {
                let id = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.saturating_add(1);
                w.result(out, tid, Amf0Value::Number(f64::from(id)));
            }
            "releaseStream" | "FCPublish" | "getStreamLength" => {
                self.fmle |= name != "getStreamLength";
                let v = if name == "getStreamLength" {
                    Amf0Value::Number(0.0)
                } else {
                    Amf0Value::Undefined
                };
                w.result(out, tid, v);
            }
            "FCUnpublish" => {
                w.result(out, tid, Amf0Value::Undefined);
                self.stop_stream();
            }
            "deleteStream" | "closeStream" => self.stop_stream(),
            "publish" | "play" => {
                let Some(full) = values.get(3).and_then(Amf0Value::as_str) else {
                    return Err(RtmpError::MalformedCommand {
                        command: name,
                        reason: "no stream name",
                    });
                };
                let (stream, param) = split_query(full);
                if stream.is_empty() {
                    return Err(RtmpError::MalformedCommand {
                        command: name,
                        reason: "empty stream name",
                    });
                }
                if self.role != Role::Idle {
                    return Err(RtmpError::StreamBusy(name));
                }
                let stream_id = msg.stream_id;
                if let Err(e) = check_name("stream", stream) {
                    self.role = if name == "publish" {
                        Role::PublishPending { stream_id }
                    } else {
                        Role::PlayPending { stream_id }
                    };
                    self.reject(&e.to_string());
                    return Err(e.into());
                }
                let (app, tc_url) = (self.app.clone(), self.tc_url.clone());
                let (stream, param) = (stream.to_owned(), param.to_owned());
                if name == "publish" {
                    self.role = Role::PublishPending { stream_id };
                    self.events.push_back(RtmpEvent::Publish {
                        app,
                        stream,
                        param,
                        tc_url,
                    });
                } else {
                    self.role = Role::PlayPending { stream_id };
                    self.events.push_back(RtmpEvent::Play {
                        app,
                        stream,
                        param,
                        tc_url,
                    });
                }
            }
            n if IGNORED_COMMANDS.contains(&n) => {}
            _ => return Err(RtmpError::UnknownCommand(name)),
        }
        Ok(())
    }

    /// End the publish or play on this connection (the connection stays).
    fn stop_stream(&mut self) {
        match self.role {
            Role::Publishing { .. } => self.events.push_back(RtmpEvent::Unpublish),
            Role::Playing { .. } => self.events.push_back(RtmpEvent::PlayStop),
            _ => {}
        }
        if self.role != Role::Closed {
            self.role = Role::Idle;
            self.pending_media.clear();
        }
    }

    fn on_connect(&mut self, tid: f64, cmd_obj: Option<&Amf0Value>) -> Result<(), RtmpError> {
        let malformed = |reason| RtmpError::MalformedCommand {
            command: "connect".into(),
            reason,
        };
        if self.connected {
            return Err(malformed("second connect on one connection"));
        }
        let Some(obj) = cmd_obj else {
            return Err(malformed("no command object"));
        };
        let Some(app_full) = obj.get("app").and_then(Amf0Value::as_str) else {
            return Err(malformed("no app"));
        };
        let (app, param) = split_query(app_full);
        let app = app.trim_end_matches('/').to_owned();
        if let Err(e) = check_name("app", &app) {
            self.reject(&e.to_string());
            return Err(e.into());
        }
        let param = param.to_owned();
        let tc_url = obj
            .get("tcUrl")
            .and_then(Amf0Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let text = |k| {
            obj.get(k)
                .and_then(Amf0Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (page_url, swf_url) = (text("pageUrl"), text("swfUrl"));
        let object_encoding = obj
            .get("objectEncoding")
            .and_then(Amf0Value::as_number)
            .unwrap_or(0.0);
        self.connected = true;
        self.app.clone_from(&app);
        self.tc_url.clone_from(&tc_url);

        let out = &mut self.out;
        self.writer
            .control_u32(out, msg_type::WINDOW_ACK_SIZE, self.config.window_ack_size);
        self.writer
            .peer_bandwidth(out, self.config.window_ack_size, 2);
        let chunk = self
            .config
            .out_chunk_size
            .clamp(super::chunk::MIN_CHUNK_SIZE, super::chunk::MAX_CHUNK_SIZE);
        self.writer
            .control_u32(out, msg_type::SET_CHUNK_SIZE, chunk);
        self.writer.chunk_size = chunk as usize;
        let mut info = match status_object(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded",
        ) {
            Amf0Value::Object(p) => p,
            _ => Vec::new(),
        };
        info.retain(|(k, _)| k != "clientid");
        info.push(("objectEncoding".into(), Amf0Value::Number(object_encoding)));
        info.push((
            "data".into(),
            Amf0Value::EcmaArray(vec![
                ("version".into(), Amf0Value::string("3,5,3,888")),
                ("srs_server".into(), Amf0Value::string("shardsfu")),
            ]),
        ));
        self.writer.command(
            out,
            csid::OVER_CONNECTION,
            0,
            &[
                Amf0Value::string("_result"),
                Amf0Value::Number(tid),
                Amf0Value::object([
                    ("fmsVer", Amf0Value::string("FMS/3,5,3,888")),
                    ("capabilities", Amf0Value::Number(127.0)),
                    ("mode", Amf0Value::Number(1.0)),
                ]),
                Amf0Value::Object(info),
            ],
        );
        self.writer.command(
            out,
            csid::OVER_CONNECTION,
            0,
            &[
                Amf0Value::string("onBWDone"),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
            ],
        );
        self.events.push_back(RtmpEvent::Connect {
            app,
            tc_url,
            param,
            page_url,
            swf_url,
        });
        Ok(())
    }
}

/// The payload of a protocol control message as a u32.
fn control_u32(msg: &RtmpMessage) -> Result<u32, RtmpError> {
    match msg.payload.get(..4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(RtmpError::BadControlMessage {
            type_id: msg.type_id,
            len: msg.payload.len(),
        }),
    }
}

/// The AMF0 body: AMF3-typed messages start with a format byte before AMF0 values.
fn amf_body(msg: &RtmpMessage) -> &[u8] {
    let amf3 = matches!(msg.type_id, msg_type::DATA_AMF3 | msg_type::COMMAND_AMF3);
    if amf3 && !msg.payload.is_empty() {
        &msg.payload[1..]
    } else {
        &msg.payload
    }
}

/// `name?a=b` -> (`name`, `?a=b`).
fn split_query(s: &str) -> (&str, &str) {
    match s.find('?') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}
