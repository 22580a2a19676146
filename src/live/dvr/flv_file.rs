//! An FLV recording: the FLV header, an `onMetaData` of our own whose
//! `duration` is filled in when the file is finished, then the stream's
//! audio and video tags (the publisher's own script tags are left out: the
//! duration they carry is that of a live stream, 0).

use std::io::{Seek, SeekFrom, Write};

use super::{DvrError, Jitter};
use crate::config::TimeJitter;
use crate::live::flv::{FlvMuxer, FlvTag, TagKind};

/// Bytes gathered before a write to the output.
const BATCH: usize = 64 * 1024;

/// An FLV file being written.
#[derive(Debug)]
pub struct FlvFile<W: Write + Seek> {
    out: W,
    buf: Vec<u8>,
    jitter: Jitter,
    /// Offset of the `duration` double in the file.
    duration_at: u64,
    last_ms: u32,
}

/// The `onMetaData` script tag body with `duration` 0; returns it and the
/// offset of the duration's 8 bytes in it.
fn metadata() -> (Vec<u8>, usize) {
    let mut b = vec![2, 0, 10];
    b.extend_from_slice(b"onMetaData");
    b.push(8); // ECMA array
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&8u16.to_be_bytes());
    b.extend_from_slice(b"duration");
    b.push(0); // number
    let at = b.len();
    b.extend_from_slice(&0f64.to_be_bytes());
    b.extend_from_slice(&[0, 0, 9]);
    (b, at)
}

impl<W: Write + Seek> FlvFile<W> {
    /// Writes the header and the metadata to `out`.
    pub fn start(mut out: W, jitter: TimeJitter) -> Result<Self, DvrError> {
        let mut buf = Vec::with_capacity(BATCH);
        buf.extend_from_slice(&FlvMuxer::header(true, true));
        let (meta, at) = metadata();
        // The 11-byte tag header comes before the body.
        let duration_at = (buf.len() + 11 + at) as u64;
        // A metadata body is far below the FLV tag size limit.
        let _ = FlvMuxer::write_tag(&FlvTag::new(TagKind::Script, 0, meta), &mut buf);
        let start = out.stream_position()?;
        Ok(Self {
            out,
            buf,
            jitter: Jitter::new(jitter),
            duration_at: start + duration_at,
            last_ms: 0,
        })
    }

    /// Appends one tag (script tags are skipped).
    pub fn write(&mut self, tag: &FlvTag) -> Result<(), DvrError> {
        if tag.kind == TagKind::Script {
            return Ok(());
        }
        let ts = self.jitter.correct(tag);
        self.last_ms = self.last_ms.max(ts);
        let tag = FlvTag::new(tag.kind, ts, tag.data.clone());
        if FlvMuxer::write_tag(&tag, &mut self.buf).is_err() {
            // Larger than FLV allows: an RTMP message cannot be.
            return Ok(());
        }
        if self.buf.len() >= BATCH {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered and the duration; returns the output and the
    /// duration in ms.
    pub fn finish(mut self) -> Result<(W, u32), DvrError> {
        self.out.write_all(&self.buf)?;
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        let secs = f64::from(self.last_ms) / 1000.0;
        self.out.write_all(&secs.to_be_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok((self.out, self.last_ms))
    }
}
