//! Build the ICE-lite answer, in the shape SRS gives it.
//!
//! Session: `a=ice-lite`, `a=group:BUNDLE` of the accepted mids,
//! `a=msid-semantic`. Per accepted m-line, in SRS's attribute order: c=,
//! ice-ufrag/pwd, fingerprint, setup, mid, (msid), extmaps, direction,
//! rtcp-mux, (rtcp-rsize), the one codec (rtpmap, rtcp-fb, fmtp) and its RTX,
//! (ssrc lines), then the host candidates. SRS sends no
//! `a=end-of-candidates`, and neither do we. Rejected m-lines get port 0 and
//! `a=inactive`.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::candidate::{Candidate, Transport};
use super::codec::{choose, describe, Codec};
use super::offer::{Fingerprint, MediaKind, Offer, OfferedMedia, Setup};
use super::SdpError;

/// The extensions we keep (and the one kept only with TWCC).
const EXT_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const EXT_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
const EXT_TWCC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// SRS's host candidate priority: type 126, local 65535, component 1. SRS
/// uses it for its passive TCP candidates too.
const HOST_PRIORITY: u32 = (126 << 24) + (65535 << 8) + (256 - 1);

/// Whether the client publishes (WHIP) or plays (WHEP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client sends media; we answer `recvonly`.
    Publish,
    /// The client receives media; we answer `sendonly`.
    Play,
}

/// What a player's answer needs beyond the common options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayOptions {
    /// The publisher's video codec; `None` accepts any we support.
    pub video_codec: Option<Codec>,
    /// The publisher's audio codec; `None` accepts any we support.
    pub audio_codec: Option<Codec>,
    /// The SSRC we send audio with.
    pub audio_ssrc: u32,
    /// The SSRC we send video with.
    pub video_ssrc: u32,
    /// The SSRC we send video retransmissions with (used when RTX is negotiated; 0 = none).
    pub video_rtx_ssrc: u32,
    /// RTCP CNAME of our sources.
    pub cname: String,
    /// Media stream id for msid lines (e.g. `live/livestream`).
    pub stream_id: String,
}

/// Everything the answer needs besides the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOptions {
    /// Publish or play.
    pub role: Role,
    /// Our ICE username fragment.
    pub ice_ufrag: String,
    /// Our ICE password.
    pub ice_pwd: String,
    /// SHA-256 fingerprint of our DTLS certificate, `AB:CD:...`.
    pub fingerprint_sha256: String,
    /// `rtc.dtls_role active`: be the DTLS client when the offer says actpass.
    pub dtls_role_active: bool,
    /// Our candidates, in order (the first gives the c= line).
    pub candidates: Vec<Candidate>,
    /// Negotiate transport-wide congestion control.
    pub twcc: bool,
    /// Negotiate NACK (and RTX).
    pub nack: bool,
    /// Required for [`Role::Play`].
    pub play: Option<PlayOptions>,
}

/// RTP header extension ids negotiated for a track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtIds {
    /// `urn:ietf:params:rtp-hdrext:sdes:mid`.
    pub mid: Option<u8>,
    /// abs-send-time.
    pub abs_send_time: Option<u8>,
    /// transport-wide-cc (only when TWCC is on).
    pub twcc: Option<u8>,
}

/// One accepted m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedTrack {
    /// The m-line's mid.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The codec.
    pub codec: Codec,
    /// Its payload type (the offer's).
    pub pt: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels (2 for Opus).
    pub channels: u8,
    /// The fmtp line echoed in the answer.
    pub fmtp: String,
    /// The RTX payload type, when RTX is negotiated.
    pub rtx_pt: Option<u8>,
    /// Header extension ids.
    pub ext: ExtIds,
    /// NACK negotiated.
    pub nack: bool,
    /// TWCC negotiated.
    pub twcc: bool,
    /// The client's media SSRCs (publish).
    pub remote_ssrcs: Vec<u32>,
    /// The client's RTX SSRC for the first media SSRC (publish).
    pub remote_rtx_ssrc: Option<u32>,
}

