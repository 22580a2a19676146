//! RTC → RTMP (`rtc { rtc_to_rtmp on; }`): a WebRTC publisher's stream also
//! becomes a live stream (RTMP, HTTP-FLV, HLS players).
//!
//! Called from the shard's packet path with the decrypted `MediaPacket`s of
//! publishers ([`on_media`]), their Sender Reports ([`on_sender_report`]) and
//! their end ([`on_close`]). The bridges of a shard live in a thread-local
//! table (one shard = one thread; a session never moves once media flows), so
//! nothing here takes a lock per packet.
//!
//! - Video: [`H264Depacketizer`] → AVC tags, on the shard (cheap). A keyframe
//!   is requested at the start, every `pli_for_rtmp`, and after a loss.
//! - Audio: a small reorder buffer, then Opus → AAC on a worker thread
//!   ([`AudioWorker`]) that pushes the AAC tags into the hub itself.
//! - Time: each track starts on its arrival time; once both tracks have a
//!   Sender Report, audio is re-anchored to video through the NTP clock. So
//!   audio flows from its first packet (SRS waits for two SRs and drops the
//!   first 4-6 s) and is lip-synced as soon as the SRs allow.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::live::flv::{FlvTag, TagKind};
use crate::rtp::RtpHeader;
use crate::sdp::{Codec, MediaKind};
use crate::server::live::h264_depack::{AvcOut, H264Depacketizer};
use crate::server::live::hub::{Publication, StreamSettings};
use crate::server::live::transcode::{AudioOut, AudioWorker, Direction};
use crate::server::shared::Shared;
use crate::sfu::MediaPacket;

/// Opus packets held to put reordered ones back in order.
const REORDER_DEPTH: usize = 3;
/// Keyframe requests while waiting for an IDR (after a loss).
const IDR_RETRY: Duration = Duration::from_secs(1);

thread_local! {
    /// This shard's bridges by publisher session token (`None`: not bridged).
    static BRIDGES: RefCell<HashMap<String, Option<RtcToRtmp>>> = RefCell::new(HashMap::new());
}

/// The clock of one track: RTP time → stream milliseconds.
#[derive(Debug, Clone, Copy)]
struct TrackClock {
    rate: f64,
    anchor_rtp: u32,
    anchor_ms: f64,
}

impl TrackClock {
    fn ms(&self, rtp: u32) -> f64 {
        self.anchor_ms + rtp.wrapping_sub(self.anchor_rtp) as i32 as f64 * 1000.0 / self.rate
    }
}

/// NTP 32.32 fixed point to milliseconds.
fn ntp_ms(ntp: u64) -> f64 {
    (ntp >> 32) as f64 * 1000.0 + (ntp & 0xffff_ffff) as f64 * 1000.0 / 4_294_967_296.0
}

/// Reorders a track's packets by sequence number within a small window.
#[derive(Debug, Default)]
struct Reorder {
    last: Option<(u16, i64)>,
    next: Option<i64>,
    buf: BTreeMap<i64, (u32, Bytes)>,
}

impl Reorder {
    fn push(&mut self, seq: u16, ts: u32, payload: Bytes) -> Vec<(u32, Bytes)> {
        let ext = match self.last {
            Some((s, e)) => e + seq.wrapping_sub(s) as i16 as i64,
            None => seq as i64,
        };
        if self.last.is_none_or(|(_, e)| ext > e) {
            self.last = Some((seq, ext));
        }
        let mut out = Vec::new();
        if self.next.is_some_and(|n| ext < n) {
            return out; // too late
        }
        self.buf.insert(ext, (ts, payload));
        while let Some((&first, _)) = self.buf.first_key_value() {
            if self.next.is_none_or(|n| n == first) || self.buf.len() > REORDER_DEPTH {
                if let Some((_, v)) = self.buf.pop_first() {
                    out.push(v);
                }
                self.next = Some(first + 1);
            } else {
                break;
            }
        }
        out
    }
}

/// The RTMP side of one WebRTC publisher.
struct RtcToRtmp {
    publication: Arc<Publication>,
    base: Instant,
    video: Option<TrackClock>,
    audio: Option<TrackClock>,
    video_sr: Option<(u32, u64, u32)>,
    audio_sr: Option<(u32, u64, u32)>,
    video_ssrc: Option<u32>,
    audio_ssrc: Option<u32>,
    aligned: bool,
    depack: H264Depacketizer,
    reorder: Reorder,
    worker: Option<AudioWorker>,
    last_audio_ms: f64,
    last_pli: Option<Instant>,
    pli_every: Duration,
}

