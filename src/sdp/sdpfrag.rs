//! `application/trickle-ice-sdpfrag` (RFC 8840 §9, used by WHIP/WHEP's
//! `PATCH`, RFC 9725 §4.3): parse a client's fragment (its ICE credentials,
//! trickled candidates, `a=end-of-candidates`) and write the server's answer
//! to an ICE restart. Sans-IO and bounded: at most [`MAX_LINES`] lines of at
//! most [`MAX_LINE`] bytes and [`MAX_CANDIDATES`] candidates.

use std::net::IpAddr;

/// The media type of a fragment.
pub const CONTENT_TYPE: &str = "application/trickle-ice-sdpfrag";
/// Most lines a fragment may have.
pub const MAX_LINES: usize = 256;
/// Longest line, in bytes.
pub const MAX_LINE: usize = 1024;
/// Most candidates one fragment may carry.
pub const MAX_CANDIDATES: usize = 64;

/// Why a fragment was refused; each names the offending line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpFragError {
    /// More than [`MAX_LINES`] lines.
    #[error("sdpfrag has more than {MAX_LINES} lines")]
    TooManyLines,
    /// More than [`MAX_CANDIDATES`] candidates.
    #[error("sdpfrag has more than {MAX_CANDIDATES} candidates")]
    TooManyCandidates,
    /// A line is not `<letter>=<value>`, is too long, or an attribute we
    /// read has a malformed value.
    #[error("sdpfrag line {line}: {reason}: {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
        /// The line (cut to 120 characters).
        text: String,
    },
    /// Two different `a=ice-ufrag` (or `a=ice-pwd`) values: with BUNDLE a
    /// fragment has one set of credentials.
    #[error("sdpfrag line {line}: a second, different a={attr}: {value:?}")]
    Conflicting {
        /// 1-based line number.
        line: usize,
        /// `ice-ufrag` or `ice-pwd`.
        attr: &'static str,
        /// The second value.
        value: String,
    },
}

/// The transport of a trickled candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateTransport {
    /// UDP.
    Udp,
    /// ICE-TCP (RFC 6544).
    Tcp,
}

/// One trickled remote candidate (RFC 8839 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCandidate {
    /// `foundation`.
    pub foundation: String,
    /// Component id (1 for RTP; with rtcp-mux the only one).
    pub component: u16,
    /// UDP or TCP.
    pub transport: CandidateTransport,
    /// Priority.
    pub priority: u32,
    /// The address as written: an IP literal or an mDNS name (`x.local`).
    pub address: String,
    /// The address when it is an IP literal.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// `typ` (host, srflx, prflx, relay).
    pub kind: String,
    /// The `a=mid` in effect where the candidate appeared.
    pub mid: Option<String>,
}

/// A parsed fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    /// `a=ice-ufrag` (session or media level).
    pub ice_ufrag: Option<String>,
    /// `a=ice-pwd`.
    pub ice_pwd: Option<String>,
    /// The candidates, in order.
    pub candidates: Vec<RemoteCandidate>,
    /// Whether `a=end-of-candidates` was present.
    pub end_of_candidates: bool,
}

impl SdpFrag {
    /// Parses a fragment. Lines end in CRLF or LF; unknown lines (`m=`,
    /// `a=group`, `a=ice-options`, ...) are skipped.
    pub fn parse(text: &str) -> Result<SdpFrag, SdpFragError> {
        let mut frag = SdpFrag::default();
        let mut mid: Option<String> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            if n > MAX_LINES {
                return Err(SdpFragError::TooManyLines);
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            let bad = |reason| SdpFragError::BadLine {
                line: n,
                reason,
                text: line.chars().take(120).collect(),
            };
            if line.len() > MAX_LINE {
                return Err(bad("line too long"));
            }
            let b = line.as_bytes();
            if b.len() < 2 || !b[0].is_ascii_lowercase() || b[1] != b'=' {
                return Err(bad("not <letter>=<value>"));
            }
            if line.bytes().any(|c| c.is_ascii_control() && c != b'\t') {
                return Err(bad("control character"));
            }
            if line.starts_with("m=") {
                // A new media section: its mid comes with its a=mid.
                mid = None;
                continue;
            }
            let Some(attr) = line.strip_prefix("a=") else {
                continue;
            };
            let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
            match name {
                "ice-ufrag" => {
                    let v = ice_chars(value, 4).ok_or_else(|| bad("bad a=ice-ufrag"))?;
                    set_once(&mut frag.ice_ufrag, v, n, "ice-ufrag")?;
                }
                "ice-pwd" => {
                    let v = ice_chars(value, 22).ok_or_else(|| bad("bad a=ice-pwd"))?;
                    set_once(&mut frag.ice_pwd, v, n, "ice-pwd")?;
                }
                "mid" => {
                    if value.is_empty() || value.len() > 32 {
                        return Err(bad("bad a=mid"));
                    }
                    mid = Some(value.to_owned());
                }
                "candidate" => {
                    if frag.candidates.len() >= MAX_CANDIDATES {
                        return Err(SdpFragError::TooManyCandidates);
                    }
                    let mut c = parse_candidate(value).ok_or_else(|| bad("bad a=candidate"))?;
                    c.mid = mid.clone();
                    frag.candidates.push(c);
                }
                "end-of-candidates" => frag.end_of_candidates = true,
                _ => {}
            }
        }
        Ok(frag)
    }

