//! Rooms across nodes (docs/cluster.md): the built-in signaling of two real
//! nodes sharing a real `redis-server`. Members on different nodes see
//! each other join, publish, relay controls and leave; a display is
//! unique cluster-wide; a node killed with SIGKILL takes its members with
//! it within the lease; a Redis restarted empty gets the members back; bad
//! entries and events in Redis are counted and ignored.

mod common;

use std::time::{Duration, Instant};

use common::cluster::*;
use common::redis::Redis;
use common::ws::*;
use common::*;
use serde_json::{json, Value};

const LEASE_SECS: u64 = 3;

fn node(redis: &Redis) -> Server {
    let ports = Ports::free();
    let conf = format!(
        "{}cluster {{ enabled on; redis 127.0.0.1:{}; lease {LEASE_SECS}; }}\n",
        config(ports, 2, ""),
        redis.port
    );
    Server::start(&conf, ports, &[])
}

/// The next notification of `event` on `ws` within `limit` (others skipped).
fn notified(ws: &mut Ws, event: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let v = match ws.read() {
            Ok(tungstenite::Message::Text(t)) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => panic!("{e} while waiting for {event}; saw {seen:?}"),
        };
        if v["msg"]["action"] == "notify" && v["msg"]["event"] == event {
            return v["msg"].clone();
        }
        seen.push(v);
    }
    panic!("no {event} notification within {limit:?}; saw {seen:?}");
}

fn join(ws: &mut Ws, room: &str, display: &str) -> Value {
    send(ws, req("j", "join", room, display));
    recv(ws)["msg"].clone()
}

fn displays(v: &Value) -> Vec<String> {
    let mut d: Vec<String> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display"].as_str().unwrap().to_owned())
        .collect();
    d.sort();
    d
}

fn room_counters(srv: &Server) -> Value {
    cluster(srv)["counters"]["rooms"].clone()
}

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn a_call_across_two_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let mut alice = connect(a.http);
    let mut bob = connect(b.api);
    assert_eq!(displays(&join(&mut alice, "call", "alice")), ["alice"]);
    let answer = join(&mut bob, "call", "bob");
    assert_eq!(displays(&answer), ["alice", "bob"], "{answer}");
    let n = notified(&mut alice, "join", WAIT);
    assert_eq!(n["peer"]["display"], "bob");
    assert_eq!(displays(&n), ["alice", "bob"]);

    send(&mut alice, req("p", "publish", "call", "alice"));
    assert_eq!(recv(&mut alice)["msg"], Value::Null);
    let n = notified(&mut bob, "publish", WAIT);
    assert_eq!(n["peer"], json!({"display": "alice", "publishing": true}));

    send(
        &mut bob,
        json!({"tid": "c", "msg": {"action": "control", "room": "call", "display": "bob",
            "call": "alert", "data": "hello"}}),
    );
    assert_eq!(recv(&mut bob)["msg"], Value::Null);
    let n = notified(&mut alice, "control", WAIT);
    assert_eq!(
        (&n["param"], &n["data"]),
        (&json!("alert"), &json!("hello"))
    );

    // The display is taken on the other node too.
    let mut again = connect(b.http);
    let refused = join(&mut again, "call", "alice");
    assert_eq!(refused["action"], "error", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("already in room"),
        "{refused}"
    );
    let entries = redis.cli(&["HGETALL", "shardsfu:room:call"]);
    assert!(
        entries.contains(&node_id(&a)) && entries.contains(&node_id(&b)),
        "{entries}"
    );

    drop(bob);
    let n = notified(&mut alice, "leave", WAIT);
    assert_eq!(n["peer"]["display"], "bob");
    assert_eq!(displays(&n), ["alice"]);
    drop(alice);
    assert!(
        wait_until(WAIT, || redis.cli(&["EXISTS", "shardsfu:room:call"]) == "0"),
        "{}",
        redis.cli(&["HGETALL", "shardsfu:room:call"])
    );
    let c = room_counters(&a);
    assert!(c["room_events_published"].as_u64().unwrap() >= 3, "{c}");
    assert!(c["room_events_received"].as_u64().unwrap() >= 2, "{c}");
    assert_eq!(c["room_joins_unchecked"], 0, "{c}");
}

