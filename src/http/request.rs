//! Requests: the method, the parsed request head (httparse) and the size
//! limits that guard it.

use std::fmt;

use bytes::Bytes;

use crate::http::error::HttpError;
use crate::http::query::{find_param, parse_query, percent_decode_strict};

/// Size limits for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of request line plus headers (and, for chunked bodies, of
    /// trailers). Default 16 KiB; more is refused with 431.
    pub max_head: usize,
    /// Most bytes of body, declared or decoded. Default 64 KiB; more is 413.
    pub max_body: usize,
    /// Most header fields. Default 100; more is refused with 431.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_body: 64 * 1024,
            max_headers: 100,
        }
    }
}

/// A request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is
/// `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// PATCH
    Patch,
    /// Any other token, as sent.
    Other(String),
}

impl Method {
    /// Maps a method token to a `Method`.
    pub fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One complete HTTP/1.x request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The percent-decoded path without the query (`/rtc/v1/whip/`); `*`
    /// for `OPTIONS *`. For an absolute-form target the scheme and
    /// authority are removed.
    pub path: String,
    /// The request target exactly as sent (`/rtc/v1/whip/?app=live`).
    pub raw_target: String,
    /// The decoded query pairs, in order (`+` is a space).
    pub query: Vec<(String, String)>,
    /// Header fields in order, names as sent. The media type of
    /// Content-Type is lowercased at parse time (it is case-insensitive).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if it was sent chunked).
    pub body: Bytes,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
}

impl Request {
    /// Builds a request from parts, parsing `target` like the wire parser
    /// does (useful for handler tests). Version is 1.1.
    pub fn from_parts(
        method: Method,
        target: &str,
        headers: Vec<(String, String)>,
        body: impl Into<Bytes>,
    ) -> Result<Request, HttpError> {
        let (path, query) = split_target(target)?;
        Ok(Request {
            method,
            path,
            raw_target: target.to_owned(),
            query,
            headers,
            body: body.into(),
            version: 1,
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive), in order.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `key` (decoded, case-sensitive key).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        find_param(&self.query, key)
    }

    /// The media type of Content-Type without parameters, e.g.
    /// `application/sdp` for `Application/SDP; charset=utf-8`. Lowercase for
    /// parsed requests; `None` when absent or empty.
    pub fn content_type(&self) -> Option<&str> {
        let v = self.header("content-type")?;
        let media = v.split(';').next().unwrap_or("").trim();
        (!media.is_empty()).then_some(media)
    }

    /// The Host header, if any.
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }

    /// Whether the client wants the connection kept open after this request:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers_all("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.version >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    /// Whether the response must carry no body (HEAD).
    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }
}

/// How the body of a parsed head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// Exactly this many bytes follow (0 for no body).
    Length(u64),
    /// A chunked body follows.
    Chunked,
}

/// A parsed request head: the request without its body and how to read it.
#[derive(Debug)]
pub(crate) struct Head {
    /// The request, body still empty.
    pub request: Request,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// The client sent `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
    /// Bytes taken by the request line and headers, terminator included.
    pub len: usize,
}

/// Parses a request head from the start of `buf`. `Ok(None)` means more
/// bytes are needed (and `buf` is still within `limits.max_head`).
pub(crate) fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HttpError> {
    if buf.starts_with(b"PRI * HTTP/2") {
        return Err(HttpError::Http2Preface);
    }
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(HttpError::HeadersTooLarge {
                    limit: limits.max_head,
                });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::TooManyHeaders {
                limit: limits.max_headers,
            })
        }
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(e) => {
            return Err(HttpError::Malformed {
                what: httparse_what(e),
            })
        }
    };
    if len > limits.max_head {
        return Err(HttpError::HeadersTooLarge {
            limit: limits.max_head,
        });
    }
    // httparse guarantees these are set on Complete; be defensive anyway.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed {
            what: "incomplete request line",
        });
    };
    let (path, query) = split_target(target)?;
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            let mut value = String::from_utf8_lossy(h.value).into_owned();
            if h.name.eq_ignore_ascii_case("content-type") {
                value = lowercase_media_type(&value);
            }
            (h.name.to_owned(), value)
        })
        .collect();
    let request = Request {
        method: Method::parse(method),
        path,
        raw_target: target.to_owned(),
        query,
        headers,
        body: Bytes::new(),
        version,
    };
    check_host(&request)?;
    let framing = body_framing(&request, limits)?;
    let expect_continue = expect_continue(&request)?;
    Ok(Some(Head {
        request,
        framing,
        expect_continue,
        len,
    }))
}

