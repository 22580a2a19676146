//! Room to live: three FFmpeg publishers in room `r1` (app `r1`), then
//! `POST /api/v1/rooms/r1/mix`; the mix `r1/r1-mix` appears within 5 s and
//! ffprobe sees H.264 + AAC at the grid's size (3 tiles: 1280×720); when
//! one participant leaves, the mix follows (2 tiles: 1280×360); DELETE
//! stops it; an empty room, a bad name and a server without `ffmpeg` are
//! refused with their statuses.
//!
//! Skipped (with a message) when `ffmpeg`/`ffprobe` are not installed.

mod common;

use std::time::{Duration, Instant};

use common::ffmpeg::{have_ffmpeg, probe_streams, push};
use common::{delete, get, post, wait_until, Ports, Server};

fn mix_config(ports: Ports) -> String {
    let vhost = "vhost __defaultVhost__ { rtc { enabled on; } \
                 http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n";
    common::with_vhost(&common::config(ports, 2, ""), vhost)
}

/// `(codec, width, height)` of each stream ffprobe finds at `url`.
fn probe(url: &str) -> Vec<(String, u32, u32)> {
    probe_streams(url, "codec_name,width,height")
        .into_iter()
        .map(|f| {
            let n = |i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            (f[0].clone(), n(1), n(2))
        })
        .collect()
}

fn mix_published(server: &Server) -> bool {
    let streams = get(&server.api_url("/api/v1/streams")).json();
    streams["streams"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["name"] == "r1-mix" && s["publish"]["active"] == true)
    })
}

#[test]
fn a_room_is_mixed_into_one_live_stream_that_follows_a_leave() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let server = Server::start(&mix_config(ports), ports, &[]);
    let rtmp = |name: &str| format!("rtmp://127.0.0.1:{}/r1/{name}", ports.rtmp);
    let _a = push(&rtmp("alice"), 60);
    let _b = push(&rtmp("bob"), 60);
    let carol = push(&rtmp("carol"), 60);
    let mix_url = server.api_url("/api/v1/rooms/r1/mix");
    // All three publish (the hub lists them) before the mix is asked for.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let s = get(&server.api_url("/api/v1/streams")).json();
            s["streams"].as_array().map_or(0, |v| v.len()) >= 3
        }),
        "the three publishers never appeared:\n{}",
        server.log()
    );

    let asked = Instant::now();
    let started = post(&mix_url, "application/json", "");
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.json()["mix"]["stream"], "r1-mix");
    assert!(
        wait_until(Duration::from_secs(5), || mix_published(&server)),
        "no r1-mix within 5 s of the POST:\n{}",
        server.log()
    );
    eprintln!("mix published {:?} after the POST", asked.elapsed());
    let flv = format!("http://127.0.0.1:{}/r1/r1-mix.flv", ports.http);
    let streams = probe(&flv);
    assert!(
        streams.contains(&("h264".into(), 1280, 720)),
        "three tiles make 1280x720: {streams:?}"
    );
    assert!(streams.iter().any(|s| s.0 == "aac"), "{streams:?}");
    let again = post(&mix_url, "application/json", "");
    assert_eq!(again.status, 200, "a second POST reports the running mix");
    assert_eq!(again.json()["mix"]["inputs"].as_array().unwrap().len(), 3);

    drop(carol);
    assert!(
        wait_until(Duration::from_secs(15), || {
            get(&mix_url).json()["mix"]["inputs"]
                .as_array()
                .is_some_and(|i| i.len() == 2)
        }),
        "the mix did not follow carol's leave: {}",
        get(&mix_url).body
    );
    assert!(
        wait_until(Duration::from_secs(15), || probe(&flv).contains(&(
            "h264".into(),
            1280,
            360
        ))),
        "two tiles make 1280x360: {:?}",
        probe(&flv)
    );

    assert_eq!(delete(&mix_url).status, 200);
    assert_eq!(get(&mix_url).status, 404);
    assert_eq!(delete(&mix_url).status, 404);
    assert!(
        wait_until(Duration::from_secs(10), || !mix_published(&server)),
        "r1-mix still published after DELETE"
    );
}

#[test]
fn refusals_name_their_reason() {
    if !have_ffmpeg() {
        return;
    }
    let ports = Ports::free();
    let server = Server::start(&mix_config(ports), ports, &[]);
    let empty = post(
        &server.api_url("/api/v1/rooms/nobody/mix"),
        "application/json",
        "",
    );
    assert_eq!(empty.status, 404, "{}", empty.body);
    assert!(empty.body.contains("no published stream"), "{}", empty.body);
    let bad = post(
        &server.api_url("/api/v1/rooms/a%20b/mix"),
        "application/json",
        "",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let put = common::agent()
        .put(server.api_url("/api/v1/rooms/r/mix"))
        .send("")
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(put, 405);
    drop(server);

    // No ffmpeg on the server's PATH: 503 naming the package.
    let ports = Ports::free();
    let server = Server::start(&mix_config(ports), ports, &[("PATH", "/nonexistent")]);
    let _p = push(&format!("rtmp://127.0.0.1:{}/r2/x", ports.rtmp), 20);
    assert!(wait_until(Duration::from_secs(15), || {
        let s = get(&server.api_url("/api/v1/streams")).json();
        s["streams"].as_array().is_some_and(|v| !v.is_empty())
    }));
    let missing = post(
        &server.api_url("/api/v1/rooms/r2/mix"),
        "application/json",
        "",
    );
    assert_eq!(missing.status, 503, "{}", missing.body);
    assert!(missing.header("Retry-After").is_some());
    assert!(
        missing.body.contains("Debian package `ffmpeg`"),
        "{}",
        missing.body
    );
}
