//! A new session from an offer: the SDP answer, the ICE agent and the
//! publisher or player state, built with the settings of the request's
//! vhost. The runtime then registers it in the directory and hands it to
//! [`Sfu::insert`].

use std::time::Instant;

use crate::ice::IceLite;
use crate::sdp::{self, AnswerOptions, Candidate, Codec, PlayOptions, Role, SdpError};
use crate::sfu::player::PlayerState;
use crate::sfu::publisher::PublisherState;
use crate::sfu::{Media, Session, SessionToken, Sfu, StreamKey};
use crate::util::{random_string, random_u32};

/// A request to publish or play, from any of the signaling APIs, already
/// checked for well-formed names and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    /// Publish (WHIP) or play (WHEP).
    pub role: Role,
    /// The vhost whose settings apply.
    pub vhost: String,
    /// The `app` (e.g. `live`).
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// The SDP offer.
    pub offer: String,
    /// `ice-ufrag`: forces the server's ICE ufrag.
    pub ice_ufrag: Option<String>,
    /// `ice-pwd`: forces the server's ICE password.
    pub ice_pwd: Option<String>,
    /// The address the request came from (per-IP limits), if known.
    pub client_ip: Option<std::net::IpAddr>,
}

impl CreateSession {
    /// `app/stream`.
    pub fn stream_key(&self) -> StreamKey {
        StreamKey::new(&self.app, &self.stream)
    }
}

/// The codecs a stream's publisher sends, which its players are offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCodecs {
    /// Video codec, if any.
    pub video: Option<Codec>,
    /// Audio codec, if any.
    pub audio: Option<Codec>,
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// WebRTC is disabled for the vhost (or the whole server).
    #[error("rtc is disabled for vhost {0:?}")]
    RtcDisabled(String),
    /// The offer was refused.
    #[error("bad offer: {0}")]
    Sdp(#[from] SdpError),
}

/// A session that was created, as the signaling APIs answer it.
#[derive(Debug, Clone)]
pub struct Created {
    /// The SDP answer.
    pub answer: String,
    /// The token of the session's resource.
    pub token: SessionToken,
    /// The SRS-style session id.
    pub session_id: String,
}

impl Created {
    /// What the API answers for `s`. The answer's text moves out of the
    /// session (it is never needed again: ~2 KiB a session less).
    pub fn of(s: &mut Session) -> Self {
        Created {
            answer: std::mem::take(&mut s.answer.sdp),
            token: s.token.clone(),
            session_id: s.id.clone(),
        }
    }
}

impl Sfu {
    /// Parses the offer and builds the answer and the session (not yet
    /// added: see [`Sfu::insert`]). A player gets the codecs of `source`,
    /// the stream's publisher; without one (the player came first, as SRS
    /// allows) it gets the offer's preferred codecs and waits for a
    /// publisher until `stun_timeout`.
    pub fn new_session(
        &self,
        now: Instant,
        req: &CreateSession,
        candidates: Vec<Candidate>,
        source: Option<SourceCodecs>,
    ) -> Result<Session, CreateError> {
        let settings = self.settings.vhost(&req.vhost).clone();
        if !settings.enabled {
            return Err(CreateError::RtcDisabled(req.vhost.clone()));
        }
        // An offer without a fingerprint is accepted as SRS does (its own
        // documentation's curl example has none), but such a session can
        // only pass ICE: DTLS is never started for it, so no media flows.
        let offer = sdp::parse_offer_with(
            &req.offer,
            sdp::ParseOptions {
                require_fingerprint: false,
            },
        )?;
        let key = req.stream_key();
        let play = match req.role {
            Role::Play => {
                let codecs = source.unwrap_or_default();
                Some(PlayOptions {
                    video_codec: codecs.video,
                    audio_codec: codecs.audio,
                    audio_ssrc: random_u32(),
                    video_ssrc: random_u32(),
                    video_rtx_ssrc: random_u32(),
                    cname: random_string(16),
                    stream_id: key.to_string(),
                })
            }
            Role::Publish => None,
        };
        let ufrag = req.ice_ufrag.clone().unwrap_or_else(|| random_string(8));
        let pwd = req.ice_pwd.clone().unwrap_or_else(|| random_string(32));
        let play_ssrcs = play
            .as_ref()
            .map(|p| (p.audio_ssrc, p.video_ssrc, p.video_rtx_ssrc));
        let opts = AnswerOptions {
            role: req.role,
            ice_ufrag: ufrag.clone(),
            ice_pwd: pwd.clone(),
            fingerprint_sha256: self.fingerprint.clone(),
            dtls_role_active: settings.dtls_role_active,
            candidates,
            twcc: settings.twcc,
            nack: settings.nack,
            play,
        };
        let answer = sdp::answer(&offer, &opts)?;
        let ice = IceLite::new(
            ufrag.clone(),
            &pwd,
            Some(answer.remote_ufrag.clone()),
            settings.stun_timeout,
            now,
        );
        let media = match play_ssrcs {
            Some((audio, video, rtx)) => Media::Player(PlayerState::new(
                &answer.tracks,
                audio,
                video,
                rtx,
                settings.nack,
            )),
            None => Media::Publisher(PublisherState::new(
                &answer.tracks,
                settings.nack,
                settings.twcc,
            )),
        };
        Ok(Session {
            token: SessionToken::random(),
            id: format!("{ufrag}:{}", answer.remote_ufrag),
            role: req.role,
            vhost: req.vhost.clone(),
            app: req.app.clone(),
            stream: req.stream.clone(),
            stream_key: key,
            rtc_to_rtmp: req.role == Role::Publish && settings.rtc_to_rtmp,
            client_ip: req.client_ip,
            check_deadline: Some(now + settings.first_check_timeout),
            wait_for_publisher: (req.role == Role::Play && source.is_none())
                .then(|| now + settings.stun_timeout),
            ufrag,
            ice,
            answer,
            created: now,
            media,
            dtls: None,
            srtp: None,
            counters: Default::default(),
            unauthenticated_logged: false,
            ice_ufrags: Vec::new(),
            rate: Default::default(),
            upstream: None,
        })
    }
}

/// The codecs of a session's negotiated tracks (what a publisher sends).
pub fn source_codecs(s: &Session) -> SourceCodecs {
    let find = |kind| {
        s.answer
            .tracks
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.codec)
    };
    SourceCodecs {
        video: find(sdp::MediaKind::Video),
        audio: find(sdp::MediaKind::Audio),
    }
}
