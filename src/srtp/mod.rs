//! SRTP/SRTCP contexts: protect and unprotect with counted failures.
//!
//! A [`SrtpSession`] is built from the [`SrtpKeys`] a DTLS handshake exported
//! (see [`crate::dtls::DtlsEvent::Connected`]). It holds two rtc-srtp contexts:
//! an outbound one (our write key) and an inbound one (the peer's write key,
//! with replay protection on). Failures are counted in [`SrtpStats`] so the
//! session can report them without logging per packet.
//!
//! Allocation note: rtc-srtp 0.21.1 returns a fresh `BytesMut` from every
//! encrypt/decrypt call and parses the RTP header into an owned `rtp::Header`
//! (a `Vec` for CSRCs and one for extensions). This module adds no copy of its
//! own: the crate's buffer is frozen into the returned [`Bytes`]. Outbound RTP
//! with a GCM profile, the fan-out's per-copy work, goes through [`seal`]
//! instead: no parse, no map, no allocation per packet.

use bytes::{Bytes, BytesMut};
use rtc_shared::error::Error as RtcError;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

pub mod seal;
#[cfg(test)]
mod tests;

use seal::GcmRtpSealer;

/// Replay window for inbound SRTP and SRTCP, in packets (libsrtp's default).
pub const REPLAY_WINDOW: usize = 128;

/// The SRTP protection profiles DTLS-SRTP may negotiate (RFC 5764, RFC 7714).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-CM with an 80-bit HMAC-SHA1 tag.
    Aes128CmHmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): AES-CM with a 32-bit HMAC-SHA1 tag.
    Aes128CmHmacSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007): AES-128-GCM, our first choice.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008): AES-256-GCM.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// The IANA "DTLS-SRTP protection profile" code point.
    pub fn code(self) -> u16 {
        match self {
            SrtpProfile::Aes128CmHmacSha1_80 => 0x0001,
            SrtpProfile::Aes128CmHmacSha1_32 => 0x0002,
            SrtpProfile::AeadAes128Gcm => 0x0007,
            SrtpProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with IANA code point `code`, if we support it.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0x0001 => Some(SrtpProfile::Aes128CmHmacSha1_80),
            0x0002 => Some(SrtpProfile::Aes128CmHmacSha1_32),
            0x0007 => Some(SrtpProfile::AeadAes128Gcm),
            0x0008 => Some(SrtpProfile::AeadAes256Gcm),
            _ => None,
        }
    }

    /// Bytes of DTLS exporter output this profile needs: two master keys and two salts.
    pub fn keying_material_len(self) -> usize {
        let p = self.to_rtc();
        2 * (p.key_len() + p.salt_len())
    }

    /// Bytes that protecting an RTP packet adds (auth tag or AEAD tag).
    pub fn rtp_overhead(self) -> usize {
        let p = self.to_rtc();
        p.rtp_auth_tag_len() + p.aead_auth_tag_len()
    }

    /// Bytes that protecting an RTCP packet adds (tag plus the 4-byte SRTCP index).
    pub fn rtcp_overhead(self) -> usize {
        let p = self.to_rtc();
        p.rtcp_auth_tag_len() + p.aead_auth_tag_len() + 4
    }

    fn to_rtc(self) -> ProtectionProfile {
        match self {
            SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpProfile::Aes128CmHmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        }
    }
}

/// What a DTLS-SRTP handshake hands to SRTP: the negotiated profile, the
/// RFC 5764 exporter output (`client key | server key | client salt | server salt`)
/// and which side we were, which decides our write key.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated protection profile.
    pub profile: SrtpProfile,
    /// `EXTRACTOR-dtls_srtp` output, [`SrtpProfile::keying_material_len`] bytes.
    pub keying_material: Vec<u8>,
    /// Whether we were the DTLS client (our write key is then the client key).
    pub is_client: bool,
}

impl std::fmt::Debug for SrtpKeys {
    // Keys stay out of logs: show only their shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .field("keying_material_len", &self.keying_material.len())
            .field("is_client", &self.is_client)
            .finish()
    }
}

