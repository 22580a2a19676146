#![no_main]
//! Outbound SRTP with a GCM profile (`srtp::seal`): any bytes as the "RTP"
//! packet. A malformed header is refused; a packet it seals decrypts, with
//! rtc-srtp on the other side, back to the input.
use libfuzzer_sys::fuzz_target;
use shardsfu::srtp::{SrtpError, SrtpKeys, SrtpProfile, SrtpSession};

fn keys(is_client: bool) -> SrtpKeys {
    let profile = SrtpProfile::AeadAes128Gcm;
    SrtpKeys {
        profile,
        keying_material: (0..profile.keying_material_len()).map(|i| i as u8).collect(),
        is_client,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut tx = SrtpSession::new(&keys(true)).unwrap();
    let mut rx = SrtpSession::new(&keys(false)).unwrap();
    let mut arena = bytes::BytesMut::new();
    let Ok(sealed) = tx.protect_rtp_in(data, &mut arena) else {
        return;
    };
    assert_eq!(sealed.len(), data.len() + SrtpProfile::AeadAes128Gcm.rtp_overhead());
    // rtc-srtp parses headers its own way; where it reads one, it must
    // decrypt ours. Its header length comes from re-marshalling the parsed
    // extensions (their padding dropped), where libsrtp and we take the
    // length field: with an extension, it may fail to authenticate.
    let has_extension = data[0] & 0x10 != 0;
    match rx.unprotect_rtp(&sealed) {
        Ok(plain) => assert_eq!(&plain[..], data),
        Err(SrtpError::Malformed { .. }) => {}
        Err(SrtpError::AuthFailed { .. }) if has_extension => {}
        Err(e) => panic!("rtc-srtp refused a sealed packet: {e}"),
    }
});
