//! Which offered payload type each m-line gets.
//!
//! Audio: Opus. Video: H.264 with packetization-mode=1, preferring
//! profile-level-id 42e01f, then constrained-baseline-ish 42xx1f, then any
//! pm=1 H.264; then VP8. A publisher that offers only H.264 without
//! packetization-mode=1 (SRS's own curl example has no fmtp at all) still
//! gets its first H.264 as a last resort, as SRS does; a player never does,
//! since we forward FU-A fragments it could not take.

use super::offer::{fmtp_value, CodecParams, MediaKind, OfferedMedia};

/// The codecs the SFU forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio, 48 kHz.
    Opus,
    /// H.264 video, 90 kHz.
    H264,
    /// VP8 video, 90 kHz.
    Vp8,
}

impl Codec {
    /// The codec for an rtpmap encoding name (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("opus") {
            Some(Self::Opus)
        } else if name.eq_ignore_ascii_case("h264") {
            Some(Self::H264)
        } else if name.eq_ignore_ascii_case("vp8") {
            Some(Self::Vp8)
        } else {
            None
        }
    }

    /// The canonical rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::H264 => "H264",
            Self::Vp8 => "VP8",
        }
    }

    /// The media kind this codec belongs to.
    pub fn kind(self) -> MediaKind {
        match self {
            Self::Opus => MediaKind::Audio,
            Self::H264 | Self::Vp8 => MediaKind::Video,
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::H264 | Self::Vp8 => 90_000,
        }
    }
}

/// The H.264 fmtp parameters that matter for selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Params {
    /// `packetization-mode` (0 when absent, per RFC 6184).
    pub packetization_mode: u8,
    /// `profile-level-id`, lowercase ("" when absent).
    pub profile_level_id: String,
}

impl H264Params {
    /// Read them from an fmtp string.
    pub fn parse(fmtp: &str) -> Self {
        Self {
            packetization_mode: fmtp_value(fmtp, "packetization-mode")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            profile_level_id: fmtp_value(fmtp, "profile-level-id")
                .unwrap_or("")
                .to_ascii_lowercase(),
        }
    }
}

/// A codec chosen for one m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chosen {
    pub codec: Codec,
    pub params: CodecParams,
}

/// Pick the payload type for `media`. `only` restricts the codec (a player
/// must take what the publisher sends); `allow_h264_pm0` is the publish-only
/// last resort.
pub(super) fn choose(
    media: &OfferedMedia,
    only: Option<Codec>,
    allow_h264_pm0: bool,
) -> Option<Chosen> {
    let mut best: Option<(u8, &CodecParams, Codec)> = None;
    for c in &media.codecs {
        let Some(codec) = Codec::from_name(&c.name) else {
            continue;
        };
        if codec.kind() != media.kind || c.clock_rate != codec.clock_rate() {
            continue;
        }
        if only.is_some_and(|o| o != codec) {
            continue;
        }
        let rank = match codec {
            Codec::Opus => 0,
            Codec::H264 => {
                let p = H264Params::parse(&c.fmtp);
                let plid = p.profile_level_id.as_str();
                match p.packetization_mode {
                    1 if plid == "42e01f" => 0,
                    1 if plid.len() == 6 && plid.starts_with("42") && plid.ends_with("1f") => 1,
                    1 => 2,
                    _ if allow_h264_pm0 => 4,
                    _ => continue,
                }
            }
            Codec::Vp8 => 3,
        };
        // Offer order breaks ties: keep the first of the best rank.
        if best.is_none_or(|(r, _, _)| rank < r) {
            best = Some((rank, c, codec));
        }
    }
    best.map(|(_, params, codec)| Chosen {
        codec,
        params: params.clone(),
    })
}

/// A short description of what an m-line offered, for error messages.
pub(super) fn describe(media: &OfferedMedia) -> String {
    let codecs: Vec<String> = media
        .codecs
        .iter()
        .filter(|c| !c.name.eq_ignore_ascii_case("rtx"))
        .map(|c| {
            let mut s = format!("{}/{}", c.name, c.clock_rate);
            if Codec::from_name(&c.name) == Some(Codec::H264) {
                let p = H264Params::parse(&c.fmtp);
                s.push_str(&format!(" (packetization-mode={})", p.packetization_mode));
            }
            s
        })
        .collect();
    let list = if codecs.is_empty() {
        "no codecs".to_string()
    } else {
        codecs.join(", ")
    };
    format!("{}: {}", media.kind_name, list)
}
