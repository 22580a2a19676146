#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // RFC 4571 deframing of an ICE-TCP byte stream, fed in pieces.
    shardsfu::ice::framing::fuzz_deframe(data);
});
