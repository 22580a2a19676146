//! Tests for the STUN codec and the ICE-lite agent (virtual time).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::stun::{
    ATTR_FINGERPRINT, ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USERNAME, ATTR_USE_CANDIDATE,
    ATTR_XOR_MAPPED_ADDRESS, METHOD_BINDING,
};
use super::stun_write::MessageWriter;
use super::*;

/// SRS's canned Binding request (trunk/src/utest/srs_utest_rtc.cpp).
const SRS_REQUEST: &str = "000100502112a44274796d7a41512b2f4a4b77520006000d36706b31313338363a4a385837000000c05700040001000a802a0008daad1dcee8955a83002400046e7f1eff00080014568f1e1e4f5f17f92ea1ecbd51d9a227e4fddab18028000484d35a79";
const SRS_PWD: &str = "l91z529147ri9163933p51c4";

const UFRAG: &str = "srvufrag";
const PWD: &str = "server-password-0123456789";
const CLIENT_UFRAG: &str = "cli1";
const TIMEOUT: Duration = Duration::from_secs(30);

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A Binding request from the client to our session, built by our writer.
fn request(txid: u8, use_candidate: bool) -> Vec<u8> {
    request_with(txid, &format!("{UFRAG}:{CLIENT_UFRAG}"), PWD, use_candidate)
}

