//! Tests for the sdp module: real offers, the answer rules, every error, and
//! SRS's candidate rules.

use std::io::Cursor;

use super::*;

pub(super) const AIORTC: &str = include_str!("../../tests/fixtures/sdp/aiortc_whip_h264.sdp");
pub(super) const CHROMIUM: &str = include_str!("../../tests/fixtures/sdp/chromium156_whip.sdp");
pub(super) const FFMPEG: &str = include_str!("../../tests/fixtures/sdp/ffmpeg8_whip_gnutls.sdp");
pub(super) const ANSWER_TO_FFMPEG: &str =
    include_str!("../../tests/fixtures/sdp/answer_to_ffmpeg8.sdp");
pub(super) const SRS_DOC: &str = include_str!("../../tests/fixtures/sdp/srs_whip_offer.sdp");
pub(super) const SRS_DOC_MIN: &str =
    include_str!("../../tests/fixtures/sdp/srs_whip_offer_minimal.sdp");

pub(super) const FP: &str = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";
pub(super) const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

pub(super) fn udp(ip: &str, port: u16) -> Candidate {
    Candidate {
        address: ip.into(),
        port,
        transport: Transport::Udp,
    }
}

pub(super) fn publish_opts() -> AnswerOptions {
    AnswerOptions {
        role: Role::Publish,
        ice_ufrag: "6pk11386".into(),
        ice_pwd: "l91z529147ri9163933p51c4".into(),
        fingerprint_sha256: FP.into(),
        dtls_role_active: false,
        candidates: vec![udp("127.0.0.1", 8000)],
        twcc: true,
        nack: true,
        play: None,
    }
}

pub(super) fn play_opts(video: Option<Codec>) -> AnswerOptions {
    AnswerOptions {
        role: Role::Play,
        play: Some(PlayOptions {
            video_codec: video,
            audio_codec: Some(Codec::Opus),
            audio_ssrc: 1111,
            video_ssrc: 2222,
            video_rtx_ssrc: 3333,
            cname: "shardsfu".into(),
            stream_id: "live/livestream".into(),
        }),
        ..publish_opts()
    }
}

/// An offer with the usual session part and the given m-sections.
pub(super) fn offer_text(setup: &str, sections: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n\
         a=fingerprint:sha-256 {FP}\r\na=setup:{setup}\r\n{sections}"
    )
}

pub(super) fn video_section(mid: &str, dir: &str, codecs: &[(u8, &str, &str)]) -> String {
    let pts: Vec<String> = codecs.iter().map(|c| c.0.to_string()).collect();
    let mut s = format!(
        "m=video 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na={dir}\r\n",
        pts.join(" ")
    );
    for (pt, name, fmtp) in codecs {
        s.push_str(&format!(
            "a=rtpmap:{pt} {name}/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n"
        ));
        if !fmtp.is_empty() {
            s.push_str(&format!("a=fmtp:{pt} {fmtp}\r\n"));
        }
    }
    s
}

pub(super) fn audio_section(mid: &str, dir: &str) -> String {
    format!("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na={dir}\r\na=rtpmap:111 opus/48000/2\r\n")
}

/// The answer must parse with the `sdp` crate and keep one m-line per offered one.
pub(super) fn parse_back(
    answer: &Answer,
    offer: &Offer,
) -> ::sdp::description::session::SessionDescription {
    let sd = ::sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(
        answer.sdp.as_bytes(),
    ))
    .unwrap_or_else(|e| panic!("answer does not parse: {e}\n{}", answer.sdp));
    assert_eq!(sd.media_descriptions.len(), offer.media.len());
    assert!(answer.sdp.ends_with("\r\n"));
    assert!(!answer.sdp.contains("\n\n"));
    sd
}

