//! Errors of the signaling API, each with its HTTP status.

use crate::directory::DirectoryError;
use crate::sdp::SdpError;
use crate::sfu::CreateError;

/// Why a signaling request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not of the expected media type.
    #[error("unsupported Content-Type {0:?}, expected {1}")]
    UnsupportedMediaType(String, &'static str),
    /// A required query parameter or JSON field is missing or malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The SDP offer was refused.
    #[error("bad offer: {0}")]
    Sdp(#[from] SdpError),
    /// WHEP of a stream nobody publishes.
    #[error("stream {0:?} is not published")]
    StreamNotFound(String),
    /// WHIP to a stream that is already publishing, or a forced ufrag in use.
    #[error("{0}")]
    Conflict(#[from] DirectoryError),
    /// The session resource does not exist (any more).
    #[error("no session with token {0:?}")]
    SessionNotFound(String),
    /// WebRTC is disabled in the configuration.
    #[error("rtc is disabled for vhost {0:?}")]
    RtcDisabled(String),
    /// The server already holds `max_connections` sessions.
    #[error("max_connections ({0}) reached: no new session now")]
    TooManySessions(usize),
    /// The request's vhost is not configured (and there is no default to
    /// fall back on), or is disabled.
    #[error("{0}")]
    Vhost(#[from] crate::config::VhostError),
    /// This client already has `limit` sessions that have not passed ICE.
    #[error("{ip} already has {limit} sessions waiting for ICE (rtc_server.max_pending_per_ip): retry later")]
    TooManyPending {
        /// The client.
        ip: std::net::IpAddr,
        /// The limit.
        limit: usize,
    },
    /// The server is stopping gracefully (SIGTERM): no new clients.
    #[error("the server is stopping: no new session here, retry elsewhere or later")]
    Stopping,
    /// A deciding hook (`on_publish`/`on_play`) refused.
    #[error("{0}")]
    Forbidden(String),
    /// This client made more signaling requests than
    /// `rtc_server.signaling_rate_per_ip` / `signaling_burst_per_ip` allow.
    #[error(
        "{} made more than {} signaling requests at once or {} a second \
         (rtc_server.signaling_burst_per_ip, signaling_rate_per_ip): retry in {} s",
        crate::limits::show_key(&.0.key),
        .0.limit.burst,
        .0.limit.rate,
        .0.retry_after
    )]
    RateLimited(crate::limits::RateLimited),
    /// `/api/v1/clients/{id}` of no client (any more).
    #[error("no client with id {0:?}")]
    ClientNotFound(String),
    /// `/api/v1/streams/{id}` of no stream.
    #[error("no stream with id {0:?}")]
    NoSuchStream(String),
    /// A `PATCH` body that is not a valid `application/trickle-ice-sdpfrag`.
    #[error("bad sdpfrag: {0}")]
    SdpFrag(#[from] crate::sdp::sdpfrag::SdpFragError),
    /// An ICE restart `PATCH` without `If-Match` (RFC 9725 §4.3.2).
    #[error("an ICE restart needs If-Match with the session's ETag or \"*\"")]
    PreconditionRequired,
    /// `If-Match` names another ICE generation than the session's.
    #[error("If-Match {given} does not match the session's ETag {current}")]
    PreconditionFailed {
        /// The `If-Match` value sent.
        given: String,
        /// The session's current `ETag`.
        current: String,
    },
    /// The vhost needs `Authorization: Bearer <token>` (RFC 9725 §4.5);
    /// `invalid` tells a wrong token from a missing one.
    #[error("{reason}")]
    Unauthorized {
        /// What was wrong.
        reason: String,
        /// Whether a token was sent but is not one of the vhost's.
        invalid: bool,
    },
    /// A change of the session could not reach the shard that holds it now.
    #[error("the session's shard is busy: retry")]
    Busy,
    /// A shard is too far behind to take a new session
    /// (`rtc_server.max_queue_delay`, [`crate::overload`]).
    #[error(
        "the server is overloaded: shard {shard} is at capacity (busy past \
         rtc_server.max_shard_load, or its packets wait past max_queue_delay); retry later"
    )]
    Overloaded {
        /// The shard.
        shard: usize,
    },
    /// The stream is published on another cluster node and pulling it from
    /// there failed (unreachable, refused, malformed directory entry).
    #[error("{0}")]
    Origin(#[from] crate::cluster::pull::PullError),
    /// A method the API path does not serve (`Allow` names the ones it does).
    #[error("{method} is not allowed here, only {allow}")]
    MethodNotAllowed {
        /// The method of the request.
        method: String,
        /// The methods the path serves.
        allow: &'static str,
    },
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::RtcDisabled(v) => ApiError::RtcDisabled(v),
            CreateError::Sdp(e) => ApiError::Sdp(e),
        }
    }
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::UnsupportedMediaType(..) => 415,
            ApiError::BadRequest(_) | ApiError::Sdp(_) | ApiError::SdpFrag(_) => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::PreconditionFailed { .. } => 412,
            ApiError::PreconditionRequired => 428,
            ApiError::StreamNotFound(_)
            | ApiError::SessionNotFound(_)
            | ApiError::ClientNotFound(_)
            | ApiError::NoSuchStream(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Forbidden(_) => 403,
            ApiError::TooManyPending { .. } | ApiError::RateLimited(_) => 429,
            ApiError::Vhost(crate::config::VhostError::NotFound { .. }) => 404,
            ApiError::Vhost(_) => 403,
            ApiError::Origin(_) => 502,
            ApiError::RtcDisabled(_)
            | ApiError::TooManySessions(_)
            | ApiError::Stopping
            | ApiError::Busy
            | ApiError::Overloaded { .. } => 503,
        }
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for
    /// refusals that pass.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::TooManyPending { .. } => Some(10),
            ApiError::TooManySessions(_) => Some(5),
            ApiError::Stopping => Some(5),
            ApiError::Busy => Some(1),
            ApiError::Overloaded { .. } => Some(2),
            ApiError::RateLimited(r) => Some(r.retry_after),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3).
    pub fn challenge(&self) -> Option<String> {
        match self {
            ApiError::Unauthorized { invalid: true, .. } => {
                Some("Bearer realm=\"shardsfu\", error=\"invalid_token\"".into())
            }
            ApiError::Unauthorized { .. } => Some("Bearer realm=\"shardsfu\"".into()),
            _ => None,
        }
    }

    /// An SRS-style numeric error code for the JSON API.
    pub fn code(&self) -> u32 {
        match self {
            // SRS's ERROR_RTC_SDP_DECODE, ERROR_RTC_SOURCE_BUSY, ERROR_RTC_NO_PLAYER...
            ApiError::Sdp(_) => 5012,
            ApiError::Conflict(_) => 5028,
            ApiError::StreamNotFound(_) => 5018,
            ApiError::RtcDisabled(_) => 5021,
            // SRS's ERROR_RTMP_CLIENT_NOT_FOUND and ERROR_RTMP_STREAM_NOT_FOUND.
            ApiError::ClientNotFound(_) => 2049,
            ApiError::NoSuchStream(_) => 2048,
            _ => 4000 + u32::from(self.status()),
        }
    }
}
