//! Upstream pulls (sans-IO): a session of this node that plays a stream
//! from the node that publishes it (the cluster's "origin") and acts here
//! as that stream's publisher, so local players fan out from it exactly as
//! from a WHIP publisher.
//!
//! The origin sees an ordinary WHEP player. This side makes the offer
//! ([`pull_offer`]: recvonly audio and video with the codecs the SFU
//! forwards), takes the origin's answer ([`Sfu::new_pull`]), runs ICE as
//! the controlling agent ([`Upstream`]: Binding requests with
//! USE-CANDIDATE to the origin, retried until answered, then kept alive),
//! DTLS as client, SRTP; PLI, NACK and receiver reports go upstream as for
//! any publisher.
//!
//! The session's peer address is the one the runtime gives it (`target`):
//! the runtime maps it to the pull's own UDP socket and the origin's real
//! address, so two pulls from one origin stay apart.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ice::{self, BindingRequest, IceLite, StunMessage};
use crate::sdp::{self, AnswerOptions, Role};
use crate::sfu::publisher::PublisherState;
use crate::sfu::{CreateError, Media, Session, SessionToken, Sfu, StreamKey};

/// Check retransmission interval until the origin answers one.
pub const CHECK_RTO: Duration = Duration::from_millis(200);
/// Consent check interval once the origin answered (its ICE-lite agent ends
/// a session without checks at its `stun_timeout`).
pub const KEEPALIVE: Duration = Duration::from_secs(2);
/// PRIORITY of our host candidate in checks.
const PRIORITY: u32 = 0x6e00_01ff;

/// The H.264 profiles and VP8 offered for video, Opus for audio: what the
/// SFU forwards (see `sdp::codec`).
const VIDEO_FORMATS: &[(u8, &str, &str)] = &[
    (
        106,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    ),
    (
        108,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    ),
    (
        102,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
    ),
    (96, "VP8/90000", ""),
];

/// The SDP offer of a pull: BUNDLEd recvonly audio (Opus) and video (H.264
/// packetization-mode 1, VP8), NACK and PLI, `setup:actpass` (the origin,
/// answering `passive`, makes us the DTLS client), and one host candidate.
pub fn pull_offer(
    ufrag: &str,
    pwd: &str,
    fingerprint_sha256: &str,
    candidate: SocketAddr,
) -> String {
    let mut s = String::with_capacity(1600);
    let ip = if candidate.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        s,
        "v=0\r\no=- {} 2 IN {ip} {}\r\ns=shardsfu-pull\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n",
        crate::util::random_u32(),
        candidate.ip()
    );
    let media = |s: &mut String, kind: &str, mid: u8, formats: &[(u8, &str, &str)], video: bool| {
        let pts: Vec<String> = formats.iter().map(|f| f.0.to_string()).collect();
        let _ = write!(
            s,
            "m={kind} 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN {ip} 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n\
             a=fingerprint:sha-256 {fingerprint_sha256}\r\na=setup:actpass\r\na=mid:{mid}\r\na=recvonly\r\na=rtcp-mux\r\n",
            pts.join(" ")
        );
        for (pt, map, fmtp) in formats {
            let _ = write!(s, "a=rtpmap:{pt} {map}\r\n");
            if !fmtp.is_empty() {
                let _ = write!(s, "a=fmtp:{pt} {fmtp}\r\n");
            }
            let _ = write!(s, "a=rtcp-fb:{pt} nack\r\n");
            if video {
                let _ = write!(s, "a=rtcp-fb:{pt} nack pli\r\n");
            }
        }
        let _ = write!(
            s,
            "a=candidate:1 1 udp 2130706431 {} {} typ host\r\n",
            candidate.ip(),
            candidate.port()
        );
    };
    media(
        &mut s,
        "audio",
        0,
        &[(111, "opus/48000/2", "minptime=10;useinbandfec=1")],
        false,
    );
    media(&mut s, "video", 1, VIDEO_FORMATS, true);
    s
}

/// The first UDP host candidate of an SDP (`a=candidate` lines), if any.
pub fn first_udp_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("a=candidate:")?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 6 || !f[2].eq_ignore_ascii_case("udp") {
            return None;
        }
        let ip: std::net::IpAddr = f[4].parse().ok()?;
        Some(SocketAddr::new(ip, f[5].parse().ok()?))
    })
}

/// What a pull is made from.
#[derive(Debug, Clone)]
pub struct PullSpec {
    /// The vhost whose settings apply.
    pub vhost: String,
    /// The `app`.
    pub app: String,
    /// The stream name.
    pub stream: String,
    /// Our ICE ufrag (in the offer).
    pub ufrag: String,
    /// Our ICE password (in the offer).
    pub pwd: String,
    /// The origin's SDP answer.
    pub answer: String,
    /// The session's peer address as the runtime presents the origin.
    pub target: SocketAddr,
}

/// The controlling ICE side of a pull: checks to the origin until one is
/// answered, then consent checks every [`KEEPALIVE`].
#[derive(Debug, Clone)]
pub struct Upstream {
    username: String,
    remote_pwd: String,
    tie_breaker: u64,
    /// Where checks go (the runtime's address for the origin).
    pub target: SocketAddr,
    next_check: Instant,
    /// Transaction ids of the checks in flight (newest last, a few kept).
    pending: Vec<[u8; 12]>,
    counter: u64,
    answered: bool,
}

impl Upstream {
    /// Checks `remote_ufrag:local_ufrag` signed with the origin's password,
    /// the first due at `now`.
    pub fn new(
        local_ufrag: &str,
        remote_ufrag: &str,
        remote_pwd: &str,
        target: SocketAddr,
        now: Instant,
    ) -> Self {
        let tie =
            (u64::from(crate::util::random_u32()) << 32) | u64::from(crate::util::random_u32());
        Upstream {
            username: format!("{remote_ufrag}:{local_ufrag}"),
            remote_pwd: remote_pwd.to_string(),
            tie_breaker: tie,
            target,
            next_check: now,
            pending: Vec::new(),
            counter: 0,
            answered: false,
        }
    }

