//! SRS's "Connection Failures" checks, unchanged, against shardsfu started on
//! its embedded default configuration with `CANDIDATE=127.0.0.1`.
//!
//! Ports are SRS's (1985, 8000), bound to 127.0.0.1 through SRS's own
//! environment overrides.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

/// SRS's canned STUN Binding request (USERNAME 6pk11386:J8X7).
const SRS_STUN: &str = "000100502112a44274796d7a41512b2f4a4b77520006000d36706b31313338363a4a385837000000c05700040001000a802a0008daad1dcee8955a83002400046e7f1eff00080014568f1e1e4f5f17f92ea1ecbd51d9a227e4fddab18028000484d35a79";
const PWD: &str = "l91z529147ri9163933p51c4";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn srs_whip_and_stun_checks_pass() {
    let offer = std::fs::read_to_string(fixtures().join("sdp/srs_whip_offer.sdp")).unwrap();
    assert!(
        offer.contains("a=ice-ufrag:J8X7"),
        "the fixture is SRS's sample offer"
    );
    let ports = Ports {
        rtmp: free_port(),
        api: 1985,
        http: free_port(),
        rtc: 8000,
    };
    let srv = Server::start_with("", ports, &[("CANDIDATE", "127.0.0.1")], |cmd| {
        // An empty conf: no -c, the embedded default configuration.
        cmd.env("SRS_LISTEN", format!("127.0.0.1:{}", ports.rtmp));
        cmd.env("SRS_HTTP_API_LISTEN", "127.0.0.1:1985");
        cmd.env(
            "SRS_HTTP_SERVER_LISTEN",
            format!("127.0.0.1:{}", ports.http),
        );
        cmd.env("SRS_RTC_SERVER_LISTEN", "127.0.0.1:8000");
    });
    let url = "http://127.0.0.1:1985/rtc/v1/whip/?ice-ufrag=6pk11386&ice-pwd=l91z529147ri9163933p51c4&app=live&stream=livestream-1";
    let r = post(url, "application/sdp", &offer);
    assert_eq!(r.status, 201, "{}\n{}", r.body, srv.log());
    assert!(r.header("location").is_some());
    let cand = r
        .body
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .unwrap_or_else(|| panic!("no candidate in answer:\n{}", r.body));
    assert!(cand.contains(" 127.0.0.1 8000 typ host"), "{cand}");
    assert!(r.body.contains("a=ice-ufrag:6pk11386"));
    assert!(r.body.contains("a=ice-pwd:l91z529147ri9163933p51c4"));

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&hex(SRS_STUN), "127.0.0.1:8000").unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock
        .recv_from(&mut buf)
        .expect("a STUN answer from 127.0.0.1:8000");
    let resp = shardsfu::ice::parse(&buf[..n]).expect("a STUN message");
    assert_eq!(resp.class(), shardsfu::ice::StunClass::Success);
    assert_eq!(resp.transaction_id(), &hex(SRS_STUN)[8..20]);
    assert!(
        resp.verify_integrity(PWD.as_bytes()),
        "integrity verifies with the forced pwd"
    );
    assert!(resp.has_fingerprint() && resp.verify_fingerprint());
    assert_eq!(resp.xor_mapped_address(), Some(sock.local_addr().unwrap()));
    // And with a wrong key it does not: the check above can fail.
    assert!(!resp.verify_integrity(b"not-the-password-at-all"));

    // The newer docs' shorter offer has no fingerprint: 201 and ICE, as in
    // SRS, but never DTLS (no unauthenticated media).
    let location = r.header("location").unwrap().to_string();
    assert_eq!(
        delete(&format!("http://127.0.0.1:1985{location}")).status,
        200
    );
    let minimal =
        std::fs::read_to_string(fixtures().join("sdp/srs_whip_offer_minimal.sdp")).unwrap();
    assert!(!minimal.contains("a=fingerprint"));
    let r = post(url, "application/sdp", &minimal);
    assert_eq!(r.status, 201, "{}\n{}", r.body, srv.log());
    assert!(r.body.contains(" 127.0.0.1 8000 typ host"), "{}", r.body);
    sock.send_to(&hex(SRS_STUN), "127.0.0.1:8000").unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("a STUN answer");
    let resp = shardsfu::ice::parse(&buf[..n]).unwrap();
    assert_eq!(resp.class(), shardsfu::ice::StunClass::Success);
    assert!(resp.verify_integrity(PWD.as_bytes()));
    // A DTLS ClientHello record from the validated address is dropped
    // (counted), and nothing but STUN ever comes back.
    let hello = [22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    sock.send_to(&hello, "127.0.0.1:8000").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert!(sock.recv_from(&mut buf).is_err(), "no DTLS answer");
    let sum = get("http://127.0.0.1:1985/api/v1/summaries");
    let v: serde_json::Value = serde_json::from_str(&sum.body).unwrap();
    let totals = &v["data"]["totals"];
    assert_eq!(totals["dtls_connected"], 0, "{totals}");
    assert!(totals["dtls_dropped"].as_u64().unwrap() >= 1, "{totals}");
    assert!(
        srv.log().contains("no fingerprint"),
        "logged: {}",
        srv.log()
    );
}
