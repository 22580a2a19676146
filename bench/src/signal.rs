//! WHIP/WHEP signaling: offers, answers and a small pool of threads doing the
//! blocking HTTP exchanges, so the media loop never waits on TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::{Receiver, Sender};

/// An `http://host:port/path?query` URL.
#[derive(Debug, Clone)]
pub struct Url {
    /// `host:port` for the Host header.
    pub authority: String,
    /// Resolved address.
    pub addr: SocketAddr,
    /// Path and query.
    pub target: String,
}

impl Url {
    /// Parses a plain-HTTP URL; `%d` is replaced by `n`.
    pub fn parse(url: &str, n: usize) -> anyhow::Result<Url> {
        let url = url.replace("%d", &n.to_string());
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("only http:// URLs: {url}"))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .with_context(|| format!("no address for {authority}"))?;
        Ok(Url {
            authority: authority.to_string(),
            addr,
            target: target.to_string(),
        })
    }

    /// Resolves a Location header against this URL.
    pub fn join(&self, location: &str) -> Url {
        if let Some(rest) = location.strip_prefix("http://") {
            if let Ok(u) = Url::parse(&format!("http://{rest}"), 0) {
                return u;
            }
        }
        Url {
            authority: self.authority.clone(),
            addr: self.addr,
            target: location.to_string(),
        }
    }
}

/// A plain HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// Body.
    pub body: String,
}

/// One blocking HTTP/1.1 exchange on a fresh connection.
pub fn http(
    method: &str,
    url: &Url,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let mut s = TcpStream::connect_timeout(&url.addr, timeout).context("connect")?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    let req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.target,
        url.authority,
        body.len()
    );
    s.write_all(req.as_bytes()).context("send")?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(resp) = parse_response(&buf)? {
            return Ok(resp);
        }
        if Instant::now() > deadline {
            bail!("timeout");
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                return parse_response(&buf)?.context("connection closed mid-response");
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("timeout")
            }
            Err(e) => return Err(e).context("recv"),
        }
    }
}

/// A complete response in `buf`, or `None` if more bytes are needed.
fn parse_response(buf: &[u8]) -> anyhow::Result<Option<Response>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("non-UTF-8 head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut len = None;
    let mut location = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("location") {
                location = Some(v.to_string());
            }
        }
    }
    let body = &buf[end + 4..];
    match len {
        Some(n) if body.len() < n => Ok(None),
        Some(n) => Ok(Some(Response {
            status,
            location,
            body: String::from_utf8_lossy(&body[..n]).into_owned(),
        })),
        None => Ok(None),
    }
}

/// Whether a peer publishes or plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// WHIP publisher.
    Publisher,
    /// WHEP subscriber.
    Subscriber,
}

/// Payload types and SSRCs the harness offers.
pub const OFFER_VIDEO_PT: u8 = 102;
/// Opus payload type offered.
pub const OFFER_AUDIO_PT: u8 = 111;

/// An offer like a browser's: BUNDLEd H.264 + Opus, rtcp-mux, actpass.
pub fn offer(
    role: Role,
    ufrag: &str,
    pwd: &str,
    fingerprint: &str,
    port: u16,
    ssrcs: (u32, u32),
) -> String {
    let dir = match role {
        Role::Publisher => "sendonly",
        Role::Subscriber => "recvonly",
    };
    let mut s = format!(
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic: WMS bench\r\n",
        ssrcs.0
    );
    let common = |s: &mut String, kind: &str, pt: u8, mid: u8| {
        s.push_str(&format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host\r\na=end-of-candidates\r\n\
             a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=fingerprint:sha-256 {fingerprint}\r\n\
             a=setup:actpass\r\na=mid:{mid}\r\na={dir}\r\na=rtcp-mux\r\n"
        ));
    };
    common(&mut s, "video", OFFER_VIDEO_PT, 0);
    s.push_str(&format!(
        "a=rtpmap:{OFFER_VIDEO_PT} H264/90000\r\na=rtcp-fb:{OFFER_VIDEO_PT} nack\r\na=rtcp-fb:{OFFER_VIDEO_PT} nack pli\r\n\
         a=fmtp:{OFFER_VIDEO_PT} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
    ));
    if role == Role::Publisher {
        s.push_str(&format!(
            "a=msid:bench v\r\na=ssrc:{} cname:bench\r\na=ssrc:{} msid:bench v\r\n",
            ssrcs.0, ssrcs.0
        ));
    }
    common(&mut s, "audio", OFFER_AUDIO_PT, 1);
    s.push_str(&format!("a=rtpmap:{OFFER_AUDIO_PT} opus/48000/2\r\na=fmtp:{OFFER_AUDIO_PT} minptime=10;useinbandfec=1\r\n"));
    if role == Role::Publisher {
        s.push_str(&format!(
            "a=msid:bench a\r\na=ssrc:{} cname:bench\r\na=ssrc:{} msid:bench a\r\n",
            ssrcs.1, ssrcs.1
        ));
    }
    s
}

/// What the harness needs from an answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// ICE username fragment and password of the server.
    pub ufrag: String,
    /// ICE password.
    pub pwd: String,
    /// `a=fingerprint` lines (hash, value).
    pub fingerprints: Vec<(String, String)>,
    /// `a=setup` value.
    pub setup: String,
    /// UDP host candidates.
    pub candidates: Vec<SocketAddr>,
    /// Chosen video and audio payload types (first in the m= line).
    pub video_pt: Option<u8>,
    /// Chosen audio payload type.
    pub audio_pt: Option<u8>,
}

