//! One HTTP/1.1 server connection as a sans-IO state machine.
//!
//! The runtime owns the TCP socket and drives a [`ServerConn`]:
//!
//! 1. bytes read from the socket go to [`ServerConn::handle_input`]
//!    (end of stream to [`ServerConn::handle_eof`]);
//! 2. [`ServerConn::poll_request`] yields the next request (or a parse
//!    error); the handler's answer goes to [`ServerConn::send_response`]
//!    (for an error, send [`HttpError::response`]). Only one request is
//!    out at a time, so pipelined requests are answered in order: call
//!    `poll_request` again after each `send_response`;
//! 3. [`ServerConn::poll_transmit`] / [`ServerConn::consume_transmit`]
//!    give the bytes to write;
//! 4. sleep until [`ServerConn::poll_timeout`] (or new input) and call
//!    [`ServerConn::handle_timeout`];
//! 5. drop the socket once [`ServerConn::is_closed`].
//!
//! ```no_run
//! # use std::time::Instant;
//! # use shardsfu::http::{ServerConn, Timeouts, Response};
//! let mut conn = ServerConn::new(Instant::now(), Timeouts::default());
//! conn.handle_input(Instant::now(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
//! while let Some(req) = conn.poll_request() {
//!     let resp = match req {
//!         Ok(_req) => Response::text(200, "hi"),
//!         Err(e) => e.response(),
//!     };
//!     conn.send_response(Instant::now(), &resp);
//! }
//! while let Some(out) = conn.poll_transmit() {
//!     let n = out.len(); /* socket.write_all(out) */
//!     conn.consume_transmit(n);
//! }
//! ```

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use crate::http::body::BodyDecoder;
use crate::http::error::HttpError;
use crate::http::request::{parse_head, Head, Limits, Request};
use crate::http::response::Response;

/// Connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A kept-alive connection with no request in progress is closed
    /// quietly after this long (also bounds how long unsent output and a
    /// closing connection may linger). Default 30 s.
    pub idle: Duration,
    /// From the first byte of a request until its headers are complete;
    /// past it the client gets 408. Default 10 s.
    pub header: Duration,
    /// From the end of the headers until the body is complete; past it the
    /// client gets 408. Default 30 s.
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(30),
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
        }
    }
}

/// Where the connection is in its request cycle.
#[derive(Debug)]
enum State {
    /// Between requests, since this instant.
    Idle { since: Instant },
    /// Part of a request head has arrived.
    Head {
        /// When its first byte arrived.
        started: Instant,
        /// Where to resume looking for the blank line that ends the head.
        scan_from: usize,
        /// Whether the head was parsed once after its first line ended
        /// (to refuse garbage early).
        line_checked: bool,
    },
    /// The head is parsed; the body is arriving.
    Body {
        head: Box<Head>,
        decoder: BodyDecoder,
        started: Instant,
    },
    /// A request or error was produced; waiting for `send_response`.
    Awaiting { head_only: bool, keep_alive: bool },
    /// No more requests; output drains until `since + idle`, then is dropped.
    Closing { since: Instant },
}

/// A sans-IO HTTP/1.1 server connection (see the module docs for the run
/// loop).
#[derive(Debug)]
pub struct ServerConn {
    state: State,
    limits: Limits,
    timeouts: Timeouts,
    inbound: BytesMut,
    outbound: Vec<u8>,
    out_pos: usize,
    ready: Option<Result<Request, HttpError>>,
    peer_eof: bool,
    overflow: bool,
}

impl ServerConn {
    /// A fresh connection accepted at `now`, with default [`Limits`].
    pub fn new(now: Instant, timeouts: Timeouts) -> ServerConn {
        ServerConn::with_limits(now, timeouts, Limits::default())
    }

