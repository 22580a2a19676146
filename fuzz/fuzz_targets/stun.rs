#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Parse, verify MI/FINGERPRINT with a fixed key, feed an IceLite agent.
    shardsfu::ice::fuzz_stun(data, std::time::Instant::now());
});
