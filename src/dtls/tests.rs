use std::time::{Duration, Instant};

use super::*;
use crate::srtp::SrtpSession;

const C_ADDR: &str = "127.0.0.1:40000";
const S_ADDR: &str = "127.0.0.1:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn fp_of(cert: &DtlsCert) -> Vec<(String, Vec<u8>)> {
    vec![(
        "sha-256".into(),
        parse_fingerprint(&cert.fingerprint_sha256()).unwrap(),
    )]
}

/// Two transports on a virtual network; `drop` decides per datagram (from_client, index) whether it is lost.
struct Pair {
    client: DtlsTransport,
    server: DtlsTransport,
    now: Instant,
    client_events: Vec<DtlsEvent>,
    server_events: Vec<DtlsEvent>,
    sent: usize,
}

impl Pair {
    fn new(
        ccert: &DtlsCert,
        scert: &DtlsCert,
        c_expect: Vec<(String, Vec<u8>)>,
        s_expect: Vec<(String, Vec<u8>)>,
    ) -> Self {
        let now = Instant::now();
        let client = DtlsTransport::new(
            ccert,
            DtlsRole::Client,
            addr(C_ADDR),
            addr(S_ADDR),
            c_expect,
            now,
        )
        .unwrap();
        let server = DtlsTransport::new(
            scert,
            DtlsRole::Server,
            addr(S_ADDR),
            addr(C_ADDR),
            s_expect,
            now,
        )
        .unwrap();
        Self {
            client,
            server,
            now,
            client_events: vec![],
            server_events: vec![],
            sent: 0,
        }
    }

