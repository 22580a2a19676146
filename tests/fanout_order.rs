//! The fan-out goes player by player: each player gets its copies of a
//! received batch together (so the runtime sends them as one GSO message),
//! the runtime drains them in chunks that never split a player's run, and
//! players that leave or join between chunks are neither served twice nor
//! handed half a batch.

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use common::sfu::{add_player, add_players, new_sfu, packet, player_addr, STREAM};
use shardsfu::sfu::{EndReason, Output, SessionToken, Sfu, StreamKey};

/// The destinations and RTP sequence numbers of the datagrams in `outs`
/// (SRTP leaves the header in the clear).
fn datagrams(outs: &[Output]) -> Vec<(SocketAddr, u16)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(data, to) => Some((*to, u16::from_be_bytes([data[2], data[3]]))),
            _ => None,
        })
        .collect()
}

/// Hands the SFU `count` packets from `first` as one received batch (no
/// drain in between).
fn receive_batch(sfu: &mut Sfu, now: Instant, first: u16, count: u16) {
    let stream = StreamKey::from(STREAM);
    for seq in first..first + count {
        sfu.inject_media(now, &stream, &packet(seq, seq == 0));
    }
}

/// A shard with `count` connected players of STREAM, their setup's
/// outputs (events) drained.
fn shard_with_players(count: usize, now: Instant) -> (Sfu, Vec<SessionToken>) {
    let mut sfu = new_sfu(now);
    let tokens = add_players(&mut sfu, count, now);
    sfu.drain_outputs(&mut Vec::new());
    (sfu, tokens)
}

#[test]
fn each_player_gets_its_copies_of_a_batch_together() {
    let now = Instant::now();
    let (mut sfu, _) = shard_with_players(4, now);
    receive_batch(&mut sfu, now, 0, 3);
    assert_eq!(sfu.pending_fan_out_packets(), 3);
    assert_eq!(sfu.pending_outputs(), 0, "copies are made when drained");
    let mut outs = Vec::new();
    sfu.drain_outputs(&mut outs);
    let sent = datagrams(&outs);
    let order: Vec<SocketAddr> = sent.iter().map(|d| d.0).collect();
    let expected: Vec<SocketAddr> = (0..4).flat_map(|i| [player_addr(i); 3]).collect();
    assert_eq!(order, expected, "player by player, not packet by packet");
    for run in sent.chunks(3) {
        let seqs: Vec<u16> = run.iter().map(|d| d.1).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "a player's run is in order: {seqs:?}"
        );
    }
    assert_eq!(sfu.pending_fan_out_packets(), 0);
}

#[test]
fn a_chunk_ends_between_players_runs() {
    let now = Instant::now();
    let (mut sfu, _) = shard_with_players(10, now);
    receive_batch(&mut sfu, now, 0, 3);
    let mut outs = Vec::new();
    sfu.drain_outputs_upto(&mut outs, 4);
    assert_eq!(datagrams(&outs).len(), 6, "two whole runs of 3 reach 4");
    let mut total = outs.len();
    loop {
        outs.clear();
        sfu.drain_outputs_upto(&mut outs, 4);
        if outs.is_empty() {
            break;
        }
        assert_eq!(outs.len() % 3, 0, "runs are never split");
        total += outs.len();
    }
    assert_eq!(total, 30);
}

#[test]
fn players_that_leave_or_join_between_chunks() {
    let now = Instant::now();
    let (mut sfu, tokens) = shard_with_players(5, now);
    receive_batch(&mut sfu, now, 0, 2);
    let mut outs = Vec::new();
    sfu.drain_outputs_upto(&mut outs, 2);
    let mut sent = datagrams(&outs);
    assert_eq!(sent.len(), 2, "player 0's run");
    assert!(sfu.close(now, tokens[1].as_str(), EndReason::Deleted));
    add_player(&mut sfu, 7, now);
    outs.clear();
    sfu.drain_outputs(&mut outs);
    sent.extend(datagrams(&outs));
    for i in [0, 2, 3, 4] {
        let copies = sent.iter().filter(|d| d.0 == player_addr(i)).count();
        assert_eq!(copies, 2, "player {i} gets the batch once");
    }
    assert!(!sent.iter().any(|d| d.0 == player_addr(1)), "left: skipped");
    assert!(
        !sent.iter().any(|d| d.0 == player_addr(7)),
        "joined mid-way: not half a batch"
    );
    // The next batch reaches the player that joined (from a keyframe on).
    sfu.inject_media(now, &StreamKey::from(STREAM), &packet(2, true));
    outs.clear();
    sfu.drain_outputs(&mut outs);
    let next: Vec<SocketAddr> = datagrams(&outs).iter().map(|d| d.0).collect();
    assert_eq!(next.len(), 5);
    assert!(next.contains(&player_addr(7)));
}

#[test]
fn poll_output_expands_one_player_at_a_time() {
    let now = Instant::now();
    let (mut sfu, _) = shard_with_players(3, now);
    receive_batch(&mut sfu, now, 0, 2);
    let mut seen = Vec::new();
    while let Some(o) = sfu.poll_output() {
        if let Output::Transmit(_, to) = o {
            seen.push(to);
        }
    }
    let expected: Vec<SocketAddr> = (0..3).flat_map(|i| [player_addr(i); 2]).collect();
    assert_eq!(seen, expected);
}
