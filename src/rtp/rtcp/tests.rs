use super::*;

fn words(pt: u8, count: u8, body: &[u8]) -> Vec<u8> {
    assert_eq!(body.len() % 4, 0);
    let mut p = vec![0x80 | count, pt];
    p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

fn block(ssrc: u32) -> Vec<u8> {
    let mut b = ssrc.to_be_bytes().to_vec();
    b.extend_from_slice(&[25, 0xff, 0xff, 0xfe]); // 10% lost, cumulative -2
    for v in [70_000u32, 12, 0x1234_5678, 65_536] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b
}

fn sr() -> Vec<u8> {
    let mut body = 0x1111_1111u32.to_be_bytes().to_vec();
    for v in [0xE000_0000u32, 0x8000_0000, 90_000, 100, 120_000] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    body.extend_from_slice(&block(0x2222_2222));
    words(pt::SR, 1, &body)
}

fn sdes() -> Vec<u8> {
    // One chunk: SSRC, CNAME "ab", end, padding.
    words(
        pt::SDES,
        1,
        &[0x11, 0x11, 0x11, 0x11, 1, 2, b'a', b'b', 0, 0, 0, 0],
    )
}

#[test]
fn parses_a_browser_style_compound() {
    let mut d = sr();
    d.extend(sdes());
    d.extend(words(
        pt::BYE,
        1,
        &[0x11, 0x11, 0x11, 0x11, 3, b'b', b'y', b'e'],
    ));
    let pkts: Vec<_> = parse_compound(&d).collect::<Result<_, _>>().unwrap();
    assert_eq!(pkts.len(), 3);
    let RtcpPacket::SenderReport(s) = pkts[0] else {
        panic!("{:?}", pkts[0])
    };
    assert_eq!(s.ssrc(), Ssrc(0x1111_1111));
    assert_eq!(s.ntp_time(), 0xE000_0000_8000_0000);
    assert_eq!(
        (s.rtp_time(), s.packet_count(), s.octet_count()),
        (90_000, 100, 120_000)
    );
    let blocks: Vec<_> = s.reports().collect();
    assert_eq!(
        blocks,
        vec![ReportBlock {
            ssrc: Ssrc(0x2222_2222),
            fraction_lost: 25,
            cumulative_lost: -2,
            highest_seq: 70_000,
            jitter: 12,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65_536
        }]
    );
    assert_eq!(pkts[1], RtcpPacket::Sdes);
    let RtcpPacket::Bye(b) = pkts[2] else {
        panic!()
    };
    assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![Ssrc(0x1111_1111)]);
    assert_eq!(b.reason(), Some(&b"bye"[..]));
}

