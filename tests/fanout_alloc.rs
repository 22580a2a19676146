//! The forward path inside one shard, measured in process: one publisher
//! packet to N players (rewrite + SRTP protect per player), counting heap
//! allocations per packet per player with a counting global allocator.
//!
//! It asserts the allocation budget (so a regression fails) and prints the
//! throughput; docs/BENCHMARKS.md quotes a release run:
//! `cargo test --release --test fanout_alloc -- --nocapture`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::sfu::{add_players, new_sfu, packet, STREAM};
use shardsfu::sfu::{MediaPacket, Output, Sfu, StreamKey};

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

/// Datagrams among the SFU's outputs.
fn transmits(sfu: &mut Sfu, outs: &mut Vec<Output>) -> usize {
    outs.clear();
    sfu.drain_outputs(outs);
    outs.iter()
        .filter(|o| matches!(o, Output::Transmit(..)))
        .count()
}

#[test]
fn fan_out_allocations_and_throughput() {
    let players: usize = std::env::var("FANOUT_PLAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let packets: u16 = 500;
    let now = Instant::now();
    let mut sfu = new_sfu(now);
    let stream = StreamKey::from(STREAM);
    add_players(&mut sfu, players, now);
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
