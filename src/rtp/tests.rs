use std::time::{Duration, Instant};

use super::*;

/// Builds an RTP packet: V=2, optional padding, CSRCs, extension block (profile, body), payload.
#[allow(clippy::too_many_arguments)] // A test builder with one argument per header field.
fn packet(
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    csrcs: &[u32],
    ext: Option<(u16, &[u8])>,
    payload: &[u8],
    padding: u8,
) -> Vec<u8> {
    let mut p = vec![
        0x80 | (u8::from(padding > 0) << 5) | (u8::from(ext.is_some()) << 4) | csrcs.len() as u8,
        (u8::from(marker) << 7) | pt,
    ];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in csrcs {
        p.extend_from_slice(&c.to_be_bytes());
    }
    if let Some((profile, body)) = ext {
        assert_eq!(body.len() % 4, 0);
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(body);
    }
    p.extend_from_slice(payload);
    if padding > 0 {
        p.extend(std::iter::repeat_n(0, padding as usize - 1));
        p.push(padding);
    }
    p
}

fn simple(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    packet(false, 96, seq, ts, ssrc, &[], None, &[1, 2, 3, 4], 0)
}

// Chromium-like one-byte block: id 1 abs-send-time (3 bytes), id 3 transport-cc (2 bytes),
// id 4 mid "0" (1 byte), one padding byte.
const CHROME_EXT: [u8; 12] = [
    0x12, 0xAA, 0xBB, 0xCC, 0x31, 0x01, 0x02, 0x40, b'0', 0, 0, 0,
];

#[test]
fn parses_a_real_looking_video_packet() {
    let p = packet(
        true,
        102,
        0xFFFE,
        0x1234_5678,
        0xDEAD_BEEF,
        &[7, 8],
        Some((0xBEDE, &CHROME_EXT)),
        &[0x65, 0x88, 0x84],
        0,
    );
    let h = RtpHeader::parse(&p).unwrap();
    assert!(h.marker() && h.has_extension() && !h.has_padding());
    assert_eq!(
        (h.pt(), h.seq(), h.timestamp(), h.ssrc()),
        (Pt(102), 0xFFFE, 0x1234_5678, Ssrc(0xDEAD_BEEF))
    );
    assert_eq!(h.csrcs().collect::<Vec<_>>(), vec![Ssrc(7), Ssrc(8)]);
    assert_eq!(h.payload_offset(), 12 + 8 + 4 + 12);
    assert_eq!(h.payload(), &[0x65, 0x88, 0x84]);
    assert_eq!(h.extension_form(), Some(ExtensionForm::OneByte));
    let exts: Vec<_> = h.extensions().collect();
    assert_eq!(
        exts,
        vec![
            (1, &[0xAA, 0xBB, 0xCC][..]),
            (3, &[1, 2][..]),
            (4, &b"0"[..])
        ]
    );
    assert_eq!(h.extension(3), Some(&[1u8, 2][..]));
    assert_eq!(h.extension(5), None);
}

#[test]
fn parses_two_byte_extensions_and_padding() {
    // id 20 len 0, id 3 len 20, padding to a word.
    let mut body = vec![20, 0, 3, 20];
    body.extend_from_slice(&[9; 20]);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let p = packet(false, 111, 1, 2, 3, &[], Some((0x1000, &body)), &[5; 10], 4);
    let h = RtpHeader::parse(&p).unwrap();
    assert_eq!(h.extension_form(), Some(ExtensionForm::TwoByte));
    assert_eq!(
        h.extensions().collect::<Vec<_>>(),
        vec![(20, &[][..]), (3, &[9; 20][..])]
    );
    assert_eq!(h.padding_len(), 4);
    assert_eq!(h.payload(), &[5; 10]);
}

