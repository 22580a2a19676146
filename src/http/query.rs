//! Percent-decoding of request paths and `application/x-www-form-urlencoded`
//! query strings, as used by WHIP URLs such as
//! `/rtc/v1/whip/?app=live&stream=livestream-1&eip=127.0.0.1:9000`.

/// Why a percent-encoded string could not be decoded strictly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits, at this byte offset.
    #[error("bad percent escape at byte {offset}")]
    BadEscape {
        /// Byte offset of the `%` in the input.
        offset: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("decoded bytes are not UTF-8")]
    NotUtf8,
}

/// Decodes `%XX` escapes strictly: a malformed escape or a result that is
/// not UTF-8 is an error. `+` is left as is (it is a space only in queries).
pub fn percent_decode_strict(input: &str) -> Result<String, DecodeError> {
    if !input.contains('%') {
        return Ok(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => return Err(DecodeError::BadEscape { offset: i }),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Decodes one query-string component leniently: `+` becomes a space,
/// `%XX` is decoded, a malformed escape is kept literally and bytes that
/// are not UTF-8 become U+FFFD. Never fails, because a strange query value
/// should reach the handler (which can reject it with a clear message).
pub fn form_decode(input: &str) -> String {
    if !input.contains(['%', '+']) {
        return input.to_owned();
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Parses a query string (the part after `?`, without it) into decoded
/// `(key, value)` pairs in order. Empty pieces (`a=1&&b=2`) are skipped; a
/// piece without `=` gets an empty value. Duplicate keys are all kept.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(piece), String::new()),
        })
        .collect()
}

/// The first value of `key` in decoded query pairs.
pub fn find_param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whip_query() {
        let q = parse_query(
            "app=live&stream=livestream-1&ice-ufrag=6pk11386&ice-pwd=l91z529147ri9163933p51c4&eip=127.0.0.1:9000",
        );
        assert_eq!(find_param(&q, "app"), Some("live"));
        assert_eq!(find_param(&q, "stream"), Some("livestream-1"));
        assert_eq!(find_param(&q, "ice-ufrag"), Some("6pk11386"));
        assert_eq!(find_param(&q, "ice-pwd"), Some("l91z529147ri9163933p51c4"));
        assert_eq!(find_param(&q, "eip"), Some("127.0.0.1:9000"));
        assert_eq!(find_param(&q, "missing"), None);
    }

    #[test]
    fn form_decoding() {
        let q = parse_query("a=hello+world&b=%2Fx%3Dy&&c&d=100%&e=%e2%82%ac&f=%ff&a=2");
        assert_eq!(q[0], ("a".into(), "hello world".into()));
        assert_eq!(q[1], ("b".into(), "/x=y".into()));
        assert_eq!(q[2], ("c".into(), "".into()));
        assert_eq!(q[3], ("d".into(), "100%".into()));
        assert_eq!(q[4], ("e".into(), "€".into()));
        assert_eq!(q[5], ("f".into(), "\u{fffd}".into()));
        // The first of duplicate keys wins in find_param; all are kept.
        assert_eq!(q.len(), 7);
        assert_eq!(find_param(&q, "a"), Some("hello world"));
    }

    #[test]
    fn strict_decoding() {
        assert_eq!(percent_decode_strict("/a%20b+c").unwrap(), "/a b+c");
        assert_eq!(percent_decode_strict("/%2e%2E/").unwrap(), "/../");
        assert_eq!(
            percent_decode_strict("/x%2").unwrap_err(),
            DecodeError::BadEscape { offset: 2 }
        );
        assert_eq!(
            percent_decode_strict("%zz").unwrap_err(),
            DecodeError::BadEscape { offset: 0 }
        );
        assert_eq!(
            percent_decode_strict("/%ff").unwrap_err(),
            DecodeError::NotUtf8
        );
        assert_eq!(percent_decode_strict("/%00").unwrap(), "/\0");
    }
}
