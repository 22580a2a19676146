//! Tests of the session resource's sans-IO rules.

use super::*;
use crate::http::Method;

fn ice() -> IceView {
    IceView {
        ufrag: "srv1".into(),
        remote_ufrag: "cli1".into(),
        ..IceView::default()
    }
}

fn patch(frag: &str, if_match: Option<&str>) -> Patch {
    Patch {
        token: "t".into(),
        frag: SdpFrag::parse(frag).unwrap(),
        if_match: if_match.map(str::to_owned),
    }
}

const NEW: &str = "servernewpassword0123456";
const CAND: &str = "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n";
const RESTART: &str = "a=ice-ufrag:cli2\r\na=ice-pwd:0123456789abcdefghijklmn\r\n";

#[test]
fn trickle_is_204_and_end_of_candidates_is_honoured() {
    let mut s = ice();
    let r = apply_patch(&mut s, &patch(CAND, None), "x", "y").unwrap();
    assert_eq!(
        r,
        Patched::Trickled {
            taken: 1,
            ignored: 0
        }
    );
    let with_ufrag = format!("a=ice-ufrag:cli1\r\n{CAND}a=end-of-candidates\r\n");
    let r = apply_patch(&mut s, &patch(&with_ufrag, Some("\"srv1\"")), "x", "y").unwrap();
    assert_eq!(
        r,
        Patched::Trickled {
            taken: 1,
            ignored: 0
        }
    );
    assert!(s.end_of_candidates);
    let r = apply_patch(&mut s, &patch(CAND, None), "x", "y").unwrap();
    assert_eq!(
        r,
        Patched::Trickled {
            taken: 0,
            ignored: 1
        },
        "after end-of-candidates"
    );
    assert_eq!(s.candidates, 2);
    assert_eq!(patched(Ok(r)).status, 204);
}

#[test]
fn ice_restart_needs_a_matching_if_match() {
    let mut s = ice();
    let e = apply_patch(&mut s, &patch(RESTART, None), "srv2", NEW).unwrap_err();
    assert_eq!(e.status(), 428);
    let e = apply_patch(&mut s, &patch(RESTART, Some("\"old\"")), "srv2", NEW).unwrap_err();
    assert_eq!(e.status(), 412);
    assert!(e.to_string().contains("\"old\"") && e.to_string().contains("\"srv1\""));
    let e = apply_patch(&mut s, &patch(RESTART, Some("W/\"srv1\"")), "srv2", NEW).unwrap_err();
    assert_eq!(e.status(), 412, "weak tags never match strongly");
    assert_eq!(s, ice(), "refusals change nothing");
    let r = apply_patch(
        &mut s,
        &patch(RESTART, Some("\"a\", \"srv1\"")),
        "srv2",
        NEW,
    )
    .unwrap();
    assert!(
        matches!(&r, Patched::Restarted { ufrag, remote_ufrag, .. } if ufrag == "srv2" && remote_ufrag == "cli2")
    );
    assert_eq!(
        (s.ufrag.as_str(), s.remote_ufrag.as_str(), s.restarts),
        ("srv2", "cli2", 1)
    );
    let resp = patched(Ok(r));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("ETag"), Some("\"srv2\""));
    assert_eq!(resp.header("Content-Type"), Some(sdpfrag::CONTENT_TYPE));
    let f = SdpFrag::parse(std::str::from_utf8(&resp.body).unwrap()).unwrap();
    assert_eq!(
        (f.ice_ufrag.as_deref(), f.ice_pwd.as_deref()),
        (Some("srv2"), Some(NEW))
    );
    // The old ETag is stale now; `*` (RFC 9725's restart form) still passes.
    let again = "a=ice-ufrag:cli3\r\na=ice-pwd:0123456789abcdefghijklmn\r\n";
    let e = apply_patch(&mut s, &patch(again, Some("\"srv1\"")), "srv3", NEW).unwrap_err();
    assert_eq!(e.status(), 412);
    apply_patch(&mut s, &patch(again, Some("*")), "srv3", NEW).unwrap();
    let no_pwd = "a=ice-ufrag:cli9\r\n";
    let e = apply_patch(&mut s, &patch(no_pwd, Some("*")), "srv4", NEW).unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn patch_requests_are_read_strictly() {
    let req = |ct: &str, target: &str, body: &str| {
        Request::from_parts(
            Method::Patch,
            target,
            vec![
                ("Content-Type".into(), ct.into()),
                ("If-Match".into(), " \"e\" ".into()),
            ],
            body.as_bytes().to_vec(),
        )
        .unwrap()
    };
    let p = parse_patch(&req(sdpfrag::CONTENT_TYPE, "/rtc/v1/whip/?token=tk", CAND)).unwrap();
    assert_eq!(
        (p.token.as_str(), p.if_match.as_deref()),
        ("tk", Some("\"e\""))
    );
    let e = parse_patch(&req("application/sdp", "/rtc/v1/whip/?token=tk", CAND)).unwrap_err();
    assert_eq!(e.status(), 415);
    let e = parse_patch(&req(sdpfrag::CONTENT_TYPE, "/rtc/v1/whip/", CAND)).unwrap_err();
    assert_eq!(e.status(), 400);
    let e = parse_patch(&req(
        sdpfrag::CONTENT_TYPE,
        "/rtc/v1/whip/?token=t",
        "garbage",
    ))
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn bearer_tokens() {
    let tokens = vec!["s3cret".to_string(), "two".to_string()];
    assert!(check_bearer(&[], None).is_ok());
    assert!(check_bearer(&tokens, Some("two")).is_ok());
    let missing = check_bearer(&tokens, None).unwrap_err();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.challenge().as_deref(),
        Some("Bearer realm=\"shardsfu\"")
    );
    let wrong = check_bearer(&tokens, Some("s3cre")).unwrap_err();
    assert!(wrong.challenge().unwrap().contains("invalid_token"));
    let resp = crate::api::whip::error(wrong);
    assert!(resp
        .header("WWW-Authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let req = Request::from_parts(
        Method::Post,
        "/rtc/v1/whip/",
        vec![("Authorization".into(), "bearer  abc ".into())],
        Vec::new(),
    )
    .unwrap();
    assert_eq!(bearer(&req), Some("abc"));
    assert_eq!(param_with_token("", "t"), "?token=t");
    assert_eq!(param_with_token("?app=a", "t"), "?app=a&token=t");
    assert_eq!(param_with_token("?token=q&x=1", "t"), "?token=q&x=1");
}

#[test]
fn options_and_links() {
    let servers = vec!["stun:127.0.0.1:3478".to_string()];
    let req = |t: &str| Request::from_parts(Method::Options, t, Vec::new(), Vec::new()).unwrap();
    let ep = options(&req("/rtc/v1/whip/?app=live&stream=s"), &servers);
    assert_eq!(ep.status, 204);
    assert_eq!(ep.header("Accept-Post"), Some("application/sdp"));
    assert_eq!(
        ep.header("Link"),
        Some("<stun:127.0.0.1:3478>; rel=\"ice-server\"")
    );
    assert!(
        ep.header("Access-Control-Allow-Methods").is_some(),
        "still a preflight"
    );
    let res = options(&req("/rtc/v1/whip/?token=x"), &[]);
    assert_eq!(res.header("Accept-Patch"), Some(sdpfrag::CONTENT_TYPE));
    assert_eq!(res.header("Link"), None);
}
