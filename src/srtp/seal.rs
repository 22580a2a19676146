//! Outbound SRTP for the AEAD AES-GCM profiles (RFC 7714), sealed into a
//! caller's buffer.
//!
//! rtc-srtp protects a packet by parsing its header into an owned
//! `rtp::Header`, finding the SSRC's rollover state in a SipHash map,
//! allocating a fresh buffer and going through two boxed trait objects to
//! ring's AES-GCM. A fan-out protects every copy for every player, so that
//! overhead is paid per datagram sent: [`GcmRtpSealer`] holds the session
//! key (ring's own `LessSafeKey`) and salt inline, keeps the rollover
//! counters of the few SSRCs a session sends in a short list, and writes
//! header, ciphertext and tag into a shared [`BytesMut`] arena, from which
//! each packet is split off as a reference-counted [`Bytes`] (the arena's
//! storage is reused once every packet split from it was dropped).
//!
//! Only the RTP direction of the GCM profiles goes through here: RTCP, the
//! AES-CM profiles and all decryption stay with rtc-srtp.

use bytes::{Bytes, BytesMut};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use rtc_crypto::{BlockCipherAlgorithm, RTCCrypto, SecretVec};

use super::{SrtpError, SrtpProfile};
use crate::rtp::RtpHeader;

/// AES-GCM's tag, appended to every packet (RFC 7714 §14.2).
pub const GCM_TAG_LEN: usize = 16;

/// The session salt of the GCM profiles, in bytes (RFC 7714 §11).
const SALT_LEN: usize = 12;

/// SSRCs one session may send from; a session sends from one per track
/// (and one per RTX stream), so this is far above what any offer yields.
pub const MAX_SSRCS: usize = 64;

/// Key derivation labels (RFC 3711 §4.3.1).
const LABEL_RTP_ENCRYPTION: u8 = 0x00;
const LABEL_RTP_SALT: u8 = 0x02;

/// The highest packet index (ROC · 2^16 + SEQ) a key may protect (RFC 3711 §9.2).
const MAX_INDEX: u64 = (1 << 48) - 1;

/// Arena storage allocated at a time (about 40 datagrams of 1,200 bytes).
pub const ARENA_BYTES: usize = 48 * 1024;

/// One sending SSRC's highest packet index so far (RFC 3711 §3.3.1).
#[derive(Debug, Clone, Copy)]
struct Rollover {
    ssrc: u32,
    highest: u64,
}

/// Seals outbound RTP packets with a GCM profile's session key.
pub struct GcmRtpSealer {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    rollovers: Vec<Rollover>,
    /// Where the last lookup found its SSRC.
    last: usize,
}

impl std::fmt::Debug for GcmRtpSealer {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmRtpSealer")
            .field("ssrcs", &self.rollovers.len())
            .finish_non_exhaustive()
    }
}

impl GcmRtpSealer {
    /// Derives the SRTP session key and salt from a master key and salt
    /// (RFC 3711 §4.3 with the AES-CM PRF, AES-256 for AES-256-GCM as RFC
    /// 7714 §11 says; key derivation rate 0 as DTLS-SRTP uses); `None` for
    /// a profile that is not a GCM one.
    pub fn new(
        profile: SrtpProfile,
        master_key: &[u8],
        master_salt: &[u8],
        crypto: &dyn RTCCrypto,
    ) -> Option<Result<Self, SrtpError>> {
        let (block, aead) = match profile {
            SrtpProfile::AeadAes128Gcm => (BlockCipherAlgorithm::Aes128, &AES_128_GCM),
            SrtpProfile::AeadAes256Gcm => (BlockCipherAlgorithm::Aes256, &AES_256_GCM),
            _ => return None,
        };
        Some(Self::derived(block, aead, master_key, master_salt, crypto))
    }

    fn derived(
        block: BlockCipherAlgorithm,
        aead: &'static ring::aead::Algorithm,
        master_key: &[u8],
        master_salt: &[u8],
        crypto: &dyn RTCCrypto,
    ) -> Result<Self, SrtpError> {
        // Zeroed when dropped, on every path.
        let mut session_key = SecretVec::new(vec![0; master_key.len()]);
        derive(
            crypto,
            block,
            LABEL_RTP_ENCRYPTION,
            master_key,
            master_salt,
            session_key.as_mut(),
        )?;
        let mut salt = [0; SALT_LEN];
        derive(
            crypto,
            block,
            LABEL_RTP_SALT,
            master_key,
            master_salt,
            &mut salt,
        )?;
        let key = UnboundKey::new(aead, session_key.as_ref()).map_err(|_| {
            SrtpError::Crypto(format!("{} is no AES-GCM key length", session_key.len()))
        })?;
        Ok(Self {
            key: LessSafeKey::new(key),
            salt,
            rollovers: Vec::new(),
            last: 0,
        })
    }

