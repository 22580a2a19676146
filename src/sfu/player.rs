//! What a playing session does to each packet of the stream: start video at
//! a keyframe, rewrite SSRC/PT/seq/ts/extensions into its own space, answer
//! its NACKs from the shard's history (over RTX when negotiated, within a
//! budget), and send it Sender Reports mapped from the publisher's.

use std::time::{Duration, Instant};

use crate::rtp::nack_history::PacketHistory;
use crate::rtp::nack_responder::{NackLimits, NackResponder};
use crate::rtp::receiver_stats::NtpClock;
use crate::rtp::rtcp::{self, SenderInfo};
use crate::rtp::sr_mapping::{PublisherSr, SrMapper};
use crate::rtp::{rtx, ExtIdMap, Pt, Rewriter, RtpHeader, Ssrc};
use crate::sdp::{Codec, ExtIds, MediaKind, NegotiatedTrack};
use crate::sfu::publisher::MediaPacket;

/// How long a player waits for a keyframe before asking again (the first
/// request or the keyframe itself may have been lost).
pub const KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// How often a player gets Sender Reports.
pub const SR_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct SubTrack {
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    ssrc: u32,
    rtx: Option<(u8, u32)>,
    rtx_seq: u16,
    ext: ExtIds,
    rewriter: Rewriter,
    /// The publisher extension ids `ext_map` was built for.
    ext_map_for: Option<ExtIds>,
    ext_map: ExtIdMap,
    waiting_keyframe: bool,
    responder: Option<NackResponder>,
    source: Option<u32>,
    sr: SrMapper,
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

/// Counters of the player side (reported by `/api/v1/clients`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlayerCounters {
    /// Sequence numbers the player asked for in NACKs.
    pub nacks_received: u64,
    /// Packets retransmitted.
    pub retransmitted: u64,
    /// NACKed packets not retransmitted (unknown, evicted, too soon, over budget).
    pub retransmit_refused: u64,
    /// PLI/FIR from the player.
    pub plis_received: u64,
    /// Round-trip time from the player's Receiver Reports, in ms.
    pub rtt_ms: u32,
    /// Packets the player reports lost (cumulative, video).
    pub lost: i64,
    /// Jitter the player reports (video), in ms.
    pub jitter_ms: u32,
}

/// The player side of a session.
#[derive(Debug)]
pub struct PlayerState {
    tracks: Vec<SubTrack>,
    last_keyframe_request: Option<Instant>,
    next_sr: Option<Instant>,
    /// Counters.
    pub counters: PlayerCounters,
    scratch: Vec<u8>,
}

impl PlayerState {
    /// A player of the negotiated `tracks`, sending with our `audio_ssrc`,
    /// `video_ssrc` and (when RTX was negotiated) `video_rtx_ssrc`; `nack`
    /// is the vhost's switch.
    pub fn new(
        tracks: &[NegotiatedTrack],
        audio_ssrc: u32,
        video_ssrc: u32,
        video_rtx_ssrc: u32,
        nack: bool,
    ) -> Self {
        let tracks = tracks
            .iter()
            .filter(|t| t.kind != MediaKind::Other)
            .map(|t| {
                let video = t.kind == MediaKind::Video;
                let nack = nack && t.nack;
                SubTrack {
                    kind: t.kind,
                    codec: t.codec,
                    pt: t.pt,
                    ssrc: if video { video_ssrc } else { audio_ssrc },
                    rtx: t
                        .rtx_pt
                        .filter(|_| video && nack)
                        .map(|pt| (pt, video_rtx_ssrc)),
                    rtx_seq: 0,
                    ext: t.ext,
                    rewriter: Rewriter::new(t.clock_rate),
                    ext_map_for: None,
                    ext_map: ExtIdMap::drop_all(),
                    waiting_keyframe: video,
                    responder: nack.then(|| NackResponder::new(NackLimits::default())),
                    source: None,
                    sr: SrMapper::new(t.clock_rate),
                }
            })
            .collect();
        Self {
            tracks,
            last_keyframe_request: None,
            next_sr: None,
            counters: PlayerCounters::default(),
            // Only RTX resends use it: it grows on the first one.
            scratch: Vec::new(),
        }
    }

    /// Codecs of the audio and video tracks.
    pub fn codecs(&self) -> (Option<Codec>, Option<Codec>) {
        let of = |k| self.tracks.iter().find(|t| t.kind == k).map(|t| t.codec);
        (of(MediaKind::Audio), of(MediaKind::Video))
    }

    /// The kind of the track we send with SSRC `ssrc`.
    pub fn kind_of(&self, ssrc: u32) -> Option<MediaKind> {
        self.tracks.iter().find(|t| t.ssrc == ssrc).map(|t| t.kind)
    }

