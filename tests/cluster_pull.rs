//! Play anywhere (docs/cluster.md): with a real `redis-server` and nodes on
//! distinct loopback addresses, players on nodes B and C of a stream
//! published on node A get its media through one pull per edge node; the
//! pull ends a linger after its last player; the publisher leaving ends the
//! pulls; an unreachable origin or a malformed directory entry is a clear
//! error for the player, counted.

mod common;

use std::time::{Duration, Instant};

use common::cluster::*;
use common::peer::{offer_announcing, rtp, Peer};
use common::redis::Redis;
use common::*;
use shardsfu::dtls::{DtlsCert, DtlsEvent};

const LEASE_SECS: u64 = 3;

/// A node on loopback address `ip` with `workers` shards.
fn node(redis: &Redis, ip: [u8; 4], workers: usize) -> Server {
    let ports = Ports::free();
    let host = format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
    let conf = config(ports, workers, "stun_timeout 60;")
        .replace("127.0.0.1:", &format!("{host}:"))
        .replace("candidate 127.0.0.1", &format!("candidate {host}"));
    let conf = format!(
        "{conf}cluster {{ enabled on; redis 127.0.0.1:{}; lease {LEASE_SECS}; }}\n",
        redis.port
    );
    Server::start_on(ip, &conf, ports, &[], |_| {})
}

fn connect(srv: &Server, path: &str, fixture: &str, cert: &DtlsCert) -> Peer {
    let offer = offer_announcing(fixture, &cert.fingerprint_sha256());
    let mut p = Peer::signal_and_ice(srv, path, &offer);
    match p.handshake(cert) {
        Some(DtlsEvent::Connected { .. }) => {
            p.sock.set_nonblocking(true).unwrap();
            p
        }
        other => panic!("handshake: {other:?}\n{}", srv.log()),
    }
}

/// Counts the RTP packets waiting on the player's socket.
fn drain(p: &mut Peer) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while let Ok((len, _)) = p.sock.recv_from(&mut buf) {
        if !(128..=191).contains(&buf[0]) || (192..=223).contains(&buf[1]) {
            continue;
        }
        if p.srtp.as_mut().unwrap().unprotect_rtp(&buf[..len]).is_ok() {
            n += 1;
        }
    }
    n
}

fn counter(srv: &Server, name: &str) -> u64 {
    cluster(srv)["counters"][name].as_u64().unwrap_or(u64::MAX)
}

/// The origin's WebRTC players (`/api/v1/clients`, type `rtc-play`).
fn players(srv: &Server) -> usize {
    let r = get(&srv.api_url("/api/v1/clients?count=100"));
    r.json()["clients"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["type"] == "rtc-play").count())
}

/// Whether `srv` lists stream `name` (of app `live`) with an active publisher.
fn published(srv: &Server, name: &str) -> bool {
    let r = get(&srv.api_url("/api/v1/streams?count=100"));
    r.json()["streams"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["name"] == name && s["app"] == "live" && s["publish"]["active"] == true)
    })
}

/// One video packet from the publisher; every 20th (and the first) an IDR.
fn send(publisher: &mut Peer, pt: u8, seq: &mut u16) {
    let first = if *seq % 20 == 0 { 0x65 } else { 0x41 };
    let pkt = rtp(pt, *seq, 0x5eed, first, 900);
    let enc = publisher.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
    publisher.sock.send_to(&enc, publisher.server).unwrap();
    *seq = seq.wrapping_add(1);
}

