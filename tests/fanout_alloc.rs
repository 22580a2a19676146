//! The forward path inside one shard, measured in process: one publisher
//! packet to N players (rewrite + SRTP protect per player), counting heap
//! allocations per packet per player with a counting global allocator.
//!
//! It asserts the allocation budget (so a regression fails) and prints the
//! throughput; docs/BENCHMARKS.md quotes a release run:
//! `cargo test --release --test fanout_alloc -- --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardsfu::config::{Config, MapEnv};
use shardsfu::ice::{self, BindingRequest, IceLite};
use shardsfu::sdp::{self, AnswerOptions, Codec, ExtIds, MediaKind, PlayOptions, Role};
use shardsfu::server::player::PlayerState;
use shardsfu::server::publisher::MediaPacket;
use shardsfu::server::session::{Media, Session};
use shardsfu::server::shard::ShardState;
use shardsfu::server::Shared;
use shardsfu::srtp::{SrtpKeys, SrtpProfile, SrtpSession};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STREAM: &str = "live/bench";

fn player(shared: &Shared, i: usize, now: Instant) -> Session {
    let offer_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sdp/aiortc_whep_recvonly.sdp"),
    )
    .unwrap();
    let offer = sdp::parse_offer(&offer_text).unwrap();
    let ufrag = format!("u{i:07}");
    let pwd = "0123456789012345678901";
    let opts = AnswerOptions {
        role: Role::Play,
        ice_ufrag: ufrag.clone(),
        ice_pwd: pwd.into(),
        fingerprint_sha256: shared.fingerprint.clone(),
        dtls_role_active: false,
        candidates: vec![],
        twcc: false,
        nack: true,
        play: Some(PlayOptions {
            video_codec: Some(Codec::H264),
            audio_codec: Some(Codec::Opus),
            audio_ssrc: 1000 + i as u32,
            video_ssrc: 2000 + i as u32,
            video_rtx_ssrc: 3000 + i as u32,
            cname: "c".into(),
            stream_id: STREAM.into(),
        }),
    };
    let answer = sdp::answer(&offer, &opts).unwrap();
    let mut ice = IceLite::new(
        ufrag.clone(),
        pwd,
        Some(answer.remote_ufrag.clone()),
        Duration::from_secs(30),
        now,
    );
    let peer: SocketAddr = format!("127.0.0.1:{}", 20000 + i).parse().unwrap();
    let mut req = Vec::new();
    let username = format!("{ufrag}:{}", answer.remote_ufrag);
    let b = BindingRequest {
        username: &username,
        priority: 1,
        ice_controlling: Some(1),
        use_candidate: true,
    };
    ice::write_binding_request(&[1; 12], &b, pwd.as_bytes(), &mut req);
    let msg = ice::parse(&req).unwrap();
    ice.handle_binding_request(now, peer, &msg, &mut Vec::new())
        .unwrap();
    let keys = SrtpKeys {
        profile: SrtpProfile::AeadAes128Gcm,
        keying_material: vec![7; SrtpProfile::AeadAes128Gcm.keying_material_len()],
        is_client: false,
    };
    let media = Media::Player(PlayerState::new(
        &answer.tracks,
        1000 + i as u32,
        2000 + i as u32,
        3000 + i as u32,
        true,
    ));
    Session {
        token: format!("t{i}"),
        id: format!("{ufrag}:x"),
        role: Role::Play,
        app: "live".into(),
        stream: "bench".into(),
        stream_key: STREAM.into(),
        ufrag,
        ice,
        answer,
        created: now,
        media,
        dtls: None,
        srtp: Some(SrtpSession::new(&keys).unwrap()),
        counters: Default::default(),
        rate: Default::default(),
    }
}

fn packet(seq: u16, keyframe: bool) -> MediaPacket {
    let mut rtp = vec![0x80, 101, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
    rtp[2..4].copy_from_slice(&seq.to_be_bytes());
    rtp[4..8].copy_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    // An IDR NAL (type 5) so the first packet starts the players' video.
    rtp.push(if keyframe { 0x65 } else { 0x41 });
    rtp.extend_from_slice(&[0xab; 1100]);
    MediaPacket {
        kind: MediaKind::Video,
        codec: Codec::H264,
        keyframe,
        ext: ExtIds::default(),
        rtp: Bytes::from(rtp),
    }
}

#[test]
fn fan_out_allocations_and_throughput() {
    let players: usize = std::env::var("FANOUT_PLAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let packets: u16 = 500;
    let config = Config::embedded_default(&MapEnv::default()).unwrap().config;
    let shared = Arc::new(Shared::new(config, 1).unwrap());
    let mut shard = ShardState::new(shared.clone(), 0, "127.0.0.1:8000".parse().unwrap());
    let now = Instant::now();
    for i in 0..players {
        shard.insert(player(&shared, i, now));
        shard.on_connected(now, &format!("t{i}"));
    }
    let _ = shard.take_outputs();
    // Warm up: the first packet is a keyframe; buffers grow to size.
    for seq in 0..10u16 {
        shard.fan_out(now, STREAM, &packet(seq, seq == 0));
        let out = shard.take_outputs();
        assert_eq!(out.datagrams.len(), players, "every player gets the packet");
    }
    let pkts: Vec<MediaPacket> = (10..10 + packets).map(|s| packet(s, false)).collect();
    let mut sent = 0usize;
    let before = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for p in &pkts {
        shard.fan_out(now, STREAM, p);
        let out = shard.take_outputs();
        sent += out.datagrams.len();
    }
    let elapsed = t0.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let per = allocs as f64 / sent as f64;
    eprintln!(
        "fan-out: {players} players x {packets} packets = {sent} datagrams in {:?}: {:.0} datagrams/s on one core, {per:.2} allocations per datagram",
        elapsed,
        sent as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(sent, players * packets as usize);
    // rtc-srtp's protect allocates its output (and an owned header) per
    // packet; shardsfu's own part (rewrite, routing) adds none. Budget: 4.
    assert!(per <= 4.0, "{per:.2} allocations per forwarded datagram");
}