    /// Encrypts `rtp`'s payload, authenticates its header and appends the
    /// tag, written into `arena` (scratch storage: what it holds is
    /// discarded, its spare capacity used); returns the protected packet,
    /// [`GCM_TAG_LEN`] bytes longer. Fails on a packet whose header does not
    /// fit it, on a 65th SSRC, and once the SSRC's index passed 2^48.
    pub fn seal(&mut self, rtp: &[u8], arena: &mut BytesMut) -> Result<Bytes, SrtpError> {
        let header = RtpHeader::parse(rtp).map_err(|e| SrtpError::Malformed {
            what: "RTP",
            len: rtp.len(),
            reason: e.to_string(),
        })?;
        let (header_len, ssrc, seq) = (header.payload_offset(), header.ssrc().0, header.seq());
        let index = self.index_for(ssrc, seq)?;

        let mut iv = [0u8; SALT_LEN];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&((index >> 16) as u32).to_be_bytes());
        iv[10..12].copy_from_slice(&seq.to_be_bytes());
        for (v, s) in iv.iter_mut().zip(self.salt) {
            *v ^= s;
        }

        let total = rtp.len() + GCM_TAG_LEN;
        arena.clear();
        if arena.capacity() < total {
            arena.reserve(total.max(ARENA_BYTES));
        }
        arena.extend_from_slice(rtp);
        let (aad, payload) = arena.split_at_mut(header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(&*aad), payload)
            .map_err(|_| SrtpError::Crypto("AES-GCM seal failed".into()))?;
        arena.extend_from_slice(tag.as_ref());
        Ok(arena.split().freeze())
    }

    /// The packet index of `seq` from `ssrc`: the one closest to the highest
    /// sent so far (a retransmission may go back), which it advances.
    fn index_for(&mut self, ssrc: u32, seq: u16) -> Result<u64, SrtpError> {
        let at = match self.rollovers.get(self.last) {
            Some(r) if r.ssrc == ssrc => self.last,
            _ => match self.rollovers.iter().position(|r| r.ssrc == ssrc) {
                Some(i) => i,
                None if self.rollovers.len() >= MAX_SSRCS => {
                    return Err(SrtpError::TooManySsrcs {
                        ssrc,
                        max: MAX_SSRCS,
                    })
                }
                None => {
                    self.rollovers.push(Rollover {
                        ssrc,
                        highest: u64::from(seq),
                    });
                    self.last = self.rollovers.len() - 1;
                    return Ok(u64::from(seq));
                }
            },
        };
        self.last = at;
        let r = &mut self.rollovers[at];
        let delta = i64::from(seq.wrapping_sub(r.highest as u16) as i16);
        let guess = r.highest as i64 + delta;
        // Before the first rollover there is no earlier cycle to go back to.
        let index = if guess < 0 {
            u64::from(seq)
        } else {
            guess as u64
        };
        if index > MAX_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        r.highest = r.highest.max(index);
        Ok(index)
    }
}

/// Fills `out` with the AES-CM PRF's output for `label` (RFC 3711 §4.3.1,
/// key derivation rate 0): the master salt, zero-padded to a block, with
/// the label at byte 7 and a block counter in the last two bytes, encrypted
/// with the master key.
fn derive(
    crypto: &dyn RTCCrypto,
    block: BlockCipherAlgorithm,
    label: u8,
    master_key: &[u8],
    master_salt: &[u8],
    out: &mut [u8],
) -> Result<(), SrtpError> {
    if master_salt.len() > 14 {
        return Err(SrtpError::Crypto(format!(
            "a {}-byte master salt is longer than 14",
            master_salt.len()
        )));
    }
    let mut input = [0u8; 16];
    input[..master_salt.len()].copy_from_slice(master_salt);
    input[7] ^= label;
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut b = input;
        b[14..].copy_from_slice(&(i as u16).to_be_bytes());
        crypto
            .block_encrypt(block, master_key, &mut b)
            .map_err(|e| SrtpError::Crypto(e.to_string()))?;
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