    /// A fresh connection accepted at `now`, with these limits.
    pub fn with_limits(now: Instant, timeouts: Timeouts, limits: Limits) -> ServerConn {
        ServerConn {
            state: State::Idle { since: now },
            limits,
            timeouts,
            inbound: BytesMut::new(),
            outbound: Vec::new(),
            out_pos: 0,
            ready: None,
            peer_eof: false,
            overflow: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Most bytes buffered while a request is being handled; input beyond
    /// it is dropped and the connection closes after the current response.
    fn inbound_cap(&self) -> usize {
        self.limits.max_head + self.limits.max_body + 64 * 1024
    }

    /// Feeds bytes read from the socket at `now`. Input after a parse error
    /// or once the connection is closing is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if matches!(self.state, State::Closing { .. })
            || self.ready.as_ref().is_some_and(Result::is_err)
        {
            return;
        }
        if self.inbound.len() + data.len() > self.inbound_cap() {
            self.overflow = true;
            return;
        }
        self.inbound.extend_from_slice(data);
        self.advance(now);
    }

    /// The peer closed its sending side at `now`. A request being handled
    /// still gets its response; a partial request is dropped; then the
    /// connection closes.
    pub fn handle_eof(&mut self, now: Instant) {
        self.peer_eof = true;
        self.advance(now);
    }

    /// Whether the runtime should keep reading (an advisory back-pressure
    /// signal: false while closing or with a full input buffer).
    pub fn wants_input(&self) -> bool {
        !self.peer_eof
            && !self.overflow
            && !matches!(self.state, State::Closing { .. })
            && self.inbound.len() < self.inbound_cap()
    }

    /// The next complete request, or the error that ends the connection
    /// (returned once; answer it with [`HttpError::response`]). `None`
    /// until more input arrives or while the previous request awaits its
    /// response.
    pub fn poll_request(&mut self) -> Option<Result<Request, HttpError>> {
        self.ready.take()
    }

    /// Queues the response to the request last returned by
    /// [`ServerConn::poll_request`] (HEAD gets no body; `Connection` follows
    /// the request's keep-alive wish). After an error, a `Connection: close`
    /// response, a non-keep-alive request or end of input, the connection
    /// closes once the response is written. Called with no request
    /// outstanding, the response is sent and the connection closes.
    pub fn send_response(&mut self, now: Instant, resp: &Response) {
        self.respond(now, resp, None);
    }

    /// Queues only the head of the response to the request last returned by
    /// [`ServerConn::poll_request`], with `Content-Length: body_len` (the
    /// response's own body is ignored), as [`ServerConn::send_response`]
    /// otherwise does. Returns whether the caller must now write the
    /// `body_len` bytes itself (false for HEAD, or when the connection is
    /// already closing): right after [`ServerConn::poll_transmit`] is
    /// drained, before the next request's response is queued. A body that
    /// cannot be written whole breaks the framing: drop the connection.
    pub fn send_response_head(&mut self, now: Instant, resp: &Response, body_len: u64) -> bool {
        self.respond(now, resp, Some(body_len))
    }

    /// Queues `resp` (its head alone, for a body of `streamed` bytes);
    /// returns whether a streamed body must follow.
    fn respond(&mut self, now: Instant, resp: &Response, streamed: Option<u64>) -> bool {
        let (head_only, keep_alive) = match self.state {
            State::Awaiting {
                head_only,
                keep_alive,
            } => (head_only, keep_alive),
            State::Closing { .. } => return false,
            _ => (false, false),
        };
        // An unpolled request is answered by this response too.
        self.ready = None;
        let keep_alive = keep_alive && !self.peer_eof && !self.overflow && !resp.wants_close();
        self.compact_outbound();
        match streamed {
            None => resp.encode(head_only, keep_alive, &mut self.outbound),
            Some(len) => resp.encode_head(head_only, keep_alive, len, &mut self.outbound),
        }
        if keep_alive {
            self.state = State::Idle { since: now };
            self.advance(now);
        } else {
            self.close(now);
        }
        streamed.is_some() && !head_only && !matches!(resp.status, 100..=199 | 204 | 304)
    }

    /// Ends the HTTP side of a connection whose last request switched
    /// protocols (a WebSocket upgrade, answered by the caller): returns the
    /// bytes that arrived after that request. Write out
    /// [`ServerConn::poll_transmit`] first.
    pub fn into_upgraded(self) -> Vec<u8> {
        self.inbound.to_vec()
    }

    /// Bytes waiting to be written, if any.
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        let out = &self.outbound[self.out_pos..];
        (!out.is_empty()).then_some(out)
    }

