//! HTTP/1.1: request parsing with limits, responses, CORS and static files (sans-IO).
//!
//! - [`ServerConn`] ([`conn`]): one connection's state machine; bytes in,
//!   requests out, responses in, bytes out, timers.
//! - [`Request`], [`Method`], [`Limits`] ([`request`]): the parsed request.
//!   Chunked request bodies are decoded (the body limit applies to the
//!   decoded size); codings other than `chunked` get 501.
//! - [`Response`] ([`response`]): builders and the wire encoding.
//! - [`HttpError`] ([`error`]): why a request was refused, with its status.
//! - [`cors`]: CORS headers for every response and preflight answers.
//! - [`static_files`]: URL path to file under a root, safely; content types.
//! - [`query`]: percent-decoding and query strings.

mod body;
pub mod conn;
pub mod cors;
pub mod error;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod query;
pub mod request;
pub mod response;
pub mod static_files;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cors_static;

pub use conn::{ServerConn, Timeouts};
pub use cors::{apply_cors, apply_cors_any, preflight};
pub use error::HttpError;
pub use request::{Limits, Method, Request};
pub use response::Response;
pub use static_files::{content_type_for, resolve_static, static_response, StaticError};