#[test]
fn parses_feedback_messages() {
    let mut d = Vec::new();
    write_rr(&mut d, Ssrc(1), &[]);
    write_pli(&mut d, Ssrc(1), Ssrc(2));
    write_fir(&mut d, Ssrc(1), &[(Ssrc(2), 7), (Ssrc(3), 8)]);
    write_nack(&mut d, Ssrc(1), Ssrc(2), &[100, 101, 105, 116, 117, 400]);
    // transport-cc: base 1000, 3 packets, reference time 0x010203, fb count 9, one chunk.
    let mut twcc = vec![0, 0, 0, 1, 0, 0, 0, 2];
    twcc.extend_from_slice(&[0x03, 0xE8, 0, 3, 1, 2, 3, 9, 0x20, 3, 0, 0]);
    d.extend(words(pt::RTPFB, 15, &twcc));
    d.extend(words(
        pt::PSFB,
        15,
        &[0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B'],
    ));
    d.extend(words(pt::XR, 0, &[0, 0, 0, 1]));
    let pkts: Vec<_> = parse_compound(&d).collect::<Result<_, _>>().unwrap();
    let RtcpPacket::ReceiverReport(rr) = pkts[0] else {
        panic!()
    };
    assert_eq!((rr.ssrc(), rr.reports().count()), (Ssrc(1), 0));
    assert_eq!(
        pkts[1],
        RtcpPacket::Pli(Pli {
            sender: Ssrc(1),
            media: Ssrc(2)
        })
    );
    let RtcpPacket::Fir(f) = pkts[2] else {
        panic!()
    };
    assert_eq!(f.sender(), Ssrc(1));
    assert_eq!(
        f.entries().collect::<Vec<_>>(),
        vec![(Ssrc(2), 7), (Ssrc(3), 8)]
    );
    let RtcpPacket::Nack(n) = pkts[3] else {
        panic!()
    };
    assert_eq!((n.sender(), n.media()), (Ssrc(1), Ssrc(2)));
    assert_eq!(
        n.entries().collect::<Vec<_>>(),
        vec![(100, 0b1000_0000_0001_0001), (117, 0), (400, 0)]
    );
    assert_eq!(
        n.lost().collect::<Vec<_>>(),
        vec![100, 101, 105, 116, 117, 400]
    );
    let RtcpPacket::TransportCc(t) = pkts[4] else {
        panic!()
    };
    assert_eq!(
        (t.sender(), t.media(), t.base_seq(), t.status_count()),
        (Ssrc(1), Ssrc(2), 1000, 3)
    );
    assert_eq!(
        (t.reference_time(), t.feedback_count(), t.chunks().len()),
        (0x010203, 9, 4)
    );
    assert_eq!(pkts[5], RtcpPacket::Remb);
    assert_eq!(pkts[6], RtcpPacket::Other { pt: pt::XR, fmt: 0 });
}

#[test]
fn writers_round_trip() {
    let blocks: Vec<ReportBlock> = (0..40)
        .map(|i| ReportBlock {
            ssrc: Ssrc(i),
            cumulative_lost: -(i as i32) * 1000,
            highest_seq: i,
            ..Default::default()
        })
        .collect();
    let mut d = Vec::new();
    let n = write_rr(&mut d, Ssrc(9), &blocks);
    assert_eq!(n, 8 + 24 * 31, "capped at 31 blocks");
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&d).next() else {
        panic!()
    };
    let got: Vec<_> = rr.reports().collect();
    assert_eq!(got, blocks[..31]);
    // Saturating cumulative loss.
    let mut d = Vec::new();
    write_rr(
        &mut d,
        Ssrc(9),
        &[ReportBlock {
            cumulative_lost: i32::MIN,
            ..Default::default()
        }],
    );
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&d).next() else {
        panic!()
    };
    assert_eq!(rr.reports().next().unwrap().cumulative_lost, -0x80_0000);
    // NACK across the sequence wrap, and an empty NACK is not written.
    let mut d = Vec::new();
    assert_eq!(write_nack(&mut d, Ssrc(1), Ssrc(2), &[]), 0);
    assert!(d.is_empty());
    write_nack(&mut d, Ssrc(1), Ssrc(2), &[65_534, 65_535, 0, 3]);
    let Some(Ok(RtcpPacket::Nack(n))) = parse_compound(&d).next() else {
        panic!()
    };
    assert_eq!(n.entries().count(), 1);
    assert_eq!(n.lost().collect::<Vec<_>>(), vec![65_534, 65_535, 0, 3]);
    // A long loss list is capped.
    let lost: Vec<u16> = (0..2000u16).map(|i| i * 20).collect();
    let mut d = Vec::new();
    write_nack(&mut d, Ssrc(1), Ssrc(2), &lost);
    let Some(Ok(RtcpPacket::Nack(n))) = parse_compound(&d).next() else {
        panic!()
    };
    assert_eq!(n.entries().count(), nack::MAX_NACK_ENTRIES);
    let mut d = Vec::new();
    assert_eq!(write_pli(&mut d, Ssrc(1), Ssrc(2)), 12);
    assert_eq!(d, [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
}

#[test]
fn padding_is_stripped() {
    // PLI with 4 bytes of padding.
    let mut p = words(pt::PSFB, 1, &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]);
    p[0] |= 0x20;
    let got: Vec<_> = parse_compound(&p).collect();
    assert_eq!(
        got,
        vec![Ok(RtcpPacket::Pli(Pli {
            sender: Ssrc(1),
            media: Ssrc(2)
        }))]
    );
}