    /// Moves datagrams until both sides are idle; returns how many moved.
    fn pump(&mut self, drop: &mut dyn FnMut(bool, usize) -> bool) -> usize {
        let mut moved = 0;
        loop {
            let mut any = false;
            while let Some(d) = self.client.poll_transmit() {
                any = true;
                self.sent += 1;
                if !drop(true, self.sent) {
                    self.server.handle_input(self.now, &d);
                }
            }
            while let Some(d) = self.server.poll_transmit() {
                any = true;
                self.sent += 1;
                if !drop(false, self.sent) {
                    self.client.handle_input(self.now, &d);
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !any {
                return moved;
            }
            moved += 1;
        }
    }

    /// Runs pump + timers until both sides are done or `limit` of virtual time passes.
    fn drive(&mut self, drop: &mut dyn FnMut(bool, usize) -> bool, limit: Duration) {
        let start = self.now;
        loop {
            self.pump(drop);
            let done = |p: DtlsPhase| p != DtlsPhase::Handshaking;
            if done(self.client.phase()) && done(self.server.phase()) {
                return;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return };
            if next - start > limit {
                return;
            }
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
    }
}

fn keys(events: &[DtlsEvent]) -> SrtpKeys {
    match events.first() {
        Some(DtlsEvent::Connected { srtp }) => srtp.clone(),
        other => panic!("expected Connected, got {other:?}"),
    }
}

fn rtp(seq: u16) -> Vec<u8> {
    let s = seq.to_be_bytes();
    let mut p = vec![0x80, 96, s[0], s[1], 0, 0, 0, 1, 0, 0, 0, 9];
    p.extend_from_slice(&[0xAB; 100]);
    p
}

fn assert_media_flows(a: &SrtpKeys, b: &SrtpKeys) {
    let (mut a, mut b) = (SrtpSession::new(a).unwrap(), SrtpSession::new(b).unwrap());
    assert_eq!(
        b.unprotect_rtp(&a.protect_rtp(&rtp(1)).unwrap()).unwrap(),
        rtp(1)
    );
    assert_eq!(
        a.unprotect_rtp(&b.protect_rtp(&rtp(2)).unwrap()).unwrap(),
        rtp(2)
    );
}

#[test]
fn handshake_in_memory_exports_matching_keys() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    assert_eq!(p.client.phase(), DtlsPhase::Connected);
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
    let (ck, sk) = (keys(&p.client_events), keys(&p.server_events));
    assert_eq!(ck.keying_material, sk.keying_material);
    assert_eq!(
        ck.profile,
        SrtpProfile::AeadAes128Gcm,
        "GCM is offered first"
    );
    assert!(ck.is_client && !sk.is_client);
    assert_media_flows(&ck, &sk);
    assert_eq!(p.client.stats().datagrams_ignored, 0);
}

#[test]
fn roles_can_be_swapped() {
    // The same process certificate works as client in one session and server in another.
    let (a, b) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    for (c, s) in [(&a, &b), (&b, &a)] {
        let mut p = Pair::new(c, s, fp_of(s), fp_of(c));
        p.drive(&mut |_, _| false, Duration::from_secs(5));
        assert_media_flows(&keys(&p.client_events), &keys(&p.server_events));
    }
}

/// A foreign client (a bare rtc-dtls endpoint) that lists only AES_CM, as Chromium lists it first.
#[test]
fn server_accepts_client_that_prefers_aes_cm() {
    let scert = DtlsCert::generate().unwrap();
    let ccert = DtlsCert::generate().unwrap();
    let now = Instant::now();
    let mut server = DtlsTransport::new(
        &scert,
        DtlsRole::Server,
        addr(S_ADDR),
        addr(C_ADDR),
        fp_of(&ccert),
        now,
    )
    .unwrap();
    let cfg = ConfigBuilder::default()
        .with_crypto_provider(ccert.provider.clone())
        .with_certificates(vec![ccert.cert.clone()])
        .with_srtp_protection_profiles(vec![SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80])
        .with_extended_master_secret(ExtendedMasterSecretType::Require)
        .with_insecure_skip_verify(true)
        .build(true, Some(addr(S_ADDR)))
        .unwrap();
    let mut client = Endpoint::new(addr(C_ADDR), TransportProtocol::UDP, None);
    client
        .connect(now, addr(S_ADDR), Arc::new(cfg), None)
        .unwrap();
    let mut client_done = false;
    for _ in 0..20 {
        while let Some(m) = client.poll_transmit() {
            server.handle_input(now, &m.message);
        }
        while let Some(d) = server.poll_transmit() {
            for ev in client
                .read(now, addr(S_ADDR), None, BytesMut::from(&d[..]))
                .unwrap()
            {
                client_done |= matches!(ev, EndpointEvent::HandshakeComplete);
            }
        }
    }
    assert!(client_done);
    let sk = keys(&[server.poll_event().unwrap()]);
    assert_eq!(sk.profile, SrtpProfile::Aes128CmHmacSha1_80);
    let st = client.get_connection_state(addr(S_ADDR)).unwrap();
    let km = st
        .export_keying_material(SRTP_EXPORTER_LABEL, &[], sk.profile.keying_material_len())
        .unwrap();
    let ck = SrtpKeys {
        profile: sk.profile,
        keying_material: km.as_ref().to_vec(),
        is_client: true,
    };
    assert_eq!(ck.keying_material, sk.keying_material);
    assert_media_flows(&ck, &sk);
}

#[test]
fn lost_flight_is_retransmitted_after_poll_timeout() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    let start = p.now;
    // Lose the client's first ClientHello (as FFmpeg does).
    p.pump(&mut |from_client, n| from_client && n == 1);
    assert_eq!(p.server.phase(), DtlsPhase::Handshaking);
    let deadline = p.client.poll_timeout().expect("client waits for a reply");
    assert_eq!(deadline - start, FLIGHT_INTERVAL);
    // Early call does nothing.
    p.client.handle_timeout(deadline - Duration::from_millis(1));
    assert!(p.client.poll_transmit().is_none());
    p.drive(
        &mut |from_client, n| from_client && n == 1,
        Duration::from_secs(5),
    );
    assert_eq!(p.client.phase(), DtlsPhase::Connected);
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
    assert!(p.now - start >= FLIGHT_INTERVAL && p.now - start < Duration::from_secs(1));

    // Now lose the server's first reply flight instead.
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    let mut lost = 0;
    p.drive(
        &mut |from_client, _| {
            if !from_client && lost < 1 {
                lost += 1;
                return true;
            }
            false
        },
        Duration::from_secs(5),
    );
    assert_media_flows(&keys(&p.client_events), &keys(&p.server_events));
}

#[test]
fn silent_peer_times_out() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    p.drive(&mut |from_client, _| from_client, Duration::from_secs(600));
    assert_eq!(p.client.phase(), DtlsPhase::Failed);
    assert!(matches!(
        p.client_events.last(),
        Some(DtlsEvent::Failed(DtlsError::Timeout(_)))
    ));
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn wrong_fingerprint_fails_on_the_side_that_checks() {
    let (ccert, scert, other) = (
        DtlsCert::generate().unwrap(),
        DtlsCert::generate().unwrap(),
        DtlsCert::generate().unwrap(),
    );
    // The client expects another server certificate.
    let mut p = Pair::new(&ccert, &scert, fp_of(&other), fp_of(&ccert));
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    assert_eq!(p.client.phase(), DtlsPhase::Failed);
    let want = DtlsError::FingerprintMismatch {
        sha256: scert.fingerprint_sha256(),
    };
    assert_eq!(p.client_events, vec![DtlsEvent::Failed(want)]);
    assert!(!p
        .server_events
        .iter()
        .any(|e| matches!(e, DtlsEvent::Connected { .. })));

    // The server expects another client certificate.
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&other));
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    assert_eq!(p.server.phase(), DtlsPhase::Failed);
    let want = DtlsError::FingerprintMismatch {
        sha256: ccert.fingerprint_sha256(),
    };
    assert_eq!(p.server_events, vec![DtlsEvent::Failed(want)]);
    assert!(!p
        .client_events
        .iter()
        .any(|e| matches!(e, DtlsEvent::Connected { .. })));
}

