//! `/api/v1/clients` and `/api/v1/streams` with every kind of client, as
//! SRS lists them: RTMP publishers (FFmpeg), RTMP and HTTP-FLV players,
//! WebRTC sessions; `DELETE /api/v1/clients/{id}` kicks any of them from
//! whatever shard the request lands on; `start`/`count` pages the lists.
//!
//! The FFmpeg test is skipped (with a message) when `ffmpeg` is not installed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::ffmpeg::{have_ffmpeg, push, wait_for};
use common::peer::Peer;
use common::*;
use serde_json::Value;

fn live_config(ports: Ports) -> String {
    let vhost = "vhost __defaultVhost__ { rtc { enabled on; } \
                 http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n";
    with_vhost(&config(ports, 2, ""), vhost)
}

fn list(srv: &Server, what: &str, query: &str) -> Vec<Value> {
    let r = get(&srv.api_url(&format!("/api/v1/{what}{query}")));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["code"], 0, "{v}");
    v[what].as_array().cloned().unwrap_or_default()
}

fn clients(srv: &Server) -> Vec<Value> {
    list(srv, "clients", "?count=1000")
}

fn streams(srv: &Server) -> Vec<Value> {
    list(srv, "streams", "?count=1000")
}

/// Waits (up to `limit`) for a client matching `pred`; panics with the list otherwise.
fn wait_client(srv: &Server, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    let ok = wait_until(limit, || {
        found = clients(srv).into_iter().find(|c| pred(c));
        found.is_some()
    });
    assert!(
        ok,
        "no such client in {:?}\nserver log:\n{}",
        clients(srv),
        srv.log()
    );
    found.unwrap()
}

/// Waits (up to `limit`) until stream `id` matches `pred`; returns it.
fn wait_stream(srv: &Server, id: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    let ok = wait_until(limit, || {
        found = streams(srv).into_iter().find(|s| s["id"] == id);
        found.as_ref().is_some_and(&pred)
    });
    assert!(ok, "stream {id}: {found:?}\nserver log:\n{}", srv.log());
    found.unwrap()
}

/// DELETE `/api/v1/clients/{id}`: the status and the JSON body.
fn kick(srv: &Server, id: &str) -> (u16, Value) {
    let r = delete(&srv.api_url(&format!("/api/v1/clients/{id}")));
    (r.status, r.json())
}

/// Reads `s` on a thread until EOF or error (so the server is never held
/// up by an unread socket); the receiver gets the byte count at the end.
fn drain(mut s: TcpStream) -> mpsc::Receiver<usize> {
    let (tx, rx) = mpsc::channel();
    s.set_read_timeout(None).unwrap();
    std::thread::spawn(move || {
        let mut total = 0;
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        let _ = tx.send(total);
    });
    rx
}

/// An HTTP-FLV play of `path` whose response head was read; the socket
/// is drained on a thread.
fn flv_player(addr: SocketAddr, path: &str) -> mpsc::Receiver<usize> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
    drain(s)
}

/// An RTMP player of `live/{stream}` (it waits if nobody publishes).
fn rtmp_player(addr: SocketAddr, stream: &str) -> mpsc::Receiver<usize> {
    let mut s = rtmp::handshake(addr);
    s.write_all(&rtmp::commands("play", stream)).unwrap();
    drain(s)
}

fn assert_srs_client_fields(c: &Value) {
    for k in [
        "id", "vhost", "stream", "ip", "pageUrl", "swfUrl", "tcUrl", "url", "name", "type",
    ] {
        assert!(c[k].is_string(), "{k} of {c}");
    }
    assert!(c["publish"].is_boolean(), "{c}");
    assert!(c["alive"].is_number(), "{c}");
    for k in ["send_bytes", "recv_bytes"] {
        assert!(c[k].is_u64(), "{k} of {c}");
    }
    assert!(
        c["kbps"]["recv_30s"].is_u64() && c["kbps"]["send_30s"].is_u64(),
        "{c}"
    );
}

