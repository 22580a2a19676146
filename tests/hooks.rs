//! SRS's deciding HTTP hooks against the real server: `on_publish` and
//! `on_play` are asked before WHIP, WHEP, the legacy JSON API and RTMP
//! (FFmpeg) publish or play; `0` or `{"code":0}` allows, anything else, an
//! error status or an unreachable hook refuses with a 403 naming the hook.
//! The hook server here is what an SRS user writes: a small HTTP endpoint.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ffmpeg::{have_ffmpeg, push, wait_for};
use common::{fixtures, post, Ports, Server};

/// A hook endpoint on 127.0.0.1 that answers `1` for streams whose name
/// starts with "denied", `{"code":0}` for the others, and keeps every JSON
/// body it got. Serves until the test process ends (bounded by 60 s).
struct HookServer {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl HookServer {
    fn start() -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            for conn in listener.incoming() {
                if Instant::now() > deadline {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let denied = json["stream"].as_str().unwrap_or("").starts_with("denied");
                kept.lock().unwrap().push(json);
                let answer = if denied { "1" } else { "{\"code\":0}" };
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        HookServer { addr, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits (at most 5 s) for a body with this action and stream.
    fn wait_for(&self, action: &str, stream: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self
                .bodies()
                .iter()
                .any(|b| b["action"] == action && b["stream"] == stream)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn hooks_config(ports: Ports, on_publish: &str, on_play: &str) -> String {
    let vhost = format!(
        "vhost __defaultVhost__ {{ rtc {{ enabled on; }} http_hooks {{ enabled on; \
         on_publish {on_publish}; on_play {on_play}; on_unpublish {on_publish}; \
         on_stop {on_play}; }} }}\n"
    );
    common::config(ports, 2, "")
        .lines()
        .filter(|l| !l.starts_with("vhost "))
        .map(|l| format!("{l}\n"))
        .chain(std::iter::once(vhost))
        .collect()
}

fn offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/chromium156_whip.sdp")).unwrap()
}

#[test]
fn on_publish_and_on_play_decide_for_webrtc() {
    let hook = HookServer::start();
    let ports = Ports::free();
    let url = |path: &str| format!("http://{}{path}", hook.addr);
    let server = Server::start(
        &hooks_config(ports, &url("/api/v1/streams"), &url("/api/v1/sessions")),
        ports,
        &[],
    );
    let whip = |stream: &str| {
        post(
            &server.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}&token=abc")),
            "application/sdp",
            &offer(),
        )
    };

    let ok = whip("cam");
    assert_eq!(ok.status, 201, "{}", ok.body);
    let asked = hook.bodies();
    let last = asked.last().expect("the hook was asked");
    assert_eq!(last["action"], "on_publish");
    assert_eq!(
        (last["app"].as_str(), last["stream"].as_str()),
        (Some("live"), Some("cam"))
    );
    assert!(
        last["param"].as_str().unwrap_or("").contains("token=abc"),
        "{last}"
    );
    assert_eq!(last["ip"], "127.0.0.1");

    // Ending the session tells on_unpublish.
    let location = ok.header("location").expect("Location").to_owned();
    assert_eq!(common::delete(&server.api_url(&location)).status, 200);
    assert!(hook.wait_for("on_unpublish", "cam"), "{:?}", hook.bodies());

    let no = whip("denied-cam");
    assert_eq!(no.status, 403, "{}", no.body);
    assert!(
        no.body.contains("on_publish hook") && no.body.contains("live/denied-cam"),
        "{}",
        no.body
    );

    // WHEP asks on_play; the legacy JSON API asks too.
    let play = post(
        &server.api_url("/rtc/v1/whep/?app=live&stream=denied-view"),
        "application/sdp",
        &offer(),
    );
    assert_eq!(play.status, 403, "{}", play.body);
    assert_eq!(hook.bodies().last().unwrap()["action"], "on_play");
    // A player of a published stream: ending it tells on_stop.
    assert_eq!(whip("view").status, 201);
    let recvonly =
        std::fs::read_to_string(fixtures().join("sdp/aiortc_whep_recvonly.sdp")).unwrap();
    let view = post(
        &server.api_url("/rtc/v1/whep/?app=live&stream=view"),
        "application/sdp",
        &recvonly,
    );
    assert_eq!(view.status, 201, "{}", view.body);
    let location = view.header("location").expect("Location").to_owned();
    assert_eq!(common::delete(&server.api_url(&location)).status, 200);
    assert!(hook.wait_for("on_stop", "view"), "{:?}", hook.bodies());
    let legacy = serde_json::json!({"streamurl": "webrtc://h/live/denied-old", "sdp": offer()});
    let r = post(
        &server.api_url("/rtc/v1/publish/"),
        "application/json",
        &legacy.to_string(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(hook.bodies().last().unwrap()["stream"], "denied-old");
}

#[test]
fn an_unreachable_hook_refuses() {
    // A port nothing listens on (bound, then closed).
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ports = Ports::free();
    let server = Server::start(
        &hooks_config(
            ports,
            &format!("http://{dead}/hook"),
            &format!("http://{dead}/hook"),
        ),
        ports,
        &[],
    );
    let started = Instant::now();
    let r = post(
        &server.api_url("/rtc/v1/whip/?app=live&stream=cam"),
        "application/sdp",
        &offer(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("on_publish hook"), "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn on_publish_decides_for_rtmp() {
    if !have_ffmpeg() {
        return;
    }
    let hook = HookServer::start();
    let ports = Ports::free();
    let url = format!("http://{}/api/v1/streams", hook.addr);
    let server = Server::start(&hooks_config(ports, &url, &url), ports, &[]);
    let rtmp = |s: &str| format!("rtmp://127.0.0.1:{}/live/{s}", ports.rtmp);

    let (st, err) = wait_for(push(&rtmp("denied-enc"), 2), Duration::from_secs(20)).expect("ended");
    assert!(
        !st.success(),
        "a denied encoder published: {err}\n{}",
        server.log()
    );
    assert!(server.log().contains("on_publish hook"), "{}", server.log());
    let (st, err) = wait_for(push(&rtmp("enc"), 2), Duration::from_secs(20)).expect("ended");
    assert!(
        st.success(),
        "an allowed encoder was refused: {err}\n{}",
        server.log()
    );
    assert!(hook.wait_for("on_publish", "enc"), "{:?}", hook.bodies());
    // The encoder's end tells on_unpublish.
    assert!(hook.wait_for("on_unpublish", "enc"), "{:?}", hook.bodies());
}
