//! shardsfu: a thread-per-core WebRTC SFU for Linux, compatible with SRS's
//! URLs, ports and configuration.
//!
//! The crate is the protocol and media plane; it never owns a socket or reads
//! the clock inside a protocol core. The runtime that drives it lives in the
//! `shards` crate (pinned glommio executors, SO_REUSEPORT sockets, the shard
//! mesh) and in [`server`], the thin glue between the two.
//!
//! Components, in the order a packet meets them:
//! - [`config`]: the SRS-style configuration file and its environment overrides.
//! - [`http`]: a small HTTP/1.1 server core (parsing, limits, CORS, static files).
//! - [`api`]: WHIP/WHEP, the legacy `/rtc/v1/publish|play` JSON API and `/api/v1/*`.
//! - [`sdp`]: offer in, answer out; ICE candidates chosen by SRS's rules.
//! - [`ice`]: STUN messages and the ICE-lite agent.
//! - [`dtls`], [`srtp`]: the DTLS handshake (rtc-dtls) and SRTP contexts (rtc-srtp).
//! - [`rtp`]: RTP/RTCP views, keyframe detection and per-subscriber header rewriting.
//! - [`server`]: the per-shard state and the run loops that feed the cores.
//! - [`live`]: RTMP, FLV and HLS (the live-streaming side).
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod dtls;
pub mod http;
pub mod ice;
pub mod live;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod srtp;
pub mod util;
