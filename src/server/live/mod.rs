//! Runtime glue for live streaming: RTMP connections, HTTP-FLV and HLS
//! serving, all around the process-wide [`hub::Hub`] of live streams.
//!
//! - [`rtmp_conn`]: accept loop and one task per RTMP connection (publisher or player).
//! - [`hub`]: stream registry, GOP cache, HLS segmenter and player queues.
//! - [`http`]: HTTP-FLV (takes over the HTTP connection) and HLS responses.

pub mod http;
pub mod hub;
pub mod rtmp_conn;

pub use hub::Hub;