fn request_with(txid: u8, username: &str, pwd: &str, use_candidate: bool) -> Vec<u8> {
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
fn srs_vector_parses_and_verifies() {
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
fn success_round_trip_v4_and_v6() {
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
fn request_round_trip() {
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
fn error_response_round_trip() {
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
fn class_and_method_bits_round_trip() {
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
fn local_ufrag_without_colon_and_without_username() {
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
fn attributes_after_integrity_are_ignored() {
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
fn large_message_integrity_uses_heap_copy() {
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
fn error_truncated_header() {
    let buf = hex(SRS_REQUEST);
    assert_eq!(parse(&buf[..19]).unwrap_err(), StunError::Truncated(19));
    assert_eq!(parse(&[]).unwrap_err(), StunError::Truncated(0));
}

#[test]
fn error_not_stun_and_bad_cookie() {
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
fn error_length_not_multiple_of_four() {
    let mut buf = hex(SRS_REQUEST);
    buf[2..4].copy_from_slice(&37u16.to_be_bytes());
    assert_eq!(parse(&buf).unwrap_err(), StunError::BadLength(37));
    assert!(StunError::BadLength(37).to_string().contains("37"));
}

#[test]
fn error_length_mismatch() {
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
fn error_attribute_overrun() {
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

const MAGIC_COOKIE_BYTES: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

#[test]
fn error_bad_attribute_lengths() {
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
fn error_username_not_utf8_and_bad_family() {
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
fn error_attribute_after_fingerprint() {
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
fn bad_integrity_and_bad_fingerprint_are_detected() {
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

// ------------------------------------------------------------------ ICE-lite agent

/// An agent for our session, created at `t0`, knowing the client's ufrag.
fn agent(t0: Instant) -> IceLite {
    IceLite::new(UFRAG, PWD, Some(CLIENT_UFRAG.into()), TIMEOUT, t0)
}

fn check(
    agent: &mut IceLite,
    now: Instant,
    from: &str,
    buf: &[u8],
) -> (Result<CheckOutcome, IceError>, Vec<u8>) {
    let msg = parse(buf).unwrap();
    let mut out = Vec::new();
    let res = agent.handle_binding_request(now, addr(from), &msg, &mut out);
    (res, out)
}

fn events(agent: &mut IceLite) -> Vec<IceEvent> {
    std::iter::from_fn(|| agent.poll_event()).collect()
}

#[test]
fn check_then_nomination_like_aiortc() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let from = "127.0.0.1:40000";
    assert!(!a.is_validated(addr(from)));

    let (res, out) = check(&mut a, t0, from, &request(1, false));
    let outcome = res.unwrap();
    assert_eq!(
        outcome,
        CheckOutcome {
            connected: true,
            new_address: true,
            nominated: false,
            switched: false
        }
    );
    let resp = parse(&out).unwrap();
    assert_eq!(resp.class(), StunClass::Success);
    assert_eq!(resp.transaction_id(), &[1; 12]);
    assert!(resp.verify_integrity(PWD.as_bytes()));
    assert!(resp.verify_fingerprint());
    assert_eq!(resp.xor_mapped_address(), Some(addr(from)));
    assert_eq!(events(&mut a), [IceEvent::Connected(addr(from))]);
    assert!(a.is_validated(addr(from)));
    assert_eq!(a.selected(), None);

    let t1 = t0 + Duration::from_millis(50);
    let (res, out) = check(&mut a, t1, from, &request(2, true));
    assert_eq!(
        res.unwrap(),
        CheckOutcome {
            nominated: true,
            ..CheckOutcome::default()
        }
    );
    assert!(!out.is_empty());
    assert_eq!(events(&mut a), [IceEvent::Nominated(addr(from))]);
    assert_eq!(a.selected(), Some(addr(from)));

    // Repeated nominations and keep-alives change nothing.
    let (res, _) = check(&mut a, t1, from, &request(3, true));
    assert_eq!(res.unwrap(), CheckOutcome::default());
    let (res, _) = check(&mut a, t1, from, &request(4, false));
    assert_eq!(res.unwrap(), CheckOutcome::default());
    assert_eq!(events(&mut a), []);
    assert_eq!(a.selected(), Some(addr(from)));
}

#[test]
fn use_candidate_on_first_check() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let from = "[::1]:5000";
    let (res, out) = check(&mut a, t0, from, &request(1, true));
    let outcome = res.unwrap();
    assert!(outcome.connected && outcome.nominated && outcome.new_address && !outcome.switched);
    assert_eq!(parse(&out).unwrap().xor_mapped_address(), Some(addr(from)));
    assert_eq!(
        events(&mut a),
        [
            IceEvent::Connected(addr(from)),
            IceEvent::Nominated(addr(from))
        ]
    );
    assert_eq!(a.selected(), Some(addr(from)));
}

#[test]
fn nomination_from_new_address_switches() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let (wifi, lte) = ("10.0.0.5:5000", "100.64.1.9:6000");
    check(&mut a, t0, wifi, &request(1, true)).0.unwrap();
    events(&mut a);

    // A plain check from the new address validates it but keeps the selection.
    let (res, _) = check(&mut a, t0, lte, &request(2, false));
    let outcome = res.unwrap();
    assert!(outcome.new_address && !outcome.nominated && !outcome.connected);
    assert_eq!(a.selected(), Some(addr(wifi)));
    assert_eq!(events(&mut a), []);

    let (res, _) = check(&mut a, t0, lte, &request(3, true));
    let outcome = res.unwrap();
    assert!(outcome.nominated && outcome.switched && !outcome.new_address);
    assert_eq!(a.selected(), Some(addr(lte)));
    assert_eq!(events(&mut a), [IceEvent::Nominated(addr(lte))]);
    assert!(a.is_validated(addr(wifi)) && a.is_validated(addr(lte)));

    // A late keep-alive from the old path does not switch back.
    check(&mut a, t0, wifi, &request(4, false)).0.unwrap();
    assert_eq!(a.selected(), Some(addr(lte)));
}

#[test]
fn timeout_without_checks() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    assert_eq!(a.poll_timeout(), Some(t0 + TIMEOUT));
    a.handle_timeout(t0 + TIMEOUT - Duration::from_millis(1));
    assert_eq!(events(&mut a), []);
    assert!(!a.is_dead());

    a.handle_timeout(t0 + TIMEOUT);
    assert_eq!(events(&mut a), [IceEvent::TimedOut]);
    assert!(a.is_dead());
    assert_eq!(a.poll_timeout(), None);
    a.handle_timeout(t0 + TIMEOUT * 2);
    assert_eq!(events(&mut a), [], "TimedOut is emitted once");

    let (res, out) = check(&mut a, t0 + TIMEOUT * 2, "127.0.0.1:1", &request(1, true));
    assert_eq!(res.unwrap_err(), IceError::TimedOut);
    assert!(out.is_empty());
    assert!(!a.is_validated(addr("127.0.0.1:1")));
}

#[test]
fn late_check_does_not_revive() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    // The runtime's timer fired late: the check comes past the deadline.
    let (res, out) = check(
        &mut a,
        t0 + TIMEOUT + Duration::from_secs(1),
        "127.0.0.1:1",
        &request(1, false),
    );
    assert_eq!(res.unwrap_err(), IceError::TimedOut);
    assert!(out.is_empty());
    assert_eq!(events(&mut a), [IceEvent::TimedOut]);
}

#[test]
fn no_timeout_while_checks_keep_coming() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let from = "127.0.0.1:40000";
    let step = Duration::from_secs(5);
    let mut now = t0;
    for i in 0..40u8 {
        now += step;
        a.handle_timeout(now);
        check(&mut a, now, from, &request(i, i == 0)).0.unwrap();
        assert_eq!(a.poll_timeout(), Some(now + TIMEOUT));
    }
    let evs = events(&mut a);
    assert!(!evs.contains(&IceEvent::TimedOut), "{evs:?}");
    assert_eq!(a.selected(), Some(addr(from)));

    // Invalid checks do not keep the session alive.
    let deadline = now + TIMEOUT;
    let bad = request_with(99, &format!("{UFRAG}:{CLIENT_UFRAG}"), "wrong", false);
    check(&mut a, now + Duration::from_secs(20), from, &bad)
        .0
        .unwrap_err();
    assert_eq!(a.poll_timeout(), Some(deadline));
    a.handle_timeout(deadline);
    assert_eq!(events(&mut a), [IceEvent::TimedOut]);
    assert_eq!(a.selected(), None);
    assert!(!a.is_validated(addr(from)));
}

#[test]
fn time_going_backwards_is_ignored() {
    let t0 = Instant::now() + Duration::from_secs(100);
    let mut a = agent(t0);
    let t10 = t0 + Duration::from_secs(10);
    check(&mut a, t10, "127.0.0.1:1", &request(1, true))
        .0
        .unwrap();
    assert_eq!(a.poll_timeout(), Some(t10 + TIMEOUT));

    // A check stamped earlier counts as "now" (t10), not as t5.
    check(
        &mut a,
        t0 + Duration::from_secs(5),
        "127.0.0.1:1",
        &request(2, false),
    )
    .0
    .unwrap();
    assert_eq!(a.poll_timeout(), Some(t10 + TIMEOUT));

    // Time before creation neither times out nor moves the deadline.
    a.handle_timeout(t0 - Duration::from_secs(50));
    assert!(!a.is_dead());
    assert_eq!(a.poll_timeout(), Some(t10 + TIMEOUT));
    a.handle_timeout(t10 + TIMEOUT);
    assert_eq!(events(&mut a).last(), Some(&IceEvent::TimedOut));
}

#[test]
fn validated_addresses_are_bounded() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    check(&mut a, t0, "127.0.0.1:1000", &request(0, true))
        .0
        .unwrap();
    for port in 1001..1020u16 {
        let from = format!("127.0.0.1:{port}");
        check(&mut a, t0, &from, &request(1, false)).0.unwrap();
    }
    let validated: Vec<u16> = (1000..1020)
        .filter(|p| a.is_validated(addr(&format!("127.0.0.1:{p}"))))
        .collect();
    assert_eq!(validated.len(), MAX_VALIDATED);
    // The selected address survives although it is the oldest; the most recent stay.
    assert!(validated.contains(&1000));
    assert!(validated.contains(&1019));
    assert!(!validated.contains(&1001));
    assert_eq!(a.selected(), Some(addr("127.0.0.1:1000")));
}

#[test]
fn remote_ufrag_is_learnt_when_unknown() {
    let t0 = Instant::now();
    let mut a = IceLite::new(UFRAG, PWD, None, TIMEOUT, t0);
    let other = request_with(1, &format!("{UFRAG}:someone"), PWD, false);
    check(&mut a, t0, "127.0.0.1:1", &other).0.unwrap();
    let (res, _) = check(&mut a, t0, "127.0.0.1:1", &request(2, false));
    assert_eq!(
        res.unwrap_err(),
        IceError::WrongRemoteUfrag {
            expected: "someone".into(),
            got: CLIENT_UFRAG.into()
        }
    );
}

/// Each refused check writes nothing, emits nothing and validates nothing.
fn assert_refused(buf: &[u8], expected: IceError) {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let from = "127.0.0.1:9";
    let (res, out) = check(&mut a, t0, from, buf);
    assert_eq!(res.unwrap_err(), expected);
    assert!(out.is_empty());
    assert_eq!(events(&mut a), []);
    assert!(!a.is_validated(addr(from)));
    assert_eq!(a.poll_timeout(), Some(t0 + TIMEOUT));
}

#[test]
fn agent_refuses_bad_checks() {
    let from = addr("127.0.0.1:9");
    let user = format!("{UFRAG}:{CLIENT_UFRAG}");

    let mut resp = Vec::new();
    write_binding_success(&[1; 12], from, PWD.as_bytes(), &mut resp);
    assert_refused(&resp, IceError::NotARequest(StunClass::Success));

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, 0x003, &[1; 12]);
    w.attr(ATTR_USERNAME, user.as_bytes());
    w.integrity(&IntegrityKey::new(PWD.as_bytes()));
    w.fingerprint();
    assert_refused(&out, IceError::NotBinding(0x003));

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[1; 12]);
    w.integrity(&IntegrityKey::new(PWD.as_bytes()));
    w.fingerprint();
    assert_refused(&out, IceError::MissingUsername);

    assert_refused(
        &request_with(1, &format!("other:{CLIENT_UFRAG}"), PWD, true),
        IceError::UnknownUfrag(format!("other:{CLIENT_UFRAG}")),
    );
    assert_refused(
        &request_with(1, UFRAG, PWD, true),
        IceError::WrongRemoteUfrag {
            expected: CLIENT_UFRAG.into(),
            got: String::new(),
        },
    );
    assert_refused(
        &request_with(1, &format!("{UFRAG}:intruder"), PWD, true),
        IceError::WrongRemoteUfrag {
            expected: CLIENT_UFRAG.into(),
            got: "intruder".into(),
        },
    );

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[1; 12]);
    w.attr(ATTR_USERNAME, user.as_bytes());
    w.attr(ATTR_USE_CANDIDATE, &[]);
    w.fingerprint();
    assert_refused(&out, IceError::MissingIntegrity);

    assert_refused(
        &request_with(1, &user, "not-the-password", true),
        IceError::BadIntegrity(from),
    );

    let mut bad_fp = request(1, true);
    let last = bad_fp.len() - 1;
    bad_fp[last] ^= 1;
    assert_refused(&bad_fp, IceError::BadFingerprint(from));
}

#[test]
fn check_without_fingerprint_is_accepted() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, StunClass::Request, METHOD_BINDING, &[8; 12]);
    w.attr(ATTR_USERNAME, format!("{UFRAG}:{CLIENT_UFRAG}").as_bytes());
    w.integrity(&IntegrityKey::new(PWD.as_bytes()));
    assert!(check(&mut a, t0, "127.0.0.1:2", &out).0.unwrap().connected);
}

#[test]
fn srs_vector_through_the_agent() {
    let t0 = Instant::now();
    let mut a = IceLite::new("6pk11386", SRS_PWD, Some("J8X7".into()), TIMEOUT, t0);
    let buf = hex(SRS_REQUEST);
    let from = addr("192.168.1.20:61234");
    let (res, out) = check(&mut a, t0, "192.168.1.20:61234", &buf);
    assert!(res.unwrap().connected);
    let resp = parse(&out).unwrap();
    assert!(resp.verify_integrity(SRS_PWD.as_bytes()));
    assert_eq!(resp.xor_mapped_address(), Some(from));
}

#[test]
fn fuzz_entry_accepts_seeds_and_garbage() {
    let t0 = Instant::now();
    fuzz_stun(&hex(SRS_REQUEST), t0);
    fuzz_stun(&request(1, true), t0);
    fuzz_stun(&[], t0);
    fuzz_stun(&[0; 20], t0);
    let mut buf = hex(SRS_REQUEST);
    for i in 0..buf.len() {
        buf[i] ^= 0x5a;
        fuzz_stun(&buf, t0);
        buf[i] ^= 0x5a;
    }
}

#[test]
fn fuzz_seeds_are_valid_messages() {
    let req = include_bytes!("../../fuzz/corpus/stun/seed-request-use-candidate");
    let msg = parse(req).unwrap();
    assert!(msg.is_binding_request() && msg.use_candidate());
    assert_eq!(msg.split_username(), Some(("6pk11386", "J8X7")));
    assert!(msg.verify_integrity(SRS_PWD.as_bytes()) && msg.verify_fingerprint());

    let rsp = include_bytes!("../../fuzz/corpus/stun/seed-success-v6");
    let msg = parse(rsp).unwrap();
    assert_eq!(msg.class(), StunClass::Success);
    assert_eq!(msg.xor_mapped_address(), Some(addr("[2001:db8::1]:443")));
    assert!(msg.verify_integrity(SRS_PWD.as_bytes()) && msg.verify_fingerprint());

    let srs = include_bytes!("../../fuzz/corpus/stun/seed-srs-binding-request");
    assert_eq!(&srs[..], &hex(SRS_REQUEST)[..]);
}

/// A poor man's fuzz run (cargo-fuzz is not installed everywhere): seeded
/// random byte edits, truncations and extensions of valid messages.
#[test]
fn random_mutations_never_panic() {
    let t0 = Instant::now();
    let seeds = [hex(SRS_REQUEST), request(1, true), {
        let mut out = Vec::new();
        write_binding_success(
            &[3; 12],
            addr("[2001:db8::1]:443"),
            PWD.as_bytes(),
            &mut out,
        );
        out
    }];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..30_000 {
        let mut buf = seeds[i % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let r = next();
            let pos = (r >> 8) as usize % buf.len().max(1);
            match r % 4 {
                0 if !buf.is_empty() => buf[pos] = (r >> 32) as u8,
                1 => buf.truncate(pos),
                2 => buf.extend_from_slice(&(r as u32).to_be_bytes()),
                _ if buf.len() > 4 => buf[2 + (r >> 40) as usize % 2] ^= 1 << ((r >> 48) % 8),
                _ => {}
            }
        }
        fuzz_stun(&buf, t0);
    }
}
