//! ICE restart of the ICE-lite agent (WHIP's `PATCH`, RFC 8445 §9).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

const PWD: &str = "server-password-0123456789";
const NEW_PWD: &str = "new-server-password-98765";

fn request(txid: u8, username: &str, pwd: &str, use_candidate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let req = BindingRequest {
        username,
        priority: 1,
        ice_controlling: Some(7),
        use_candidate,
    };
    write_binding_request(&[txid; 12], &req, pwd.as_bytes(), &mut out);
    out
}

fn check(
    a: &mut IceLite,
    now: Instant,
    from: SocketAddr,
    buf: &[u8],
) -> Result<CheckOutcome, IceError> {
    let msg = parse(buf).unwrap();
    a.handle_binding_request(now, from, &msg, &mut Vec::new())
}

#[test]
fn old_credentials_work_until_the_new_ones_are_used() {
    let t0 = Instant::now();
    let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut a = IceLite::new(
        "srv1",
        PWD,
        Some("cli1".into()),
        Duration::from_secs(30),
        t0,
    );
    check(&mut a, t0, from, &request(1, "srv1:cli1", PWD, true)).unwrap();
    assert_eq!(a.selected(), Some(from));

    assert_eq!(a.restart("srv2", NEW_PWD, Some("cli2".into())), None);
    assert_eq!((a.local_ufrag(), a.remote_ufrag()), ("srv2", Some("cli2")));
    assert_eq!(a.previous_ufrag(), Some("srv1"));
    assert_eq!(a.selected(), Some(from), "the media path stays");
    // Old generation still answered (consent on the old pair).
    check(&mut a, t0, from, &request(2, "srv1:cli1", PWD, false)).unwrap();
    // New ufrag with the old password, or the old client ufrag: refused.
    assert!(matches!(
        check(&mut a, t0, from, &request(3, "srv2:cli2", PWD, false)),
        Err(IceError::BadIntegrity(_))
    ));
    assert!(matches!(
        check(&mut a, t0, from, &request(4, "srv2:cli1", NEW_PWD, false)),
        Err(IceError::WrongRemoteUfrag { .. })
    ));
    // The new generation: accepted, and the old one ends.
    let o = check(&mut a, t0, from, &request(5, "srv2:cli2", NEW_PWD, true)).unwrap();
    assert!(!o.connected && !o.nominated, "same path: nothing new");
    assert_eq!(a.previous_ufrag(), None);
    assert!(matches!(
        check(&mut a, t0, from, &request(6, "srv1:cli1", PWD, false)),
        Err(IceError::UnknownUfrag(_))
    ));
    assert_eq!(a.restarts(), 1);
}

#[test]
fn a_second_restart_before_the_first_completes_keeps_the_working_one() {
    let t0 = Instant::now();
    let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut a = IceLite::new(
        "srv1",
        PWD,
        Some("cli1".into()),
        Duration::from_secs(30),
        t0,
    );
    check(&mut a, t0, from, &request(1, "srv1:cli1", PWD, true)).unwrap();
    assert_eq!(a.restart("srv2", NEW_PWD, Some("cli2".into())), None);
    assert_eq!(
        a.restart("srv3", NEW_PWD, Some("cli3".into())).as_deref(),
        Some("srv2")
    );
    check(&mut a, t0, from, &request(2, "srv1:cli1", PWD, false)).unwrap();
    assert!(check(&mut a, t0, from, &request(3, "srv2:cli2", NEW_PWD, false)).is_err());
    check(&mut a, t0, from, &request(4, "srv3:cli3", NEW_PWD, false)).unwrap();
    // A new address after the restart is validated and may be nominated.
    let to: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let o = check(&mut a, t0, to, &request(5, "srv3:cli3", NEW_PWD, true)).unwrap();
    assert!(o.new_address && o.nominated && o.switched);
}
