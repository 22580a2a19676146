#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The one-port sniffer (HTTP / TLS / RFC 4571 STUN), fed in pieces.
    shardsfu::sniff::fuzz_sniff(data);
});
