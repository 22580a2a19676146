//! A small MPEG-TS muxer (ISO 13818-1) for HLS: PAT, PMT, and PES packets of
//! H.264 (Annex-B) and AAC (ADTS), with PCR and continuity counters.
//!
//! PIDs follow SRS: PMT 0x1001, video 0x100, audio 0x101. Timestamps are
//! 90 kHz and wrap at 33 bits. The caller writes the tables at the start of
//! every segment; the continuity counters carry over between segments.

/// PID of the PMT.
pub const PMT_PID: u16 = 0x1001;
/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// Size of a TS packet.
pub const TS_PACKET_SIZE: usize = 188;

/// Stream type of H.264 in the PMT.
const STREAM_TYPE_H264: u8 = 0x1b;
/// Stream type of AAC in ADTS in the PMT.
const STREAM_TYPE_AAC: u8 = 0x0f;

/// The timestamps wrap at 33 bits.
const TS_MASK: u64 = (1 << 33) - 1;

/// Writes TS packets for one program, keeping continuity counters.
#[derive(Debug, Default, Clone)]
pub struct TsMuxer {
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
    has_video: bool,
}

impl TsMuxer {
    /// A muxer with all continuity counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append PAT and PMT. The PCR travels on the video PID when there is
    /// video, on the audio PID otherwise.
    pub fn write_tables(&mut self, out: &mut Vec<u8>, has_video: bool, has_audio: bool) {
        self.has_video = has_video;
        // PAT: program 1 -> PMT_PID.
        let mut pat = vec![0x00, 0, 0, 0x00, 0x01, 0xC1, 0, 0, 0x00, 0x01];
        pat.extend_from_slice(&(0xE000 | PMT_PID).to_be_bytes());
        finish_section(&mut pat);
        write_psi(out, 0, &mut self.cc_pat, &pat);

        let pcr_pid = if has_video { VIDEO_PID } else { AUDIO_PID };
        let mut pmt = vec![0x02, 0, 0, 0x00, 0x01, 0xC1, 0, 0];
        pmt.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
        pmt.extend_from_slice(&[0xF0, 0x00]);
        for (on, ty, pid) in [
            (has_video, STREAM_TYPE_H264, VIDEO_PID),
            (has_audio, STREAM_TYPE_AAC, AUDIO_PID),
        ] {
            if on {
                pmt.push(ty);
                pmt.extend_from_slice(&(0xE000 | pid).to_be_bytes());
                pmt.extend_from_slice(&[0xF0, 0x00]);
            }
        }
        finish_section(&mut pmt);
        write_psi(out, PMT_PID, &mut self.cc_pmt, &pmt);
    }

    /// Append one H.264 access unit (Annex-B, AUD first) as a PES with PCR.
    pub fn write_video(
        &mut self,
        out: &mut Vec<u8>,
        pts: u64,
        dts: u64,
        annexb: &[u8],
        keyframe: bool,
    ) {
        let pes = pes_header(0xE0, pts, Some(dts), 0);
        write_pes(
            out,
            VIDEO_PID,
            &mut self.cc_video,
            &pes,
            annexb,
            Some(dts),
            keyframe,
        );
    }

    /// Append AAC frames (each with its ADTS header) as one PES. Carries the
    /// PCR when the program has no video.
    pub fn write_audio(&mut self, out: &mut Vec<u8>, pts: u64, adts: &[u8]) {
        let pes = pes_header(0xC0, pts, None, adts.len());
        let pcr = (!self.has_video).then_some(pts);
        write_pes(out, AUDIO_PID, &mut self.cc_audio, &pes, adts, pcr, true);
    }
}

/// Fill in section_length and append the CRC.
fn finish_section(section: &mut Vec<u8>) {
    // section_length counts from after the length field through the CRC.
    let len = (section.len() - 3 + 4) as u16;
    section[1] = 0xB0 | (len >> 8) as u8;
    section[2] = len as u8;
    let crc = crc32_mpeg2(section);
    section.extend_from_slice(&crc.to_be_bytes());
}

