//! Tests for the STUN codec and the ICE-lite agent (virtual time).

use std::net::SocketAddr;
use std::time::Duration;

use super::stun::{
    ATTR_FINGERPRINT, ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USERNAME, ATTR_USE_CANDIDATE,
    ATTR_XOR_MAPPED_ADDRESS, METHOD_BINDING,
};
use super::stun_write::MessageWriter;
use super::*;

/// SRS's canned Binding request (trunk/src/utest/srs_utest_rtc.cpp).
pub(super) const SRS_REQUEST: &str = "000100502112a44274796d7a41512b2f4a4b77520006000d36706b31313338363a4a385837000000c05700040001000a802a0008daad1dcee8955a83002400046e7f1eff00080014568f1e1e4f5f17f92ea1ecbd51d9a227e4fddab18028000484d35a79";
pub(super) const SRS_PWD: &str = "l91z529147ri9163933p51c4";

pub(super) const UFRAG: &str = "srvufrag";
pub(super) const PWD: &str = "server-password-0123456789";
pub(super) const CLIENT_UFRAG: &str = "cli1";
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A Binding request from the client to our session, built by our writer.
pub(super) fn request(txid: u8, use_candidate: bool) -> Vec<u8> {
    request_with(txid, &format!("{UFRAG}:{CLIENT_UFRAG}"), PWD, use_candidate)
}

pub(super) fn request_with(txid: u8, username: &str, pwd: &str, use_candidate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let req = BindingRequest {
        username,
        priority: 0x6e7f_1eff,
        ice_controlling: Some(0x1122_3344_5566_7788),
        use_candidate,
    };
    write_binding_request(&[txid; 12], &req, pwd.as_bytes(), &mut out);
    out
}

// ------------------------------------------------------------------ STUN codec

#[test]
pub(super) fn srs_vector_parses_and_verifies() {
    let buf = hex(SRS_REQUEST);
    let msg = parse(&buf).unwrap();
    assert_eq!(msg.class(), StunClass::Request);
    assert_eq!(msg.method(), METHOD_BINDING);
    assert!(msg.is_binding_request());
    assert_eq!(msg.transaction_id(), b"tymzAQ+/JKwR");
    assert_eq!(msg.username(), Some("6pk11386:J8X7"));
    assert_eq!(msg.split_username(), Some(("6pk11386", "J8X7")));
    assert_eq!(local_ufrag_of(&buf), Some("6pk11386"));
    assert_eq!(msg.priority(), Some(0x6e7f_1eff));
    assert_eq!(msg.ice_controlling(), Some(0xdaad_1dce_e895_5a83));
    assert_eq!(msg.ice_controlled(), None);
    assert!(!msg.use_candidate());
    assert_eq!(msg.integrity_offset(), Some(buf.len() - 8 - 24));
    assert!(msg.verify_integrity(SRS_PWD.as_bytes()));
    assert!(!msg.verify_integrity(b"l91z529147ri9163933p51c5"));
    assert!(msg.has_fingerprint());
    assert!(msg.verify_fingerprint());
    let types: Vec<u16> = msg.attributes().map(|a| a.typ).collect();
    assert_eq!(types, [0x0006, 0xc057, 0x802a, 0x0024, 0x0008, 0x8028]);

    let mapped = addr("192.168.3.7:53421");
    let mut out = vec![0xee]; // the response is appended after what is there
    write_binding_success(msg.transaction_id(), mapped, SRS_PWD.as_bytes(), &mut out);
    assert_eq!(out[0], 0xee);
    let resp = parse(&out[1..]).unwrap();
    assert_eq!(resp.class(), StunClass::Success);
    assert_eq!(resp.method(), METHOD_BINDING);
    assert_eq!(resp.transaction_id(), msg.transaction_id());
    assert!(resp.verify_integrity(SRS_PWD.as_bytes()));
    assert!(resp.verify_fingerprint() && resp.has_fingerprint());
    assert_eq!(resp.xor_mapped_address(), Some(mapped));
    // 20 header + 12 XOR-MAPPED-ADDRESS + 24 MI + 8 FINGERPRINT.
    assert_eq!(out.len() - 1, 64);
}

