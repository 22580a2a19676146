#![no_main]
use libfuzzer_sys::fuzz_target;

// HTTP requests through the signaling API's router: no panic, clear
// refusals, only well-formed names in the session requests it accepts.
fuzz_target!(|data: &[u8]| {
    shardsfu::api::fuzz::route_requests(data);
});
