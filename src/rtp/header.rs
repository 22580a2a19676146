//! A zero-copy view of an RTP header (RFC 3550 §5.1) and its header
//! extensions (RFC 8285: one-byte `0xBEDE` and two-byte `0x100X` forms).

use super::id::{Pt, Ssrc};

/// Fixed header length.
const FIXED_LEN: usize = 12;
/// One-byte header extension profile.
pub(super) const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// Two-byte header extension profile (the low 4 bits are app bits).
pub(super) const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Why an RTP packet did not parse.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte header")]
    TooShort {
        /// Packet length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {version}, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The CSRC list runs past the end.
    #[error("RTP CSRC count {count} needs {need} bytes, packet has {len}")]
    CsrcOverflow {
        /// The CC field.
        count: u8,
        /// Bytes the header needs.
        need: usize,
        /// Packet length.
        len: usize,
    },
    /// The header extension runs past the end.
    #[error("RTP header extension of {words} words needs {need} bytes, packet has {len}")]
    ExtensionOverflow {
        /// The extension length field, in 32-bit words.
        words: u16,
        /// Bytes the header needs.
        need: usize,
        /// Packet length.
        len: usize,
    },
    /// The padding count is zero or eats into the header.
    #[error("RTP padding of {padding} bytes is invalid for a {len}-byte packet with a {header}-byte header")]
    BadPadding {
        /// The last byte of the packet.
        padding: u8,
        /// Header length.
        header: usize,
        /// Packet length.
        len: usize,
    },
    /// The output buffer is too small for the rewritten packet.
    #[error("output buffer of {have} bytes, rewritten packet needs {need}")]
    OutputTooSmall {
        /// Bytes available.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
}

/// The two RFC 8285 header extension layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// `0xBEDE`: ids 1..=14, 1..=16 bytes each.
    OneByte,
    /// `0x100X`: ids 1..=255, 0..=255 bytes each.
    TwoByte,
}

/// A parsed RTP header borrowing the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    /// Offset and length of the extension body (after the 4-byte extension header).
    ext: Option<(usize, usize)>,
    header_len: usize,
    padding_len: usize,
}

impl<'a> RtpHeader<'a> {
    /// Parses the header of `buf`; the payload stays in `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let len = buf.len();
        if len < FIXED_LEN {
            return Err(RtpError::TooShort { len });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let count = buf[0] & 0x0f;
        let mut header_len = FIXED_LEN + 4 * usize::from(count);
        if header_len > len {
            return Err(RtpError::CsrcOverflow {
                count,
                need: header_len,
                len,
            });
        }
        let mut ext = None;
        if buf[0] & 0x10 != 0 {
            let Some(h) = buf.get(header_len..header_len + 4) else {
                return Err(RtpError::ExtensionOverflow {
                    words: 0,
                    need: header_len + 4,
                    len,
                });
            };
            let words = u16::from_be_bytes([h[2], h[3]]);
            let body = header_len + 4;
            let need = body + 4 * usize::from(words);
            if need > len {
                return Err(RtpError::ExtensionOverflow { words, need, len });
            }
            ext = Some((body, 4 * usize::from(words)));
            header_len = need;
        }
        let mut padding_len = 0;
        if buf[0] & 0x20 != 0 {
            let padding = buf[len - 1];
            if padding == 0 || header_len + usize::from(padding) > len {
                return Err(RtpError::BadPadding {
                    padding,
                    header: header_len,
                    len,
                });
            }
            padding_len = usize::from(padding);
        }
        Ok(Self {
            buf,
            ext,
            header_len,
            padding_len,
        })
    }

