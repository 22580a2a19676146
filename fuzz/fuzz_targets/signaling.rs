#![no_main]
use libfuzzer_sys::fuzz_target;

// Signaling messages (ossrs/signaling's JSON) through the WebSocket framing
// and the rooms: no panic, JSON out, bounded rooms with unique displays.
fuzz_target!(|data: &[u8]| {
    shardsfu::signaling::fuzz::messages(data);
});
