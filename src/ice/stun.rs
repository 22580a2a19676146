//! STUN messages (RFC 8489) as far as ICE-lite needs them: a zero-copy view
//! over a received datagram and writers for Binding requests and responses.
//!
//! [`parse`] checks the framing once (header, cookie, lengths, padding,
//! attribute bounds, FINGERPRINT last) and remembers where the attributes ICE
//! uses are; nothing is copied. Crypto is separate and explicit:
//! [`StunMessage::verify_integrity`] (HMAC-SHA1, short-term credentials) and
//! [`StunMessage::verify_fingerprint`] (CRC-32).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ring::hmac;

pub use super::stun_write::{
    write_binding_error, write_binding_request, write_binding_success, write_binding_success_with,
    BindingRequest, IntegrityKey,
};

/// The magic cookie every RFC 5389/8489 message carries in bytes 4..8.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// The STUN header length.
pub const HEADER_LEN: usize = 20;
/// The Binding method (the only one ICE uses).
pub const METHOD_BINDING: u16 = 0x001;

// Attribute types (RFC 8489 §18.3, RFC 8445 §16.1).
pub(crate) const ATTR_USERNAME: u16 = 0x0006;
pub(crate) const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
pub(crate) const ATTR_ERROR_CODE: u16 = 0x0009;
pub(crate) const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub(crate) const ATTR_PRIORITY: u16 = 0x0024;
pub(crate) const ATTR_USE_CANDIDATE: u16 = 0x0025;
pub(crate) const ATTR_FINGERPRINT: u16 = 0x8028;
pub(crate) const ATTR_ICE_CONTROLLED: u16 = 0x8029;
pub(crate) const ATTR_ICE_CONTROLLING: u16 = 0x802a;

/// The value FINGERPRINT's CRC-32 is XORed with ("STUN").
pub(super) const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// Length of an HMAC-SHA1 MESSAGE-INTEGRITY value.
pub(super) const MI_LEN: usize = 20;
/// RFC 8489 §14.3: USERNAME is less than 509 bytes (513 in RFC 5389; we take the larger).
const MAX_USERNAME_LEN: usize = 513;
/// Messages up to this size are authenticated from a stack copy (no allocation).
const STACK_COPY_LEN: usize = 576;

/// Why a datagram is not a STUN message we accept. Every variant names the
/// offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than the 20-byte header.
    #[error("STUN message truncated: {0} bytes, the header needs 20")]
    Truncated(usize),
    /// The two most significant bits of the first byte are not zero.
    #[error("not a STUN message: first byte {0:#04x}")]
    NotStun(u8),
    /// Bytes 4..8 are not the magic cookie 0x2112a442.
    #[error("bad STUN magic cookie {0:#010x}")]
    BadCookie(u32),
    /// The header's message length is not a multiple of 4.
    #[error("bad STUN message length {0} (not a multiple of 4)")]
    BadLength(u16),
    /// The header's message length disagrees with the datagram size.
    #[error("STUN message length {declared} but {actual} bytes follow the header")]
    LengthMismatch {
        /// Length from the header.
        declared: u16,
        /// Bytes actually present after the header.
        actual: usize,
    },
    /// An attribute's (padded) value runs past the end of the message.
    #[error("STUN attribute {attr:#06x} overruns the message by {by} bytes")]
    AttributeOverrun {
        /// Attribute type.
        attr: u16,
        /// How many bytes are missing.
        by: usize,
    },
    /// A known attribute has a value of the wrong length.
    #[error("STUN attribute {attr:#06x} has bad length {len}")]
    BadAttributeLength {
        /// Attribute type.
        attr: u16,
        /// The length found.
        len: u16,
    },
    /// USERNAME is not UTF-8.
    #[error("STUN USERNAME is not UTF-8 ({0} bytes)")]
    UsernameNotUtf8(usize),
    /// An attribute follows FINGERPRINT, which must be last.
    #[error("STUN attribute {0:#06x} follows FINGERPRINT")]
    AttributeAfterFingerprint(u16),
    /// XOR-MAPPED-ADDRESS has an unknown address family.
    #[error("STUN address family {0:#04x} unknown")]
    BadAddressFamily(u8),
}

