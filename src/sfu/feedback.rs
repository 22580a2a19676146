//! Feedback: RTCP from peers (Sender Reports from publishers; PLI/FIR,
//! NACK and Receiver Reports from players) and the keyframe requests that
//! go back to publishers, merged and rate-limited per stream.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtp::rtcp::{self, RtcpPacket};
use crate::rtp::sr_mapping::PublisherSr;
use crate::rtp::Ssrc;
use crate::sfu::{
    Event, Media, MeshDest, Output, SessionCounters, SessionToken, Sfu, ShardMsg, ShardStats,
    StreamKey,
};
use crate::srtp::SrtpSession;

/// NACKed sequence numbers handled per RTCP packet (the rest are dropped).
const MAX_NACKS_PER_PACKET: usize = 512;

impl Sfu {
    pub(super) fn handle_rtcp(&mut self, now: Instant, token: &SessionToken, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let Some(srtp) = s.srtp.as_mut() else {
            s.counters.dropped += 1;
            return;
        };
        let plain = match srtp.unprotect_rtcp(data) {
            Ok(p) => p,
            Err(_) => {
                s.counters.srtp_errors += 1;
                return ShardStats::inc(&self.stats.srtp_errors);
            }
        };
        s.counters.rtcp_in += 1;
        let mut wants_keyframe = false;
        let mut nacks: Vec<(u32, u16)> = Vec::new();
        let mut new_sr = None;
        let mut bridge_srs = Vec::new();
        let mut player_rtt = None;
        for pkt in rtcp::parse_compound(&plain).flatten() {
            match (&mut s.media, pkt) {
                (Media::Publisher(p), RtcpPacket::SenderReport(sr)) => {
                    if s.rtc_to_rtmp {
                        bridge_srs.push((sr.ssrc().0, sr.ntp_time(), sr.rtp_time()));
                    }
                    new_sr = Some(p.on_sender_report(now, &sr));
                }
                (Media::Player(p), RtcpPacket::Pli(_) | RtcpPacket::Fir(_)) => {
                    p.counters.plis_received += 1;
                    wants_keyframe = true
                }
                (Media::Player(p), RtcpPacket::ReceiverReport(rr)) => {
                    for b in rr.reports() {
                        p.on_report_block(now, &self.ntp, &b);
                    }
                    player_rtt = Some(p.counters.rtt_ms);
                }
                (Media::Player(p), RtcpPacket::SenderReport(sr)) => {
                    for b in sr.reports() {
                        p.on_report_block(now, &self.ntp, &b);
                    }
                    player_rtt = Some(p.counters.rtt_ms);
                }
                (Media::Player(_), RtcpPacket::Nack(n)) => {
                    let media = n.media().0;
                    let room = MAX_NACKS_PER_PACKET - nacks.len().min(MAX_NACKS_PER_PACKET);
                    nacks.extend(n.lost().take(room).map(|seq| (media, seq)));
                }
                _ => {}
            }
        }
        let stream = s.stream_key.clone();
        if let (Some(ms), Some(h)) = (player_rtt, self.histories.get_mut(stream.as_str())) {
            // The shard's history of the stream keeps 3 RTTs of its slowest player.
            h.note_rtt(Duration::from_millis(u64::from(ms)));
        }
        for (ssrc, ntp, rtp) in bridge_srs {
            self.event(Event::PublisherSenderReport {
                token: token.clone(),
                ssrc,
                ntp,
                rtp,
            });
        }
        if let Some(sr) = new_sr {
            if !self.router.subscribers(stream.as_str()).is_empty() {
                self.store_sender_report(&stream, sr);
            }
            let msg = ShardMsg::SenderReport {
                stream: stream.clone(),
                sr,
            };
            self.mesh(MeshDest::Others, msg);
        }
        if !nacks.is_empty() {
            self.retransmit(now, token, stream.as_str(), &nacks);
        }
        if wants_keyframe {
            ShardStats::inc(&self.stats.plis_received);
            self.request_keyframe(now, &stream);
        }
    }

    pub(super) fn store_sender_report(&mut self, stream: &StreamKey, sr: PublisherSr) {
        let list = match self.publisher_srs.get_mut(stream.as_str()) {
            Some(l) => l,
            None => self.publisher_srs.entry(stream.clone()).or_default(),
        };
        match list.iter_mut().find(|e| e.ssrc == sr.ssrc) {
            Some(e) => *e = sr,
            None => {
                if list.len() >= 4 {
                    list.remove(0);
                }
                list.push(sr);
            }
        }
    }

    /// The live side's bridge of `publisher` wants a keyframe (its start,
    /// every `pli_for_rtmp`, after a loss): a PLI, rate-limited per stream.
    pub fn handle_keyframe_request(&mut self, now: Instant, publisher: &SessionToken) {
        self.send_pli(now, publisher);
    }

    /// Asks the publisher of `stream` for a keyframe, wherever it is.
    pub(super) fn request_keyframe(&mut self, now: Instant, stream: &StreamKey) {
        match self.router.publisher(stream.as_str()).cloned() {
            Some(token) => self.send_pli(now, &token),
            None => self.mesh(
                MeshDest::Others,
                ShardMsg::Keyframe {
                    stream: stream.clone(),
                },
            ),
        }
    }

    pub(super) fn send_pli(&mut self, now: Instant, publisher: &SessionToken) {
        let Some(s) = self.sessions.get_mut(publisher) else {
            return;
        };
        let (Media::Publisher(p), Some(srtp), Some(peer)) =
            (&mut s.media, s.srtp.as_mut(), s.ice.selected())
        else {
            return;
        };
        let Some(media) = p.video_ssrc() else { return };
        if !p.allow_pli(now) {
            return;
        }
        self.scratch.clear();
        rtcp::write_pli(&mut self.scratch, Ssrc(1), Ssrc(media));
        if queue_rtcp(&mut self.out, srtp, &mut s.counters, peer, &self.scratch) {
            ShardStats::inc(&self.stats.plis_sent);
        }
    }
}

/// Protects `plain` RTCP with the session's SRTCP context and queues it to
/// `peer`. Returns whether it was queued (nothing is sent for empty input).
pub(super) fn queue_rtcp(
    out: &mut std::collections::VecDeque<Output>,
    srtp: &mut SrtpSession,
    counters: &mut SessionCounters,
    peer: SocketAddr,
    plain: &[u8],
) -> bool {
    if plain.is_empty() {
        return false;
    }
    let Ok(enc) = srtp.protect_rtcp(plain) else {
        return false;
    };
    counters.rtcp_out += 1;
    counters.bytes_out += enc.len() as u64;
    out.push_back(Output::Transmit(enc, peer));
    true
}
