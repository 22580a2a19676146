//! A sans-IO WebRTC peer for the simulated network, built from shardsfu's
//! ICE, DTLS, SRTP and RTCP cores: it offers H.264 video, checks
//! connectivity, runs the DTLS client, and then either publishes (30 fps,
//! 4 packets a frame, a keyframe every 2 s or on PLI, NACKs answered from
//! its own history) or plays (counts packets, NACKs gaps every 20 ms,
//! checks the first frame is a keyframe).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shardsfu::dtls::{parse_fingerprint, DtlsCert, DtlsEvent, DtlsRole, DtlsTransport};
use shardsfu::ice::{self, BindingRequest, StunClass};
use shardsfu::rtp::rtcp::{self, RtcpPacket, TwccFeedback};
use shardsfu::rtp::{RtpHeader, SeqNo, Ssrc};
use shardsfu::sdp::Role;
use shardsfu::srtp::SrtpSession;

const FRAME: Duration = Duration::from_millis(33);
const PACKETS_PER_FRAME: u16 = 4;
const KEYFRAME_EVERY: u32 = 60;
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
const TWCC_ID: u8 = 3;

/// What a peer saw and did, for assertions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PeerStats {
    pub checks_answered: u64,
    pub dtls_connected: bool,
    pub rtp_sent: u64,
    pub retransmitted: u64,
    pub plis_received: u64,
    pub nacks_received: u64,
    pub twcc_feedbacks: u64,
    /// TWCC sequence numbers the server reported as received / lost.
    pub twcc_reported_received: u64,
    pub twcc_reported_lost: u64,
    pub rtp_received: u64,
    pub unique_received: u64,
    pub nacks_sent: u64,
    pub first_is_keyframe: Option<bool>,
    /// Largest jump between consecutive new sequence numbers (1 = none).
    pub max_seq_jump: u64,
    /// Whether a timestamp ever went backwards.
    pub ts_went_back: bool,
    pub srtp_errors: u64,
}

struct Missing {
    since: Instant,
    last_nack: Option<Instant>,
    tries: u32,
}

/// One peer.
pub struct Peer {
    pub addr: SocketAddr,
    pub role: Role,
    pub stats: PeerStats,
    cert: DtlsCert,
    ufrag: String,
    pwd: String,
    twcc: bool,
    server: Option<Server>,
    dtls: Option<DtlsTransport>,
    srtp: Option<SrtpSession>,
    next_check: Option<Instant>,
    out: VecDeque<(Vec<u8>, SocketAddr)>,
    // publisher
    ssrc: u32,
    seq: u16,
    frame: u32,
    next_frame: Option<Instant>,
    keyframe_now: bool,
    twcc_seq: u16,
    /// Every TWCC sequence number sent, in order.
    pub twcc_sent: Vec<u16>,
    history: BTreeMap<u16, Vec<u8>>,
    // player
    highest: Option<SeqNo>,
    last_ts: Option<u32>,
    seen: BTreeMap<u64, ()>,
    missing: BTreeMap<u64, Missing>,
    media_ssrc: u32,
    /// Whether the peer still runs (false after [`Peer::stop`]).
    pub running: bool,
}

struct Server {
    addr: SocketAddr,
    ufrag: String,
    pwd: String,
    fingerprint: Vec<u8>,
    pt: u8,
}

impl Peer {
    /// A peer at `addr`; `seed` makes its credentials and SSRC.
    pub fn new(addr: SocketAddr, role: Role, seed: u64, twcc: bool) -> Self {
        Peer {
            addr,
            role,
            stats: PeerStats::default(),
            cert: DtlsCert::generate().expect("a certificate"),
            ufrag: format!("p{seed:06}"),
            pwd: format!("peerpassword{seed:012}"),
            twcc,
            server: None,
            dtls: None,
            srtp: None,
            next_check: None,
            out: VecDeque::new(),
            ssrc: 0x1000_0000 + seed as u32,
            seq: (seed as u16).wrapping_mul(7919),
            frame: 0,
            next_frame: None,
            keyframe_now: true,
            twcc_seq: 0,
            twcc_sent: Vec::new(),
            history: BTreeMap::new(),
            highest: None,
            last_ts: None,
            seen: BTreeMap::new(),
            missing: BTreeMap::new(),
            media_ssrc: 0,
            running: true,
        }
    }