#[test]
fn players_on_two_edges_get_the_stream_through_one_pull_each() {
    let redis = Redis::start();
    let a = node(&redis, [127, 0, 0, 2], 1);
    let b = node(&redis, [127, 0, 0, 3], 2);
    let c = node(&redis, [127, 0, 0, 4], 1);
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &a,
        "/rtc/v1/whip/?app=live&stream=far",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let pt = publisher.answer_pt("video");
    let a_id = cluster(&a)["self"]["id"].as_str().unwrap().to_owned();
    for edge in [&b, &c] {
        assert!(
            wait_until(Duration::from_secs(5), || owner(edge, "live/far")
                == Some(a_id.clone())),
            "{}",
            cluster(edge)
        );
    }

    // Five players on B (two shards), one on C; the legacy play API too.
    let whep = "/rtc/v1/whep/?app=live&stream=far";
    let mut on_b: Vec<Peer> = (0..5)
        .map(|_| connect(&b, whep, "aiortc_whep_recvonly.sdp", &cert))
        .collect();
    let mut on_c = vec![connect(&c, whep, "aiortc_whep_recvonly.sdp", &cert)];

    // Until every player got media (the pulls' ICE and DTLS, a keyframe).
    let mut seq = 0u16;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = vec![0usize; 6];
    while got.contains(&0) && Instant::now() < deadline {
        send(&mut publisher, pt, &mut seq);
        for (i, p) in on_b.iter_mut().chain(on_c.iter_mut()).enumerate() {
            got[i] += drain(p);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        got.iter().all(|&n| n > 0),
        "every player gets media: {got:?}\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );

    // Measured: 300 packets, each player counts what it gets.
    // The window starts with a keyframe (sequence numbers skip to the next).
    seq = seq.wrapping_add(20 - seq % 20);
    let mut got = vec![0usize; 6];
    let sent = 300;
    for _ in 0..sent {
        send(&mut publisher, pt, &mut seq);
        for (i, p) in on_b.iter_mut().chain(on_c.iter_mut()).enumerate() {
            got[i] += drain(p);
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    std::thread::sleep(Duration::from_millis(200));
    for (i, p) in on_b.iter_mut().chain(on_c.iter_mut()).enumerate() {
        got[i] += drain(p);
    }
    eprintln!("sent {sent}, players got {got:?}");
    for n in &got {
        assert!(*n >= sent * 9 / 10, "each player gets >= 90%: {got:?}");
    }

    // The legacy play API takes the same path (its session is never used).
    let legacy = serde_json::json!({
        "streamurl": "webrtc://127.0.0.3/live/far",
        "sdp": std::fs::read_to_string(fixtures().join("sdp/aiortc_whep_recvonly.sdp")).unwrap(),
    });
    let r = post(
        &b.api_url("/rtc/v1/play/"),
        "application/json",
        &legacy.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["code"], 0, "{}", r.body);
    assert!(r.json()["sdp"].as_str().unwrap().contains("a=sendonly"));

    // A serves one player per edge node, whatever the edges' player counts.
    assert!(
        wait_until(Duration::from_secs(3), || players(&a) == 2),
        "A's players: {}",
        get(&a.api_url("/api/v1/clients?count=100")).body
    );
    for (edge, name) in [(&b, "B"), (&c, "C")] {
        assert_eq!(counter(edge, "pulls_started"), 1, "{name}");
        assert_eq!(counter(edge, "pulls_active"), 1, "{name}");
        assert_eq!(counter(edge, "pulls_failed"), 0, "{name}");
        assert!(
            wait_until(Duration::from_secs(3), || published(edge, "far")),
            "{name} lists the pulled stream"
        );
    }
    // The pull is the origin's stream, not the edge's claim.
    assert_eq!(owner(&b, "live/far"), Some(a_id.clone()));

    // C's last player leaves: its pull ends after the linger, and A's
    // player for C with it.
    let loc = on_c.pop().unwrap().location.expect("Location");
    assert_eq!(delete(&c.api_url(&loc)).status, 200);
    assert!(
        wait_until(Duration::from_secs(8), || counter(&c, "pulls_active") == 0),
        "{}",
        c.log()
    );
    assert!(
        wait_until(Duration::from_secs(3), || players(&a) == 1),
        "{}",
        a.log()
    );

    // The publisher leaves A: B's pull ends, B no longer lists the stream,
    // its players get nothing more, and the name can be published on B.
    let loc = publisher.location.clone().expect("Location");
    assert_eq!(delete(&a.api_url(&loc)).status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || counter(&b, "pulls_active") == 0
            && !published(&b, "far")),
        "{}",
        b.log()
    );
    std::thread::sleep(Duration::from_millis(100));
    for p in &mut on_b {
        drain(p);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after: usize = on_b.iter_mut().map(drain).sum();
    assert_eq!(after, 0, "no media after the publisher left");
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let again = post(
        &b.api_url("/rtc/v1/whip/?app=live&stream=far"),
        "application/sdp",
        &offer,
    );
    assert_eq!(again.status, 201, "{}", again.body);
}

#[test]
fn an_unreachable_origin_or_a_malformed_entry_is_a_clear_error() {
    let redis = Redis::start();
    let exporter = free_port();
    let ports = Ports::free();
    let conf = format!(
        "{}cluster {{ enabled on; redis 127.0.0.1:{}; lease {LEASE_SECS}; }}\n\
         exporter {{ enabled on; listen 127.0.0.1:{exporter}; }}\n",
        config(
            ports,
            1,
            "stun_timeout 60; rtc_to_rtmp on; } http_remux { enabled on; } hls { enabled on;"
        ),
        redis.port
    );
    let b = Server::start(&conf, ports, &[]);
    let closed = free_port();
    let entry = |api: &str| {
        format!(r#"{{"node":"ghost-1","api":"{api}","candidate":"127.0.0.9","since":1}}"#)
    };
    redis.cli(&[
        "SET",
        "shardsfu:stream:live/ghost",
        &entry(&format!("127.0.0.1:{closed}")),
        "PX",
        "60000",
    ]);
    redis.cli(&[
        "SET",
        "shardsfu:stream:live/bad",
        &entry("nowhere"),
        "PX",
        "60000",
    ]);
    assert!(
        wait_until(Duration::from_secs(5), || owner(&b, "live/ghost").is_some()
            && owner(&b, "live/bad").is_some()),
        "{}",
        cluster(&b)
    );
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whep_recvonly.sdp")).unwrap();
    let play = |stream: &str| {
        post(
            &b.api_url(&format!("/rtc/v1/whep/?app=live&stream={stream}")),
            "application/sdp",
            &offer,
        )
    };
    let r = play("ghost");
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body.contains("unreachable") && r.body.contains(&format!("127.0.0.1:{closed}")),
        "{}",
        r.body
    );
    let legacy = serde_json::json!({"streamurl": "webrtc://127.0.0.1/live/ghost", "sdp": offer});
    let r = post(
        &b.api_url("/rtc/v1/play/"),
        "application/json",
        &legacy.to_string(),
    );
    assert_ne!(r.json()["code"], 0, "{}", r.body);
    assert!(r.body.contains("unreachable"), "{}", r.body);
    let r = play("bad");
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("\"nowhere\""), "{}", r.body);
    assert_eq!(counter(&b, "pulls_failed"), 3);
    assert_eq!(counter(&b, "pulls_started"), 3);
    assert_eq!(counter(&b, "pulls_active"), 0);
    let metrics = get(&format!("http://127.0.0.1:{exporter}/metrics")).body;
    assert!(
        metrics.contains("shardsfu_cluster_pulls_failed_total 3"),
        "{metrics}"
    );
    // Logged once per failure, naming the origin.
    assert!(b.log().contains("pull failed"), "{}", b.log());
    // HTTP-FLV and HLS players of it are told the same.
    for path in ["/live/ghost.flv", "/live/ghost.m3u8"] {
        let r = get(&format!("http://{}{path}", b.http));
        assert_eq!(r.status, 502, "{path}: {}", r.body);
        assert!(r.body.contains("unreachable"), "{path}: {}", r.body);
    }
    assert_eq!(counter(&b, "pulls_failed"), 5);
    // A stream published nowhere: the player waits for a publisher, as
    // before; an HTTP-FLV player gets 404 at once.
    assert_eq!(play("nobody").status, 201);
    let t0 = std::time::Instant::now();
    assert_eq!(
        get(&format!("http://{}/live/nobody.flv", b.http)).status,
        404
    );
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(counter(&b, "pulls_started"), 5);
}

#[test]
fn a_killed_origin_ends_the_pull_and_a_new_publish_anywhere_resumes_it() {
    let redis = Redis::start();
    let a = node(&redis, [127, 0, 0, 2], 1);
    let b = node(&redis, [127, 0, 0, 3], 2);
    let c = node(&redis, [127, 0, 0, 4], 1);
    let cert = DtlsCert::generate().unwrap();
    let whip = "/rtc/v1/whip/?app=live&stream=moving";
    let mut publisher = connect(&a, whip, "aiortc_whip_h264.sdp", &cert);
    let pt = publisher.answer_pt("video");
    assert!(wait_until(Duration::from_secs(5), || owner(
        &b,
        "live/moving"
    )
    .is_some()));
    let whep = "/rtc/v1/whep/?app=live&stream=moving";
    let mut player = connect(&b, whep, "aiortc_whep_recvonly.sdp", &cert);
    let media = |publisher: &mut Peer, player: &mut Peer, seq: &mut u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = 0;
        while got < 50 && Instant::now() < deadline {
            send(publisher, pt, seq);
            got += drain(player);
            std::thread::sleep(Duration::from_millis(5));
        }
        got
    };
    let mut seq = 0u16;
    assert!(
        media(&mut publisher, &mut player, &mut seq) >= 50,
        "{}",
        b.log()
    );

    // The origin dies: its claim expires with the lease, B's pull ends.
    a.signal(libc::SIGKILL);
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(LEASE_SECS + 4), || counter(
            &b,
            "pulls_active"
        ) == 0
            && !published(&b, "moving")),
        "{}",
        b.log()
    );
    eprintln!(
        "B's pull ended {:?} after the origin was killed",
        killed.elapsed()
    );
    drain(&mut player);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(drain(&mut player), 0, "no media after the origin died");

    // Published again, on C: B pulls it from there for its waiting player.
    let mut publisher = connect(&c, whip, "aiortc_whip_h264.sdp", &cert);
    let pt_c = publisher.answer_pt("video");
    assert_eq!(pt_c, pt);
    assert!(
        media(&mut publisher, &mut player, &mut seq) >= 50,
        "the waiting player gets the stream from its new origin\n{}",
        b.log()
    );
    assert_eq!(counter(&b, "pulls_started"), 2);
    assert_eq!(counter(&b, "pulls_active"), 1);
}

