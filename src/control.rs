//! The control plane between the signaling API and a shard's SFU: a session
//! is admitted against the process-wide [`Directory`] (limits, the stream's
//! state, the atomic claim of a publish) and then handed to the SFU. The
//! runtime calls it on the shard that accepted the request; the simulated
//! network tests call the same function.

use std::time::Instant;

use crate::api::ApiError;
use crate::directory::{Directory, DirectoryError, SessionEntry, StreamEntry};
use crate::sdp::{Candidate, Role};
use crate::sfu::create::{source_codecs, SourceCodecs};
use crate::sfu::{CreateSession, Created, Sfu};

/// Creates the session `req` asks for in `sfu` (shard `sfu.id()`), with
/// `candidates` in its answer: refused when the process holds
/// `max_sessions` or when a publisher's stream already has one. A player
/// of a stream nobody publishes yet is admitted and waits for a publisher.
pub fn admit(
    directory: &Directory,
    sfu: &mut Sfu,
    now: Instant,
    req: &CreateSession,
    candidates: Vec<Candidate>,
) -> Result<Created, ApiError> {
    let limit = sfu.settings().max_sessions;
    if directory.open_sessions() >= limit {
        return Err(ApiError::TooManySessions(limit));
    }
    if let Some(ip) = req.client_ip {
        let limit = sfu.settings().max_pending_per_ip;
        if directory.pending_of(ip) >= limit {
            return Err(ApiError::TooManyPending { ip, limit });
        }
    }
    let key = req.stream_key();
    let published = directory.stream(key.as_str());
    let source = match req.role {
        // No publisher yet: the player waits for one (SRS's behaviour).
        Role::Play => published.map(|s| SourceCodecs {
            video: s.video,
            audio: s.audio,
        }),
        Role::Publish if published.is_some() => {
            return Err(DirectoryError::StreamBusy(key.to_string()).into())
        }
        Role::Publish => None,
    };
    let mut session = sfu.new_session(now, req, candidates, source)?;
    let created = Created::of(&mut session);
    let authenticated = !session.answer.remote_fingerprints.is_empty();
    let waits = session.wait_for_publisher.is_some();
    let codecs = source_codecs(&session);
    let entry = SessionEntry {
        id: created.session_id.clone(),
        ufrag: session.ufrag.clone(),
        shard: sfu.id(),
        role: req.role,
        stream: key.to_string(),
        pending_ip: req.client_ip,
        vhost: req.vhost.clone(),
        ice: crate::directory::IceView {
            ufrag: session.ufrag.clone(),
            remote_ufrag: session.answer.remote_ufrag.clone(),
            ..Default::default()
        },
        closing: false,
    };
    let publish = (req.role == Role::Publish).then(|| StreamEntry {
        publisher: created.token.to_string(),
        video: codecs.video,
        audio: codecs.audio,
    });
    directory.register(created.token.as_str(), entry, publish)?;
    sfu.insert(session);
    crate::logging::session_start(&crate::logging::SessionLine {
        id: &created.session_id,
        proto: crate::logging::Proto::Rtc,
        publish: req.role == Role::Publish,
        vhost: &req.vhost,
        app: &req.app,
        stream: &req.stream,
        ip: req.client_ip,
        shard: sfu.id(),
    });
    if waits {
        crate::sfu::ShardStats::inc(&sfu.stats().players_waiting);
        tracing::info!(shard = sfu.id(), session = %created.session_id, stream = %key, "player waits for a publisher (until stun_timeout)");
    }
    if !authenticated {
        crate::warn_limited!(shard = sfu.id(), session = %created.session_id, "the offer had no fingerprint: ICE only, DTLS will be refused");
    }
    Ok(created)
}
