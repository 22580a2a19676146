//! With `workers 2`, STUN checks from 200 client ports are all answered
//! whichever shard the kernel hands them to, and every session ends up on
//! the shard that receives its packets.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use shardsfu::ice;

const SESSIONS: usize = 200;

fn offer() -> String {
    std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap()
}

fn totals(srv: &Server) -> serde_json::Value {
    get(&srv.api_url("/api/v1/summaries")).json()["data"].clone()
}

/// Sends one check per session from its own port and returns how many were
/// answered with a verified success.
fn check_all(srv: &Server, clients: &[(UdpSocket, String, String, String)], round: u8) -> usize {
    let mut answered = 0;
    for (sock, server_ufrag, client_ufrag, pwd) in clients {
        let mut txid = [round; 12];
        txid[..8].copy_from_slice(&rand_u64().to_le_bytes());
        let out = binding_check(&txid, server_ufrag, client_ufrag, pwd);
        for _attempt in 0..3 {
            sock.send_to(&out, srv.rtc).unwrap();
            let mut buf = [0u8; 1500];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                let msg = ice::parse(&buf[..n]).expect("STUN");
                assert_eq!(msg.transaction_id(), &txid);
                assert!(msg.verify_integrity(pwd.as_bytes()));
                answered += 1;
                break;
            }
        }
    }
    answered
}

#[test]
fn checks_from_200_ports_are_answered_on_the_right_shard() {
    let ports = Ports::free();
    // 200 sessions from one address before any of them checks (a load
    // test: the per-address limits are raised, the signaling rate is off).
    let conf = config(ports, 2, "stun_timeout 30;").replace(
        "candidate 127.0.0.1;",
        "candidate 127.0.0.1; max_pending_per_ip 1000; signaling_rate_per_ip 0;",
    );
    let srv = Server::start(&conf, ports, &[]);
    let offer = offer();
    let mut clients = Vec::new();
    for i in 0..SESSIONS {
        let url = srv.api_url(&format!("/rtc/v1/whip/?app=live&stream=s{i}"));
        let r = post(&url, "application/sdp", &offer);
        assert_eq!(r.status, 201, "session {i}: {}", r.body);
        let (server_ufrag, pwd) = ice_credentials(&r.body);
        let (client_ufrag, _) = ice_credentials(&offer);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        clients.push((sock, server_ufrag, client_ufrag, pwd));
    }
    let before = totals(&srv);
    let per_shard_created: Vec<u64> = before["per_shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessions_created"].as_u64().unwrap())
        .collect();
    assert_eq!(per_shard_created.iter().sum::<u64>(), SESSIONS as u64);

    // Round 1: the first check of each session; sessions move where it lands.
    assert_eq!(check_all(&srv, &clients, 1), SESSIONS, "{}", srv.log());
    let after1 = totals(&srv);
    let moved = after1["totals"]["sessions_moved_out"].as_u64().unwrap();
    let holding: Vec<u64> = after1["per_shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessions"].as_u64().unwrap())
        .collect();
    assert_eq!(
        holding.iter().sum::<u64>(),
        SESSIONS as u64,
        "no session lost: {holding:?}"
    );
    assert!(
        holding.iter().all(|&n| n > 0),
        "both shards hold sessions: {holding:?}"
    );
    assert!(
        moved > 0,
        "some sessions were created on the other shard and moved"
    );

    // Round 2: every check now lands where its session lives: nothing is
    // forwarded or moved any more, and all are answered.
    let fwd1 = after1["totals"]["stun_forwarded"].as_u64().unwrap();
    assert_eq!(check_all(&srv, &clients, 2), SESSIONS);
    let after2 = totals(&srv);
    assert_eq!(
        after2["totals"]["sessions_moved_out"].as_u64().unwrap(),
        moved
    );
    assert_eq!(after2["totals"]["stun_forwarded"].as_u64().unwrap(), fwd1);
    assert_eq!(
        after2["totals"]["stun_answered"].as_u64().unwrap(),
        after1["totals"]["stun_answered"].as_u64().unwrap() + SESSIONS as u64
    );
    eprintln!("sessions created per shard {per_shard_created:?}, held after checks {holding:?}, moved {moved}");
}