    /// Whether this player may NACK packets of `kind` (so the shard keeps
    /// a history of them).
    pub fn nacks(&self, kind: MediaKind) -> bool {
        self.tracks
            .iter()
            .any(|t| t.kind == kind && t.responder.is_some())
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
        let h = RtpHeader::parse(&pkt.rtp).map_err(|_| PlayDrop::Malformed)?;
        let (src, in_seq, in_ts, payload) = (h.ssrc().0, h.seq(), h.timestamp(), h.payload().len());
        t.rewriter
            .rewrite_into(now, &pkt.rtp, out, Ssrc(t.ssrc), Pt(t.pt), &t.ext_map)
            .map_err(|_| PlayDrop::Malformed)?;
        if t.source != Some(src) {
            // A new publisher source: old sequence numbers mean nothing now.
            t.source = Some(src);
            if let Some(r) = t.responder.as_mut() {
                r.clear();
            }
        }
        let out_seq = u16::from_be_bytes([out[2], out[3]]);
        let out_ts = u32::from_be_bytes([out[4], out[5], out[6], out[7]]);
        if let Some(r) = t.responder.as_mut() {
            r.record(out_seq, in_seq);
            r.on_media_sent(out.len());
        }
        t.sr.on_forwarded(Ssrc(src), in_ts, out_ts, payload);
        Ok(())
    }

    /// Answers one lost sequence number of a NACK for our SSRC `media`:
    /// writes the packet to resend into `out` (as RTX when negotiated).
    /// Returns false when it is refused (counted).
    pub fn retransmit(
        &mut self,
        now: Instant,
        media: u32,
        lost: u16,
        history: &PacketHistory,
        pkt_ext: ExtIds,
        out: &mut Vec<u8>,
    ) -> bool {
        self.counters.nacks_received += 1;
        let Some(t) = self.tracks.iter_mut().find(|t| t.ssrc == media) else {
            self.counters.retransmit_refused += 1;
            return false;
        };
        let Some(responder) = t.responder.as_mut() else {
            self.counters.retransmit_refused += 1;
            return false;
        };
        let Ok(resend) = responder.resend(now, lost, history) else {
            self.counters.retransmit_refused += 1;
            return false;
        };
        if t.ext_map_for != Some(pkt_ext) {
            t.ext_map = ext_map(&pkt_ext, &t.ext);
            t.ext_map_for = Some(pkt_ext);
        }
        // Same source, so the rewriter maps it to the same output seq/ts.
        let target = if t.rtx.is_some() {
            &mut self.scratch
        } else {
            &mut *out
        };
        if t.rewriter
            .rewrite_into(
                now,
                resend.packet,
                target,
                Ssrc(t.ssrc),
                Pt(t.pt),
                &t.ext_map,
            )
            .is_err()
        {
            self.counters.retransmit_refused += 1;
            return false;
        }
        if let Some((rtx_pt, rtx_ssrc)) = t.rtx {
            out.clear();
            t.rtx_seq = t.rtx_seq.wrapping_add(1);
            if rtx::write_rtx(out, &self.scratch, Ssrc(rtx_ssrc), Pt(rtx_pt), t.rtx_seq).is_err() {
                self.counters.retransmit_refused += 1;
                return false;
            }
        }
        self.counters.retransmitted += 1;
        true
    }

    /// Takes a Receiver Report block about one of our SSRCs: RTT, loss and
    /// jitter as the player sees them.
    pub fn on_report_block(&mut self, now: Instant, clock: &NtpClock, b: &rtcp::ReportBlock) {
        let Some(t) = self.tracks.iter_mut().find(|t| t.ssrc == b.ssrc.0) else {
            return;
        };
        if let Some(rtt) = crate::rtp::receiver_stats::rtt_from_report(
            clock.ntp(now),
            b.last_sr,
            b.delay_since_last_sr,
        ) {
            self.counters.rtt_ms = rtt.as_millis() as u32;
            if let Some(r) = t.responder.as_mut() {
                r.set_rtt(rtt);
            }
        }
        if t.kind == MediaKind::Video {
            self.counters.lost = i64::from(b.cumulative_lost);
            self.counters.jitter_ms = b.jitter * 1000 / 90_000;
        }
    }

    /// When Sender Reports are next due.
    pub fn sr_due(&self) -> Option<Instant> {
        self.next_sr
    }

    /// Writes Sender Reports for the tracks whose publisher source has sent
    /// one (`srs`), mapped onto this player's timestamps, into `out`.
    pub fn poll_sender_reports(
        &mut self,
        now: Instant,
        clock: &NtpClock,
        srs: &[PublisherSr],
        out: &mut Vec<u8>,
    ) {
        out.clear();
        if self.next_sr.is_some_and(|t| now < t) {
            return;
        }
        self.next_sr = Some(now + SR_INTERVAL);
        for t in &self.tracks {
            let info: Option<SenderInfo> =
                srs.iter().find_map(|sr| t.sr.sender_info(now, clock, sr));
            if let Some(info) = info {
                rtcp::write_sr(out, Ssrc(t.ssrc), &info, &[]);
            }
        }
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