#[test]
pub(super) fn success_round_trip_v4_and_v6() {
    for mapped in [
        "1.2.3.4:1",
        "255.255.255.255:65535",
        "[::1]:8000",
        "[2001:db8::dead:beef%0]:443",
        "[fe80::1:2:3:4]:9",
    ] {
        let mapped = addr(mapped);
        let txid = *b"0123456789ab";
        let mut out = Vec::new();
        write_binding_success(&txid, mapped, PWD.as_bytes(), &mut out);
        let resp = parse(&out).unwrap();
        assert_eq!(resp.xor_mapped_address(), Some(mapped), "{mapped}");
        assert!(resp.verify_integrity(PWD.as_bytes()));
        assert!(!resp.verify_integrity(b"other"));
        assert!(resp.verify_fingerprint());
        let xor = resp
            .attributes()
            .find(|a| a.typ == ATTR_XOR_MAPPED_ADDRESS)
            .unwrap();
        assert_eq!(xor.value.len(), if mapped.is_ipv4() { 8 } else { 20 });
    }
}

#[test]
pub(super) fn request_round_trip() {
    for use_candidate in [false, true] {
        let buf = request(7, use_candidate);
        let msg = parse(&buf).unwrap();
        assert!(msg.is_binding_request());
        assert_eq!(msg.transaction_id(), &[7; 12]);
        assert_eq!(msg.split_username(), Some((UFRAG, CLIENT_UFRAG)));
        assert_eq!(msg.priority(), Some(0x6e7f_1eff));
        assert_eq!(msg.ice_controlling(), Some(0x1122_3344_5566_7788));
        assert_eq!(msg.use_candidate(), use_candidate);
        assert!(msg.verify_integrity(PWD.as_bytes()));
        assert!(msg.verify_fingerprint());
        assert_eq!(local_ufrag_of(&buf), Some(UFRAG));
    }
}

#[test]
pub(super) fn error_response_round_trip() {
    let txid = [9; 12];
    let mut out = Vec::new();
    write_binding_error(&txid, 487, "Role Conflict", Some(PWD.as_bytes()), &mut out);
    let msg = parse(&out).unwrap();
    assert_eq!(msg.class(), StunClass::Error);
    assert_eq!(msg.method(), METHOD_BINDING);
    assert_eq!(msg.error_code(), Some(487));
    assert!(msg.verify_integrity(PWD.as_bytes()));
    assert!(msg.verify_fingerprint());

    out.clear();
    write_binding_error(&txid, 401, "Unauthorized", None, &mut out);
    let msg = parse(&out).unwrap();
    assert_eq!(msg.error_code(), Some(401));
    assert_eq!(msg.integrity_offset(), None);
    assert!(!msg.verify_integrity(PWD.as_bytes()));
    assert!(msg.verify_fingerprint());
}

#[test]
pub(super) fn class_and_method_bits_round_trip() {
    for class in [
        StunClass::Request,
        StunClass::Indication,
        StunClass::Success,
        StunClass::Error,
    ] {
        for method in [0x001, 0x003, 0xabc, 0xfff] {
            let mut out = Vec::new();
            MessageWriter::new(&mut out, class, method, &[0; 12]).fingerprint();
            let msg = parse(&out).unwrap();
            assert_eq!((msg.class(), msg.method()), (class, method));
        }
    }
}

#[test]
pub(super) fn local_ufrag_without_colon_and_without_username() {
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[1; 12]);
    w.attr(ATTR_USERNAME, b"lonely");
    w.fingerprint();
    assert_eq!(local_ufrag_of(&out), Some("lonely"));
    assert_eq!(parse(&out).unwrap().split_username(), None);

    let mut out = Vec::new();
    MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[1; 12]).fingerprint();
    assert_eq!(local_ufrag_of(&out), None);
    assert_eq!(local_ufrag_of(b"\x16\xfe\xfd garbage that is DTLS"), None);
}