    /// The SDP offer: one H.264 m-line, send-only or receive-only.
    pub fn offer(&self) -> String {
        let dir = match self.role {
            Role::Publish => "sendonly",
            Role::Play => "recvonly",
        };
        let mut o = format!(
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic:WMS *\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na={dir}\r\na=mid:0\r\na=rtcp-mux\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:sha-256 {}\r\na=setup:actpass\r\n",
            self.ufrag,
            self.pwd,
            self.cert.fingerprint_sha256()
        );
        if self.twcc {
            o += &format!("a=extmap:{TWCC_ID} {TWCC_URI}\r\n");
        }
        o += "a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n";
        if self.twcc {
            o += "a=rtcp-fb:102 transport-cc\r\n";
        }
        o +=
            "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n";
        if self.role == Role::Publish {
            o += &format!("a=ssrc:{} cname:sim\r\n", self.ssrc);
        }
        o
    }

    /// Takes the server's answer; connectivity checks start at `now`.
    pub fn handle_answer(&mut self, answer: &str, server: SocketAddr, now: Instant) {
        let find = |prefix: &str| {
            answer
                .lines()
                .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
                .unwrap_or_else(|| panic!("no {prefix} in\n{answer}"))
        };
        let pt = find("m=video ")
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.parse().ok())
            .expect("a video payload type");
        self.server = Some(Server {
            addr: server,
            ufrag: find("a=ice-ufrag:"),
            pwd: find("a=ice-pwd:"),
            fingerprint: parse_fingerprint(&find("a=fingerprint:sha-256 ")).unwrap(),
            pt,
        });
        self.next_check = Some(now);
    }

    /// Moves to another address (a second interface, a NAT rebinding): the
    /// next check, sent at once, nominates it.
    pub fn rebind(&mut self, addr: SocketAddr, now: Instant) {
        self.addr = addr;
        self.next_check = Some(now);
    }

    /// Stops sending anything.
    pub fn stop(&mut self) {
        self.running = false;
        self.next_check = None;
        self.next_frame = None;
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        self.out.pop_front()
    }

    fn send(&mut self, data: Vec<u8>) {
        if let Some(s) = &self.server {
            self.out.push_back((data, s.addr));
        }
    }

    /// Runs timers: checks, DTLS retransmissions, media, NACKs.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        if self.next_check.is_some_and(|t| t <= now) {
            self.send_check();
            // Consent freshness: a check every second once connected.
            let every = if self.dtls.is_some() { 1000 } else { 50 };
            self.next_check = Some(now + Duration::from_millis(every));
        }
        if let Some(d) = self.dtls.as_mut() {
            if d.poll_timeout().is_some_and(|t| t <= now) {
                d.handle_timeout(now);
            }
            self.drain_dtls();
        }
        if self.srtp.is_none() {
            return;
        }
        match self.role {
            Role::Publish => {
                while self.next_frame.is_some_and(|t| t <= now) {
                    self.send_frame();
                    self.next_frame = self.next_frame.map(|t| t + FRAME);
                }
            }
            Role::Play => self.send_nacks(now),
        }
    }

    fn send_check(&mut self) {
        let Some(s) = &self.server else { return };
        let username = format!("{}:{}", s.ufrag, self.ufrag);
        let b = BindingRequest {
            username: &username,
            priority: 1,
            ice_controlling: Some(7),
            use_candidate: true,
        };
        let mut out = Vec::new();
        let tid: [u8; 12] = (self.stats.checks_answered as u128 + 1).to_be_bytes()[4..16]
            .try_into()
            .unwrap();
        ice::write_binding_request(&tid, &b, s.pwd.as_bytes(), &mut out);
        self.send(out);
    }

    /// Handles a datagram from the server.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if !self.running || data.is_empty() {
            return;
        }
        match data[0] {
            0..=3 => self.handle_stun(now, data),
            20..=63 => {
                if let Some(d) = self.dtls.as_mut() {
                    d.handle_input(now, data);
                }
                self.drain_dtls();
                if self.srtp.is_some() && self.next_frame.is_none() && self.role == Role::Publish {
                    self.next_frame = Some(now);
                }
            }
            128..=191 if (192..=223).contains(&data[1]) => self.handle_rtcp(now, data),
            128..=191 => self.handle_rtp(now, data),
            _ => {}
        }
    }

    fn handle_stun(&mut self, now: Instant, data: &[u8]) {
        let (Ok(msg), Some(s)) = (ice::parse(data), &self.server) else {
            return;
        };
        if msg.class() != StunClass::Success || !msg.verify_integrity(s.pwd.as_bytes()) {
            return;
        }
        self.stats.checks_answered += 1;
        if self.dtls.is_none() {
            let fps = vec![("sha-256".to_string(), s.fingerprint.clone())];
            let dtls =
                DtlsTransport::new(&self.cert, DtlsRole::Client, self.addr, s.addr, fps, now)
                    .expect("DTLS client");
            self.dtls = Some(dtls);
            self.drain_dtls();
        }
    }

    fn drain_dtls(&mut self) {
        let Some(d) = self.dtls.as_mut() else { return };
        let mut sends = Vec::new();
        while let Some(p) = d.poll_transmit() {
            sends.push(p.to_vec());
        }
        while let Some(ev) = d.poll_event() {
            if let DtlsEvent::Connected { srtp } = ev {
                self.srtp = Some(SrtpSession::new(&srtp).expect("SRTP"));
                self.stats.dtls_connected = true;
            }
        }
        for p in sends {
            self.send(p);
        }
    }

    fn send_frame(&mut self) {
        let keyframe = self.keyframe_now || self.frame % KEYFRAME_EVERY == 0;
        self.keyframe_now = false;
        let pt = self.server.as_ref().map_or(102, |s| s.pt);
        for i in 0..PACKETS_PER_FRAME {
            let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            if i == PACKETS_PER_FRAME - 1 {
                p[1] |= 0x80;
            }
            p[2..4].copy_from_slice(&self.seq.to_be_bytes());
            p[4..8].copy_from_slice(&(self.frame.wrapping_mul(3000)).to_be_bytes());
            p[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
            if self.twcc {
                p[0] |= 0x10;
                p.extend_from_slice(&[0xbe, 0xde, 0, 1, TWCC_ID << 4 | 1]);
                p.extend_from_slice(&self.twcc_seq.to_be_bytes());
                p.push(0);
                self.twcc_sent.push(self.twcc_seq);
                self.twcc_seq = self.twcc_seq.wrapping_add(1);
            }
            p.push(if keyframe { 0x65 } else { 0x41 });
            p.resize(p.len() + 900, 0xab);
            self.history.insert(self.seq, p.clone());
            if self.history.len() > 512 {
                self.history.pop_first();
            }
            self.seq = self.seq.wrapping_add(1);
            self.protect_and_send(&p);
            self.stats.rtp_sent += 1;
        }
        self.frame += 1;
    }

    fn protect_and_send(&mut self, plain: &[u8]) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let enc = srtp.protect_rtp(plain).expect("protect").to_vec();
        self.send(enc);
    }

    fn handle_rtcp(&mut self, _now: Instant, data: &[u8]) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let Ok(plain) = srtp.unprotect_rtcp(data) else {
            self.stats.srtp_errors += 1;
            return;
        };
        let mut resend = Vec::new();
        for pkt in rtcp::parse_compound(&plain).flatten() {
            match pkt {
                RtcpPacket::Pli(_) | RtcpPacket::Fir(_) => {
                    self.stats.plis_received += 1;
                    self.keyframe_now = true;
                }
                RtcpPacket::Nack(n) => {
                    self.stats.nacks_received += 1;
                    resend.extend(n.lost());
                }
                RtcpPacket::TransportCc(t) => {
                    if let Ok(fb) = TwccFeedback::from_view(&t) {
                        self.stats.twcc_feedbacks += 1;
                        for (_, at) in fb.arrivals() {
                            match at {
                                Some(_) => self.stats.twcc_reported_received += 1,
                                None => self.stats.twcc_reported_lost += 1,
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for seq in resend {
            if let Some(mut p) = self.history.get(&seq).cloned() {
                if self.twcc {
                    // A resent packet is a new transport-wide packet.
                    p[17..19].copy_from_slice(&self.twcc_seq.to_be_bytes());
                    self.twcc_sent.push(self.twcc_seq);
                    self.twcc_seq = self.twcc_seq.wrapping_add(1);
                }
                self.stats.retransmitted += 1;
                self.protect_and_send(&p);
            }
        }
    }

    fn handle_rtp(&mut self, now: Instant, data: &[u8]) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let Ok(plain) = srtp.unprotect_rtp(data) else {
            self.stats.srtp_errors += 1;
            return;
        };
        let Ok(h) = RtpHeader::parse(&plain) else {
            return;
        };
        self.stats.rtp_received += 1;
        self.media_ssrc = h.ssrc().0;
        let seq = match self.highest {
            Some(prev) => SeqNo::extend(prev, h.seq()),
            None => SeqNo(u64::from(h.seq()) + 65536),
        };
        if self.seen.insert(seq.0, ()).is_some() {
            return;
        }
        self.stats.unique_received += 1;
        self.missing.remove(&seq.0);
        if self.stats.first_is_keyframe.is_none() {
            let nal = h.payload().first().map_or(0, |b| b & 0x1f);
            self.stats.first_is_keyframe = Some(nal == 5 || nal == 7);
        }
        match self.highest {
            Some(prev) if seq.0 > prev.0 => {
                let jump = seq.0 - prev.0;
                self.stats.max_seq_jump = self.stats.max_seq_jump.max(jump);
                for gap in prev.0 + 1..seq.0 {
                    self.missing.insert(
                        gap,
                        Missing {
                            since: now,
                            last_nack: None,
                            tries: 0,
                        },
                    );
                }
                if let Some(last) = self.last_ts {
                    if h.timestamp().wrapping_sub(last) as i32 <= -1 {
                        self.stats.ts_went_back = true;
                    }
                }
                self.last_ts = Some(h.timestamp());
                self.highest = Some(seq);
            }
            Some(_) => {}
            None => {
                self.highest = Some(seq);
                self.last_ts = Some(h.timestamp());
            }
        }
        if self.seen.len() > 4096 {
            self.seen.pop_first();
        }
    }

    /// Generic NACKs for gaps: after 10 ms, again every 30 ms, 10 tries.
    fn send_nacks(&mut self, now: Instant) {
        let mut lost = Vec::new();
        self.missing.retain(|&seq, m| {
            let due = match m.last_nack {
                None => now >= m.since + Duration::from_millis(10),
                Some(t) => now >= t + Duration::from_millis(30),
            };
            if due && lost.len() < 64 {
                m.last_nack = Some(now);
                m.tries += 1;
                lost.push(seq as u16);
            }
            m.tries < 10
        });
        if lost.is_empty() || self.media_ssrc == 0 {
            return;
        }
        let mut pkt = Vec::new();
        rtcp::write_nack(&mut pkt, Ssrc(0x5151), Ssrc(self.media_ssrc), &lost);
        self.stats.nacks_sent += 1;
        if let Some(srtp) = self.srtp.as_mut() {
            let enc = srtp.protect_rtcp(&pkt).expect("protect").to_vec();
            self.send(enc);
        }
    }
}

/// Per-peer counters by index, for comparing runs.
pub fn all_stats(peers: &[Peer]) -> Vec<PeerStats> {
    peers.iter().map(|p| p.stats.clone()).collect()
}
