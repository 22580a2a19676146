//! Tests of every error of the offer parser and the answer rules.

use super::tests::*;
use super::*;

// ---- errors -------------------------------------------------------------

#[test]
pub(super) fn error_unparsable() {
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
pub(super) fn error_no_media() {
    let text = offer_text("actpass", "");
    assert_eq!(parse_offer(&text), Err(SdpError::NoMedia));
}

#[test]
pub(super) fn error_missing_ice() {
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
pub(super) fn error_fingerprints() {
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
pub(super) fn error_bad_setup() {
    let text = offer_text("holdconn", &audio_section("0", "sendonly"));
    assert_eq!(
        parse_offer(&text),
        Err(SdpError::BadSetup {
            value: "holdconn".into()
        })
    );
}

#[test]
pub(super) fn error_no_supported_codec_names_the_offer() {
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
pub(super) fn error_missing_play_options() {
    let offer = parse_offer(&offer_text("actpass", &audio_section("0", "recvonly"))).unwrap();
    let opts = AnswerOptions {
        play: None,
        ..play_opts(None)
    };
    assert_eq!(answer(&offer, &opts), Err(SdpError::MissingPlayOptions));
}

#[test]
pub(super) fn lenient_line_ends_and_trailing_spaces() {
    let text = offer_text("actpass", &audio_section("0", "sendonly")).replace("\r\n", " \n");
    let offer = parse_offer(&text).unwrap();
    assert_eq!(offer.ice_ufrag, "abcd");
    assert_eq!(offer.media[0].codecs[0].name, "opus");
}