    /// When the next check is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_check)
    }

    /// Whether the origin answered a check.
    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Writes the due check into `out` (cleared first); false when none is due.
    pub fn poll_check(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if now < self.next_check {
            return false;
        }
        self.counter += 1;
        let mut txid = [0u8; 12];
        txid[..8].copy_from_slice(&self.tie_breaker.wrapping_add(self.counter).to_be_bytes());
        txid[8..].copy_from_slice(&(self.counter as u32).to_be_bytes());
        let req = BindingRequest {
            username: &self.username,
            priority: PRIORITY,
            ice_controlling: Some(self.tie_breaker),
            use_candidate: true,
        };
        out.clear();
        ice::write_binding_request(&txid, &req, self.remote_pwd.as_bytes(), out);
        if self.pending.len() >= 8 {
            self.pending.remove(0);
        }
        self.pending.push(txid);
        self.next_check = now + if self.answered { KEEPALIVE } else { CHECK_RTO };
        true
    }

    /// A STUN response from the origin: true when it answers one of our
    /// checks (a success, signed with the origin's password).
    pub fn handle_response(&mut self, msg: &StunMessage<'_>) -> bool {
        if msg.class() != ice::StunClass::Success
            || !self.pending.contains(msg.transaction_id())
            || !msg.verify_integrity(self.remote_pwd.as_bytes())
        {
            return false;
        }
        self.pending.retain(|t| t != msg.transaction_id());
        self.answered = true;
        true
    }
}

impl Sfu {
    /// A pull session from the origin's `spec.answer` to our [`pull_offer`]:
    /// a publisher of `app/stream` whose tracks are what the origin sends,
    /// ICE controlling toward `spec.target`, DTLS client. Not yet added:
    /// register it, then [`Sfu::insert`] it.
    pub fn new_pull(&self, now: Instant, spec: &PullSpec) -> Result<Session, CreateError> {
        let settings = self.settings.vhost(&spec.vhost).clone();
        // The origin's answer reads like a publisher's offer (sendonly, its
        // SSRCs, its fingerprint, `setup:passive`): answering it as one
        // gives the tracks, the DTLS role and the origin's credentials.
        let remote = sdp::parse_offer(&spec.answer)?;
        let opts = AnswerOptions {
            role: Role::Publish,
            ice_ufrag: spec.ufrag.clone(),
            ice_pwd: spec.pwd.clone(),
            fingerprint_sha256: self.fingerprint.clone(),
            dtls_role_active: false,
            candidates: Vec::new(),
            twcc: false,
            nack: settings.nack,
            play: None,
        };
        let answer = sdp::answer(&remote, &opts)?;
        let upstream = Upstream::new(
            &spec.ufrag,
            &answer.remote_ufrag,
            &answer.remote_pwd,
            spec.target,
            now,
        );
        let ice = IceLite::new(
            spec.ufrag.clone(),
            &spec.pwd,
            Some(answer.remote_ufrag.clone()),
            settings.stun_timeout,
            now,
        );
        let media = Media::Publisher(PublisherState::new(&answer.tracks, settings.nack, false));
        Ok(Session {
            token: SessionToken::random(),
            id: format!("{}:{}", spec.ufrag, answer.remote_ufrag),
            role: Role::Publish,
            vhost: spec.vhost.clone(),
            app: spec.app.clone(),
            stream: spec.stream.clone(),
            stream_key: StreamKey::new(&spec.app, &spec.stream),
            rtc_to_rtmp: settings.rtc_to_rtmp,
            client_ip: None,
            check_deadline: Some(now + settings.first_check_timeout),
            wait_for_publisher: None,
            ufrag: spec.ufrag.clone(),
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
            upstream: Some(upstream),
        })
    }

    /// A STUN response (not a request) from `from`: the answer to a pull's
    /// check validates and selects the origin and starts DTLS.
    pub(super) fn handle_stun_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &StunMessage<'_>,
    ) {
        let Some(token) = self.by_addr.get(&from).cloned() else {
            return crate::sfu::ShardStats::inc(&self.stats.stun_malformed);
        };
        let Some(s) = self.sessions.get_mut(&token) else {
            return;
        };
        let Some(up) = s.upstream.as_mut().filter(|u| u.target == from) else {
            return crate::sfu::ShardStats::inc(&self.stats.stun_rejected);
        };
        if !up.handle_response(msg) {
            return crate::sfu::ShardStats::inc(&self.stats.stun_rejected);
        }
        s.ice.handle_check_response(now, from);
        while s.ice.poll_event().is_some() {}
        let first = s.check_deadline.take().is_some();
        let start_dtls = s.dtls.is_none();
        if first {
            self.event(crate::sfu::Event::IceConnected {
                token: token.clone(),
            });
        }
        if start_dtls {
            self.start_dtls(now, &token, from);
        }
    }

    /// Sends the due checks of every pull.
    pub(super) fn poll_upstream_checks(&mut self, now: Instant) {
        let mut sends = Vec::new();
        for s in self.sessions.values_mut() {
            let Some(up) = s.upstream.as_mut() else {
                continue;
            };
            let mut buf = Vec::with_capacity(128);
            if up.poll_check(now, &mut buf) {
                s.counters.bytes_out += buf.len() as u64;
                sends.push((bytes::Bytes::from(buf), up.target));
            }
        }
        for (data, to) in sends {
            self.transmit(data, to);
        }
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
