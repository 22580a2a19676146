//! Keyframe detection in RTP payloads: H.264 (RFC 6184), VP8 (RFC 7741), VP9.

/// The video codecs whose payloads we can look into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264, packetization-mode 0 or 1.
    H264,
    /// VP8.
    Vp8,
    /// VP9 (flexible or not).
    Vp9,
    /// Audio or another codec: never a keyframe.
    Other,
}

/// What an H.264 RTP payload carries that matters for starting a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264Info {
    /// An IDR slice (NAL type 5) starts in this packet.
    pub idr: bool,
    /// A sequence parameter set (NAL type 7) is in this packet.
    pub sps: bool,
    /// A picture parameter set (NAL type 8) is in this packet.
    pub pps: bool,
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_STAP_A: u8 = 24;
const NAL_STAP_B: u8 = 25;
const NAL_FU_A: u8 = 28;
const NAL_FU_B: u8 = 29;

/// Whether `payload` starts a keyframe: an H.264 IDR (single NAL, inside a
/// STAP-A/B, or the start fragment of an FU-A/B), a VP8 key frame start, or
/// a VP9 non-inter-predicted frame start. Parameter sets alone are not a
/// keyframe: see [`h264_info`] for the SPS/PPS that usually precede an IDR.
pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::H264 => h264_info(payload).idr,
        Codec::Vp8 => vp8_keyframe(payload),
        Codec::Vp9 => vp9_keyframe(payload),
        Codec::Other => false,
    }
}

/// The NAL units of interest in an H.264 RTP payload (RFC 6184 §5.6–5.8).
pub fn h264_info(payload: &[u8]) -> H264Info {
    let mut info = H264Info::default();
    let Some(&first) = payload.first() else {
        return info;
    };
    let mut note = |nal: u8| match nal & 0x1f {
        NAL_IDR => info.idr = true,
        NAL_SPS => info.sps = true,
        NAL_PPS => info.pps = true,
        _ => {}
    };
    match first & 0x1f {
        t @ (NAL_STAP_A | NAL_STAP_B) => {
            // STAP-B carries a 16-bit decoding order number first.
            let mut rest = &payload[if t == NAL_STAP_B { 3 } else { 1 }.min(payload.len())..];
            while rest.len() >= 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(nal) = rest.get(2..2 + size) else {
                    break;
                };
                if let Some(&h) = nal.first() {
                    note(h);
                }
                rest = &rest[2 + size..];
            }
        }
        NAL_FU_A | NAL_FU_B => {
            // Only the start fragment (S bit) begins the NAL unit.
            if let Some(&fu) = payload.get(1) {
                if fu & 0x80 != 0 {
                    note(fu);
                }
            }
        }
        _ => note(first),
    }
    info
}

/// VP8 (RFC 7741 §4.2–4.3): S bit, partition 0, and the P bit of the VP8 header clear.
fn vp8_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    let start = b0 & 0x10 != 0;
    let partition = b0 & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut off = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else {
            return false;
        };
        off = 2;
        if x & 0x80 != 0 {
            // Picture ID: 15 bits when its M bit is set.
            let Some(&pid) = p.get(off) else {
                return false;
            };
            off += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            off += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            off += 1; // TID/Y/KEYIDX
        }
    }
    p.get(off).is_some_and(|h| h & 0x01 == 0)
}

/// VP9 (RFC 9628 §4.2): B (start of frame) set, P (inter-picture predicted)
/// clear, and spatial layer 0 when layer indices are present.
fn vp9_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    let (i, pb, l, b) = (
        b0 & 0x80 != 0,
        b0 & 0x40 != 0,
        b0 & 0x20 != 0,
        b0 & 0x08 != 0,
    );
    if pb || !b {
        return false;
    }
    if !l {
        return true;
    }
    let mut off = 1;
    if i {
        let Some(&pid) = p.get(off) else {
            return false;
        };
        off += if pid & 0x80 != 0 { 2 } else { 1 };
    }
    p.get(off).is_some_and(|layer| (layer >> 1) & 0x07 == 0)
}