#[test]
fn unknown_profile_and_reserved_id_stop_iteration() {
    let p = packet(
        false,
        96,
        1,
        2,
        3,
        &[],
        Some((0xABCD, &[0x10, 1, 0, 0])),
        &[],
        0,
    );
    let h = RtpHeader::parse(&p).unwrap();
    assert_eq!(h.extension_profile(), Some(0xABCD));
    assert_eq!(h.extension_form(), None);
    assert_eq!(h.extensions().count(), 0);
    // id 15 stops; an element running past the block stops.
    let p = packet(
        false,
        96,
        1,
        2,
        3,
        &[],
        Some((0xBEDE, &[0x10, 1, 0xF0, 0x10, 2, 0, 0, 0])),
        &[],
        0,
    );
    assert_eq!(
        RtpHeader::parse(&p)
            .unwrap()
            .extensions()
            .collect::<Vec<_>>(),
        vec![(1, &[1u8][..])]
    );
    let p = packet(
        false,
        96,
        1,
        2,
        3,
        &[],
        Some((0xBEDE, &[0x1F, 1, 2, 3])),
        &[],
        0,
    );
    assert_eq!(RtpHeader::parse(&p).unwrap().extensions().count(), 0);
}

#[test]
fn every_header_error() {
    assert_eq!(
        RtpHeader::parse(&[0x80; 11]),
        Err(RtpError::TooShort { len: 11 })
    );
    let mut p = simple(1, 2, 3);
    p[0] = 0x40;
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::BadVersion { version: 1 })
    );
    let mut p = simple(1, 2, 3);
    p[0] = 0x82; // two CSRCs, 4 bytes of payload
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::CsrcOverflow {
            count: 2,
            need: 20,
            len: 16
        })
    );
    let mut p = simple(1, 2, 3);
    p[0] |= 0x10; // X with a 4-byte payload: header present, body of 0x0304 words missing
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::ExtensionOverflow {
            words: 0x0304,
            need: 16 + 4 * 0x0304,
            len: 16
        })
    );
    let mut p = vec![0x90, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE];
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::ExtensionOverflow {
            words: 0,
            need: 16,
            len: 13
        })
    );
    p.truncate(12);
    assert!(RtpHeader::parse(&p).is_err());
    let mut p = simple(1, 2, 3);
    p[0] |= 0x20;
    *p.last_mut().unwrap() = 0;
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::BadPadding {
            padding: 0,
            header: 12,
            len: 16
        })
    );
    *p.last_mut().unwrap() = 5;
    assert_eq!(
        RtpHeader::parse(&p),
        Err(RtpError::BadPadding {
            padding: 5,
            header: 12,
            len: 16
        })
    );
    *p.last_mut().unwrap() = 4;
    assert_eq!(RtpHeader::parse(&p).unwrap().payload(), &[] as &[u8]);
}

