//! Runtime glue for live streaming: RTMP connections, HTTP-FLV and HLS
//! serving, all around the process-wide [`hub::Hub`] of live streams.
//!
//! - [`rtmp_conn`]: accept loop and one task per RTMP connection (publisher or player).
//! - [`clients`]: live clients for the HTTP API (listing, byte counters, kick).
//! - [`hub`]: stream registry, GOP cache, HLS segmenter and player queues.
//! - [`http`]: HTTP-FLV (takes over the HTTP connection) and HLS responses.
//! - [`rtc_to_rtmp`]: WebRTC publishers as live streams ([`h264_depack`], [`transcode`]).
//! - [`rtmp_to_rtc`]: RTMP publications as WebRTC streams ([`h264_rtp`], [`transcode`]).
//! - [`session`]: the start and end log lines of RTMP and HTTP-FLV sessions.

pub mod clients;
pub mod h264_depack;
pub mod h264_rtp;
pub mod http;
pub mod hub;
pub mod rtc_to_rtmp;
pub mod rtmp_conn;
pub mod rtmp_to_rtc;
pub mod session;
pub mod transcode;

pub use hub::Hub;