/// Errors from building an SRTP session or protecting/unprotecting a packet.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SrtpError {
    /// The keying material does not have the length the profile needs.
    #[error("SRTP keying material is {got} bytes, profile {profile:?} needs {expected}")]
    KeyingMaterialLength {
        /// The negotiated profile.
        profile: SrtpProfile,
        /// Bytes the profile needs.
        expected: usize,
        /// Bytes we were given.
        got: usize,
    },
    /// The packet's authentication tag did not verify (wrong key, tampered or corrupt).
    #[error("SRTP{} authentication failed on a {len}-byte packet", if *rtcp { "CP" } else { "" })]
    AuthFailed {
        /// Whether it was an SRTCP packet.
        rtcp: bool,
        /// Length of the packet.
        len: usize,
    },
    /// The packet index was already received or is older than the replay window.
    #[error("SRTP{} replay: ssrc {ssrc:#010x} index {index} already seen or too old", if *rtcp { "CP" } else { "" })]
    Replay {
        /// Whether it was an SRTCP packet.
        rtcp: bool,
        /// The packet's SSRC.
        ssrc: u32,
        /// RTP sequence number or SRTCP index.
        index: u64,
    },
    /// The packet is too short or its header does not parse.
    #[error("malformed {what} packet of {len} bytes: {reason}")]
    Malformed {
        /// "SRTP", "SRTCP", "RTP" or "RTCP".
        what: &'static str,
        /// Length of the packet.
        len: usize,
        /// What the SRTP library said.
        reason: String,
    },
    /// A session sent from more SSRCs than [`seal::MAX_SSRCS`].
    #[error("SRTP: ssrc {ssrc:#010x} would be the session's {max}th sending SSRC or more")]
    TooManySsrcs {
        /// The SSRC that did not fit.
        ssrc: u32,
        /// How many one session may send from.
        max: usize,
    },
    /// The key has protected 2^48 packets (RFC 3711 §9.2); the session must be re-keyed.
    #[error("SRTP key exhausted after 2^48 packets; re-key the session")]
    KeyExhausted,
    /// The crypto provider failed (no such cipher, bad key length).
    #[error("SRTP crypto setup failed: {0}")]
    Crypto(String),
}

/// Counters for one SRTP session; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpStats {
    /// Inbound RTP packets that decrypted and authenticated.
    pub rtp_unprotected: u64,
    /// Inbound RTCP packets that decrypted and authenticated.
    pub rtcp_unprotected: u64,
    /// Outbound RTP packets protected.
    pub rtp_protected: u64,
    /// Outbound RTCP packets protected.
    pub rtcp_protected: u64,
    /// Inbound packets whose tag did not verify.
    pub auth_failures: u64,
    /// Inbound packets rejected by the replay window (duplicates or too old).
    pub replays: u64,
    /// Packets (either way) too short or with an unparsable header.
    pub malformed: u64,
}

/// One peer's SRTP state: an outbound and an inbound context.
pub struct SrtpSession {
    profile: SrtpProfile,
    outbound: Context,
    inbound: Context,
    /// Outbound RTP for the GCM profiles (the others use `outbound`).
    sealer: Option<GcmRtpSealer>,
    stats: SrtpStats,
}

impl SrtpSession {
    /// Builds both contexts from the keys a DTLS handshake exported.
    pub fn new(keys: &SrtpKeys) -> Result<Self, SrtpError> {
        let profile = keys.profile.to_rtc();
        let expected = keys.profile.keying_material_len();
        let km = &keys.keying_material;
        if km.len() != expected {
            return Err(SrtpError::KeyingMaterialLength {
                profile: keys.profile,
                expected,
                got: km.len(),
            });
        }
        let (kl, sl) = (profile.key_len(), profile.salt_len());
        // RFC 5764 §4.2: client_write_key | server_write_key | client_write_salt | server_write_salt.
        let client_key = &km[..kl];
        let server_key = &km[kl..2 * kl];
        let client_salt = &km[2 * kl..2 * kl + sl];
        let server_salt = &km[2 * kl + sl..];
        let ((out_key, out_salt), (in_key, in_salt)) = if keys.is_client {
            ((client_key, client_salt), (server_key, server_salt))
        } else {
            ((server_key, server_salt), (client_key, client_salt))
        };
        let provider =
            rtc_crypto::default_provider().map_err(|e| SrtpError::Crypto(e.to_string()))?;
        let crypto = provider.crypto();
        let sealer = GcmRtpSealer::new(keys.profile, out_key, out_salt, crypto).transpose()?;
        let outbound = Context::new(out_key, out_salt, profile, None, None, crypto)
            .map_err(|e| SrtpError::Crypto(e.to_string()))?;
        let inbound = Context::new(
            in_key,
            in_salt,
            profile,
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
            crypto,
        )
        .map_err(|e| SrtpError::Crypto(e.to_string()))?;
        Ok(Self {
            profile: keys.profile,
            outbound,
            inbound,
            sealer,
            stats: SrtpStats::default(),
        })
    }

