//! Built-in signaling for calls and rooms, wire-compatible with
//! ossrs/signaling (the Go app SRS's `one2one.html` and `room.html` talk
//! to): a WebSocket at `/sig/v1/rtc` where members join a room, say they
//! publish, and relay control calls; the other members are notified. Media
//! itself goes through the WHIP/WHEP and legacy APIs with
//! `webrtc://host/<room>/<display>`. docs/signaling.md has the protocol.
//!
//! All sans-IO; the runtime (`server::rooms`) feeds them:
//! - [`message`]: requests decoded, answers and notifications encoded.
//! - [`rooms`]: [`Rooms`], the process-wide rooms (`handle_message`,
//!   `handle_close`, `poll_output`).
//! - [`guard`]: [`Guard`], one socket's message rate, idle timeout and pings.
//! - [`ws`]: the upgrade answer and [`WsConn`], one WebSocket's framing.

#[doc(hidden)]
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod guard;
pub mod message;
pub mod remote;
pub mod rooms;
pub mod ws;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;

pub use guard::{Guard, GuardError, GuardLimits, Tick};
pub use remote::{MemberEvent, RemoteMember, RoomEvent};
pub use rooms::{ConnId, Output, RoomError, RoomLimits, Rooms};
pub use ws::{accept_upgrade, UpgradeError, WsConn, WsError, WsEvent};

/// The WebSocket's path (ossrs/signaling's).
pub const PATH: &str = "/sig/v1/rtc";

/// The version path; answered `1.0` as the Go app does.
pub const VERSIONS_PATH: &str = "/sig/v1/versions";
