//! Small helpers shared by several modules.

pub mod log_limit;

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

/// Longest app, stream or vhost name accepted from a client.
pub const MAX_NAME_LEN: usize = 256;

/// Whether `name` is a well-formed app, stream or vhost name: 1 to
/// [`MAX_NAME_LEN`] bytes of `A-Z a-z 0-9 - _ . ~`. Every signaling path
/// (WHIP/WHEP, the legacy API, RTMP) checks names with it, since they become
/// directory and hub keys, file paths and hook arguments.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}
