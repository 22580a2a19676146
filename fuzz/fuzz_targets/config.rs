#![no_main]
//! Arbitrary bytes as a configuration file, with an empty environment: the
//! parser must never panic, and every error must name `file:line` (or be an
//! include failure, which names the including file and line too).
use libfuzzer_sys::fuzz_target;
use shardsfu::config::{Config, ConfigError, MapEnv};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse_str(&text, "fuzz.conf", &MapEnv::new()) {
        Ok(loaded) => {
            // The default vhost always exists.
            let _ = loaded.config.vhost("__defaultVhost__");
        }
        Err(ConfigError::Include { file, .. }) => assert!(!file.is_empty()),
        Err(e) => assert!(e.to_string().starts_with("fuzz.conf:"), "{e}"),
    }
});
