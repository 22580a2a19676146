//! Tests of the pull's offer and its controlling ICE side (virtual time).

use std::time::{Duration, Instant};

use super::*;
use crate::ice::IntegrityKey;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A well-formed SHA-256 fingerprint of 32 bytes `b`.
fn fp(b: u8) -> String {
    vec![format!("{b:02X}"); 32].join(":")
}

#[test]
fn the_offer_is_recvonly_bundled_with_our_codecs_and_candidate() {
    let sdp = pull_offer(
        "uf",
        "pw0123456789012345678901",
        &fp(0xab),
        addr("127.0.0.3:40000"),
    );
    let offer = crate::sdp::parse_offer(&sdp).unwrap();
    assert_eq!(offer.ice_ufrag, "uf");
    assert_eq!(offer.setup, crate::sdp::Setup::ActPass);
    assert_eq!(offer.media.len(), 2);
    for m in &offer.media {
        assert_eq!(m.direction, crate::sdp::Direction::RecvOnly);
        assert!(m.rtcp_mux);
    }
    assert!(sdp.contains("a=rtpmap:111 opus/48000/2"));
    assert!(sdp.contains("packetization-mode=1;profile-level-id=42e01f"));
    assert!(sdp.contains("a=rtpmap:96 VP8/90000"));
    assert_eq!(first_udp_candidate(&sdp), Some(addr("127.0.0.3:40000")));
}

#[test]
fn candidates_other_than_udp_host_lines_are_skipped() {
    let sdp = "a=candidate:1 1 tcp 1 127.0.0.1 9 typ host\r\na=candidate:2 1 udp 1 127.0.0.2 8000 typ host\r\n";
    assert_eq!(first_udp_candidate(sdp), Some(addr("127.0.0.2:8000")));
    assert_eq!(first_udp_candidate("a=candidate:x\r\n"), None);
}

/// A success response to `req` as the origin's ICE-lite agent writes it.
fn answer_to(req: &[u8], pwd: &str) -> Vec<u8> {
    let msg = ice::parse(req).unwrap();
    let mut out = Vec::new();
    ice::write_binding_success_with(
        msg.transaction_id(),
        addr("127.0.0.3:40000"),
        &IntegrityKey::new(pwd.as_bytes()),
        &mut out,
    );
    out
}

#[test]
fn checks_repeat_until_answered_then_become_keepalives() {
    let t0 = Instant::now();
    let mut up = Upstream::new("local", "remote", "originpwd", addr("127.0.0.2:8000"), t0);
    let mut buf = Vec::new();
    assert!(up.poll_check(t0, &mut buf));
    let first = buf.clone();
    let msg = ice::parse(&first).unwrap();
    assert!(msg.is_binding_request());
    assert_eq!(msg.username(), Some("remote:local"));
    assert!(msg.use_candidate());
    assert!(msg.verify_integrity(b"originpwd"));
    // Not due again before the retransmission interval.
    assert!(!up.poll_check(t0 + CHECK_RTO / 2, &mut buf));
    assert_eq!(up.poll_timeout(), Some(t0 + CHECK_RTO));
    assert!(up.poll_check(t0 + CHECK_RTO, &mut buf));
    // A response signed with another password, or to no check of ours, is refused.
    let forged = answer_to(&first, "wrong");
    assert!(!up.handle_response(&ice::parse(&forged).unwrap()));
    let mut stranger = answer_to(&first, "originpwd");
    stranger[10] ^= 1;
    assert!(ice::parse(&stranger).is_err() || !up.handle_response(&ice::parse(&stranger).unwrap()));
    // The origin's answer to the first check: keepalives from then on.
    let ok = answer_to(&first, "originpwd");
    assert!(up.handle_response(&ice::parse(&ok).unwrap()));
    assert!(up.is_answered());
    let t1 = t0 + Duration::from_millis(500);
    assert!(up.poll_check(t1, &mut buf));
    assert_eq!(up.poll_timeout(), Some(t1 + KEEPALIVE));
    // A second answer to the same check is not counted again.
    assert!(!up.handle_response(&ice::parse(&ok).unwrap()));
}

#[test]
fn a_checks_answer_selects_the_origin_and_restarts_the_timeout() {
    let t0 = Instant::now();
    let origin = addr("127.0.0.2:8000");
    let mut agent = IceLite::new("l", "p", Some("r".into()), Duration::from_secs(5), t0);
    agent.handle_check_response(t0 + Duration::from_secs(4), origin);
    assert_eq!(agent.selected(), Some(origin));
    assert!(agent.is_validated(origin));
    assert_eq!(agent.poll_timeout(), Some(t0 + Duration::from_secs(9)));
    // Past the timeout without answers: dead, as a player whose checks stop.
    agent.handle_timeout(t0 + Duration::from_secs(9));
    assert!(agent.is_dead());
    agent.handle_check_response(t0 + Duration::from_secs(10), origin);
    assert_eq!(agent.selected(), None);
}

#[test]
fn the_origins_answer_reads_as_a_publishers_offer() {
    use crate::sdp::{Candidate, Codec, PlayOptions, Transport};
    let offer = pull_offer(
        "edgeufrg",
        "edgepwd0123456789012345678901",
        &fp(0xab),
        addr("127.0.0.3:40000"),
    );
    // The origin answers as for any WHEP player of an H.264 + Opus stream.
    let origin = crate::sdp::answer(
        &crate::sdp::parse_offer(&offer).unwrap(),
        &AnswerOptions {
            role: Role::Play,
            ice_ufrag: "origufrg".into(),
            ice_pwd: "origpwd0123456789012345678901".into(),
            fingerprint_sha256: fp(1),
            dtls_role_active: false,
            candidates: vec![Candidate {
                address: "127.0.0.2".into(),
                port: 8000,
                transport: Transport::Udp,
            }],
            twcc: true,
            nack: true,
            play: Some(PlayOptions {
                video_codec: Some(Codec::H264),
                audio_codec: Some(Codec::Opus),
                audio_ssrc: 11,
                video_ssrc: 22,
                video_rtx_ssrc: 33,
                cname: "c".into(),
                stream_id: "live/s".into(),
            }),
        },
    )
    .unwrap();
    assert_eq!(
        first_udp_candidate(&origin.sdp),
        Some(addr("127.0.0.2:8000"))
    );
    let ours = crate::sdp::answer(
        &crate::sdp::parse_offer(&origin.sdp).unwrap(),
        &AnswerOptions {
            role: Role::Publish,
            ice_ufrag: "edgeufrg".into(),
            ice_pwd: "edgepwd0123456789012345678901".into(),
            fingerprint_sha256: fp(0xab),
            dtls_role_active: false,
            candidates: Vec::new(),
            twcc: false,
            nack: true,
            play: None,
        },
    )
    .unwrap();
    assert!(ours.we_are_dtls_client, "the origin answers passive");
    assert_eq!(ours.remote_ufrag, "origufrg");
    assert_eq!(ours.tracks.len(), 2);
    let video = ours.tracks.iter().find(|t| t.codec == Codec::H264).unwrap();
    assert_eq!(video.pt, 106);
    assert!(video.remote_ssrcs.contains(&22), "{:?}", video.remote_ssrcs);
}
