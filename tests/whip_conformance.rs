//! WHIP/WHEP as RFC 9725 (and the WHEP draft) specify, against the real
//! server over real sockets: every status code of the endpoint and of the
//! session resource (OPTIONS 204 with `Accept-Post`, POST 201 with `ETag`,
//! `Link` and `Location`, PATCH 204/200/400/404/412/415/428, GET/HEAD 200,
//! DELETE 200 then 404, Bearer 401, full 503 + `Retry-After`), the same
//! refusals from the legacy JSON API, and an ICE restart that keeps DTLS
//! and SRTP: media sent before and after it is received, and the new
//! credentials route to the same session.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::{offer_announcing, Peer};
use common::*;
use shardsfu::dtls::{DtlsCert, DtlsEvent};
use shardsfu::ice;

const FRAG: &str = "application/trickle-ice-sdpfrag";
const STUN_URI: &str = "stun:127.0.0.1:3478";

fn headers_named<'a>(r: &'a Resp, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The path and query of a `Location`.
fn resource(r: &Resp) -> String {
    r.header("location")
        .unwrap_or_else(|| panic!("no Location: {}", r.body))
        .to_owned()
}

/// A hook endpoint that allows everything and keeps the bodies.
fn hook_server() -> (SocketAddr, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            kept.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or_default());
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{\"code\":0}",
            );
        }
    });
    (addr, bodies)
}

fn start(max_connections: u32) -> (Server, SocketAddr, Arc<Mutex<Vec<serde_json::Value>>>) {
    let ports = Ports::free();
    let (hooks, bodies) = hook_server();
    let conf = config(ports, 2, "")
        .replace(
            "max_connections 1000;",
            &format!("max_connections {max_connections};"),
        )
        .replace(
            "candidate 127.0.0.1; }",
            &format!("candidate 127.0.0.1; ice_servers {STUN_URI}; }}"),
        )
        + &format!(
            "vhost secure {{ rtc {{ enabled on; bearer_token s3cret; }} \
             http_hooks {{ enabled on; on_publish http://{hooks}/hook; }} }}\n"
        );
    let srv = Server::start(&conf, ports, &[]);
    (srv, hooks, bodies)
}

fn whip_offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/chromium156_whip.sdp")).unwrap()
}

#[test]
fn endpoint_options_post_and_every_resource_status() {
    let (srv, _, _) = start(1000);
    let api = srv.api;
    // OPTIONS on the endpoint: 204, Accept-Post, the ICE server, and still a
    // CORS preflight.
    let o = exchange(
        api,
        "OPTIONS",
        "/rtc/v1/whip/?app=live&stream=a",
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert_eq!(o.status, 204);
    assert_eq!(o.header("accept-post"), Some("application/sdp"));
    assert_eq!(
        o.header("link"),
        Some(&*format!("<{STUN_URI}>; rel=\"ice-server\""))
    );
    assert_eq!(
        o.header("access-control-allow-origin"),
        Some("http://example.com")
    );
    assert!(o
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    assert!(o
        .header("access-control-allow-headers")
        .unwrap()
        .contains("If-Match"));
    assert!(o
        .header("access-control-expose-headers")
        .unwrap()
        .contains("ETag"));

    // POST: 201 with Location, a strong ETag, the ICE server, Accept-Patch.
    let p = exchange(
        api,
        "POST",
        "/rtc/v1/whip/?app=live&stream=a",
        &[("Content-Type", "application/sdp")],
        &whip_offer(),
    );
    assert_eq!(p.status, 201, "{}", p.body);
    let etag = p.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(
        headers_named(&p, "link"),
        [format!("<{STUN_URI}>; rel=\"ice-server\"")]
    );
    assert_eq!(p.header("accept-patch"), Some(FRAG));
    let loc = resource(&p);
    let o = exchange(api, "OPTIONS", &loc, &[], "");
    assert_eq!((o.status, o.header("accept-patch")), (204, Some(FRAG)));

    // PATCH: 415 for another media type, 400 for a bad fragment.
    let cand = "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n";
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", "application/sdp")],
        cand,
    );
    assert_eq!(r.status, 415, "{}", r.body);
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG)],
        "a=candidate:x\r\n",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // Trickle: 204, with or without If-Match; a stale If-Match is 412.
    assert_eq!(
        exchange(api, "PATCH", &loc, &[("Content-Type", FRAG)], cand).status,
        204
    );
    let eoc = format!("{cand}a=end-of-candidates\r\n");
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", &etag)],
        &eoc,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", "\"stale\"")],
        cand,
    );
    assert_eq!(r.status, 412, "{}", r.body);

    // GET and HEAD: the session, its ETag; end-of-candidates was honoured.
    let g = exchange(api, "GET", &loc, &[], "");
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.header("etag"), Some(&*etag));
    let j = g.json();
    assert_eq!(
        (j["role"].as_str(), j["stream"].as_str()),
        (Some("publish"), Some("live/a"))
    );
    assert_eq!(j["ice"]["candidates"], 2, "{j}");
    assert_eq!(j["ice"]["end_of_candidates"], true);
    let h = exchange(api, "HEAD", &loc, &[], "");
    assert_eq!((h.status, h.body.as_str()), (200, ""));
    assert_eq!(h.header("etag"), Some(&*etag));

    // ICE restart: 428 without If-Match, 412 with a stale one, 200 with it.
    let restart = "a=ice-ufrag:NEW1\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n";
    let r = exchange(api, "PATCH", &loc, &[("Content-Type", FRAG)], restart);
    assert_eq!(r.status, 428, "{}", r.body);
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", "\"nope\"")],
        restart,
    );
    assert_eq!(r.status, 412, "{}", r.body);
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", &etag)],
        restart,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some(FRAG));
    let new_etag = r.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert!(
        r.body.contains("a=ice-ufrag:") && r.body.contains("a=ice-pwd:"),
        "{}",
        r.body
    );
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", &etag)],
        cand,
    );
    assert_eq!(r.status, 412, "the old ETag is stale now");
    let g = exchange(api, "GET", &loc, &[], "");
    assert_eq!(g.header("etag"), Some(&*new_etag));
    assert_eq!(g.json()["ice"]["restarts"], 1);

    // Methods the endpoint does not serve: 405 with Allow.
    let r = exchange(api, "PUT", "/rtc/v1/whip/", &[], "");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("PATCH"));

    // DELETE: 200, then 404 for DELETE, PATCH and GET.
    assert_eq!(exchange(api, "DELETE", &loc, &[], "").status, 200);
    assert_eq!(exchange(api, "DELETE", &loc, &[], "").status, 404);
    assert_eq!(
        exchange(api, "PATCH", &loc, &[("Content-Type", FRAG)], cand).status,
        404
    );
    assert_eq!(exchange(api, "GET", &loc, &[], "").status, 404);
    assert_eq!(exchange(api, "HEAD", &loc, &[], "").status, 404);
}