/// (a) an FFmpeg RTMP publisher, an HTTP-FLV player and an RTMP player are
/// listed with SRS's fields, as is their stream with its codecs; (b) the
/// HTTP-FLV player and then the publisher are kicked: their connections
/// end at once, FFmpeg with them, and the stream is gone.
#[test]
fn live_clients_are_listed_and_kicked() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let srv = Server::start(&live_config(ports), ports, &[]);
    let rtmp_addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    let url = format!("rtmp://127.0.0.1:{}/live/cam", ports.rtmp);
    let publisher = push(&url, 60);

    let p = wait_client(&srv, Duration::from_secs(15), |c| {
        c["name"] == "cam" && c["publish"] == true
    });
    assert_srs_client_fields(&p);
    let pub_id = p["id"].as_str().unwrap().to_string();
    assert_eq!(pub_id.len(), 8, "{p}");
    assert_eq!(p["type"], "fmle-publish", "FFmpeg sends FCPublish: {p}");
    assert_eq!(p["vhost"], "__defaultVhost__");
    assert_eq!(p["stream"], "live/cam");
    assert_eq!(p["app"], "live");
    assert_eq!(p["url"], "/live/cam");
    assert_eq!(p["ip"], "127.0.0.1");
    assert_eq!(
        p["tcUrl"],
        format!("rtmp://127.0.0.1:{}/live", ports.rtmp),
        "{p}"
    );
    assert!(p["shard"].as_u64().unwrap() < 2, "{p}");

    // The stream, with what the publisher sends (testsrc 320x240, AAC sine).
    let s = wait_stream(&srv, "live/cam", Duration::from_secs(10), |s| {
        s["video"]["width"] == 320
            && !s["audio"].is_null()
            && s["kbps"]["recv_30s"].as_u64() > Some(0)
    });
    assert_eq!(s["publish"]["active"], true, "{s}");
    assert_eq!(s["publish"]["cid"], pub_id.as_str(), "{s}");
    assert_eq!(
        (s["name"].as_str(), s["app"].as_str()),
        (Some("cam"), Some("live"))
    );
    assert_eq!(s["vhost"], "__defaultVhost__");
    assert_eq!(s["url"], "/live/cam");
    assert_eq!(s["tcUrl"], p["tcUrl"]);
    assert_eq!(s["clients"], 0, "no player yet: {s}");
    assert!(s["recv_bytes"].as_u64() > Some(0), "{s}");
    assert!(s["live_ms"].is_u64(), "{s}");
    let v = &s["video"];
    assert_eq!(
        (v["codec"].as_str(), v["height"].as_u64()),
        (Some("H264"), Some(240)),
        "{s}"
    );
    assert!(v["profile"].is_string() && v["level"].is_string(), "{s}");
    let a = &s["audio"];
    assert_eq!(a["codec"], "AAC", "{s}");
    assert_eq!(a["sample_rate"], 44100, "{s}");
    assert_eq!(a["channel"], 1, "the sine is mono: {s}");
    assert_eq!(a["profile"], "LC", "{s}");

    // Players: HTTP-FLV and RTMP.
    let http_addr: SocketAddr = ([127, 0, 0, 1], ports.http).into();
    let flv_done = flv_player(http_addr, "/live/cam.flv");
    let rtmp_done = rtmp_player(rtmp_addr, "cam");
    let flv = wait_client(&srv, Duration::from_secs(5), |c| c["type"] == "flv-play");
    assert_srs_client_fields(&flv);
    assert_eq!(flv["publish"], false);
    assert_eq!(
        (flv["name"].as_str(), flv["stream"].as_str()),
        (Some("cam"), Some("live/cam"))
    );
    assert_eq!(flv["ip"], "127.0.0.1");
    assert_eq!(
        flv["tcUrl"],
        format!("http://127.0.0.1:{}/live", ports.http)
    );
    let player = wait_client(&srv, Duration::from_secs(5), |c| c["type"] == "rtmp-play");
    assert_srs_client_fields(&player);
    assert_eq!(player["name"], "cam");
    let s = wait_stream(&srv, "live/cam", Duration::from_secs(5), |s| {
        s["clients"] == 2 && s["send_bytes"].as_u64() > Some(0)
    });
    assert_eq!(s["publish"]["cid"], pub_id.as_str());

    // One of each, by id.
    let flv_id = flv["id"].as_str().unwrap().to_string();
    let one = get(&srv.api_url(&format!("/api/v1/clients/{flv_id}"))).json();
    assert_eq!(
        (one["code"].as_i64(), one["client"]["type"].as_str()),
        (Some(0), Some("flv-play")),
        "{one}"
    );
    let one = get(&srv.api_url("/api/v1/streams/live/cam")).json();
    assert_eq!(one["stream"]["id"], "live/cam", "{one}");

    // (b) Kick the HTTP-FLV player: its connection ends at once.
    let (status, body) = kick(&srv, &flv_id);
    assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
    let got = flv_done
        .recv_timeout(Duration::from_secs(3))
        .expect("the kicked HTTP-FLV player's connection was not closed");
    assert!(got > 0, "it had received FLV");
    assert!(!clients(&srv).iter().any(|c| c["id"] == flv_id.as_str()));
    let (status, body) = kick(&srv, &flv_id);
    assert_eq!((status, body["code"].as_i64()), (404, Some(2049)), "{body}");
    wait_stream(&srv, "live/cam", Duration::from_secs(3), |s| {
        s["clients"] == 1
    });

    // Kick the publisher: FFmpeg's connection ends, so does FFmpeg, and
    // with the publication its RTMP player and the stream.
    let kicked_at = Instant::now();
    let (status, body) = kick(&srv, &pub_id);
    assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
    let (st, _) = wait_for(publisher, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("FFmpeg still runs after its kick:\n{}", srv.log()));
    assert!(!st.success(), "FFmpeg ended as if it was done");
    assert!(kicked_at.elapsed() < Duration::from_secs(10));
    rtmp_done
        .recv_timeout(Duration::from_secs(3))
        .expect("the RTMP player of the kicked stream was not closed");
    assert!(
        wait_until(Duration::from_secs(3), || streams(&srv)
            .iter()
            .all(|s| s["id"] != "live/cam")),
        "the stream stayed: {:?}",
        streams(&srv)
    );
    assert!(clients(&srv).is_empty(), "{:?}", clients(&srv));
    let gone = get(&srv.api_url("/api/v1/streams/live/cam"));
    assert_eq!(
        (gone.status, gone.json()["code"].as_i64()),
        (404, Some(2048)),
        "{}",
        gone.body
    );
    assert_eq!(kick(&srv, &pub_id).0, 404);
    assert!(
        srv.log().contains("kicked by the HTTP API"),
        "{}",
        srv.log()
    );
}