#[test]
fn any_offered_fingerprint_may_match_case_insensitively() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let der = scert.der().to_vec();
    let lower = format_fingerprint(&fingerprint(FingerprintAlg::Sha384, &der)).to_lowercase();
    let offered = vec![
        ("sha-1".to_string(), vec![0u8; 20]),
        ("sha-256".to_string(), vec![1u8; 32]),
        ("SHA-384".to_string(), parse_fingerprint(&lower).unwrap()),
    ];
    let mut p = Pair::new(&ccert, &scert, offered, fp_of(&ccert));
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    assert_eq!(p.client.phase(), DtlsPhase::Connected);
    let sha512 = vec![(
        "sha-512".to_string(),
        fingerprint(FingerprintAlg::Sha512, ccert.der()),
    )];
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), sha512);
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
}

#[test]
fn garbled_datagrams_are_ignored_without_panic() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![22],
        vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 1, 2, 3], // length past the end
        vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],           // empty record
        // Well framed, garbage body, handshake type at epoch 0 and 1 and an unknown type.
        [
            &[22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 99, 0, 8][..],
            &[0xEE; 8],
        ]
        .concat(),
        [
            &[22u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99, 0, 40][..],
            &[0x11; 40],
        ]
        .concat(),
        [
            &[23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 97, 0, 40][..],
            &[0x33; 40],
        ]
        .concat(),
        // Unknown content type and a wrong version: rtc-dtls would answer with a fatal alert.
        [
            &[63u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 98, 0, 4][..],
            &[0x22; 4],
        ]
        .concat(),
        [
            &[22u8, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 96, 0, 4][..],
            &[0x22; 4],
        ]
        .concat(),
    ];
    for g in &garbage {
        p.server.handle_input(p.now, g); // before any ClientHello
    }
    // Let the handshake progress one step, then garble again mid-way on both sides.
    p.pump(&mut |_, n| n > 1);
    for g in &garbage {
        p.client.handle_input(p.now, g);
        p.server.handle_input(p.now, g);
    }
    assert!(p.client.stats().datagrams_ignored >= 6);
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    // Nothing above is a valid record: both sides drop it and go on.
    assert_eq!(p.client.phase(), DtlsPhase::Connected);
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
    assert_media_flows(&keys(&p.client_events), &keys(&p.server_events));
    for g in &garbage {
        p.client.handle_input(p.now, g);
        p.server.handle_input(p.now, g);
    }
    assert_eq!(
        p.client.phase(),
        DtlsPhase::Connected,
        "forged records after connect are dropped"
    );
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
}

