//! One peer connection: a publisher or a player of one stream.

use std::net::SocketAddr;
use std::time::Instant;

use crate::dtls::DtlsTransport;
use crate::ice::IceLite;
use crate::logging::{session_end, Proto, SessionCounts, SessionLine};
use crate::sdp::{Answer, Role};
use crate::sfu::ids::{SessionToken, StreamKey};
use crate::sfu::player::PlayerState;
use crate::sfu::publisher::PublisherState;
use crate::sfu::EndReason;
use crate::srtp::SrtpSession;

/// The media side of a session.
#[derive(Debug)]
pub enum Media {
    /// It publishes a stream.
    Publisher(PublisherState),
    /// It plays a stream.
    Player(PlayerState),
}

/// Per-session counters (reported by `/api/v1/clients`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionCounters {
    /// RTP packets received and decrypted.
    pub rtp_in: u64,
    /// RTP packets sent.
    pub rtp_out: u64,
    /// RTCP packets received and decrypted.
    pub rtcp_in: u64,
    /// RTCP packets sent.
    pub rtcp_out: u64,
    /// Bytes received (datagrams, encrypted).
    pub bytes_in: u64,
    /// Bytes sent (datagrams, encrypted).
    pub bytes_out: u64,
    /// SRTP/SRTCP packets that failed authentication or replay checks.
    pub srtp_errors: u64,
    /// Packets dropped for other reasons (malformed, unknown payload type, waiting for a keyframe).
    pub dropped: u64,
}

/// A WebRTC session as a shard holds it.
///
/// Before DTLS starts it is small and plain data, so it can move to the
/// shard that receives its first STUN check.
pub struct Session {
    /// The unguessable token in the session's resource URL.
    pub token: SessionToken,
    /// SRS-style session id: `server-ufrag:client-ufrag`.
    pub id: String,
    /// Publisher or player.
    pub role: Role,
    /// The `app` of the stream.
    pub app: String,
    /// The `stream` name.
    pub stream: String,
    /// `app/stream`.
    pub stream_key: StreamKey,
    /// The vhost it was created for.
    pub vhost: String,
    /// Whether its media also goes to the live side (`rtc_to_rtmp`): the
    /// SFU then returns its packets as events.
    pub rtc_to_rtmp: bool,
    /// The server's ICE ufrag (its first; the API id names it).
    pub ufrag: String,
    /// The server ufrags of its ICE restarts, also routed to it (at most
    /// [`MAX_ICE_ALIASES`](crate::directory::MAX_ICE_ALIASES), newest last).
    pub ice_ufrags: Vec<String>,
    /// The ICE-lite agent.
    pub ice: IceLite,
    /// What was negotiated in the offer/answer.
    pub answer: Answer,
    /// When the session was created.
    pub created: Instant,
    /// Publisher or player state.
    pub media: Media,
    /// The DTLS association, once ICE validated the peer.
    pub dtls: Option<DtlsTransport>,
    /// SRTP contexts, once DTLS connected.
    pub srtp: Option<SrtpSession>,
    /// Counters.
    pub counters: SessionCounters,
    /// The address of the signaling request that made it, if known.
    pub client_ip: Option<std::net::IpAddr>,
    /// Until its first valid STUN check: when it ends without one.
    pub check_deadline: Option<Instant>,
    /// A player created before its stream had a publisher waits until this
    /// for its first packet, then ends ([`EndReason::NoPublisher`](crate::sfu::EndReason::NoPublisher)).
    pub wait_for_publisher: Option<Instant>,
    /// Whether the "no fingerprint, DTLS refused" line was logged.
    pub unauthenticated_logged: bool,
    /// Rates for the API, from `counters`.
    pub rate: crate::sfu::snapshot::RateMeter,
    /// When the session is a pull from the stream's origin node: our
    /// controlling ICE side ([`crate::sfu::upstream`]).
    pub upstream: Option<crate::sfu::upstream::Upstream>,
}

impl Session {
    /// The address media goes to: the nominated one, else the DTLS peer.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.ice
            .selected()
            .or_else(|| self.dtls.as_ref().map(|d| d.peer()))
    }

    /// Whether SRTP is up.
    pub fn is_connected(&self) -> bool {
        self.srtp.is_some()
    }

    /// Who it is, for its start and end log lines.
    pub fn log_line(&self, shard: usize) -> SessionLine<'_> {
        SessionLine {
            id: &self.id,
            proto: Proto::Rtc,
            publish: self.role == Role::Publish,
            vhost: &self.vhost,
            app: &self.app,
            stream: &self.stream,
            ip: self.client_ip,
            shard,
        }
    }

    /// Logs its end line (once, when it ends on shard `shard` at `now`).
    pub fn log_end(&self, shard: usize, now: Instant, reason: EndReason) {
        let c = &self.counters;
        let counts = SessionCounts {
            packets_in: c.rtp_in + c.rtcp_in,
            packets_out: c.rtp_out + c.rtcp_out,
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
        };
        let duration = now.saturating_duration_since(self.created);
        session_end(
            &self.log_line(shard),
            reason.as_str(),
            duration,
            counts,
            self.peer(),
        );
    }
}