/// The class of a STUN message (two bits spread over the message type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StunClass {
    /// A request (expects a response).
    Request,
    /// An indication (no response).
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl StunClass {
    /// The class bits of a message type (C1 at bit 8, C0 at bit 4).
    fn from_type(typ: u16) -> Self {
        match ((typ >> 7) & 0b10) | ((typ >> 4) & 0b01) {
            0b00 => StunClass::Request,
            0b01 => StunClass::Indication,
            0b10 => StunClass::Success,
            _ => StunClass::Error,
        }
    }

    /// The class bits in message-type position.
    fn bits(self) -> u16 {
        match self {
            StunClass::Request => 0x0000,
            StunClass::Indication => 0x0010,
            StunClass::Success => 0x0100,
            StunClass::Error => 0x0110,
        }
    }
}

/// The 12-bit method of a message type (bits M0..M11 around the class bits).
fn method_of(typ: u16) -> u16 {
    (typ & 0x000f) | ((typ >> 1) & 0x0070) | ((typ >> 2) & 0x0f80)
}

/// The message type for a class and a method.
pub(super) fn message_type(class: StunClass, method: u16) -> u16 {
    (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | class.bits()
}

/// One attribute of a parsed message: its type, value (unpadded) and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunAttribute<'a> {
    /// Attribute type.
    pub typ: u16,
    /// Value bytes, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute header within the message.
    pub offset: usize,
}

/// A parsed STUN message: a view over the datagram, validated by [`parse`].
#[derive(Debug, Clone)]
pub struct StunMessage<'a> {
    buf: &'a [u8],
    class: StunClass,
    method: u16,
    username: Option<&'a str>,
    /// Offset of the MESSAGE-INTEGRITY attribute header and its value.
    integrity: Option<(usize, &'a [u8])>,
    /// Offset of the FINGERPRINT attribute header and its value.
    fingerprint: Option<(usize, u32)>,
    use_candidate: bool,
    priority: Option<u32>,
    ice_controlling: Option<u64>,
    ice_controlled: Option<u64>,
    xor_mapped: Option<SocketAddr>,
    error_code: Option<u16>,
}

/// Parse a datagram as one STUN message. The whole datagram must be the
/// message (its header length must match). Attributes after
/// MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 8489 §14.5);
/// of repeated attributes the first counts.
pub fn parse(buf: &[u8]) -> Result<StunMessage<'_>, StunError> {
    if buf.len() < HEADER_LEN {
        return Err(StunError::Truncated(buf.len()));
    }
    if buf[0] & 0xc0 != 0 {
        return Err(StunError::NotStun(buf[0]));
    }
    let typ = u16::from_be_bytes([buf[0], buf[1]]);
    let len = u16::from_be_bytes([buf[2], buf[3]]);
    let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if cookie != MAGIC_COOKIE {
        return Err(StunError::BadCookie(cookie));
    }
    if len % 4 != 0 {
        return Err(StunError::BadLength(len));
    }
    if usize::from(len) != buf.len() - HEADER_LEN {
        return Err(StunError::LengthMismatch {
            declared: len,
            actual: buf.len() - HEADER_LEN,
        });
    }
    let mut msg = StunMessage {
        buf,
        class: StunClass::from_type(typ),
        method: method_of(typ),
        username: None,
        integrity: None,
        fingerprint: None,
        use_candidate: false,
        priority: None,
        ice_controlling: None,
        ice_controlled: None,
        xor_mapped: None,
        error_code: None,
    };
    let mut off = HEADER_LEN;
    while off < buf.len() {
        let attr = next_attribute(buf, off)?;
        off = attr_end(&attr);
        if msg.fingerprint.is_some() {
            return Err(StunError::AttributeAfterFingerprint(attr.typ));
        }
        if attr.typ == ATTR_FINGERPRINT {
            let v: [u8; 4] = fixed(&attr)?;
            msg.fingerprint = Some((attr.offset, u32::from_be_bytes(v)));
            continue;
        }
        if msg.integrity.is_some() {
            continue;
        }
        msg.record(&attr)?;
    }
    Ok(msg)
}

/// The attribute whose header starts at `off` (which is < `buf.len()`).
fn next_attribute(buf: &[u8], off: usize) -> Result<StunAttribute<'_>, StunError> {
    // The message length is a multiple of 4 and every attribute is padded to
    // 4, so at least 4 bytes remain here; still, do not index blindly.
    let Some(h) = buf.get(off..off + 4) else {
        return Err(StunError::AttributeOverrun {
            attr: 0,
            by: off + 4 - buf.len(),
        });
    };
    let typ = u16::from_be_bytes([h[0], h[1]]);
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let start = off + 4;
    let padded_end = start + ((len + 3) & !3);
    if padded_end > buf.len() {
        return Err(StunError::AttributeOverrun {
            attr: typ,
            by: padded_end - buf.len(),
        });
    }
    Ok(StunAttribute {
        typ,
        value: &buf[start..start + len],
        offset: off,
    })
}

