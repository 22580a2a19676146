//! RTMP → RTC (`rtc { rtmp_to_rtc on; }`): an RTMP publication also appears
//! as a WebRTC stream, so WHEP players find it in the directory.
//!
//! Video is repacketized on the shard of the RTMP connection
//! ([`H264Packetizer`], a few microseconds per frame). Audio (AAC) goes to a
//! worker thread ([`AudioWorker`]) through a bounded queue and comes back as
//! 48 kHz Opus; a local task turns it into RTP. Both are fanned out with
//! [`ShardState::inject_media`](crate::server::shard::ShardState::inject_media).

use std::rc::Rc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use shards::glommio;

use crate::directory::{DirectoryError, SessionEntry, StreamEntry};
use crate::live::flv::{codec, FlvTag, TagKind};
use crate::rtp::{FixedHeader, Pt, Ssrc};
use crate::sdp::{Codec, ExtIds, MediaKind, Role};
use crate::server::live::h264_rtp::H264Packetizer;
use crate::server::live::transcode::{AudioOut, AudioWorker, Direction};
use crate::server::ShardRuntime;
use crate::sfu::MediaPacket;

/// Payload type of the Opus packets (the player rewrites it).
const OPUS_PT: u8 = 111;

/// The WebRTC side of one RTMP publication.
pub struct RtmpToRtc {
    core: Rc<ShardRuntime>,
    key: crate::sfu::StreamKey,
    token: String,
    video: H264Packetizer,
    audio: Option<AudioWorker>,
    audio_task: Option<glommio::task::JoinHandle<()>>,
    opus_bitrate: u32,
    pending: Vec<MediaPacket>,
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // ring's SystemRandom reads the OS RNG; failure is not expected on Linux.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

impl RtmpToRtc {
    /// Registers `key` as a WebRTC stream (H.264 + Opus); fails when a
    /// WebRTC publisher already holds it.
    pub fn start(
        core: Rc<ShardRuntime>,
        key: &str,
        keep_bframe: bool,
        opus_bitrate: u32,
    ) -> Result<Self, DirectoryError> {
        let token = format!("rtmp-{:08x}{:08x}", random_u32(), random_u32());
        let entry = SessionEntry {
            // No API client: the RTMP publisher is listed by the hub.
            id: String::new(),
            ufrag: token.clone(),
            shard: core.id,
            role: Role::Publish,
            stream: key.to_owned(),
            pending_ip: None,
            vhost: String::new(),
            ice: Default::default(),
            closing: false,
        };
        let stream = StreamEntry {
            publisher: token.clone(),
            video: Some(Codec::H264),
            audio: Some(Codec::Opus),
        };
        core.shared
            .directory
            .register(&token, entry, Some(stream))?;
        Ok(Self {
            core,
            key: crate::sfu::StreamKey::from(key),
            token,
            video: H264Packetizer::new(random_u32(), random_u32() as u16, keep_bframe),
            audio: None,
            audio_task: None,
            opus_bitrate,
            pending: Vec::new(),
        })
    }

    /// One tag of the RTMP publication.
    pub fn on_tag(&mut self, tag: &FlvTag) {
        match tag.kind {
            TagKind::Video => {
                for p in self.video.packetize(tag) {
                    self.pending.push(MediaPacket {
                        kind: MediaKind::Video,
                        codec: Codec::H264,
                        keyframe: p.keyframe,
                        ext: ExtIds::default(),
                        rtp: p.rtp,
                    });
                }
            }
            TagKind::Audio if tag.audio_codec_id() == Some(codec::AUDIO_AAC) => {
                if tag.is_audio_sequence_header() {
                    self.start_audio(tag.data.slice(2..));
                } else if let Some(w) = &self.audio {
                    w.push(
                        tag.data.slice(2.min(tag.data.len())..),
                        tag.timestamp_ms as i64,
                    );
                }
            }
            _ => {}
        }
    }

    fn start_audio(&mut self, asc: Bytes) {
        let worker = match AudioWorker::spawn(
            Direction::AacToOpus,
            &asc,
            self.opus_bitrate,
            self.key.as_str(),
        ) {
            Ok(w) => w,
            Err(e) => {
                crate::warn_limited!(stream = %self.key, "rtmp_to_rtc: no audio: {e}");
                return;
            }
        };
        let rx = worker.output();
        let core = self.core.clone();
        let key = self.key.clone();
        let ssrc = random_u32();
        let mut seq = random_u32() as u16;
        let task = glommio::spawn_local(async move {
            while let Ok(AudioOut { data, pts }) = rx.recv_async().await {
                let mut b = BytesMut::with_capacity(12 + data.len());
                FixedHeader::plain(false, Pt(OPUS_PT), seq, pts as u32, Ssrc(ssrc)).write(&mut b);
                b.put_slice(&data);
                seq = seq.wrapping_add(1);
                let pkt = MediaPacket {
                    kind: MediaKind::Audio,
                    codec: Codec::Opus,
                    keyframe: false,
                    ext: ExtIds::default(),
                    rtp: b.freeze(),
                };
                core.sfu
                    .borrow_mut()
                    .inject_media(Instant::now(), &key, &pkt);
                core.flush().await;
            }
        })
        .detach();
        self.audio = Some(worker);
        self.audio_task = Some(task);
    }

    /// Sends the video packets made since the last call.
    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        {
            let mut st = self.core.sfu.borrow_mut();
            for p in self.pending.drain(..) {
                st.inject_media(now, &self.key, &p);
            }
        }
        self.core.flush().await;
    }
}

impl Drop for RtmpToRtc {
    fn drop(&mut self) {
        self.core.shared.directory.remove(&self.token);
        if let Some(t) = self.audio_task.take() {
            t.cancel();
        }
    }
}
