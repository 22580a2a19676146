//! Parse a WebRTC offer into the few facts an SFU needs.
//!
//! A small line parser rather than the `sdp` crate: real offers are sloppy
//! (SRS's own curl example has no `o=`/`s=`/`t=` lines, pion ends lines with
//! spaces, codec names come in any case), and every rejection here must name
//! the offending line. The `sdp` crate is used in the tests to check that our
//! answers parse.

use std::collections::BTreeMap;

use super::SdpError;

/// Hash algorithms whose fingerprints we can verify (ring has all four).
const SUPPORTED_FINGERPRINTS: [(&str, usize); 4] = [
    ("sha-256", 32),
    ("sha-384", 48),
    ("sha-512", 64),
    ("sha-1", 20),
];

/// Longest line text kept in an error.
const ERROR_TEXT_MAX: usize = 120;

/// What the caller may relax when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Reject offers without a usable `a=fingerprint` (the default). SRS does
    /// not check, and its own curl example in the docs has none; without one
    /// the DTLS peer certificate cannot be verified.
    pub require_fingerprint: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            require_fingerprint: true,
        }
    }
}

/// A parsed offer: transport facts plus one entry per m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The client's ICE username fragment.
    pub ice_ufrag: String,
    /// The client's ICE password.
    pub ice_pwd: String,
    /// The client's certificate fingerprints with supported algorithms.
    pub fingerprints: Vec<Fingerprint>,
    /// The client's DTLS role offer. A missing `a=setup` reads as
    /// [`Setup::Active`] (RFC 4145's default for an offer).
    pub setup: Setup,
    /// The m-lines in offer order.
    pub media: Vec<OfferedMedia>,
}

/// A certificate fingerprint from `a=fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Lowercase hash name, e.g. `sha-256`.
    pub algorithm: String,
    /// The digest bytes.
    pub value: Vec<u8>,
}

/// The `a=setup` value of the offer (RFC 4145 / RFC 5763).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// The client can be either DTLS side.
    ActPass,
    /// The client will be the DTLS client.
    Active,
    /// The client will be the DTLS server.
    Passive,
}

/// The m-line's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// Anything else (`application`, `text`, ...).
    Other,
}

impl MediaKind {
    fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "audio" => Self::Audio,
            "video" => Self::Video,
            _ => Self::Other,
        }
    }
}

/// The m-line's direction attribute (default `sendrecv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (or none).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// Whether the offerer will send media on this m-line.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the offerer wants to receive media on this m-line.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// One payload type offered in an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParams {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as offered (compare case-insensitively).
    pub name: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channel count (1 when not given).
    pub channels: u8,
    /// The `a=fmtp` parameters, as offered ("" when none).
    pub fmtp: String,
    /// The `a=rtcp-fb` values for this payload type (and for `*`).
    pub rtcp_fb: Vec<String>,
}

/// One `a=ssrc` source with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedSsrc {
    /// The SSRC.
    pub ssrc: u32,
    /// `cname:` if given.
    pub cname: Option<String>,
    /// `msid:` if given.
    pub msid: Option<String>,
}

/// One `a=ssrc-group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// e.g. `FID` (RTX) or `SIM`.
    pub semantics: String,
    /// The SSRCs in order (for FID: media, then retransmission).
    pub ssrcs: Vec<u32>,
}

/// One m-line of the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMedia {
    /// Media type.
    pub kind: MediaKind,
    /// The media type as written (`audio`, `application`, ...).
    pub kind_name: String,
    /// The transport protocol (`UDP/TLS/RTP/SAVPF`).
    pub proto: String,
    /// The format list of the m-line, as written.
    pub formats: Vec<String>,
    /// `a=mid` ("" when absent).
    pub mid: String,
    /// Direction attribute.
    pub direction: Direction,
    /// Payload types with an `a=rtpmap` (or a well-known static type), in m-line order.
    pub codecs: Vec<CodecParams>,
    /// `a=extmap` ids and URIs.
    pub extmaps: Vec<(u8, String)>,
    /// `a=ssrc` sources in order of first mention.
    pub ssrcs: Vec<OfferedSsrc>,
    /// `a=ssrc-group` lines.
    pub ssrc_groups: Vec<SsrcGroup>,
    /// RTX payload types and the payload type each repairs (`rtx pt -> apt`).
    pub rtx: Vec<(u8, u8)>,
    /// The client's `a=candidate` values (ICE-lite does not need them).
    pub candidates: Vec<String>,
    /// `a=rtcp-mux` present.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize` present.
    pub rtcp_rsize: bool,
}

