//! The stream directory in Redis (docs/cluster.md), with a real
//! `redis-server` and two or three real nodes: a stream published on one
//! node is listed on the others and refused there with 409; a node killed
//! with SIGKILL loses its streams within the lease; a Redis restarted empty
//! gets the live streams back.

mod common;

use std::time::{Duration, Instant};

use common::cluster::*;
use common::redis::Redis;
use common::*;

const LEASE_SECS: u64 = 3;

fn node(redis: &Redis) -> Server {
    node_with(redis, "")
}

/// A node with `extra` configuration appended, once it has reached Redis:
/// a publish before that is let through unchecked, by design, and has no
/// claim in the directory yet (a loaded CI machine once took longer than
/// the first WHIP request).
fn node_with(redis: &Redis, extra: &str) -> Server {
    let ports = Ports::free();
    let conf = format!(
        "{}cluster {{ enabled on; redis 127.0.0.1:{}; lease {LEASE_SECS}; }}\n{extra}",
        config(ports, 1, "stun_timeout 60;"),
        redis.port
    );
    let srv = Server::start(&conf, ports, &[]);
    assert!(
        wait_until(Duration::from_secs(10), || cluster(&srv)["redis"]["up"]
            == true),
        "node never reached Redis: {}",
        srv.log()
    );
    srv
}

/// The value of the metric sample `name` (no labels) at `exporter`.
fn metric(exporter: u16, name: &str) -> Option<f64> {
    let body = get(&format!("http://127.0.0.1:{exporter}/metrics")).body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap()
}

fn whip(srv: &Server, stream: &str) -> Resp {
    post(
        &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        &offer(),
    )
}

#[test]
fn a_stream_is_owned_by_one_node_and_refused_on_the_others() {
    let redis = Redis::start();
    let exporter = free_port();
    let b_conf = format!("exporter {{ enabled on; listen 127.0.0.1:{exporter}; }}\n");
    let (a, b, c) = (node(&redis), node_with(&redis, &b_conf), node(&redis));
    assert_eq!(whip(&a, "one").status, 201, "{}", a.log());
    let raw = redis.cli(&["GET", "shardsfu:stream:live/one"]);
    assert!(raw.contains(&node_id(&a)), "{raw}");
    assert!(
        wait_until(Duration::from_secs(5), || owner(&b, "live/one")
            == Some(node_id(&a))),
        "{}",
        cluster(&b)
    );
    assert!(wait_until(Duration::from_secs(5), || {
        cluster(&c)["nodes"].as_array().unwrap().len() == 3
    }));
    for other in [&b, &c] {
        let r = whip(other, "one");
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains(&node_id(&a)), "names the owner: {}", r.body);
    }
    assert_eq!(cluster(&b)["counters"]["claims_refused"], 1);
    assert_eq!(
        metric(exporter, "shardsfu_cluster_claims_refused_total"),
        Some(1.0)
    );
    assert_eq!(metric(exporter, "shardsfu_cluster_redis_up"), Some(1.0));
    assert_eq!(
        metric(exporter, "shardsfu_cluster_redis_errors_total"),
        Some(0.0)
    );
    // Another stream is free everywhere; a second publish on the owner is
    // refused there as before (one publisher per stream).
    assert_eq!(whip(&b, "two").status, 201);
    assert_eq!(whip(&a, "one").status, 409);
}

#[test]
fn a_killed_node_loses_its_streams_within_the_lease() {
    let redis = Redis::start();
    let (mut a, b) = (node(&redis), node(&redis));
    assert_eq!(whip(&a, "s").status, 201);
    assert!(wait_until(Duration::from_secs(5), || owner(&b, "live/s").is_some()));
    assert_eq!(whip(&b, "s").status, 409);
    a.signal(libc::SIGKILL);
    let _ = a.wait_exit(Duration::from_secs(5));
    let t0 = Instant::now();
    let lease = Duration::from_secs(LEASE_SECS);
    assert!(
        wait_until(lease + Duration::from_secs(2), || owner(&b, "live/s")
            .is_none()),
        "{}",
        cluster(&b)
    );
    assert!(t0.elapsed() <= lease + Duration::from_secs(2));
    assert_eq!(redis.cli(&["EXISTS", "shardsfu:stream:live/s"]), "0");
    let r = whip(&b, "s");
    assert_eq!(r.status, 201, "{}", r.body);
    let b_id = node_id(&b);
    assert!(wait_until(Duration::from_secs(3), || {
        owner(&b, "live/s") == Some(b_id.clone())
    }));
}

