//! What a playing session does to each packet of the stream: start video at
//! a keyframe, rewrite SSRC/PT/seq/ts/extensions into its own space.

use std::time::Instant;

use crate::rtp::{ExtIdMap, Pt, Rewriter, Ssrc};
use crate::sdp::{Codec, ExtIds, MediaKind, NegotiatedTrack};
use crate::server::publisher::MediaPacket;

#[derive(Debug)]
struct SubTrack {
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    ssrc: u32,
    ext: ExtIds,
    rewriter: Rewriter,
    /// The publisher extension ids `ext_map` was built for.
    ext_map_for: Option<ExtIds>,
    ext_map: ExtIdMap,
    waiting_keyframe: bool,
}

/// Why a packet was not sent to this subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayDrop {
    /// The subscriber negotiated no track of this kind or codec.
    NoTrack,
    /// Video before the first keyframe.
    WaitingKeyframe,
    /// The packet could not be rewritten.
    Malformed,
}

/// The player side of a session.
#[derive(Debug)]
pub struct PlayerState {
    tracks: Vec<SubTrack>,
    last_keyframe_request: Option<Instant>,
}

/// How long a player waits for a keyframe before asking again (the first
/// request or the keyframe itself may have been lost).
pub const KEYFRAME_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl PlayerState {
    /// A player of the negotiated `tracks`, sending with our `audio_ssrc` and `video_ssrc`.
    pub fn new(tracks: &[NegotiatedTrack], audio_ssrc: u32, video_ssrc: u32) -> Self {
        let tracks = tracks
            .iter()
            .filter(|t| t.kind != MediaKind::Other)
            .map(|t| SubTrack {
                kind: t.kind,
                codec: t.codec,
                pt: t.pt,
                ssrc: if t.kind == MediaKind::Audio {
                    audio_ssrc
                } else {
                    video_ssrc
                },
                ext: t.ext,
                rewriter: Rewriter::new(t.clock_rate),
                ext_map_for: None,
                ext_map: ExtIdMap::drop_all(),
                waiting_keyframe: t.kind == MediaKind::Video,
            })
            .collect();
        Self {
            tracks,
            last_keyframe_request: None,
        }
    }

    /// Records that a keyframe was requested for this player now.
    pub fn keyframe_requested(&mut self, now: Instant) {
        self.last_keyframe_request = Some(now);
    }

    /// When to ask for a keyframe again, while still waiting for one.
    pub fn keyframe_retry_due(&self) -> Option<Instant> {
        if !self.waiting_keyframe() {
            return None;
        }
        self.last_keyframe_request.map(|t| t + KEYFRAME_RETRY)
    }

    /// Codecs of the audio and video tracks.
    pub fn codecs(&self) -> (Option<Codec>, Option<Codec>) {
        let of = |k| self.tracks.iter().find(|t| t.kind == k).map(|t| t.codec);
        (of(MediaKind::Audio), of(MediaKind::Video))
    }

    /// Our SSRC for the video track, if any.
    pub fn video_ssrc(&self) -> Option<u32> {
        self.tracks
            .iter()
            .find(|t| t.kind == MediaKind::Video)
            .map(|t| t.ssrc)
    }

    /// Whether the video track still waits for its first keyframe.
    pub fn waiting_keyframe(&self) -> bool {
        self.tracks.iter().any(|t| t.waiting_keyframe)
    }

    /// Rewrites `pkt` for this subscriber into `out` (reused; no allocation
    /// once it has grown). On success `out` holds the plain RTP packet to
    /// protect and send.
    pub fn rewrite(
        &mut self,
        now: Instant,
        pkt: &MediaPacket,
        out: &mut Vec<u8>,
    ) -> Result<(), PlayDrop> {
        let t = self
            .tracks
            .iter_mut()
            .find(|t| t.kind == pkt.kind && t.codec == pkt.codec)
            .ok_or(PlayDrop::NoTrack)?;
        if t.waiting_keyframe {
            if !pkt.keyframe {
                return Err(PlayDrop::WaitingKeyframe);
            }
            t.waiting_keyframe = false;
        }
        if t.ext_map_for != Some(pkt.ext) {
            t.ext_map = ext_map(&pkt.ext, &t.ext);
            t.ext_map_for = Some(pkt.ext);
        }
        t.rewriter
            .rewrite_into(now, &pkt.rtp, out, Ssrc(t.ssrc), Pt(t.pt), &t.ext_map)
            .map(|_| ())
            .map_err(|_| PlayDrop::Malformed)
    }
}

/// Which publisher extensions a subscriber gets, under its own ids. The mid
/// extension is the publisher's mid, wrong for the subscriber, and the
/// transport-wide sequence is per transport: both are dropped.
fn ext_map(publisher: &ExtIds, subscriber: &ExtIds) -> ExtIdMap {
    let mut m = ExtIdMap::drop_all();
    if let (Some(from), Some(to)) = (publisher.abs_send_time, subscriber.abs_send_time) {
        m.set(from, to);
    }
    m
}