impl OfferedMedia {
    /// The extension id the offer uses for `uri`, if any.
    pub fn extmap_id(&self, uri: &str) -> Option<u8> {
        self.extmaps
            .iter()
            .find(|(_, u)| u.eq_ignore_ascii_case(uri))
            .map(|(id, _)| *id)
    }

    /// The RTX payload type repairing `pt`, if offered.
    pub fn rtx_for(&self, pt: u8) -> Option<u8> {
        self.rtx.iter().find(|(_, apt)| *apt == pt).map(|(r, _)| *r)
    }

    /// SSRCs that are the retransmission half of an FID group.
    fn rtx_ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.ssrc_groups
            .iter()
            .filter(|g| g.semantics.eq_ignore_ascii_case("FID"))
            .filter_map(|g| g.ssrcs.get(1).copied())
    }

    /// Media SSRCs: every `a=ssrc` that is not an RTX SSRC of an FID group.
    pub fn media_ssrcs(&self) -> Vec<u32> {
        let rtx: Vec<u32> = self.rtx_ssrcs().collect();
        self.ssrcs
            .iter()
            .map(|s| s.ssrc)
            .filter(|s| !rtx.contains(s))
            .collect()
    }

    /// The RTX SSRC paired (FID) with the first media SSRC, if any.
    pub fn rtx_ssrc(&self) -> Option<u32> {
        let first = *self.media_ssrcs().first()?;
        self.ssrc_groups
            .iter()
            .filter(|g| g.semantics.eq_ignore_ascii_case("FID"))
            .find(|g| g.ssrcs.first() == Some(&first))
            .and_then(|g| g.ssrcs.get(1).copied())
    }
}

/// Parse an offer, requiring a fingerprint. See [`parse_offer_with`].
pub fn parse_offer(text: &str) -> Result<Offer, SdpError> {
    parse_offer_with(text, ParseOptions::default())
}

/// Parse an offer. ICE credentials, fingerprints and setup may sit at
/// session level or in any m-line (the session level wins, then the first
/// m-line that has them).
pub fn parse_offer_with(text: &str, opts: ParseOptions) -> Result<Offer, SdpError> {
    let mut session = Transport::default();
    let mut media: Vec<MediaBuilder> = Vec::new();
    let mut seen_version = false;

    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        // CRLF or LF; pion adds trailing spaces.
        let line = raw.trim_end_matches(['\r', ' ']);
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &'static str| SdpError::Unparsable {
            line: line_no,
            reason,
            text: line.chars().take(ERROR_TEXT_MAX).collect(),
        };
        if line.chars().any(char::is_control) {
            return Err(bad("control character inside the line"));
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
            return Err(bad("not a <type>=<value> line"));
        }
        let (kind, value) = (bytes[0], &line[2..]);
        if !seen_version {
            if kind != b'v' {
                return Err(bad("the first line must be v=0"));
            }
            seen_version = true;
            continue;
        }
        match kind {
            b'm' => media.push(MediaBuilder::from_m_line(value).ok_or_else(|| bad("bad m= line"))?),
            b'a' => {
                let (name, val) = match value.split_once(':') {
                    Some((n, v)) => (n, v),
                    None => (value, ""),
                };
                let res = match media.last_mut() {
                    Some(m) => m.attribute(name, val),
                    None => session.attribute(name, val).map(|_| true),
                };
                match res {
                    Ok(_) => {}
                    Err(reason) => return Err(bad(reason)),
                }
            }
            _ => {} // o=, s=, t=, c=, b=, ... carry nothing we need.
        }
    }
    if !seen_version {
        return Err(SdpError::Unparsable {
            line: 1,
            reason: "empty offer",
            text: String::new(),
        });
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }

    let transports = std::iter::once(&session).chain(media.iter().map(|m| &m.transport));
    let mut ice_ufrag = None;
    let mut ice_pwd = None;
    let mut setup = None;
    let mut raw_fps: Vec<(String, String)> = Vec::new();
    for t in transports {
        ice_ufrag = ice_ufrag.or_else(|| t.ice_ufrag.clone());
        ice_pwd = ice_pwd.or_else(|| t.ice_pwd.clone());
        setup = setup.or_else(|| t.setup.clone());
        for fp in &t.fingerprints {
            if !raw_fps.contains(fp) {
                raw_fps.push(fp.clone());
            }
        }
    }
    let ice_ufrag = ice_ufrag.ok_or(SdpError::MissingIceUfrag)?;
    let ice_pwd = ice_pwd.ok_or(SdpError::MissingIcePwd)?;
    let setup = match setup {
        None => Setup::Active,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "actpass" => Setup::ActPass,
            "active" => Setup::Active,
            "passive" => Setup::Passive,
            _ => return Err(SdpError::BadSetup { value: v }),
        },
    };
    let fingerprints = parse_fingerprints(&raw_fps, opts.require_fingerprint)?;

    Ok(Offer {
        ice_ufrag,
        ice_pwd,
        fingerprints,
        setup,
        media: media.into_iter().map(MediaBuilder::finish).collect(),
    })
}