/// The lines of the m-section with this mid.
pub(super) fn section<'a>(sdp: &'a str, mid: &str) -> Vec<&'a str> {
    let sections: Vec<&str> = sdp.split("m=").skip(1).collect();
    let want = format!("a=mid:{mid}\r\n");
    let s = sections
        .into_iter()
        .find(|s| s.contains(&want))
        .expect("section");
    s.lines().collect()
}

pub(super) fn track(a: &Answer, kind: MediaKind) -> &NegotiatedTrack {
    a.tracks.iter().find(|t| t.kind == kind).expect("track")
}

#[test]
pub(super) fn aiortc_offer_gets_h264_42e01f_and_opus() {
    let offer = parse_offer(AIORTC).unwrap();
    assert_eq!(offer.ice_ufrag, "n3R2");
    assert_eq!(offer.ice_pwd, "4LimRzmqGdfzWezvf3RFWc");
    assert_eq!(offer.setup, Setup::ActPass);
    assert_eq!(offer.fingerprints.len(), 3);
    assert_eq!(offer.fingerprints[0].algorithm, "sha-256");
    assert_eq!(offer.fingerprints[0].value[..2], [0xA1, 0x1E]);
    assert_eq!(
        offer.media[1]
            .codecs
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["opus", "G722", "PCMU", "PCMA"]
    );

    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    assert!(!a.we_are_dtls_client);
    assert_eq!(a.remote_ufrag, "n3R2");
    let v = track(&a, MediaKind::Video);
    assert_eq!((v.codec, v.pt, v.mid.as_str()), (Codec::H264, 101, "0"));
    assert_eq!(
        v.ext,
        ExtIds {
            mid: Some(1),
            abs_send_time: Some(3),
            twcc: None
        }
    );
    assert!(v.nack && !v.twcc);
    assert_eq!(v.remote_ssrcs, [4116721902]);
    let au = track(&a, MediaKind::Audio);
    assert_eq!(
        (au.codec, au.pt, au.channels, au.clock_rate),
        (Codec::Opus, 96, 2, 48000)
    );
    assert_eq!(au.ext.mid, Some(1));

    assert!(a.sdp.contains("a=ice-lite\r\n"));
    assert!(a.sdp.contains("a=group:BUNDLE 0 1\r\n"));
    let video = section(&a.sdp, "0");
    assert_eq!(video[0], "video 8000 UDP/TLS/RTP/SAVPF 101");
    for want in [
        "c=IN IP4 127.0.0.1",
        "a=setup:passive",
        "a=recvonly",
        "a=rtcp-mux",
        "a=ice-ufrag:6pk11386",
        "a=ice-pwd:l91z529147ri9163933p51c4",
        "a=rtpmap:101 H264/90000",
        "a=rtcp-fb:101 nack",
        "a=rtcp-fb:101 nack pli",
        "a=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=candidate:0 1 udp 2130706431 127.0.0.1 8000 typ host generation 0",
    ] {
        assert!(video.contains(&want), "missing {want:?} in {video:#?}");
    }
    assert!(video.contains(&format!("a=fingerprint:sha-256 {FP}").as_str()));
    // aiortc offers no rtcp-rsize, and goog-remb is not ours to echo.
    assert!(!a.sdp.contains("rtcp-rsize") && !a.sdp.contains("goog-remb"));
    assert!(!a.sdp.contains("ssrc-audio-level") && !a.sdp.contains("end-of-candidates"));
}

