use super::*;

fn keys(profile: SrtpProfile, is_client: bool) -> SrtpKeys {
    let keying_material = (0..profile.keying_material_len())
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    SrtpKeys {
        profile,
        keying_material,
        is_client,
    }
}

fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    (
        SrtpSession::new(&keys(profile, true)).unwrap(),
        SrtpSession::new(&keys(profile, false)).unwrap(),
    )
}

fn rtp(seq: u16, len: usize) -> Vec<u8> {
    let s = seq.to_be_bytes();
    let mut p = vec![0x80, 96, s[0], s[1], 0, 0, 0x10, 0, 0xCA, 0xFE, 0xBA, 0xBE];
    p.resize(len, 0x5a);
    p
}

fn rr() -> Vec<u8> {
    // RR with no report blocks, SSRC 0x01020304.
    vec![0x80, 201, 0, 1, 1, 2, 3, 4]
}

const PROFILES: [SrtpProfile; 4] = [
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::Aes128CmHmacSha1_80,
    SrtpProfile::Aes128CmHmacSha1_32,
    SrtpProfile::AeadAes256Gcm,
];

#[test]
fn rtp_round_trip_both_directions_every_profile() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        let plain = rtp(1, 1200);
        let enc = client.protect_rtp(&plain).unwrap();
        assert_eq!(
            enc.len(),
            plain.len() + profile.rtp_overhead(),
            "{profile:?}"
        );
        assert_ne!(
            &enc[12..plain.len()],
            &plain[12..],
            "payload must be encrypted"
        );
        assert_eq!(server.unprotect_rtp(&enc).unwrap(), plain);
        let back = server.protect_rtp(&rtp(2, 300)).unwrap();
        assert_eq!(client.unprotect_rtp(&back).unwrap(), rtp(2, 300));
        assert_eq!(server.stats().rtp_unprotected, 1);
        assert_eq!(server.stats().rtp_protected, 1);
    }
}

#[test]
fn rtcp_round_trip_every_profile() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        let enc = client.protect_rtcp(&rr()).unwrap();
        assert_eq!(
            enc.len(),
            rr().len() + profile.rtcp_overhead(),
            "{profile:?}"
        );
        assert_eq!(server.unprotect_rtcp(&enc).unwrap(), rr());
        assert_eq!(server.stats().rtcp_unprotected, 1);
    }
}

#[test]
fn same_role_keys_do_not_decrypt() {
    // Both sides claiming to be the client use each other's wrong key.
    let mut a = SrtpSession::new(&keys(SrtpProfile::AeadAes128Gcm, true)).unwrap();
    let mut b = SrtpSession::new(&keys(SrtpProfile::AeadAes128Gcm, true)).unwrap();
    let enc = a.protect_rtp(&rtp(1, 100)).unwrap();
    assert!(matches!(
        b.unprotect_rtp(&enc),
        Err(SrtpError::AuthFailed { rtcp: false, .. })
    ));
}

#[test]
fn bad_auth_tag_is_counted() {
    for profile in PROFILES {
        let (mut client, mut server) = pair(profile);
        let mut enc = client.protect_rtp(&rtp(7, 200)).unwrap().to_vec();
        let last = enc.len() - 1;
        enc[last] ^= 0x01;
        let err = server.unprotect_rtp(&enc).unwrap_err();
        assert_eq!(
            err,
            SrtpError::AuthFailed {
                rtcp: false,
                len: enc.len()
            },
            "{profile:?}"
        );
        let mut enc = client.protect_rtcp(&rr()).unwrap().to_vec();
        enc[9] ^= 0x80;
        assert!(matches!(
            server.unprotect_rtcp(&enc),
            Err(SrtpError::AuthFailed { rtcp: true, .. })
        ));
        assert_eq!(server.stats().auth_failures, 2);
        assert_eq!(server.stats().rtp_unprotected, 0);
    }
}

#[test]
fn replay_is_counted() {
    for profile in [SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmHmacSha1_80] {
        let (mut client, mut server) = pair(profile);
        let enc = client.protect_rtp(&rtp(100, 200)).unwrap();
        server.unprotect_rtp(&enc).unwrap();
        let err = server.unprotect_rtp(&enc).unwrap_err();
        assert_eq!(
            err,
            SrtpError::Replay {
                rtcp: false,
                ssrc: 0xCAFEBABE,
                index: 100
            }
        );
        let enc = client.protect_rtcp(&rr()).unwrap();
        server.unprotect_rtcp(&enc).unwrap();
        assert!(matches!(
            server.unprotect_rtcp(&enc),
            Err(SrtpError::Replay {
                rtcp: true,
                ssrc: 0x01020304,
                ..
            })
        ));
        assert_eq!(server.stats().replays, 2);
        // A packet far older than the window is rejected as a replay too.
        let (mut client, mut server) = pair(profile);
        let old = client.protect_rtp(&rtp(1, 50)).unwrap();
        for seq in 2..(REPLAY_WINDOW as u16 + 10) {
            server
                .unprotect_rtp(&client.protect_rtp(&rtp(seq, 50)).unwrap())
                .unwrap();
        }
        assert!(matches!(
            server.unprotect_rtp(&old),
            Err(SrtpError::Replay { .. })
        ));
    }
}

