use super::codecs::{AacDecoder, AscInfo, OpusDecoder, OpusEncoder, CHANNELS, OPUS_FRAME};
use super::resample::Resampler;
use super::*;

/// A stereo test signal at `rate`: two tones per channel (so a lag search
/// cannot lock on a period), different on the left and right.
fn signal(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (f64::from(rate) * seconds) as usize;
    let tone =
        |f: f64, i: usize| (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin();
    (0..n)
        .flat_map(|i| {
            [
                (0.3 * tone(440.0, i) + 0.2 * tone(1013.0, i)) as f32,
                (0.3 * tone(660.0, i) + 0.2 * tone(1330.0, i)) as f32,
            ]
        })
        .collect()
}

/// Best signal-to-noise ratio (dB) of `got` against `want` (both interleaved
/// stereo) over lags in `lags`, on a window in the middle of `want`; with the
/// lag: `got[i + lag] ≈ want[i]`.
fn snr_db(want: &[f32], got: &[f32], lags: std::ops::Range<i64>) -> (f64, i64) {
    let frames = want.len() / CHANNELS;
    let (start, len) = (frames / 3, frames / 3);
    let mut best = (f64::MIN, 0);
    for lag in lags {
        let (mut sig, mut noise) = (0.0f64, 0.0f64);
        for i in start..start + len {
            let j = i as i64 + lag;
            if j < 0 || (j as usize + 1) * CHANNELS > got.len() {
                noise = f64::MAX;
                break;
            }
            for c in 0..CHANNELS {
                let w = f64::from(want[i * CHANNELS + c]);
                let g = f64::from(got[j as usize * CHANNELS + c]);
                sig += w * w;
                noise += (w - g) * (w - g);
            }
        }
        let snr = 10.0 * (sig / noise.max(1e-12)).log10();
        if snr > best.0 {
            best = (snr, lag);
        }
    }
    best
}

/// Encodes 48 kHz stereo into 20 ms Opus packets with their times.
fn opus_packets(pcm: &[f32], bitrate: u32) -> Vec<(Bytes, i64)> {
    let mut enc = OpusEncoder::new(bitrate).unwrap();
    pcm.chunks_exact(OPUS_FRAME * CHANNELS)
        .enumerate()
        .map(|(i, f)| (Bytes::from(enc.encode(f).unwrap()), (i * OPUS_FRAME) as i64))
        .collect()
}

#[cfg(feature = "fdk-aac")]
fn decode_opus(frames: &[AudioOut]) -> Vec<f32> {
    let mut dec = OpusDecoder::new().unwrap();
    frames
        .iter()
        .flat_map(|f| dec.decode(&f.data).unwrap().to_vec())
        .collect()
}

#[test]
fn asc_is_read_and_he_aac_named() {
    let lc = AscInfo::parse(&[0x12, 0x10]).unwrap();
    assert_eq!(
        (lc.object_type, lc.core_rate, lc.channel_config),
        (2, 44100, 2)
    );
    assert_eq!(lc.core_only_warning(), None);
    // HE-AAC, explicit: object type 5, core 24 kHz, SBR to 48 kHz, then AAC-LC.
    let he = AscInfo::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
    assert_eq!((he.object_type, he.core_rate), (5, 24000));
    let w = he.core_only_warning().unwrap();
    assert!(w.contains("HE-AAC") && w.contains("24000 Hz"), "{w}");
    // AAC-LC at 22.05 kHz may be HE-AAC with implicit signalling.
    let low = AscInfo::parse(&[0x13, 0x90]).unwrap();
    assert!(low.core_only_warning().unwrap().contains("implicit SBR"));
    // The error names the configuration.
    let e = AscInfo::parse(&[0xff]).unwrap_err().to_string();
    assert!(e.contains("\"ff\""), "{e}");
    let e = AscInfo::parse(&[0x16, 0x90]).unwrap_err().to_string();
    assert!(e.contains("1690") && e.contains("reserved"), "{e}");
    // symphonia takes the HE-AAC configuration and decodes its core.
    assert!(AacDecoder::new(&[0x2b, 0x11, 0x88, 0x00], "t").is_ok());
    assert!(AacDecoder::new(&[0xff, 0xff], "t").is_err());
}

#[test]
fn resampler_keeps_tones_and_time() {
    let input = signal(44100, 1.0);
    let mut r = Resampler::new(44100, 48000).unwrap();
    let mut out = Vec::new();
    for chunk in input.chunks(1000 * CHANNELS) {
        r.push(chunk, &mut out);
    }
    let produced = out.len() / CHANNELS + r.pending_at(48000) as usize;
    assert!(
        produced.abs_diff(48000) < 1200,
        "{produced} frames from 1 s"
    );
    let (snr, lag) = snr_db(&signal(48000, 1.0), &out, -50..50);
    assert!(snr > 40.0, "SNR {snr:.1} dB");
    assert!(lag.abs() <= 2, "delay trimmed: lag {lag}");
}

#[test]
fn opus_round_trip_is_clean() {
    let pcm = signal(48000, 1.0);
    let packets = opus_packets(&pcm, 64000);
    let mut dec = OpusDecoder::new().unwrap();
    let out: Vec<f32> = packets
        .iter()
        .flat_map(|(p, _)| dec.decode(p).unwrap().to_vec())
        .collect();
    let (snr, _) = snr_db(&pcm, &out, 0..1000);
    assert!(snr >= 20.0, "SNR {snr:.1} dB");
    assert!(dec.decode(&[0xff; 3]).is_err(), "a bad packet is an error");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut t = Transcoder::new(Direction::AacToOpus, &[0x12, 0x10], 64000, "t").unwrap();
    for junk in [&[1u8, 2, 3][..], &[0xff; 40], &[0; 1]] {
        let _ = t.transcode(junk, 0);
    }
    assert!(Transcoder::new(Direction::AacToOpus, &[], 64000, "t").is_err());
}

#[test]
fn random_input_never_panics() {
    let mut aac = Transcoder::new(Direction::AacToOpus, &[0x11, 0x90], 64000, "t").unwrap();
    let mut opus = OpusDecoder::new().unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..3000usize {
        let junk: Vec<u8> = (0..(i % 200) + 1)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = aac.transcode(&junk, (i * 1024) as i64);
        let _ = opus.decode(&junk);
    }
}

#[cfg(not(feature = "fdk-aac"))]
#[test]
fn without_fdk_there_is_no_aac_encoder() {
    let e = Transcoder::new(Direction::OpusToAac, &[], 64000, "t").err();
    assert!(matches!(e, Some(TranscodeError::NoAacEncoder)));
}

#[cfg(feature = "fdk-aac")]
mod with_aac_encoder {
    use super::super::codecs::AacEncoder;
    use super::*;

    /// Raw AAC access units (and their AudioSpecificConfig) of `pcm` at `rate`.
    /// Also gives the encoder's delay, in 1/48000 s.
    fn aac_frames(pcm: &[f32], rate: u32, bitrate: u32) -> (Vec<(Bytes, i64)>, Vec<u8>, i64) {
        let mut enc = AacEncoder::with_rate(bitrate, rate).unwrap();
        let mut out = Vec::new();
        for f in pcm.chunks_exact(AacEncoder::FRAME * CHANNELS) {
            if let Some(au) = enc.encode(f).unwrap() {
                // 1/48000 s, from RTMP's milliseconds as the bridge does.
                let ms = (out.len() * AacEncoder::FRAME) as i64 * 1000 / i64::from(rate);
                out.push((Bytes::from(au), ms * 48));
            }
        }
        let delay = enc.delay as i64 * 48000 / i64::from(rate);
        (out, enc.asc.clone(), delay)
    }

    fn decode_aac(frames: &[AudioOut], asc: &[u8]) -> Vec<f32> {
        let mut dec = AacDecoder::new(asc, "t").unwrap();
        frames
            .iter()
            .flat_map(|f| dec.decode(&f.data).unwrap().0.to_vec())
            .collect()
    }

    #[test]
    fn aac_to_opus_keeps_the_signal_and_time() {
        let input = signal(44100, 2.0);
        let (aac, asc, aac_delay) = aac_frames(&input, 44100, 128_000);
        let mut t = Transcoder::new(Direction::AacToOpus, &asc, 64000, "t").unwrap();
        assert!(t.extradata().is_empty());
        let out: Vec<AudioOut> = aac
            .iter()
            .flat_map(|(f, pts)| t.transcode(f, *pts).unwrap())
            .collect();
        assert!(out.len() >= 95, "{} Opus frames from 2 s", out.len());
        for w in out.windows(2) {
            assert_eq!(w[1].pts - w[0].pts, 960, "20 ms apart");
        }
        let pcm = decode_opus(&out);
        assert_eq!(pcm.len(), out.len() * OPUS_FRAME * CHANNELS);
        let (snr, lag) = snr_db(&signal(48000, 2.0), &pcm, 0..6000);
        assert!(snr >= 20.0, "SNR {snr:.1} dB (lag {lag})");
        // The output times say where each sample was in the input, once the
        // test's own AAC encoder delay is taken off (the transcoder takes off
        // its Opus encoder's lookahead).
        let err = out[0].pts + lag - aac[0].1 - aac_delay;
        eprintln!("AAC->Opus: SNR {snr:.1} dB, lag {lag}, time error {err} samples");
        assert!(err.abs() <= 48, "time error {err} samples");
    }

    #[test]
    fn opus_to_aac_keeps_the_signal_and_time() {
        let input = signal(48000, 2.0);
        let packets = opus_packets(&input, 96000);
        let mut t = Transcoder::new(Direction::OpusToAac, &[], 128_000, "t").unwrap();
        let asc = t.extradata();
        assert_eq!(
            AscInfo::parse(&asc).unwrap(),
            AscInfo {
                object_type: 2,
                core_rate: 48000,
                channel_config: 2
            }
        );
        let out: Vec<AudioOut> = packets
            .iter()
            .flat_map(|(p, pts)| t.transcode(p, *pts).unwrap())
            .collect();
        assert!(out.len() >= 85, "{} AAC frames from 2 s", out.len());
        for w in out.windows(2) {
            assert_eq!(w[1].pts - w[0].pts, 1024);
        }
        let pcm = decode_aac(&out, &asc);
        let (snr, lag) = snr_db(&input, &pcm, 0..6000);
        // As above: the test's Opus encoder delays by its lookahead.
        let lookahead = OpusEncoder::new(96000).unwrap().delay() as i64;
        let err = out[0].pts + lag - packets[0].1 - lookahead;
        eprintln!("Opus->AAC: SNR {snr:.1} dB, lag {lag}, time error {err} samples");
        assert!(snr >= 20.0, "SNR {snr:.1} dB (lag {lag})");
        assert!(err.abs() <= 48, "time error {err} samples");
    }

    #[test]
    fn gaps_are_filled_and_jumps_reanchor() {
        let packets = opus_packets(&signal(48000, 1.0), 64000);
        let mut t = Transcoder::new(Direction::OpusToAac, &[], 64000, "t").unwrap();
        let mut out = Vec::new();
        for (i, (p, pts)) in packets.iter().enumerate() {
            match i {
                10 => continue,                                             // one packet lost
                20..=24 => out.extend(t.transcode(p, pts + 3).unwrap()),    // jitter
                30.. => out.extend(t.transcode(p, pts + 480_000).unwrap()), // +10 s
                _ => out.extend(t.transcode(p, *pts).unwrap()),
            }
        }
        let steps: Vec<i64> = out.windows(2).map(|w| w[1].pts - w[0].pts).collect();
        let jump = steps.iter().position(|&s| s != 1024).unwrap();
        assert!(steps[jump] > 470_000, "one jump of about 10 s: {steps:?}");
        assert!(steps[jump + 1..].iter().all(|&s| s == 1024), "{steps:?}");
        // After the jump the clock restarts on the input: packet 30's time,
        // less what the encoder still held back from before.
        let first_after = out[jump + 1].pts;
        let want = packets[30].1 + 480_000;
        assert!(
            (first_after - want).abs() < 3 * 1024,
            "{first_after} vs {want}"
        );
        assert!(t.buffered() < 1024 + 960);
    }

    #[test]
    fn full_input_queue_drops_and_counts() {
        let (gate_tx, gate) = std::sync::mpsc::channel::<()>();
        let (seen_tx, seen) = std::sync::mpsc::channel::<i64>();
        // The sink blocks on its first frame until the test opens the gate.
        let sink = Box::new(move |o: AudioOut| {
            let _ = gate.recv();
            seen_tx.send(o.pts).is_ok()
        });
        let w = AudioWorker::spawn_with_sink(Direction::OpusToAac, &[], 64000, "t", sink).unwrap();
        assert!(w.extradata.len() >= 2);
        let packets = opus_packets(&signal(48000, 4.0), 64000);
        let n = packets.len() as u64;
        for (p, pts) in &packets[..8] {
            w.push_at(p.clone(), *pts);
        }
        // Wait until the worker is stuck in the sink, then flood the queue.
        std::thread::sleep(std::time::Duration::from_millis(300));
        for (p, pts) in &packets[8..] {
            w.push_at(p.clone(), *pts);
        }
        let dropped = w.dropped.load(Ordering::Relaxed);
        assert!(
            (n - 8 - INPUT_QUEUE as u64..=n - INPUT_QUEUE as u64).contains(&dropped),
            "{dropped} of {n} dropped with a queue of {INPUT_QUEUE}"
        );
        drop(gate_tx); // the sink's recv fails from now on: it never blocks again
        let mut got = 0;
        while seen.recv_timeout(std::time::Duration::from_secs(5)).is_ok() {
            got += 1;
        }
        assert!(got > 40, "the queued frames still come out: {got}");
        assert!(w.cpu_ns.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn output_queue_drops_and_counts() {
        let w = AudioWorker::spawn(Direction::OpusToAac, &[], 64000, "t").unwrap();
        let packets = opus_packets(&signal(48000, 8.0), 64000);
        for chunk in packets.chunks(INPUT_QUEUE / 2) {
            for (p, pts) in chunk {
                w.push_at(p.clone(), *pts);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = w.output();
        assert_eq!(out.len(), OUTPUT_QUEUE, "nobody read: the queue is full");
        assert!(w.dropped_output.load(Ordering::Relaxed) > 0);
        assert_eq!(w.dropped.load(Ordering::Relaxed), 0);
    }

    /// Not an assertion: CPU per transcoded stream, in release mode:
    /// `cargo test --release --lib transcode::tests -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn cpu_per_stream() {
        const SECONDS: f64 = 60.0;
        let (aac, asc, _) = aac_frames(&signal(44100, SECONDS), 44100, 128_000);
        let packets = opus_packets(&signal(48000, SECONDS), 64000);
        let run = |dir, config: &[u8], bitrate, input: &[(Bytes, i64)]| {
            let mut t = Transcoder::new(dir, config, bitrate, "bench").unwrap();
            let start = thread_cpu_ns();
            let n: usize = input
                .iter()
                .map(|(f, pts)| t.transcode(f, *pts).unwrap().len())
                .sum();
            let cpu = (thread_cpu_ns() - start) as f64 / 1e9;
            eprintln!(
                "{dir:?}: {n} frames out, {cpu:.3} s CPU for {SECONDS} s of audio = {:.2} % of a core",
                100.0 * cpu / SECONDS
            );
        };
        run(Direction::AacToOpus, &asc, 64000, &aac);
        run(Direction::OpusToAac, &[], 64000, &packets);
    }
}
