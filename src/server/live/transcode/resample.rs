//! Sample-rate conversion of interleaved stereo to 48 kHz (rubato's FFT
//! resampler, pure Rust), with the resampler's delay trimmed so that output
//! sample 0 is input sample 0.

use rubato::{FftFixedIn, Resampler as _};

use super::codecs::CHANNELS;
use super::TranscodeError;

/// Input frames per resampler call (one AAC frame).
const CHUNK: usize = 1024;

/// A stereo resampler from one fixed rate to another (a copy when equal).
pub(super) struct Resampler {
    inner: Option<FftFixedIn<f32>>,
    /// Input waiting for a full chunk, per channel.
    pending: [Vec<f32>; CHANNELS],
    /// Output frames still to drop after a start or reset (the delay).
    trim: usize,
    out: Vec<Vec<f32>>,
    from: u32,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub(super) fn new(from: u32, to: u32) -> Result<Self, TranscodeError> {
        let inner = if from == to {
            None
        } else {
            let r =
                FftFixedIn::new(from as usize, to as usize, CHUNK, 2, CHANNELS).map_err(|e| {
                    TranscodeError::Resampler {
                        from,
                        to,
                        error: e.to_string(),
                    }
                })?;
            Some(r)
        };
        let mut r = Self {
            trim: 0,
            out: Vec::new(),
            pending: Default::default(),
            inner,
            from,
        };
        r.reset();
        Ok(r)
    }

    /// The input rate.
    pub(super) fn input_rate(&self) -> u32 {
        self.from
    }

    /// Forgets buffered input (after a gap in the input's timeline).
    pub(super) fn reset(&mut self) {
        self.pending.iter_mut().for_each(Vec::clear);
        if let Some(r) = &mut self.inner {
            r.reset();
            self.trim = r.output_delay();
            self.out = vec![vec![0.0; r.output_frames_max()]; CHANNELS];
        }
    }

    /// Input frames buffered but not yet converted, counted at rate `to`.
    #[cfg(test)]
    pub(super) fn pending_at(&self, to: u32) -> i64 {
        self.pending[0].len() as i64 * i64::from(to) / i64::from(self.from)
    }

    /// Converts interleaved stereo `input`, appending interleaved stereo to `out`.
    pub(super) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(r) = &mut self.inner else {
            out.extend_from_slice(input);
            return;
        };
        for f in input.chunks_exact(CHANNELS) {
            for (c, p) in self.pending.iter_mut().enumerate() {
                p.push(f[c]);
            }
        }
        while self.pending[0].len() >= r.input_frames_next() {
            let n_in = r.input_frames_next();
            let (_, n_out) = match r.process_into_buffer(&self.pending, &mut self.out, None) {
                Ok(n) => n,
                // Buffers are sized from the resampler's own figures, so this
                // cannot happen; drop the input rather than panic.
                Err(_) => (n_in, 0),
            };
            self.pending.iter_mut().for_each(|p| {
                p.drain(..n_in);
            });
            let skip = self.trim.min(n_out);
            self.trim -= skip;
            for i in skip..n_out {
                out.extend(self.out.iter().map(|plane| plane[i]));
            }
        }
    }
}
