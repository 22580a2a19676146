//! WebSocket for the signaling endpoint: the upgrade answer (RFC 6455 §4.2)
//! and one server connection as a sans-IO machine over tungstenite's
//! framing ([`tungstenite::protocol::WebSocketContext`]), fed from and
//! drained into memory buffers.
//!
//! Run loop: bytes read go to [`WsConn::handle_input`] (end of stream to
//! [`WsConn::handle_eof`]); drain [`WsConn::poll_event`]; queue messages
//! with [`WsConn::send_text`], [`WsConn::ping`], [`WsConn::close`]; write
//! [`WsConn::poll_transmit`] and [`WsConn::consume_transmit`]; drop the
//! socket once [`WsConn::is_closed`].

use std::io::{self, Read, Write};

use base64::Engine as _;
use bytes::{Buf, BytesMut};
use tungstenite::error::{CapacityError, Error as WsLibError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

use crate::http::Request;

/// The GUID of RFC 6455 §1.3, appended to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why an upgrade request is refused (each is a 400, or 426 for the version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// Not a GET.
    #[error("a WebSocket upgrade must be a GET, not {method}")]
    Method {
        /// The method used.
        method: String,
    },
    /// No `Upgrade: websocket`.
    #[error(
        "this is a WebSocket endpoint: the request needs \"Upgrade: websocket\" (got {got:?})"
    )]
    NotUpgrade {
        /// The Upgrade header (empty when absent).
        got: String,
    },
    /// A version other than 13.
    #[error("WebSocket version {got:?} is not supported: only 13")]
    Version {
        /// The Sec-WebSocket-Version header (empty when absent).
        got: String,
    },
    /// No valid `Sec-WebSocket-Key`.
    #[error("Sec-WebSocket-Key {got:?} is not 16 bytes in base64")]
    Key {
        /// The header (empty when absent).
        got: String,
    },
}

impl UpgradeError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            UpgradeError::Version { .. } => 426,
            UpgradeError::NotUpgrade { .. } => 426,
            _ => 400,
        }
    }
}

/// Whether a header holds `token` in its comma-separated list (any case).
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// A header's value for an error message (at most 64 characters; empty
/// when absent).
fn cut(v: Option<&str>) -> String {
    v.unwrap_or_default().chars().take(64).collect()
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// Checks an upgrade request and returns the `101 Switching Protocols`
/// head to write (the caller writes it raw: it is not an HTTP/1.1
/// response our [`crate::http::Response`] frames).
pub fn accept_upgrade(req: &Request) -> Result<Vec<u8>, UpgradeError> {
    if req.method != crate::http::Method::Get {
        return Err(UpgradeError::Method {
            method: req.method.as_str().to_owned(),
        });
    }
    let upgrade = req.header("upgrade");
    if !has_token(upgrade, "websocket") || !has_token(req.header("connection"), "upgrade") {
        return Err(UpgradeError::NotUpgrade { got: cut(upgrade) });
    }
    let version = req.header("sec-websocket-version");
    if version.map(str::trim) != Some("13") {
        return Err(UpgradeError::Version { got: cut(version) });
    }
    let key = req.header("sec-websocket-key").map(str::trim);
    let valid = key.is_some_and(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k)
            .is_ok_and(|b| b.len() == 16)
    });
    let Some(key) = key.filter(|_| valid) else {
        return Err(UpgradeError::Key { got: cut(key) });
    };
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes())
}

/// Why a connection failed (the close code it is answered with says which).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A message over the size limit (closed with 1009).
    #[error("a message of {size} bytes is over the limit of {max} (signaling.max_message_size)")]
    TooLarge {
        /// Its size (as far as it was read).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A text message that is not UTF-8 (1007).
    #[error("a text message is not valid UTF-8")]
    Utf8,
    /// Anything else RFC 6455 forbids (1002).
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
}

impl WsError {
    /// The close code that answers it.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::TooLarge { .. } => 1009,
            WsError::Utf8 => 1007,
            WsError::Protocol(_) => 1002,
        }
    }
}

