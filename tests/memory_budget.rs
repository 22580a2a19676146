//! Memory per peer, held to issue 15's budgets: the SFU's heap bytes per
//! subscriber (fan-out) and per 1:1 publisher+subscriber pair, counted with
//! a counting global allocator while sans-IO peers publish and play on the
//! simulated network (tests/sim/) in virtual time.
//!
//! The harness's budgets are RSS (≤ 32 KiB per subscriber, ≤ 128 KiB per
//! pair, docs/BENCHMARKS.md); RSS adds the allocator's slack, so the counts
//! here are malloc chunks (glibc's rounding and header included) and the
//! limits below leave room for it. Run with `--nocapture` to see the figures:
//! `cargo test --test memory_budget -- --nocapture`.

mod sim;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use shardsfu::sdp::Role;
use shardsfu::sfu::SfuSettings;
use sim::world::World;

/// Heap bytes (malloc chunks) a subscriber may cost the SFU (24.3 KiB on
/// 2026-12-01; the harness measured 28.6 KiB RSS for it).
const SUBSCRIBER_BUDGET: i64 = 28 * 1024;
/// Heap bytes (malloc chunks) a 1:1 publisher+subscriber pair may cost the
/// SFU, with its stream's packet history (~0.9 Mbit/s here, as the harness;
/// 93.8 KiB on 2026-12-01, 98.6 KiB RSS in the harness).
const PAIR_BUDGET: i64 = 112 * 1024;

/// Counts live heap bytes per thread, so tests running in parallel do not
/// see each other's allocations (the simulated world is single-threaded).
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

/// What glibc's malloc takes for a request of `size` bytes: 8 bytes of
/// header, rounded up to 16, at least 32.
fn chunk(size: usize) -> i64 {
    (((size + 8 + 15) & !15).max(32)) as i64
}

fn add(delta: i64) {
    // `try_with`: the thread's slot may be gone during its teardown.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(chunk(layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(chunk(layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-chunk(layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(chunk(new_size) - chunk(layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// The SFU's heap after `pairs` streams of one publisher and `players`
/// players each have run for 3 s of virtual time (its packet history full),
/// measured with the peers and the datagrams in flight dropped: what is
/// left is the shard, its sessions and the directory.
fn server_bytes(streams: usize, players: usize) -> i64 {
    let before = live();
    let mut w = World::new(1, 7, SfuSettings::default());
    for s in 0..streams {
        let name = format!("s{s}");
        let p = w.add_peer(Role::Publish, 0, true);
        w.signal(p, 0, &name).unwrap();
        for _ in 0..players {
            let v = w.add_peer(Role::Play, 0, true);
            w.signal(v, 0, &name).unwrap();
        }
    }
    w.run_for(Duration::from_secs(3));
    let connected = w.peers.iter().filter(|p| p.stats.dtls_connected).count();
    assert_eq!(connected, streams * (1 + players), "every peer connected");
    let played = w
        .peers
        .iter()
        .filter(|p| p.role == Role::Play && p.stats.unique_received > 200)
        .count();
    assert_eq!(played, streams * players, "every player got media");
    drop(std::mem::take(&mut w.peers));
    let far = Instant::now() + Duration::from_secs(3600);
    while w.net.pop_due(w.now.max(far)).is_some() {}
    let bytes = live() - before;
    drop(w);
    bytes
}

fn kib(b: i64) -> f64 {
    b as f64 / 1024.0
}

#[test]
fn a_subscriber_and_a_pair_stay_within_their_memory_budgets() {
    // The fixed part: certificate, shard tables, one stream's history.
    let base = server_bytes(0, 0);
    let one = server_bytes(1, 1);
    let fan_small = server_bytes(1, 4);
    let fan_big = server_bytes(1, 24);
    let pairs = server_bytes(8, 1);
    let per_subscriber = (fan_big - fan_small) / 20;
    let per_pair = (pairs - base) / 8;
    println!(
        "memory: empty world {:.1} KiB, 1 pair {:.1} KiB over it; \
         per subscriber {:.1} KiB (budget {:.0}); per pair {:.1} KiB (budget {:.0})",
        kib(base),
        kib(one - base),
        kib(per_subscriber),
        kib(SUBSCRIBER_BUDGET),
        kib(per_pair),
        kib(PAIR_BUDGET),
    );
    assert!(
        per_subscriber <= SUBSCRIBER_BUDGET,
        "a subscriber costs {:.1} KiB, over its budget of {:.0} KiB",
        kib(per_subscriber),
        kib(SUBSCRIBER_BUDGET)
    );
    assert!(
        per_pair <= PAIR_BUDGET,
        "a publisher+subscriber pair costs {:.1} KiB, over its budget of {:.0} KiB",
        kib(per_pair),
        kib(PAIR_BUDGET)
    );
}
