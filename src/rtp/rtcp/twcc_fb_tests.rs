//! Tests of the parent module.
use rtc_rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
    SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
};
use rtc_shared::marshal::{Marshal, Unmarshal};

use super::*;
use crate::rtp::rtcp::{parse_compound, RtcpPacket};
use TwccStatus::{Large as L, NotReceived as N, Small as S};

fn fb(base_seq: u16, statuses: Vec<TwccStatus>) -> TwccFeedback {
    TwccFeedback {
        sender: Ssrc(1),
        media: Ssrc(2),
        base_seq,
        reference_time: 0x12_3456,
        fb_count: 7,
        statuses,
    }
}

fn encode(f: &TwccFeedback) -> Vec<u8> {
    let mut out = Vec::new();
    let n = f.write(&mut out);
    assert_eq!(n, out.len());
    assert_eq!(n % 4, 0);
    out
}

/// Chunk words written for `statuses`.
fn chunks(statuses: &[TwccStatus]) -> Vec<u16> {
    let mut out = Vec::new();
    write_chunks(statuses, &mut out);
    out.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// Statuses as rtc-rtcp decodes them.
fn theirs_decode(pkt: &[u8]) -> (TransportLayerCc, Vec<TwccStatus>) {
    let t = TransportLayerCc::unmarshal(&mut &pkt[..]).expect("rtc-rtcp parses it");
    let mut syms = Vec::new();
    let count = usize::from(t.packet_status_count);
    for c in &t.packet_chunks {
        let left = count - syms.len();
        match c {
            PacketStatusChunk::RunLengthChunk(r) => syms.extend(std::iter::repeat_n(
                r.packet_status_symbol,
                usize::from(r.run_length).min(left),
            )),
            PacketStatusChunk::StatusVectorChunk(v) => {
                syms.extend(v.symbol_list.iter().take(left).copied())
            }
        }
    }
    assert_eq!(syms.len(), count);
    let mut deltas = t.recv_deltas.iter();
    let statuses = syms
        .into_iter()
        .map(|s| match s {
            SymbolTypeTcc::PacketNotReceived => N,
            SymbolTypeTcc::PacketReceivedSmallDelta => {
                S((deltas.next().unwrap().delta / DELTA_UNIT_US) as u8)
            }
            SymbolTypeTcc::PacketReceivedLargeDelta => {
                L((deltas.next().unwrap().delta / DELTA_UNIT_US) as i16)
            }
            SymbolTypeTcc::PacketReceivedWithoutDelta => panic!("reserved symbol"),
        })
        .collect();
    assert!(deltas.next().is_none(), "no extra deltas");
    (t, statuses)
}

/// A packet rtc-rtcp writes for `statuses`: a naive encoding of two-bit
/// vectors, with runs of 7 or more equal symbols as run-length chunks.
fn theirs_encode(f: &TwccFeedback) -> Vec<u8> {
    let sym = |s: &TwccStatus| match s {
        N => SymbolTypeTcc::PacketNotReceived,
        S(_) => SymbolTypeTcc::PacketReceivedSmallDelta,
        L(_) => SymbolTypeTcc::PacketReceivedLargeDelta,
    };
    let mut packet_chunks = Vec::new();
    let mut i = 0;
    while i < f.statuses.len() {
        let run = f.statuses[i..]
            .iter()
            .take_while(|s| s.symbol() == f.statuses[i].symbol())
            .count()
            .min(MAX_RUN);
        if run >= 7 {
            packet_chunks.push(PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: sym(&f.statuses[i]),
                run_length: run as u16,
            }));
            i += run;
        } else {
            let mut list: Vec<_> = f.statuses[i..].iter().take(7).map(sym).collect();
            i += list.len();
            list.resize(7, SymbolTypeTcc::PacketNotReceived);
            packet_chunks.push(PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                symbol_size: SymbolSizeTypeTcc::TwoBit,
                symbol_list: list,
            }));
        }
    }
    let recv_deltas = f
        .statuses
        .iter()
        .filter_map(|s| match s {
            N => None,
            S(d) => Some(RecvDelta {
                type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
                delta: i64::from(*d) * DELTA_UNIT_US,
            }),
            L(d) => Some(RecvDelta {
                type_tcc_packet: SymbolTypeTcc::PacketReceivedLargeDelta,
                delta: i64::from(*d) * DELTA_UNIT_US,
            }),
        })
        .collect();
    let t = TransportLayerCc {
        sender_ssrc: f.sender.0,
        media_ssrc: f.media.0,
        base_sequence_number: f.base_seq,
        packet_status_count: f.statuses.len() as u16,
        reference_time: f.reference_time,
        fb_pkt_count: f.fb_count,
        packet_chunks,
        recv_deltas,
    };
    t.marshal().expect("rtc-rtcp writes it").to_vec()
}

/// Ours → ours, ours → rtc-rtcp, rtc-rtcp → ours, and through the compound parser.
fn check(f: &TwccFeedback) {
    let pkt = encode(f);
    assert_eq!(&TwccFeedback::parse(&pkt).unwrap(), f);
    let (t, statuses) = theirs_decode(&pkt);
    assert_eq!(statuses, f.statuses);
    assert_eq!(
        (
            t.sender_ssrc,
            t.media_ssrc,
            t.base_sequence_number,
            t.reference_time,
            t.fb_pkt_count
        ),
        (
            f.sender.0,
            f.media.0,
            f.base_seq,
            f.reference_time,
            f.fb_count
        )
    );
    let theirs = theirs_encode(f);
    assert_eq!(&TwccFeedback::parse(&theirs).unwrap(), f);
    let Some(Ok(RtcpPacket::TransportCc(v))) = parse_compound(&pkt).next() else {
        panic!("compound parser does not see transport-cc");
    };
    assert_eq!(&TwccFeedback::from_view(&v).unwrap(), f);
}