#[test]
pub(super) fn chromium_offer_gets_h264_108_with_twcc() {
    let offer = parse_offer(CHROMIUM).unwrap();
    assert_eq!(offer.media[1].codecs.len(), 8);
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    let v = track(&a, MediaKind::Video);
    assert_eq!((v.pt, v.rtx_pt), (108, None));
    assert_eq!(
        v.ext,
        ExtIds {
            mid: Some(9),
            abs_send_time: Some(2),
            twcc: Some(4)
        }
    );
    assert!(v.twcc && v.nack);
    assert_eq!(v.remote_ssrcs, [4120846226]);
    let au = track(&a, MediaKind::Audio);
    assert_eq!(
        (au.pt, au.fmtp.as_str()),
        (111, "minptime=10;useinbandfec=1")
    );
    assert_eq!(
        au.ext,
        ExtIds {
            mid: Some(9),
            abs_send_time: Some(2),
            twcc: Some(4)
        }
    );

    let video = section(&a.sdp, "0");
    let extmaps: Vec<&&str> = video
        .iter()
        .filter(|l| l.starts_with("a=extmap:"))
        .collect();
    assert_eq!(extmaps.len(), 3, "{extmaps:?}");
    assert!(video.contains(&"a=rtcp-fb:108 transport-cc"));
    assert!(video.contains(&"a=rtcp-rsize"));
    assert!(!video
        .iter()
        .any(|l| l.contains("ccm fir") || l.contains("toffset")));
    let audio = section(&a.sdp, "1");
    assert!(audio.contains(&"a=rtpmap:111 opus/48000/2"));
    assert!(audio.contains(&"a=rtcp-fb:111 transport-cc"));
    assert!(!audio.iter().any(|l| l.contains("ssrc-audio-level")));
}

#[test]
pub(super) fn twcc_off_drops_extension_and_feedback() {
    let offer = parse_offer(CHROMIUM).unwrap();
    let a = answer(
        &offer,
        &AnswerOptions {
            twcc: false,
            ..publish_opts()
        },
    )
    .unwrap();
    assert!(!a.sdp.contains("transport-cc") && !a.sdp.contains(TWCC_URI));
    assert!(a.tracks.iter().all(|t| !t.twcc && t.ext.twcc.is_none()));
}

#[test]
pub(super) fn ffmpeg_offer_passive_makes_us_dtls_client_with_rtx() {
    let offer = parse_offer(FFMPEG).unwrap();
    assert_eq!(offer.setup, Setup::Passive);
    assert_eq!(offer.media[1].rtx, [(105, 106)]);
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    assert!(a.we_are_dtls_client);
    let v = track(&a, MediaKind::Video);
    assert_eq!((v.pt, v.rtx_pt), (106, Some(105)));
    assert_eq!(v.remote_ssrcs, [1346534293]);
    assert_eq!(v.remote_rtx_ssrc, Some(1346534294));
    let video = section(&a.sdp, "1");
    assert_eq!(video[0], "video 8000 UDP/TLS/RTP/SAVPF 106 105");
    for want in [
        "a=setup:active",
        "a=rtpmap:105 rtx/90000",
        "a=fmtp:105 apt=106",
        "a=rtcp-fb:106 nack",
        "a=rtcp-rsize",
    ] {
        assert!(video.contains(&want), "missing {want:?}");
    }
    // FFmpeg offered no "nack pli", so none is answered.
    assert!(!video.contains(&"a=rtcp-fb:106 nack pli"));
    assert_eq!(track(&a, MediaKind::Audio).remote_ssrcs, [1346534292]);

    let no_nack = answer(
        &offer,
        &AnswerOptions {
            nack: false,
            ..publish_opts()
        },
    )
    .unwrap();
    let v = track(&no_nack, MediaKind::Video);
    assert_eq!((v.rtx_pt, v.nack), (None, false));
    assert!(!no_nack.sdp.contains("rtx/") && !no_nack.sdp.contains("nack"));
}

#[test]
pub(super) fn srs_doc_offer_is_answered() {
    let offer = parse_offer(SRS_DOC).unwrap();
    assert_eq!(offer.ice_ufrag, "J8X7");
    assert_eq!(offer.ice_pwd, "Dpq7/fW/osYcPeLsCW2Ek1JH");
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    assert_eq!(track(&a, MediaKind::Video).pt, 106);
    assert_eq!(track(&a, MediaKind::Video).remote_rtx_ssrc, Some(684544361));
    assert_eq!(track(&a, MediaKind::Audio).pt, 111);
    assert!(a
        .sdp
        .contains("a=candidate:0 1 udp 2130706431 127.0.0.1 8000 typ host generation 0\r\n"));
}