#[test]
fn classify_by_first_bytes() {
    assert_eq!(classify(&[0, 1, 0, 0]), PacketKind::Stun);
    assert_eq!(classify(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
    assert_eq!(classify(&[63]), PacketKind::Dtls);
    assert_eq!(classify(&[0x80, 96]), PacketKind::Rtp);
    assert_eq!(
        classify(&[0x80, 0x80 | 96]),
        PacketKind::Rtp,
        "marker set, pt 96"
    );
    assert_eq!(classify(&[0x81, 200]), PacketKind::Rtcp);
    assert_eq!(classify(&[0x80, 223]), PacketKind::Rtcp);
    assert_eq!(classify(&[0x80, 224]), PacketKind::Rtp);
    assert_eq!(classify(&[0x80, 191]), PacketKind::Rtp);
    assert_eq!(classify(&[0x80]), PacketKind::Unknown);
    assert_eq!(classify(&[]), PacketKind::Unknown);
    assert_eq!(classify(&[64, 0]), PacketKind::Unknown, "TURN channel");
    assert_eq!(classify(&[200, 0]), PacketKind::Unknown);
}

#[test]
fn seqno_extends_across_rollover() {
    let s = SeqNo(65_535);
    assert_eq!(SeqNo::extend(s, 0), SeqNo(65_536));
    assert_eq!(SeqNo::extend(SeqNo(65_536), 65_535), SeqNo(65_535));
    assert_eq!(
        SeqNo::extend(SeqNo(3 * 65_536 + 10), 5),
        SeqNo(3 * 65_536 + 5)
    );
    assert_eq!(
        SeqNo::extend(SeqNo(2), 65_000),
        SeqNo(0),
        "no negative before the first wrap"
    );
    assert_eq!(SeqNo(65_536 + 7).wire(), 7);
    assert_eq!(SeqNo(65_536 * 2 + 7).rollovers(), 2);
    assert!(
        SeqNo::wire_newer(0, 65_535) && !SeqNo::wire_newer(65_535, 0) && !SeqNo::wire_newer(4, 4)
    );
}

#[test]
fn media_time_conversions() {
    let t = MediaTime::from_duration(Duration::from_millis(500), 90_000);
    assert_eq!(t.ticks, 45_000);
    assert_eq!(t.rebase(48_000).ticks, 24_000);
    assert_eq!(t.as_duration(), Duration::from_millis(500));
    assert_eq!(MediaTime::new(1 << 33 | 5, 90_000).rtp_timestamp(), 5);
    assert_eq!(MediaTime::new(1, 0).clock_rate, 1);
}

#[test]
fn h264_keyframes() {
    // Single NAL units.
    assert!(is_keyframe(Codec::H264, &[0x65, 0x88]));
    assert!(!is_keyframe(Codec::H264, &[0x41, 0x9a]));
    let sps = h264_info(&[0x67, 0x42, 0xe0, 0x1f]);
    assert!(sps.sps && !sps.idr);
    assert!(
        !is_keyframe(Codec::H264, &[0x67, 0x42]),
        "SPS alone is noted, not a keyframe"
    );
    // STAP-A: SPS, PPS, IDR.
    let stap = [
        0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce, 0, 3, 0x65, 0x88, 0x84,
    ];
    assert_eq!(
        h264_info(&stap),
        H264Info {
            idr: true,
            sps: true,
            pps: true
        }
    );
    assert!(is_keyframe(Codec::H264, &stap));
    // STAP-A of SPS+PPS only, and one whose size runs past the end.
    assert!(!is_keyframe(Codec::H264, &stap[..10]));
    assert!(!is_keyframe(Codec::H264, &[0x78, 0, 9, 0x65]));
    // STAP-B with its DON.
    assert!(is_keyframe(Codec::H264, &[0x79, 0, 1, 0, 1, 0x65]));
    // FU-A: start of IDR yes, middle/end of IDR no, start of non-IDR no.
    assert!(is_keyframe(Codec::H264, &[0x7c, 0x85, 0xb8]));
    assert!(!is_keyframe(Codec::H264, &[0x7c, 0x05, 0xb8]));
    assert!(!is_keyframe(Codec::H264, &[0x7c, 0x45, 0xb8]));
    assert!(!is_keyframe(Codec::H264, &[0x7c, 0x81, 0xb8]));
    assert!(is_keyframe(Codec::H264, &[0x7d, 0x85, 0, 0]), "FU-B");
    assert!(!is_keyframe(Codec::H264, &[]));
    assert!(!is_keyframe(Codec::H264, &[0x7c]));
}

#[test]
fn vp8_keyframes() {
    // S=1 PID=0, no X; VP8 header P bit clear (key frame): 0x9d 0x01 0x2a start code after.
    assert!(is_keyframe(
        Codec::Vp8,
        &[0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a]
    ));
    // Delta frame: P bit set.
    assert!(!is_keyframe(Codec::Vp8, &[0x10, 0x51, 0x42, 0x00]));
    // Not a start, or not partition 0.
    assert!(!is_keyframe(Codec::Vp8, &[0x00, 0x50]));
    assert!(!is_keyframe(Codec::Vp8, &[0x11, 0x50]));
    // Chromium-style: X, I with 15-bit picture id, L, T: 1 + 1 + 2 + 1 + 1 = 6 bytes.
    assert!(is_keyframe(
        Codec::Vp8,
        &[0x90, 0xE0, 0x81, 0x23, 0x07, 0x20, 0x50, 0x01]
    ));
    assert!(!is_keyframe(
        Codec::Vp8,
        &[0x90, 0xE0, 0x81, 0x23, 0x07, 0x20, 0x51, 0x01]
    ));
    // 7-bit picture id only.
    assert!(is_keyframe(Codec::Vp8, &[0x90, 0x80, 0x05, 0x50]));
    // Truncated descriptors.
    assert!(!is_keyframe(Codec::Vp8, &[0x90]));
    assert!(!is_keyframe(Codec::Vp8, &[0x90, 0x80]));
    assert!(!is_keyframe(Codec::Vp8, &[0x90, 0xE0, 0x81, 0x23]));
    assert!(!is_keyframe(Codec::Vp8, &[]));
    assert!(!is_keyframe(Codec::Other, &[0x10, 0x50]));
}

#[test]
fn vp9_keyframes() {
    assert!(is_keyframe(Codec::Vp9, &[0x08]), "B set, P clear");
    assert!(!is_keyframe(Codec::Vp9, &[0x48]), "inter-predicted");
    assert!(!is_keyframe(Codec::Vp9, &[0x00]), "not a frame start");
    // I with 15-bit picture id, L with spatial id 0 / 1.
    assert!(is_keyframe(Codec::Vp9, &[0xA8, 0x80, 0x01, 0x00, 0x00]));
    assert!(!is_keyframe(Codec::Vp9, &[0xA8, 0x80, 0x01, 0x02, 0x00]));
    assert!(!is_keyframe(Codec::Vp9, &[0xA8, 0x80]));
}

fn rewrite(rw: &mut Rewriter, now: Instant, pkt: &[u8], map: &ExtIdMap) -> Vec<u8> {
    let mut out = Vec::new();
    let n = rw
        .rewrite_into(now, pkt, &mut out, Ssrc(0x5555), Pt(100), map)
        .unwrap();
    assert_eq!(n, out.len());
    out
}

#[test]
fn rewriter_replaces_fields_and_keeps_payload() {
    let t0 = Instant::now();
    let mut rw = Rewriter::new(90_000);
    let p = packet(
        true,
        96,
        10,
        1000,
        0xAAAA,
        &[42],
        Some((0xBEDE, &CHROME_EXT)),
        &[7; 30],
        3,
    );
    let map = ExtIdMap::from_pairs(&[(1, 2), (4, 9)]);
    let out = rewrite(&mut rw, t0, &p, &map);
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(
        (h.ssrc(), h.pt(), h.seq(), h.timestamp(), h.marker()),
        (Ssrc(0x5555), Pt(100), 10, 1000, true)
    );
    assert_eq!(h.csrcs().collect::<Vec<_>>(), vec![Ssrc(42)]);
    assert_eq!(
        h.extensions().collect::<Vec<_>>(),
        vec![(2, &[0xAA, 0xBB, 0xCC][..]), (9, &b"0"[..])]
    );
    assert_eq!(h.payload(), &[7; 30]);
    assert_eq!(h.padding_len(), 3);
    // Nothing mapped: the X bit goes away.
    let out = rewrite(&mut rw, t0, &p, &ExtIdMap::drop_all());
    let h = RtpHeader::parse(&out).unwrap();
    assert!(!h.has_extension());
    assert_eq!(h.payload(), &[7; 30]);
    assert_eq!(out.len(), p.len() - 16);
}

#[test]
fn rewriter_switches_to_two_byte_form_when_needed() {
    let t0 = Instant::now();
    let mut rw = Rewriter::new(90_000);
    let p = packet(
        false,
        96,
        1,
        1,
        1,
        &[],
        Some((0xBEDE, &CHROME_EXT)),
        &[1],
        0,
    );
    let out = rewrite(&mut rw, t0, &p, &ExtIdMap::from_pairs(&[(3, 200)]));
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.extension_form(), Some(ExtensionForm::TwoByte));
    assert_eq!(h.extensions().collect::<Vec<_>>(), vec![(200, &[1, 2][..])]);
    // Two-byte input with a 20-byte value mapped to a small id stays two-byte.
    let mut body = vec![5, 20];
    body.extend_from_slice(&[9; 20]);
    body.extend_from_slice(&[0, 0]);
    let p = packet(false, 96, 2, 2, 1, &[], Some((0x1000, &body)), &[1], 0);
    let out = rewrite(&mut rw, t0, &p, &ExtIdMap::from_pairs(&[(5, 1)]));
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.extension_form(), Some(ExtensionForm::TwoByte));
    assert_eq!(h.extension(1), Some(&[9; 20][..]));
}

