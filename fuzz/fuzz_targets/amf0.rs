#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::live::rtmp::amf0;

// Whatever decodes must re-encode to something that decodes to the same values.
fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let again = amf0::decode_all(&amf0::encode_all(&values)).expect("re-encoded AMF0 decodes");
        // NaN != NaN: compare the encodings instead of the values.
        assert_eq!(amf0::encode_all(&again), amf0::encode_all(&values));
    }
});