#[test]
fn garbled_records_from_a_fuzzer_never_panic() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    let hello = p.client.poll_transmit().unwrap().to_vec();
    // Flip each byte of a real ClientHello in turn and feed it to fresh servers.
    for i in (0..hello.len()).step_by(7) {
        let mut s = DtlsTransport::new(
            &scert,
            DtlsRole::Server,
            addr(S_ADDR),
            addr(C_ADDR),
            fp_of(&ccert),
            p.now,
        )
        .unwrap();
        let mut bad = hello.clone();
        bad[i] ^= 0xA5;
        s.handle_input(p.now, &bad);
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        s.handle_timeout(p.now + Duration::from_secs(1));
    }
}

#[test]
fn close_notify_reaches_the_peer() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    p.drive(&mut |_, _| false, Duration::from_secs(5));
    p.client.close(p.now);
    assert_eq!(p.client.phase(), DtlsPhase::Closed);
    p.pump(&mut |_, _| false);
    assert_eq!(p.server.phase(), DtlsPhase::Closed);
    assert_eq!(p.server_events.last(), Some(&DtlsEvent::Closed));
    // The server's reply is ignored by the closed client.
    assert!(p.client.stats().datagrams_ignored >= 1);
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn no_usable_fingerprint_is_refused() {
    let cert = DtlsCert::generate().unwrap();
    let err = DtlsTransport::new(
        &cert,
        DtlsRole::Server,
        addr(S_ADDR),
        addr(C_ADDR),
        vec![("md5".into(), vec![1, 2])],
        Instant::now(),
    )
    .unwrap_err();
    assert_eq!(err, DtlsError::NoUsableFingerprint(vec!["md5".into()]));
}

#[test]
fn fingerprint_text_round_trips_and_rejects_junk() {
    let cert = DtlsCert::generate().unwrap();
    let fp = cert.fingerprint_sha256();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert_eq!(fp, fp.to_uppercase());
    let bytes = parse_fingerprint(&fp.to_lowercase()).unwrap();
    assert_eq!(format_fingerprint(&bytes), fp);
    assert_eq!(bytes, fingerprint(FingerprintAlg::Sha256, cert.der()));
    for junk in ["", "A", "ABC:DE", "GG:00", "00::11", "00:11:"] {
        assert_eq!(
            parse_fingerprint(junk),
            Err(DtlsError::BadFingerprint(junk.into())),
            "{junk}"
        );
    }
    assert_eq!(
        FingerprintAlg::from_name("Sha-512"),
        Some(FingerprintAlg::Sha512)
    );
    assert_eq!(FingerprintAlg::from_name("sha-1"), None);
}

