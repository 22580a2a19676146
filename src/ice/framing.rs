//! RFC 4571 framing for ICE-TCP (RFC 6544): on a TCP connection every STUN,
//! DTLS, RTP and RTCP packet is preceded by its length as a 16-bit
//! big-endian number. [`Deframer`] cuts a byte stream back into packets
//! (sans-IO, no allocation per packet); [`write_frame`] frames one.

/// The largest packet a frame can carry.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Cuts the bytes of one TCP connection into packets. Its buffer holds at
/// most one partial frame plus what one [`Deframer::push`] added.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Where the next frame's length field starts in `buf`.
    start: usize,
}

impl Deframer {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, or `None` until more bytes arrive. Empty
    /// frames carry nothing and are skipped.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        loop {
            let rest = &self.buf[self.start..];
            if rest.len() < 2 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if rest.len() < 2 + len {
                return None;
            }
            let begin = self.start + 2;
            self.start = begin + len;
            if len > 0 {
                return Some(&self.buf[begin..begin + len]);
            }
        }
    }

    /// Bytes held that do not form a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// Appends `packet` to `out` as one frame. Packets over [`MAX_FRAME`] bytes
/// cannot be framed: returns false and appends nothing.
pub fn write_frame(out: &mut Vec<u8>, packet: &[u8]) -> bool {
    let Ok(len) = u16::try_from(packet.len()) else {
        return false;
    };
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    true
}

#[cfg(any(test, feature = "fuzz"))]
/// Fuzz entry (fuzz/fuzz_targets/rfc4571.rs): feeds `data` in pieces whose
/// sizes come from its first byte, and checks that every frame is within the
/// input and the buffer stays bounded. Never panics on any input.
#[doc(hidden)]
pub fn fuzz_deframe(data: &[u8]) {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut d = Deframer::default();
    let mut total = 0;
    for piece in data.chunks(step) {
        d.push(piece);
        while let Some(frame) = d.next_frame() {
            assert!(!frame.is_empty() && frame.len() <= MAX_FRAME);
            total += frame.len() + 2;
        }
        assert!(d.pending() < 2 + MAX_FRAME);
    }
    assert!(total <= data.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(packets: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            assert!(write_frame(&mut out, p));
        }
        out
    }

    #[test]
    fn frames_survive_any_split() {
        let packets: [&[u8]; 4] = [b"\x00\x01stun", &[0x80; 1200], b"x", &[0x17; 300]];
        let wire = framed(&packets);
        for step in [1, 2, 3, 7, 100, wire.len()] {
            let mut d = Deframer::default();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for piece in wire.chunks(step) {
                d.push(piece);
                while let Some(f) = d.next_frame() {
                    got.push(f.to_vec());
                }
            }
            assert_eq!(got, packets.map(<[u8]>::to_vec), "step {step}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn partial_frames_wait_and_empty_frames_are_skipped() {
        let mut d = Deframer::default();
        d.push(&[0, 0, 0, 5, b'a', b'b']);
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.pending(), 4);
        d.push(b"cde");
        assert_eq!(d.next_frame(), Some(&b"abcde"[..]));
        assert_eq!(d.next_frame(), None);
        // A declared 65535-byte frame that never completes stays pending, bounded.
        d.push(&[0xff, 0xff, 1, 2, 3]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.pending(), 5);
    }

    #[test]
    fn oversized_packets_are_not_framed() {
        let mut out = Vec::new();
        assert!(!write_frame(&mut out, &vec![0; MAX_FRAME + 1]));
        assert!(out.is_empty());
        assert!(write_frame(&mut out, &vec![0; MAX_FRAME]));
        assert_eq!(out.len(), MAX_FRAME + 2);
    }

    #[test]
    fn fuzz_entry_holds_on_odd_input() {
        fuzz_deframe(&[]);
        fuzz_deframe(&[0]);
        fuzz_deframe(&[1, 0xff, 0xff, 0, 0, 0, 1, 9]);
        fuzz_deframe(&[3, 0, 2, 1, 2, 0, 0, 0]);
    }
}