fn parse_fingerprints(
    raw: &[(String, String)],
    required: bool,
) -> Result<Vec<Fingerprint>, SdpError> {
    let mut out = Vec::new();
    let mut unsupported = Vec::new();
    for (algorithm, value) in raw {
        let Some(&(_, len)) = SUPPORTED_FINGERPRINTS.iter().find(|(a, _)| a == algorithm) else {
            unsupported.push(algorithm.as_str());
            continue;
        };
        let bad = || SdpError::BadFingerprint {
            algorithm: algorithm.clone(),
            value: value.chars().take(ERROR_TEXT_MAX).collect(),
        };
        let bytes = value
            .split(':')
            .map(|h| {
                if h.len() == 2 {
                    u8::from_str_radix(h, 16).ok()
                } else {
                    None
                }
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        if bytes.len() != len {
            return Err(bad());
        }
        out.push(Fingerprint {
            algorithm: algorithm.clone(),
            value: bytes,
        });
    }
    if out.is_empty() && required {
        if unsupported.is_empty() {
            return Err(SdpError::MissingFingerprint);
        }
        return Err(SdpError::UnsupportedFingerprint {
            algorithms: unsupported.join(", "),
        });
    }
    Ok(out)
}

/// ICE/DTLS attributes that may appear at session or media level.
#[derive(Debug, Default)]
struct Transport {
    ice_ufrag: Option<String>,
    ice_pwd: Option<String>,
    setup: Option<String>,
    /// (lowercase algorithm, value)
    fingerprints: Vec<(String, String)>,
}

impl Transport {
    /// Take the attribute if it is a transport one; `Ok(false)` when not.
    fn attribute(&mut self, name: &str, val: &str) -> Result<bool, &'static str> {
        let val = val.trim();
        match name {
            "ice-ufrag" if !val.is_empty() => set_first(&mut self.ice_ufrag, val),
            "ice-pwd" if !val.is_empty() => set_first(&mut self.ice_pwd, val),
            "setup" => set_first(&mut self.setup, val),
            "fingerprint" => {
                let mut it = val.split_whitespace();
                let (Some(alg), Some(fp)) = (it.next(), it.next()) else {
                    return Err("a=fingerprint wants <hash> <value>");
                };
                self.fingerprints
                    .push((alg.to_ascii_lowercase(), fp.to_string()));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn set_first(slot: &mut Option<String>, val: &str) {
    if slot.is_none() {
        *slot = Some(val.to_string());
    }
}

/// An m-section while its lines are read.
#[derive(Debug)]
struct MediaBuilder {
    kind_name: String,
    proto: String,
    formats: Vec<String>,
    transport: Transport,
    mid: String,
    direction: Direction,
    rtpmaps: BTreeMap<u8, (String, u32, u8)>,
    fmtps: BTreeMap<u8, String>,
    rtcp_fbs: Vec<(Option<u8>, String)>,
    extmaps: Vec<(u8, String)>,
    ssrcs: Vec<OfferedSsrc>,
    ssrc_groups: Vec<SsrcGroup>,
    candidates: Vec<String>,
    rtcp_mux: bool,
    rtcp_rsize: bool,
}

impl MediaBuilder {
    fn from_m_line(value: &str) -> Option<Self> {
        let mut it = value.split_whitespace();
        let kind_name = it.next()?.to_string();
        let port = it.next()?;
        // <port> or <port>/<count>
        port.split('/').next()?.parse::<u16>().ok()?;
        let proto = it.next()?.to_string();
        Some(Self {
            kind_name,
            proto,
            formats: it.map(str::to_string).collect(),
            transport: Transport::default(),
            mid: String::new(),
            direction: Direction::SendRecv,
            rtpmaps: BTreeMap::new(),
            fmtps: BTreeMap::new(),
            rtcp_fbs: Vec::new(),
            extmaps: Vec::new(),
            ssrcs: Vec::new(),
            ssrc_groups: Vec::new(),
            candidates: Vec::new(),
            rtcp_mux: false,
            rtcp_rsize: false,
        })
    }

    fn attribute(&mut self, name: &str, val: &str) -> Result<bool, &'static str> {
        if self.transport.attribute(name, val)? {
            return Ok(true);
        }
        match name {
            "mid" => {
                let mid = val.trim();
                if mid.contains(char::is_whitespace) {
                    return Err("a=mid has white space");
                }
                self.mid = mid.to_string();
            }
            "sendrecv" => self.direction = Direction::SendRecv,
            "sendonly" => self.direction = Direction::SendOnly,
            "recvonly" => self.direction = Direction::RecvOnly,
            "inactive" => self.direction = Direction::Inactive,
            "rtcp-mux" => self.rtcp_mux = true,
            "rtcp-rsize" => self.rtcp_rsize = true,
            "candidate" => self.candidates.push(val.trim().to_string()),
            "rtpmap" => {
                let (pt, rest) = pt_and_rest(val).ok_or("a=rtpmap wants <pt> <name>/<rate>")?;
                let mut parts = rest.split('/');
                let name = parts.next().unwrap_or("").trim();
                let rate = parts.next().and_then(|r| r.trim().parse::<u32>().ok());
                let (Some(rate), false) = (rate, name.is_empty()) else {
                    return Err("a=rtpmap wants <pt> <name>/<rate>");
                };
                let channels = match parts.next() {
                    Some(c) => c
                        .trim()
                        .parse::<u8>()
                        .map_err(|_| "a=rtpmap channel count is not a number")?,
                    None => 1,
                };
                self.rtpmaps.insert(pt, (name.to_string(), rate, channels));
            }
            "fmtp" => {
                let (pt, rest) = pt_and_rest(val).ok_or("a=fmtp wants <pt> <params>")?;
                self.fmtps.insert(pt, rest.trim().to_string());
            }
            "rtcp-fb" => {
                let val = val.trim();
                let (pt, fb) = val
                    .split_once(' ')
                    .ok_or("a=rtcp-fb wants <pt> <feedback>")?;
                let pt = match pt {
                    "*" => None,
                    p => Some(parse_pt(p).ok_or("a=rtcp-fb payload type is not 0-127")?),
                };
                self.rtcp_fbs.push((pt, fb.trim().to_string()));
            }
            "extmap" => {
                let mut it = val.split_whitespace();
                let id = it
                    .next()
                    .and_then(|i| i.split('/').next())
                    .and_then(|i| i.parse::<u8>().ok());
                let (Some(id), Some(uri)) = (id, it.next()) else {
                    return Err("a=extmap wants <id> <uri> with id 1-255");
                };
                if id == 0 {
                    return Err("a=extmap id 0 is reserved");
                }
                if self.extmaps.iter().any(|(i, _)| *i == id) {
                    return Err("a=extmap id used twice");
                }
                self.extmaps.push((id, uri.to_string()));
            }
            "ssrc" => {
                let val = val.trim();
                let (ssrc, attr) = val.split_once(' ').unwrap_or((val, ""));
                let ssrc = ssrc
                    .parse::<u32>()
                    .map_err(|_| "a=ssrc id is not a 32-bit number")?;
                let idx = match self.ssrcs.iter().position(|s| s.ssrc == ssrc) {
                    Some(i) => i,
                    None => {
                        self.ssrcs.push(OfferedSsrc {
                            ssrc,
                            cname: None,
                            msid: None,
                        });
                        self.ssrcs.len() - 1
                    }
                };
                let entry = &mut self.ssrcs[idx];
                match attr.trim().split_once(':') {
                    Some(("cname", v)) => entry.cname = Some(v.trim().to_string()),
                    Some(("msid", v)) => entry.msid = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            "ssrc-group" => {
                let mut it = val.split_whitespace();
                let semantics = it
                    .next()
                    .ok_or("a=ssrc-group wants <semantics> <ssrc>...")?;
                let ssrcs = it
                    .map(|s| s.parse::<u32>())
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(|_| "a=ssrc-group ssrc is not a 32-bit number")?;
                self.ssrc_groups.push(SsrcGroup {
                    semantics: semantics.to_string(),
                    ssrcs,
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(self) -> OfferedMedia {
        let mut codecs = Vec::new();
        let mut rtx = Vec::new();
        for f in &self.formats {
            let Some(pt) = parse_pt(f) else { continue };
            if codecs.iter().any(|c: &CodecParams| c.pt == pt) {
                continue;
            }
            let (name, clock_rate, channels) = match self.rtpmaps.get(&pt) {
                Some((n, r, c)) => (n.clone(), *r, *c),
                None => match static_payload(pt) {
                    Some((n, r)) => (n.to_string(), r, 1),
                    None => continue,
                },
            };
            let fmtp = self.fmtps.get(&pt).cloned().unwrap_or_default();
            let rtcp_fb = self
                .rtcp_fbs
                .iter()
                .filter(|(p, _)| p.is_none() || *p == Some(pt))
                .map(|(_, fb)| fb.clone())
                .collect();
            if name.eq_ignore_ascii_case("rtx") {
                if let Some(apt) = fmtp_value(&fmtp, "apt").and_then(parse_pt) {
                    rtx.push((pt, apt));
                }
            }
            codecs.push(CodecParams {
                pt,
                name,
                clock_rate,
                channels,
                fmtp,
                rtcp_fb,
            });
        }
        OfferedMedia {
            kind: MediaKind::parse(&self.kind_name),
            kind_name: self.kind_name,
            proto: self.proto,
            formats: self.formats,
            mid: self.mid,
            direction: self.direction,
            codecs,
            extmaps: self.extmaps,
            ssrcs: self.ssrcs,
            ssrc_groups: self.ssrc_groups,
            rtx,
            candidates: self.candidates,
            rtcp_mux: self.rtcp_mux,
            rtcp_rsize: self.rtcp_rsize,
        }
    }
}

/// `<pt> <rest>` of rtpmap/fmtp values.
fn pt_and_rest(val: &str) -> Option<(u8, &str)> {
    let val = val.trim_start();
    let (pt, rest) = val.split_once([' ', '\t'])?;
    Some((parse_pt(pt)?, rest.trim_start()))
}

/// An RTP payload type, 0-127.
fn parse_pt(s: &str) -> Option<u8> {
    s.trim().parse::<u8>().ok().filter(|p| *p < 128)
}

/// The value of `key` in an fmtp string (`k=v;k=v`), keys case-insensitive.
pub(super) fn fmtp_value<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// RFC 3551 static payload types that offers list without an rtpmap.
fn static_payload(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    })
}
