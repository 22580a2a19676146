//! Fan-out player by player: a received batch's packets of a stream are
//! queued, and each local player then gets its copies of all of them
//! together (rewritten, protected, queued back to back) before the next
//! player's.
//!
//! Going packet by packet, a keyframe of K packets to N players is sent as
//! K rounds of N datagrams: the last player waits for K × N copies, and
//! no two adjacent datagrams share a destination. Going player by player,
//! the runtime sends each player's run as one UDP GSO message
//! ([`shards::SendBatch`]), about half the kernel's work per datagram, and
//! the players are served in one pass. The copies are made as the runtime
//! drains them, in chunks ([`Sfu::drain_outputs_upto`]), so a large
//! audience's copies are never all held at once: what waits is the
//! batch's plain packets (reference-counted, already received).
//!
//! A group's players are read from the router when its expansion starts:
//! one that leaves before its turn is skipped (its session is gone), one
//! that joins after gets the next group's packets.

use std::collections::VecDeque;
use std::time::Instant;

use crate::sfu::history::StreamHistory;
use crate::sfu::{Media, MediaPacket, Output, Session, SessionToken, Sfu, ShardStats, StreamKey};

/// Packets one group holds at most (a receive batch is 32; a longer run of
/// one stream starts another group).
pub const MAX_GROUP_PACKETS: usize = 64;

/// Emptied groups kept for reuse (their vectors keep their capacity).
const SPARE_GROUPS: usize = 4;

/// Fan-outs queued and not yet expanded into datagrams.
#[derive(Debug, Default)]
pub(super) struct FanOutQueue {
    groups: VecDeque<Group>,
    spare: Vec<Group>,
}

/// Consecutive packets of one stream, and how far their fan-out got.
#[derive(Debug, Default)]
struct Group {
    stream: Option<StreamKey>,
    packets: Vec<Queued>,
    /// The stream's local players, read when the expansion starts.
    players: Vec<SessionToken>,
    /// The next of `players` to serve.
    next: usize,
    started: bool,
}

#[derive(Debug)]
struct Queued {
    packet: MediaPacket,
    at: Instant,
    /// Some player here may NACK it: it goes into the stream's history.
    keep: bool,
}

impl FanOutQueue {
    /// Queues `packet` of `stream`, received at `at`.
    pub(super) fn push(&mut self, at: Instant, stream: &StreamKey, packet: &MediaPacket) {
        let joins_last = self.groups.back().is_some_and(|g| {
            !g.started && g.packets.len() < MAX_GROUP_PACKETS && g.stream.as_ref() == Some(stream)
        });
        if !joins_last {
            let mut g = self.spare.pop().unwrap_or_default();
            g.stream = Some(stream.clone());
            self.groups.push_back(g);
        }
        if let Some(g) = self.groups.back_mut() {
            g.packets.push(Queued {
                packet: packet.clone(),
                at,
                keep: false,
            });
        }
    }

    /// Whether nothing waits to be expanded.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Packets waiting to be expanded (each into one copy per player).
    pub(super) fn packets(&self) -> usize {
        self.groups.iter().map(|g| g.packets.len()).sum()
    }

    fn recycle(&mut self, mut g: Group) {
        if self.spare.len() < SPARE_GROUPS {
            g.stream = None;
            g.packets.clear();
            g.players.clear();
            g.next = 0;
            g.started = false;
            self.spare.push(g);
        }
    }
}

impl Sfu {
    /// Expands queued fan-outs, a whole player's run at a time, until at
    /// least `budget` datagrams were queued or none is left. A group's
    /// packets go into the stream's history once every player was served.
    pub(super) fn expand_fan_outs(&mut self, budget: usize) {
        let mut made = 0;
        while made < budget {
            let Some(group) = self.fan_outs.groups.front_mut() else {
                break;
            };
            if !group.started {
                group.started = true;
                if let Some(stream) = &group.stream {
                    let players = self.router.subscribers(stream.as_str());
                    group.players.extend_from_slice(players);
                }
            }
            if let Some(token) = group.players.get(group.next) {
                group.next += 1;
                if let Some(s) = self.sessions.get_mut(token) {
                    let (scratch, arena) = (&mut self.scratch, &mut self.arena);
                    made += serve(
                        s,
                        &mut group.packets,
                        scratch,
                        arena,
                        &mut self.out,
                        &self.stats,
                    );
                }
                continue;
            }
            if let Some(done) = self.fan_outs.groups.pop_front() {
                if let Some(stream) = &done.stream {
                    keep_in_history(&mut self.histories, stream, &done.packets);
                }
                self.fan_outs.recycle(done);
            }
        }
    }
}

/// Queues one player's copies of `packets`, each rewritten into `scratch`
/// and protected into `arena` (see [`crate::srtp::seal`]); returns how many.
fn serve(
    s: &mut Session,
    packets: &mut [Queued],
    scratch: &mut Vec<u8>,
    arena: &mut bytes::BytesMut,
    out: &mut VecDeque<Output>,
    stats: &ShardStats,
) -> usize {
    let (Media::Player(p), Some(srtp), Some(peer)) =
        (&mut s.media, s.srtp.as_mut(), s.ice.selected())
    else {
        return 0;
    };
    let mut made = 0;
    for q in packets {
        if p.rewrite(q.at, &q.packet, scratch).is_err() {
            s.counters.dropped += 1;
            continue;
        }
        q.keep = q.keep || p.nacks(q.packet.kind);
        if s.wait_for_publisher.take().is_some() {
            ShardStats::inc(&stats.players_wait_served);
            tracing::info!(session = %s.id, stream = %s.stream_key, "waiting player: media started");
        }
        match srtp.protect_rtp_in(scratch, arena) {
            Ok(enc) => {
                s.counters.rtp_out += 1;
                s.counters.bytes_out += enc.len() as u64;
                out.push_back(Output::Transmit(enc, peer));
                made += 1;
            }
            Err(_) => ShardStats::inc(&stats.srtp_errors),
        }
    }
    made
}

/// Keeps the packets a player here may NACK in `stream`'s history; for
/// the others, what the track still holds ages out.
fn keep_in_history(
    histories: &mut std::collections::HashMap<StreamKey, StreamHistory>,
    stream: &StreamKey,
    packets: &[Queued],
) {
    for q in packets {
        match histories.get_mut(stream.as_str()) {
            Some(h) if q.keep => h.insert(q.at, &q.packet),
            Some(h) => h.skip(q.at, q.packet.kind),
            None if q.keep => {
                let mut h = StreamHistory::default();
                h.insert(q.at, &q.packet);
                histories.insert(stream.clone(), h);
            }
            None => {}
        }
    }
}