#[test]
pub(super) fn attributes_after_integrity_are_ignored() {
    let key = IntegrityKey::new(PWD.as_bytes());
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[2; 12]);
    w.attr(ATTR_USERNAME, format!("{UFRAG}:{CLIENT_UFRAG}").as_bytes());
    w.integrity(&key);
    w.attr(ATTR_USE_CANDIDATE, &[]);
    w.attr(ATTR_PRIORITY, &[0, 0, 0, 1]);
    w.fingerprint();
    let msg = parse(&out).unwrap();
    assert!(
        !msg.use_candidate(),
        "USE-CANDIDATE after MI is not authenticated"
    );
    assert_eq!(msg.priority(), None);
    assert!(msg.verify_integrity_with(&key));
    assert!(msg.verify_fingerprint());
    assert_eq!(msg.attributes().count(), 5);
}

#[test]
pub(super) fn large_message_integrity_uses_heap_copy() {
    let key = IntegrityKey::new(PWD.as_bytes());
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[3; 12]);
    w.attr(0x8022, &[b's'; 1000]); // SOFTWARE, unknown to us, makes the MI offset > 576
    w.integrity(&key);
    w.fingerprint();
    let msg = parse(&out).unwrap();
    assert!(msg.integrity_offset().unwrap() > 576);
    assert!(msg.verify_integrity_with(&key));
    assert!(!msg.verify_integrity(b"wrong"));
}

#[test]
pub(super) fn error_truncated_header() {
    let buf = hex(SRS_REQUEST);
    assert_eq!(parse(&buf[..19]).unwrap_err(), StunError::Truncated(19));
    assert_eq!(parse(&[]).unwrap_err(), StunError::Truncated(0));
}

#[test]
pub(super) fn error_not_stun_and_bad_cookie() {
    let mut buf = hex(SRS_REQUEST);
    buf[0] = 0x80;
    assert_eq!(parse(&buf).unwrap_err(), StunError::NotStun(0x80));
    let mut buf = hex(SRS_REQUEST);
    buf[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    assert_eq!(parse(&buf).unwrap_err(), StunError::BadCookie(0xdead_beef));
    assert_eq!(
        StunError::BadCookie(0xdead_beef).to_string(),
        "bad STUN magic cookie 0xdeadbeef"
    );
}

#[test]
pub(super) fn error_length_not_multiple_of_four() {
    let mut buf = hex(SRS_REQUEST);
    buf[2..4].copy_from_slice(&37u16.to_be_bytes());
    assert_eq!(parse(&buf).unwrap_err(), StunError::BadLength(37));
    assert!(StunError::BadLength(37).to_string().contains("37"));
}

#[test]
pub(super) fn error_length_mismatch() {
    let mut buf = hex(SRS_REQUEST);
    buf.extend_from_slice(&[0; 4]);
    assert_eq!(
        parse(&buf).unwrap_err(),
        StunError::LengthMismatch {
            declared: 80,
            actual: 84
        }
    );
    let buf = hex(SRS_REQUEST);
    assert_eq!(
        parse(&buf[..buf.len() - 4]).unwrap_err(),
        StunError::LengthMismatch {
            declared: 80,
            actual: 76
        }
    );
}

#[test]
pub(super) fn error_attribute_overrun() {
    // USERNAME claims 21 bytes (24 padded) but the message holds 16 after its header.
    let mut buf = vec![0x00, 0x01, 0x00, 20];
    buf.extend_from_slice(&MAGIC_COOKIE_BYTES);
    buf.extend_from_slice(&[0; 12]);
    buf.extend_from_slice(&[0x00, 0x06, 0x00, 21]);
    buf.extend_from_slice(&[b'a'; 16]);
    let err = parse(&buf).unwrap_err();
    assert_eq!(
        err,
        StunError::AttributeOverrun {
            attr: 0x0006,
            by: 8
        }
    );
    assert_eq!(
        err.to_string(),
        "STUN attribute 0x0006 overruns the message by 8 bytes"
    );
    // Padding counts: a 13-byte value needs 16 bytes.
    let mut buf = vec![0x00, 0x01, 0x00, 16];
    buf.extend_from_slice(&MAGIC_COOKIE_BYTES);
    buf.extend_from_slice(&[0; 12]);
    buf.extend_from_slice(&[0x00, 0x06, 0x00, 13]);
    buf.extend_from_slice(&[b'a'; 12]);
    assert_eq!(
        parse(&buf).unwrap_err(),
        StunError::AttributeOverrun {
            attr: 0x0006,
            by: 4
        }
    );
}

pub(super) const MAGIC_COOKIE_BYTES: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

#[test]
pub(super) fn error_bad_attribute_lengths() {
    for (typ, value) in [
        (ATTR_PRIORITY, &[0u8; 3][..]),
        (ATTR_USE_CANDIDATE, &[0u8; 4][..]),
        (ATTR_ICE_CONTROLLING, &[0u8; 4][..]),
        (0x0008, &[0u8; 19][..]),
        (ATTR_FINGERPRINT, &[0u8; 8][..]),
        (ATTR_XOR_MAPPED_ADDRESS, &[0, 1, 0][..]),
        (ATTR_XOR_MAPPED_ADDRESS, &[0, 1, 0, 0, 1, 2][..]),
        (ATTR_XOR_MAPPED_ADDRESS, &[0, 2, 0, 0, 1, 2, 3, 4][..]),
        (ATTR_USERNAME, &[b'u'; 600][..]),
        (0x0009, &[0, 0, 4][..]),
    ] {
        let mut out = Vec::new();
        let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[4; 12]);
        w.attr(typ, value);
        assert_eq!(
            parse(&out).unwrap_err(),
            StunError::BadAttributeLength {
                attr: typ,
                len: value.len() as u16
            },
            "attribute {typ:#06x} of {} bytes",
            value.len()
        );
    }
}

