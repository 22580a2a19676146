//! Audio transcoding for the bridges, on worker threads: AAC → Opus (RTMP →
//! RTC) and Opus → AAC (RTC → RTMP), with codecs that build from crates
//! alone (see docs/live.md, "Codec libraries", for the choice and licences):
//!
//! - [`codecs`]: Opus (`unsafe-libopus`), AAC decode (`symphonia-codec-aac`),
//!   AAC-LC encode (`fdk-aac`, cargo feature `fdk-aac`, on by default);
//! - [`resample`]: any input rate to 48 kHz (`rubato`);
//! - [`pipeline`]: the sans-IO transcoder of one stream (timestamps, FIFO);
//! - this file: the worker thread around it.
//!
//! One thread per transcoded stream, fed through a bounded crossbeam queue:
//! when a stream cannot keep up its queue fills and its own input frames are
//! dropped (counted); no shard ever waits on a codec.

mod codecs;
mod pipeline;
mod resample;

pub use codecs::AscInfo;
use pipeline::Transcoder;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::TrySendError;

/// Input frames a worker may have queued before new ones are dropped.
pub const INPUT_QUEUE: usize = 64;
/// Encoded frames waiting for the shard before the worker drops its output.
pub const OUTPUT_QUEUE: usize = 256;

/// Why a transcoder could not start, or a frame was skipped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// This build has no AAC encoder (cargo feature `fdk-aac` off).
    #[error("no AAC encoder in this build (built without the `fdk-aac` feature)")]
    NoAacEncoder,
    /// The AudioSpecificConfig cannot be read or decoded.
    #[error("AAC AudioSpecificConfig {config:?}: {reason}")]
    BadAacConfig {
        /// The configuration, in hex.
        config: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// libopus refused a setting or a frame.
    #[error("libopus {call}: {text} ({code})")]
    Opus {
        /// The libopus function.
        call: &'static str,
        /// Its error code.
        code: i32,
        /// libopus's text for the code.
        text: String,
    },
    /// The FDK AAC encoder refused a setting or a frame.
    #[error("FDK AAC {call}: {error}")]
    Aac {
        /// The FDK function.
        call: &'static str,
        /// Its error.
        error: String,
    },
    /// The AAC decoder refused a frame.
    #[error("AAC frame not decoded: {0}")]
    Decode(String),
    /// The resampler cannot convert between these rates.
    #[error("cannot resample {from} Hz to {to} Hz: {error}")]
    Resampler {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's error.
        error: String,
    },
    /// The worker thread could not be started.
    #[error("cannot start the transcoding thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Which way a worker transcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// AAC (any rate) in, 48 kHz stereo Opus out (20 ms frames).
    AacToOpus,
    /// Opus in, 48 kHz stereo AAC-LC out (1024-sample frames).
    OpusToAac,
}

/// One encoded frame out of a worker.
#[derive(Debug, Clone)]
pub struct AudioOut {
    /// The encoded frame (raw AAC or one Opus packet).
    pub data: Bytes,
    /// Presentation time in 1/48000 s.
    pub pts: i64,
}

struct Job {
    data: Bytes,
    /// Input time in 1/48000 s.
    pts: i64,
}

/// A transcoding thread; dropping it ends the thread.
pub struct AudioWorker {
    tx: crossbeam_channel::Sender<Job>,
    rx: flume::Receiver<AudioOut>,
    /// Input frames dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
    /// Encoded frames dropped because nobody read [`AudioWorker::output`]
    /// (only with [`AudioWorker::spawn`]; a sink decides for itself).
    pub dropped_output: Arc<AtomicU64>,
    /// The encoder's codec configuration (AAC AudioSpecificConfig), if any.
    pub extradata: Bytes,
    /// CPU time the thread has used, in nanoseconds.
    pub cpu_ns: Arc<AtomicU64>,
}

impl AudioWorker {
    /// Starts a worker. `config` is the input's codec configuration (the
    /// AudioSpecificConfig for AAC; empty for Opus); `bitrate` the output's;
    /// `name` the stream's, for log lines.
    /// Encoded frames come out of [`AudioWorker::output`].
    pub fn spawn(
        dir: Direction,
        config: &[u8],
        bitrate: u32,
        name: &str,
    ) -> Result<Self, TranscodeError> {
        let (out_tx, rx) = flume::bounded(OUTPUT_QUEUE);
        let dropped_output = Arc::new(AtomicU64::new(0));
        let counter = dropped_output.clone();
        let sink = move |o: AudioOut| match out_tx.try_send(o) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                counter.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        };
        let mut w = Self::start(dir, config, bitrate, name, rx, Box::new(sink))?;
        w.dropped_output = dropped_output;
        Ok(w)
    }

    /// Like [`AudioWorker::spawn`], but the worker thread hands each encoded
    /// frame to `sink` (which returns false to stop the worker).
    pub fn spawn_with_sink(
        dir: Direction,
        config: &[u8],
        bitrate: u32,
        name: &str,
        sink: Box<dyn FnMut(AudioOut) -> bool + Send>,
    ) -> Result<Self, TranscodeError> {
        let (_, rx) = flume::bounded(1);
        Self::start(dir, config, bitrate, name, rx, sink)
    }

    fn start(
        dir: Direction,
        config: &[u8],
        bitrate: u32,
        name: &str,
        rx: flume::Receiver<AudioOut>,
        mut sink: Box<dyn FnMut(AudioOut) -> bool + Send>,
    ) -> Result<Self, TranscodeError> {
        let mut t = Transcoder::new(dir, config, bitrate, name)?;
        let extradata = t.extradata();
        let (tx, jobs) = crossbeam_channel::bounded::<Job>(INPUT_QUEUE);
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let cpu = cpu_ns.clone();
        let stream = name.to_owned();
        std::thread::Builder::new()
            .name(format!("transcode-{dir:?}"))
            .spawn(move || {
                for job in jobs {
                    let out = match t.transcode(&job.data, job.pts) {
                        Ok(out) => out,
                        Err(e) => {
                            tracing::debug!(stream, "transcode: frame skipped: {e}");
                            continue;
                        }
                    };
                    for o in out {
                        if !sink(o) {
                            return;
                        }
                    }
                    cpu.store(thread_cpu_ns(), Ordering::Relaxed);
                }
            })?;
        Ok(Self {
            tx,
            rx,
            dropped: Arc::new(AtomicU64::new(0)),
            dropped_output: Arc::new(AtomicU64::new(0)),
            extradata,
            cpu_ns,
        })
    }

    /// Queues one input frame with its time in milliseconds; dropped (and
    /// counted) when the worker is behind.
    pub fn push(&self, data: Bytes, ts_ms: i64) {
        self.push_at(data, ts_ms * 48)
    }

    /// Queues one input frame with its time in 1/48000 s.
    pub fn push_at(&self, data: Bytes, pts: i64) {
        match self.tx.try_send(Job { data, pts }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The encoded frames, in order.
    pub fn output(&self) -> flume::Receiver<AudioOut> {
        self.rx.clone()
    }
}

/// CPU time of the calling thread.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests;
