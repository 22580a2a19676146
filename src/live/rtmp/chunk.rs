//! RTMP chunk streams: reassembling messages from chunks, and chunking messages.
//!
//! Limits (chosen to match SRS and to bound memory per connection):
//! - a peer's Set Chunk Size must lie in [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`]
//!   (128 B..64 KiB, as SRS);
//! - an audio or video message may not declare more than `max_message_size`
//!   bytes (default [`DEFAULT_MAX_MESSAGE_SIZE`], 4 MiB; the wire field tops
//!   out at 16 MiB); a command, data or any other message not more than
//!   [`MAX_COMMAND_SIZE`] (64 KiB), and a protocol control message not more
//!   than [`MAX_CONTROL_SIZE`]: what the AMF0 decoder may have to expand stays
//!   small;
//! - at most [`MAX_CHUNK_STREAMS`] chunk stream ids may be in use, and the bytes
//!   of all half-received messages together may not exceed `max_message_size`
//!   plus [`MAX_COMMAND_SIZE`] (one media message and an interleaved small
//!   one), so a peer cannot park a partial message on each of the 65599
//!   possible chunk streams. [`ChunkDecoder::buffered`] tells the runtime what
//!   a connection holds, for a process-wide budget.

use std::collections::HashMap;

use thiserror::Error;

/// Chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: usize = 128;
/// Smallest chunk size a peer may set (SRS's bound).
pub const MIN_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a peer may set (SRS's bound).
pub const MAX_CHUNK_SIZE: u32 = 65_536;
/// Default bound on an audio or video message's length (a 4 MiB frame is
/// 32 Mbit: a keyframe of a very high bitrate stream).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
/// Bound on the length of every message that is neither audio, video nor
/// protocol control (commands, data, shared objects, aggregates).
pub const MAX_COMMAND_SIZE: usize = 64 * 1024;
/// Bound on a protocol control message (types 1 to 6 carry 4 to 10 bytes).
pub const MAX_CONTROL_SIZE: usize = 64;
/// Most distinct chunk stream ids one connection may use.
pub const MAX_CHUNK_STREAMS: usize = 64;

/// Errors while parsing the chunk stream. Each one ends the connection.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChunkError {
    /// The first chunk of a chunk stream used a compressed header (fmt 1-3)
    /// with no earlier fmt 0 header to take the fields from.
    #[error("chunk stream {csid} begins with fmt {fmt} and has no previous header")]
    NoPreviousHeader {
        /// Chunk stream id.
        csid: u32,
        /// The header format used.
        fmt: u8,
    },
    /// A new message header (fmt 0-2) arrived while a message was half-received on that chunk stream.
    #[error("chunk stream {csid}: new message header (fmt {fmt}) inside an unfinished message")]
    InterleavedHeader {
        /// Chunk stream id.
        csid: u32,
        /// The header format used.
        fmt: u8,
    },
    /// A message longer than the bound for its type.
    #[error("message of type {type_id} of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The message type id.
        type_id: u8,
        /// The declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Too many chunk streams in use at once.
    #[error("chunk stream {csid} would exceed the limit of {max} chunk streams")]
    TooManyChunkStreams {
        /// The new chunk stream id.
        csid: u32,
        /// The limit.
        max: usize,
    },
    /// Half-received messages together hold too many bytes.
    #[error("{bytes} bytes of unfinished messages exceed the limit of {max}")]
    TooMuchBuffered {
        /// The bytes that would be held.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Set Chunk Size outside [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
    #[error("chunk size {0} outside 128..=65536")]
    BadChunkSize(u32),
}

/// A reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpMessage {
    /// Chunk stream id it arrived on.
    pub csid: u32,
    /// Absolute timestamp (ms, wrapping u32).
    pub timestamp: u32,
    /// Message type id (1 = Set Chunk Size, 8 = audio, 9 = video, 20 = AMF0 command, ...).
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Per chunk stream state: the last header seen and any half-received message.
#[derive(Debug, Default)]
struct ChunkStream {
    head: Header,
    partial: Vec<u8>,
}

/// The header fields a chunk stream remembers between chunks.
#[derive(Debug, Default, Clone, Copy)]
struct Header {
    has_header: bool,
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    /// The previous header used an extended timestamp (so fmt 3 chunks may carry one).
    extended: bool,
    /// Raw value of the last extended timestamp field.
    extended_value: u32,
    in_message: bool,
}

/// Reassembles messages from the chunk stream. Feed bytes with
/// [`ChunkDecoder::push`], take messages with [`ChunkDecoder::next_message`].
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: Vec<u8>,
    pos: usize,
    chunk_size: usize,
    max_message_size: usize,
    streams: HashMap<u32, ChunkStream>,
    buffered: usize,
}