#[test]
fn a_restarted_redis_gets_the_live_streams_back() {
    let mut redis = Redis::start();
    let a = node(&redis);
    assert_eq!(whip(&a, "r").status, 201);
    assert!(redis
        .cli(&["GET", "shardsfu:stream:live/r"])
        .contains(&node_id(&a)));
    let port = redis.port;
    redis.stop();
    // While Redis is gone a publish goes ahead unchecked (fail open).
    assert_eq!(whip(&a, "while-down").status, 201);
    assert!(wait_until(Duration::from_secs(5), || {
        cluster(&a)["redis"]["up"] == false
    }));
    let redis = Redis::start_on(port);
    assert!(
        wait_until(Duration::from_secs(10), || {
            redis
                .cli(&["GET", "shardsfu:stream:live/r"])
                .contains(&node_id(&a))
                && redis
                    .cli(&["GET", "shardsfu:stream:live/while-down"])
                    .contains(&node_id(&a))
        }),
        "{}\n{}",
        cluster(&a),
        a.log()
    );
    let c = cluster(&a);
    assert_eq!(c["redis"]["up"], true);
    assert!(c["counters"]["reconnects"].as_u64().unwrap() >= 1, "{c}");
    assert!(c["counters"]["redis_errors"].as_u64().unwrap() >= 1, "{c}");
    assert!(
        c["counters"]["claims_unchecked"].as_u64().unwrap() >= 1,
        "{c}"
    );
}

#[test]
fn malformed_entries_are_counted_and_ignored() {
    let redis = Redis::start();
    redis.cli(&["SET", "shardsfu:stream:live/bad", "{not json"]);
    redis.cli(&["HSET", "shardsfu:stream:live/hash", "a", "b"]);
    redis.cli(&["SET", "shardsfu:node:junk", "[]"]);
    let a = node(&redis);
    assert!(wait_until(Duration::from_secs(5), || {
        cluster(&a)["counters"]["malformed_entries"]
            .as_u64()
            .unwrap()
            >= 2
    }));
    // Neither blocks a publish of its stream.
    assert_eq!(whip(&a, "bad").status, 201);
    assert_eq!(whip(&a, "hash").status, 201);
    assert!(redis
        .cli(&["GET", "shardsfu:stream:live/hash"])
        .contains(&node_id(&a)));
}

#[test]
fn without_a_cluster_block_there_is_no_cluster_api() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 1, ""), ports, &[]);
    assert_eq!(get(&srv.api_url("/api/v1/cluster")).status, 404);
    assert_eq!(whip(&srv, "x").status, 201);
}

#[test]
fn an_unpublished_stream_is_free_on_the_other_nodes_within_a_round() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let r = whip(&a, "u");
    assert_eq!(r.status, 201);
    assert_eq!(whip(&b, "u").status, 409);
    // Let a round (a third of the lease) list the stream as published on A;
    // a claim never listed is kept a whole lease (docs/cluster.md).
    std::thread::sleep(Duration::from_millis(LEASE_SECS * 1000 / 3 + 500));
    let location = r.header("location").expect("Location").to_owned();
    assert_eq!(delete(&a.api_url(&location)).status, 200);
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(LEASE_SECS), || {
            redis.cli(&["EXISTS", "shardsfu:stream:live/u"]) == "0"
        }),
        "{}",
        cluster(&a)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(LEASE_SECS),
        "released, not expired"
    );
    assert_eq!(whip(&b, "u").status, 201);
}

