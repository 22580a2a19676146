//! A WebRTC peer built from shardsfu's own ICE, DTLS and SRTP cores, for
//! tests that need to send what no well-behaved client sends (garbled
//! records, bad tags, NACK storms). Interop with real clients is tested with
//! aiortc and Chromium (tests/peers, tests/browser).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use shardsfu::dtls::{parse_fingerprint, DtlsCert, DtlsEvent, DtlsRole, DtlsTransport};
use shardsfu::ice;
use shardsfu::srtp::SrtpSession;

use super::{fixtures, ice_credentials, post, Server};

/// A peer after signaling and ICE (and DTLS once [`Peer::handshake`] ran).
pub struct Peer {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    pub answer: String,
    pub server_fingerprint: String,
    pub srtp: Option<SrtpSession>,
    /// The session resource (the answer's `Location`), if any.
    pub location: Option<String>,
}

/// An offer fixture with its fingerprints replaced by `announce` (sha-256).
pub fn offer_announcing(fixture: &str, announce: &str) -> String {
    let offer = std::fs::read_to_string(fixtures().join("sdp").join(fixture)).unwrap();
    offer
        .lines()
        .filter(|l| {
            !l.starts_with("a=fingerprint:sha-384") && !l.starts_with("a=fingerprint:sha-512")
        })
        .map(|l| {
            if l.starts_with("a=fingerprint:sha-256") {
                format!("a=fingerprint:sha-256 {announce}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect()
}

impl Peer {
    /// POSTs `offer` to `path` (a WHIP or WHEP URL path) and passes ICE.
    pub fn signal_and_ice(srv: &Server, path: &str, offer: &str) -> Peer {
        let r = post(&srv.api_url(path), "application/sdp", offer);
        assert_eq!(r.status, 201, "{}", r.body);
        let (ufrag, pwd) = ice_credentials(&r.body);
        let (client_ufrag, _) = ice_credentials(offer);
        // The family of the server's RTC address (`[::1]` in tests/ipv6.rs).
        let local = if srv.rtc.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let sock = UdpSocket::bind(local).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let out = super::binding_check(&[7; 12], &ufrag, &client_ufrag, &pwd);
        sock.send_to(&out, srv.rtc).unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = sock.recv_from(&mut buf).expect("STUN answered");
        assert!(ice::parse(&buf[..n])
            .unwrap()
            .verify_integrity(pwd.as_bytes()));
        let server_fingerprint = r
            .body
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("a=fingerprint:sha-256 ")
                    .map(str::to_string)
            })
            .expect("answer fingerprint");
        Peer {
            sock,
            server: srv.rtc,
            location: r.header("location").map(str::to_string),
            answer: r.body,
            server_fingerprint,
            srtp: None,
        }
    }

    /// Runs the DTLS handshake as the client (the offers say actpass, so
    /// the server is the DTLS server); returns the first event.
    pub fn handshake(&mut self, cert: &DtlsCert) -> Option<DtlsEvent> {
        let local = self.sock.local_addr().unwrap();
        let fps = vec![(
            "sha-256".to_string(),
            parse_fingerprint(&self.server_fingerprint).unwrap(),
        )];
        let mut dtls = DtlsTransport::new(
            cert,
            DtlsRole::Client,
            local,
            self.server,
            fps,
            Instant::now(),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            while let Some(d) = dtls.poll_transmit() {
                self.sock.send_to(&d, self.server).unwrap();
            }
            if let Some(ev) = dtls.poll_event() {
                if let DtlsEvent::Connected { srtp } = &ev {
                    self.srtp = Some(SrtpSession::new(srtp).unwrap());
                }
                return Some(ev);
            }
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) if (20..64).contains(&buf[0]) => {
                    dtls.handle_input(Instant::now(), &buf[..n])
                }
                Ok(_) => {}
                Err(_) => dtls.handle_timeout(Instant::now()),
            }
        }
        None
    }

    /// The payload type the answer chose for the m-line of `kind`.
    pub fn answer_pt(&self, kind: &str) -> u8 {
        self.answer
            .lines()
            .find_map(|l| l.strip_prefix(&format!("m={kind} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|pt| pt.parse().ok())
            .unwrap_or_else(|| panic!("no {kind} m-line in\n{}", self.answer))
    }
}

/// A plain RTP packet: `pt`, `seq`, a 3000-tick timestamp step, `ssrc`, and
/// a payload starting with `first_byte` (0x65 is an H.264 IDR NAL).
pub fn rtp(pt: u8, seq: u16, ssrc: u32, first_byte: u8, len: usize) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.push(first_byte);
    p.resize(12 + len.max(1), 0xab);
    p
}
