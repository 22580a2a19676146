//! Responses and their HTTP/1.1 encoding.

use std::io::Write;

use bytes::Bytes;

/// One response. `Content-Length`, `Connection` and `Server` are written by
/// [`Response::encode`]; set any other header with [`Response::with_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (100-999).
    pub status: u16,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body (dropped on the wire for HEAD, 1xx, 204 and 304).
    pub body: Bytes,
}

/// The `Server` header value.
pub const SERVER: &str = concat!("shardsfu/", env!("CARGO_PKG_VERSION"));

impl Response {
    /// An empty response with this status.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets header `name` (case-insensitive), replacing every earlier value.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::bytes(status, "text/plain; charset=utf-8", body.into())
    }

    /// An `application/json` response with `value` serialized compactly.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        // Serializing a `Value` to a Vec cannot fail: keys are strings and
        // the writer is infallible.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Response::bytes(status, "application/json", body)
    }

    /// A response with this Content-Type and body.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A plain-text error response whose body is `reason` and a newline.
    pub fn error(status: u16, reason: &str) -> Response {
        Response::text(status, format!("{reason}\n"))
    }

    /// Whether this response itself asks to close the connection
    /// (`Connection: close` among its headers).
    pub fn wants_close(&self) -> bool {
        self.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        })
    }

    /// Appends the encoded response to `out`: status line with the standard
    /// reason phrase, `Server`, `Connection: keep-alive|close` (close when
    /// `keep_alive` is false or [`Response::wants_close`]), the headers,
    /// `Content-Length`, and the body unless `head_only`. 1xx and 204
    /// responses get neither Content-Length nor body; 304 gets no body.
    /// Header values have CR, LF and NUL replaced by spaces, and user
    /// `Content-Length`/`Transfer-Encoding`/`Connection` fields are dropped,
    /// so a handler cannot break the framing.
    pub fn encode(&self, head_only: bool, keep_alive: bool, out: &mut Vec<u8>) {
        self.encode_with(head_only, keep_alive, self.body.len() as u64, true, out);
    }

    /// Appends only the head, as [`Response::encode`] would write it for a
    /// body of `content_length` bytes (its own body is ignored): the caller
    /// writes those bytes after it (unless `head_only`), e.g. a file
    /// streamed from disk.
    pub fn encode_head(
        &self,
        head_only: bool,
        keep_alive: bool,
        content_length: u64,
        out: &mut Vec<u8>,
    ) {
        self.encode_with(head_only, keep_alive, content_length, false, out);
    }

    fn encode_with(
        &self,
        head_only: bool,
        keep_alive: bool,
        content_length: u64,
        with_body: bool,
        out: &mut Vec<u8>,
    ) {
        let keep_alive = keep_alive && !self.wants_close();
        let status = self.status.clamp(100, 999);
        // Writing into a Vec cannot fail.
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(SERVER.as_bytes());
        out.extend_from_slice(b"\r\n");
        if status >= 200 {
            out.extend_from_slice(if keep_alive {
                b"Connection: keep-alive\r\n"
            } else {
                b"Connection: close\r\n"
            });
        }
        for (k, v) in &self.headers {
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
            {
                continue;
            }
            if k.is_empty() || !k.bytes().all(is_tchar) {
                continue;
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(v.bytes().map(|b| {
                if matches!(b, b'\r' | b'\n' | 0) {
                    b' '
                } else {
                    b
                }
            }));
            out.extend_from_slice(b"\r\n");
        }
        let bodyless = status < 200 || status == 204;
        if !bodyless {
            let _ = write!(out, "Content-Length: {content_length}\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if with_body && !bodyless && !head_only && status != 304 {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Whether `b` may appear in a header name (RFC 9110 token).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The standard reason phrase of a status code ("" for unknown codes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
