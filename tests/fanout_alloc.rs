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
use std::time::Instant;

use bytes::Bytes;
use shardsfu::dtls::DtlsCert;
use shardsfu::ice::{self, BindingRequest};
use shardsfu::rtp::receiver_stats::NtpClock;
use shardsfu::sdp::{Codec, ExtIds, MediaKind, Role};
use shardsfu::sfu::create::SourceCodecs;
use shardsfu::sfu::{CreateSession, MediaPacket, Output, Session, Sfu, SfuConfig, StreamKey};
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

/// A connected player of STREAM, made by the SFU from a real WHEP offer.
fn player(sfu: &Sfu, i: usize, now: Instant) -> Session {
    let offer = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sdp/aiortc_whep_recvonly.sdp"),
    )
    .unwrap();
    let ufrag = format!("u{i:07}");
    let pwd = "0123456789012345678901";
    let req = CreateSession {
        role: Role::Play,
        vhost: "__defaultVhost__".into(),
        app: "live".into(),
        stream: "bench".into(),
        offer,
        ice_ufrag: Some(ufrag.clone()),
        ice_pwd: Some(pwd.into()),
        client_ip: None,
    };
    let source = SourceCodecs {
        video: Some(Codec::H264),
        audio: Some(Codec::Opus),
    };
    let mut s = sfu.new_session(now, &req, vec![], Some(source)).unwrap();
    let peer: SocketAddr = format!("127.0.0.1:{}", 20000 + i).parse().unwrap();
    let mut check = Vec::new();
    let username = format!("{ufrag}:{}", s.answer.remote_ufrag);
    let b = BindingRequest {
        username: &username,
        priority: 1,
        ice_controlling: Some(1),
        use_candidate: true,
    };
    ice::write_binding_request(&[1; 12], &b, pwd.as_bytes(), &mut check);
    let msg = ice::parse(&check).unwrap();
    s.ice
        .handle_binding_request(now, peer, &msg, &mut Vec::new())
        .unwrap();
    let keys = SrtpKeys {
        profile: SrtpProfile::AeadAes128Gcm,
        keying_material: vec![7; SrtpProfile::AeadAes128Gcm.keying_material_len()],
        is_client: false,
    };
    s.srtp = Some(SrtpSession::new(&keys).unwrap());
    s
}

/// Datagrams among the SFU's outputs.
fn transmits(sfu: &mut Sfu, outs: &mut Vec<Output>) -> usize {
    outs.clear();
    sfu.drain_outputs(outs);
    outs.iter()
        .filter(|o| matches!(o, Output::Transmit(..)))
        .count()
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
    let now = Instant::now();
    let mut sfu = Sfu::new(SfuConfig {
        id: 0,
        local_addr: "127.0.0.1:8000".parse().unwrap(),
        cert: Arc::new(DtlsCert::generate().unwrap()),
        ntp: NtpClock::new(now, std::time::SystemTime::now()),
        stats: Arc::default(),
        settings: Arc::default(),
    });
    let stream = StreamKey::from(STREAM);
    for i in 0..players {
        let s = player(&sfu, i, now);
        let token = s.token.clone();
        sfu.insert(s);
        sfu.on_connected(now, &token);
    }
    let mut outs = Vec::new();
    transmits(&mut sfu, &mut outs);
    // Warm up: the first packet is a keyframe; buffers grow to size.
    for seq in 0..10u16 {
        sfu.inject_media(now, &stream, &packet(seq, seq == 0));
        let n = transmits(&mut sfu, &mut outs);
        assert_eq!(n, players, "every player gets the packet");
    }
    let pkts: Vec<MediaPacket> = (10..10 + packets).map(|s| packet(s, false)).collect();
    let mut sent = 0usize;
    let before = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for p in &pkts {
        sfu.inject_media(now, &stream, p);
        sent += transmits(&mut sfu, &mut outs);
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
