//! The process's DTLS certificate and SDP fingerprints.

use std::sync::Arc;

use rtc_crypto::RTCCryptoProvider;
use rtc_dtls::crypto::Certificate;

use super::compat::CompatProvider;
use super::DtlsError;

/// One ECDSA P-256 self-signed certificate, generated once per process and
/// shared by every [`super::DtlsTransport`] (clone it per shard: the key is
/// behind an `Arc`).
#[derive(Clone)]
pub struct DtlsCert {
    pub(super) cert: Certificate,
    pub(super) provider: Arc<dyn RTCCryptoProvider>,
    fingerprint: String,
}

impl DtlsCert {
    /// Generates a fresh key pair and self-signed certificate.
    pub fn generate() -> Result<Self, DtlsError> {
        let provider: Arc<dyn RTCCryptoProvider> = Arc::new(CompatProvider::new()?);
        // rcgen's simple self-signed certificate uses ECDSA P-256 with SHA-256.
        let cert =
            Certificate::generate_self_signed(vec!["shardsfu".to_owned()], provider.crypto())
                .map_err(|e| DtlsError::Certificate(e.to_string()))?;
        let der = cert
            .certificate
            .first()
            .ok_or_else(|| DtlsError::Certificate("no certificate generated".into()))?;
        let fingerprint = format_fingerprint(&fingerprint(FingerprintAlg::Sha256, der));
        Ok(Self {
            cert,
            provider,
            fingerprint,
        })
    }

    /// The certificate's SHA-256 fingerprint as SDP writes it: `AB:CD:...` (upper-case hex).
    pub fn fingerprint_sha256(&self) -> String {
        self.fingerprint.clone()
    }

    /// The DER encoding of the certificate.
    pub fn der(&self) -> &[u8] {
        // `generate` refuses a certificate without a DER entry, so index 0 exists.
        self.cert.certificate[0].as_ref()
    }
}

impl std::fmt::Debug for DtlsCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsCert")
            .field("fingerprint_sha256", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Hash functions an SDP `a=fingerprint` line may name that we check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintAlg {
    /// `sha-256`
    Sha256,
    /// `sha-384`
    Sha384,
    /// `sha-512`
    Sha512,
}

impl FingerprintAlg {
    /// Parses an SDP hash function name, case-insensitively (`sha-256`, `SHA-256`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("sha-256") {
            Some(Self::Sha256)
        } else if name.eq_ignore_ascii_case("sha-384") {
            Some(Self::Sha384)
        } else if name.eq_ignore_ascii_case("sha-512") {
            Some(Self::Sha512)
        } else {
            None
        }
    }
}

/// The digest of `der` with `alg`.
pub fn fingerprint(alg: FingerprintAlg, der: &[u8]) -> Vec<u8> {
    let a = match alg {
        FingerprintAlg::Sha256 => &ring::digest::SHA256,
        FingerprintAlg::Sha384 => &ring::digest::SHA384,
        FingerprintAlg::Sha512 => &ring::digest::SHA512,
    };
    ring::digest::digest(a, der).as_ref().to_vec()
}

/// Formats digest bytes as SDP does: upper-case hex pairs joined by `:`.
pub fn format_fingerprint(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Parses an SDP fingerprint value (`ab:CD:01...`, either case) into bytes.
pub fn parse_fingerprint(text: &str) -> Result<Vec<u8>, DtlsError> {
    let bad = || DtlsError::BadFingerprint(text.to_owned());
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    text.split(':')
        .map(|pair| {
            if pair.len() != 2 {
                return Err(bad());
            }
            u8::from_str_radix(pair, 16).map_err(|_| bad())
        })
        .collect()
}

/// Whether `der` matches one of the offer's fingerprints (unknown hash names are skipped).
pub(super) fn matches_any(der: &[u8], expected: &[(String, Vec<u8>)]) -> bool {
    expected.iter().any(|(alg, want)| {
        FingerprintAlg::from_name(alg).is_some_and(|alg| fingerprint(alg, der) == *want)
    })
}
