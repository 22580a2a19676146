//! Writing STUN messages: Binding requests (for clients and tests),
//! success and error responses, with MESSAGE-INTEGRITY and FINGERPRINT.

use std::net::{IpAddr, SocketAddr};

use ring::hmac;

use super::stun::*;

/// An HMAC-SHA1 key for MESSAGE-INTEGRITY (short-term credentials: the ICE
/// password as is). Build it once per session; building costs two SHA-1 blocks.
#[derive(Clone)]
pub struct IntegrityKey(pub(super) hmac::Key);

impl IntegrityKey {
    /// The key for a password.
    pub fn new(password: &[u8]) -> Self {
        IntegrityKey(hmac::Key::new(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            password,
        ))
    }
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

/// Writes one STUN message at the end of a caller's buffer.
pub(crate) struct MessageWriter<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
}

impl<'o> MessageWriter<'o> {
    /// Start a message of `class`/`method` with transaction id `txid`.
    pub(crate) fn new(
        out: &'o mut Vec<u8>,
        class: StunClass,
        method: u16,
        txid: &[u8; 12],
    ) -> Self {
        let start = out.len();
        out.extend_from_slice(&message_type(class, method).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(txid);
        MessageWriter { out, start }
    }

    /// Append an attribute, zero-padded to 4 bytes. Values longer than 65535
    /// bytes are a caller bug; they are truncated to fit the 16-bit length.
    pub(crate) fn attr(&mut self, typ: u16, value: &[u8]) {
        let value = &value[..value.len().min(usize::from(u16::MAX) & !3)];
        self.out.extend_from_slice(&typ.to_be_bytes());
        self.out
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.out.extend_from_slice(value);
        let pad = (4 - value.len() % 4) % 4;
        self.out.extend_from_slice(&[0u8; 3][..pad]);
        self.set_length(0);
    }

    /// Append XOR-MAPPED-ADDRESS for `addr`.
    pub(crate) fn xor_mapped_address(&mut self, addr: SocketAddr) {
        let txid: [u8; 12] = self.out[self.start + 8..self.start + 20]
            .try_into()
            .expect("the header was written in new()");
        let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let mut v = [0u8; 20];
        v[2..4].copy_from_slice(&port.to_be_bytes());
        let len = match addr.ip() {
            IpAddr::V4(ip) => {
                v[1] = 0x01;
                v[4..8].copy_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
                8
            }
            IpAddr::V6(ip) => {
                v[1] = 0x02;
                let mask = xor_mask(&txid);
                for (i, b) in ip.octets().iter().enumerate() {
                    v[4 + i] = b ^ mask[i];
                }
                20
            }
        };
        self.attr(ATTR_XOR_MAPPED_ADDRESS, &v[..len]);
    }

    /// Append MESSAGE-INTEGRITY over everything written so far.
    pub(crate) fn integrity(&mut self, key: &IntegrityKey) {
        self.set_length(4 + MI_LEN);
        let tag = hmac::sign(&key.0, &self.out[self.start..]);
        self.attr(ATTR_MESSAGE_INTEGRITY, tag.as_ref());
    }

    /// Append FINGERPRINT; this ends the message.
    pub(crate) fn fingerprint(mut self) {
        self.set_length(8);
        let crc = crc32fast::hash(&self.out[self.start..]) ^ FINGERPRINT_XOR;
        self.out.extend_from_slice(&ATTR_FINGERPRINT.to_be_bytes());
        self.out.extend_from_slice(&4u16.to_be_bytes());
        self.out.extend_from_slice(&crc.to_be_bytes());
    }

    /// Set the header length to the attributes so far plus `extra` bytes.
    fn set_length(&mut self, extra: usize) {
        let len = (self.out.len() - self.start - HEADER_LEN + extra) as u16;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Append a Binding success response to `out`: XOR-MAPPED-ADDRESS (`mapped`,
/// IPv4 or IPv6), MESSAGE-INTEGRITY with `key` (the local ICE password),
/// FINGERPRINT. The message starts at `out.len()` on entry.
pub fn write_binding_success(txid: &[u8; 12], mapped: SocketAddr, key: &[u8], out: &mut Vec<u8>) {
    write_binding_success_with(txid, mapped, &IntegrityKey::new(key), out);
}

/// [`write_binding_success`] with a key prepared once per session.
pub fn write_binding_success_with(
    txid: &[u8; 12],
    mapped: SocketAddr,
    key: &IntegrityKey,
    out: &mut Vec<u8>,
) {
    let mut w = MessageWriter::new(out, StunClass::Success, METHOD_BINDING, txid);
    w.xor_mapped_address(mapped);
    w.integrity(key);
    w.fingerprint();
}

/// What a Binding request carries besides the transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingRequest<'a> {
    /// USERNAME: "remote-ufrag:local-ufrag" from the sender's view.
    pub username: &'a str,
    /// PRIORITY of the sender's candidate.
    pub priority: u32,
    /// ICE-CONTROLLING tie-breaker (the sender is controlling), or none.
    pub ice_controlling: Option<u64>,
    /// Whether to add USE-CANDIDATE (nominate this pair).
    pub use_candidate: bool,
}

/// Append a Binding request to `out`: USERNAME, PRIORITY, ICE-CONTROLLING
/// (if given), USE-CANDIDATE (if asked), MESSAGE-INTEGRITY with `key` (the
/// receiver's ICE password), FINGERPRINT. For tests and the load harness.
pub fn write_binding_request(
    txid: &[u8; 12],
    req: &BindingRequest<'_>,
    key: &[u8],
    out: &mut Vec<u8>,
) {
    let mut w = MessageWriter::new(out, StunClass::Request, METHOD_BINDING, txid);
    w.attr(ATTR_USERNAME, req.username.as_bytes());
    w.attr(ATTR_PRIORITY, &req.priority.to_be_bytes());
    if let Some(tie) = req.ice_controlling {
        w.attr(ATTR_ICE_CONTROLLING, &tie.to_be_bytes());
    }
    if req.use_candidate {
        w.attr(ATTR_USE_CANDIDATE, &[]);
    }
    w.integrity(&IntegrityKey::new(key));
    w.fingerprint();
}

/// Append a Binding error response to `out`: ERROR-CODE (`code`, e.g. 400,
/// 401, 487, with `reason`), MESSAGE-INTEGRITY when a key is given (not for
/// 400/401, where the request could not be authenticated), FINGERPRINT.
pub fn write_binding_error(
    txid: &[u8; 12],
    code: u16,
    reason: &str,
    key: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    let mut w = MessageWriter::new(out, StunClass::Error, METHOD_BINDING, txid);
    let mut value = Vec::with_capacity(4 + reason.len());
    value.extend_from_slice(&[0, 0, ((code / 100) & 0x07) as u8, (code % 100) as u8]);
    // RFC 8489 §14.8: the reason phrase is at most 128 characters.
    let mut end = reason.len().min(509);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    value.extend_from_slice(&reason.as_bytes()[..end]);
    w.attr(ATTR_ERROR_CODE, &value);
    if let Some(key) = key {
        w.integrity(&IntegrityKey::new(key));
    }
    w.fingerprint();
}