#[test]
pub(super) fn error_username_not_utf8_and_bad_family() {
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[5; 12]);
    w.attr(ATTR_USERNAME, &[0xff, 0xfe, b':', b'a']);
    assert_eq!(parse(&out).unwrap_err(), StunError::UsernameNotUtf8(4));

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Success, METHOD_BINDING, &[5; 12]);
    w.attr(ATTR_XOR_MAPPED_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4]);
    assert_eq!(parse(&out).unwrap_err(), StunError::BadAddressFamily(3));
}

#[test]
pub(super) fn error_attribute_after_fingerprint() {
    let mut out = request(6, false);
    let len = u16::from_be_bytes([out[2], out[3]]) + 4;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x25, 0x00, 0x00]);
    assert_eq!(
        parse(&out).unwrap_err(),
        StunError::AttributeAfterFingerprint(0x0025)
    );
}

#[test]
pub(super) fn bad_integrity_and_bad_fingerprint_are_detected() {
    // A flipped bit in the HMAC tag: integrity fails (and FINGERPRINT, which covers it).
    let mut buf = hex(SRS_REQUEST);
    let mi = parse(&buf).unwrap().integrity_offset().unwrap();
    buf[mi + 4] ^= 0x01;
    let msg = parse(&buf).unwrap();
    assert!(!msg.verify_integrity(SRS_PWD.as_bytes()));
    assert!(!msg.verify_fingerprint());

    // A flipped bit in the CRC only.
    let mut buf = hex(SRS_REQUEST);
    let last = buf.len() - 1;
    buf[last] ^= 0x80;
    let msg = parse(&buf).unwrap();
    assert!(msg.verify_integrity(SRS_PWD.as_bytes()));
    assert!(!msg.verify_fingerprint());

    // A flipped bit in USERNAME: both fail.
    let mut buf = hex(SRS_REQUEST);
    buf[24] ^= 0x01;
    let msg = parse(&buf).unwrap();
    assert!(!msg.verify_integrity(SRS_PWD.as_bytes()));
    assert!(!msg.verify_fingerprint());
}
