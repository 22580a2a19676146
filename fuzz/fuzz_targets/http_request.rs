#![no_main]
use libfuzzer_sys::fuzz_target;

// Arbitrary bytes into a ServerConn (split at a data-derived point); every
// request is answered; asserts bodies stay within the limit and errors close.
fuzz_target!(|data: &[u8]| {
    shardsfu::http::fuzz::server_conn(data);
});
