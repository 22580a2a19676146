//! The recent packets of a stream on one shard, kept per track and shared
//! by all of that shard's players of the stream: their NACKs are answered
//! here, without asking the publisher's shard.
//!
//! Memory follows time and bitrate, not slots: a track's history holds
//! `Bytes` handles to the packets already in flight (no copy) for
//! 3 × the largest round-trip time its players reported, within
//! [`MIN_HISTORY_AGE`]..=[`MAX_HISTORY_AGE`], and only for tracks some
//! player on the shard may NACK (audio without NACK keeps nothing).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rtp::nack_history::PacketHistory;
use crate::rtp::RtpHeader;
use crate::sdp::{ExtIds, MediaKind};
use crate::sfu::player::PlayerState;
use crate::sfu::publisher::MediaPacket;

/// Sequence numbers a track's history reaches back at most (packets also
/// leave after its age limit).
pub const HISTORY_PACKETS: usize = 1024;

/// The least time a packet stays. A NACK takes a round trip plus the
/// receiver's gap detection to arrive and is retried once per RTT, so
/// 3 × RTT leaves a lost packet three tries; this floor gives RTTs below
/// 100 ms more (ten and more on a LAN) while a 1 Mbit/s track holds
/// ~37 KiB, not the ~125 KiB a fixed second took.
pub const MIN_HISTORY_AGE: Duration = Duration::from_millis(300);

/// The most time a packet stays (libwebrtc's history minimum; a later
/// retransmission arrives after the receiver gave up on the frame).
pub const MAX_HISTORY_AGE: Duration = Duration::from_secs(1);

/// How long a history with players at round-trip time `rtt` keeps packets.
pub fn history_age(rtt: Duration) -> Duration {
    (rtt * 3).clamp(MIN_HISTORY_AGE, MAX_HISTORY_AGE)
}

/// One track's history.
#[derive(Debug)]
pub struct TrackHistory {
    kind: MediaKind,
    ssrc: u32,
    /// The publisher's plain packets by sequence number.
    pub packets: PacketHistory,
    /// The publisher's extension ids for these packets.
    pub ext: ExtIds,
}

/// The histories of one stream's tracks on one shard.
#[derive(Debug)]
pub struct StreamHistory {
    tracks: Vec<TrackHistory>,
    /// The age every track's packets get (see [`history_age`]).
    max_age: Duration,
}

impl Default for StreamHistory {
    fn default() -> Self {
        Self {
            tracks: Vec::new(),
            max_age: MIN_HISTORY_AGE,
        }
    }
}

impl StreamHistory {
    /// Keeps `pkt`, received at `now` (a reference-counted handle, no copy). A new publisher
    /// SSRC starts the track's history afresh.
    pub fn insert(&mut self, now: Instant, pkt: &MediaPacket) {
        let Ok(h) = RtpHeader::parse(&pkt.rtp) else {
            return;
        };
        let (ssrc, seq) = (h.ssrc().0, h.seq());
        let track = match self.tracks.iter().position(|t| t.kind == pkt.kind) {
            Some(i) => &mut self.tracks[i],
            None => {
                self.tracks.push(TrackHistory {
                    kind: pkt.kind,
                    ssrc,
                    packets: PacketHistory::with_max_age(HISTORY_PACKETS, self.max_age),
                    ext: pkt.ext,
                });
                self.tracks.last_mut().expect("just pushed")
            }
        };
        if track.ssrc != ssrc {
            track.packets.clear();
            track.ssrc = ssrc;
        }
        track.ext = pkt.ext;
        track.packets.insert(now, seq, Bytes::clone(&pkt.rtp));
    }

    /// A packet of `kind` that no player on the shard may NACK arrived at
    /// `now`: it is not kept, and what the track still holds ages out.
    pub fn skip(&mut self, now: Instant, kind: MediaKind) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.kind == kind) {
            t.packets.expire(now);
        }
    }

    /// A player of the stream reported round-trip time `rtt`: packets stay
    /// [`history_age`] of the largest RTT reported so far.
    pub fn note_rtt(&mut self, rtt: Duration) {
        let age = history_age(rtt);
        if age > self.max_age {
            self.max_age = age;
            for t in &mut self.tracks {
                t.packets.set_max_age(age);
            }
        }
    }

    /// How long packets stay now.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The history of the track a player sends with our SSRC `ssrc`.
    pub fn for_ssrc(&self, player: &PlayerState, ssrc: u32) -> Option<&TrackHistory> {
        let kind = player.kind_of(ssrc)?;
        self.tracks.iter().find(|t| t.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_is_three_rtts_within_bounds() {
        assert_eq!(history_age(Duration::from_millis(1)), MIN_HISTORY_AGE);
        assert_eq!(history_age(Duration::from_millis(100)), MIN_HISTORY_AGE);
        assert_eq!(
            history_age(Duration::from_millis(200)),
            Duration::from_millis(600)
        );
        assert_eq!(history_age(Duration::from_secs(2)), MAX_HISTORY_AGE);
        let mut h = StreamHistory::default();
        h.note_rtt(Duration::from_millis(250));
        h.note_rtt(Duration::from_millis(10));
        assert_eq!(h.max_age(), Duration::from_millis(750), "it only grows");
    }
}