#[test]
fn rewriter_is_continuous_across_a_source_switch() {
    let t0 = Instant::now();
    let mut rw = Rewriter::new(90_000);
    let map = ExtIdMap::drop_all();
    let mut last = (0u16, 0u32);
    for i in 0..10u16 {
        let out = rewrite(
            &mut rw,
            t0 + Duration::from_millis(33 * u64::from(i)),
            &simple(5000 + i, 90_000 + 3000 * u32::from(i), 0xA),
            &map,
        );
        let h = RtpHeader::parse(&out).unwrap();
        last = (h.seq(), h.timestamp());
    }
    assert_eq!(last, (5009, 90_000 + 27_000));
    // The publisher reconnects 500 ms after its last packet with a new SSRC and random seq/ts.
    let t_switch = t0 + Duration::from_millis(33 * 9 + 500);
    let out = rewrite(&mut rw, t_switch, &simple(40_000, 7_777_777, 0xB), &map);
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.seq(), 5010);
    assert_eq!(h.timestamp(), 90_000 + 27_000 + 45_000);
    assert_eq!(rw.switches(), 1);
    let out = rewrite(
        &mut rw,
        t_switch,
        &simple(40_001, 7_777_777 + 3000, 0xB),
        &map,
    );
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!((h.seq(), h.timestamp()), (5011, 90_000 + 27_000 + 48_000));
    // A reordered (older) packet of the new source maps consistently.
    let out = rewrite(
        &mut rw,
        t_switch,
        &simple(39_999, 7_777_777 - 3000, 0xB),
        &map,
    );
    assert_eq!(RtpHeader::parse(&out).unwrap().seq(), 5009);
    assert_eq!(rw.max_out_seq(), Some(SeqNo(5011)));
}