/// CPU of a process so far (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Receives on `p` until `stop`, returning each packet's delay from the
/// send time the publisher wrote into its payload (µs since `epoch`).
fn receive(
    mut p: Peer,
    epoch: Instant,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        p.sock.set_nonblocking(false).unwrap();
        p.sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut delays = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, _)) = p.sock.recv_from(&mut buf) else {
                continue;
            };
            let now = epoch.elapsed().as_micros() as u64;
            if !(128..=191).contains(&buf[0]) || (192..=223).contains(&buf[1]) {
                continue;
            }
            let Ok(plain) = p.srtp.as_mut().unwrap().unprotect_rtp(&buf[..n]) else {
                continue;
            };
            let Ok(h) = shardsfu::rtp::RtpHeader::parse(&plain) else {
                continue;
            };
            if let Some(t) = h.payload().get(1..9) {
                let sent = u64::from_le_bytes(t.try_into().unwrap());
                delays.push(now.saturating_sub(sent));
            }
        }
        delays
    })
}

fn percentile(v: &mut [u64], p: usize) -> u64 {
    v.sort_unstable();
    v.get(v.len() * p / 100).copied().unwrap_or(0)
}

/// The figures in docs/cluster.md ("Measured"): the origin's CPU with 0, 1
/// and 2 edges pulling one stream, and the delay a player on an edge sees
/// beyond a player on the origin. `--ignored --nocapture` to run.
#[test]
#[ignore]
fn measure_origin_cpu_per_pull_and_delay_per_hop() {
    let redis = Redis::start();
    let a = node(&redis, [127, 0, 0, 2], 1);
    let b = node(&redis, [127, 0, 0, 3], 1);
    let c = node(&redis, [127, 0, 0, 4], 1);
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &a,
        "/rtc/v1/whip/?app=live&stream=m",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let pt = publisher.answer_pt("video");
    for edge in [&b, &c] {
        assert!(wait_until(Duration::from_secs(5), || owner(edge, "live/m").is_some()));
    }
    let whep = "/rtc/v1/whep/?app=live&stream=m";
    let epoch = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rate = 500u64; // packets a second, 1000 bytes each (~4 Mbit/s)
    let phase = Duration::from_secs(8);
    let mut seq = 0u16;
    let mut run = |publisher: &mut Peer| -> Duration {
        let cpu0 = cpu_time(a.child.id());
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < phase {
            let due = start + Duration::from_micros(n * 1_000_000 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let mut pkt = rtp(
                pt,
                seq,
                0x5eed,
                if seq % 100 == 0 { 0x65 } else { 0x41 },
                1000,
            );
            pkt[13..21].copy_from_slice(&(epoch.elapsed().as_micros() as u64).to_le_bytes());
            let enc = publisher.srtp.as_mut().unwrap().protect_rtp(&pkt).unwrap();
            publisher.sock.send_to(&enc, publisher.server).unwrap();
            seq = seq.wrapping_add(1);
            n += 1;
        }
        (cpu_time(a.child.id()) - cpu0) / phase.as_secs() as u32
    };
    let on_a = receive(
        connect(&a, whep, "aiortc_whep_recvonly.sdp", &cert),
        epoch,
        stop.clone(),
    );
    let cpu_local = run(&mut publisher);
    let on_b = receive(
        connect(&b, whep, "aiortc_whep_recvonly.sdp", &cert),
        epoch,
        stop.clone(),
    );
    let cpu_one = run(&mut publisher);
    let on_c = receive(
        connect(&c, whep, "aiortc_whep_recvonly.sdp", &cert),
        epoch,
        stop.clone(),
    );
    let cpu_two = run(&mut publisher);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut da, mut db, mut dc) = (
        on_a.join().unwrap(),
        on_b.join().unwrap(),
        on_c.join().unwrap(),
    );
    eprintln!("origin CPU per second of media at {rate} pkt/s: publisher + 1 local player {cpu_local:?}, + 1 edge {cpu_one:?}, + 2 edges {cpu_two:?}");
    for (name, d) in [
        ("player on A (origin)", &mut da),
        ("player on B (edge)", &mut db),
        ("player on C (edge)", &mut dc),
    ] {
        eprintln!(
            "{name}: {} packets, delay p50 {} us, p90 {} us, p99 {} us",
            d.len(),
            percentile(d, 50),
            percentile(d, 90),
            percentile(d, 99)
        );
    }
    assert_eq!(counter(&b, "pulls_active"), 1);
}

