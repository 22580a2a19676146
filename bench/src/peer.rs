//! One virtual WebRTC peer: ICE (controlling, USE-CANDIDATE), DTLS, SRTP,
//! RTCP, and media (publisher) or reception accounting (subscriber).
//! Driven by the event loop in `engine.rs` through `handle_datagram` and
//! `handle_timeout`; `wake` says when it next needs the clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::UdpSocket;
use shardsfu::dtls::{parse_fingerprint, DtlsCert, DtlsEvent, DtlsRole, DtlsTransport};
use shardsfu::ice::{self, BindingRequest};
use shardsfu::rtp::rtcp::{
    parse_compound, write_nack, write_pli, write_rr, ReportBlock, RtcpPacket,
};
use shardsfu::rtp::{RtpHeader, Ssrc};
use shardsfu::srtp::SrtpSession;

use crate::media::{Clip, FPS, TRAILER_LEN, TRAILER_MAGIC};
pub use crate::recv::{splitmix, Arrival, RecvTrack};
use crate::report::Stats;
use crate::signal::{Answer, Role, Url};

/// How long ICE + DTLS may take after the answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Check retransmission interval before ICE succeeds.
const ICE_RTO: Duration = Duration::from_millis(200);
/// Consent / keepalive check interval after success.
const KEEPALIVE: Duration = Duration::from_secs(3);
/// Receiver report interval.
const RR_INTERVAL: Duration = Duration::from_secs(1);
/// Publisher history for NACK answers (packets per track).
const HISTORY: usize = 512;
/// Ignore PLIs closer together than this (a keyframe is already on its way).
const PLI_HOLDOFF: Duration = Duration::from_millis(300);

/// Where the peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started (waiting for the ramp).
    Idle,
    /// POST sent, no answer yet.
    Signaling,
    /// Sending checks.
    Ice,
    /// Handshaking.
    Dtls,
    /// SRTP up (publisher sending, subscriber receiving).
    Media,
    /// Gave up; the reason was counted.
    Failed,
    /// Ended on purpose by the soak's churn (DELETE, vanished, or silent).
    Ended,
}

/// What the loop shares with a peer while it runs.
pub struct Ctx<'a> {
    /// Counters.
    pub stats: &'a mut Stats,
    /// The clip.
    pub clip: &'a Clip,
    /// Our certificate.
    pub cert: &'a DtlsCert,
}

/// One virtual peer.
pub struct Peer {
    /// Publisher or subscriber.
    pub role: Role,
    /// Stream index.
    pub stream: usize,
    /// State.
    pub state: State,
    /// Its socket (one per peer: the server tells sessions apart by address).
    pub sock: UdpSocket,
    local: SocketAddr,
    /// When the POST was queued.
    pub post_at: Option<Instant>,
    /// The resource URL to DELETE at the end.
    pub location: Option<Url>,
    /// Our ICE credentials (in the offer).
    pub ufrag: String,
    /// Our ICE password.
    pub pwd: String,
    answer: Answer,
    remote: Option<SocketAddr>,
    txid: u64,
    next_check: Instant,
    deadline: Instant,
    dtls: Option<DtlsTransport>,
    srtp: Option<SrtpSession>,
    /// Our SSRCs (video, audio) for the publisher; RTCP sender SSRC for both.
    pub ssrcs: (u32, u32),
    /// When `wake` was last scheduled on the loop's timer heap.
    pub scheduled: Option<Instant>,
    /// Soak: when the churn ends this peer.
    pub ends_at: Option<Instant>,
    /// Soak: the peer never does ICE (its session must end by itself).
    pub silent: bool,
    // Publisher media.
    media_start: Instant,
    video_n: u64,
    video_idx: usize,
    audio_n: u64,
    seq: (u16, u16),
    ts_base: (u32, u32),
    last_pli: Option<Instant>,
    history: VecDeque<(u32, u16, Bytes)>,
    // Subscriber reception.
    /// Video and audio tracks.
    pub tracks: [RecvTrack; 2],
    /// Whether the first media packet arrived.
    pub got_media: bool,
    next_rr: Instant,
    nack_buf: Vec<u16>,
    out: Vec<u8>,
}