/// One PSI section in one packet (ours are always short), padded with 0xFF.
fn write_psi(out: &mut Vec<u8>, pid: u16, cc: &mut u8, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | *cc]);
    *cc = (*cc + 1) & 0x0f;
    out.push(0); // pointer_field
    out.extend_from_slice(section);
    out.resize(start + TS_PACKET_SIZE, 0xFF);
}

/// PES header with PTS (and DTS when it differs).
fn pes_header(stream_id: u8, pts: u64, dts: Option<u64>, payload_len: usize) -> Vec<u8> {
    let dts = dts.filter(|d| *d != pts);
    let header_data_len: u8 = if dts.is_some() { 10 } else { 5 };
    let pes_len = 3 + usize::from(header_data_len) + payload_len;
    // Video PES may be unbounded (length 0); audio that would overflow is too.
    let pes_len = if stream_id == 0xE0 || pes_len > 0xFFFF {
        0
    } else {
        pes_len as u16
    };
    let mut h = vec![0, 0, 1, stream_id];
    h.extend_from_slice(&pes_len.to_be_bytes());
    h.push(0x80);
    h.push(if dts.is_some() { 0xC0 } else { 0x80 });
    h.push(header_data_len);
    put_timestamp(&mut h, if dts.is_some() { 0x3 } else { 0x2 }, pts);
    if let Some(d) = dts {
        put_timestamp(&mut h, 0x1, d);
    }
    h
}

