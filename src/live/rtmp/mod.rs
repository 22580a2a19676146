//! RTMP: handshake, chunk streams, AMF0 and the server connection state machine.
//!
//! [`RtmpServerConn`] is what the runtime drives; the other modules are its
//! parts, public for tests, fuzzing and a future client side.

pub mod amf0;
pub mod chunk;
pub mod client;
pub mod event;
pub mod handshake;
pub mod message;
pub mod session;

#[cfg(test)]
mod ffmpeg_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bad_input;

pub use session::{RtmpConfig, RtmpError, RtmpEvent, RtmpServerConn};
