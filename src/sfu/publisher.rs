//! What a publishing session knows of its tracks: which SSRC is audio or
//! video, which packets start a keyframe, what was lost (NACK), how packets
//! arrived (TWCC, receiver reports), and when it may ask for a keyframe.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rtp::nack_generator::{NackConfig, NackGenerator};
use crate::rtp::receiver_stats::ReceiverStats;
use crate::rtp::rtcp::{self, ReportBlock};
use crate::rtp::sr_mapping::PublisherSr;
use crate::rtp::twcc::TwccReceiver;
use crate::rtp::{self, rtx, Pt, RtpHeader, Ssrc};
use crate::sdp::{Codec, ExtIds, MediaKind, NegotiatedTrack};

/// The least time between two keyframe requests (PLI) sent to one publisher,
/// however many subscribers ask.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// How often a Receiver Report goes to the publisher.
pub const RR_INTERVAL: Duration = Duration::from_secs(1);

/// How often transport-cc feedback goes to the publisher.
pub const TWCC_INTERVAL: Duration = Duration::from_millis(50);

/// The SSRC shardsfu uses as the sender of its RTCP to publishers.
pub const RTCP_SENDER_SSRC: u32 = 1;

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
    /// The plain RTP packet, as the publisher sent it (RTX already unwrapped).
    pub rtp: Bytes,
}

/// Receive state of the current SSRC of one track.
#[derive(Debug)]
struct Receive {
    ssrc: u32,
    stats: ReceiverStats,
    nack: Option<NackGenerator>,
}

#[derive(Debug)]
struct PubTrack {
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    rtx_pt: Option<u8>,
    clock_rate: u32,
    ssrcs: Vec<u32>,
    ext: ExtIds,
    nack: bool,
    recv: Option<Receive>,
}

/// Why a publisher's RTP packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpDrop {
    /// Not a valid RTP header (or a malformed RTX packet).
    Malformed,
    /// Its payload type belongs to no negotiated track.
    UnknownPt,
    /// Padding only (bandwidth probing), or a retransmission of a packet we
    /// did not miss.
    Padding,
}

/// Counters of the publisher side (reported by `/api/v1/clients`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PublisherCounters {
    /// Sequence numbers asked for again in NACKs.
    pub nacks_sent: u64,
    /// Missing packets that arrived later (RTX or reordered).
    pub recovered: u64,
    /// Missing packets given up on.
    pub given_up: u64,
    /// Packets lost, from the receive statistics (cumulative).
    pub lost: i64,
    /// Interarrival jitter of the video track, in ms.
    pub jitter_ms: u32,
    /// Transport-cc feedback packets sent.
    pub twcc_feedback: u64,
}

/// The publisher side of a session.
#[derive(Debug)]
pub struct PublisherState {
    tracks: Vec<PubTrack>,
    twcc_id: Option<u8>,
    twcc: Option<TwccReceiver>,
    last_pli: Option<Instant>,
    pli_pending: bool,
    next_rr: Option<Instant>,
    /// The latest Sender Report per SSRC, kept for A/V sync.
    pub sender_reports: Vec<PublisherSr>,
    /// Counters.
    pub counters: PublisherCounters,
    scratch: Vec<u8>,
}

impl PublisherState {
    /// The publisher of the negotiated `tracks`; `nack` and `twcc` are the
    /// vhost's switches (each also needs the client's agreement in the SDP).
    pub fn new(tracks: &[NegotiatedTrack], nack: bool, twcc: bool) -> Self {
        let tracks: Vec<PubTrack> = tracks
            .iter()
            .filter(|t| t.kind != MediaKind::Other)
            .map(|t| PubTrack {
                kind: t.kind,
                codec: t.codec,
                pt: t.pt,
                rtx_pt: t.rtx_pt,
                clock_rate: t.clock_rate,
                ssrcs: t.remote_ssrcs.clone(),
                ext: t.ext,
                nack: nack && t.nack,
                recv: None,
            })
            .collect();
        let twcc_id = if twcc {
            tracks.iter().find_map(|t| t.ext.twcc)
        } else {
            None
        };
        Self {
            tracks,
            twcc_id,
            twcc: twcc_id.map(|_| TwccReceiver::new(TWCC_INTERVAL)),
            last_pli: None,
            pli_pending: false,
            next_rr: None,
            sender_reports: Vec::new(),
            counters: PublisherCounters::default(),
            // Only RTX unwrapping uses it: it grows on the first one.
            scratch: Vec::new(),
        }
    }