    /// The negotiated profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// The counters so far.
    pub fn stats(&self) -> SrtpStats {
        self.stats
    }

    /// Decrypts and authenticates an inbound SRTP packet; returns the plain RTP packet.
    pub fn unprotect_rtp(&mut self, srtp: &[u8]) -> Result<Bytes, SrtpError> {
        match self.inbound.decrypt_rtp(srtp) {
            Ok(p) => {
                self.stats.rtp_unprotected += 1;
                Ok(p.freeze())
            }
            Err(e) => Err(self.count(e, false, "SRTP", srtp.len())),
        }
    }

    /// Decrypts and authenticates an inbound SRTCP packet; returns the plain (compound) RTCP.
    pub fn unprotect_rtcp(&mut self, srtcp: &[u8]) -> Result<Bytes, SrtpError> {
        match self.inbound.decrypt_rtcp(srtcp) {
            Ok(p) => {
                self.stats.rtcp_unprotected += 1;
                Ok(p.freeze())
            }
            Err(e) => Err(self.count(e, true, "SRTCP", srtcp.len())),
        }
    }

    /// Encrypts and tags an outbound RTP packet; the result is
    /// [`SrtpProfile::rtp_overhead`] bytes longer.
    pub fn protect_rtp(&mut self, rtp: &[u8]) -> Result<Bytes, SrtpError> {
        // Exactly the packet's size: a lone packet pins no arena chunk.
        let mut own = BytesMut::with_capacity(rtp.len() + seal::GCM_TAG_LEN);
        self.protect_rtp_in(rtp, &mut own)
    }

    /// [`Self::protect_rtp`], writing a GCM profile's packet into `arena`
    /// (scratch storage shared by many sessions, see [`seal`]): a fan-out's
    /// copies then share a few allocations instead of one each.
    pub fn protect_rtp_in(&mut self, rtp: &[u8], arena: &mut BytesMut) -> Result<Bytes, SrtpError> {
        if let Some(sealer) = &mut self.sealer {
            let sealed = sealer.seal(rtp, arena);
            match &sealed {
                Ok(_) => self.stats.rtp_protected += 1,
                Err(SrtpError::Malformed { .. } | SrtpError::TooManySsrcs { .. }) => {
                    self.stats.malformed += 1
                }
                Err(_) => {}
            }
            return sealed;
        }
        match self.outbound.encrypt_rtp(rtp) {
            Ok(p) => {
                self.stats.rtp_protected += 1;
                Ok(p.freeze())
            }
            Err(e) => Err(self.count(e, false, "RTP", rtp.len())),
        }
    }

    /// Encrypts and tags an outbound (compound) RTCP packet; the result is
    /// [`SrtpProfile::rtcp_overhead`] bytes longer.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Result<Bytes, SrtpError> {
        match self.outbound.encrypt_rtcp(rtcp) {
            Ok(p) => {
                self.stats.rtcp_protected += 1;
                Ok(p.freeze())
            }
            Err(e) => Err(self.count(e, true, "RTCP", rtcp.len())),
        }
    }

    /// Maps an rtc-srtp error to ours and counts it.
    fn count(&mut self, e: RtcError, rtcp: bool, what: &'static str, len: usize) -> SrtpError {
        match e {
            RtcError::ErrFailedToVerifyAuthTag
            | RtcError::RtpFailedToVerifyAuthTag
            | RtcError::RtcpFailedToVerifyAuthTag => {
                self.stats.auth_failures += 1;
                SrtpError::AuthFailed { rtcp, len }
            }
            RtcError::SrtpSsrcDuplicated(ssrc, seq) => {
                self.stats.replays += 1;
                SrtpError::Replay {
                    rtcp: false,
                    ssrc,
                    index: seq.into(),
                }
            }
            RtcError::SrtcpSsrcDuplicated(ssrc, index) => {
                self.stats.replays += 1;
                SrtpError::Replay {
                    rtcp: true,
                    ssrc,
                    index: index as u64,
                }
            }
            RtcError::ErrExceededMaxPackets => SrtpError::KeyExhausted,
            other => {
                self.stats.malformed += 1;
                SrtpError::Malformed {
                    what,
                    len,
                    reason: other.to_string(),
                }
            }
        }
    }
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession")
            .field("profile", &self.profile)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