impl Peer {
    /// A peer with its socket bound; `seed` varies SSRCs and credentials.
    pub fn new(role: Role, stream: usize, sock: UdpSocket, seed: u64, now: Instant) -> Self {
        let local = sock
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let r = splitmix(seed);
        Peer {
            role,
            stream,
            state: State::Idle,
            sock,
            local,
            post_at: None,
            location: None,
            ufrag: format!("b{:07x}", r & 0xfff_ffff),
            pwd: format!("{:016x}{:016x}", splitmix(r), splitmix(r ^ 1)),
            answer: Answer::default(),
            remote: None,
            txid: r,
            next_check: now,
            deadline: now + CONNECT_TIMEOUT,
            dtls: None,
            srtp: None,
            ssrcs: ((r >> 32) as u32 | 1, (r as u32) | 2),
            scheduled: None,
            ends_at: None,
            silent: false,
            media_start: now,
            video_n: 0,
            video_idx: 0,
            audio_n: 0,
            seq: ((r >> 8) as u16, (r >> 24) as u16),
            ts_base: ((r >> 16) as u32, (r >> 40) as u32),
            last_pli: None,
            history: VecDeque::new(),
            tracks: [RecvTrack::default(); 2],
            got_media: false,
            next_rr: now,
            nack_buf: Vec::new(),
            out: Vec::with_capacity(1500),
        }
    }

    /// Our UDP port (for the offer's candidate).
    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// The answer arrived: start ICE.
    pub fn handle_answer(&mut self, answer: Answer, now: Instant) {
        self.answer = answer;
        self.state = State::Ice;
        self.deadline = now + CONNECT_TIMEOUT;
        // A silent peer (soak) never checks: its session must end by itself.
        self.next_check = if self.silent { self.deadline } else { now };
    }

    /// Marks the peer failed, counting `reason`.
    pub fn fail(&mut self, reason: &str, stats: &mut Stats) {
        if self.state != State::Failed {
            stats.fail(reason);
            self.state = State::Failed;
        }
    }

    /// The next instant the peer needs `handle_timeout`.
    pub fn wake(&self) -> Option<Instant> {
        match self.state {
            State::Idle | State::Signaling | State::Failed | State::Ended => None,
            State::Ice => Some(self.next_check.min(self.deadline)),
            State::Dtls => {
                let t = self.dtls.as_ref().and_then(DtlsTransport::poll_timeout);
                Some(t.map_or(self.deadline, |t| t.min(self.deadline)))
            }
            State::Media => {
                let mut t = self.next_check.min(self.next_rr);
                if self.role == Role::Publisher {
                    t = t.min(self.video_due()).min(self.audio_due());
                } else if !self.got_media {
                    t = t.min(self.deadline);
                }
                if let Some(d) = self.dtls.as_ref().and_then(DtlsTransport::poll_timeout) {
                    t = t.min(d);
                }
                Some(t)
            }
        }
    }

    fn video_due(&self) -> Instant {
        self.media_start + Duration::from_micros(self.video_n * 1_000_000 / u64::from(FPS))
    }

    fn audio_due(&self) -> Instant {
        self.media_start + Duration::from_millis(self.audio_n * 20)
    }

    fn send(&mut self, data: &[u8]) {
        if let Some(to) = self.remote {
            // UDP on loopback: a full socket buffer drops, as the network would.
            let _ = self.sock.send_to(data, to);
        }
    }

