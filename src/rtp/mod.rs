//! RTP and RTCP: packet views, header extensions, keyframe detection, sequence/timestamp rewriting.
//!
//! - [`classify`] sorts a datagram into STUN / DTLS / RTP / RTCP (RFC 7983, RFC 5761).
//! - [`RtpHeader`] is a zero-copy view of an RTP packet's header and its
//!   header extensions (RFC 3550, RFC 8285 one- and two-byte forms).
//! - [`is_keyframe`] looks into H.264, VP8 and VP9 payloads.
//! - [`Rewriter`] maps a publisher's seq/ts space into one subscriber's
//!   continuous space and writes the rewritten packet into a reused buffer.
//! - [`rtcp`] parses compound RTCP into views and writes RR, PLI, FIR and NACK.
//! - [`Ssrc`], [`Pt`], [`SeqNo`], [`MediaTime`]: typed wire identifiers.

mod classify;
mod header;
mod id;
mod keyframe;
pub mod nack_generator;
pub mod nack_history;
pub mod nack_responder;
pub mod receiver_stats;
mod rewrite;
pub mod rtcp;
pub mod rtx;
pub mod sr_mapping;
#[cfg(test)]
mod tests;
pub mod twcc;

pub use classify::{classify, PacketKind};
pub use header::{ExtensionForm, Extensions, FixedHeader, RtpError, RtpHeader};
pub use id::{MediaTime, Pt, SeqNo, Ssrc};
pub use keyframe::{h264_info, is_keyframe, Codec, H264Info};
pub use rewrite::{ExtIdMap, Rewriter};