#[test]
fn bearer_tokens_guard_the_vhost_and_reach_the_hooks() {
    let (srv, _, bodies) = start(1000);
    let api = srv.api;
    let url = "/rtc/v1/whip/?app=live&stream=b&vhost=secure";
    let sdp = [("Content-Type", "application/sdp")];
    let r = exchange(api, "POST", url, &sdp, &whip_offer());
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"shardsfu\"")
    );
    let wrong = [
        ("Content-Type", "application/sdp"),
        ("Authorization", "Bearer nope"),
    ];
    let r = exchange(api, "POST", url, &wrong, &whip_offer());
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let good = [
        ("Content-Type", "application/sdp"),
        ("Authorization", "Bearer s3cret"),
    ];
    let r = exchange(api, "POST", url, &good, &whip_offer());
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = bodies.lock().unwrap().clone();
    assert!(
        hook.iter().any(|b| b["action"] == "on_publish"
            && b["param"].as_str().unwrap_or("").contains("token=s3cret")),
        "{hook:?}"
    );
    // The session resource of that vhost wants the token too.
    let loc = resource(&r);
    let cand = "a=candidate:1 1 udp 1 127.0.0.1 5 typ host\r\n";
    let r = exchange(api, "PATCH", &loc, &[("Content-Type", FRAG)], cand);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = exchange(
        api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("Authorization", "Bearer s3cret")],
        cand,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(exchange(api, "DELETE", &loc, &[], "").status, 401);
    assert_eq!(
        exchange(
            api,
            "DELETE",
            &loc,
            &[("Authorization", "Bearer s3cret")],
            ""
        )
        .status,
        200
    );
    // The legacy JSON API: the header, or the stream URL's token=.
    let legacy = |streamurl: &str, auth: Option<&str>| {
        let body = serde_json::json!({ "streamurl": streamurl, "sdp": whip_offer() }).to_string();
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        exchange(api, "POST", "/rtc/v1/publish/", &h, &body)
    };
    let r = legacy("webrtc://secure/live/c", None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(r.json()["code"], 4401);
    let r = legacy("webrtc://secure/live/c?token=s3cret", None);
    assert_eq!(
        (r.status, r.json()["code"].as_i64()),
        (200, Some(0)),
        "{}",
        r.body
    );
    let r = legacy("webrtc://secure/live/d", Some("Bearer s3cret"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn full_is_503_with_retry_after_in_both_apis() {
    // max_connections bounds HTTP connections and sessions apart: 2 lets
    // each request in and holds two sessions.
    let (srv, _, _) = start(2);
    let api = srv.api;
    let sdp = [("Content-Type", "application/sdp")];
    for stream in ["e", "f"] {
        let url = format!("/rtc/v1/whip/?app=live&stream={stream}");
        let r = exchange(api, "POST", &url, &sdp, &whip_offer());
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = exchange(
        api,
        "POST",
        "/rtc/v1/whip/?app=live&stream=g",
        &sdp,
        &whip_offer(),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r
        .header("retry-after")
        .is_some_and(|s| s.parse::<u32>().is_ok()));
    let body =
        serde_json::json!({ "streamurl": "webrtc://h/live/h", "sdp": whip_offer() }).to_string();
    let json = [("Content-Type", "application/json")];
    let r = exchange(api, "POST", "/rtc/v1/publish/", &json, &body);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
}

/// A STUN check from `sock`; whether it was answered with `pwd`'s integrity.
fn check(sock: &UdpSocket, to: SocketAddr, txid: u8, user: (&str, &str), pwd: &str) -> bool {
    let out = binding_check(&[txid; 12], user.0, user.1, pwd);
    sock.send_to(&out, to).unwrap();
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) if buf[0] < 2 => {
                return ice::parse(&buf[..n]).is_ok_and(|m| {
                    *m.transaction_id() == [txid; 12] && m.verify_integrity(pwd.as_bytes())
                })
            }
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn ice_restart_keeps_dtls_and_srtp() {
    let (srv, _, _) = start(1000);
    let cert = DtlsCert::generate().unwrap();
    let offer = offer_announcing("aiortc_whip_h264.sdp", &cert.fingerprint_sha256());
    let (client_ufrag, _) = ice_credentials(&offer);
    let p = exchange(
        srv.api,
        "POST",
        "/rtc/v1/whip/?app=live&stream=r",
        &[("Content-Type", "application/sdp")],
        &offer,
    );
    assert_eq!(p.status, 201, "{}", p.body);
    let loc = resource(&p);
    let etag = p.header("etag").unwrap().to_owned();
    let (ufrag, pwd) = ice_credentials(&p.body);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(check(&sock, srv.rtc, 1, (&ufrag, &client_ufrag), &pwd));
    let fingerprint = p
        .body
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("a=fingerprint:sha-256 ")
                .map(str::to_owned)
        })
        .unwrap();
    let mut peer = Peer {
        sock,
        server: srv.rtc,
        answer: p.body.clone(),
        server_fingerprint: fingerprint,
        srtp: None,
        location: None,
    };
    assert!(
        matches!(peer.handshake(&cert), Some(DtlsEvent::Connected { .. })),
        "{}",
        srv.log()
    );
    let send = |peer: &mut Peer, seqs: std::ops::Range<u16>| {
        for seq in seqs {
            // An Opus packet of the offer's audio source (as tests/media_bad_input.rs).
            let mut pkt = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0, 0xf5, 0x5e, 0x56, 0x2d];
            pkt[2..4].copy_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&[0xfc; 60]);
            let srtp = peer.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
            peer.sock.send_to(&srtp, peer.server).unwrap();
        }
    };
    send(&mut peer, 1..21);
    assert!(
        srv.wait_for_counter("rtp_received", 20) >= 20,
        "{}",
        srv.log()
    );

    // The restart: new client credentials, the server's new ones back.
    let frag = "a=ice-ufrag:rst2\r\na=ice-pwd:0123456789abcdefghijklmn\r\n";
    let r = exchange(
        srv.api,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", &etag)],
        frag,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (new_ufrag, new_pwd) = ice_credentials(&r.body);
    assert_ne!(new_ufrag, ufrag);
    assert_eq!(srv.wait_for_counter("ice_restarts", 1), 1);
    // Until the client uses the new credentials the old ones still work;
    // the new server ufrag with the old client ufrag is refused.
    assert!(check(&peer.sock, srv.rtc, 2, (&ufrag, &client_ufrag), &pwd));
    assert!(!check(
        &peer.sock,
        srv.rtc,
        3,
        (&new_ufrag, &client_ufrag),
        &new_pwd
    ));
    // The new credentials route to the same session (a second client socket
    // may land on another shard: the directory knows the new ufrag).
    assert!(
        check(&peer.sock, srv.rtc, 4, (&new_ufrag, "rst2"), &new_pwd),
        "{}",
        srv.log()
    );
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answered = false;
    for t in 5..15 {
        if check(&other, srv.rtc, t, (&new_ufrag, "rst2"), &new_pwd) {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "a check with the new ufrag from another address\n{}",
        srv.log()
    );
    // ...and the old generation is over.
    assert!(!check(
        &peer.sock,
        srv.rtc,
        20,
        (&ufrag, &client_ufrag),
        &pwd
    ));
    // DTLS and SRTP went on: media after the restart is received.
    send(&mut peer, 21..41);
    assert!(
        srv.wait_for_counter("rtp_received", 40) >= 40,
        "{}",
        srv.log()
    );
    assert_eq!(srv.totals()["dtls_connected"], 1, "no second handshake");
    assert_eq!(exchange(srv.api, "DELETE", &loc, &[], "").status, 200);
}
