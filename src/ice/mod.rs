//! STUN messages and the ICE-lite agent (sans-IO).
//!
//! - [`stun`]: parse a datagram into a zero-copy [`StunMessage`], verify
//!   MESSAGE-INTEGRITY and FINGERPRINT, write Binding requests and responses.
//! - [`agent`]: [`IceLite`], one per session: answers checks, tracks validated
//!   and nominated client addresses, times out.
//! - [`framing`]: RFC 4571 framing of packets on ICE-TCP connections.
//!
//! The runtime's path for a STUN datagram (first byte 0..=3, RFC 7983):
//! [`local_ufrag_of`] finds the session without crypto, [`parse`] the
//! datagram, [`IceLite::handle_binding_request`] verifies it and writes the
//! answer; errors are counted and dropped, never answered.

pub mod agent;
pub mod framing;
pub mod stun;
mod stun_write;

#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod tests;

pub use agent::{CheckOutcome, IceError, IceEvent, IceLite, MAX_VALIDATED};
pub use stun::{
    local_ufrag_of, parse, write_binding_error, write_binding_request, write_binding_success,
    write_binding_success_with, BindingRequest, IntegrityKey, StunAttribute, StunClass, StunError,
    StunMessage,
};

#[cfg(any(test, feature = "fuzz"))]
/// Fuzz entry (fuzz/fuzz_targets/stun.rs): parse arbitrary bytes, check what
/// the view claims, verify integrity and fingerprint, feed an agent whose
/// credentials match the SRS test vector, at time `t0`. Never panics on any input; lives
/// in the library so it cannot rot.
#[doc(hidden)]
pub fn fuzz_stun(data: &[u8], t0: std::time::Instant) {
    use std::time::Duration;

    const UFRAG: &str = "6pk11386";
    const PWD: &str = "l91z529147ri9163933p51c4";

    let _ = local_ufrag_of(data);
    let Ok(msg) = parse(data) else { return };
    assert_eq!(msg.as_bytes().len(), data.len());
    // The attributes tile the message exactly.
    let mut end = stun::HEADER_LEN;
    for attr in msg.attributes() {
        assert_eq!(attr.offset, end);
        end = attr.offset + 4 + attr.value.len().div_ceil(4) * 4;
    }
    assert_eq!(end, data.len());
    let _ = msg.verify_integrity(PWD.as_bytes());
    let _ = msg.verify_fingerprint();
    let _ = msg.split_username();

    let from = std::net::SocketAddr::from(([192, 0, 2, 1], 5000));
    let mut agent = IceLite::new(UFRAG, PWD, None, Duration::from_secs(30), t0);
    let mut out = Vec::new();
    match agent.handle_binding_request(t0, from, &msg, &mut out) {
        Ok(_) => {
            // Our answer must be a valid, authenticated success response.
            let resp = parse(&out).expect("our own response parses");
            assert!(resp.verify_integrity(PWD.as_bytes()) && resp.verify_fingerprint());
            assert_eq!(resp.xor_mapped_address(), Some(from));
            assert!(agent.is_validated(from));
        }
        Err(_) => assert!(out.is_empty() && !agent.is_validated(from)),
    }
    while agent.poll_event().is_some() {}
}