/// A P-224 key, message and SHA-256 / SHA-384 signatures made once with the
/// OpenSSL command line (`openssl ecparam -name secp224r1 -genkey`, then
/// `openssl dgst -sha256 -sign`), as FFmpeg's GnuTLS and OpenSSL peers make them.
const OPENSSL_P224_POINT: &str = "04bec64a87fad6d8640312900b024adf5a1cac157ebb4f8017b95818ccb7eba729c167a0a3b3c3aef6ce6f0d445f3d6be3d40d2f638cd5c76f";
const OPENSSL_P224_SHA256_SIG: &str = "303d021c101cadd873464108a1bca4243e3a8c38674e397e0e98078b76c73dfe021d00e336a024464ea290099fcbaf982e014ae63b3f0e89c6712f8b1c6f77";
const OPENSSL_P224_SHA384_SIG: &str = "303c021c474f421252d7ddf9b9f4675e036d3afb83de80728a6a65dbbda90092021c715b2d0a74801ef02c6d045534ceedce18a5f1418b6292ed50217c51";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn p224_signatures_verify() {
    use p224::ecdsa::signature::hazmat::PrehashSigner;
    use p224::ecdsa::{Signature, SigningKey};
    use rtc_crypto::{PublicKey, PublicKeyEncoding, RTCCrypto, SignatureScheme};
    let provider = compat::CompatProvider::new().unwrap();
    let check = |point: &[u8], s: SignatureScheme, msg: &[u8], sig: &[u8]| {
        let pk = PublicKey {
            encoding: PublicKeyEncoding::EcUncompressedPoint,
            bytes: point,
        };
        provider.verify_signature(s, pk, msg, sig).is_ok()
    };
    let msg = b"server key exchange";

    // Signatures made by OpenSSL.
    let point = unhex(OPENSSL_P224_POINT);
    let sig256 = unhex(OPENSSL_P224_SHA256_SIG);
    let sig384 = unhex(OPENSSL_P224_SHA384_SIG);
    assert!(check(
        &point,
        SignatureScheme::EcdsaP256Sha256,
        msg,
        &sig256
    ));
    assert!(check(
        &point,
        SignatureScheme::EcdsaP384Sha384,
        msg,
        &sig384
    ));
    assert!(!check(
        &point,
        SignatureScheme::EcdsaP256Sha256,
        b"tampered",
        &sig256
    ));
    assert!(!check(
        &point,
        SignatureScheme::EcdsaP384Sha384,
        msg,
        &sig256
    ));
    assert!(!check(&point, SignatureScheme::Ed25519, msg, &sig256));
    let mut flipped = sig256.clone();
    flipped[10] ^= 1;
    assert!(!check(
        &point,
        SignatureScheme::EcdsaP256Sha256,
        msg,
        &flipped
    ));
    assert!(!check(
        &point,
        SignatureScheme::EcdsaP256Sha256,
        msg,
        &sig256[..20]
    ));

    // A fresh key signing with `p224` itself (secret from ring's RNG).
    let rng = ring::rand::SystemRandom::new();
    let key = loop {
        let mut secret = [0u8; 28];
        ring::rand::SecureRandom::fill(&rng, &mut secret).unwrap();
        if let Ok(k) = SigningKey::from_slice(&secret) {
            break k;
        }
    };
    let point = key.verifying_key().to_encoded_point(false);
    let point = point.as_bytes();
    assert_eq!(point.len(), 57);
    let digest = ring::digest::digest(&ring::digest::SHA256, msg);
    let sig: Signature = key.sign_prehash(digest.as_ref()).unwrap();
    let der = sig.to_der();
    let s = SignatureScheme::EcdsaP256Sha256;
    assert!(check(point, s, msg, der.as_bytes()));
    assert!(!check(point, s, b"tampered", der.as_bytes()));
    let other = unhex(OPENSSL_P224_POINT);
    assert!(
        !check(&other, s, msg, der.as_bytes()),
        "another key's point"
    );
}

#[test]
fn types_cross_shards() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<DtlsTransport>();
    send_sync::<DtlsCert>();
}

/// Not an assertion: prints the in-memory cost of one handshake (both sides, this thread).
#[test]
fn handshake_cost_in_memory() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
        p.drive(&mut |_, _| false, Duration::from_secs(5));
        assert_eq!(p.server.phase(), DtlsPhase::Connected);
    }
    eprintln!(
        "in-memory DTLS handshake (client+server, debug build): {} us",
        t.elapsed().as_micros() / n
    );
}

#[test]
fn lost_final_flight_is_recovered() {
    let (ccert, scert) = (DtlsCert::generate().unwrap(), DtlsCert::generate().unwrap());
    // Record which datagrams the server sends in a clean run.
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    let mut server_sent = vec![];
    p.drive(
        &mut |from_client, n| {
            if !from_client {
                server_sent.push(n);
            }
            false
        },
        Duration::from_secs(5),
    );
    let last = *server_sent.last().unwrap();
    // Lose the server's final flight: the client must retransmit its own and the
    // (already connected) server must answer with its final flight again.
    let mut p = Pair::new(&ccert, &scert, fp_of(&scert), fp_of(&ccert));
    p.drive(
        &mut |from_client, n| !from_client && n == last,
        Duration::from_secs(5),
    );
    assert_eq!(p.server.phase(), DtlsPhase::Connected);
    assert_eq!(
        p.client.phase(),
        DtlsPhase::Connected,
        "client events {:?}",
        p.client_events
    );
    assert_media_flows(&keys(&p.client_events), &keys(&p.server_events));
}