    /// Marks `n` bytes of [`ServerConn::poll_transmit`] as written.
    pub fn consume_transmit(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.outbound.len());
        if self.out_pos == self.outbound.len() {
            self.outbound.clear();
            self.out_pos = 0;
        }
    }

    /// Takes every byte waiting to be written (for runtimes that write
    /// owned buffers).
    pub fn take_transmit(&mut self) -> Vec<u8> {
        self.compact_outbound();
        std::mem::take(&mut self.outbound)
    }

    /// When [`ServerConn::handle_timeout`] should next be called; `None`
    /// while a request is with the handler.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle { since } | State::Closing { since } => Some(*since + self.timeouts.idle),
            State::Head { started, .. } => Some(*started + self.timeouts.header),
            State::Body { started, .. } => Some(*started + self.timeouts.body),
            State::Awaiting { .. } => None,
        }
    }

    /// Fires expired timers: an idle connection closes quietly (dropping
    /// unsent output); a request whose head or body is late gets 408 and
    /// the connection closes. Earlier calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Idle { .. } | State::Closing { .. } => {
                self.outbound.clear();
                self.out_pos = 0;
                self.inbound.clear();
                self.state = State::Closing { since: now };
            }
            State::Head { .. } => self.timed_out(
                now,
                HttpError::HeaderTimeout {
                    after: self.timeouts.header,
                },
            ),
            State::Body { .. } => self.timed_out(
                now,
                HttpError::BodyTimeout {
                    after: self.timeouts.body,
                },
            ),
            State::Awaiting { .. } => {}
        }
    }

    /// Whether the connection is finished: closing and nothing left to
    /// write. The runtime then drops the socket.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closing { .. }) && self.poll_transmit().is_none()
    }

    fn timed_out(&mut self, now: Instant, err: HttpError) {
        tracing::debug!(%err, "http request timed out");
        self.compact_outbound();
        err.response().encode(false, false, &mut self.outbound);
        self.close(now);
    }

    fn close(&mut self, now: Instant) {
        self.inbound.clear();
        self.ready = None;
        self.state = State::Closing { since: now };
    }

    fn compact_outbound(&mut self) {
        if self.out_pos > 0 {
            self.outbound.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }

    /// Hands the request out and waits for its response.
    fn finish(&mut self, result: Result<Request, HttpError>) {
        self.state = match &result {
            Ok(req) => State::Awaiting {
                head_only: req.is_head(),
                keep_alive: req.keep_alive(),
            },
            Err(_) => {
                self.inbound.clear();
                State::Awaiting {
                    head_only: false,
                    keep_alive: false,
                }
            }
        };
        self.ready = Some(result);
    }

    /// Parses as far as the buffered input allows.
    fn advance(&mut self, now: Instant) {
        loop {
            match &mut self.state {
                State::Idle { .. } => {
                    // Stray CRLFs between requests are allowed (RFC 9112 §2.2).
                    let blank = self
                        .inbound
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    self.inbound.advance(blank);
                    if self.inbound.is_empty() {
                        if self.peer_eof {
                            self.close(now);
                        }
                        return;
                    }
                    self.state = State::Head {
                        started: now,
                        scan_from: 0,
                        line_checked: false,
                    };
                }
                State::Head {
                    scan_from,
                    line_checked,
                    ..
                } => {
                    let buf = &self.inbound[..];
                    let from = scan_from.saturating_sub(2);
                    let ended = buf[from..].windows(2).any(|w| w == b"\n\n")
                        || buf[from..].windows(3).any(|w| w == b"\n\r\n");
                    // No newline was seen before `scan_from` while unchecked, so
                    // looking at the new bytes is enough (linear for bytewise input).
                    let first_line = !*line_checked && buf[from..].contains(&b'\n');
                    let probe = *scan_from == 0;
                    if !(ended || first_line || probe || buf.len() > self.limits.max_head) {
                        *scan_from = buf.len();
                        if self.peer_eof {
                            self.close(now);
                        }
                        return;
                    }
                    *line_checked |= first_line;
                    match parse_head(buf, &self.limits) {
                        Ok(None) => {
                            *scan_from = buf.len();
                            if self.peer_eof {
                                self.close(now);
                            }
                            return;
                        }
                        Ok(Some(head)) => {
                            self.inbound.advance(head.len);
                            let decoder = BodyDecoder::new(head.framing);
                            if head.expect_continue
                                && decoder.expects_body()
                                && self.inbound.is_empty()
                            {
                                self.compact_outbound();
                                self.outbound
                                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                            }
                            self.state = State::Body {
                                head: Box::new(head),
                                decoder,
                                started: now,
                            };
                        }
                        Err(e) => {
                            self.finish(Err(e));
                            return;
                        }
                    }
                }
                State::Body { head, decoder, .. } => {
                    match decoder.decode(&mut self.inbound, &self.limits) {
                        Ok(Some(body)) => {
                            let mut req = std::mem::replace(&mut head.request, empty_request());
                            req.body = body;
                            self.finish(Ok(req));
                            return;
                        }
                        Ok(None) => {
                            if self.peer_eof {
                                self.close(now);
                            }
                            return;
                        }
                        Err(e) => {
                            self.finish(Err(e));
                            return;
                        }
                    }
                }
                State::Awaiting { .. } | State::Closing { .. } => return,
            }
        }
    }
}

/// A placeholder left behind when the request moves out of `State::Body`.
fn empty_request() -> Request {
    Request {
        method: crate::http::Method::Get,
        path: String::new(),
        raw_target: String::new(),
        query: Vec::new(),
        headers: Vec::new(),
        body: bytes::Bytes::new(),
        version: 1,
    }
}
