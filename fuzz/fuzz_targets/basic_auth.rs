#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // An Authorization header against http_api.auth's Basic check.
    shardsfu::api::auth::fuzz_basic_auth(data);
});