/// The 5-byte PTS/DTS field with its 4-bit prefix and marker bits.
fn put_timestamp(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts & TS_MASK;
    out.push((prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1);
    let mid = (((ts >> 15) & 0x7FFF) << 1 | 1) as u16;
    out.extend_from_slice(&mid.to_be_bytes());
    let low = ((ts & 0x7FFF) << 1 | 1) as u16;
    out.extend_from_slice(&low.to_be_bytes());
}

/// Split a PES (header + payload) into TS packets. The first packet carries
/// the PCR and random-access flag when asked; the last is padded with an
/// adaptation field.
fn write_pes(
    out: &mut Vec<u8>,
    pid: u16,
    cc: &mut u8,
    header: &[u8],
    payload: &[u8],
    pcr: Option<u64>,
    random_access: bool,
) {
    let total = header.len() + payload.len();
    let mut written = 0;
    let mut first = true;
    while written < total {
        let start = out.len();
        let pusi = if first { 0x40 } else { 0 };
        out.extend_from_slice(&[0x47, pusi | (pid >> 8) as u8, pid as u8, 0]);
        // Adaptation field content (after its length byte).
        let mut af: Vec<u8> = Vec::new();
        if first && (pcr.is_some() || random_access) {
            let mut flags = 0u8;
            if random_access {
                flags |= 0x40;
            }
            af.push(flags);
            if let Some(p) = pcr {
                af[0] |= 0x10;
                let base = p & TS_MASK;
                af.extend_from_slice(&[
                    (base >> 25) as u8,
                    (base >> 17) as u8,
                    (base >> 9) as u8,
                    (base >> 1) as u8,
                    ((base & 1) << 7) as u8 | 0x7E,
                    0,
                ]);
            }
        }
        let af_len = if af.is_empty() { 0 } else { 1 + af.len() };
        let room = TS_PACKET_SIZE - 4 - af_len;
        let left = total - written;
        let (af_len, stuffing) = if left < room {
            // Pad: grow (or create) the adaptation field.
            let pad = room - left;
            if af_len == 0 {
                (pad, pad)
            } else {
                (af_len + pad, pad)
            }
        } else {
            (af_len, 0)
        };
        if af_len > 0 {
            out[start + 3] = 0x30 | *cc;
            out.push((af_len - 1) as u8);
            if af_len > 1 {
                if af.is_empty() {
                    af.push(0);
                    // The flags byte takes one byte of the padding.
                    out.push(af[0]);
                    out.extend(std::iter::repeat_n(0xFF, stuffing - 2));
                } else {
                    out.extend_from_slice(&af);
                    out.extend(std::iter::repeat_n(0xFF, stuffing));
                }
            }
        } else {
            out[start + 3] = 0x10 | *cc;
        }
        *cc = (*cc + 1) & 0x0f;
        let n = TS_PACKET_SIZE - (out.len() - start);
        for i in 0..n {
            let k = written + i;
            out.push(if k < header.len() {
                header[k]
            } else {
                payload[k - header.len()]
            });
        }
        written += n;
        first = false;
    }
}

/// CRC-32/MPEG-2: polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final xor.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(data: &[u8]) -> Vec<&[u8]> {
        assert_eq!(data.len() % TS_PACKET_SIZE, 0);
        data.chunks(TS_PACKET_SIZE).collect()
    }

    fn pid(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[1] & 0x1f, p[2]])
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn tables_have_valid_crc() {
        let mut m = TsMuxer::new();
        let mut out = Vec::new();
        m.write_tables(&mut out, true, true);
        let ps = packets(&out);
        assert_eq!(ps.len(), 2);
        for p in ps {
            assert_eq!(p[0], 0x47);
            assert_eq!(p[4], 0, "pointer field");
            let len = usize::from(u16::from_be_bytes([p[6], p[7]]) & 0x0fff);
            let section = &p[5..5 + 3 + len];
            // The CRC over a section including its CRC is zero.
            assert_eq!(crc32_mpeg2(section), 0);
        }
        assert_eq!(pid(&out[188..]), PMT_PID);
    }

    #[test]
    fn pes_packetization_and_continuity() {
        let mut m = TsMuxer::new();
        let mut out = Vec::new();
        m.write_tables(&mut out, true, true);
        for size in [1usize, 150, 160, 170, 171, 172, 183, 184, 185, 400, 5000] {
            let payload = vec![0xABu8; size];
            let mut v = Vec::new();
            m.write_video(&mut v, 9000, 3000, &payload, true);
            let mut got = Vec::new();
            for (i, p) in packets(&v).iter().enumerate() {
                assert_eq!(p[0], 0x47);
                assert_eq!(pid(p), VIDEO_PID);
                assert_eq!(p[1] & 0x40 != 0, i == 0, "PUSI only on the first");
                let afc = p[3] >> 4 & 3;
                let body = if afc == 3 { 5 + usize::from(p[4]) } else { 4 };
                if i == 0 {
                    assert_eq!(afc, 3);
                    assert_eq!(p[5] & 0x50, 0x50, "PCR and random access");
                }
                got.extend_from_slice(&p[body..]);
            }
            // PES header: 00 00 01 E0 0000 80 C0 0A + 10 bytes of PTS/DTS.
            assert_eq!(&got[..9], &[0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10]);
            assert_eq!(&got[19..], &payload[..], "size {size}");
        }
        // Continuity counters increase by one per packet on each PID.
        let mut last: std::collections::HashMap<u16, u8> = Default::default();
        let mut all = out.clone();
        m.write_audio(&mut all, 100, &[0xFF; 300]);
        let mut v = Vec::new();
        m.write_video(&mut v, 0, 0, &[1; 10], false);
        all.extend(v);
        for p in packets(&all) {
            let cc = p[3] & 0x0f;
            if let Some(prev) = last.insert(pid(p), cc) {
                assert_eq!(cc, (prev + 1) & 0x0f);
            }
        }
    }

    #[test]
    fn pts_encoding() {
        let mut h = Vec::new();
        put_timestamp(&mut h, 2, 0x1_2345_6789);
        // 33-bit value 0x123456789: top 3 bits 100, then markers.
        assert_eq!(h, vec![0x29, 0x8D, 0x15, 0xCF, 0x13]);
    }
}
