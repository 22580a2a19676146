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
//! - [`sfu`]: the per-shard SFU (sans-IO): sessions, publishers, players, fan-out.
//! - [`control`]: admits a session into a shard's SFU against the directory.
//! - [`directory`]: which shard holds a session, who publishes a stream (control plane).
//! - [`limits`]: connections and signaling requests per client address (control plane).
//! - [`sniff`]: which protocol a connection on a shared TCP port speaks (HTTP, TLS, RFC 4571).
//! - [`server`]: IO only: sockets, the glommio loops, the mesh, TLS, hooks, bridges.
//! - [`live`]: RTMP, FLV and HLS (the live-streaming side).
//! - [`signaling`]: rooms for calls (ossrs/signaling's WebSocket protocol at `/sig/v1/rtc`).
//! - [`logging`]: log format and level, and the session start/end lines.
#![warn(missing_docs)]

pub mod api;
pub mod cluster;
pub mod config;
pub mod control;
pub mod directory;
pub mod dtls;
pub mod http;
pub mod ice;
pub mod limits;
pub mod live;
pub mod logging;
pub mod mix;
pub mod overload;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod sfu;
pub mod signaling;
pub mod sniff;
pub mod srtp;
pub mod util;