#[test]
fn an_rtmp_publish_is_registered_and_refused_on_the_other_nodes() {
    use std::io::Write;
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let rtmp_of = |srv: &Server| -> std::net::SocketAddr {
        let conf = std::fs::read_to_string(srv.conf_path()).unwrap();
        let port = conf
            .lines()
            .find_map(|l| l.strip_prefix("listen 127.0.0.1:")?.strip_suffix(';'))
            .expect("the RTMP listen line");
        format!("127.0.0.1:{port}").parse().unwrap()
    };
    let mut on_a = rtmp::handshake(rtmp_of(&a));
    on_a.write_all(&rtmp::commands("publish", "rt")).unwrap();
    let a_id = node_id(&a);
    assert!(
        wait_until(Duration::from_secs(5), || owner(&b, "live/rt")
            == Some(a_id.clone())),
        "{}\n{}",
        cluster(&b),
        a.log()
    );
    assert_eq!(whip(&b, "rt").status, 409);
    let mut on_b = rtmp::handshake(rtmp_of(&b));
    on_b.write_all(&rtmp::commands("publish", "rt")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || b
            .log()
            .contains("live on another cluster node")),
        "{}",
        b.log()
    );
    drop(on_a);
    // The claim is atomic: an RTMP publish on B right after a WHIP publish
    // on A (before B's next directory read) is refused, and A keeps it.
    assert_eq!(whip(&a, "race").status, 201);
    let mut racer = rtmp::handshake(rtmp_of(&b));
    racer.write_all(&rtmp::commands("publish", "race")).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || b
            .log()
            .contains("stream live/race is already publishing")),
        "{}",
        b.log()
    );
    assert!(redis
        .cli(&["GET", "shardsfu:stream:live/race"])
        .contains(&a_id));
}

#[test]
fn a_node_that_stops_gives_its_streams_back_at_once() {
    let redis = Redis::start();
    let mut a = node(&redis);
    assert_eq!(whip(&a, "bye").status, 201);
    assert_eq!(redis.cli(&["EXISTS", "shardsfu:stream:live/bye"]), "1");
    let t0 = Instant::now();
    assert!(a
        .signal_and_wait(libc::SIGINT, Duration::from_secs(5))
        .is_some());
    assert_eq!(redis.cli(&["EXISTS", "shardsfu:stream:live/bye"]), "0");
    assert!(t0.elapsed() < Duration::from_secs(LEASE_SECS));
}

#[test]
fn when_redis_returns_only_the_first_of_two_unchecked_publishers_stays() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let port = redis.port;
    redis.stop();
    // A partition from Redis: both publishes go ahead unchecked.
    assert_eq!(whip(&a, "split").status, 201);
    assert_eq!(whip(&b, "split").status, 201);
    let publishes = |srv: &Server| {
        get(&srv.api_url("/api/v1/streams?count=100")).json()["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["name"] == "split"))
    };
    // (The stream list is a snapshot the shards refresh every second.)
    assert!(wait_until(Duration::from_secs(3), || publishes(&a) && publishes(&b)));
    let redis = Redis::start_on(port);
    // The first claim wins; the other node ends its publisher.
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(8), || publishes(&a) != publishes(&b)),
        "{}\n{}",
        a.log(),
        b.log()
    );
    println!("one publisher left {:?} after Redis returned", t0.elapsed());
    let (winner, loser) = if publishes(&a) { (&a, &b) } else { (&b, &a) };
    assert!(redis
        .cli(&["GET", "shardsfu:stream:live/split"])
        .contains(&node_id(winner)));
    assert!(loser.log().contains("ending the WebRTC publisher here"));
    assert!(cluster(loser)["counters"]["claims_lost"].as_u64().unwrap() >= 1);
    // Its client may publish again: 409 while the winner holds the stream.
    assert_eq!(whip(loser, "split").status, 409);
}
