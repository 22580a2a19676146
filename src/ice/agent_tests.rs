//! Tests of the ICE-lite agent: checks, nomination, timeouts, bounds.

use super::stun::{ATTR_USERNAME, ATTR_USE_CANDIDATE, METHOD_BINDING};
use super::stun_write::MessageWriter;
use super::tests::*;
use super::*;
use std::time::{Duration, Instant};

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
