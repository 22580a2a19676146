//! The recent packets of a stream on one shard, kept per track and shared
//! by all of that shard's players of the stream: their NACKs are answered
//! here, without asking the publisher's shard.
//!
//! Memory follows time and bitrate, not slots: a track's history holds
//! `Bytes` handles to the packets already in flight (no copy) for
//! 3 × the largest round-trip time its players reported, within
//! [`MIN_HISTORY_AGE`]..=[`MAX_HISTORY_AGE`] (300 ms–3 s), and at least
//! [`LOSSY_HISTORY_AGE`] (1 s) once they NACK, and only for tracks some
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

/// The least time a packet stays while no player of the stream on the
/// shard has NACKed: a NACK takes a round trip plus the receiver's gap
/// detection to arrive, so on a clean path this is plenty, and a 1 Mbit/s
/// track holds ~37 KiB, not the ~125 KiB a second takes.
pub const MIN_HISTORY_AGE: Duration = Duration::from_millis(300);

/// The least time a packet stays once a player of the stream has NACKed
/// (libwebrtc's sender history minimum). On a lossy path a NACK or its
/// retransmission is lost too now and then, and some receivers ask again
/// only when their next gap shows up (aiortc: ~0.4 s later at 5% loss and
/// 120 packets/s). With the 300 ms floor that second request found the
/// packet gone; the frame never completed and aiortc's jitter buffer held
/// every later frame for ~3 s (tests/peers/test_loss.py failed about one
/// run in three).
pub const LOSSY_HISTORY_AGE: Duration = Duration::from_secs(1);

/// The most time a packet stays: 3 × a 1 s round trip (libwebrtc keeps
/// 3 × RTT above its 1 s floor); [`HISTORY_PACKETS`] bounds it too.
pub const MAX_HISTORY_AGE: Duration = Duration::from_secs(3);

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
        self.raise_age(history_age(rtt));
    }

    /// A player of the stream NACKed: the path loses packets, so packets
    /// stay at least [`LOSSY_HISTORY_AGE`] from now on.
    pub fn note_nack(&mut self) {
        self.raise_age(LOSSY_HISTORY_AGE);
    }

    fn raise_age(&mut self, age: Duration) {
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
    use crate::rtp::{FixedHeader, Pt, Ssrc};

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
        h.note_nack();
        assert_eq!(h.max_age(), LOSSY_HISTORY_AGE);
    }

    /// An H.264 video packet (one non-IDR NAL) with sequence number `seq`.
    fn video(seq: u16) -> MediaPacket {
        let mut rtp = Vec::new();
        FixedHeader::plain(false, Pt(96), seq, 0, Ssrc(7)).write(&mut rtp);
        rtp.push(0x41);
        MediaPacket {
            kind: MediaKind::Video,
            codec: crate::sdp::Codec::H264,
            keyframe: false,
            ext: ExtIds::default(),
            rtp: Bytes::from(rtp),
        }
    }

    #[test]
    fn once_players_nack_a_second_nack_half_a_second_later_still_finds_the_packet() {
        // aiortc asks again for a packet whose retransmission was lost only
        // when its next gap shows up: ~0.4 s later at 5% loss.
        let mut h = StreamHistory::default();
        h.note_rtt(Duration::from_millis(1));
        h.note_nack();
        let t0 = Instant::now();
        for i in 0..=72u16 {
            h.insert(t0 + Duration::from_millis(u64::from(i) * 25 / 3), &video(i));
        }
        let track = &h.tracks[0];
        assert!(track.packets.get(0).is_some(), "600 ms later");
    }
}