/// Parses the parts of an answer the harness uses.
pub fn parse_answer(sdp: &str) -> anyhow::Result<Answer> {
    let mut a = Answer::default();
    let mut kind = "";
    for l in sdp.lines().map(str::trim_end) {
        if let Some(m) = l.strip_prefix("m=") {
            let mut it = m.split_whitespace();
            kind = it.next().unwrap_or_default();
            let pt = it.nth(2).and_then(|p| p.parse().ok());
            match kind {
                "video" if a.video_pt.is_none() => a.video_pt = pt,
                "audio" if a.audio_pt.is_none() => a.audio_pt = pt,
                _ => {}
            }
        } else if let Some(v) = l.strip_prefix("a=ice-ufrag:") {
            a.ufrag = v.to_string();
        } else if let Some(v) = l.strip_prefix("a=ice-pwd:") {
            a.pwd = v.to_string();
        } else if let Some(v) = l.strip_prefix("a=fingerprint:") {
            if let Some((h, f)) = v.split_once(' ') {
                if !a.fingerprints.iter().any(|(hh, _)| hh == h) {
                    a.fingerprints
                        .push((h.to_ascii_lowercase(), f.trim().to_string()));
                }
            }
        } else if let Some(v) = l.strip_prefix("a=setup:") {
            a.setup = v.to_string();
        } else if let Some(v) = l.strip_prefix("a=candidate:") {
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.len() >= 8 && f[2].eq_ignore_ascii_case("udp") {
                if let (Ok(ip), Ok(port)) = (f[4].parse::<std::net::IpAddr>(), f[5].parse::<u16>())
                {
                    let sa = SocketAddr::new(ip, port);
                    if !a.candidates.contains(&sa) {
                        a.candidates.push(sa);
                    }
                }
            }
        }
    }
    let _ = kind;
    if a.ufrag.is_empty() || a.pwd.is_empty() {
        bail!("answer has no ICE credentials");
    }
    if a.fingerprints.is_empty() {
        bail!("answer has no fingerprint");
    }
    if a.candidates.is_empty() {
        bail!("answer has no UDP candidate");
    }
    Ok(a)
}

/// A job for the signaling pool.
#[derive(Debug)]
pub enum Job {
    /// POST an offer for peer `id`.
    Post {
        /// Peer index.
        id: usize,
        /// WHIP/WHEP URL.
        url: Url,
        /// The offer.
        offer: String,
    },
    /// DELETE a session's resource.
    Delete {
        /// Resource URL.
        url: Url,
    },
}

/// What the pool reports back.
#[derive(Debug)]
pub enum Done {
    /// A POST ended: the answer and Location, or a failure reason.
    Posted {
        /// Peer index.
        id: usize,
        /// Answer and resource URL, or a failure reason for the report.
        result: Result<Box<(Answer, Option<Url>)>, String>,
    },
    /// A DELETE ended.
    Deleted,
}

/// Starts `threads` signaling threads; `wake` is called after each result.
pub fn pool(
    threads: usize,
    timeout: Duration,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> (Sender<Job>, Receiver<Done>) {
    let (jtx, jrx) = crossbeam_channel::unbounded::<Job>();
    let (dtx, drx) = crossbeam_channel::unbounded::<Done>();
    for _ in 0..threads {
        let jrx = jrx.clone();
        let dtx = dtx.clone();
        let wake = wake.clone();
        std::thread::spawn(move || {
            for job in jrx {
                let done = match job {
                    Job::Post { id, url, offer } => {
                        let result = match http("POST", &url, "application/sdp", &offer, timeout) {
                            Ok(r) if r.status == 200 || r.status == 201 => parse_answer(&r.body)
                                .map(|a| Box::new((a, r.location.map(|l| url.join(&l)))))
                                .map_err(|e| format!("bad_answer: {e}")),
                            Ok(r) => Err(format!("http_{}", r.status)),
                            Err(e) if e.to_string().contains("timeout") => {
                                Err("signaling_timeout".into())
                            }
                            Err(e) => Err(format!("signaling_error: {}", e.root_cause())),
                        };
                        Done::Posted { id, result }
                    }
                    Job::Delete { url } => {
                        let _ = http("DELETE", &url, "text/plain", "", timeout);
                        Done::Deleted
                    }
                };
                if dtx.send(done).is_err() {
                    return;
                }
                wake();
            }
        });
    }
    (jtx, drx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parses_and_numbers_streams() {
        let u = Url::parse("http://127.0.0.1:1985/rtc/v1/whip/?app=live&stream=s%d", 7).unwrap();
        assert_eq!(u.authority, "127.0.0.1:1985");
        assert_eq!(u.target, "/rtc/v1/whip/?app=live&stream=s7");
        assert_eq!(
            u.join("/rtc/v1/whip/?token=x").target,
            "/rtc/v1/whip/?token=x"
        );
        assert!(Url::parse("https://x/", 0).is_err());
    }

    #[test]
    fn responses_need_the_whole_body() {
        let r = b"HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 3\r\n\r\nab";
        assert!(parse_response(r).unwrap().is_none());
        let r = b"HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 3\r\n\r\nabc";
        let r = parse_response(r).unwrap().unwrap();
        assert_eq!(
            (r.status, r.location.as_deref(), r.body.as_str()),
            (201, Some("/x"), "abc")
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn answer_fields_are_found() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n\
                   a=fingerprint:sha-256 AA:BB\r\na=setup:passive\r\n\
                   a=candidate:0 1 udp 2130706431 127.0.0.1 8000 typ host generation 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        let a = parse_answer(sdp).unwrap();
        assert_eq!((a.video_pt, a.audio_pt), (Some(102), Some(111)));
        assert_eq!(
            a.candidates,
            vec!["127.0.0.1:8000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(a.setup, "passive");
        assert!(parse_answer("v=0\r\n").is_err());
    }
}