impl ChunkDecoder {
    /// A decoder with the default chunk size (128) and the given message bound.
    pub fn new(max_message_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_message_size,
            streams: HashMap::new(),
            buffered: 0,
        }
    }

    /// Bytes the decoder holds: half-received messages and unparsed input.
    pub fn buffered(&self) -> usize {
        self.buffered + (self.buf.len() - self.pos)
    }

    /// The longest message of type `type_id` accepted.
    fn max_len(&self, type_id: u8) -> usize {
        match type_id {
            1..=6 => MAX_CONTROL_SIZE,
            8 | 9 => self.max_message_size,
            _ => MAX_COMMAND_SIZE,
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Apply the peer's Set Chunk Size (call it as soon as that message is read:
    /// the following chunks already use the new size).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
            return Err(ChunkError::BadChunkSize(size));
        }
        self.chunk_size = size as usize;
        Ok(())
    }

    /// Drop the half-received message on chunk stream `csid` (Abort Message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(cs) = self.streams.get_mut(&csid) {
            self.buffered -= cs.partial.len();
            cs.partial.clear();
            cs.head.in_message = false;
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<RtmpMessage>, ChunkError> {
        loop {
            match self.next_chunk()? {
                ChunkOutcome::NeedMore => return Ok(None),
                ChunkOutcome::Message(m) => return Ok(Some(m)),
                ChunkOutcome::Partial => continue,
            }
        }
    }

    /// Parse one chunk from the buffer if it is complete.
    fn next_chunk(&mut self) -> Result<ChunkOutcome, ChunkError> {
        let data = &self.buf[self.pos..];
        let Some(&b0) = data.first() else {
            return Ok(ChunkOutcome::NeedMore);
        };
        let fmt = b0 >> 6;
        let (csid, mut n) = match b0 & 0x3f {
            0 => match data.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Ok(ChunkOutcome::NeedMore),
            },
            1 => match (data.get(1), data.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
                _ => return Ok(ChunkOutcome::NeedMore),
            },
            c => (u32::from(c), 1),
        };
        let header_len = [11, 7, 3, 0][fmt as usize];
        if data.len() < n + header_len {
            return Ok(ChunkOutcome::NeedMore);
        }
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(ChunkError::TooManyChunkStreams {
                csid,
                max: MAX_CHUNK_STREAMS,
            });
        }
        let prev = self.streams.get(&csid).map(|s| s.head).unwrap_or_default();
        let have = self.streams.get(&csid).map_or(0, |s| s.partial.len());
        if fmt != 0 && !prev.has_header {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        if fmt != 3 && prev.in_message {
            return Err(ChunkError::InterleavedHeader { csid, fmt });
        }
        let h = &data[n..n + header_len];
        let mut cs = prev;
        let mut ts_field = 0u32;
        if fmt <= 2 {
            ts_field = be24(&h[0..3]);
        }
        if fmt <= 1 {
            cs.length = be24(&h[3..6]) as usize;
            cs.type_id = h[6];
        }
        if fmt == 0 {
            cs.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
        }
        n += header_len;
        let first_of_message = !cs.in_message;
        if fmt <= 2 {
            cs.extended = ts_field == 0xFF_FFFF;
        }
        if cs.extended {
            let Some(ext) = data.get(n..n + 4) else {
                return Ok(ChunkOutcome::NeedMore);
            };
            let ext = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            if fmt <= 2 || first_of_message || ext == cs.extended_value {
                // SRS's rule: a continuation chunk carries the extended field only
                // if it repeats the header's value; some encoders omit it.
                n += 4;
                ts_field = ext;
                cs.extended_value = ext;
            } else {
                ts_field = cs.extended_value;
            }
        }
        if first_of_message {
            match fmt {
                0 => {
                    cs.timestamp = ts_field;
                    cs.delta = ts_field;
                }
                1 | 2 => {
                    cs.delta = ts_field;
                    cs.timestamp = cs.timestamp.wrapping_add(ts_field);
                }
                _ => cs.timestamp = cs.timestamp.wrapping_add(cs.delta),
            }
            let max = self.max_len(cs.type_id);
            if cs.length > max {
                return Err(ChunkError::MessageTooLarge {
                    type_id: cs.type_id,
                    len: cs.length,
                    max,
                });
            }
        }
        let want = (cs.length - have).min(self.chunk_size);
        if data.len() < n + want {
            return Ok(ChunkOutcome::NeedMore);
        }
        let limit = self.max_message_size + MAX_COMMAND_SIZE;
        if self.buffered + want > limit {
            return Err(ChunkError::TooMuchBuffered {
                bytes: self.buffered + want,
                max: limit,
            });
        }
        cs.has_header = true;
        let stream = self.streams.entry(csid).or_default();
        stream.partial.extend_from_slice(&data[n..n + want]);
        self.pos += n + want;
        let outcome = if have + want == cs.length {
            self.buffered -= have;
            cs.in_message = false;
            ChunkOutcome::Message(RtmpMessage {
                csid,
                timestamp: cs.timestamp,
                type_id: cs.type_id,
                stream_id: cs.stream_id,
                payload: std::mem::take(&mut stream.partial),
            })
        } else {
            self.buffered += want;
            cs.in_message = true;
            ChunkOutcome::Partial
        };
        stream.head = cs;
        Ok(outcome)
    }
}

