//! WHIP/WHEP and the legacy JSON API against the real server: the answers,
//! the session resource, and every bad input a stranger can send.

mod common;

use std::time::Duration;

use common::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("sdp").join(name)).unwrap()
}

fn whip(srv: &Server, stream: &str, offer: &str) -> Resp {
    post(
        &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        offer,
    )
}

fn whep(srv: &Server, stream: &str, offer: &str) -> Resp {
    post(
        &srv.api_url(&format!("/rtc/v1/whep/?app=live&stream={stream}")),
        "application/sdp",
        offer,
    )
}

fn start(extra: &str) -> Server {
    let ports = Ports::free();
    Server::start(&config(ports, 2, extra), ports, &[])
}

#[test]
fn whip_answer_has_what_webrtc_clients_need() {
    let srv = start("");
    for (i, (name, setup)) in [
        ("aiortc_whip_h264.sdp", "a=setup:passive"),
        ("chromium156_whip.sdp", "a=setup:passive"),
        ("ffmpeg8_whip_gnutls.sdp", "a=setup:active"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = whip(&srv, &format!("cam-{i}"), &fixture(name));
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/sdp"));
        let loc = r.header("location").expect("Location");
        assert!(loc.starts_with("/rtc/v1/whip/?"), "{loc}");
        let a = &r.body;
        for must in [
            "a=ice-lite",
            "a=group:BUNDLE",
            "a=rtcp-mux",
            "a=recvonly",
            "a=fingerprint:sha-256 ",
            setup,
        ] {
            assert!(a.contains(must), "{name}: answer lacks {must}:\n{a}");
        }
        // RFC 5506: reduced-size RTCP is answered only when it was offered.
        assert_eq!(
            a.contains("a=rtcp-rsize"),
            fixture(name).contains("a=rtcp-rsize"),
            "{name}:\n{a}"
        );
        assert!(a.contains("127.0.0.1"), "{name}: candidate 127.0.0.1:\n{a}");
        assert!(
            r.header("access-control-allow-origin").is_some(),
            "CORS on every response"
        );
    }
}

#[test]
fn whep_plays_what_is_published_and_delete_ends_it() {
    let srv = start("");
    let offer = fixture("aiortc_whip_h264.sdp");
    let play_offer = fixture("aiortc_whep_recvonly.sdp");
    // Nobody publishes yet: as in SRS, the player is admitted and waits.
    let early = whep(&srv, "show", &play_offer);
    assert_eq!(early.status, 201, "{}", early.body);
    assert!(early.body.contains("a=sendonly"), "{}", early.body);
    let pubr = whip(&srv, "show", &offer);
    assert_eq!(pubr.status, 201);
    let second = whip(&srv, "show", &offer);
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(
        second.body.contains("already publishing"),
        "{}",
        second.body
    );

    let play = whep(&srv, "show", &play_offer);
    assert_eq!(play.status, 201, "{}", play.body);
    assert!(play.body.contains("a=sendonly"), "{}", play.body);
    assert!(
        play.body.contains("a=ssrc:"),
        "a sendonly answer names its SSRCs:\n{}",
        play.body
    );
    assert!(play
        .header("location")
        .unwrap()
        .starts_with("/rtc/v1/whep/?"));

    // DELETE the publisher: its resource is gone and the stream is free again.
    let loc = pubr.header("location").unwrap().to_string();
    assert_eq!(delete(&srv.api_url(&loc)).status, 200);
    assert_eq!(
        delete(&srv.api_url(&loc)).status,
        404,
        "a second DELETE finds nothing"
    );
    assert_eq!(whep(&srv, "show", &play_offer).status, 201, "waits again");
    let sum: serde_json::Value =
        serde_json::from_str(&get(&srv.api_url("/api/v1/summaries")).body).unwrap();
    assert_eq!(sum["data"]["totals"]["players_waiting"], 2, "{sum}");
    assert_eq!(
        whip(&srv, "show", &offer).status,
        201,
        "the stream can be published again"
    );
}

#[test]
fn query_options_force_candidate_and_credentials() {
    let srv = start("");
    let offer = fixture("aiortc_whip_h264.sdp");
    let url = srv.api_url("/rtc/v1/whip/?app=live&stream=e&eip=10.9.8.7:9999&ice-ufrag=abcd1234&ice-pwd=0123456789abcdefghijklmn");
    let r = post(&url, "application/sdp", &offer);
    assert_eq!(r.status, 201, "{}", r.body);
    let cands: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(!cands.is_empty());
    assert_eq!(cands.len(), 2, "exactly the eip, in each m-line: {cands:?}");
    assert!(
        cands.iter().all(|c| c.contains(" 10.9.8.7 9999 typ host")),
        "{cands:?}"
    );
    assert!(r.body.contains("a=ice-ufrag:abcd1234"));
    assert!(r.body.contains("a=ice-pwd:0123456789abcdefghijklmn"));
    // The same forced ufrag cannot serve two sessions.
    let url2 = srv.api_url(
        "/rtc/v1/whip/?app=live&stream=f&ice-ufrag=abcd1234&ice-pwd=0123456789abcdefghijklmn",
    );
    assert_eq!(post(&url2, "application/sdp", &offer).status, 409);
}

#[test]
fn bad_input_gets_a_clear_4xx() {
    let srv = start("");
    let offer = fixture("aiortc_whip_h264.sdp");
    let url = srv.api_url("/rtc/v1/whip/?app=live&stream=bad");
    let r = post(&url, "text/plain", &offer);
    assert_eq!(r.status, 415, "{}", r.body);
    assert!(r.body.contains("application/sdp"));

    let no_ice: String = offer
        .lines()
        .filter(|l| !l.starts_with("a=ice-"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let no_media: String = offer
        .lines()
        .take_while(|l| !l.starts_with("m="))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let no_codec = offer
        .replace("H264/90000", "H265/90000")
        .replace("VP8/90000", "AV1X/90000")
        .replace("opus/48000", "speex/48000")
        .replace("PCMU/8000", "G7xx/8000")
        .replace("PCMA/8000", "G7yy/8000");
    for (what, body, needle) in [
        ("garbage", "this is not SDP".to_string(), ""),
        ("no ICE credentials", no_ice, "ice"),
        ("no media", no_media, "media"),
        ("no codec", no_codec, "codec"),
    ] {
        let r = post(&url, "application/sdp", &body);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(
            r.body.to_lowercase().contains(needle),
            "{what}: reason {:?} should mention {needle}",
            r.body
        );
    }
    // No app: SRS's default, `live` (tests/srs_checks.rs has the rest).
    let r = post(
        &srv.api_url("/rtc/v1/whip/?stream=x"),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201, "no app: {}", r.body);
    assert!(r.header("location").unwrap().contains("app=live&stream=x"));
    assert_eq!(
        post(
            &srv.api_url("/rtc/v1/whip/?app=live&stream=../x"),
            "application/sdp",
            &offer
        )
        .status,
        400
    );
    assert_eq!(
        post(
            &srv.api_url("/rtc/v1/whip/?app=live&stream=y&eip=not%20an%20ip"),
            "application/sdp",
            &offer
        )
        .status,
        400
    );
    assert_eq!(
        post(
            &srv.api_url("/rtc/v1/whip/?app=live&stream=y&ice-ufrag=a:b"),
            "application/sdp",
            &offer
        )
        .status,
        400
    );
    assert_eq!(delete(&srv.api_url("/rtc/v1/whip/?token=nope")).status, 404);
    assert_eq!(get(&srv.api_url("/api/v1/nothing")).status, 404);

    // HTTP-level limits.
    let big = format!("POST /rtc/v1/whip/?app=live&stream=z HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n", 70 * 1024);
    let reply = raw_http(srv.api, big.as_bytes(), Duration::from_secs(3));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let huge_header = format!(
        "GET /api/v1/versions HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let reply = raw_http(srv.api, huge_header.as_bytes(), Duration::from_secs(3));
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    let reply = raw_http(srv.api, b"BLAH\r\n\r\n", Duration::from_secs(3));
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    // The server still serves.
    assert_eq!(get(&srv.api_url("/api/v1/versions")).status, 200);
}

#[test]
fn cors_preflight_is_answered() {
    let srv = start("");
    let req = b"OPTIONS /rtc/v1/whip/?app=live&stream=s HTTP/1.1\r\nHost: x\r\nOrigin: http://127.0.0.1:8080\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n";
    let reply = raw_http(srv.api, req, Duration::from_secs(3)).to_lowercase();
    assert!(
        reply.starts_with("http/1.1 204") || reply.starts_with("http/1.1 200"),
        "{reply}"
    );
    for h in [
        "access-control-allow-origin:",
        "access-control-allow-methods:",
        "access-control-allow-headers:",
        "access-control-expose-headers: location",
    ] {
        assert!(reply.contains(h), "preflight lacks {h}:\n{reply}");
    }
    assert!(reply.contains("content-type"), "{reply}");
}

#[test]
fn legacy_json_api_publishes_and_plays() {
    let srv = start("");
    let offer = fixture("aiortc_whip_h264.sdp");
    let body = serde_json::json!({"api": srv.api_url("/rtc/v1/publish/"), "streamurl": "webrtc://127.0.0.1/live/legacy", "sdp": offer, "tid": "x1"});
    let r = post(
        &srv.api_url("/rtc/v1/publish/"),
        "application/json",
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["code"], 0);
    assert!(j["sdp"].as_str().unwrap().contains("a=recvonly"));
    assert!(j["sessionid"].as_str().unwrap().contains(':'));
    let again = post(
        &srv.api_url("/rtc/v1/publish/"),
        "application/json",
        &body.to_string(),
    );
    assert_eq!(again.status, 409);
    assert_ne!(again.json()["code"], 0);

    let play = serde_json::json!({"streamurl": "webrtc://127.0.0.1/live/legacy", "sdp": fixture("aiortc_whep_recvonly.sdp")});
    let r = post(
        &srv.api_url("/rtc/v1/play/"),
        "application/json",
        &play.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["sdp"].as_str().unwrap().contains("a=sendonly"));

    let r = post(
        &srv.api_url("/rtc/v1/play/"),
        "application/json",
        "{not json",
    );
    assert_eq!(r.status, 400);
    assert_ne!(r.json()["code"], 0);
    let bad_url = serde_json::json!({"streamurl": "rtmp://x/live/s", "sdp": offer});
    assert_eq!(
        post(
            &srv.api_url("/rtc/v1/play/"),
            "application/json",
            &bad_url.to_string()
        )
        .status,
        400
    );
}

#[test]
fn versions_summaries_and_static_files() {
    let srv = start("");
    let v = get(&srv.api_url("/api/v1/versions")).json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(s["data"]["shards"], 2);
    // `Server::start` waits for it: both shards have bound their sockets.
    assert_eq!(s["data"]["ready"], true);
    // And the log says so once, for whoever runs it without systemd.
    let line = "ready: every shard has bound its sockets";
    assert!(
        wait_until(Duration::from_secs(2), || srv.log().contains(line)),
        "{}",
        srv.log()
    );
    assert_eq!(srv.log().matches(line).count(), 1);
    assert_eq!(s["data"]["per_shard"].as_array().unwrap().len(), 2);
    assert!(s["data"]["self"]["mem_kbyte"].as_u64().unwrap() > 0);
    // Neither the command line (the configuration's path) nor the working
    // directory is told to whoever reaches the API.
    let body = get(&srv.api_url("/api/v1/summaries")).body;
    let me = std::env::current_dir().unwrap();
    assert!(
        s["data"]["self"].get("argv").is_none()
            && s["data"]["self"].get("cwd").is_none()
            && !body.contains("test.conf")
            && !body.contains(&*me.to_string_lossy()),
        "{body}"
    );
    let r = whip(&srv, "counted", &fixture("aiortc_whip_h264.sdp"));
    assert_eq!(r.status, 201);
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(s["data"]["sessions"], 1);
    assert_eq!(s["data"]["totals"]["sessions"], 1);

    let page = get(&format!("http://{}/index.html", srv.http));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("shardsfu test page"));
    assert_eq!(
        page.header("content-type")
            .map(|c| c.starts_with("text/html")),
        Some(true)
    );
    assert_eq!(
        get(&format!("http://{}/", srv.http)).status,
        200,
        "a directory serves index.html"
    );
    let escape = raw_http(
        srv.http,
        b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(!escape.contains("root:"), "no path escapes:\n{escape}");
    assert!(escape.starts_with("HTTP/1.1 40"), "{escape}");
    let escape2 = raw_http(
        srv.http,
        b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(!escape2.contains("root:"), "{escape2}");
}

#[test]
fn sessions_are_bounded_by_max_connections() {
    let ports = Ports::free();
    let conf = config(ports, 2, "").replace("max_connections 1000;", "max_connections 3;");
    let srv = Server::start(&conf, ports, &[]);
    let offer = fixture("aiortc_whip_h264.sdp");
    let mut locations = Vec::new();
    for i in 0..3 {
        let r = whip(&srv, &format!("m{i}"), &offer);
        assert_eq!(r.status, 201, "{}", r.body);
        locations.push(r.header("location").unwrap().to_string());
    }
    let r = whip(&srv, "m3", &offer);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("max_connections"), "{}", r.body);
    // A session that ends makes room again.
    assert_eq!(delete(&srv.api_url(&locations[0])).status, 200);
    let again = whip(&srv, "m3", &offer);
    assert_eq!(again.status, 201, "{}\n{}", again.body, srv.log());
}

/// `http_api { auth { } }` (SRS 5.0.152+): `/api/*` needs HTTP Basic
/// credentials (401 with a challenge and the reason otherwise); WHIP/WHEP and
/// CORS preflights do not, as in SRS.
#[test]
fn api_auth_guards_the_management_api_only() {
    use base64::Engine as _;
    let ports = Ports::free();
    let conf = config(ports, 2, "").replace(
        "http_api { enabled on;",
        "http_api { enabled on; auth { enabled on; username admin; password s3cr:et; }",
    );
    let srv = Server::start(&conf, ports, &[]);
    let get = |authorization: Option<String>| {
        let extra = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        raw_http(
            srv.api,
            format!(
                "GET /api/v1/summaries HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
            )
            .as_bytes(),
            Duration::from_secs(5),
        )
    };
    let basic = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };

    let none = get(None);
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    assert!(
        none.contains("WWW-Authenticate: Basic realm=\"SRS\""),
        "{none}"
    );
    assert!(none.contains("no Authorization header"), "{none}");
    let wrong = get(Some(basic("admin:nope")));
    assert!(
        wrong.starts_with("HTTP/1.1 401") && wrong.contains("wrong username or password"),
        "{wrong}"
    );
    let garbled = get(Some("Basic %%%".into()));
    assert!(
        garbled.starts_with("HTTP/1.1 401") && garbled.contains("not base64"),
        "{garbled}"
    );
    let right = get(Some(basic("admin:s3cr:et")));
    assert!(
        right.starts_with("HTTP/1.1 200") && right.contains("\"totals\""),
        "{right}"
    );

    // curl's own Basic encoding.
    if let Ok(out) = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "admin:s3cr:et",
        ])
        .arg(srv.api_url("/api/v1/versions"))
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }

    // Not covered: a CORS preflight, and WHIP signaling.
    let pre = raw_http(
        srv.api,
        b"OPTIONS /api/v1/summaries HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(pre.starts_with("HTTP/1.1 204"), "{pre}");
    let offer = std::fs::read_to_string(fixtures().join("sdp/chromium156_whip.sdp")).unwrap();
    let r = post(
        &srv.api_url("/rtc/v1/whip/?app=live&stream=auth"),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_named_vhost_gives_its_sessions_its_settings() {
    let ports = Ports::free();
    let conf = config(ports, 2, "")
        + "vhost cam.example { rtc { enabled on; nack off; twcc off; } }\n\
           vhost off.example { enabled off; rtc { enabled on; } }\n";
    let srv = Server::start(&conf, ports, &[]);
    let offer = fixture("chromium156_whip.sdp");
    let nack = |body: &str| body.contains(" nack\r\n");
    let r = whip(&srv, "plain", &offer);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(nack(&r.body), "the default vhost has NACK on");
    let url = srv.api_url("/rtc/v1/whip/?app=live&stream=named&vhost=cam.example");
    let r = post(&url, "application/sdp", &offer);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!nack(&r.body), "cam.example has NACK off:\n{}", r.body);
    assert!(!r.body.contains("transport-cc"), "and TWCC off");
    // The legacy API names the vhost by the stream URL's host.
    let body = serde_json::json!({
        "streamurl": "webrtc://cam.example/live/legacy",
        "sdp": offer,
    });
    let r = post(
        &srv.api_url("/rtc/v1/publish/"),
        "application/json",
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(!nack(v["sdp"].as_str().unwrap()));
    // A disabled vhost refuses; an unknown one falls back to the default.
    let url = srv.api_url("/rtc/v1/whip/?app=live&stream=x&vhost=off.example");
    let r = post(&url, "application/sdp", &offer);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);
    let url = srv.api_url("/rtc/v1/whip/?app=live&stream=y&vhost=other.example");
    assert_eq!(post(&url, "application/sdp", &offer).status, 201);
    // The named vhost is warned about for what it does not cover (live).
    assert!(
        srv.log().contains("RTMP, HTTP-FLV and HLS"),
        "{}",
        srv.log()
    );
}