/// The answer and what it settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer text (CRLF line ends); empty in a session once
    /// [`crate::sfu::Created::of`] took it for the API.
    pub sdp: String,
    /// We start the DTLS handshake.
    pub we_are_dtls_client: bool,
    /// The accepted tracks, in m-line order.
    pub tracks: Vec<NegotiatedTrack>,
    /// The client's ICE ufrag.
    pub remote_ufrag: String,
    /// The client's ICE password.
    pub remote_pwd: String,
    /// The client's certificate fingerprints.
    pub remote_fingerprints: Vec<Fingerprint>,
}

/// Answer `offer`. Each m-line gets at most one codec; a stream has at most
/// one audio and one video track, so later m-lines of a kind are rejected.
pub fn answer(offer: &Offer, opts: &AnswerOptions) -> Result<Answer, SdpError> {
    let play = match (opts.role, &opts.play) {
        (Role::Play, None) => return Err(SdpError::MissingPlayOptions),
        (Role::Play, Some(p)) => Some(p),
        (Role::Publish, _) => None,
    };
    let (setup, we_are_dtls_client) = match offer.setup {
        Setup::ActPass if opts.dtls_role_active => ("active", true),
        Setup::ActPass | Setup::Active => ("passive", false),
        Setup::Passive => ("active", true),
    };

    let mut tracks: Vec<Option<NegotiatedTrack>> = Vec::with_capacity(offer.media.len());
    let (mut have_audio, mut have_video) = (false, false);
    for m in &offer.media {
        let track = negotiate(m, opts, play, have_audio, have_video);
        if let Some(t) = &track {
            match t.kind {
                MediaKind::Audio => have_audio = true,
                _ => have_video = true,
            }
        }
        tracks.push(track);
    }
    if tracks.iter().all(Option::is_none) {
        let offered: Vec<String> = offer.media.iter().map(describe).collect();
        return Err(SdpError::NoSupportedCodec {
            offered: offered.join("; "),
        });
    }

    let mut sdp = String::with_capacity(2048);
    write_session(&mut sdp, offer, opts, play, &tracks);
    for (m, track) in offer.media.iter().zip(&tracks) {
        match track {
            Some(t) => write_accepted(&mut sdp, m, t, opts, play, setup),
            None => write_rejected(&mut sdp, m),
        }
    }

    Ok(Answer {
        sdp,
        we_are_dtls_client,
        tracks: tracks.into_iter().flatten().collect(),
        remote_ufrag: offer.ice_ufrag.clone(),
        remote_pwd: offer.ice_pwd.clone(),
        remote_fingerprints: offer.fingerprints.clone(),
    })
}

/// Decide one m-line; `None` rejects it.
fn negotiate(
    m: &OfferedMedia,
    opts: &AnswerOptions,
    play: Option<&PlayOptions>,
    have_audio: bool,
    have_video: bool,
) -> Option<NegotiatedTrack> {
    let (direction_ok, only) = match play {
        None => (m.direction.sends(), None),
        Some(p) => (
            m.direction.receives(),
            match m.kind {
                MediaKind::Audio => p.audio_codec,
                _ => p.video_codec,
            },
        ),
    };
    let taken = match m.kind {
        MediaKind::Audio => have_audio,
        MediaKind::Video => have_video,
        MediaKind::Other => return None,
    };
    if taken || !direction_ok {
        return None;
    }
    let chosen = choose(m, only, play.is_none())?;
    let fb_offered = |fb: &str| {
        chosen
            .params
            .rtcp_fb
            .iter()
            .any(|f| f.eq_ignore_ascii_case(fb))
    };
    let ext = ExtIds {
        mid: m.extmap_id(EXT_MID),
        abs_send_time: m.extmap_id(EXT_ABS_SEND_TIME),
        twcc: m.extmap_id(EXT_TWCC).filter(|_| opts.twcc),
    };
    let publish = play.is_none();
    Some(NegotiatedTrack {
        mid: m.mid.clone(),
        kind: m.kind,
        codec: chosen.codec,
        pt: chosen.params.pt,
        clock_rate: chosen.params.clock_rate,
        channels: chosen.params.channels,
        fmtp: chosen.params.fmtp.clone(),
        rtx_pt: m.rtx_for(chosen.params.pt).filter(|_| opts.nack),
        ext,
        nack: opts.nack && fb_offered("nack"),
        twcc: ext.twcc.is_some(),
        remote_ssrcs: if publish { m.media_ssrcs() } else { Vec::new() },
        remote_rtx_ssrc: if publish { m.rtx_ssrc() } else { None },
    })
}

