//! RTP retransmission payload format (RFC 4588 §4): an RTX packet carries
//! the original sequence number (OSN) in its first two payload bytes, then
//! the original payload, on its own SSRC, payload type and sequence space.

use super::header::{FixedHeader, RtpError, RtpHeader};
use super::id::{Pt, Ssrc};

/// Why an RTX packet could not be written or unwrapped.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum RtxError {
    /// The packet is not valid RTP.
    #[error("not RTP: {0}")]
    Rtp(#[from] RtpError),
    /// The RTX payload is too short to hold the original sequence number
    /// (a padding-only probe, for instance).
    #[error("RTX payload of {len} bytes has no 2-byte original sequence number")]
    NoOsn {
        /// Payload length (without padding).
        len: usize,
    },
}

/// Writes `original` wrapped as an RTX packet into `out` (cleared first):
/// SSRC, PT and sequence number replaced by `rtx_ssrc`, `rtx_pt`, `rtx_seq`;
/// timestamp, marker, CSRCs and header extensions kept; the original
/// sequence number put before the payload; the original padding dropped.
/// Returns the length written.
pub fn write_rtx(
    out: &mut Vec<u8>,
    original: &[u8],
    rtx_ssrc: Ssrc,
    rtx_pt: Pt,
    rtx_seq: u16,
) -> Result<usize, RtxError> {
    let h = RtpHeader::parse(original)?;
    out.clear();
    out.reserve(original.len() + 2);
    write_header(out, &h, rtx_ssrc, rtx_pt, rtx_seq);
    out.extend_from_slice(&h.seq().to_be_bytes());
    out.extend_from_slice(h.payload());
    Ok(out.len())
}

/// The original sequence number of an RTX packet and the original payload.
pub fn unwrap_rtx(rtx: &[u8]) -> Result<(u16, &[u8]), RtxError> {
    let h = RtpHeader::parse(rtx)?;
    let p = h.payload();
    if p.len() < 2 {
        return Err(RtxError::NoOsn { len: p.len() });
    }
    Ok((u16::from_be_bytes([p[0], p[1]]), &p[2..]))
}

/// Rebuilds the original packet of an RTX packet into `out` (cleared
/// first): sequence number from the OSN, SSRC and PT of the media stream
/// (`ssrc`, `pt`, which the session knows from the SDP's `apt` and
/// `ssrc-group:FID`), the rest kept. Returns the OSN.
pub fn unwrap_rtx_into(out: &mut Vec<u8>, rtx: &[u8], ssrc: Ssrc, pt: Pt) -> Result<u16, RtxError> {
    let h = RtpHeader::parse(rtx)?;
    let (osn, payload) = unwrap_rtx(rtx)?;
    out.clear();
    out.reserve(rtx.len());
    write_header(out, &h, ssrc, pt, osn);
    out.extend_from_slice(payload);
    Ok(osn)
}

/// Copies the header of `h` with SSRC, PT and seq replaced and P cleared.
fn write_header(out: &mut Vec<u8>, h: &RtpHeader<'_>, ssrc: Ssrc, pt: Pt, seq: u16) {
    let pkt = h.packet();
    FixedHeader {
        first: pkt[0] & !0x20,
        marker: h.marker(),
        pt,
        seq,
        timestamp: h.timestamp(),
        ssrc,
    }
    .write(out);
    out.extend_from_slice(&pkt[12..h.payload_offset()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V=2, X=1 with one one-byte extension, one CSRC, marker, padding of 3.
    fn original() -> Vec<u8> {
        let mut p = vec![
            0xB1,
            0x80 | 96,
            0x12,
            0x34,
            0,
            0,
            0x10,
            0,
            0xAA,
            0xBB,
            0xCC,
            0xDD,
        ];
        p.extend_from_slice(&[1, 2, 3, 4]); // CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0x55, 0, 0]); // ext id 1, 1 byte
        p.extend_from_slice(b"payload");
        p.extend_from_slice(&[0, 0, 3]); // padding
        p
    }

    #[test]
    fn wraps_and_unwraps() {
        let orig = original();
        let mut rtx = Vec::new();
        let n = write_rtx(&mut rtx, &orig, Ssrc(7), Pt(97), 500).unwrap();
        assert_eq!(n, rtx.len());
        let h = RtpHeader::parse(&rtx).unwrap();
        assert_eq!((h.ssrc(), h.pt(), h.seq()), (Ssrc(7), Pt(97), 500));
        assert!(h.marker() && !h.has_padding());
        assert_eq!(h.timestamp(), 0x1000);
        assert_eq!(h.extension(1), Some(&[0x55][..]));
        assert_eq!(h.csrcs().collect::<Vec<_>>(), vec![Ssrc(0x0102_0304)]);
        let (osn, payload) = unwrap_rtx(&rtx).unwrap();
        assert_eq!((osn, payload), (0x1234, &b"payload"[..]));

        let mut back = Vec::new();
        assert_eq!(
            unwrap_rtx_into(&mut back, &rtx, Ssrc(0xAABB_CCDD), Pt(96)).unwrap(),
            0x1234
        );
        // The original without its padding.
        let mut want = orig[..orig.len() - 3].to_vec();
        want[0] &= !0x20;
        assert_eq!(back, want);
    }

    #[test]
    fn bad_input() {
        let mut out = Vec::new();
        assert_eq!(
            write_rtx(&mut out, &[0x80; 5], Ssrc(1), Pt(1), 1),
            Err(RtxError::Rtp(RtpError::TooShort { len: 5 }))
        );
        let mut probe = vec![0x80, 97, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0x42];
        assert_eq!(unwrap_rtx(&probe), Err(RtxError::NoOsn { len: 1 }));
        probe.truncate(12);
        assert_eq!(
            unwrap_rtx_into(&mut out, &probe, Ssrc(1), Pt(1)),
            Err(RtxError::NoOsn { len: 0 })
        );
        assert!(matches!(unwrap_rtx(&[0x40; 12]), Err(RtxError::Rtp(_))));
    }
}
