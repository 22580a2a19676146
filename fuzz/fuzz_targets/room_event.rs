#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Room events and hashes from Redis (other nodes), mixed with local
    // sockets' messages, on a clustered node's rooms.
    shardsfu::signaling::fuzz::cluster_events(data);
});
