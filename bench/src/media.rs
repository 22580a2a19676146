//! The media a virtual publisher sends: an H.264 + Opus clip made once with
//! ffmpeg into a cache directory, split into frames and packetized into RTP
//! payloads (RFC 6184 single NAL / STAP-A / FU-A; Opus 20 ms frames from Ogg).
//!
//! The clip is packetized once and shared by every publisher; each publisher
//! only adds its own RTP header (seq, timestamp, marker, SSRC) and a send-time
//! trailer (see [`TRAILER_LEN`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// Largest RTP payload we produce, before the 12-byte trailer (keeps the
/// SRTP packet under 1,200 bytes, as browsers do).
pub const MAX_PAYLOAD: usize = 1100;
/// Bytes appended to every payload: `SFB1` + u64 little-endian nanoseconds
/// since the harness started. The server forwards payloads untouched, so the
/// subscriber (the same process) reads its own send time back.
pub const TRAILER_LEN: usize = 12;
/// The trailer's magic.
pub const TRAILER_MAGIC: &[u8; 4] = b"SFB1";
/// Video frame rate of the clip (90 kHz ticks per frame = 3000).
pub const FPS: u32 = 30;

/// One video frame: its RTP payloads (marker goes on the last one).
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// RTP payloads in send order.
    pub payloads: Vec<Vec<u8>>,
    /// Whether the frame holds an IDR slice.
    pub keyframe: bool,
}

/// The packetized clip shared by all publishers.
#[derive(Debug)]
pub struct Clip {
    /// Video frames at [`FPS`].
    pub video: Vec<VideoFrame>,
    /// Opus packets, 20 ms each.
    pub audio: Vec<Vec<u8>>,
}

impl Clip {
    /// Loads the clip from `dir`, making it with ffmpeg first if missing.
    /// `kbps` is the video bit rate, `secs` the clip length.
    pub fn load_or_make(dir: &Path, kbps: u32, secs: u32) -> anyhow::Result<Clip> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let video = dir.join(format!("testsrc2-noise-640x360-{kbps}k-{secs}s.h264"));
        let audio = dir.join(format!("sine-48k-cbr-{secs}s.opus.ogg"));
        if !video.exists() {
            let rate = format!("{kbps}k");
            let buf = format!("{}k", kbps / 2);
            let dur = secs.to_string();
            ffmpeg(
                &video,
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=640x360:rate=30",
                    "-t",
                    &dur,
                    "-vf",
                    "noise=alls=12:allf=t",
                    "-c:v",
                    "libx264",
                    "-pix_fmt",
                    "yuv420p",
                    "-profile:v",
                    "baseline",
                    "-bf",
                    "0",
                    "-g",
                    "30",
                    "-b:v",
                    &rate,
                    "-maxrate",
                    &rate,
                    "-bufsize",
                    &buf,
                    "-x264-params",
                    "repeat-headers=1",
                    "-f",
                    "h264",
                ],
            )?;
        }
        if !audio.exists() {
            let dur = secs.to_string();
            ffmpeg(
                &audio,
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=48000",
                    "-t",
                    &dur,
                    "-ac",
                    "2",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "48k",
                    "-vbr",
                    "off",
                    "-frame_duration",
                    "20",
                    "-f",
                    "ogg",
                ],
            )?;
        }
        let h264 = std::fs::read(&video).with_context(|| format!("reading {}", video.display()))?;
        let ogg = std::fs::read(&audio).with_context(|| format!("reading {}", audio.display()))?;
        let clip = Clip {
            video: packetize_h264(&h264),
            audio: opus_packets(&ogg)?,
        };
        if clip.video.is_empty() || !clip.video[0].keyframe || clip.audio.is_empty() {
            bail!(
                "clip in {} has no keyframe-first video or no audio",
                dir.display()
            );
        }
        Ok(clip)
    }

    /// Average payload bytes per second of video and audio (for the log).
    pub fn bitrates_kbps(&self) -> (f64, f64) {
        let v: usize = self
            .video
            .iter()
            .flat_map(|f| &f.payloads)
            .map(Vec::len)
            .sum();
        let a: usize = self.audio.iter().map(Vec::len).sum();
        let vs = self.video.len() as f64 / f64::from(FPS);
        let as_ = self.audio.len() as f64 * 0.02;
        (v as f64 * 8.0 / vs / 1000.0, a as f64 * 8.0 / as_ / 1000.0)
    }
}