/// What the connection yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete text message.
    Text(String),
    /// A complete binary message (signaling has none; refuse it).
    Binary(usize),
    /// The connection failed; [`WsConn::close`] with its code, then drop it.
    Failed(WsError),
    /// The peer closed (a close frame, answered already, or end of stream).
    Closed,
}

/// Memory buffers in the shape of a socket for tungstenite: reading an
/// empty input would block; writes always go through.
struct Io<'a> {
    input: &'a mut BytesMut,
    output: &'a mut Vec<u8>,
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.advance(n);
        Ok(n)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One server-side WebSocket (see the module docs for the run loop).
pub struct WsConn {
    ctx: WebSocketContext,
    input: BytesMut,
    output: Vec<u8>,
    out_pos: usize,
    eof: bool,
    done: bool,
    close_sent: bool,
}

impl WsConn {
    /// A connection just upgraded; `leftover` is what the client sent after
    /// its upgrade request; messages are limited to `max_message` bytes.
    pub fn new(leftover: &[u8], max_message: usize) -> WsConn {
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        WsConn {
            ctx: WebSocketContext::new(Role::Server, Some(config)),
            input: BytesMut::from(leftover),
            output: Vec::new(),
            out_pos: 0,
            eof: false,
            done: false,
            close_sent: false,
        }
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8]) {
        if !self.done {
            self.input.extend_from_slice(data);
        }
    }

    /// The peer closed its sending side.
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, `None` until more input arrives.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        if self.done {
            return None;
        }
        loop {
            let mut io = Io {
                input: &mut self.input,
                output: &mut self.output,
            };
            return match self.ctx.read(&mut io) {
                Ok(Message::Text(t)) => Some(WsEvent::Text(t.as_str().to_owned())),
                Ok(Message::Binary(b)) => Some(WsEvent::Binary(b.len())),
                // Pings are answered by tungstenite; a close frame too.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Close(_)) => continue,
                Err(WsLibError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.eof {
                        self.done = true;
                        Some(WsEvent::Closed)
                    } else {
                        None
                    }
                }
                Err(WsLibError::ConnectionClosed | WsLibError::AlreadyClosed) => {
                    self.done = true;
                    Some(WsEvent::Closed)
                }
                Err(e) => {
                    self.done = true;
                    self.input.clear();
                    Some(WsEvent::Failed(failure(e)))
                }
            };
        }
    }

    /// Queues a text message (dropped once closing).
    pub fn send_text(&mut self, text: &str) {
        self.write(Message::text(text));
    }

    /// Queues a ping.
    pub fn ping(&mut self) {
        self.write(Message::Ping(Default::default()));
    }

    /// Queues a close frame with `code` and `reason` (cut to fit the 123
    /// bytes a close frame can hold); input is ignored from now on.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        self.done = true;
        let mut end = reason.len().min(120);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason[..end].to_owned().into(),
        };
        let mut io = Io {
            input: &mut self.input,
            output: &mut self.output,
        };
        let _ = self.ctx.close(&mut io, Some(frame));
    }

    fn write(&mut self, msg: Message) {
        let mut io = Io {
            input: &mut self.input,
            output: &mut self.output,
        };
        if self.ctx.write(&mut io, msg).is_ok() {
            let _ = self.ctx.flush(&mut io);
        }
    }

    /// Bytes waiting to be written, if any.
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        let out = &self.output[self.out_pos..];
        (!out.is_empty()).then_some(out)
    }

    /// Marks `n` bytes of [`WsConn::poll_transmit`] as written.
    pub fn consume_transmit(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.output.len());
        if self.out_pos == self.output.len() {
            self.output.clear();
            self.out_pos = 0;
        }
    }

    /// Whether the connection is over (closed by either side or failed):
    /// write what is left, then drop the socket.
    pub fn is_closed(&self) -> bool {
        self.done
    }
}

fn failure(e: WsLibError) -> WsError {
    match e {
        WsLibError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            WsError::TooLarge {
                size,
                max: max_size,
            }
        }
        WsLibError::Utf8(_) => WsError::Utf8,
        other => WsError::Protocol(other.to_string()),
    }
}