#[test]
fn chunk_choice() {
    // All equal: one run.
    assert_eq!(chunks(&[S(1); 20]), vec![0x2000 | 20]);
    assert_eq!(chunks(&[N; 3]), vec![3]);
    // Mixed small/lost: one-bit vectors of 14, the rest as two-bit.
    let mixed: Vec<_> = (0..20).map(|i| if i % 2 == 0 { S(4) } else { N }).collect();
    assert_eq!(
        chunks(&mixed),
        vec![0b1010_1010_1010_1010, 0xC000 | 0b01_00_01_00_01_00_00]
    );
    // A large delta forces two-bit vectors.
    assert_eq!(
        chunks(&[S(1), L(-1), N, S(1), N, S(1), N]),
        vec![0xC000 | 0b01_10_00_01_00_01_00]
    );
    // A long run after mixed symbols: the vector fills up first.
    let mut v = vec![S(1), N, S(1), N, S(1), N, S(1)];
    v.extend([N; 100]);
    assert_eq!(chunks(&v), vec![0b1010_1010_1000_0000, 93]);
    // Runs longer than 8191 are split.
    assert_eq!(chunks(&[N; 10_000]), vec![8191, 10_000 - 8191]);
}

#[test]
fn round_trips_and_agrees_with_rtc_rtcp() {
    check(&fb(0, vec![S(0)]));
    check(&fb(65_530, vec![S(10); 30])); // sequence wrap
    check(&fb(
        5,
        (0..50)
            .map(|i| if i % 3 == 0 { N } else { S(i as u8) })
            .collect(),
    ));
    // Large and negative deltas (reordering), mixed with losses.
    check(&fb(
        100,
        vec![
            S(1),
            L(-40),
            L(1000),
            N,
            N,
            S(255),
            L(i16::MIN),
            L(i16::MAX),
            S(0),
        ],
    ));
    // A large loss run beyond one run-length chunk, then arrivals.
    let mut v = vec![S(3)];
    v.extend([N; 9000]);
    v.extend([S(1), L(300), S(2)]);
    check(&fb(60_000, v));
    // Pseudo-random patterns.
    let mut x: u32 = 12_345;
    for len in [1usize, 7, 13, 14, 15, 29, 100, 1000] {
        let v = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                match (x >> 16) % 8 {
                    0..=1 => N,
                    2 => L((x >> 3) as i16),
                    _ => S((x >> 8) as u8),
                }
            })
            .collect();
        check(&fb(x as u16, v));
    }
}

#[test]
fn arrivals_add_up() {
    let f = TwccFeedback {
        reference_time: 2,
        ..fb(10, vec![S(4), N, L(-2), S(8)])
    };
    let a: Vec<_> = f.arrivals().collect();
    assert_eq!(
        a,
        vec![
            (10, Some(129_000)),
            (11, None),
            (12, Some(128_500)),
            (13, Some(130_500))
        ]
    );
    assert_eq!(TwccStatus::received(255), Some(S(255)));
    assert_eq!(TwccStatus::received(256), Some(L(256)));
    assert_eq!(TwccStatus::received(-1), Some(L(-1)));
    assert_eq!(TwccStatus::received(40_000), None);
}

#[test]
fn bad_input() {
    let good = encode(&fb(1, vec![S(1), N, L(5)]));
    assert_eq!(
        TwccFeedback::parse(&good[..10]),
        Err(TwccError::TooShort { len: 10, need: 20 })
    );
    let mut nack = good.clone();
    nack[0] = (nack[0] & 0xe0) | 1;
    assert_eq!(
        TwccFeedback::parse(&nack),
        Err(TwccError::NotTwcc {
            version: 2,
            pt: 205,
            fmt: 1
        })
    );
    let cut = &good[..good.len() - 4];
    assert!(matches!(
        TwccFeedback::parse(cut),
        Err(TwccError::TooShort { .. })
    ));
    let mut pad = good.clone();
    *pad.last_mut().unwrap() = 0;
    assert!(matches!(
        TwccFeedback::parse(&pad),
        Err(TwccError::BadPadding { padding: 0, .. })
    ));

    // Status count 40 with one run chunk of 3 and nothing after it.
    let mut p = vec![
        0x8f, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 40, 0, 0, 0, 0,
    ];
    p.extend_from_slice(&[0x20, 3, 0, 0]);
    assert!(matches!(
        TwccFeedback::parse(&p),
        Err(TwccError::ChunksTruncated {
            count: 40,
            covered: 3
        })
    ));
    // Reserved symbol 3 in a run chunk and in a two-bit vector.
    p[15] = 3;
    p[20] = 0x60;
    assert_eq!(
        TwccFeedback::parse(&p),
        Err(TwccError::ReservedSymbol { chunk: 0x6003 })
    );
    p[20] = 0xff;
    assert_eq!(
        TwccFeedback::parse(&p),
        Err(TwccError::ReservedSymbol { chunk: 0xff03 })
    );
    // Three small deltas announced, two bytes there.
    p[20] = 0x20;
    assert_eq!(
        TwccFeedback::parse(&p),
        Err(TwccError::DeltasTruncated { need: 3, have: 2 })
    );
}
