//! Micro-benchmarks of shardsfu's per-packet hot path:
//! STUN answer, SRTP protect/unprotect (GCM and CM), RTP header rewrite,
//! one packet to 1,000 subscribers within a shard, a cross-shard batch, and
//! the receiving shard's part of a routed datagram.
//!
//! `cargo bench -p shardsfu-bench --bench hot_path`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardsfu::ice::{self, BindingRequest, IntegrityKey};
use shardsfu::rtp::{ExtIdMap, Pt, Rewriter, Ssrc};
use shardsfu::sfu::routes::Routes;
use shardsfu::srtp::{SrtpKeys, SrtpProfile, SrtpSession};

/// A 1,100-byte payload video packet, like the harness's.
fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![
        0x80,
        0x60 | 0x80,
        0,
        0,
        0,
        0,
        0x10,
        0,
        0x11,
        0x22,
        0x33,
        0x44,
    ];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend(std::iter::repeat_n(0xab, 1100));
    p
}

fn keys(profile: SrtpProfile, is_client: bool) -> SrtpKeys {
    let keying_material = (0..profile.keying_material_len())
        .map(|i| i as u8)
        .collect();
    SrtpKeys {
        profile,
        keying_material,
        is_client,
    }
}

fn stun_answer(c: &mut Criterion) {
    let pwd = b"server-password-0123456789";
    let key = IntegrityKey::new(pwd);
    let req = BindingRequest {
        username: "srvufrag:cliufrag",
        priority: 0x6e00_01ff,
        ice_controlling: Some(7),
        use_candidate: true,
    };
    let mut check = Vec::new();
    ice::write_binding_request(&[3; 12], &req, pwd, &mut check);
    let from: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let mut out = Vec::with_capacity(128);
    c.bench_function("stun/parse+verify+answer", |b| {
        b.iter(|| {
            let msg = ice::parse(&check).unwrap();
            assert!(msg.verify_integrity_with(&key));
            out.clear();
            ice::write_binding_success_with(msg.transaction_id(), from, &key, &mut out);
            out.len()
        })
    });
}

fn srtp(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp");
    g.throughput(Throughput::Elements(1));
    for (name, profile) in [
        ("gcm", SrtpProfile::AeadAes128Gcm),
        ("cm", SrtpProfile::Aes128CmHmacSha1_80),
    ] {
        let mut tx = SrtpSession::new(&keys(profile, true)).unwrap();
        let mut seq = 0u16;
        g.bench_function(format!("protect_{name}_1112B"), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                tx.protect_rtp(&rtp_packet(seq)).unwrap()
            })
        });
        // As the fan-out protects: into a shared arena, the packet built once.
        let mut arena = bytes::BytesMut::new();
        let packet = rtp_packet(1);
        g.bench_function(format!("protect_in_arena_{name}_1112B"), |b| {
            b.iter(|| tx.protect_rtp_in(&packet, &mut arena).unwrap())
        });
        // Unprotect needs a packet the receiver has not seen (replay protection)
        // and a rollover counter it can guess: a fresh pair per iteration.
        let packet = rtp_packet(1);
        g.bench_function(format!("unprotect_{name}_1112B"), |b| {
            b.iter_batched(
                || {
                    let mut tx = SrtpSession::new(&keys(profile, true)).unwrap();
                    (
                        SrtpSession::new(&keys(profile, false)).unwrap(),
                        tx.protect_rtp(&packet).unwrap(),
                    )
                },
                |(mut rx, p)| rx.unprotect_rtp(&p).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn rewrite(c: &mut Criterion) {
    let mut rw = Rewriter::new(90_000);
    let ext = ExtIdMap::drop_all();
    let mut out = Vec::with_capacity(1500);
    let now = Instant::now();
    let mut seq = 0u16;
    let pkts: Vec<Vec<u8>> = (0..1024).map(rtp_packet).collect();
    c.bench_function("rtp/rewrite_header", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            rw.rewrite_into(
                now,
                &pkts[usize::from(seq) % 1024],
                &mut out,
                Ssrc(0x5555),
                Pt(102),
                &ext,
            )
            .unwrap()
        })
    });
}