    fn send_checks(&mut self, now: Instant) {
        let username = format!("{}:{}", self.answer.ufrag, self.ufrag);
        let req = BindingRequest {
            username: &username,
            priority: 0x6e00_01ff,
            ice_controlling: Some(self.txid),
            use_candidate: true,
        };
        self.txid = splitmix(self.txid);
        let mut tx = [0u8; 12];
        tx[..8].copy_from_slice(&self.txid.to_le_bytes());
        self.out.clear();
        ice::write_binding_request(&tx, &req, self.answer.pwd.as_bytes(), &mut self.out);
        let targets: Vec<SocketAddr> = match self.remote {
            Some(r) => vec![r],
            None => self.answer.candidates.clone(),
        };
        for to in targets {
            let _ = self.sock.send_to(&self.out, to);
        }
        self.next_check = now
            + if self.state == State::Ice {
                ICE_RTO
            } else {
                KEEPALIVE
            };
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Ice => {
                if now >= self.deadline {
                    return self.fail("ice_timeout", ctx.stats);
                }
                if now >= self.next_check {
                    self.send_checks(now);
                }
            }
            State::Dtls => {
                if now >= self.deadline {
                    return self.fail("dtls_timeout", ctx.stats);
                }
                if let Some(d) = self.dtls.as_mut() {
                    d.handle_timeout(now);
                }
                self.drain_dtls(now, ctx);
            }
            State::Media => {
                if now >= self.next_check {
                    self.send_checks(now);
                }
                if let Some(d) = self.dtls.as_mut() {
                    if d.poll_timeout().is_some_and(|t| t <= now) {
                        d.handle_timeout(now);
                    }
                }
                self.drain_dtls(now, ctx);
                if now >= self.next_rr {
                    self.send_rr();
                    self.next_rr = now + RR_INTERVAL;
                }
                match self.role {
                    Role::Publisher => self.send_media(now, ctx),
                    Role::Subscriber if !self.got_media && now >= self.deadline => {
                        self.fail("no_media_timeout", ctx.stats)
                    }
                    Role::Subscriber => {}
                }
            }
            _ => {}
        }
    }

    /// A datagram from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        at: Arrival,
        from: SocketAddr,
        data: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        match data.first() {
            Some(0..=3) => self.handle_stun(now, from, data, ctx),
            Some(20..=63) => {
                if let Some(d) = self.dtls.as_mut() {
                    d.handle_input(now, data);
                    self.drain_dtls(now, ctx);
                }
            }
            Some(128..=191) if self.state == State::Media => {
                if matches!(data.get(1), Some(192..=223)) {
                    self.handle_rtcp(now, data, ctx);
                } else {
                    self.handle_rtp(now, at, data, ctx);
                }
            }
            _ => {}
        }
    }

    fn handle_stun(&mut self, now: Instant, from: SocketAddr, data: &[u8], ctx: &mut Ctx<'_>) {
        let Ok(msg) = ice::parse(data) else { return };
        if msg.is_binding_request() || !msg.verify_integrity(self.answer.pwd.as_bytes()) {
            return;
        }
        if msg.error_code().is_some() {
            if self.state == State::Ice {
                self.fail("ice_error_response", ctx.stats);
            }
            return;
        }
        if self.state != State::Ice {
            return;
        }
        self.remote = Some(from);
        let fps: Vec<(String, Vec<u8>)> = self
            .answer
            .fingerprints
            .iter()
            .filter_map(|(h, v)| parse_fingerprint(v).ok().map(|b| (h.clone(), b)))
            .collect();
        // The answer's setup says who we are: passive (or actpass) → we are the client.
        let role = if self.answer.setup == "active" {
            DtlsRole::Server
        } else {
            DtlsRole::Client
        };
        match DtlsTransport::new(ctx.cert, role, self.local, from, fps, now) {
            Ok(d) => {
                self.dtls = Some(d);
                self.state = State::Dtls;
                self.next_check = now + KEEPALIVE;
                self.drain_dtls(now, ctx);
            }
            Err(_) => self.fail("dtls_setup", ctx.stats),
        }
    }

    fn drain_dtls(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let Some(d) = self.dtls.as_mut() else { return };
        let mut out = Vec::new();
        while let Some(t) = d.poll_transmit() {
            out.push(t);
        }
        let mut events = Vec::new();
        while let Some(e) = d.poll_event() {
            events.push(e);
        }
        for t in out {
            self.send(&t);
        }
        for e in events {
            match e {
                DtlsEvent::Connected { srtp } => match SrtpSession::new(&srtp) {
                    Ok(s) if self.state == State::Dtls => {
                        self.srtp = Some(s);
                        self.state = State::Media;
                        self.media_start = now;
                        self.next_rr = now + RR_INTERVAL;
                        self.deadline = now + CONNECT_TIMEOUT;
                        if self.role == Role::Publisher {
                            self.connected(now, ctx);
                        } else {
                            // Ask for a keyframe at once, as a browser does.
                            self.send_pli(ctx, Ssrc(0));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => self.fail("srtp_setup", ctx.stats),
                },
                DtlsEvent::Closed if self.state != State::Media => {
                    self.fail("dtls_closed", ctx.stats)
                }
                DtlsEvent::Closed => {}
                DtlsEvent::Failed(_) => self.fail("dtls_failed", ctx.stats),
            }
        }
    }

    fn connected(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.post_at {
            let ms = now.saturating_duration_since(t).as_millis().max(1) as u64;
            let _ = ctx.stats.connect_ms.record(ms.min(3_600_000));
        }
    }

    fn send_media(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        // Catch up at most a second of media after a stall, then skip ahead.
        if now.saturating_duration_since(self.video_due()) > Duration::from_secs(1) {
            let behind = now.saturating_duration_since(self.media_start);
            self.video_n = behind.as_micros() as u64 * u64::from(FPS) / 1_000_000;
            self.audio_n = behind.as_millis() as u64 / 20;
        }
        while self.video_due() <= now {
            let idx = self.video_idx;
            let ts = self
                .ts_base
                .0
                .wrapping_add((self.video_n as u32).wrapping_mul(90_000 / FPS));
            let frame = &ctx.clip.video[idx];
            let n = frame.payloads.len();
            for (k, p) in frame.payloads.iter().enumerate() {
                let pt = self
                    .answer
                    .video_pt
                    .unwrap_or(crate::signal::OFFER_VIDEO_PT);
                self.send_rtp(pt, 0, ts, k + 1 == n, p, ctx);
            }
            self.video_n += 1;
            self.video_idx = (idx + 1) % ctx.clip.video.len();
        }
        while self.audio_due() <= now {
            let ts = self
                .ts_base
                .1
                .wrapping_add((self.audio_n as u32).wrapping_mul(960));
            let p = &ctx.clip.audio[(self.audio_n % ctx.clip.audio.len() as u64) as usize];
            let pt = self
                .answer
                .audio_pt
                .unwrap_or(crate::signal::OFFER_AUDIO_PT);
            self.send_rtp(pt, 1, ts, false, p, ctx);
            self.audio_n += 1;
        }
    }

    fn send_rtp(
        &mut self,
        pt: u8,
        track: usize,
        ts: u32,
        marker: bool,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        let (ssrc, seq) = if track == 0 {
            (self.ssrcs.0, &mut self.seq.0)
        } else {
            (self.ssrcs.1, &mut self.seq.1)
        };
        *seq = seq.wrapping_add(1);
        let seq = *seq;
        let mut pkt = Vec::with_capacity(12 + payload.len() + TRAILER_LEN + 16);
        pkt.extend_from_slice(&[0x80, pt | if marker { 0x80 } else { 0 }]);
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&ssrc.to_be_bytes());
        pkt.extend_from_slice(payload);
        pkt.extend_from_slice(TRAILER_MAGIC);
        let sent_ns = crate::sock::realtime_ns();
        pkt.extend_from_slice(&sent_ns.to_le_bytes());
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let Ok(p) = srtp.protect_rtp(&pkt) else {
            return;
        };
        ctx.stats.pkts_out += 1;
        ctx.stats.bytes_out += p.len() as u64;
        self.send(&p);
        if self.history.len() == 2 * HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((ssrc, seq, p));
    }

    fn handle_rtp(&mut self, now: Instant, at: Arrival, data: &[u8], ctx: &mut Ctx<'_>) {
        if self.role != Role::Subscriber {
            return;
        }
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let plain = match srtp.unprotect_rtp(data) {
            Ok(p) => p,
            Err(_) => {
                ctx.stats.srtp_errors += 1;
                return;
            }
        };
        // Latency ends when the datagram reached the socket; how long it then
        // waited for the harness is counted apart.
        let recv_ns = at.kernel_ns.unwrap_or(at.user_ns);
        if let Some(k) = at.kernel_ns {
            let _ = ctx
                .stats
                .recv_delay
                .record((at.user_ns.saturating_sub(k) / 1000).clamp(1, 100_000_000));
        }
        let Ok(h) = RtpHeader::parse(&plain) else {
            return;
        };
        ctx.stats.pkts_in += 1;
        ctx.stats.bytes_in += data.len() as u64;
        let payload = h.payload();
        match payload
            .len()
            .checked_sub(TRAILER_LEN)
            .map(|at| &payload[at..])
        {
            Some(t) if &t[..4] == TRAILER_MAGIC => {
                let sent = u64::from_le_bytes(t[4..12].try_into().unwrap_or_default());
                let us = (recv_ns.saturating_sub(sent) / 1000).max(1);
                let _ = ctx.stats.latency.record(us.min(100_000_000));
            }
            _ => ctx.stats.no_trailer += 1,
        }
        if !self.got_media {
            self.got_media = true;
            self.connected(now, ctx);
        }
        let k = usize::from(Some(h.pt().wire()) == self.answer.audio_pt);
        let tr = &mut self.tracks[k];
        let media = Ssrc(h.ssrc().0);
        if tr.on_packet(media.0, h.seq(), &mut self.nack_buf) {
            self.send_nack(media, ctx);
        }
    }

    fn send_rtcp(&mut self, pkt: &[u8]) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        if let Ok(p) = srtp.protect_rtcp(pkt) {
            self.send(&p);
        }
    }

    fn send_nack(&mut self, media: Ssrc, ctx: &mut Ctx<'_>) {
        let mut b = Vec::with_capacity(64);
        let lost = std::mem::take(&mut self.nack_buf);
        write_nack(&mut b, Ssrc(self.ssrcs.0), media, &lost);
        self.nack_buf = lost;
        ctx.stats.nacks_sent += 1;
        self.send_rtcp(&b);
    }

    fn send_pli(&mut self, ctx: &mut Ctx<'_>, media: Ssrc) {
        let mut b = Vec::with_capacity(64);
        write_rr(&mut b, Ssrc(self.ssrcs.0), &[]);
        write_pli(&mut b, Ssrc(self.ssrcs.0), media);
        ctx.stats.plis_sent += 1;
        self.send_rtcp(&b);
    }

    fn send_rr(&mut self) {
        let mut blocks = Vec::new();
        for t in self.tracks.iter_mut().filter(|t| t.base.is_some()) {
            let expected = t.expected();
            let lost = expected.saturating_sub(t.received);
            let exp_i = expected - t.expected_prior;
            let rec_i = t.received - t.received_prior;
            let lost_i = exp_i.saturating_sub(rec_i);
            t.expected_prior = expected;
            t.received_prior = t.received;
            blocks.push(ReportBlock {
                ssrc: Ssrc(t.ssrc),
                fraction_lost: (lost_i * 256)
                    .checked_div(exp_i)
                    .map_or(0, |f| f.min(255) as u8),
                cumulative_lost: lost.min(0x7f_ffff) as i32,
                highest_seq: t.max.0 as u32,
                ..ReportBlock::default()
            });
        }
        let mut b = Vec::with_capacity(64);
        write_rr(&mut b, Ssrc(self.ssrcs.0), &blocks);
        self.send_rtcp(&b);
    }

    fn handle_rtcp(&mut self, now: Instant, data: &[u8], ctx: &mut Ctx<'_>) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let plain = match srtp.unprotect_rtcp(data) {
            Ok(p) => p,
            Err(_) => {
                ctx.stats.srtp_errors += 1;
                return;
            }
        };
        if self.role != Role::Publisher {
            return;
        }
        let mut resend = Vec::new();
        let mut pli = false;
        for p in parse_compound(&plain).flatten() {
            match p {
                RtcpPacket::Nack(n) => {
                    for s in n.lost() {
                        ctx.stats.nacks_recv += 1;
                        let media = n.media().0;
                        if let Some((_, _, b)) = self
                            .history
                            .iter()
                            .rev()
                            .find(|(ss, q, _)| *ss == media && *q == s)
                        {
                            resend.push(b.clone());
                        }
                    }
                }
                RtcpPacket::Pli(_) | RtcpPacket::Fir(_) => pli = true,
                _ => {}
            }
        }
        for b in resend {
            ctx.stats.retransmits += 1;
            self.send(&b);
        }
        if pli {
            ctx.stats.plis_recv += 1;
            if self
                .last_pli
                .is_none_or(|t| now.saturating_duration_since(t) >= PLI_HOLDOFF)
            {
                self.last_pli = Some(now);
                // The next frame sent is the clip's first (an IDR with SPS/PPS).
                self.video_idx = 0;
            }
        }
    }
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
