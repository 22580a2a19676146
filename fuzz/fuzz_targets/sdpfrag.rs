#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A WHIP/WHEP PATCH body (application/trickle-ice-sdpfrag).
    shardsfu::sdp::sdpfrag::fuzz_sdpfrag(data);
});