/// Offset just past an attribute's padded value.
fn attr_end(attr: &StunAttribute<'_>) -> usize {
    attr.offset + 4 + ((attr.value.len() + 3) & !3)
}

/// An attribute's value as a fixed-size array, or a length error.
fn fixed<const N: usize>(attr: &StunAttribute<'_>) -> Result<[u8; N], StunError> {
    attr.value
        .try_into()
        .map_err(|_| StunError::BadAttributeLength {
            attr: attr.typ,
            len: attr.value.len() as u16,
        })
}

impl<'a> StunMessage<'a> {
    /// Remember a known attribute (first occurrence wins).
    fn record(&mut self, attr: &StunAttribute<'a>) -> Result<(), StunError> {
        match attr.typ {
            ATTR_USERNAME if self.username.is_none() => {
                if attr.value.len() > MAX_USERNAME_LEN {
                    return Err(StunError::BadAttributeLength {
                        attr: attr.typ,
                        len: attr.value.len() as u16,
                    });
                }
                let s = std::str::from_utf8(attr.value)
                    .map_err(|_| StunError::UsernameNotUtf8(attr.value.len()))?;
                self.username = Some(s);
            }
            ATTR_MESSAGE_INTEGRITY => {
                if attr.value.len() != MI_LEN {
                    return Err(StunError::BadAttributeLength {
                        attr: attr.typ,
                        len: attr.value.len() as u16,
                    });
                }
                self.integrity = Some((attr.offset, attr.value));
            }
            ATTR_USE_CANDIDATE => {
                let [] = fixed::<0>(attr)?;
                self.use_candidate = true;
            }
            ATTR_PRIORITY if self.priority.is_none() => {
                self.priority = Some(u32::from_be_bytes(fixed(attr)?));
            }
            ATTR_ICE_CONTROLLING if self.ice_controlling.is_none() => {
                self.ice_controlling = Some(u64::from_be_bytes(fixed(attr)?));
            }
            ATTR_ICE_CONTROLLED if self.ice_controlled.is_none() => {
                self.ice_controlled = Some(u64::from_be_bytes(fixed(attr)?));
            }
            ATTR_XOR_MAPPED_ADDRESS if self.xor_mapped.is_none() => {
                self.xor_mapped = Some(decode_xor_address(attr, self.transaction_id())?);
            }
            ATTR_ERROR_CODE if self.error_code.is_none() => {
                if attr.value.len() < 4 {
                    return Err(StunError::BadAttributeLength {
                        attr: attr.typ,
                        len: attr.value.len() as u16,
                    });
                }
                let class = u16::from(attr.value[2] & 0x07);
                self.error_code = Some(class * 100 + u16::from(attr.value[3]));
            }
            _ => {}
        }
        Ok(())
    }

    /// The message class.
    pub fn class(&self) -> StunClass {
        self.class
    }

    /// The 12-bit method ([`METHOD_BINDING`] for ICE).
    pub fn method(&self) -> u16 {
        self.method
    }

    /// Whether this is a Binding request.
    pub fn is_binding_request(&self) -> bool {
        self.class == StunClass::Request && self.method == METHOD_BINDING
    }