#[test]
fn rewriter_wraps_sequence_and_timestamp() {
    let t0 = Instant::now();
    let mut rw = Rewriter::new(48_000);
    let map = ExtIdMap::drop_all();
    rewrite(&mut rw, t0, &simple(65_534, u32::MAX - 960, 1), &map);
    // Switch to a source while the output is about to wrap.
    let out = rewrite(&mut rw, t0, &simple(100, 0, 2), &map);
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.seq(), 65_535);
    assert_eq!(h.timestamp(), u32::MAX - 959, "at least one tick later");
    let out = rewrite(&mut rw, t0, &simple(101, 960, 2), &map);
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.seq(), 0);
    assert_eq!(h.timestamp(), 0);
    assert_eq!(rw.max_out_seq(), Some(SeqNo(65_536)));
    // Another switch right after the wrap continues from the extended maximum.
    let out = rewrite(
        &mut rw,
        t0 + Duration::from_millis(20),
        &simple(9, 9, 3),
        &map,
    );
    let h = RtpHeader::parse(&out).unwrap();
    assert_eq!(h.seq(), 1);
    assert_eq!(h.timestamp(), 960);
}

#[test]
fn rewriter_reuses_its_buffer_and_rejects_bad_input() {
    let t0 = Instant::now();
    let mut rw = Rewriter::new(90_000);
    let mut out = Vec::with_capacity(1500);
    let cap = out.capacity();
    for i in 0..100 {
        rw.rewrite_into(
            t0,
            &simple(i, 0, 1),
            &mut out,
            Ssrc(2),
            Pt(96),
            &ExtIdMap::drop_all(),
        )
        .unwrap();
    }
    assert_eq!(out.capacity(), cap, "no reallocation for packets that fit");
    assert_eq!(
        rw.rewrite_into(
            t0,
            &[0x80; 5],
            &mut out,
            Ssrc(2),
            Pt(96),
            &ExtIdMap::drop_all()
        ),
        Err(RtpError::TooShort { len: 5 })
    );
    assert_eq!(
        rw.max_out_seq(),
        Some(SeqNo(99)),
        "a bad packet changes nothing"
    );
}

#[test]
fn ext_id_map_basics() {
    let mut m = ExtIdMap::from_pairs(&[(1, 3)]);
    assert_eq!(m.get(1), Some(3));
    assert_eq!(m.get(2), None);
    m.set(1, 0);
    assert_eq!(m.get(1), None);
    assert_eq!(m, ExtIdMap::default());
}