#[test]
pub(super) fn srs_minimal_doc_offer_needs_relaxed_fingerprint() {
    assert_eq!(parse_offer(SRS_DOC_MIN), Err(SdpError::MissingFingerprint));
    let offer = parse_offer_with(
        SRS_DOC_MIN,
        ParseOptions {
            require_fingerprint: false,
        },
    )
    .unwrap();
    assert!(offer.fingerprints.is_empty());
    assert_eq!(offer.ice_ufrag, "J8X7");
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    // H264 without fmtp (packetization-mode 0) is the publish last resort.
    assert_eq!(track(&a, MediaKind::Video).pt, 106);
    assert_eq!(track(&a, MediaKind::Audio).remote_ssrcs, [3184534672]);
}

#[test]
pub(super) fn recvonly_offer_plays_but_does_not_publish() {
    // An answer from another server reads as a player's (recvonly) offer.
    let offer = parse_offer(ANSWER_TO_FFMPEG).unwrap();
    assert_eq!(offer.setup, Setup::Active);
    let err = answer(&offer, &publish_opts()).unwrap_err();
    assert!(matches!(err, SdpError::NoSupportedCodec { .. }), "{err}");
    let a = answer(&offer, &play_opts(Some(Codec::H264))).unwrap();
    parse_back(&a, &offer);
    assert!(!a.we_are_dtls_client);
    assert!(a.sdp.contains("a=sendonly\r\n") && !a.sdp.contains("a=recvonly"));
    assert_eq!(track(&a, MediaKind::Video).pt, 106);
    assert!(a.tracks.iter().all(|t| t.remote_ssrcs.is_empty()));
}

#[test]
pub(super) fn setup_table() {
    let cases = [
        ("actpass", false, "passive", false),
        ("actpass", true, "active", true),
        ("active", false, "passive", false),
        ("active", true, "passive", false),
        ("passive", false, "active", true),
        ("passive", true, "active", true),
        ("ACTPASS", false, "passive", false),
    ];
    for (offered, role_active, want, client) in cases {
        let offer = parse_offer(&offer_text(offered, &audio_section("0", "sendonly"))).unwrap();
        let a = answer(
            &offer,
            &AnswerOptions {
                dtls_role_active: role_active,
                ..publish_opts()
            },
        )
        .unwrap();
        assert!(
            a.sdp.contains(&format!("a=setup:{want}\r\n")),
            "{offered} {role_active}"
        );
        assert_eq!(a.we_are_dtls_client, client, "{offered} {role_active}");
    }
    // No a=setup at all: RFC 4145's default for an offer is active.
    let text =
        offer_text("actpass", &audio_section("0", "sendonly")).replace("a=setup:actpass\r\n", "");
    let offer = parse_offer(&text).unwrap();
    assert_eq!(offer.setup, Setup::Active);
    assert!(!answer(&offer, &publish_opts()).unwrap().we_are_dtls_client);
}

#[test]
pub(super) fn codec_names_compare_case_insensitively() {
    let sections = format!(
        "m=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=mid:a\r\na=sendonly\r\na=rtpmap:109 OPUS/48000/2\r\n{}",
        video_section("v", "sendonly", &[(96, "h264", "packetization-mode=1;profile-level-id=42E01F")])
    );
    let offer = parse_offer(&offer_text("actpass", &sections)).unwrap();
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    assert_eq!(track(&a, MediaKind::Audio).codec, Codec::Opus);
    assert_eq!(track(&a, MediaKind::Video).codec, Codec::H264);
    assert!(a.sdp.contains("a=rtpmap:109 OPUS/48000/2\r\n"));
    assert!(a.sdp.contains("a=rtpmap:96 h264/90000\r\n"));
}