#[test]
fn a_restarted_redis_does_not_interrupt_a_pull() {
    let mut redis = Redis::start();
    let a = node(&redis, [127, 0, 0, 2], 1);
    let b = node(&redis, [127, 0, 0, 3], 1);
    let cert = DtlsCert::generate().unwrap();
    let mut publisher = connect(
        &a,
        "/rtc/v1/whip/?app=live&stream=steady",
        "aiortc_whip_h264.sdp",
        &cert,
    );
    let pt = publisher.answer_pt("video");
    assert!(wait_until(Duration::from_secs(5), || owner(
        &b,
        "live/steady"
    )
    .is_some()));
    let mut player = connect(
        &b,
        "/rtc/v1/whep/?app=live&stream=steady",
        "aiortc_whep_recvonly.sdp",
        &cert,
    );
    let mut seq = 0u16;
    // Media in windows of 250 ms: how many the player got in each.
    let mut windows = |publisher: &mut Peer, player: &mut Peer, total: Duration| {
        let mut got = Vec::new();
        let end = Instant::now() + total;
        while Instant::now() < end {
            let w = Instant::now() + Duration::from_millis(250);
            let mut n = 0;
            while Instant::now() < w {
                send(publisher, pt, &mut seq);
                n += drain(player);
                std::thread::sleep(Duration::from_millis(5));
            }
            got.push(n);
        }
        got
    };
    let warmup = windows(&mut publisher, &mut player, Duration::from_secs(2));
    assert!(warmup.iter().sum::<usize>() > 50, "{warmup:?}\n{}", b.log());
    let port = redis.port;
    redis.stop();
    let down = windows(&mut publisher, &mut player, Duration::from_secs(2));
    // The origin is frozen while Redis comes back empty, so the edge reads
    // a directory without the stream before the origin re-registers it.
    a.signal(libc::SIGSTOP);
    let redis = Redis::start_on(port);
    let reconnected = wait_until(Duration::from_secs(3), || {
        cluster(&b)["redis"]["up"] == true && owner(&b, "live/steady").is_none()
    });
    a.signal(libc::SIGCONT);
    assert!(reconnected, "{}", cluster(&b));
    let back = windows(
        &mut publisher,
        &mut player,
        Duration::from_secs(LEASE_SECS + 2),
    );
    // Both nodes re-registered; the pull was never ended or made again.
    assert!(redis
        .cli(&["GET", "shardsfu:stream:live/steady"])
        .contains(&node_id(&a)));
    assert_eq!(counter(&b, "pulls_started"), 1, "{}", b.log());
    assert_eq!(counter(&b, "pulls_active"), 1);
    // Media flowed while Redis was down, and flows again after (the first
    // second back, while the origin thaws, is not counted).
    assert!(
        down.iter().all(|&n| n > 0),
        "Redis down: {down:?}\n{}",
        b.log()
    );
    assert!(
        back[4..].iter().all(|&n| n > 0),
        "Redis back: {back:?}\n{}",
        b.log()
    );
    // The edge names the origin again.
    assert!(wait_until(Duration::from_secs(3), || owner(
        &b,
        "live/steady"
    ) == Some(node_id(
        &a
    ))));
}