/// Whether the default vhost bridges WebRTC publishers to RTMP (cached per shard).
fn enabled(shared: &Shared) -> bool {
    thread_local!(static ON: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) });
    ON.with(|on| {
        *on.get().get_or_insert_with(|| {
            let v = shared.config.vhost(crate::config::DEFAULT_VHOST);
            v.rtc.rtc_to_rtmp && v.rtc.enabled
        })
    })
}

/// A decrypted media packet of publisher `token` of `stream`. Returns true
/// when the shard should send that publisher a keyframe request (PLI).
pub fn on_media(
    shared: &Arc<Shared>,
    now: Instant,
    token: &str,
    stream: &str,
    pkt: &MediaPacket,
) -> bool {
    if !enabled(shared) {
        return false;
    }
    BRIDGES.with(|b| {
        let mut map = b.borrow_mut();
        if !map.contains_key(token) {
            let bridge = RtcToRtmp::start(shared, now, stream);
            map.insert(token.to_owned(), bridge);
        }
        match map.get_mut(token) {
            Some(Some(br)) => br.on_media(now, pkt),
            _ => false,
        }
    })
}

/// A Sender Report from publisher `token`: `(ssrc, NTP time, RTP time)`.
pub fn on_sender_report(token: &str, ssrc: u32, ntp: u64, rtp: u32) {
    BRIDGES.with(|b| {
        if let Some(Some(br)) = b.borrow_mut().get_mut(token) {
            br.on_sender_report(ssrc, ntp, rtp);
        }
    });
}

/// Publisher `token` is gone: its live stream ends.
pub fn on_close(token: &str) {
    BRIDGES.with(|b| {
        b.borrow_mut().remove(token);
    });
}

impl RtcToRtmp {
    fn start(shared: &Arc<Shared>, now: Instant, stream: &str) -> Option<Self> {
        let vhost = shared.config.vhost(crate::config::DEFAULT_VHOST);
        let publication = match shared
            .live
            .publish(stream, &StreamSettings::from_vhost(vhost))
        {
            Ok(p) => Arc::new(p),
            Err(e) => {
                crate::warn_limited!("rtc_to_rtmp: not bridged: {e}");
                return None;
            }
        };
        // A stream pulled from another node is recorded there, not here
        // (and a recorder would keep the pull alive as a player).
        let pulled = shared
            .cluster
            .as_ref()
            .is_some_and(|c| c.pulls().is_pulled(stream));
        if let Some((app, name)) = stream.split_once('/').filter(|_| !pulled) {
            let subject = crate::server::dvr::DvrSubject {
                client_id: crate::util::random_string(8),
                ..crate::server::dvr::DvrSubject::new(
                    app,
                    name,
                    "",
                    &format!("webrtc://localhost/{app}"),
                )
            };
            let config = shared.current.get().config.clone();
            shared.dvr.on_publish(&shared.live, &config, subject);
        }
        let sink_pub = publication.clone();
        let sink = Box::new(move |o: AudioOut| {
            let mut b = BytesMut::with_capacity(2 + o.data.len());
            b.put_slice(&[0xaf, 1]);
            b.put_slice(&o.data);
            let ts = (o.pts.max(0) / 48) as u32;
            sink_pub.push(&FlvTag::new(TagKind::Audio, ts, b.freeze()));
            true
        });
        let worker = match AudioWorker::spawn_with_sink(
            Direction::OpusToAac,
            &[],
            vhost.rtc.aac_bitrate,
            stream,
            sink,
        ) {
            Ok(w) => {
                let mut b = BytesMut::new();
                b.put_slice(&[0xaf, 0]);
                b.put_slice(&w.extradata);
                publication.push(&FlvTag::new(TagKind::Audio, 0, b.freeze()));
                Some(w)
            }
            Err(e) => {
                crate::warn_limited!(stream, "rtc_to_rtmp: no audio: {e}");
                None
            }
        };
        tracing::info!(stream, "rtc_to_rtmp: bridging a WebRTC publisher to RTMP");
        Some(Self {
            publication,
            base: now,
            video: None,
            audio: None,
            video_sr: None,
            audio_sr: None,
            video_ssrc: None,
            audio_ssrc: None,
            aligned: false,
            depack: H264Depacketizer::new(),
            reorder: Reorder::default(),
            worker,
            last_audio_ms: -1.0,
            last_pli: None,
            pli_every: vhost.rtc.pli_for_rtmp,
        })
    }