fn write_session(
    sdp: &mut String,
    offer: &Offer,
    opts: &AnswerOptions,
    play: Option<&PlayOptions>,
    tracks: &[Option<NegotiatedTrack>],
) {
    let session_id = fnv1a(opts.ice_ufrag.as_bytes()) >> 2;
    let name = match opts.role {
        Role::Publish => "shardsfuPublishSession",
        Role::Play => "shardsfuPlaySession",
    };
    let _ = write!(
        sdp,
        "v=0\r\no=shardsfu {session_id} 2 IN IP4 0.0.0.0\r\ns={name}\r\nt=0 0\r\n"
    );
    sdp.push_str("a=ice-lite\r\n");
    let mids: Vec<&str> = offer
        .media
        .iter()
        .zip(tracks)
        .filter(|(m, t)| t.is_some() && !m.mid.is_empty())
        .map(|(m, _)| m.mid.as_str())
        .collect();
    if !mids.is_empty() {
        let _ = write!(sdp, "a=group:BUNDLE {}\r\n", mids.join(" "));
    }
    match play {
        Some(p) => {
            let _ = write!(sdp, "a=msid-semantic: WMS {}\r\n", token(&p.stream_id));
        }
        None => sdp.push_str("a=msid-semantic: WMS\r\n"),
    }
}

fn write_accepted(
    sdp: &mut String,
    m: &OfferedMedia,
    t: &NegotiatedTrack,
    opts: &AnswerOptions,
    play: Option<&PlayOptions>,
    setup: &str,
) {
    let (port, connection) = default_address(&opts.candidates);
    let _ = write!(sdp, "m={} {port} {} {}", m.kind_name, m.proto, t.pt);
    if let Some(rtx) = t.rtx_pt {
        let _ = write!(sdp, " {rtx}");
    }
    let _ = write!(sdp, "\r\nc={connection}\r\n");
    let _ = write!(
        sdp,
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        token(&opts.ice_ufrag),
        token(&opts.ice_pwd)
    );
    let _ = write!(
        sdp,
        "a=fingerprint:sha-256 {}\r\n",
        token(&opts.fingerprint_sha256)
    );
    let _ = write!(sdp, "a=setup:{setup}\r\n");
    if !m.mid.is_empty() {
        let _ = write!(sdp, "a=mid:{}\r\n", m.mid);
    }
    let track_id = play.map(|p| {
        let kind = if t.kind == MediaKind::Audio {
            "audio"
        } else {
            "video"
        };
        (
            token(&p.stream_id),
            format!("{}-{kind}", token(&p.stream_id)),
        )
    });
    if let Some((stream, track)) = &track_id {
        let _ = write!(sdp, "a=msid:{stream} {track}\r\n");
    }

    let mut exts: Vec<(u8, &str)> = [
        (t.ext.mid, EXT_MID),
        (t.ext.abs_send_time, EXT_ABS_SEND_TIME),
        (t.ext.twcc, EXT_TWCC),
    ]
    .into_iter()
    .filter_map(|(id, uri)| id.map(|id| (id, uri)))
    .collect();
    exts.sort_unstable();
    for (id, uri) in exts {
        let _ = write!(sdp, "a=extmap:{id} {uri}\r\n");
    }
    sdp.push_str(if play.is_some() {
        "a=sendonly\r\n"
    } else {
        "a=recvonly\r\n"
    });
    sdp.push_str("a=rtcp-mux\r\n");
    if m.rtcp_rsize {
        sdp.push_str("a=rtcp-rsize\r\n");
    }

    write_codec(sdp, m, t);

    if let (Some(p), Some((stream, track))) = (play, &track_id) {
        let (ssrc, rtx) = match t.kind {
            MediaKind::Audio => (p.audio_ssrc, None),
            _ => (
                p.video_ssrc,
                Some(p.video_rtx_ssrc).filter(|s| *s != 0 && t.rtx_pt.is_some()),
            ),
        };
        if let Some(rtx) = rtx {
            let _ = write!(sdp, "a=ssrc-group:FID {ssrc} {rtx}\r\n");
        }
        let cname = token(&p.cname);
        for s in std::iter::once(ssrc).chain(rtx) {
            let _ = write!(
                sdp,
                "a=ssrc:{s} cname:{cname}\r\na=ssrc:{s} msid:{stream} {track}\r\n"
            );
        }
    }

    for (foundation, c) in opts.candidates.iter().enumerate() {
        let addr = token(&c.address);
        match c.transport {
            Transport::Udp => {
                let _ = write!(
                    sdp,
                    "a=candidate:{foundation} 1 udp {HOST_PRIORITY} {addr} {} typ host generation 0\r\n",
                    c.port
                );
            }
            Transport::Tcp => {
                let _ = write!(
                    sdp,
                    "a=candidate:{foundation} 1 tcp {HOST_PRIORITY} {addr} {} typ host tcptype passive\r\n",
                    c.port
                );
            }
        }
    }
}

