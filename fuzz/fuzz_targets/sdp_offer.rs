#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::sdp::{
    answer, parse_offer_with, AnswerOptions, Candidate, Codec, ParseOptions, PlayOptions, Role,
    Transport,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for require_fingerprint in [true, false] {
        let Ok(offer) = parse_offer_with(
            text,
            ParseOptions {
                require_fingerprint,
            },
        ) else {
            continue;
        };
        let mut opts = AnswerOptions {
            role: Role::Publish,
            ice_ufrag: "fuzz".into(),
            ice_pwd: "fuzzfuzzfuzzfuzzfuzzfuzz".into(),
            fingerprint_sha256: "AA:BB".into(),
            dtls_role_active: false,
            candidates: vec![
                Candidate {
                    address: "127.0.0.1".into(),
                    port: 8000,
                    transport: Transport::Udp,
                },
                Candidate {
                    address: "127.0.0.1".into(),
                    port: 8000,
                    transport: Transport::Tcp,
                },
            ],
            twcc: true,
            nack: true,
            play: None,
        };
        if let Ok(a) = answer(&offer, &opts) {
            // Invariant: one answer m-line per offered m-line, and no bare LF.
            assert_eq!(a.sdp.matches("\r\nm=").count(), offer.media.len());
            assert!(!a.sdp.replace("\r\n", "").contains('\n'));
        }
        opts.role = Role::Play;
        opts.play = Some(PlayOptions {
            video_codec: Some(Codec::H264),
            audio_codec: None,
            audio_ssrc: 1,
            video_ssrc: 2,
            video_rtx_ssrc: 3,
            cname: "c".into(),
            stream_id: "live/s".into(),
        });
        let _ = answer(&offer, &opts);
    }
});