    /// Classifies a decrypted RTP packet into a [`MediaPacket`] for fan-out:
    /// records its transport-wide sequence, receive statistics and losses,
    /// and unwraps RTX.
    pub fn classify(&mut self, now: Instant, rtp: Bytes) -> Result<MediaPacket, RtpDrop> {
        let (pt, ssrc, seq, ts, payload_len, twcc_seq) = {
            let h = RtpHeader::parse(&rtp).map_err(|_| RtpDrop::Malformed)?;
            let twcc_seq = self
                .twcc_id
                .and_then(|id| h.extension(id))
                .filter(|v| v.len() >= 2)
                .map(|v| u16::from_be_bytes([v[0], v[1]]));
            (
                h.pt().wire(),
                h.ssrc().0,
                h.seq(),
                h.timestamp(),
                h.payload().len(),
                twcc_seq,
            )
        };
        if let (Some(twcc), Some(tseq)) = (self.twcc.as_mut(), twcc_seq) {
            twcc.on_packet(now, tseq);
        }
        if let Some(i) = self.tracks.iter().position(|t| t.rtx_pt == Some(pt)) {
            return self.unwrap_rtx(now, i, &rtp);
        }
        let track = self
            .tracks
            .iter_mut()
            .find(|t| t.pt == pt)
            .ok_or(RtpDrop::UnknownPt)?;
        if payload_len == 0 {
            return Err(RtpDrop::Padding);
        }
        if !track.ssrcs.contains(&ssrc) && track.ssrcs.len() < 4 {
            // Clients that signal no a=ssrc (or change it) are learnt from the PT.
            track.ssrcs.push(ssrc);
        }
        let recv = match &mut track.recv {
            Some(r) if r.ssrc == ssrc => r,
            slot => slot.insert(Receive {
                ssrc,
                stats: ReceiverStats::new(Ssrc(ssrc), track.clock_rate),
                nack: track
                    .nack
                    .then(|| NackGenerator::new(NackConfig::default())),
            }),
        };
        recv.stats.on_packet(now, seq, ts);
        if let Some(n) = recv.nack.as_mut() {
            if n.on_wire_seq(now, seq) == rtp::nack_generator::Arrival::Recovered {
                self.counters.recovered += 1;
            }
        }
        Ok(track.packet(rtp))
    }

    /// An RTX packet: forwarded as the original when we were missing it.
    fn unwrap_rtx(
        &mut self,
        now: Instant,
        i: usize,
        rtx_pkt: &[u8],
    ) -> Result<MediaPacket, RtpDrop> {
        let track = &mut self.tracks[i];
        let Some(recv) = track.recv.as_mut() else {
            return Err(RtpDrop::Padding);
        };
        let osn = rtx::unwrap_rtx_into(&mut self.scratch, rtx_pkt, Ssrc(recv.ssrc), Pt(track.pt))
            .map_err(|_| RtpDrop::Padding)?;
        let recovered = recv
            .nack
            .as_mut()
            .is_some_and(|n| n.on_wire_seq(now, osn) == rtp::nack_generator::Arrival::Recovered);
        if !recovered {
            // Padding for bandwidth probing, or a packet we already have.
            return Err(RtpDrop::Padding);
        }
        self.counters.recovered += 1;
        let rtp = Bytes::copy_from_slice(&self.scratch);
        Ok(track.packet(rtp))
    }

    /// Records a Sender Report of the publisher.
    pub fn on_sender_report(&mut self, now: Instant, sr: &rtcp::SenderReport<'_>) -> PublisherSr {
        let info = PublisherSr::from_report(sr, now);
        for t in &mut self.tracks {
            if let Some(r) = t.recv.as_mut().filter(|r| r.ssrc == info.ssrc.0) {
                r.stats.on_sender_report(now, info.ntp);
            }
        }
        if let Some(i) = self.sender_reports.iter().position(|e| e.ssrc == info.ssrc) {
            self.sender_reports[i] = info;
        } else if self.sender_reports.len() < 4 {
            self.sender_reports.push(info);
        }
        info
    }

