//! Creating a session from an offer: the part WHIP, WHEP and the legacy JSON
//! API share.

use std::time::Instant;

use crate::api::ApiError;
use crate::ice::IceLite;
use crate::sdp::{self, AnswerOptions, PlayOptions, Role};
use crate::server::directory::{SessionEntry, StreamEntry};
use crate::server::player::PlayerState;
use crate::server::publisher::PublisherState;
use crate::server::session::{stream_key, Media, Session};
use crate::server::ShardCore;
use crate::util::{random_string, random_u32};

/// A request to publish or play, from any of the signaling APIs.
#[derive(Debug, Default)]
pub struct SessionRequest<'a> {
    /// Publish (WHIP) or play (WHEP).
    pub role: Option<Role>,
    /// The `app` (e.g. `live`).
    pub app: &'a str,
    /// The stream name.
    pub stream: &'a str,
    /// The SDP offer.
    pub offer: &'a str,
    /// `eip=ip[:port]`: forces the answer's candidate.
    pub eip: Option<&'a str>,
    /// `ice-ufrag`: forces the server's ICE ufrag.
    pub ice_ufrag: Option<&'a str>,
    /// `ice-pwd`: forces the server's ICE password.
    pub ice_pwd: Option<&'a str>,
    /// The `Host` of the API request (for `api_as_candidates`).
    pub api_host: Option<&'a str>,
}

/// A session that was created.
#[derive(Debug)]
pub struct Created {
    /// The SDP answer.
    pub answer: String,
    /// The token of the session's resource.
    pub token: String,
    /// The SRS-style session id.
    pub session_id: String,
}

fn check_name(what: &str, v: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("invalid {what} {v:?}")))
    }
}

/// ICE credentials may hold `ALPHA / DIGIT / "+" / "/"` (RFC 8839); ours
/// also refuse `:` which separates the two ufrags in USERNAME.
fn check_ice(what: &str, v: &str, min: usize) -> Result<(), ApiError> {
    let ok = (min..=256).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid {what} {v:?} ({min} to 256 ICE characters)"
        )))
    }
}

/// Parses the offer, builds the answer and registers the session on `core`'s shard.
pub fn create_session(core: &ShardCore, req: &SessionRequest<'_>) -> Result<Created, ApiError> {
    let role = req
        .role
        .ok_or_else(|| ApiError::BadRequest("no role".into()))?;
    check_name("app", req.app)?;
    check_name("stream", req.stream)?;
    let shared = &core.shared;
    let vhost = shared.config.vhost("__defaultVhost__");
    if !shared.config.rtc_server.enabled || !vhost.rtc.enabled {
        return Err(ApiError::RtcDisabled("__defaultVhost__".into()));
    }
    let limit = shared.config.max_connections;
    if shared.directory.counts().0 >= limit as usize {
        return Err(ApiError::TooManySessions(limit));
    }
    let offer = sdp::parse_offer(req.offer)?;
    let key = stream_key(req.app, req.stream);
    let published = shared.directory.stream(&key);
    let play = match role {
        Role::Play => {
            let s = published.ok_or_else(|| ApiError::StreamNotFound(key.clone()))?;
            Some(PlayOptions {
                video_codec: s.video,
                audio_codec: s.audio,
                audio_ssrc: random_u32(),
                video_ssrc: random_u32(),
                video_rtx_ssrc: random_u32(),
                cname: random_string(16),
                stream_id: key.clone(),
            })
        }
        Role::Publish => {
            if published.is_some() {
                return Err(ApiError::Conflict(
                    crate::server::directory::DirectoryError::StreamBusy(key),
                ));
            }
            None
        }
    };
    let ufrag = match req.ice_ufrag {
        Some(u) => {
            check_ice("ice-ufrag", u, 4)?;
            u.to_string()
        }
        None => random_string(8),
    };
    let pwd = match req.ice_pwd {
        Some(p) => {
            check_ice("ice-pwd", p, 22)?;
            p.to_string()
        }
        None => random_string(32),
    };
    if let Some(eip) = req.eip {
        crate::api::check_eip(eip)?;
    }
    let resolve = |host: &str| -> Vec<std::net::IpAddr> {
        use std::net::ToSocketAddrs;
        (host, 0)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default()
    };
    let candidates = sdp::discover_candidates(
        &shared.candidates,
        req.api_host,
        req.eip,
        &shared.interfaces,
        &resolve,
    );
    let play_ssrcs = play
        .as_ref()
        .map(|p| (p.audio_ssrc, p.video_ssrc, p.video_rtx_ssrc));
    let opts = AnswerOptions {
        role,
        ice_ufrag: ufrag.clone(),
        ice_pwd: pwd.clone(),
        fingerprint_sha256: shared.fingerprint.clone(),
        dtls_role_active: crate::api::dtls_role_active(&shared.config),
        candidates,
        twcc: vhost.rtc.twcc,
        nack: vhost.rtc.nack,
        play,
    };
    let answer = sdp::answer(&offer, &opts)?;
    let token = random_string(32);
    let session_id = format!("{ufrag}:{}", answer.remote_ufrag);
    let publish = (role == Role::Publish).then(|| StreamEntry {
        publisher: token.clone(),
        video: answer
            .tracks
            .iter()
            .find(|t| t.kind == sdp::MediaKind::Video)
            .map(|t| t.codec),
        audio: answer
            .tracks
            .iter()
            .find(|t| t.kind == sdp::MediaKind::Audio)
            .map(|t| t.codec),
    });
    let entry = SessionEntry {
        ufrag: ufrag.clone(),
        shard: core.id,
        role,
        stream: key.clone(),
    };
    shared.directory.register(&token, entry, publish)?;
    let now = Instant::now();
    let stun_timeout = vhost.rtc.stun_timeout;
    let ice = IceLite::new(
        ufrag.clone(),
        &pwd,
        Some(answer.remote_ufrag.clone()),
        stun_timeout,
        now,
    );
    let sdp_text = answer.sdp.clone();
    let (nack, twcc) = (vhost.rtc.nack, vhost.rtc.twcc);
    let media = match play_ssrcs {
        Some((audio, video, rtx)) => {
            Media::Player(PlayerState::new(&answer.tracks, audio, video, rtx, nack))
        }
        None => Media::Publisher(PublisherState::new(&answer.tracks, nack, twcc)),
    };
    core.adopt(Session {
        token: token.clone(),
        id: session_id.clone(),
        role,
        app: req.app.to_string(),
        stream: req.stream.to_string(),
        stream_key: key,
        ufrag,
        ice,
        answer,
        created: now,
        media,
        dtls: None,
        srtp: None,
        counters: Default::default(),
        rate: Default::default(),
    });
    tracing::info!(shard = core.id, session = %session_id, ?role, app = req.app, stream = req.stream, "session created");
    Ok(Created {
        answer: sdp_text,
        token,
        session_id,
    })
}
