//! Why a request was refused, and the status code that says so.

use std::time::Duration;

use crate::http::cors;
use crate::http::response::Response;

/// A request that cannot be served; each variant maps to one HTTP status
/// ([`HttpError::status`]) and the connection closes after the error
/// response is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request line or a header is not valid HTTP/1.x syntax (400);
    /// `what` is httparse's description, e.g. "invalid header name".
    #[error("malformed request: {what}")]
    Malformed {
        /// What the parser found wrong.
        what: &'static str,
    },
    /// The request target is not an origin-form path, an absolute URL or
    /// `*`, or its percent-encoding is broken (400).
    #[error("bad request target {target:?}: {why}")]
    BadTarget {
        /// The target as sent (truncated to 256 bytes).
        target: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The request line and headers exceed the configured size (431).
    #[error("request header section larger than {limit} bytes")]
    HeadersTooLarge {
        /// The limit in bytes ([`crate::http::Limits::max_head`]).
        limit: usize,
    },
    /// More header lines than allowed (431).
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit ([`crate::http::Limits::max_headers`]).
        limit: usize,
    },
    /// The body (declared by Content-Length or decoded from chunks) is
    /// larger than allowed (413).
    #[error("request body of {length} bytes or more exceeds the limit of {limit}")]
    BodyTooLarge {
        /// The declared length, or the decoded length when it passed the limit.
        length: u64,
        /// The limit ([`crate::http::Limits::max_body`]).
        limit: usize,
    },
    /// Both Content-Length and Transfer-Encoding were sent, a request
    /// smuggling vector (400).
    #[error("both Content-Length {content_length:?} and Transfer-Encoding {transfer_encoding:?}")]
    LengthAndTransferEncoding {
        /// The Content-Length value.
        content_length: String,
        /// The Transfer-Encoding value.
        transfer_encoding: String,
    },
    /// A Content-Length that is not a decimal number, or several that differ (400).
    #[error("bad Content-Length {value:?}")]
    BadContentLength {
        /// The offending value (all values joined by `, ` when they conflict).
        value: String,
    },
    /// Transfer-Encoding whose final coding is not `chunked`, a repeated
    /// `chunked`, or any Transfer-Encoding on an HTTP/1.0 request (400).
    #[error("bad Transfer-Encoding {value:?}")]
    BadTransferEncoding {
        /// The offending value.
        value: String,
    },
    /// A transfer coding other than `chunked` (e.g. `gzip, chunked`) (501).
    #[error("unsupported Transfer-Encoding {value:?}")]
    UnsupportedTransferEncoding {
        /// The offending value.
        value: String,
    },
    /// A chunk-size line or chunk terminator of a chunked body is broken (400).
    #[error("bad chunked body: {why}")]
    BadChunk {
        /// What was wrong.
        why: &'static str,
    },
    /// An HTTP/1.1 request without Host, or with several Host fields (400).
    #[error("bad Host: {why}")]
    BadHost {
        /// What was wrong.
        why: &'static str,
    },
    /// An `Expect` other than `100-continue` (417).
    #[error("unsupported Expect {value:?}")]
    ExpectationFailed {
        /// The offending value.
        value: String,
    },
    /// The HTTP/2 connection preface (`PRI * HTTP/2.0`) (505).
    #[error("HTTP/2 is not supported on this port")]
    Http2Preface,
    /// A protocol version other than HTTP/1.0 or HTTP/1.1 (505).
    #[error("unsupported HTTP version {version:?}")]
    UnsupportedVersion {
        /// The version token as sent (may be incomplete).
        version: String,
    },
    /// The request line and headers did not arrive in time (408).
    #[error("request headers not received within {after:?}")]
    HeaderTimeout {
        /// The configured timeout ([`crate::http::Timeouts::header`]).
        after: Duration,
    },
    /// The body did not arrive in time after the headers (408).
    #[error("request body not received within {after:?}")]
    BodyTimeout {
        /// The configured timeout ([`crate::http::Timeouts::body`]).
        after: Duration,
    },
}

impl HttpError {
    /// The HTTP status code that reports this error.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed { .. }
            | HttpError::BadTarget { .. }
            | HttpError::LengthAndTransferEncoding { .. }
            | HttpError::BadContentLength { .. }
            | HttpError::BadTransferEncoding { .. }
            | HttpError::BadChunk { .. }
            | HttpError::BadHost { .. } => 400,
            HttpError::HeaderTimeout { .. } | HttpError::BodyTimeout { .. } => 408,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::ExpectationFailed { .. } => 417,
            HttpError::HeadersTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
            HttpError::UnsupportedTransferEncoding { .. } => 501,
            HttpError::Http2Preface | HttpError::UnsupportedVersion { .. } => 505,
        }
    }

    /// The human-readable reason (the same text as `Display`).
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// A plain-text error response for this error, with permissive CORS
    /// headers (there is no parsed request to take an Origin from), ready
    /// for [`crate::http::ServerConn::send_response`].
    pub fn response(&self) -> Response {
        let mut resp = Response::error(self.status(), &self.reason());
        cors::apply_cors_any(&mut resp);
        resp
    }
}
