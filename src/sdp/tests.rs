//! Tests for the sdp module: real offers, the answer rules, every error, and
//! SRS's candidate rules.

use std::io::Cursor;
use std::net::IpAddr;

use super::*;

const AIORTC: &str = include_str!("../../tests/fixtures/sdp/aiortc_whip_h264.sdp");
const CHROMIUM: &str = include_str!("../../tests/fixtures/sdp/chromium156_whip.sdp");
const FFMPEG: &str = include_str!("../../tests/fixtures/sdp/ffmpeg8_whip_gnutls.sdp");
const ANSWER_TO_FFMPEG: &str = include_str!("../../tests/fixtures/sdp/answer_to_ffmpeg8.sdp");
const SRS_DOC: &str = include_str!("../../tests/fixtures/sdp/srs_whip_offer.sdp");
const SRS_DOC_MIN: &str = include_str!("../../tests/fixtures/sdp/srs_whip_offer_minimal.sdp");

const FP: &str = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

fn udp(ip: &str, port: u16) -> Candidate {
    Candidate {
        address: ip.into(),
        port,
        transport: Transport::Udp,
    }
}

fn publish_opts() -> AnswerOptions {
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

fn play_opts(video: Option<Codec>) -> AnswerOptions {
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
fn offer_text(setup: &str, sections: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n\
         a=fingerprint:sha-256 {FP}\r\na=setup:{setup}\r\n{sections}"
    )
}

fn video_section(mid: &str, dir: &str, codecs: &[(u8, &str, &str)]) -> String {
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

fn audio_section(mid: &str, dir: &str) -> String {
    format!("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na={dir}\r\na=rtpmap:111 opus/48000/2\r\n")
}

/// The answer must parse with the `sdp` crate and keep one m-line per offered one.
fn parse_back(answer: &Answer, offer: &Offer) -> ::sdp::description::session::SessionDescription {
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
fn section<'a>(sdp: &'a str, mid: &str) -> Vec<&'a str> {
    let sections: Vec<&str> = sdp.split("m=").skip(1).collect();
    let want = format!("a=mid:{mid}\r\n");
    let s = sections
        .into_iter()
        .find(|s| s.contains(&want))
        .expect("section");
    s.lines().collect()
}

fn track(a: &Answer, kind: MediaKind) -> &NegotiatedTrack {
    a.tracks.iter().find(|t| t.kind == kind).expect("track")
}

#[test]
fn aiortc_offer_gets_h264_42e01f_and_opus() {
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
fn chromium_offer_gets_h264_108_with_twcc() {
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
fn twcc_off_drops_extension_and_feedback() {
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
fn ffmpeg_offer_passive_makes_us_dtls_client_with_rtx() {
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
fn srs_doc_offer_is_answered() {
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
fn srs_minimal_doc_offer_needs_relaxed_fingerprint() {
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
fn recvonly_offer_plays_but_does_not_publish() {
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
fn setup_table() {
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
fn codec_names_compare_case_insensitively() {
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

fn chosen_video_pt(codecs: &[(u8, &str, &str)], opts: &AnswerOptions) -> Result<u8, SdpError> {
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
fn h264_profile_preference() {
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
fn play_is_restricted_to_the_publishers_codec() {
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
fn play_answer_has_ssrcs_msid_and_fid_group() {
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
fn extra_and_unknown_m_lines_are_rejected_inactive() {
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
fn candidates_in_every_m_line_udp_then_tcp() {
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

// ---- errors -------------------------------------------------------------

#[test]
fn error_unparsable() {
    for (text, line) in [
        ("hello", 1),
        ("", 1),
        ("o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n", 1),
        ("v=0\r\nthis is not sdp\r\n", 2),
        ("v=0\r\nm=video\r\n", 2),
        ("v=0\r\nm=video x UDP/TLS/RTP/SAVPF 96\r\n", 2),
        ("v=0\r\nm=video 9 RTP 96\r\na=rtpmap:abc H264/90000\r\n", 3),
        ("v=0\r\nm=video 9 RTP 96\r\na=rtpmap:96 H264\r\n", 3),
        ("v=0\r\nm=video 9 RTP 200\r\na=rtpmap:200 H264/90000\r\n", 3),
        ("v=0\r\nm=video 9 RTP 96\r\na=extmap:0 urn:x\r\n", 3),
        (
            "v=0\r\nm=video 9 RTP 96\r\na=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n",
            4,
        ),
        ("v=0\r\nm=video 9 RTP 96\r\na=ssrc:-1 cname:x\r\n", 3),
        ("v=0\r\nm=video 9 RTP 96\r\na=ssrc-group:FID 1 x\r\n", 3),
        ("v=0\r\na=fingerprint:sha-256\r\n", 2),
    ] {
        match parse_offer(text) {
            Err(SdpError::Unparsable { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let err = parse_offer("v=0\r\nbogus line here").unwrap_err();
    assert!(err.to_string().contains("bogus line here"), "{err}");
}

#[test]
fn error_no_media() {
    let text = offer_text("actpass", "");
    assert_eq!(parse_offer(&text), Err(SdpError::NoMedia));
}

#[test]
fn error_missing_ice() {
    let text = offer_text("actpass", &audio_section("0", "sendonly"));
    let no_ufrag = text.replace("a=ice-ufrag:abcd\r\n", "");
    assert_eq!(parse_offer(&no_ufrag), Err(SdpError::MissingIceUfrag));
    let no_pwd = text.replace("a=ice-pwd:0123456789012345678901\r\n", "");
    assert_eq!(parse_offer(&no_pwd), Err(SdpError::MissingIcePwd));
    // Media level is as good as session level.
    let moved = no_ufrag.replace("a=mid:0\r\n", "a=mid:0\r\na=ice-ufrag:media\r\n");
    assert_eq!(parse_offer(&moved).unwrap().ice_ufrag, "media");
}

#[test]
fn error_fingerprints() {
    let text = offer_text("actpass", &audio_section("0", "sendonly"));
    let fp_line = format!("a=fingerprint:sha-256 {FP}\r\n");
    assert_eq!(
        parse_offer(&text.replace(&fp_line, "")),
        Err(SdpError::MissingFingerprint)
    );
    let md5 = text.replace(
        &fp_line,
        "a=fingerprint:MD5 AA:BB\r\na=fingerprint:sha-224 CC\r\n",
    );
    assert_eq!(
        parse_offer(&md5),
        Err(SdpError::UnsupportedFingerprint {
            algorithms: "md5, sha-224".into()
        })
    );
    // An unsupported one beside a good one is fine; upper case is lowered.
    let mixed = text.replace(
        &fp_line,
        &format!("a=fingerprint:md5 AA\r\na=fingerprint:SHA-256 {FP}\r\n"),
    );
    let fps = parse_offer(&mixed).unwrap().fingerprints;
    assert_eq!(
        (fps.len(), fps[0].algorithm.as_str(), fps[0].value.len()),
        (1, "sha-256", 32)
    );
    for bad in ["AA:BB", "ZZ:BB:CC", &FP.replace(':', "")] {
        let t = text.replace(&fp_line, &format!("a=fingerprint:sha-256 {bad}\r\n"));
        assert!(
            matches!(parse_offer(&t), Err(SdpError::BadFingerprint { ref algorithm, .. }) if algorithm == "sha-256"),
            "{bad}"
        );
    }
}

#[test]
fn error_bad_setup() {
    let text = offer_text("holdconn", &audio_section("0", "sendonly"));
    assert_eq!(
        parse_offer(&text),
        Err(SdpError::BadSetup {
            value: "holdconn".into()
        })
    );
}

#[test]
fn error_no_supported_codec_names_the_offer() {
    let sections = "m=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\na=mid:0\r\na=sendonly\r\n\
                    m=video 9 UDP/TLS/RTP/SAVPF 98\r\na=mid:1\r\na=sendonly\r\na=rtpmap:98 VP9/90000\r\n";
    let offer = parse_offer(&offer_text("actpass", sections)).unwrap();
    let err = answer(&offer, &publish_opts()).unwrap_err();
    assert_eq!(
        err,
        SdpError::NoSupportedCodec {
            offered: "audio: PCMU/8000, PCMA/8000; video: VP9/90000".into()
        }
    );
}

#[test]
fn error_missing_play_options() {
    let offer = parse_offer(&offer_text("actpass", &audio_section("0", "recvonly"))).unwrap();
    let opts = AnswerOptions {
        play: None,
        ..play_opts(None)
    };
    assert_eq!(answer(&offer, &opts), Err(SdpError::MissingPlayOptions));
}

#[test]
fn lenient_line_ends_and_trailing_spaces() {
    let text = offer_text("actpass", &audio_section("0", "sendonly")).replace("\r\n", " \n");
    let offer = parse_offer(&text).unwrap();
    assert_eq!(offer.ice_ufrag, "abcd");
    assert_eq!(offer.media[0].codecs[0].name, "opus");
}

// ---- candidates ---------------------------------------------------------

fn policy() -> CandidatePolicy {
    CandidatePolicy {
        candidates: vec!["*".into()],
        udp_port: 8000,
        tcp_port: Some(8000),
        protocol: Protocol::Udp,
        api_as_candidates: true,
        resolve_api_domain: true,
        keep_api_domain: false,
        use_auto_detect_network_ip: true,
        ip_family: IpFamily::V4,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn no_dns(_: &str) -> Vec<IpAddr> {
    Vec::new()
}

fn addrs(c: &[Candidate]) -> Vec<String> {
    c.iter()
        .map(|c| {
            let t = if c.transport == Transport::Udp {
                "udp"
            } else {
                "tcp"
            };
            format!("{t}:{}:{}", c.address, c.port)
        })
        .collect()
}

#[test]
fn candidates_eip_is_the_only_one_and_its_port_wins() {
    let ifs = ips(&["127.0.0.1", "10.0.0.5"]);
    let c = discover_candidates(&policy(), None, Some("1.2.3.4:9000"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:1.2.3.4:9000"]);
    let c = discover_candidates(&policy(), None, Some("1.2.3.4"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:1.2.3.4:8000"]);
    let all = CandidatePolicy {
        protocol: Protocol::All,
        tcp_port: Some(8001),
        ..policy()
    };
    let c = discover_candidates(&all, None, Some("[2001:db8::9]:7000"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:2001:db8::9:7000", "tcp:2001:db8::9:7000"]);
    // eip alone stops the loopback fallback.
    let c = discover_candidates(
        &policy(),
        None,
        Some("1.2.3.4"),
        &ips(&["127.0.0.1"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:1.2.3.4:8000"]);
}

#[test]
fn candidates_from_the_api_host() {
    let ifs = ips(&["10.0.0.5"]);
    let dns = |h: &str| -> Vec<IpAddr> {
        match h {
            "sfu.example.com" => ips(&["203.0.113.7", "203.0.113.8"]),
            "loop.example.com" => ips(&["127.0.0.1"]),
            _ => Vec::new(),
        }
    };
    let p = policy();
    let c = discover_candidates(&p, Some("192.168.1.10:1985"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:192.168.1.10:8000", "udp:10.0.0.5:8000"]);
    for local in ["localhost:1985", "127.0.0.1", "0.0.0.0:1985", "[::]:1985"] {
        let c = discover_candidates(&p, Some(local), None, &ifs, &dns);
        assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"], "{local}");
    }
    let c = discover_candidates(&p, Some("sfu.example.com:1985"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:203.0.113.7:8000", "udp:10.0.0.5:8000"]);
    let c = discover_candidates(&p, Some("loop.example.com"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
    let keep = CandidatePolicy {
        keep_api_domain: true,
        resolve_api_domain: false,
        ..policy()
    };
    let c = discover_candidates(&keep, Some("sfu.example.com"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:sfu.example.com:8000", "udp:10.0.0.5:8000"]);
    let off = CandidatePolicy {
        api_as_candidates: false,
        ..policy()
    };
    let c = discover_candidates(&off, Some("192.168.1.10"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
    // The API host and eip are the same: listed once.
    let c = discover_candidates(&p, Some("10.0.0.5"), Some("10.0.0.5"), &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
}

#[test]
fn candidates_fixed_value_stops_discovery() {
    let ifs = ips(&["10.0.0.5"]);
    for fixed in ["192.168.1.10", "media.example.com"] {
        let p = CandidatePolicy {
            candidates: vec![fixed.into()],
            ..policy()
        };
        let c = discover_candidates(&p, Some("172.16.0.1"), None, &ifs, &no_dns);
        assert_eq!(
            addrs(&c),
            [
                "udp:172.16.0.1:8000".to_string(),
                format!("udp:{fixed}:8000")
            ]
        );
    }
    let p = CandidatePolicy {
        candidates: vec!["0.0.0.0".into()],
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&p, None, None, &ifs, &no_dns)),
        ["udp:10.0.0.5:8000"]
    );
}

#[test]
fn candidates_star_with_loopback_only_falls_back_to_it() {
    let p = policy();
    let c = discover_candidates(
        &p,
        Some("localhost"),
        None,
        &ips(&["127.0.0.1", "::1"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
    let c = discover_candidates(&p, None, None, &ips(&["::1"]), &no_dns);
    assert_eq!(addrs(&c), ["udp:::1:8000"]);
    assert!(discover_candidates(&p, None, None, &[], &no_dns).is_empty());
    // Auto-detect off: the first IPv4, loopback or not.
    let off = CandidatePolicy {
        use_auto_detect_network_ip: false,
        ..policy()
    };
    let c = discover_candidates(&off, None, None, &ips(&["127.0.0.1", "10.0.0.5"]), &no_dns);
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
}

#[test]
fn candidates_ip_family_filter() {
    let ifs = ips(&["127.0.0.1", "10.0.0.5", "::1", "2001:db8::5", "10.0.0.6"]);
    let fam = |f| CandidatePolicy {
        ip_family: f,
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::V4),
            None,
            None,
            &ifs,
            &no_dns
        )),
        ["udp:10.0.0.5:8000", "udp:10.0.0.6:8000"]
    );
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::V6),
            None,
            None,
            &ifs,
            &no_dns
        )),
        ["udp:2001:db8::5:8000"]
    );
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::All),
            None,
            None,
            &ifs,
            &no_dns
        )),
        [
            "udp:10.0.0.5:8000",
            "udp:2001:db8::5:8000",
            "udp:10.0.0.6:8000"
        ]
    );
    // IPv6 wanted but only IPv4 non-loopback: fallback picks the first IPv4.
    let c = discover_candidates(
        &fam(IpFamily::V6),
        None,
        None,
        &ips(&["127.0.0.1", "10.0.0.5"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
}

#[test]
fn candidates_protocol_choice() {
    let ifs = ips(&["10.0.0.5"]);
    let tcp = CandidatePolicy {
        protocol: Protocol::Tcp,
        tcp_port: Some(8443),
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&tcp, None, None, &ifs, &no_dns)),
        ["tcp:10.0.0.5:8443"]
    );
    let tcp_off = CandidatePolicy {
        protocol: Protocol::All,
        tcp_port: None,
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&tcp_off, None, None, &ifs, &no_dns)),
        ["udp:10.0.0.5:8000"]
    );
}

#[test]
fn local_interface_ips_lists_up_addresses() {
    let list = local_interface_ips();
    // IPv4 first, no IPv6 link-local.
    let first_v6 = list
        .iter()
        .position(|ip| ip.is_ipv6())
        .unwrap_or(list.len());
    assert!(list[first_v6..].iter().all(|ip| ip.is_ipv6()));
    assert!(!list
        .iter()
        .any(|ip| matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)));
}

/// A deterministic stand-in for the fuzz target: mutated real offers never
/// panic, and every answer is CRLF-only SDP with one m-line per offered one.
#[test]
fn mutated_offers_never_panic_and_answers_stay_clean() {
    let seeds = [
        AIORTC,
        CHROMIUM,
        FFMPEG,
        SRS_DOC,
        SRS_DOC_MIN,
        ANSWER_TO_FFMPEG,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"=: \r\n/;-0123456789aAmvx\t";
    let mut answered = 0;
    for i in 0..3000 {
        let mut bytes = seeds[i % seeds.len()].as_bytes().to_vec();
        for _ in 0..(1 + next() % 6) {
            let pos = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[pos] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let Ok(offer) = parse_offer_with(
            text,
            ParseOptions {
                require_fingerprint: false,
            },
        ) else {
            continue;
        };
        for opts in [publish_opts(), play_opts(None)] {
            if let Ok(a) = answer(&offer, &opts) {
                answered += 1;
                assert_eq!(
                    a.sdp.matches("\r\nm=").count(),
                    offer.media.len(),
                    "{text:?}"
                );
                let stripped = a.sdp.replace("\r\n", "");
                assert!(!stripped.contains(|c: char| c.is_control()), "{:?}", a.sdp);
            }
        }
    }
    assert!(answered > 1000, "only {answered} answers");
}
