use super::*;
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;

fn crypto() -> std::sync::Arc<dyn rtc_crypto::RTCCryptoProvider> {
    rtc_crypto::default_provider().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Master key and salt for a GCM profile (16 or 32 bytes of key, 12 of salt).
fn master(profile: SrtpProfile) -> (Vec<u8>, Vec<u8>) {
    let key_len = if profile == SrtpProfile::AeadAes256Gcm {
        32
    } else {
        16
    };
    let key = (0..key_len).map(|i| (i * 13 + 5) as u8).collect();
    let salt = (0..12).map(|i| (i * 29 + 1) as u8).collect();
    (key, salt)
}

fn sealer(profile: SrtpProfile) -> GcmRtpSealer {
    let (key, salt) = master(profile);
    GcmRtpSealer::new(profile, &key, &salt, crypto().crypto())
        .unwrap()
        .unwrap()
}

fn rtc_context(profile: SrtpProfile) -> Context {
    let (key, salt) = master(profile);
    let p = match profile {
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        _ => ProtectionProfile::AeadAes256Gcm,
    };
    Context::new(&key, &salt, p, None, None, crypto().crypto()).unwrap()
}

/// An RTP packet: `csrcs` CSRCs, a one-word extension when `ext`, then a
/// payload of `len` bytes.
fn rtp(ssrc: u32, seq: u16, csrcs: u8, ext: bool, len: usize) -> Vec<u8> {
    let mut p = vec![0x80 | csrcs | if ext { 0x10 } else { 0 }, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 1, 2, 3]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in 0..csrcs {
        p.extend_from_slice(&[0xc0, 0, 0, c]);
    }
    if ext {
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
    }
    p.extend((0..len).map(|i| i as u8));
    p
}

const GCM: [SrtpProfile; 2] = [SrtpProfile::AeadAes128Gcm, SrtpProfile::AeadAes256Gcm];

#[test]
fn key_derivation_matches_rfc_3711_appendix_b3() {
    let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let c = crypto();
    let (mut cipher_key, mut cipher_salt) = ([0u8; 16], [0u8; 14]);
    derive(
        c.crypto(),
        BlockCipherAlgorithm::Aes128,
        0x00,
        &key,
        &salt,
        &mut cipher_key,
    )
    .unwrap();
    derive(
        c.crypto(),
        BlockCipherAlgorithm::Aes128,
        0x02,
        &key,
        &salt,
        &mut cipher_salt,
    )
    .unwrap();
    assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
}

#[test]
fn sealed_packets_equal_rtc_srtps_byte_for_byte() {
    // Headers of every shape, two SSRCs interleaved, a sequence wrap
    // (rollover counter 0 -> 1) and a retransmission from before the wrap.
    let mut packets = Vec::new();
    for (i, seq) in (65_530..=65_535).chain(0..6).enumerate() {
        packets.push(rtp(0x1111, seq, (i % 3) as u8, i % 2 == 0, 100 + i));
        packets.push(rtp(0x2222, seq.wrapping_add(100), 0, false, 1_100));
    }
    packets.push(rtp(0x1111, 65_533, 0, false, 50));
    packets.push(rtp(0x1111, 6, 0, true, 0));
    for profile in GCM {
        let (mut ours, mut theirs) = (sealer(profile), rtc_context(profile));
        let mut arena = BytesMut::new();
        for p in &packets {
            let a = ours.seal(p, &mut arena).unwrap();
            let b = theirs.encrypt_rtp(p).unwrap();
            assert_eq!(&a[..], &b[..], "{profile:?}, packet {:02x?}", &p[..12]);
            assert_eq!(a.len(), p.len() + GCM_TAG_LEN);
        }
    }
}

#[test]
fn packets_kept_from_one_arena_are_not_overwritten_and_the_storage_is_reused() {
    let mut s = sealer(SrtpProfile::AeadAes128Gcm);
    let mut reference = rtc_context(SrtpProfile::AeadAes128Gcm);
    let mut arena = BytesMut::new();
    let kept: Vec<Bytes> = (0..200u16)
        .map(|seq| s.seal(&rtp(7, seq, 0, false, 1_000), &mut arena).unwrap())
        .collect();
    for (seq, p) in kept.iter().enumerate() {
        let expected = reference
            .encrypt_rtp(&rtp(7, seq as u16, 0, false, 1_000))
            .unwrap();
        assert_eq!(&p[..], &expected[..], "packet {seq}");
    }
    drop(kept);
    // Packets sent (dropped) one by one: ~1 MB sealed in one chunk's space.
    let (mut low, mut high) = (usize::MAX, 0);
    for seq in 200..1_200 {
        let p = s.seal(&rtp(7, seq, 0, false, 1_000), &mut arena).unwrap();
        low = low.min(p.as_ptr() as usize);
        high = high.max(p.as_ptr() as usize + p.len());
    }
    assert!(
        high - low <= 2 * ARENA_BYTES,
        "1,000 packets spread over {} bytes",
        high - low
    );
}

#[test]
fn malformed_headers_are_refused_without_panicking() {
    let mut s = sealer(SrtpProfile::AeadAes128Gcm);
    let mut arena = BytesMut::new();
    let mut cut_ext = rtp(1, 1, 0, true, 0);
    cut_ext.truncate(14);
    let mut long_ext = rtp(1, 1, 0, true, 0);
    long_ext[14..16].copy_from_slice(&9u16.to_be_bytes());
    let mut version_1 = rtp(1, 1, 0, false, 10);
    version_1[0] = 0x40;
    let mut csrcs_past_end = rtp(1, 1, 0, false, 10);
    csrcs_past_end[0] |= 0x0f;
    for bad in [
        &[][..],
        &[0x80; 11][..],
        &cut_ext,
        &long_ext,
        &version_1,
        &csrcs_past_end,
    ] {
        assert!(
            matches!(s.seal(bad, &mut arena), Err(SrtpError::Malformed { .. })),
            "{bad:02x?}"
        );
    }
    // A header with nothing after it is fine: an empty payload.
    assert!(s.seal(&rtp(1, 1, 2, true, 0), &mut arena).is_ok());
}

#[test]
fn sending_ssrcs_are_bounded() {
    let mut s = sealer(SrtpProfile::AeadAes128Gcm);
    let mut arena = BytesMut::new();
    for ssrc in 0..MAX_SSRCS as u32 {
        s.seal(&rtp(ssrc, 1, 0, false, 10), &mut arena).unwrap();
    }
    let err = s
        .seal(&rtp(0xdead, 1, 0, false, 10), &mut arena)
        .unwrap_err();
    assert_eq!(
        err,
        SrtpError::TooManySsrcs {
            ssrc: 0xdead,
            max: MAX_SSRCS
        }
    );
    // The ones it has keep working.
    assert!(s.seal(&rtp(3, 2, 0, false, 10), &mut arena).is_ok());
}

#[test]
fn the_key_is_exhausted_after_2_to_the_48_packets() {
    let mut s = sealer(SrtpProfile::AeadAes128Gcm);
    let mut arena = BytesMut::new();
    s.seal(&rtp(9, 0xfffe, 0, false, 10), &mut arena).unwrap();
    s.rollovers[0].highest = MAX_INDEX - 1;
    s.seal(&rtp(9, 0xffff, 0, false, 10), &mut arena).unwrap();
    assert_eq!(
        s.seal(&rtp(9, 0, 0, false, 10), &mut arena).unwrap_err(),
        SrtpError::KeyExhausted
    );
}

#[test]
fn only_gcm_profiles_get_a_sealer() {
    let c = crypto();
    for profile in [
        SrtpProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmHmacSha1_32,
    ] {
        assert!(GcmRtpSealer::new(profile, &[0; 16], &[0; 14], c.crypto()).is_none());
    }
}