    /// The 96-bit transaction id.
    pub fn transaction_id(&self) -> &'a [u8; 12] {
        // parse() checked the buffer holds the 20-byte header.
        self.buf[8..20].try_into().expect("header is 20 bytes")
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// All attributes in order, including those after MESSAGE-INTEGRITY.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            off: HEADER_LEN,
        }
    }

    /// USERNAME, if present.
    pub fn username(&self) -> Option<&'a str> {
        self.username
    }

    /// USERNAME split at the first `:` into (local ufrag, remote ufrag). In a
    /// check a client sends to us, USERNAME is "server-ufrag:client-ufrag".
    pub fn split_username(&self) -> Option<(&'a str, &'a str)> {
        self.username?.split_once(':')
    }

    /// Whether USE-CANDIDATE is present.
    pub fn use_candidate(&self) -> bool {
        self.use_candidate
    }

    /// PRIORITY, if present.
    pub fn priority(&self) -> Option<u32> {
        self.priority
    }

    /// ICE-CONTROLLING's tie-breaker, if present.
    pub fn ice_controlling(&self) -> Option<u64> {
        self.ice_controlling
    }

    /// ICE-CONTROLLED's tie-breaker, if present.
    pub fn ice_controlled(&self) -> Option<u64> {
        self.ice_controlled
    }

    /// XOR-MAPPED-ADDRESS decoded, if present.
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        self.xor_mapped
    }

    /// The ERROR-CODE number (e.g. 401), if present.
    pub fn error_code(&self) -> Option<u16> {
        self.error_code
    }

    /// Offset of the MESSAGE-INTEGRITY attribute header, if present.
    pub fn integrity_offset(&self) -> Option<usize> {
        self.integrity.map(|(off, _)| off)
    }

    /// Whether FINGERPRINT is present.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// Check MESSAGE-INTEGRITY with the short-term key (the ICE password).
    /// False when the attribute is absent.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        self.verify_integrity_with(&IntegrityKey::new(key))
    }

    /// [`Self::verify_integrity`] with a key prepared once per session.
    ///
    /// The HMAC covers the bytes before MESSAGE-INTEGRITY with the header's
    /// length set to end just after it (RFC 8489 §14.5); the tag is compared in
    /// constant time by `ring::hmac::verify`.
    pub fn verify_integrity_with(&self, key: &IntegrityKey) -> bool {
        let Some((off, tag)) = self.integrity else {
            return false;
        };
        let fixed_len = (off - HEADER_LEN + 4 + MI_LEN) as u16;
        let covered = &self.buf[..off];
        let mut stack = [0u8; STACK_COPY_LEN];
        let mut heap = Vec::new();
        let copy: &mut [u8] = if off <= STACK_COPY_LEN {
            &mut stack[..off]
        } else {
            heap.resize(off, 0);
            &mut heap
        };
        copy.copy_from_slice(covered);
        copy[2..4].copy_from_slice(&fixed_len.to_be_bytes());
        hmac::verify(&key.0, copy, tag).is_ok()
    }

    /// Check FINGERPRINT: CRC-32 of the bytes before it, XOR 0x5354554e.
    /// True when the message has no FINGERPRINT (see [`Self::has_fingerprint`]).
    pub fn verify_fingerprint(&self) -> bool {
        match self.fingerprint {
            None => true,
            Some((off, value)) => crc32fast::hash(&self.buf[..off]) ^ FINGERPRINT_XOR == value,
        }
    }
}

/// Iterator over the attributes of a parsed message (see [`StunMessage::attributes`]).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = StunAttribute<'a>;

    fn next(&mut self) -> Option<StunAttribute<'a>> {
        if self.off >= self.buf.len() {
            return None;
        }
        // parse() validated every attribute's bounds; an error cannot occur here,
        // but ending the iteration is the harmless answer if it did.
        let attr = next_attribute(self.buf, self.off).ok()?;
        self.off = attr_end(&attr);
        Some(attr)
    }
}

/// The server ufrag a Binding request is addressed to (USERNAME before the
/// `:`), found without any crypto so the runtime can pick the session first.
pub fn local_ufrag_of(buf: &[u8]) -> Option<&str> {
    let msg = parse(buf).ok()?;
    let username = msg.username()?;
    Some(
        username
            .split_once(':')
            .map_or(username, |(local, _)| local),
    )
}

/// Decode XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
fn decode_xor_address(attr: &StunAttribute<'_>, txid: &[u8; 12]) -> Result<SocketAddr, StunError> {
    let v = attr.value;
    let bad_len = || StunError::BadAttributeLength {
        attr: attr.typ,
        len: v.len() as u16,
    };
    if v.len() < 4 {
        return Err(bad_len());
    }
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let mask = xor_mask(txid);
    match v[1] {
        0x01 => {
            let raw: [u8; 4] = v[4..].try_into().map_err(|_| bad_len())?;
            let ip = u32::from_be_bytes(raw) ^ MAGIC_COOKIE;
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        0x02 => {
            let mut raw: [u8; 16] = v[4..].try_into().map_err(|_| bad_len())?;
            raw.iter_mut().zip(mask).for_each(|(b, m)| *b ^= m);
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(raw)), port))
        }
        family => Err(StunError::BadAddressFamily(family)),
    }
}

/// The cookie followed by the transaction id: the XOR mask for IPv6 addresses.
pub(super) fn xor_mask(txid: &[u8; 12]) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(txid);
    mask
}