/// What a shard does per subscriber for one packet: rewrite the header into
/// the subscriber's numbering, protect with the subscriber's SRTP context
/// into the shard's arena (as `sfu::fanout` does).
fn fanout_1000(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    for (name, profile) in [
        ("gcm", SrtpProfile::AeadAes128Gcm),
        ("cm", SrtpProfile::Aes128CmHmacSha1_80),
    ] {
        let mut subs: Vec<(Rewriter, SrtpSession)> = (0..1000)
            .map(|_| {
                (
                    Rewriter::new(90_000),
                    SrtpSession::new(&keys(profile, false)).unwrap(),
                )
            })
            .collect();
        let ext = ExtIdMap::drop_all();
        let mut out = Vec::with_capacity(1500);
        let now = Instant::now();
        let mut seq = 0u16;
        let mut arena = bytes::BytesMut::new();
        g.bench_function(format!("one_packet_to_1000_subscribers_{name}"), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                let pkt = rtp_packet(seq);
                let mut bytes = 0;
                for (i, (rw, srtp)) in subs.iter_mut().enumerate() {
                    rw.rewrite_into(now, &pkt, &mut out, Ssrc(i as u32), Pt(102), &ext)
                        .unwrap();
                    bytes += srtp.protect_rtp_in(&out, &mut arena).unwrap().len();
                }
                bytes
            })
        });
    }
    g.finish();
}

/// A batch of 64 media packets from shard 0 to shard 1 over the server's
/// channel mesh (glommio shared channels), timed from the first send to the
/// last receive.
fn cross_shard(c: &mut Criterion) {
    const BATCH: u64 = 64;
    let mut g = c.benchmark_group("cross_shard");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    let pkt = Bytes::from(rtp_packet(1));
    g.bench_function("batch_of_64_packets", |b| {
        b.iter_custom(|iters| {
            let total = iters * BATCH;
            let pkt = pkt.clone();
            let mut opts = shards::RuntimeOptions::new(2, shards::Shutdown::new());
            opts.pin = false;
            let out = shards::run::<Bytes, _, _, _>(opts, move |mut ctx| {
                let pkt = pkt.clone();
                async move {
                    let receivers = ctx.mesh.take_receivers();
                    if ctx.id == 0 {
                        let t0 = Instant::now();
                        for _ in 0..total {
                            let _ = ctx.mesh.send(1, pkt.clone()).await;
                        }
                        ctx.mesh.close();
                        Some(t0)
                    } else {
                        let mut n = 0;
                        for (_, rx) in receivers {
                            while n < total {
                                match rx.recv().await {
                                    Some(_) => n += 1,
                                    None => break,
                                }
                            }
                        }
                        ctx.mesh.close();
                        let end = Instant::now();
                        Some(end)
                    }
                }
            })
            .expect("runtime");
            match (out[0], out[1]) {
                (Some(t0), Some(end)) => end.saturating_duration_since(t0),
                _ => Duration::ZERO,
            }
        })
    });
    g.finish();
}

/// The receiving shard's part of a datagram from a client that moved to an
/// address another shard receives (`sfu::routes`): the route lookup (1,000
/// routes) and the copy into the mesh message. The hop itself is
/// `cross_shard`'s figure.
fn routed(c: &mut Criterion) {
    let mut routes = Routes::default();
    for i in 0..1000u32 {
        routes.add_inbound(SocketAddr::from((std::net::Ipv4Addr::from(i), 5000)), 1);
    }
    let from = SocketAddr::from((std::net::Ipv4Addr::from(500u32), 5000));
    let pkt = rtp_packet(1);
    c.bench_function("routed/lookup+copy_1112B", |b| {
        b.iter(|| {
            let owner = routes.owner_of(std::hint::black_box(&from));
            (owner, std::hint::black_box(&pkt).to_vec())
        })
    });
}

criterion_group!(
    benches,
    routed,
    stun_answer,
    srtp,
    rewrite,
    fanout_1000,
    cross_shard
);
criterion_main!(benches);
