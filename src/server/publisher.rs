//! What a publishing session knows of its tracks: which SSRC is audio or
//! video, which packets start a keyframe, and when it may ask for one.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rtp::{self, RtpHeader};
use crate::sdp::{Codec, ExtIds, MediaKind, NegotiatedTrack};

/// The least time between two keyframe requests (PLI) sent to one publisher,
/// however many subscribers ask.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// One media packet of a stream, decrypted once on the publisher's shard
/// and shared (by reference count) with every subscriber on every shard.
#[derive(Clone, Debug)]
pub struct MediaPacket {
    /// Audio or video.
    pub kind: MediaKind,
    /// The publisher's codec for this track.
    pub codec: Codec,
    /// The packet starts a decodable picture (H.264 IDR or SPS, VP8 key frame).
    pub keyframe: bool,
    /// The publisher's header extension ids.
    pub ext: ExtIds,
    /// The plain RTP packet, as the publisher sent it.
    pub rtp: Bytes,
}

#[derive(Debug)]
struct PubTrack {
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    rtx_pt: Option<u8>,
    ssrcs: Vec<u32>,
    ext: ExtIds,
}

/// Why a publisher's RTP packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpDrop {
    /// Not a valid RTP header.
    Malformed,
    /// Its payload type belongs to no negotiated track.
    UnknownPt,
    /// A retransmission or padding-only packet (not forwarded as media).
    Rtx,
}

/// The publisher side of a session.
#[derive(Debug)]
pub struct PublisherState {
    tracks: Vec<PubTrack>,
    last_pli: Option<Instant>,
    pli_pending: bool,
    /// The latest Sender Report per SSRC: (ssrc, NTP time, RTP time), kept
    /// for A/V sync.
    pub sender_reports: Vec<(u32, u64, u32)>,
}

impl PublisherState {
    /// The publisher of the negotiated `tracks`.
    pub fn new(tracks: &[NegotiatedTrack]) -> Self {
        let tracks = tracks
            .iter()
            .filter(|t| t.kind != MediaKind::Other)
            .map(|t| PubTrack {
                kind: t.kind,
                codec: t.codec,
                pt: t.pt,
                rtx_pt: t.rtx_pt,
                ssrcs: t.remote_ssrcs.clone(),
                ext: t.ext,
            })
            .collect();
        Self {
            tracks,
            last_pli: None,
            pli_pending: false,
            sender_reports: Vec::new(),
        }
    }

    /// Classifies a decrypted RTP packet into a [`MediaPacket`] for fan-out.
    pub fn classify(&mut self, rtp: Bytes) -> Result<MediaPacket, RtpDrop> {
        let (pt, ssrc, payload_empty, keyframe_of) = {
            let h = RtpHeader::parse(&rtp).map_err(|_| RtpDrop::Malformed)?;
            let pt = h.pt().wire();
            let payload = h.payload();
            let ssrc = h.ssrc().0;
            let kf_h264 = rtp::h264_info(payload);
            let kf = (
                kf_h264.idr || kf_h264.sps,
                rtp::is_keyframe(rtp::Codec::Vp8, payload),
            );
            (pt, ssrc, payload.is_empty(), kf)
        };
        if self.tracks.iter().any(|t| t.rtx_pt == Some(pt)) {
            return Err(RtpDrop::Rtx);
        }
        let track = self
            .tracks
            .iter_mut()
            .find(|t| t.pt == pt)
            .ok_or(RtpDrop::UnknownPt)?;
        if payload_empty {
            return Err(RtpDrop::Rtx);
        }
        if !track.ssrcs.contains(&ssrc) && track.ssrcs.len() < 4 {
            // Clients that signal no a=ssrc (or change it) are learnt from the PT.
            track.ssrcs.push(ssrc);
        }
        let keyframe = match (track.kind, track.codec) {
            (MediaKind::Video, Codec::H264) => keyframe_of.0,
            (MediaKind::Video, Codec::Vp8) => keyframe_of.1,
            _ => false,
        };
        Ok(MediaPacket {
            kind: track.kind,
            codec: track.codec,
            keyframe,
            ext: track.ext,
            rtp,
        })
    }

    /// The video SSRC to address a PLI to, if any video was seen or signalled.
    pub fn video_ssrc(&self) -> Option<u32> {
        self.tracks
            .iter()
            .find(|t| t.kind == MediaKind::Video)
            .and_then(|t| t.ssrcs.last().copied())
    }

    /// Whether a keyframe request may be sent now (at most one per
    /// [`PLI_INTERVAL`]). When it may not, the request is kept and
    /// [`Self::pli_due`] says when to send it: requests are merged, never lost.
    pub fn allow_pli(&mut self, now: Instant) -> bool {
        if self
            .last_pli
            .is_some_and(|t| now.saturating_duration_since(t) < PLI_INTERVAL)
        {
            self.pli_pending = true;
            return false;
        }
        self.last_pli = Some(now);
        self.pli_pending = false;
        true
    }

    /// When a merged keyframe request is due, if one is waiting.
    pub fn pli_due(&self) -> Option<Instant> {
        match (self.pli_pending, self.last_pli) {
            (true, Some(t)) => Some(t + PLI_INTERVAL),
            _ => None,
        }
    }

    /// Codecs of the audio and video tracks.
    pub fn codecs(&self) -> (Option<Codec>, Option<Codec>) {
        let of = |k| self.tracks.iter().find(|t| t.kind == k).map(|t| t.codec);
        (of(MediaKind::Audio), of(MediaKind::Video))
    }
}