fn whip_offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap()
}

/// A WebRTC publisher of `live/{stream}` past ICE; returns it and its API id.
fn rtc_session(srv: &Server, stream: &str) -> (Peer, String) {
    let offer = whip_offer();
    let peer = Peer::signal_and_ice(
        srv,
        &format!("/rtc/v1/whip/?app=live&stream={stream}"),
        &offer,
    );
    let (server_ufrag, _) = ice_credentials(&peer.answer);
    let (client_ufrag, _) = ice_credentials(&offer);
    (peer, format!("{server_ufrag}:{client_ufrag}"))
}

/// (c) WebRTC sessions (on either of two shards, the DELETE landing on
/// either) are kicked by id: gone from the list, and their DELETE, and the
/// WHIP resource's, then 404.
#[test]
fn webrtc_sessions_are_kicked_from_any_shard() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    for i in 0..6 {
        let (_peer, id) = rtc_session(&srv, &format!("k{i}"));
        let c = wait_client(&srv, Duration::from_secs(3), |c| c["id"] == id.as_str());
        assert_eq!(c["type"], "rtc-publish", "{c}");
        assert_srs_client_fields(&c);
        assert_eq!(c["stream"], format!("live/k{i}"));
        assert_eq!(c["url"], format!("/live/k{i}"));
        assert!(
            c["connected"].is_boolean() && c["rtp_in"].is_u64(),
            "WebRTC fields stay: {c}"
        );

        let (status, body) = kick(&srv, &id);
        assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
        assert!(
            wait_until(Duration::from_secs(3), || !clients(&srv)
                .iter()
                .any(|c| c["id"] == id.as_str())),
            "kicked session {id} still listed"
        );
        let (status, body) = kick(&srv, &id);
        assert_eq!((status, body["code"].as_i64()), (404, Some(2049)), "{body}");
        let one = get(&srv.api_url(&format!("/api/v1/clients/{id}")));
        assert_eq!(one.status, 404, "{}", one.body);
    }
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(s["data"]["sessions"], 0, "{s}");
}

