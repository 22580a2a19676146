//! Reading a request body: a fixed length or `Transfer-Encoding: chunked`
//! (decoded incrementally, so a body sent byte by byte costs linear time).

use bytes::{Buf, Bytes, BytesMut};

use crate::http::error::HttpError;
use crate::http::request::{BodyFraming, Limits};

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// Reads one body out of the connection's inbound buffer.
#[derive(Debug)]
pub(crate) enum BodyDecoder {
    /// This many bytes remain to be read.
    Length(usize),
    /// A chunked body in progress.
    Chunked(Chunked),
}

/// State of a chunked body.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    body: Vec<u8>,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailer,
}

impl BodyDecoder {
    /// A decoder for this framing. `Length` was checked against the limit
    /// by the head parser.
    pub(crate) fn new(framing: BodyFraming) -> BodyDecoder {
        match framing {
            // The head parser refused lengths above `max_body`, a usize.
            BodyFraming::Length(n) => BodyDecoder::Length(usize::try_from(n).unwrap_or(usize::MAX)),
            BodyFraming::Chunked => BodyDecoder::Chunked(Chunked::default()),
        }
    }

    /// Whether a body is expected at all.
    pub(crate) fn expects_body(&self) -> bool {
        !matches!(self, BodyDecoder::Length(0))
    }

    /// Consumes body bytes from the front of `buf`. Returns the complete
    /// body when it has all arrived, `None` when more is needed.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Bytes>, HttpError> {
        match self {
            BodyDecoder::Length(n) => {
                if buf.len() >= *n {
                    Ok(Some(buf.split_to(*n).freeze()))
                } else {
                    Ok(None)
                }
            }
            BodyDecoder::Chunked(c) => c.decode(buf, limits),
        }
    }
}

impl Chunked {
    fn decode(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Option<Bytes>, HttpError> {
        loop {
            match self.state {
                ChunkState::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        if used > MAX_CHUNK_LINE {
                            return Err(HttpError::BadChunk {
                                why: "chunk-size line too long",
                            });
                        }
                        buf.advance(used);
                        let total = (self.body.len() as u64).saturating_add(size);
                        if total > limits.max_body as u64 {
                            return Err(HttpError::BodyTooLarge {
                                length: total,
                                limit: limits.max_body,
                            });
                        }
                        // `total` fits in usize: it is at most `max_body`.
                        let size = size as usize;
                        self.state = if size == 0 {
                            ChunkState::Trailer
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(HttpError::BadChunk {
                                why: "chunk-size line too long",
                            });
                        }
                        return Ok(None);
                    }
                    Err(httparse::InvalidChunkSize) => {
                        return Err(HttpError::BadChunk {
                            why: "invalid chunk size",
                        })
                    }
                },
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = left.min(buf.len());
                    self.body.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::DataEnd => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                    } else if buf.starts_with(b"\n") {
                        buf.advance(1);
                    } else if buf.is_empty() || buf[..] == b"\r"[..] {
                        return Ok(None);
                    } else {
                        return Err(HttpError::BadChunk {
                            why: "chunk data not followed by CRLF",
                        });
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                        if self.trailer_bytes + buf.len() > limits.max_head {
                            return Err(HttpError::HeadersTooLarge {
                                limit: limits.max_head,
                            });
                        }
                        return Ok(None);
                    };
                    let line_len = nl + 1;
                    let empty = buf[..nl].iter().all(|&b| b == b'\r') && nl <= 1;
                    self.trailer_bytes += line_len;
                    if self.trailer_bytes > limits.max_head {
                        return Err(HttpError::HeadersTooLarge {
                            limit: limits.max_head,
                        });
                    }
                    buf.advance(line_len);
                    if empty {
                        // Trailer fields are dropped: nothing here uses them.
                        return Ok(Some(Bytes::from(std::mem::take(&mut self.body))));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], limits: &Limits) -> Result<Option<Bytes>, HttpError> {
        let mut d = BodyDecoder::new(BodyFraming::Chunked);
        let mut buf = BytesMut::from(input);
        d.decode(&mut buf, limits)
    }

    #[test]
    fn chunked_whole_and_bytewise() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let body = decode_all(wire, &Limits::default()).unwrap().unwrap();
        assert_eq!(&body[..], b"Wikipedia in\r\n\r\nchunks.");

        let mut d = BodyDecoder::new(BodyFraming::Chunked);
        let mut buf = BytesMut::new();
        let mut out = None;
        for (i, &b) in wire.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            if let Some(body) = d.decode(&mut buf, &Limits::default()).unwrap() {
                out = Some((i, body));
                break;
            }
        }
        let (i, body) = out.unwrap();
        assert_eq!(&body[..], b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&wire[i + 1..], b"NEXT");
    }

    #[test]
    fn chunked_errors() {
        let limits = Limits {
            max_body: 8,
            ..Limits::default()
        };
        assert_eq!(
            decode_all(b"zz\r\n", &limits),
            Err(HttpError::BadChunk {
                why: "invalid chunk size"
            })
        );
        assert_eq!(
            decode_all(b"4\r\nabcdXY", &limits),
            Err(HttpError::BadChunk {
                why: "chunk data not followed by CRLF"
            })
        );
        assert_eq!(
            decode_all(b"5\r\nabcde\r\n4\r\n", &limits),
            Err(HttpError::BodyTooLarge {
                length: 9,
                limit: 8
            })
        );
        assert_eq!(
            decode_all(b"ffffffffffff\r\n", &limits),
            Err(HttpError::BodyTooLarge {
                length: 0xffffffffffff,
                limit: 8
            })
        );
        let long_ext = format!("1;{}", "x".repeat(2000));
        assert_eq!(
            decode_all(long_ext.as_bytes(), &limits),
            Err(HttpError::BadChunk {
                why: "chunk-size line too long"
            })
        );
        let big_trailer = format!("0\r\n{}", "x".repeat(20000));
        assert_eq!(
            decode_all(big_trailer.as_bytes(), &Limits::default()),
            Err(HttpError::HeadersTooLarge { limit: 16 * 1024 })
        );
        assert_eq!(decode_all(b"3\r\nab", &limits), Ok(None));
    }
}
