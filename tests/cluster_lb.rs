//! Behind a load balancer (docs/cluster.md): the session resource of a WHIP
//! publish on node A, asked of node B (GET, PATCH, DELETE), is answered by
//! A through B; a resource naming a node the directory does not know is a
//! 404 that says so; an owner that is gone is a 502; a forwarded request is
//! never forwarded again. Real `redis-server`, real nodes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::*;
use common::redis::Redis;
use common::*;

const FRAG: &str = "application/trickle-ice-sdpfrag";

fn node(redis: &Redis) -> Server {
    let ports = Ports::free();
    let conf = format!(
        "{}cluster {{ enabled on; redis 127.0.0.1:{}; lease 3; }}\n",
        config(ports, 2, "stun_timeout 60;"),
        redis.port
    );
    Server::start(&conf, ports, &[])
}

fn whip(srv: &Server, stream: &str) -> Resp {
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    post(
        &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}")),
        "application/sdp",
        &offer,
    )
}

/// Waits until `srv` lists `n` nodes.
fn sees_nodes(srv: &Server, n: usize) -> bool {
    wait_until(Duration::from_secs(5), || {
        cluster(srv)["nodes"].as_array().map_or(0, Vec::len) == n
    })
}

fn clients(srv: &Server) -> usize {
    get(&srv.api_url("/api/v1/clients")).json()["clients"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_session_request_on_another_node_is_answered_by_the_owner() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    assert!(sees_nodes(&b, 2), "{}", cluster(&b));
    let created = whip(&a, "lb");
    assert_eq!(created.status, 201, "{}", created.body);
    let loc = created.header("location").unwrap().to_owned();
    let a_id = cluster(&a)["self"]["id"].as_str().unwrap().to_owned();
    assert!(
        loc.contains(&format!("&node={}", a_id.replace(':', "%3A"))),
        "{loc}"
    );
    let etag = created.header("etag").unwrap().to_owned();
    let (api_a, api_b): (SocketAddr, SocketAddr) = (a.api, b.api);

    // GET through B: A's description of its session.
    let g = exchange(api_b, "GET", &loc, &[], "");
    assert_eq!(g.status, 200, "{}\n{}", g.body, b.log());
    assert_eq!(g.json()["stream"], "live/lb");
    assert_eq!(g.header("etag"), Some(&*etag));

    // A trickle PATCH through B reaches A's session.
    let cand = "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";
    let p = exchange(
        api_b,
        "PATCH",
        &loc,
        &[("Content-Type", FRAG), ("If-Match", &etag)],
        cand,
    );
    assert_eq!(p.status, 204, "{}", p.body);
    assert_eq!(
        exchange(api_a, "GET", &loc, &[], "").json()["ice"]["candidates"],
        1
    );

    // A forwarded request is not forwarded again: B answers it itself.
    let looped = exchange(api_b, "GET", &loc, &[("X-Shardsfu-Forwarded", "x")], "");
    assert_eq!(looped.status, 404, "{}", looped.body);

    // DELETE through B ends the session on A.
    // (The client list is a snapshot the shards refresh every second.)
    assert!(wait_until(Duration::from_secs(3), || clients(&a) == 1));
    let d = exchange(api_b, "DELETE", &loc, &[], "");
    assert_eq!(d.status, 200, "{}", d.body);
    assert!(wait_until(Duration::from_secs(3), || clients(&a) == 0));
    assert_eq!(exchange(api_a, "DELETE", &loc, &[], "").status, 404);

    // A node id the directory does not know: 404 naming it, and counted.
    let bogus = loc.replace(&a_id.replace(':', "%3A"), "10.9.9.9%3A1985-nobody");
    let r = exchange(api_b, "DELETE", &bogus, &[], "");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("10.9.9.9:1985-nobody"), "{}", r.body);
    let counters = &cluster(&b)["counters"];
    assert_eq!(counters["forwarded"], 3, "{counters}");
    assert_eq!(counters["forward_failed"], 1, "{counters}");
}

#[test]
fn an_owner_that_is_gone_is_a_502_until_its_lease_ends() {
    let redis = Redis::start();
    let (mut a, b) = (node(&redis), node(&redis));
    assert!(sees_nodes(&b, 2));
    let created = whip(&a, "gone");
    assert_eq!(created.status, 201, "{}", created.body);
    let loc = created.header("location").unwrap().to_owned();
    a.signal(libc::SIGKILL);
    let _ = a.wait_exit(Duration::from_secs(5));
    // Still in B's view of the directory (its lease has 2 s or more to
    // run): the forward is refused at once and answered 502.
    let r = exchange(b.api, "DELETE", &loc, &[], "");
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("did not answer"), "{}", r.body);
    // After the lease the node is gone from the directory: 404.
    assert!(
        wait_until(Duration::from_secs(8), || exchange(
            b.api,
            "DELETE",
            &loc,
            &[],
            ""
        )
        .status
            == 404),
        "{}",
        cluster(&b)
    );
}

#[test]
fn a_kick_of_a_client_on_another_node_is_carried_out_there() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    assert!(sees_nodes(&b, 2), "{}", cluster(&b));
    assert_eq!(whip(&a, "kicked").status, 201);
    assert!(wait_until(Duration::from_secs(3), || clients(&a) == 1));
    let id = get(&a.api_url("/api/v1/clients")).json()["clients"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/clients/{id}");
    // Kicked through B: A ends it.
    let r = exchange(b.api, "DELETE", &path, &[], "");
    assert_eq!(r.status, 200, "{}\n{}", r.body, b.log());
    assert!(wait_until(Duration::from_secs(3), || clients(&a) == 0));
    // Unknown everywhere: 404, as on a single node; and a forwarded kick
    // is not forwarded again.
    let r = exchange(b.api, "DELETE", &path, &[], "");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        exchange(
            b.api,
            "DELETE",
            "/api/v1/clients/nobody",
            &[("X-Shardsfu-Forwarded", "x")],
            ""
        )
        .status,
        404
    );
}