#[test]
fn every_error() {
    fn first(d: &[u8]) -> Result<RtcpPacket<'_>, RtcpError> {
        parse_compound(d).next().unwrap()
    }
    assert_eq!(first(&[0x80, 200, 0]), Err(RtcpError::TooShort { len: 3 }));
    assert_eq!(
        first(&[0x40, 201, 0, 1, 0, 0, 0, 0]),
        Err(RtcpError::BadVersion {
            version: 1,
            pt: 201
        })
    );
    assert_eq!(
        first(&[0x80, 201, 0, 5, 0, 0, 0, 0]),
        Err(RtcpError::LengthOverflow {
            pt: 201,
            declared: 24,
            available: 8
        })
    );
    assert_eq!(
        first(&[0xA0, 201, 0, 1, 0, 0, 0, 0]),
        Err(RtcpError::BadPadding {
            pt: 201,
            padding: 0,
            len: 8
        })
    );
    assert_eq!(
        first(&[0xA0, 201, 0, 1, 0, 0, 0, 9]),
        Err(RtcpError::BadPadding {
            pt: 201,
            padding: 9,
            len: 8
        })
    );
    // SR without sender info; RR whose count promises a block.
    assert_eq!(
        first(&words(pt::SR, 0, &[0, 0, 0, 1])),
        Err(RtcpError::Truncated {
            pt: 200,
            count: 0,
            len: 8,
            need: 28
        })
    );
    assert_eq!(
        first(&words(pt::RR, 1, &[0, 0, 0, 1])),
        Err(RtcpError::Truncated {
            pt: 201,
            count: 1,
            len: 8,
            need: 32
        })
    );
    assert_eq!(
        first(&words(pt::RR, 0, &[])),
        Err(RtcpError::Truncated {
            pt: 201,
            count: 0,
            len: 4,
            need: 8
        })
    );
    // BYE: count past the end, and a reason past the end.
    assert_eq!(
        first(&words(pt::BYE, 2, &[0, 0, 0, 1])),
        Err(RtcpError::Truncated {
            pt: 203,
            count: 2,
            len: 8,
            need: 12
        })
    );
    assert_eq!(
        first(&words(pt::BYE, 1, &[0, 0, 0, 1, 9, b'x', 0, 0])),
        Err(RtcpError::Truncated {
            pt: 203,
            count: 1,
            len: 12,
            need: 18
        })
    );
    // Feedback too short, and FCI not whole entries.
    assert_eq!(
        first(&words(pt::PSFB, 1, &[0, 0, 0, 1])),
        Err(RtcpError::Truncated {
            pt: 206,
            count: 1,
            len: 8,
            need: 12
        })
    );
    assert_eq!(
        first(&words(pt::RTPFB, 1, &[0, 0, 0, 1, 0, 0, 0, 2])),
        Err(RtcpError::Truncated {
            pt: 205,
            count: 1,
            len: 12,
            need: 16
        })
    );
    let mut fir = words(
        pt::PSFB,
        4,
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 7, 0, 0, 0, 0, 0, 0, 3],
    );
    assert_eq!(
        first(&fir),
        Err(RtcpError::BadFci {
            pt: 206,
            fmt: 4,
            len: 12,
            entry: 8
        })
    );
    fir.truncate(12);
    fir[3] = 2;
    assert_eq!(
        first(&fir),
        Err(RtcpError::Truncated {
            pt: 206,
            count: 4,
            len: 12,
            need: 20
        })
    );
    // A padded NACK whose FCI is then not whole entries.
    let mut nack = words(
        pt::RTPFB,
        1,
        &[0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 2],
    );
    nack[0] |= 0x20;
    assert_eq!(
        first(&nack),
        Err(RtcpError::BadFci {
            pt: 205,
            fmt: 1,
            len: 6,
            entry: 4
        })
    );
    assert_eq!(
        first(&words(pt::RTPFB, 15, &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0])),
        Err(RtcpError::Truncated {
            pt: 205,
            count: 15,
            len: 16,
            need: 20
        })
    );
    // Errors name themselves.
    assert!(RtcpError::TooShort { len: 3 }.to_string().contains('3'));
}

#[test]
fn a_framing_error_stops_the_walk_but_a_body_error_does_not() {
    let mut d = words(pt::RR, 1, &[0, 0, 0, 1]); // truncated body
    d.extend(sdes());
    let got: Vec<_> = parse_compound(&d).collect();
    assert_eq!(got.len(), 2);
    assert!(got[0].is_err() && got[1] == Ok(RtcpPacket::Sdes));
    let mut d = sdes();
    d.extend_from_slice(&[0x80, 201, 0, 9]);
    d.extend(sdes());
    let got: Vec<_> = parse_compound(&d).collect();
    assert_eq!(got.len(), 2);
    assert!(matches!(got[1], Err(RtcpError::LengthOverflow { .. })));
    assert_eq!(parse_compound(&[]).count(), 0);
}