/// The default cache directory for clips.
pub fn default_dir() -> PathBuf {
    std::env::var_os("SHARDSFU_BENCH_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("shardsfu-bench-media"))
}

/// Runs ffmpeg writing to a temporary name, then renames (concurrent runs are safe).
fn ffmpeg(out: &Path, args: &[&str]) -> anyhow::Result<()> {
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&tmp)
        .status()
        .context("running ffmpeg (install it with scripts/install-test-deps)")?;
    if !st.success() {
        bail!("ffmpeg failed ({st}) making {}", out.display());
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// Splits Annex B into NAL units (start codes removed).
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        // A 4-byte start code leaves one zero byte at the end of the previous NAL.
        while end > s && data[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        if end > s {
            nals.push(&data[s..end]);
        }
    }
    nals
}

/// Groups NAL units into frames and packetizes each frame.
pub fn packetize_h264(data: &[u8]) -> Vec<VideoFrame> {
    let mut frames: Vec<Vec<&[u8]>> = Vec::new();
    let mut pending: Vec<&[u8]> = Vec::new();
    for nal in split_annex_b(data) {
        let ty = nal[0] & 0x1f;
        match ty {
            9 => {} // access unit delimiter: not sent
            1 | 5 => {
                // first_mb_in_slice == 0 (ue(v) "1") starts a new picture.
                let first = nal.get(1).is_some_and(|b| b & 0x80 != 0);
                if first || frames.is_empty() {
                    pending.push(nal);
                    frames.push(std::mem::take(&mut pending));
                } else if let Some(f) = frames.last_mut() {
                    f.push(nal);
                }
            }
            _ => pending.push(nal),
        }
    }
    frames
        .into_iter()
        .map(|nals| packetize_frame(&nals))
        .collect()
}

/// RFC 6184 payloads of one frame: SPS+PPS in one STAP-A, other NALs single
/// or FU-A fragmented.
fn packetize_frame(nals: &[&[u8]]) -> VideoFrame {
    let keyframe = nals.iter().any(|n| n[0] & 0x1f == 5);
    let mut payloads = Vec::new();
    let params: Vec<&[u8]> = nals
        .iter()
        .copied()
        .filter(|n| matches!(n[0] & 0x1f, 7 | 8))
        .collect();
    let stap_len: usize = 1 + params.iter().map(|n| 2 + n.len()).sum::<usize>();
    if params.len() >= 2 && stap_len <= MAX_PAYLOAD {
        let nri = params.iter().map(|n| n[0] & 0x60).max().unwrap_or(0x60);
        let mut p = vec![nri | 24];
        for n in &params {
            p.extend_from_slice(&(n.len() as u16).to_be_bytes());
            p.extend_from_slice(n);
        }
        payloads.push(p);
    }
    for n in nals {
        let ty = n[0] & 0x1f;
        if matches!(ty, 7 | 8) && params.len() >= 2 && stap_len <= MAX_PAYLOAD {
            continue;
        }
        if n.len() <= MAX_PAYLOAD {
            payloads.push(n.to_vec());
            continue;
        }
        let indicator = (n[0] & 0xe0) | 28;
        let body = &n[1..];
        let chunks = body.chunks(MAX_PAYLOAD - 2);
        let count = chunks.len();
        for (k, c) in chunks.enumerate() {
            let mut fu = ty;
            if k == 0 {
                fu |= 0x80;
            }
            if k + 1 == count {
                fu |= 0x40;
            }
            let mut p = Vec::with_capacity(c.len() + 2);
            p.push(indicator);
            p.push(fu);
            p.extend_from_slice(c);
            payloads.push(p);
        }
    }
    VideoFrame { payloads, keyframe }
}

/// The Opus packets of an Ogg Opus file (OpusHead and OpusTags skipped).
pub fn opus_packets(ogg: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut packets = Vec::new();
    let mut cur = Vec::new();
    let mut pos = 0;
    while pos + 27 <= ogg.len() {
        if &ogg[pos..pos + 4] != b"OggS" {
            bail!("no Ogg page at byte {pos}");
        }
        let nseg = usize::from(ogg[pos + 26]);
        let table = ogg
            .get(pos + 27..pos + 27 + nseg)
            .context("truncated Ogg segment table")?;
        let mut body = pos + 27 + nseg;
        for &len in table {
            let len = usize::from(len);
            cur.extend_from_slice(ogg.get(body..body + len).context("truncated Ogg page")?);
            body += len;
            if len < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        pos = body;
    }
    // The first two packets are OpusHead and OpusTags.
    Ok(packets
        .into_iter()
        .skip(2)
        .filter(|p| !p.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splits_and_frames_packetize() {
        let sps = [0x67, 0x42, 0, 0x1f];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut idr = vec![0x65, 0x88];
        idr.extend(std::iter::repeat_n(0xab, 3000));
        let p = [0x41, 0x9a, 1, 2, 3];
        let mut data = Vec::new();
        for n in [&sps[..], &pps[..], &idr[..], &p[..]] {
            data.extend_from_slice(&[0, 0, 0, 1]);
            data.extend_from_slice(n);
        }
        let frames = packetize_h264(&data);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        let f0 = &frames[0].payloads;
        assert_eq!(f0[0][0] & 0x1f, 24, "STAP-A first");
        assert_eq!(f0[1][0] & 0x1f, 28, "FU-A for the big IDR");
        assert_eq!(f0[1][1], 0x80 | 5);
        assert_eq!(f0.last().unwrap()[1], 0x40 | 5);
        let total: usize = f0[1..].iter().map(|p| p.len() - 2).sum();
        assert_eq!(total, idr.len() - 1);
        assert_eq!(frames[1].payloads, vec![p.to_vec()]);
    }

    #[test]
    fn ogg_pages_give_packets() {
        let mut page = b"OggS".to_vec();
        page.extend_from_slice(&[0; 22]);
        page.push(4);
        page.extend_from_slice(&[8, 8, 255, 3]);
        page.extend_from_slice(b"OpusHeadOpusTags");
        page.extend(std::iter::repeat_n(7u8, 258));
        let p = opus_packets(&page).unwrap();
        assert_eq!(p, vec![vec![7u8; 258]]);
        assert!(opus_packets(b"OggX00000000000000000000000000").is_err());
    }
}