/// (d) With more clients than `count`, `start`/`count` give the pages of the
/// id-sorted list; bad values are 400 with the reason; a huge count is cut.
#[test]
fn lists_are_paged_as_srs_pages_them() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let rtmp_addr: SocketAddr = ([127, 0, 0, 1], ports.rtmp).into();
    // Three RTMP players (waiting: nobody publishes) and two WebRTC sessions.
    let _players: Vec<_> = (0..3)
        .map(|i| rtmp_player(rtmp_addr, &format!("p{i}")))
        .collect();
    let _sessions: Vec<_> = (0..2)
        .map(|i| rtc_session(&srv, &format!("w{i}")))
        .collect();
    assert!(
        wait_until(Duration::from_secs(3), || clients(&srv).len() == 5),
        "{:?}",
        clients(&srv)
    );
    let ids = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(clients(&srv));
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "sorted by id, as SRS's map is");
    assert_eq!(
        ids(list(&srv, "clients", "")),
        all,
        "the default count (10) holds all five"
    );

    let mut paged = Vec::new();
    for start in [0, 2, 4] {
        let page = ids(list(&srv, "clients", &format!("?start={start}&count=2")));
        assert_eq!(page.len(), if start == 4 { 1 } else { 2 }, "start {start}");
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(list(&srv, "clients", "?start=5&count=2").is_empty());
    assert_eq!(
        ids(list(&srv, "clients", "?count=100000")),
        all,
        "cut to 1000"
    );
    assert_eq!(ids(list(&srv, "clients", "?start=3")), all[3..].to_vec());

    let names = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let every = names(streams(&srv));
    assert_eq!(
        every,
        ["live/p0", "live/p1", "live/p2", "live/w0", "live/w1"]
    );
    assert_eq!(
        names(list(&srv, "streams", "?start=1&count=3")),
        every[1..4].to_vec()
    );
    let waiting = &streams(&srv)[0];
    assert_eq!(
        (
            waiting["clients"].as_u64(),
            waiting["publish"]["active"].as_bool()
        ),
        (Some(1), Some(false)),
        "{waiting}"
    );

    for (what, query, names) in [
        ("clients", "?start=-1", "start"),
        ("clients", "?start=abc", "start"),
        ("clients", "?count=0", "count"),
        ("streams", "?count=ten", "count"),
        ("streams", "?start=1.5&count=2", "start"),
    ] {
        let r = get(&srv.api_url(&format!("/api/v1/{what}{query}")));
        assert_eq!(r.status, 400, "{what}{query}: {}", r.body);
        let v = r.json();
        assert!(v["code"].as_i64().is_some_and(|c| c != 0), "{v}");
        assert!(
            v["error"].as_str().unwrap().contains(names),
            "{what}{query}: {v}"
        );
    }
}

/// Under `http_api.auth`, a kick needs the credentials like any API call.
#[test]
fn kicks_need_the_api_credentials() {
    let ports = Ports::free();
    let conf = config(ports, 1, "").replace(
        "http_api { enabled on;",
        "http_api { enabled on; auth { enabled on; username admin; password pw; }",
    );
    let srv = Server::start(&conf, ports, &[]);
    let req = |auth: &str| {
        raw_http(
            srv.api,
            format!("DELETE /api/v1/clients/nobody HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes(),
            Duration::from_secs(5),
        )
    };
    let none = req("");
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    // admin:pw
    let right = req("Authorization: Basic YWRtaW46cHc=\r\n");
    assert!(
        right.starts_with("HTTP/1.1 404") && right.contains("2049"),
        "{right}"
    );
}