    /// Whether the fragment asks for an ICE restart of a session whose
    /// client credentials are `remote_ufrag` (RFC 8839 §4.4.1.1.1: new
    /// `ice-ufrag`/`ice-pwd` values mean a restart).
    pub fn is_restart(&self, remote_ufrag: &str) -> bool {
        self.ice_ufrag.as_deref().is_some_and(|u| u != remote_ufrag)
    }
}

/// The server's answer to an ICE restart: ICE-lite and its new credentials
/// (RFC 9725 §4.3.2; the candidates do not change).
pub fn write_restart_answer(ufrag: &str, pwd: &str) -> String {
    format!("a=ice-lite\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n")
}

fn set_once(
    slot: &mut Option<String>,
    v: &str,
    line: usize,
    attr: &'static str,
) -> Result<(), SdpFragError> {
    match slot {
        Some(old) if old != v => Err(SdpFragError::Conflicting {
            line,
            attr,
            value: v.chars().take(120).collect(),
        }),
        _ => {
            *slot = Some(v.to_owned());
            Ok(())
        }
    }
}

/// `ice-char`s (`ALPHA / DIGIT / "+" / "/"`, RFC 8839), `min` to 256 of them.
fn ice_chars(v: &str, min: usize) -> Option<&str> {
    ((min..=256).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
    .then_some(v)
}

/// `foundation component transport priority address port typ kind ...`.
fn parse_candidate(v: &str) -> Option<RemoteCandidate> {
    let mut it = v.split_ascii_whitespace();
    let foundation = it.next().filter(|f| (1..=32).contains(&f.len()))?;
    if !foundation
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    let component = it
        .next()?
        .parse::<u16>()
        .ok()
        .filter(|c| (1..=256).contains(c))?;
    let transport = match it.next()?.to_ascii_lowercase().as_str() {
        "udp" => CandidateTransport::Udp,
        "tcp" => CandidateTransport::Tcp,
        _ => return None,
    };
    let priority = it.next()?.parse::<u32>().ok()?;
    let address = it.next()?;
    let ip = address.parse::<IpAddr>().ok();
    let is_name = address.len() <= 253
        && address.ends_with(".local")
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ip.is_none() && !is_name {
        return None;
    }
    let port = it.next()?.parse::<u16>().ok()?;
    if it.next()? != "typ" {
        return None;
    }
    let kind = it.next()?;
    if !matches!(kind, "host" | "srflx" | "prflx" | "relay") {
        return None;
    }
    Some(RemoteCandidate {
        foundation: foundation.to_owned(),
        component,
        transport,
        priority,
        address: address.to_owned(),
        ip,
        port,
        kind: kind.to_owned(),
        mid: None,
    })
}

/// Fuzz entry point (fuzz/fuzz_targets/sdpfrag.rs): parsing never panics,
/// stays within its bounds, and what it accepts is well formed.
#[cfg(any(test, feature = "fuzz"))]
pub fn fuzz_sdpfrag(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = SdpFrag::parse(text) {
        assert!(f.candidates.len() <= MAX_CANDIDATES);
        for c in &f.candidates {
            assert!(c.ip.is_some() || c.address.ends_with(".local"));
            assert!(c.component >= 1);
        }
        if let Some(u) = &f.ice_ufrag {
            assert!(ice_chars(u, 4).is_some());
            // The restart answer has exactly three CRLF lines.
            let a = write_restart_answer(u, "p");
            assert_eq!(a.matches("\r\n").count(), 3);
        }
        let _ = f.is_restart("x");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_EXAMPLE: &str = "a=ice-options:trickle ice2\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=audio 9 RTP/AVP 0\r\n\
        a=mid:0\r\n\
        a=ice-ufrag:EsAw\r\n\
        a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
        a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n\
        a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n\
        a=candidate:473322822 1 tcp 1518280447 2001:db8::5 9 typ host tcptype active\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn parses_the_rfc_8840_example() {
        let f = SdpFrag::parse(RFC_EXAMPLE).unwrap();
        assert_eq!(f.ice_ufrag.as_deref(), Some("EsAw"));
        assert_eq!(f.ice_pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert_eq!(f.candidates.len(), 3);
        assert!(f.end_of_candidates);
        let c = &f.candidates[0];
        assert_eq!(c.ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!((c.port, c.component, c.priority), (61764, 1, 2122260223));
        assert_eq!(c.mid.as_deref(), Some("0"));
        assert_eq!(f.candidates[2].transport, CandidateTransport::Tcp);
        assert!(f.is_restart("other"));
        assert!(!f.is_restart("EsAw"));
    }

    #[test]
    fn lf_only_mdns_and_bare_end_of_candidates() {
        let f = SdpFrag::parse("a=candidate:1 1 UDP 1 abcd-ef.local 5000 typ host\n").unwrap();
        assert_eq!(f.candidates[0].ip, None);
        assert_eq!(f.candidates[0].address, "abcd-ef.local");
        let e = SdpFrag::parse("a=end-of-candidates").unwrap();
        assert!(e.end_of_candidates && e.candidates.is_empty() && e.ice_ufrag.is_none());
        assert!(!e.is_restart("x"), "no ufrag: not a restart");
        assert_eq!(SdpFrag::parse("").unwrap(), SdpFrag::default());
    }

    #[test]
    fn bad_fragments_name_their_line() {
        let cases = [
            ("a=ice-ufrag:ab\r\n", 1, "bad a=ice-ufrag"),
            (
                "a=mid:0\r\na=candidate:1 1 udp 1 host.example 5 typ host\r\n",
                2,
                "bad a=candidate",
            ),
            (
                "a=candidate:1 1 udp 1 10.0.0.1 70000 typ host\r\n",
                1,
                "bad a=candidate",
            ),
            (
                "a=candidate:1 1 sctp 1 10.0.0.1 7 typ host\r\n",
                1,
                "bad a=candidate",
            ),
            (
                "a=candidate:1 1 udp 1 10.0.0.1 7 typ magic\r\n",
                1,
                "bad a=candidate",
            ),
            ("hello\r\n", 1, "not <letter>=<value>"),
            ("a=x\u{1}\r\n", 1, "control character"),
        ];
        for (text, line, reason) in cases {
            match SdpFrag::parse(text) {
                Err(SdpFragError::BadLine {
                    line: l, reason: r, ..
                }) => {
                    assert_eq!((l, r), (line, reason), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let two = "a=ice-ufrag:abcd\r\nm=video 9 x 96\r\na=ice-ufrag:efgh\r\n";
        assert!(matches!(
            SdpFrag::parse(two),
            Err(SdpFragError::Conflicting {
                line: 3,
                attr: "ice-ufrag",
                ..
            })
        ));
        let same = "a=ice-ufrag:abcd\r\nm=video 9 x 96\r\na=ice-ufrag:abcd\r\n";
        assert!(SdpFrag::parse(same).is_ok());
    }

    #[test]
    fn everything_is_bounded() {
        let long = format!("a={}\r\n", "x".repeat(MAX_LINE));
        assert!(matches!(
            SdpFrag::parse(&long),
            Err(SdpFragError::BadLine { .. })
        ));
        let many = "a=x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(SdpFrag::parse(&many), Err(SdpFragError::TooManyLines));
        let cands = "a=candidate:1 1 udp 1 10.0.0.1 7 typ host\r\n".repeat(MAX_CANDIDATES + 1);
        assert_eq!(SdpFrag::parse(&cands), Err(SdpFragError::TooManyCandidates));
        fuzz_sdpfrag(RFC_EXAMPLE.as_bytes());
        fuzz_sdpfrag(&[0xff, 0xfe]);
    }

    #[test]
    fn the_restart_answer() {
        let a = write_restart_answer("abcd", "0123456789012345678901");
        let f = SdpFrag::parse(&a).unwrap();
        assert_eq!(f.ice_ufrag.as_deref(), Some("abcd"));
        assert_eq!(f.ice_pwd.as_deref(), Some("0123456789012345678901"));
    }
}
