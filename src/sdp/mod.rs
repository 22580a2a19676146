//! SDP: parse offers, build answers, choose ICE candidates (sans-IO).
//!
//! The flow for one WHIP/WHEP request:
//! 1. [`parse_offer`] turns the client's offer text into an [`Offer`]
//!    (ICE credentials, DTLS fingerprints and setup role, one
//!    [`OfferedMedia`] per m-line with its codecs, extensions and SSRCs).
//! 2. [`discover_candidates`] picks the server's ICE candidates by SRS's
//!    rules (`eip`, the API host, `rtc_server.candidate`, interface IPs).
//! 3. [`answer`] builds the ICE-lite answer text and reports what was
//!    negotiated per track ([`NegotiatedTrack`]) for the session to use.
//!
//! Nothing here touches a socket or the clock; [`local_interface_ips`] is the
//! one call that asks the kernel (getifaddrs) and is kept apart so the
//! candidate rules stay testable with fixed inputs.

mod answer;
mod candidate;
mod codec;
mod offer;
pub mod sdpfrag;

#[cfg(test)]
mod tests;

pub use answer::{answer, Answer, AnswerOptions, ExtIds, NegotiatedTrack, PlayOptions, Role};
pub use candidate::{
    discover_candidates, local_interface_ips, Candidate, CandidatePolicy, IpFamily, Protocol,
    Transport,
};
pub use codec::{Codec, H264Params};
pub use offer::{
    parse_offer, parse_offer_with, CodecParams, Direction, Fingerprint, MediaKind, Offer,
    OfferedMedia, OfferedSsrc, ParseOptions, Setup, SsrcGroup,
};

/// Why an offer could not be parsed or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line is not SDP (`<letter>=<value>`), or a known attribute has a
    /// malformed value.
    #[error("unparsable SDP at line {line}: {reason}: {text:?}")]
    Unparsable {
        /// 1-based line number in the offer.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
        /// The offending line (cut to 120 characters).
        text: String,
    },
    /// The offer has no m-line at all.
    #[error("SDP offer has no media (no m= line)")]
    NoMedia,
    /// No `a=ice-ufrag` at session level or in any m-line.
    #[error("SDP offer has no a=ice-ufrag (session or media level)")]
    MissingIceUfrag,
    /// No `a=ice-pwd` at session level or in any m-line.
    #[error("SDP offer has no a=ice-pwd (session or media level)")]
    MissingIcePwd,
    /// No `a=fingerprint` at session level or in any m-line.
    #[error("SDP offer has no a=fingerprint (session or media level)")]
    MissingFingerprint,
    /// Fingerprints are present but none uses a hash we can verify.
    #[error("SDP offer has only unsupported fingerprint algorithms: {algorithms}")]
    UnsupportedFingerprint {
        /// The algorithms offered, comma separated.
        algorithms: String,
    },
    /// A fingerprint with a supported algorithm has a malformed value.
    #[error("SDP offer has a malformed {algorithm} fingerprint: {value:?}")]
    BadFingerprint {
        /// The hash algorithm named (lowercase).
        algorithm: String,
        /// The value as offered.
        value: String,
    },
    /// `a=setup` is not one of actpass, active, passive.
    #[error("SDP offer has a bad a=setup value: {value:?} (want actpass, active or passive)")]
    BadSetup {
        /// The value as offered.
        value: String,
    },
    /// No m-line got a codec we can use (or would accept for this role).
    #[error("no supported codec in the offer; offered: {offered}")]
    NoSupportedCodec {
        /// What each m-line offered, e.g. `audio: PCMU/8000; video: H264/90000 (packetization-mode=0)`.
        offered: String,
    },
    /// [`AnswerOptions::play`] is `None` for [`Role::Play`].
    #[error("play answer requested without play options (ssrcs, cname)")]
    MissingPlayOptions,
}