#[test]
fn reordered_within_window_is_accepted() {
    let (mut client, mut server) = pair(SrtpProfile::AeadAes128Gcm);
    let encs: Vec<_> = (10..20)
        .map(|s| client.protect_rtp(&rtp(s, 80)).unwrap())
        .collect();
    for i in [0usize, 3, 1, 2, 9, 4, 8, 5, 7, 6] {
        assert_eq!(
            server.unprotect_rtp(&encs[i]).unwrap(),
            rtp(10 + i as u16, 80)
        );
    }
    assert_eq!(server.stats().replays, 0);
}

#[test]
fn malformed_packets_are_counted_not_panicking() {
    let (mut client, mut server) = pair(SrtpProfile::AeadAes128Gcm);
    for bad in [
        &[][..],
        &[0x80][..],
        &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x80; 14][..],
    ] {
        assert!(server.unprotect_rtp(bad).is_err());
        assert!(server.unprotect_rtcp(bad).is_err());
        if bad.len() < 8 {
            assert!(client.protect_rtcp(bad).is_err());
        }
    }
    assert!(matches!(
        client.protect_rtp(&[0x80, 96, 0]),
        Err(SrtpError::Malformed {
            what: "RTP",
            len: 3,
            ..
        })
    ));
    assert!(server.stats().malformed + server.stats().auth_failures >= 8);
}

#[test]
fn wrong_keying_material_length_is_rejected() {
    let mut k = keys(SrtpProfile::AeadAes128Gcm, true);
    k.keying_material.pop();
    let err = SrtpSession::new(&k).unwrap_err();
    assert_eq!(
        err,
        SrtpError::KeyingMaterialLength {
            profile: SrtpProfile::AeadAes128Gcm,
            expected: 56,
            got: 55
        }
    );
}

#[test]
fn profile_codes_round_trip_and_sizes() {
    for p in PROFILES {
        assert_eq!(SrtpProfile::from_code(p.code()), Some(p));
    }
    assert_eq!(SrtpProfile::from_code(0x0003), None);
    assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
    assert_eq!(SrtpProfile::Aes128CmHmacSha1_80.keying_material_len(), 60);
    assert_eq!(SrtpProfile::AeadAes128Gcm.rtp_overhead(), 16);
    assert_eq!(SrtpProfile::Aes128CmHmacSha1_80.rtp_overhead(), 10);
    assert_eq!(SrtpProfile::Aes128CmHmacSha1_80.rtcp_overhead(), 14);
}

#[test]
fn debug_does_not_print_keys() {
    let k = keys(SrtpProfile::AeadAes128Gcm, true);
    let s = format!("{k:?}");
    assert!(s.contains("keying_material_len: 56"), "{s}");
    assert!(!s.contains("[3, 10"), "{s}");
}

#[test]
fn session_is_send() {
    fn is_send<T: Send>() {}
    is_send::<SrtpSession>();
}

#[test]
fn key_split_matches_rtc_srtp_config() {
    // Our RFC 5764 split must agree with rtc-srtp's own, or real peers could not decrypt.
    for profile in [SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmHmacSha1_80] {
        let k = keys(profile, false);
        let mut cfg = rtc_srtp::config::Config {
            profile: profile.to_rtc(),
            ..Default::default()
        };
        cfg.set_session_keys_from_keying_material(&k.keying_material, true)
            .unwrap();
        let provider = rtc_crypto::default_provider().unwrap();
        let mut their_client = Context::new(
            &cfg.keys.local_master_key,
            &cfg.keys.local_master_salt,
            profile.to_rtc(),
            None,
            None,
            provider.crypto(),
        )
        .unwrap();
        let mut our_server = SrtpSession::new(&k).unwrap();
        let enc = their_client.encrypt_rtp(&rtp(5, 100)).unwrap();
        assert_eq!(our_server.unprotect_rtp(&enc).unwrap(), rtp(5, 100));
    }
}