pub(super) fn chosen_video_pt(
    codecs: &[(u8, &str, &str)],
    opts: &AnswerOptions,
) -> Result<u8, SdpError> {
    let offer = parse_offer(&offer_text(
        "actpass",
        &video_section("0", "sendrecv", codecs),
    ))
    .unwrap();
    let a = answer(&offer, opts)?;
    parse_back(&a, &offer);
    Ok(track(&a, MediaKind::Video).pt)
}

#[test]
pub(super) fn h264_profile_preference() {
    let pm0 = (96, "H264", "packetization-mode=0;profile-level-id=42e01f");
    let main = (97, "H264", "packetization-mode=1;profile-level-id=4d001f");
    let cb = (98, "H264", "packetization-mode=1;profile-level-id=42001f");
    let best = (
        99,
        "H264",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    );
    let vp8 = (100, "VP8", "");
    let p = publish_opts();
    assert_eq!(chosen_video_pt(&[pm0, main, cb, best, vp8], &p), Ok(99));
    assert_eq!(chosen_video_pt(&[vp8, pm0, main, cb], &p), Ok(98));
    assert_eq!(chosen_video_pt(&[vp8, pm0, main], &p), Ok(97));
    assert_eq!(chosen_video_pt(&[pm0, vp8], &p), Ok(100));
    // Publish: H.264 without packetization-mode=1 as the last resort (as SRS).
    assert_eq!(chosen_video_pt(&[pm0], &p), Ok(96));
    // Play: never.
    let err = chosen_video_pt(&[pm0], &play_opts(None)).unwrap_err();
    match err {
        SdpError::NoSupportedCodec { offered } => {
            assert_eq!(offered, "video: H264/90000 (packetization-mode=0)")
        }
        e => panic!("{e}"),
    }
}

#[test]
pub(super) fn play_is_restricted_to_the_publishers_codec() {
    let both = [
        (96, "H264", "packetization-mode=1;profile-level-id=42e01f"),
        (100, "VP8", ""),
    ];
    assert_eq!(
        chosen_video_pt(&both, &play_opts(Some(Codec::Vp8))),
        Ok(100)
    );
    assert_eq!(
        chosen_video_pt(&both, &play_opts(Some(Codec::H264))),
        Ok(96)
    );
    assert_eq!(chosen_video_pt(&both, &play_opts(None)), Ok(96));
    let err = chosen_video_pt(&both[..1], &play_opts(Some(Codec::Vp8))).unwrap_err();
    assert!(
        matches!(&err, SdpError::NoSupportedCodec { offered } if offered.contains("H264")),
        "{err}"
    );
}

#[test]
pub(super) fn play_answer_has_ssrcs_msid_and_fid_group() {
    let mut sections = audio_section("a", "recvonly");
    sections.push_str(&video_section(
        "v",
        "recvonly",
        &[(96, "VP8", ""), (97, "rtx", "apt=96")],
    ));
    let offer = parse_offer(&offer_text("actpass", &sections)).unwrap();
    let a = answer(&offer, &play_opts(Some(Codec::Vp8))).unwrap();
    parse_back(&a, &offer);
    assert!(a.sdp.contains("a=msid-semantic: WMS live/livestream\r\n"));
    let video = section(&a.sdp, "v");
    for want in [
        "a=sendonly",
        "a=msid:live/livestream live/livestream-video",
        "a=ssrc-group:FID 2222 3333",
        "a=ssrc:2222 cname:shardsfu",
        "a=ssrc:3333 cname:shardsfu",
        "a=ssrc:2222 msid:live/livestream live/livestream-video",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
    ] {
        assert!(video.contains(&want), "missing {want:?} in {video:#?}");
    }
    let audio = section(&a.sdp, "a");
    assert!(audio.contains(&"a=ssrc:1111 cname:shardsfu"));
    assert_eq!(track(&a, MediaKind::Video).rtx_pt, Some(97));

    // A cname from outside cannot break the SDP.
    let mut opts = play_opts(Some(Codec::Vp8));
    opts.play.as_mut().unwrap().cname = "evil\r\na=inject".into();
    let a = answer(&offer, &opts).unwrap();
    assert!(!a.sdp.contains("\r\na=inject"));
    parse_back(&a, &offer);
}