    /// When [`Self::poll_rtcp`] has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let nack = self
            .tracks
            .iter()
            .filter_map(|t| t.recv.as_ref()?.nack.as_ref()?.poll_timeout());
        let twcc = self.twcc.as_ref().and_then(TwccReceiver::poll_timeout);
        let rr = self
            .tracks
            .iter()
            .any(|t| t.recv.is_some())
            .then_some(self.next_rr)
            .flatten();
        nack.chain(twcc).chain(rr).chain(self.pli_due()).min()
    }

    /// Writes the RTCP due at `now` into `out` (a compound that starts with
    /// a Receiver Report): report blocks once a second, NACKs, transport-cc
    /// feedback. Returns whether the losses call for a keyframe.
    pub fn poll_rtcp(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        let sender = Ssrc(RTCP_SENDER_SSRC);
        let rr_due =
            self.next_rr.is_none_or(|t| t <= now) && self.tracks.iter().any(|t| t.recv.is_some());
        let mut blocks: Vec<ReportBlock> = Vec::new();
        if rr_due {
            self.next_rr = Some(now + RR_INTERVAL);
            for t in &mut self.tracks {
                if let Some(r) = t.recv.as_mut() {
                    if let Some(b) = r.stats.report_block(now) {
                        if t.kind == MediaKind::Video {
                            self.counters.lost = i64::from(b.cumulative_lost);
                            self.counters.jitter_ms = b.jitter * 1000 / t.clock_rate.max(1);
                        }
                        blocks.push(b);
                    }
                }
            }
        }
        rtcp::write_rr(out, sender, &blocks);
        let header_only = out.len();
        let mut keyframe = false;
        let mut lost = Vec::new();
        for t in &mut self.tracks {
            let Some(r) = t.recv.as_mut() else { continue };
            let Some(n) = r.nack.as_mut() else { continue };
            lost.clear();
            if n.poll_timeout().is_some_and(|at| at <= now) && n.poll_nacks(now, &mut lost) > 0 {
                self.counters.nacks_sent += lost.len() as u64;
                rtcp::write_nack(out, sender, Ssrc(r.ssrc), &lost);
            }
            self.counters.given_up = n.stats().given_up;
            keyframe |= n.take_keyframe_request() && t.kind == MediaKind::Video;
        }
        if let Some(tw) = self.twcc.as_mut() {
            let media = self
                .tracks
                .iter()
                .find_map(|t| t.recv.as_ref().map(|r| r.ssrc))
                .unwrap_or(0);
            if tw.poll_feedback(now, sender, Ssrc(media), out) > 0 {
                self.counters.twcc_feedback += 1;
            }
        }
        if !rr_due && out.len() == header_only {
            out.clear();
        }
        keyframe
    }

    /// The video SSRC to address a PLI to, if any video was seen or signalled.
    pub fn video_ssrc(&self) -> Option<u32> {
        let t = self.tracks.iter().find(|t| t.kind == MediaKind::Video)?;
        t.recv
            .as_ref()
            .map(|r| r.ssrc)
            .or_else(|| t.ssrcs.last().copied())
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

impl PubTrack {
    /// `rtp` (received on this track, or unwrapped from its RTX) as the
    /// packet shared with subscribers.
    fn packet(&self, rtp: Bytes) -> MediaPacket {
        MediaPacket {
            kind: self.kind,
            codec: self.codec,
            keyframe: keyframe(self.kind, self.codec, &rtp),
            ext: self.ext,
            rtp,
        }
    }
}

fn keyframe(kind: MediaKind, codec: Codec, rtp: &[u8]) -> bool {
    let Ok(h) = RtpHeader::parse(rtp) else {
        return false;
    };
    match (kind, codec) {
        (MediaKind::Video, Codec::H264) => {
            let i = rtp::h264_info(h.payload());
            i.idr || i.sps
        }
        (MediaKind::Video, Codec::Vp8) => rtp::is_keyframe(rtp::Codec::Vp8, h.payload()),
        _ => false,
    }
}