/// What one chunk did.
enum ChunkOutcome {
    NeedMore,
    Partial,
    Message(RtmpMessage),
}

fn be24(b: &[u8]) -> u32 {
    u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2])
}

/// Append `payload` as one message on chunk stream `csid`: a fmt 0 chunk then
/// fmt 3 continuations, each at most `chunk_size` bytes of payload. Timestamps
/// of 0xFFFFFF and above go in the extended field, repeated in every fmt 3
/// chunk (what FFmpeg and SRS expect).
///
/// `csid` must be in 2..=65599 and `payload` shorter than 16 MiB; both come
/// from our own code, not from the peer.
pub fn write_message(
    out: &mut Vec<u8>,
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    debug_assert!((2..=65_599).contains(&csid));
    debug_assert!(payload.len() < 1 << 24);
    let extended = timestamp >= 0xFF_FFFF;
    let ts_field = if extended { 0xFF_FFFF } else { timestamp };
    let len = payload.len() as u32;
    write_basic_header(out, 0, csid);
    out.extend_from_slice(&ts_field.to_be_bytes()[1..]);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if extended {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    let mut chunks = payload.chunks(chunk_size.max(1));
    if let Some(first) = chunks.next() {
        out.extend_from_slice(first);
    }
    for c in chunks {
        write_basic_header(out, 3, csid);
        if extended {
            out.extend_from_slice(&timestamp.to_be_bytes());
        }
        out.extend_from_slice(c);
    }
}

fn write_basic_header(out: &mut Vec<u8>, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.push(fmt << 6 | csid as u8),
        64..=319 => out.extend_from_slice(&[fmt << 6, (csid - 64) as u8]),
        _ => {
            let v = csid - 64;
            out.extend_from_slice(&[fmt << 6 | 1, v as u8, (v >> 8) as u8]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut ChunkDecoder) -> Vec<RtmpMessage> {
        let mut v = Vec::new();
        while let Some(m) = dec.next_message().unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn round_trip_with_all_csid_forms() {
        for csid in [3u32, 63, 64, 319, 320, 65_599] {
            let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
            let mut wire = Vec::new();
            write_message(&mut wire, csid, 1234, 9, 1, &payload, 128);
            let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
            dec.push(&wire);
            let msgs = decode_all(&mut dec);
            assert_eq!(msgs.len(), 1, "csid {csid}");
            assert_eq!(msgs[0].csid, csid);
            assert_eq!(msgs[0].timestamp, 1234);
            assert_eq!(msgs[0].type_id, 9);
            assert_eq!(msgs[0].stream_id, 1);
            assert_eq!(msgs[0].payload, payload);
        }
    }

    #[test]
    fn byte_by_byte_with_extended_timestamps() {
        let mut wire = Vec::new();
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
        write_message(&mut wire, 6, 0x0100_0000, 9, 1, &big, 128);
        write_message(&mut wire, 6, 0xFF_FFFF, 8, 1, b"audio", 128);
        write_message(&mut wire, 4, 7, 20, 0, b"cmd", 128);
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        let mut msgs = Vec::new();
        for b in &wire {
            dec.push(std::slice::from_ref(b));
            msgs.extend(decode_all(&mut dec));
        }
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].timestamp, 0x0100_0000);
        assert_eq!(msgs[0].payload, big);
        assert_eq!(msgs[1].timestamp, 0xFF_FFFF);
        assert_eq!(msgs[1].payload, b"audio");
        assert_eq!((msgs[2].csid, msgs[2].timestamp), (4, 7));
    }

    #[test]
    fn extended_timestamp_omitted_in_continuations() {
        // Some encoders leave the extended field out of fmt 3 continuation chunks.
        let payload = vec![0xAAu8; 200];
        let mut wire = vec![0x06, 0xff, 0xff, 0xff, 0, 0, 200, 9, 1, 0, 0, 0];
        wire.extend_from_slice(&0x0200_0000u32.to_be_bytes());
        wire.extend_from_slice(&payload[..128]);
        wire.push(0xC6);
        wire.extend_from_slice(&payload[128..]);
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&wire);
        let msgs = decode_all(&mut dec);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].timestamp, 0x0200_0000);
        assert_eq!(msgs[0].payload, payload);
    }

    #[test]
    fn compressed_headers_and_deltas() {
        // fmt 0 at t=1000, fmt 1 delta 40 (new length/type), fmt 2 delta 20, fmt 3 (repeat delta 20).
        let mut wire = vec![0x04, 0, 0x03, 0xE8, 0, 0, 2, 8, 1, 0, 0, 0, b'a', b'b'];
        wire.extend_from_slice(&[0x44, 0, 0, 40, 0, 0, 3, 9, b'c', b'd', b'e']);
        wire.extend_from_slice(&[0x84, 0, 0, 20, b'f', b'g', b'h']);
        wire.extend_from_slice(&[0xC4, b'i', b'j', b'k']);
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&wire);
        let msgs = decode_all(&mut dec);
        let got: Vec<(u32, u8, &[u8])> = msgs
            .iter()
            .map(|m| (m.timestamp, m.type_id, m.payload.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1000, 8, &b"ab"[..]),
                (1040, 9, &b"cde"[..]),
                (1060, 9, &b"fgh"[..]),
                (1080, 9, &b"ijk"[..]),
            ]
        );
        assert!(msgs.iter().all(|m| m.stream_id == 1));
    }

    #[test]
    fn chunk_size_change_applies_to_following_chunks() {
        let payload = vec![7u8; 3000];
        let mut wire = Vec::new();
        write_message(&mut wire, 6, 0, 9, 1, &payload, 4096);
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&wire);
        // At 128 the decoder expects a continuation after 128 bytes: mis-parses.
        dec.set_chunk_size(4096).unwrap();
        let msgs = decode_all(&mut dec);
        assert_eq!(msgs[0].payload.len(), 3000);
    }

    #[test]
    fn abort_drops_the_partial_message() {
        let mut dec = ChunkDecoder::new(1000);
        let mut wire = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        wire.extend(vec![0; 128]);
        dec.push(&wire);
        assert_eq!(dec.next_message(), Ok(None));
        dec.abort(6);
        let mut next = Vec::new();
        write_message(&mut next, 6, 5, 8, 1, b"new", 128);
        dec.push(&next);
        assert_eq!(dec.next_message().unwrap().unwrap().payload, b"new");
        assert_eq!(dec.buffered, 0);
    }

    #[test]
    fn bad_chunk_sizes() {
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(dec.set_chunk_size(0), Err(ChunkError::BadChunkSize(0)));
        assert_eq!(dec.set_chunk_size(127), Err(ChunkError::BadChunkSize(127)));
        assert_eq!(
            dec.set_chunk_size(65_537),
            Err(ChunkError::BadChunkSize(65_537))
        );
        assert!(dec.set_chunk_size(65_536).is_ok());
    }

    #[test]
    fn oversized_message_is_refused() {
        let mut dec = ChunkDecoder::new(1000);
        dec.push(&[0x06, 0, 0, 0, 0, 0x03, 0xE9, 9, 1, 0, 0, 0]);
        assert_eq!(
            dec.next_message(),
            Err(ChunkError::MessageTooLarge {
                type_id: 9,
                len: 1001,
                max: 1000
            })
        );
    }

    #[test]
    fn commands_and_control_messages_have_small_caps() {
        // An 8 MiB AMF0 command used to be reassembled, then decoded.
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&[0x03, 0, 0, 0, 0x80, 0, 0, 20, 0, 0, 0, 0]);
        assert_eq!(
            dec.next_message(),
            Err(ChunkError::MessageTooLarge {
                type_id: 20,
                len: 8 * 1024 * 1024,
                max: MAX_COMMAND_SIZE
            })
        );
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&[0x02, 0, 0, 0, 0, 0, 65, 1, 0, 0, 0, 0]);
        assert!(matches!(
            dec.next_message(),
            Err(ChunkError::MessageTooLarge { type_id: 1, .. })
        ));
        // A command at the cap still passes.
        let mut wire = Vec::new();
        write_message(&mut wire, 3, 0, 20, 0, &vec![5u8; MAX_COMMAND_SIZE], 128);
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        dec.push(&wire);
        assert_eq!(
            dec.next_message().unwrap().unwrap().payload.len(),
            MAX_COMMAND_SIZE
        );
    }

    #[test]
    fn buffered_counts_partial_messages_and_unparsed_input() {
        let mut dec = ChunkDecoder::new(DEFAULT_MAX_MESSAGE_SIZE);
        let mut m = Vec::new();
        write_message(&mut m, 6, 0, 9, 1, &[0u8; 1000], 128);
        dec.push(&m[..12 + 128 + 1 + 50]);
        assert_eq!(dec.next_message(), Ok(None));
        // One full chunk taken into the message, 51 bytes of the next waiting.
        assert_eq!(dec.buffered(), 128 + 51);
        dec.push(&m[12 + 128 + 1 + 50..]);
        assert_eq!(dec.next_message().unwrap().unwrap().payload.len(), 1000);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn compressed_header_first_is_refused() {
        let mut dec = ChunkDecoder::new(1000);
        dec.push(&[0x46, 0, 0, 0, 0, 0, 1, 9, 0]);
        assert_eq!(
            dec.next_message(),
            Err(ChunkError::NoPreviousHeader { csid: 6, fmt: 1 })
        );
    }

    #[test]
    fn new_header_inside_message_is_refused() {
        let mut dec = ChunkDecoder::new(1000);
        let mut wire = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        wire.extend(vec![0; 128]);
        wire.extend([0x06, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0]);
        dec.push(&wire);
        assert_eq!(
            dec.next_message(),
            Err(ChunkError::InterleavedHeader { csid: 6, fmt: 0 })
        );
    }

    #[test]
    fn too_many_chunk_streams() {
        let mut dec = ChunkDecoder::new(1000);
        let mut wire = Vec::new();
        for csid in 2..(2 + MAX_CHUNK_STREAMS as u32 + 1) {
            write_message(&mut wire, csid, 0, 8, 1, b"x", 128);
        }
        dec.push(&wire);
        let mut n = 0;
        let err = loop {
            match dec.next_message() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("expected an error"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, MAX_CHUNK_STREAMS);
        assert!(matches!(err, ChunkError::TooManyChunkStreams { .. }));
    }

    #[test]
    fn partial_messages_are_bounded() {
        // Half-sent 100 000-byte messages on different chunk streams: the
        // limit is 100 000 + 64 KiB, so the third first chunk is refused.
        let mut dec = ChunkDecoder::new(100_000);
        dec.set_chunk_size(65_536).unwrap();
        let mut wire = Vec::new();
        for csid in 3..6u32 {
            let mut m = Vec::new();
            write_message(&mut m, csid, 0, 9, 1, &[0u8; 100_000], 65_536);
            wire.extend_from_slice(&m[..12 + 65_536]);
        }
        dec.push(&wire);
        assert_eq!(
            dec.next_message(),
            Err(ChunkError::TooMuchBuffered {
                bytes: 3 * 65_536,
                max: 100_000 + MAX_COMMAND_SIZE
            })
        );
    }
}