/// rtpmap, rtcp-fb and fmtp of the chosen codec, then its RTX.
fn write_codec(sdp: &mut String, m: &OfferedMedia, t: &NegotiatedTrack) {
    let name = m
        .codecs
        .iter()
        .find(|c| c.pt == t.pt)
        .map_or(t.codec.name(), |c| c.name.as_str());
    let _ = write!(sdp, "a=rtpmap:{} {name}/{}", t.pt, t.clock_rate);
    if t.kind == MediaKind::Audio && t.channels > 1 {
        let _ = write!(sdp, "/{}", t.channels);
    }
    sdp.push_str("\r\n");
    let offered_fbs = m
        .codecs
        .iter()
        .find(|c| c.pt == t.pt)
        .map(|c| c.rtcp_fb.as_slice())
        .unwrap_or(&[]);
    let mut written: Vec<&str> = Vec::new();
    for fb in offered_fbs {
        let keep = match fb.to_ascii_lowercase().as_str() {
            "nack" => t.nack,
            "nack pli" => true,
            "transport-cc" => t.twcc,
            _ => false,
        };
        if keep && !written.iter().any(|w| w.eq_ignore_ascii_case(fb)) {
            let _ = write!(sdp, "a=rtcp-fb:{} {fb}\r\n", t.pt);
            written.push(fb);
        }
    }
    if !t.fmtp.is_empty() {
        let _ = write!(sdp, "a=fmtp:{} {}\r\n", t.pt, t.fmtp);
    }
    if let Some(rtx) = t.rtx_pt {
        let _ = write!(
            sdp,
            "a=rtpmap:{rtx} rtx/{}\r\na=fmtp:{rtx} apt={}\r\n",
            t.clock_rate, t.pt
        );
    }
}

fn write_rejected(sdp: &mut String, m: &OfferedMedia) {
    let formats = if m.formats.is_empty() {
        "0".to_string()
    } else {
        m.formats.join(" ")
    };
    let _ = write!(
        sdp,
        "m={} 0 {} {formats}\r\nc=IN IP4 0.0.0.0\r\n",
        m.kind_name, m.proto
    );
    if !m.mid.is_empty() {
        let _ = write!(sdp, "a=mid:{}\r\n", m.mid);
    }
    sdp.push_str("a=inactive\r\n");
}

/// The m= port and c= value: the first candidate's port and IP.
fn default_address(candidates: &[Candidate]) -> (u16, String) {
    let Some(first) = candidates.first() else {
        return (9, "IN IP4 0.0.0.0".to_string());
    };
    let connection = match first.address.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => format!("IN IP4 {ip}"),
        Ok(IpAddr::V6(ip)) => format!("IN IP6 {ip}"),
        // A host name: SRS's own c= value.
        Err(_) => "IN IP4 0.0.0.0".to_string(),
    };
    (first.port, connection)
}

/// Keep a caller-supplied value on one SDP token: printable ASCII, no spaces.
fn token(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).collect()
}

/// FNV-1a, for a stable o= session id.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