    /// The whole packet this header belongs to.
    pub fn packet(&self) -> &'a [u8] {
        self.buf
    }

    /// The P bit.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The X bit.
    pub fn has_extension(&self) -> bool {
        self.ext.is_some()
    }

    /// The M bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The payload type.
    pub fn pt(&self) -> Pt {
        Pt(self.buf[1] & 0x7f)
    }

    /// The 16-bit sequence number.
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The SSRC.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(u32::from_be_bytes([
            self.buf[8],
            self.buf[9],
            self.buf[10],
            self.buf[11],
        ]))
    }

    /// The CSRCs.
    pub fn csrcs(&self) -> impl Iterator<Item = Ssrc> + 'a {
        let n = usize::from(self.buf[0] & 0x0f);
        self.buf[FIXED_LEN..FIXED_LEN + 4 * n]
            .chunks_exact(4)
            .map(|c| Ssrc(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// Bytes before the payload: fixed header, CSRCs and extension.
    pub fn payload_offset(&self) -> usize {
        self.header_len
    }

    /// Padding bytes at the end (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.padding_len
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.buf.len() - self.padding_len]
    }

    /// The extension profile field (`0xBEDE`, `0x100X` or another), if any.
    pub fn extension_profile(&self) -> Option<u16> {
        let (body, _) = self.ext?;
        Some(u16::from_be_bytes([self.buf[body - 4], self.buf[body - 3]]))
    }

    /// The RFC 8285 form of the extension block, if it has one we understand.
    pub fn extension_form(&self) -> Option<ExtensionForm> {
        match self.extension_profile()? {
            ONE_BYTE_PROFILE => Some(ExtensionForm::OneByte),
            p if p & 0xfff0 == TWO_BYTE_PROFILE => Some(ExtensionForm::TwoByte),
            _ => None,
        }
    }

    /// The header extension elements, in order. Iteration stops at the first
    /// malformed element (RFC 8285 §4.2: an element running past the block, or id 15).
    pub fn extensions(&self) -> Extensions<'a> {
        match (self.extension_form(), self.ext) {
            (Some(form), Some((body, len))) => Extensions {
                data: &self.buf[body..body + len],
                form: Some(form),
            },
            _ => Extensions {
                data: &[],
                form: None,
            },
        }
    }

    /// The value of the extension element with `id`, if present.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extensions().find(|(i, _)| *i == id).map(|(_, v)| v)
    }
}

/// Iterator over `(id, value)` of an RFC 8285 extension block.
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    data: &'a [u8],
    form: Option<ExtensionForm>,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let form = self.form?;
        loop {
            let (&first, rest) = self.data.split_first()?;
            if first == 0 {
                // Padding between elements.
                self.data = rest;
                continue;
            }
            let (id, len, body) = match form {
                ExtensionForm::OneByte => {
                    let id = first >> 4;
                    if id == 15 {
                        // Reserved: stop processing the block.
                        self.data = &[];
                        return None;
                    }
                    (id, usize::from(first & 0x0f) + 1, rest)
                }
                ExtensionForm::TwoByte => {
                    let Some((&len, body)) = rest.split_first() else {
                        self.data = &[];
                        return None;
                    };
                    (first, usize::from(len), body)
                }
            };
            if len > body.len() {
                self.data = &[];
                return None;
            }
            let (value, tail) = body.split_at(len);
            self.data = tail;
            return Some((id, value));
        }
    }
}
/// The fields of an RTP fixed header (RFC 3550 section 5.1) to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The first byte: version 2 and the P, X and CC bits (`0x80` for a
    /// plain packet).
    pub first: u8,
    /// The marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: Pt,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: Ssrc,
}

impl FixedHeader {
    /// A plain header (no padding, extension or CSRCs).
    pub fn plain(marker: bool, pt: Pt, seq: u16, timestamp: u32, ssrc: Ssrc) -> Self {
        FixedHeader {
            first: 0x80,
            marker,
            pt,
            seq,
            timestamp,
            ssrc,
        }
    }

    /// Appends the 12 bytes. Every RTP header shardsfu makes is written here.
    pub fn write(&self, out: &mut impl bytes::BufMut) {
        out.put_u8(self.first);
        out.put_u8(if self.marker { 0x80 } else { 0 } | self.pt.wire());
        out.put_u16(self.seq);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc.0);
    }
}
