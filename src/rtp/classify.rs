//! First-byte demultiplexing of a datagram (RFC 7983, RFC 5761 §4).

/// What a datagram on the shared UDP port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// First byte 0..=3: a STUN message.
    Stun,
    /// First byte 20..=63: a DTLS record.
    Dtls,
    /// First byte 128..=191 and second byte outside 192..=223: (S)RTP.
    Rtp,
    /// First byte 128..=191 and second byte 192..=223: (S)RTCP.
    Rtcp,
    /// Anything else (TURN channel data, ZRTP, junk, empty).
    Unknown,
}

/// Classifies a datagram by its first two bytes.
pub fn classify(datagram: &[u8]) -> PacketKind {
    match datagram {
        [0..=3, ..] => PacketKind::Stun,
        [20..=63, ..] => PacketKind::Dtls,
        [128..=191, 192..=223, ..] => PacketKind::Rtcp,
        [128..=191, _, ..] => PacketKind::Rtp,
        _ => PacketKind::Unknown,
    }
}