#[test]
pub(super) fn extra_and_unknown_m_lines_are_rejected_inactive() {
    let mut sections = video_section(
        "0",
        "sendonly",
        &[(96, "H264", "packetization-mode=1;profile-level-id=42e01f")],
    );
    sections.push_str(&video_section("1", "sendonly", &[(97, "VP8", "")]));
    sections.push_str(
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n",
    );
    sections.push_str(&audio_section("3", "sendonly"));
    sections.push_str(&audio_section("4", "inactive"));
    let offer = parse_offer(&offer_text("actpass", &sections)).unwrap();
    assert_eq!(offer.media[2].kind, MediaKind::Other);
    let a = answer(&offer, &publish_opts()).unwrap();
    parse_back(&a, &offer);
    assert_eq!(
        a.tracks.iter().map(|t| t.mid.as_str()).collect::<Vec<_>>(),
        ["0", "3"]
    );
    assert!(a.sdp.contains("a=group:BUNDLE 0 3\r\n"));
    assert_eq!(
        section(&a.sdp, "1")[..2],
        ["video 0 UDP/TLS/RTP/SAVPF 97", "c=IN IP4 0.0.0.0"]
    );
    assert!(section(&a.sdp, "1").contains(&"a=inactive"));
    assert_eq!(
        section(&a.sdp, "2")[0],
        "application 0 UDP/DTLS/SCTP webrtc-datachannel"
    );
    assert!(section(&a.sdp, "4").contains(&"a=inactive"));
}

#[test]
pub(super) fn candidates_in_every_m_line_udp_then_tcp() {
    let offer = parse_offer(CHROMIUM).unwrap();
    let tcp = Candidate {
        address: "127.0.0.1".into(),
        port: 8000,
        transport: Transport::Tcp,
    };
    let opts = AnswerOptions {
        candidates: vec![udp("192.168.1.10", 8000), tcp, udp("2001:db8::1", 8000)],
        ..publish_opts()
    };
    let a = answer(&offer, &opts).unwrap();
    let sd = parse_back(&a, &offer);
    for mid in ["0", "1"] {
        let lines = section(&a.sdp, mid);
        assert!(lines.contains(&"c=IN IP4 192.168.1.10"));
        let cands: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("a=candidate"))
            .collect();
        assert_eq!(
            cands,
            [
                &"a=candidate:0 1 udp 2130706431 192.168.1.10 8000 typ host generation 0",
                &"a=candidate:1 1 tcp 2130706431 127.0.0.1 8000 typ host tcptype passive",
                &"a=candidate:2 1 udp 2130706431 2001:db8::1 8000 typ host generation 0",
            ]
        );
    }
    assert_eq!(
        sd.media_descriptions[0]
            .attributes
            .iter()
            .filter(|a| a.key == "candidate")
            .count(),
        3
    );

    let v6 = answer(
        &offer,
        &AnswerOptions {
            candidates: vec![udp("::1", 9000)],
            ..publish_opts()
        },
    )
    .unwrap();
    assert!(v6.sdp.contains("m=video 9000 ") && v6.sdp.contains("c=IN IP6 ::1\r\n"));
    let none = answer(
        &offer,
        &AnswerOptions {
            candidates: vec![],
            ..publish_opts()
        },
    )
    .unwrap();
    assert!(none.sdp.contains("m=video 9 ") && none.sdp.contains("c=IN IP4 0.0.0.0\r\n"));
}
