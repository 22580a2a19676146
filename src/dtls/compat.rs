//! A crypto provider that is ring plus ECDSA P-224 signature checks (`p224`).
//!
//! FFmpeg's WHIP muxer signs its DTLS handshake with a fresh ECDSA **P-224**
//! certificate. ring cannot verify P-224, so rtc-dtls rejects its
//! ServerKeyExchange / CertificateVerify. Everything is delegated to ring except
//! a signature check over a 57-byte uncompressed point (P-224), which goes to
//! the pure-Rust `p224` crate (RustCrypto), so building needs no libssl.

use std::sync::Arc;

use rtc_crypto::{
    ActiveKeyExchange, AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CbcAlgorithm, CbcCipher,
    CryptoAlgorithm, CryptoError, HashAlgorithm, HmacAlgorithm, KeyExchangeAlgorithm, Mac,
    PublicKey, PublicKeyEncoding, RTCCrypto, RTCCryptoProvider, RTCRandom, SignatureScheme,
    SigningKey, StreamCipher, StreamCipherAlgorithm,
};

use super::DtlsError;

/// Length of an uncompressed SEC1 P-224 point: 0x04 || X (28) || Y (28).
const P224_POINT_LEN: usize = 57;

/// ring, with P-224 ECDSA verification added.
pub(super) struct CompatProvider {
    inner: Arc<dyn RTCCryptoProvider>,
}

impl CompatProvider {
    pub(super) fn new() -> Result<Self, DtlsError> {
        let inner =
            rtc_crypto::default_provider().map_err(|e| DtlsError::Certificate(e.to_string()))?;
        Ok(Self { inner })
    }
}

impl RTCCryptoProvider for CompatProvider {
    fn name(&self) -> &'static str {
        "ring+p224"
    }
    fn crypto(&self) -> &dyn RTCCrypto {
        self
    }
    fn random(&self) -> &dyn RTCRandom {
        self.inner.random()
    }
}

/// Verifies a DER-encoded ECDSA signature over P-224 (RustCrypto's `p224`).
///
/// `point` is the certificate's uncompressed SEC1 point; the TLS
/// SignatureScheme names only the hash (SHA-256 or SHA-384), which is taken
/// with ring and checked as a prehash (truncated to the curve's 224 bits).
pub(super) fn p224_verify(
    scheme: SignatureScheme,
    point: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    use p224::ecdsa::signature::hazmat::PrehashVerifier;
    use p224::ecdsa::{Signature, VerifyingKey};
    // The TLS SignatureScheme names the hash; the curve is whatever the certificate holds.
    let alg = match scheme {
        SignatureScheme::EcdsaP256Sha256 | SignatureScheme::EcdsaP384Sha256 => {
            &ring::digest::SHA256
        }
        SignatureScheme::EcdsaP384Sha384 => &ring::digest::SHA384,
        _ => return Err(CryptoError::InvalidSignature),
    };
    let key = VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidSignature)?;
    let sig = Signature::from_der(sig).map_err(|_| CryptoError::InvalidSignature)?;
    let digest = ring::digest::digest(alg, msg);
    key.verify_prehash(digest.as_ref(), &sig)
        .map_err(|_| CryptoError::InvalidSignature)
}

impl RTCCrypto for CompatProvider {
    fn supports(&self, a: CryptoAlgorithm) -> bool {
        self.inner.crypto().supports(a)
    }
    fn hash(&self, a: HashAlgorithm, d: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.crypto().hash(a, d)
    }
    fn block_encrypt(
        &self,
        a: BlockCipherAlgorithm,
        k: &[u8],
        b: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner.crypto().block_encrypt(a, k, b)
    }
    fn new_hmac(&self, a: HmacAlgorithm, k: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        self.inner.crypto().new_hmac(a, k)
    }
    fn new_stream_cipher(
        &self,
        a: StreamCipherAlgorithm,
        k: &[u8],
    ) -> Result<Box<dyn StreamCipher>, CryptoError> {
        self.inner.crypto().new_stream_cipher(a, k)
    }
    fn new_aead(&self, a: AeadAlgorithm, k: &[u8]) -> Result<Box<dyn AeadCipher>, CryptoError> {
        self.inner.crypto().new_aead(a, k)
    }
    fn new_cbc(&self, a: CbcAlgorithm, k: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
        self.inner.crypto().new_cbc(a, k)
    }
    fn start_key_exchange(
        &self,
        a: KeyExchangeAlgorithm,
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        self.inner.crypto().start_key_exchange(a)
    }
    fn generate_signing_key(&self, s: SignatureScheme) -> Result<Arc<dyn SigningKey>, CryptoError> {
        self.inner.crypto().generate_signing_key(s)
    }
    fn import_signing_key(
        &self,
        s: SignatureScheme,
        d: &[u8],
    ) -> Result<Arc<dyn SigningKey>, CryptoError> {
        self.inner.crypto().import_signing_key(s, d)
    }
    fn verify_signature(
        &self,
        s: SignatureScheme,
        pk: PublicKey<'_>,
        m: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if pk.encoding == PublicKeyEncoding::EcUncompressedPoint && pk.bytes.len() == P224_POINT_LEN
        {
            return p224_verify(s, pk.bytes, m, sig);
        }
        self.inner.crypto().verify_signature(s, pk, m, sig)
    }
}
