//! The RTMP server handshake (C0/C1/C2 in, S0/S1/S2 out).
//!
//! We answer with the "simple" handshake: S1 carries a zero version field and
//! S2 echoes C1. Clients that open with the "complex" (digest) handshake, as
//! FFmpeg and OBS do, accept this: FFmpeg only checks the server digest when
//! S1's version field is non-zero, and librtmp only warns on a mismatch. C2
//! is read and not checked, since a complex-handshake client does not echo S1.

use thiserror::Error;

/// Size of C1/S1/C2/S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// The only RTMP version accepted in C0 (6 would be RTMPE, which we refuse).
pub const RTMP_VERSION: u8 = 3;

/// Errors during the handshake.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// C0 named a version other than 3.
    #[error("unsupported RTMP version {0} in C0 (only 3 is accepted)")]
    BadVersion(u8),
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for C0 and C1 (1 + 1536 bytes).
    C0C1,
    /// S0/S1/S2 sent; waiting for C2.
    C2,
    /// Done.
    Done,
}

/// The server side of the handshake, as a sans-IO machine.
#[derive(Debug)]
pub struct ServerHandshake {
    stage: Stage,
    buf: Vec<u8>,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A handshake waiting for C0.
    pub fn new() -> Self {
        Self {
            stage: Stage::C0C1,
            buf: Vec::with_capacity(1 + HANDSHAKE_SIZE),
        }
    }

    /// True once C2 has been read.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Feed bytes. Returns how many of `data` were consumed (the rest belongs
    /// to the chunk stream), and appends S0/S1/S2 to `out` once C1 is complete.
    pub fn handle_input(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, HandshakeError> {
        let mut used = 0;
        while used < data.len() && self.stage != Stage::Done {
            let want = match self.stage {
                Stage::C0C1 => 1 + HANDSHAKE_SIZE,
                Stage::C2 => HANDSHAKE_SIZE,
                Stage::Done => 0,
            };
            let take = (want - self.buf.len()).min(data.len() - used);
            self.buf.extend_from_slice(&data[used..used + take]);
            used += take;
            if self.stage == Stage::C0C1 && self.buf[0] != RTMP_VERSION {
                return Err(HandshakeError::BadVersion(self.buf[0]));
            }
            if self.buf.len() < want {
                break;
            }
            match self.stage {
                Stage::C0C1 => {
                    write_s0s1s2(&self.buf[1..], out);
                    self.stage = Stage::C2;
                }
                Stage::C2 => self.stage = Stage::Done,
                Stage::Done => {}
            }
            self.buf.clear();
        }
        if self.stage == Stage::Done {
            self.buf = Vec::new();
        }
        Ok(used)
    }
}

/// S0 (version), S1 (time 0, zero version, filler), S2 (echo of C1).
fn write_s0s1s2(c1: &[u8], out: &mut Vec<u8>) {
    out.push(RTMP_VERSION);
    // S1: time (4) and a zero version (4), which tells digest-aware clients that
    // this is the simple handshake. The filler needs no secrecy; derive it from
    // C1 so the core needs no random source and stays deterministic in tests.
    out.extend_from_slice(&[0; 8]);
    let mut x: u32 = c1
        .iter()
        .take(64)
        .fold(0x9E37_79B9u32, |a, b| a.rotate_left(5) ^ u32::from(*b))
        | 1;
    for _ in 0..(HANDSHAKE_SIZE - 8) / 4 {
        // xorshift32
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_be_bytes());
    }
    out.extend_from_slice(c1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c0c1() -> Vec<u8> {
        let mut v = vec![RTMP_VERSION];
        v.extend((0..HANDSHAKE_SIZE).map(|i| (i * 7) as u8));
        v
    }

    #[test]
    fn answers_c1_and_finishes_on_c2() {
        let mut hs = ServerHandshake::new();
        let mut out = Vec::new();
        let input = c0c1();
        assert_eq!(hs.handle_input(&input, &mut out).unwrap(), input.len());
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(out[0], 3);
        assert_eq!(&out[5..9], &[0, 0, 0, 0], "S1 version must be zero");
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &input[1..], "S2 echoes C1");
        assert!(!hs.is_done());
        // C2 plus the first chunk byte: only C2 is consumed.
        let mut c2 = vec![0u8; HANDSHAKE_SIZE];
        c2.push(0x03);
        assert_eq!(hs.handle_input(&c2, &mut out).unwrap(), HANDSHAKE_SIZE);
        assert!(hs.is_done());
    }

    #[test]
    fn byte_by_byte() {
        let mut hs = ServerHandshake::new();
        let mut out = Vec::new();
        let mut all = c0c1();
        all.extend(vec![1u8; HANDSHAKE_SIZE]);
        for b in &all {
            assert_eq!(
                hs.handle_input(std::slice::from_ref(b), &mut out).unwrap(),
                1
            );
        }
        assert!(hs.is_done());
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    }

    #[test]
    fn bad_version_is_refused_at_once() {
        let mut hs = ServerHandshake::new();
        let mut out = Vec::new();
        assert_eq!(
            hs.handle_input(&[6], &mut out),
            Err(HandshakeError::BadVersion(6))
        );
        assert!(out.is_empty());
    }
}
