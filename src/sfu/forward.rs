//! Forwarding: a publisher's SRTP packet is decrypted once, classified, and
//! handed to every shard with players of its stream (one mesh message per
//! shard, the payload shared by reference count) and to this shard's
//! players, each getting its own rewritten, protected copy. Players' NACKs
//! are answered from this shard's history of the stream.

use std::time::Instant;

use crate::sfu::publisher::RtpDrop;
use crate::sfu::{
    Event, Media, MediaPacket, MeshDest, Output, SessionToken, Sfu, ShardMsg, ShardStats, StreamKey,
};

impl Sfu {
    pub(super) fn handle_rtp(&mut self, now: Instant, token: &SessionToken, data: &[u8]) {
        let Some(s) = self.sessions.get_mut(token) else {
            return;
        };
        s.counters.bytes_in += data.len() as u64;
        let (Some(srtp), Media::Publisher(p)) = (s.srtp.as_mut(), &mut s.media) else {
            s.counters.dropped += 1;
            return ShardStats::inc(&self.stats.rtp_dropped);
        };
        let plain = match srtp.unprotect_rtp(data) {
            Ok(p) => p,
            Err(_) => {
                s.counters.srtp_errors += 1;
                return ShardStats::inc(&self.stats.srtp_errors);
            }
        };
        s.counters.rtp_in += 1;
        let pkt = match p.classify(now, plain) {
            Ok(pkt) => pkt,
            Err(RtpDrop::Padding) => return,
            Err(_) => {
                s.counters.dropped += 1;
                return ShardStats::inc(&self.stats.rtp_dropped);
            }
        };
        let stream = s.stream_key.clone();
        let bridged = s.rtc_to_rtmp;
        ShardStats::inc(&self.stats.rtp_received);
        self.inject_media(now, &stream, &pkt);
        if bridged {
            self.event(Event::PublisherMedia {
                token: token.clone(),
                stream,
                packet: pkt,
            });
        }
    }

    /// Fans out a packet of `stream` that entered on this shard: once to
    /// every other shard with players of it, and to the local players. The
    /// WebRTC publisher path and the RTMP → RTC bridge both use it.
    pub fn inject_media(&mut self, now: Instant, stream: &StreamKey, pkt: &MediaPacket) {
        for &shard in self.router.remote_shards(stream.as_str()) {
            let msg = ShardMsg::Media {
                stream: stream.clone(),
                packet: pkt.clone(),
            };
            self.out
                .push_back(Output::Mesh(MeshDest::Shard(shard), msg));
        }
        self.fan_out(now, stream, pkt);
    }

    /// Queues `pkt` for every local player of `stream`: the copies are made
    /// when the outputs are drained, each player's run of a batch together
    /// (see [`crate::sfu::fanout`]).
    pub(super) fn fan_out(&mut self, now: Instant, stream: &StreamKey, pkt: &MediaPacket) {
        if !self.router.subscribers(stream.as_str()).is_empty() {
            self.fan_outs.push(now, stream, pkt);
        }
    }

    /// Answers a player's NACKs from this shard's history of the stream.
    pub(super) fn retransmit(
        &mut self,
        now: Instant,
        token: &SessionToken,
        stream: &str,
        nacks: &[(u32, u16)],
    ) {
        let Self {
            sessions,
            histories,
            scratch,
            arena,
            out,
            stats,
            ..
        } = self;
        let Some(s) = sessions.get_mut(token) else {
            return;
        };
        let (Media::Player(p), Some(srtp), Some(peer)) =
            (&mut s.media, s.srtp.as_mut(), s.ice.selected())
        else {
            return;
        };
        let history = histories.get_mut(stream).map(|h| {
            h.note_nack();
            &*h
        });
        for &(media, seq) in nacks {
            ShardStats::inc(&stats.nacks_received);
            let Some(h) = history.and_then(|h| h.for_ssrc(p, media)) else {
                p.counters.nacks_received += 1;
                p.counters.retransmit_refused += 1;
                ShardStats::inc(&stats.retransmit_refused);
                continue;
            };
            if !p.retransmit(now, media, seq, &h.packets, h.ext, scratch) {
                ShardStats::inc(&stats.retransmit_refused);
                continue;
            }
            if let Ok(enc) = srtp.protect_rtp_in(scratch, arena) {
                s.counters.rtp_out += 1;
                s.counters.bytes_out += enc.len() as u64;
                ShardStats::inc(&stats.retransmitted);
                out.push_back(Output::Transmit(enc, peer));
            }
        }
    }
}