#[test]
fn a_killed_node_takes_its_members_with_it_within_the_lease() {
    let redis = Redis::start();
    let (a, mut b) = (node(&redis), node(&redis));
    let mut alice = connect(a.http);
    let mut bob = connect(b.http);
    join(&mut alice, "r", "alice");
    join(&mut bob, "r", "bob");
    notified(&mut alice, "join", WAIT);
    b.signal(libc::SIGKILL);
    let _ = b.wait_exit(WAIT);
    let t0 = Instant::now();
    let n = notified(
        &mut alice,
        "leave",
        Duration::from_secs(LEASE_SECS) + Duration::from_secs(4),
    );
    assert_eq!(n["peer"]["display"], "bob");
    println!("bob's leave seen {:?} after SIGKILL", t0.elapsed());
    // Bob's display is free again, on the surviving node.
    let mut bob2 = connect(a.api);
    assert_eq!(displays(&join(&mut bob2, "r", "bob")), ["alice", "bob"]);
    drop(bob);
}

#[test]
fn a_restarted_redis_gets_the_members_back() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let mut alice = connect(a.http);
    join(&mut alice, "r", "alice");
    let port = redis.port;
    redis.stop();
    // While Redis is gone a join goes ahead unchecked (fail open).
    let mut bob = connect(b.http);
    assert_eq!(displays(&join(&mut bob, "r", "bob")), ["bob"]);
    assert_eq!(room_counters(&b)["room_joins_unchecked"], 1);
    let redis = Redis::start_on(port);
    // Both members are written back, and each node learns the other's.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let e = redis.cli(&["HKEYS", "shardsfu:room:r"]);
            e.contains("alice") && e.contains("bob")
        }),
        "{}",
        a.log()
    );
    assert_eq!(
        notified(&mut alice, "join", Duration::from_secs(5))["peer"]["display"],
        "bob"
    );
    assert_eq!(
        notified(&mut bob, "join", Duration::from_secs(5))["peer"]["display"],
        "alice"
    );
}

#[test]
fn bad_entries_and_events_in_redis_are_counted_and_ignored() {
    let redis = Redis::start();
    let a = node(&redis);
    redis.cli(&["HSET", "shardsfu:room:r", "ghost", "not json"]);
    redis.cli(&[
        "HSET",
        "shardsfu:room:r",
        "zombie",
        r#"{"node":"gone-node"}"#,
    ]);
    let mut alice = connect(a.http);
    // Neither is listed: one is malformed, the other's node has no entry.
    assert_eq!(displays(&join(&mut alice, "r", "alice")), ["alice"]);
    assert_eq!(redis.cli(&["HKEYS", "shardsfu:room:r"]), "alice");
    // A string where the room's hash should be is replaced.
    redis.cli(&["SET", "shardsfu:room:s", "x"]);
    let mut other = connect(a.http);
    assert_eq!(displays(&join(&mut other, "s", "o")), ["o"]);
    for bad in [
        "garbage".to_string(),
        json!({"node": "n", "room": "../r", "display": "x", "event": "join"}).to_string(),
        json!({"node": "n", "room": "r", "display": "x", "event": "explode"}).to_string(),
        "x".repeat(70_000),
    ] {
        redis.cli(&["PUBLISH", "shardsfu:rooms", &bad]);
    }
    // A well-formed event of a member nobody listed still shows it.
    let ok = json!({"node": "n", "room": "r", "display": "visitor", "event": "join"});
    redis.cli(&["PUBLISH", "shardsfu:rooms", &ok.to_string()]);
    assert_eq!(
        notified(&mut alice, "join", WAIT)["peer"]["display"],
        "visitor"
    );
    let c = room_counters(&a);
    assert!(c["room_malformed"].as_u64().unwrap() >= 4, "{c}");
    assert_eq!(c["room_events_received"], 1, "{c}");
    // The server still serves.
    let mut late = connect(a.http);
    assert_eq!(displays(&join(&mut late, "q", "late")), ["late"]);
}