    fn since_base_ms(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.base).as_secs_f64() * 1000.0
    }

    fn on_media(&mut self, now: Instant, pkt: &MediaPacket) -> bool {
        let Ok(h) = RtpHeader::parse(&pkt.rtp) else {
            return false;
        };
        let (seq, ts, marker) = (h.seq(), h.timestamp(), h.marker());
        let payload = pkt
            .rtp
            .slice(h.payload_offset()..h.payload_offset() + h.payload().len());
        match (pkt.kind, pkt.codec) {
            (MediaKind::Video, Codec::H264) => {
                self.video_ssrc = Some(h.ssrc().0);
                if self.video.is_none() {
                    self.video = Some(TrackClock {
                        rate: 90_000.0,
                        anchor_rtp: ts,
                        anchor_ms: self.since_base_ms(now),
                    });
                }
                for out in self.depack.push(seq, ts, marker, &payload) {
                    self.push_video(out);
                }
                self.wants_pli(now)
            }
            (MediaKind::Audio, Codec::Opus) => {
                self.audio_ssrc = Some(h.ssrc().0);
                if self.audio.is_none() {
                    self.audio = Some(TrackClock {
                        rate: 48_000.0,
                        anchor_rtp: ts,
                        anchor_ms: self.since_base_ms(now),
                    });
                }
                for (ts, data) in self.reorder.push(seq, ts, payload) {
                    self.push_audio(ts, data);
                }
                false
            }
            _ => false,
        }
    }

    fn wants_pli(&mut self, now: Instant) -> bool {
        let due = match self.last_pli {
            None => true,
            Some(t) => {
                let since = now.saturating_duration_since(t);
                since >= self.pli_every || (self.depack.waiting_idr() && since >= IDR_RETRY)
            }
        };
        if due {
            self.last_pli = Some(now);
        }
        due
    }

    fn push_video(&mut self, out: AvcOut) {
        let Some(clock) = self.video else {
            return;
        };
        match out {
            AvcOut::Config(body) => {
                self.publication.push(&FlvTag::new(TagKind::Video, 0, body));
            }
            AvcOut::Picture { body, rtp_ts, .. } => {
                let ms = clock.ms(rtp_ts).max(0.0) as u32;
                self.publication
                    .push(&FlvTag::new(TagKind::Video, ms, body));
            }
        }
    }

    fn push_audio(&mut self, rtp_ts: u32, data: Bytes) {
        let (Some(clock), Some(w)) = (self.audio, self.worker.as_ref()) else {
            return;
        };
        let mut ms = clock.ms(rtp_ts).max(0.0);
        if ms <= self.last_audio_ms {
            // After re-anchoring, never go back in time.
            ms = self.last_audio_ms + 0.001;
        }
        self.last_audio_ms = ms;
        w.push_at(data, (ms * 48.0) as i64);
    }

    fn on_sender_report(&mut self, ssrc: u32, ntp: u64, rtp: u32) {
        if Some(ssrc) == self.video_ssrc {
            self.video_sr = Some((ssrc, ntp, rtp));
        } else if Some(ssrc) == self.audio_ssrc {
            self.audio_sr = Some((ssrc, ntp, rtp));
        }
        if self.aligned {
            return;
        }
        let (Some(v), Some((_, vntp, vrtp)), Some((_, antp, artp))) =
            (self.video, self.video_sr, self.audio_sr)
        else {
            return;
        };
        // Video's stream time at its SR's instant, minus that NTP instant:
        // the offset that maps NTP onto stream time. Audio follows it.
        let offset = v.ms(vrtp) - ntp_ms(vntp);
        self.audio = Some(TrackClock {
            rate: 48_000.0,
            anchor_rtp: artp,
            anchor_ms: ntp_ms(antp) + offset,
        });
        self.aligned = true;
        tracing::debug!(
            stream = self.publication.key(),
            "rtc_to_rtmp: audio aligned to video by Sender Reports"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_puts_packets_back_in_order_and_drops_late_ones() {
        let mut r = Reorder::default();
        let b = |n: u8| Bytes::from(vec![n]);
        assert_eq!(r.push(65535, 0, b(0)).len(), 1);
        assert!(r.push(1, 2, b(2)).is_empty());
        let out = r.push(0, 1, b(1));
        assert_eq!(out.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![1, 2]);
        // 3 and 4 are lost: 5..7 wait, the fourth held packet releases them all.
        for seq in 5u16..=7 {
            assert!(r.push(seq, seq as u32, b(0)).is_empty());
        }
        let out = r.push(8, 8, b(0));
        assert_eq!(
            out.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![5, 6, 7, 8]
        );
        assert!(r.push(0, 9, b(0)).is_empty(), "late packet dropped");
    }

    #[test]
    fn clocks_map_rtp_time_with_wraparound() {
        let c = TrackClock {
            rate: 90_000.0,
            anchor_rtp: u32::MAX - 89_999,
            anchor_ms: 100.0,
        };
        assert_eq!(c.ms(u32::MAX - 89_999), 100.0);
        assert_eq!(c.ms(0), 1100.0);
        assert_eq!(ntp_ms(3 << 32 | 1 << 31), 3500.0);
    }
}
