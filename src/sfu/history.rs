//! The recent packets of a stream on one shard, kept per track and shared
//! by all of that shard's players of the stream: their NACKs are answered
//! here, without asking the publisher's shard.

use std::time::Instant;

use bytes::Bytes;

use crate::rtp::nack_history::PacketHistory;
use crate::rtp::RtpHeader;
use crate::sdp::{ExtIds, MediaKind};
use crate::sfu::player::PlayerState;
use crate::sfu::publisher::MediaPacket;

/// Sequence numbers a track's history reaches back at most (packets also
/// leave after [`crate::rtp::nack_history::DEFAULT_HISTORY_AGE`], 1 s).
pub const HISTORY_PACKETS: usize = 1024;

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
#[derive(Debug, Default)]
pub struct StreamHistory {
    tracks: Vec<TrackHistory>,
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
                    packets: PacketHistory::new(HISTORY_PACKETS),
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

    /// The history of the track a player sends with our SSRC `ssrc`.
    pub fn for_ssrc(&self, player: &PlayerState, ssrc: u32) -> Option<&TrackHistory> {
        let kind = player.kind_of(ssrc)?;
        self.tracks.iter().find(|t| t.kind == kind)
    }
}