/// Splits a request target into the decoded path and the decoded query.
pub(crate) fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), HttpError> {
    let bad = |why| HttpError::BadTarget {
        target: truncate(target, 256),
        why,
    };
    let rest = if target.starts_with('/') {
        target
    } else if target == "*" {
        return Ok(("*".to_owned(), Vec::new()));
    } else if let Some(after_scheme) =
        strip_prefix_ci(target, "http://").or_else(|| strip_prefix_ci(target, "https://"))
    {
        // Absolute form (RFC 9112 §3.2.2): servers must accept it.
        match after_scheme.find(['/', '?']) {
            Some(i) if after_scheme.as_bytes()[i] == b'/' => &after_scheme[i..],
            Some(i) => return split_target(&format!("/{}", &after_scheme[i..])),
            None => "/",
        }
    } else {
        return Err(bad("not an origin-form path, absolute URL or *"));
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let (raw_path, raw_query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = percent_decode_strict(raw_path).map_err(|_| bad("bad percent-encoding in path"))?;
    let query = raw_query.map(parse_query).unwrap_or_default();
    Ok((path, query))
}

/// Decides the body framing from Content-Length / Transfer-Encoding
/// (RFC 9112 §6), refusing ambiguous combinations.
fn body_framing(req: &Request, limits: &Limits) -> Result<BodyFraming, HttpError> {
    let cl: Vec<&str> = req.headers_all("content-length").collect();
    let te: Vec<&str> = req.headers_all("transfer-encoding").collect();
    if !cl.is_empty() && !te.is_empty() {
        return Err(HttpError::LengthAndTransferEncoding {
            content_length: cl.join(", "),
            transfer_encoding: te.join(", "),
        });
    }
    if !te.is_empty() {
        let value = te.join(", ");
        if req.version == 0 {
            return Err(HttpError::BadTransferEncoding { value });
        }
        let codings: Vec<&str> = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let chunked = codings
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("chunked"))
            .count();
        let last_chunked = codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        if !last_chunked || chunked != 1 {
            return Err(HttpError::BadTransferEncoding { value });
        }
        if codings.len() != 1 {
            return Err(HttpError::UnsupportedTransferEncoding { value });
        }
        return Ok(BodyFraming::Chunked);
    }
    let mut length: Option<u64> = None;
    for piece in cl.iter().flat_map(|v| v.split(',')).map(str::trim) {
        let n = (!piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit()))
            .then(|| piece.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| HttpError::BadContentLength {
                value: cl.join(", "),
            })?;
        if length.is_some_and(|l| l != n) {
            return Err(HttpError::BadContentLength {
                value: cl.join(", "),
            });
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if length > limits.max_body as u64 {
        return Err(HttpError::BodyTooLarge {
            length,
            limit: limits.max_body,
        });
    }
    Ok(BodyFraming::Length(length))
}

/// HTTP/1.1 requires exactly one Host (RFC 9112 §3.2); HTTP/1.0 at most one.
fn check_host(req: &Request) -> Result<(), HttpError> {
    match req.headers_all("host").count() {
        0 if req.version >= 1 => Err(HttpError::BadHost {
            why: "HTTP/1.1 request without Host",
        }),
        0 | 1 => Ok(()),
        _ => Err(HttpError::BadHost {
            why: "several Host fields",
        }),
    }
}

/// Whether the client waits for `100 Continue`; other expectations are 417.
fn expect_continue(req: &Request) -> Result<bool, HttpError> {
    match req.header("expect") {
        None => Ok(false),
        Some(v) if v.trim().eq_ignore_ascii_case("100-continue") => Ok(req.version >= 1),
        Some(v) => Err(HttpError::ExpectationFailed {
            value: truncate(v, 256),
        }),
    }
}

/// 505 for a version-like token that is not 1.0/1.1, 400 for garbage.
fn version_error(buf: &[u8]) -> HttpError {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = String::from_utf8_lossy(&buf[..line_end.min(8192)]);
    let token = line.rsplit(' ').next().unwrap_or("");
    let looks_like_version = token
        .strip_prefix("HTTP/")
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if looks_like_version {
        HttpError::UnsupportedVersion {
            version: truncate(token, 32),
        }
    } else {
        HttpError::Malformed {
            what: "invalid HTTP version",
        }
    }
}

fn httparse_what(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid new line",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

fn lowercase_media_type(value: &str) -> String {
    match value.split_once(';') {
        Some((media, params)) => format!("{};{}", media.to_ascii_lowercase(), params),
        None => value.to_ascii_lowercase(),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// At most `max` bytes of `s`, cut at a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
