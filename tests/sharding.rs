//! With `workers 2`, STUN checks from 200 client ports are all answered
//! whichever shard the kernel hands them to, and every session ends up on
//! the shard that receives its packets; a check that is not signed with the
//! session's password moves nothing.

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

/// A stranger who read a session's ufrags (not its password) sends checks
/// from 64 ports, so some land on the shard that does not hold the session:
/// they are forwarded to its holder, which rejects every one; the session
/// stays where it is and still answers its peer. (Such a check used to move
/// the session to the stranger's shard before anything was verified.)
#[test]
fn checks_without_the_password_move_no_session() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, "stun_timeout 30;"), ports, &[]);
    let offer = offer();
    let r = post(
        &srv.api_url("/rtc/v1/whip/?app=live&stream=held"),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (server_ufrag, pwd) = ice_credentials(&r.body);
    let (client_ufrag, _) = ice_credentials(&offer);
    let shard_of_session = || {
        let clients = get(&srv.api_url("/api/v1/clients")).json();
        clients["clients"][0]["shard"].as_u64()
    };
    assert!(
        wait_until(Duration::from_secs(3), || shard_of_session().is_some()),
        "the session never showed in /api/v1/clients"
    );
    let holder = shard_of_session();

    const FORGED: u64 = 64;
    let strangers: Vec<UdpSocket> = (0..FORGED)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, sock) in strangers.iter().enumerate() {
        let forged = binding_check(
            &[i as u8; 12],
            &server_ufrag,
            &client_ufrag,
            "not-the-password",
        );
        sock.send_to(&forged, srv.rtc).unwrap();
    }
    assert_eq!(
        srv.wait_for_counter("stun_rejected", FORGED),
        FORGED,
        "{}",
        srv.log()
    );
    let t = totals(&srv)["totals"].clone();
    assert!(
        t["stun_forwarded"].as_u64() > Some(0),
        "no forged check reached the other shard: {t}"
    );
    assert_eq!(t["sessions_moved_out"].as_u64(), Some(0), "{t}");
    assert_eq!(t["stun_answered"].as_u64(), Some(0), "{t}");
    // No answer went to any stranger.
    for sock in &strangers {
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1500];
        assert!(
            sock.recv_from(&mut buf).is_err(),
            "a forged check was answered"
        );
    }
    // The session stayed, and its peer's check (signed) is answered.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(shard_of_session(), holder);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    peer.send_to(
        &binding_check(&[0xee; 12], &server_ufrag, &client_ufrag, &pwd),
        srv.rtc,
    )
    .unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = peer.recv_from(&mut buf).expect("the real peer is answered");
    assert!(ice::parse(&buf[..n])
        .unwrap()
        .verify_integrity(pwd.as_bytes()));
}
