//! Small helpers shared by several modules.

use ring::rand::{SecureRandom, SystemRandom};

/// Characters used for ICE credentials and resource tokens (ICE-CHAR minus `+` and `/`).
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A random alphanumeric string of `len` characters from the system CSPRNG.
pub fn random_string(len: usize) -> String {
    let mut raw = vec![0u8; len];
    // SystemRandom only fails when the OS has no entropy source at all; a server
    // that cannot make secrets must not start handing them out.
    SystemRandom::new()
        .fill(&mut raw)
        .expect("system random source");
    raw.iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A random `u32` from the system CSPRNG.
pub fn random_u32() -> u32 {
    let mut raw = [0u8; 4];
    SystemRandom::new()
        .fill(&mut raw)
        .expect("system random source");
    u32::from_be_bytes(raw)
}
