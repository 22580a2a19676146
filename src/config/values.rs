//! Parsers for directive values, shared by the file and the environment.
//! Each returns a reason naming the offending value on failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// What applying a value gives: `Ok(Some(msg))` applied with a warning.
pub(crate) type Applied = Result<Option<String>, String>;

/// `on`/`off` (also `true`/`false`), any ASCII case.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    if s.eq_ignore_ascii_case("on") || s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("invalid boolean \"{s}\", expected on or off"))
    }
}

/// A decimal integer in `[min, max]` (digits only: no sign, no spaces).
pub(crate) fn parse_u64_in(s: &str, min: u64, max: u64) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number \"{s}\""));
    }
    let v: u64 = s
        .parse()
        .map_err(|_| format!("number \"{s}\" out of range [{min}, {max}]"))?;
    if v < min || v > max {
        return Err(format!("number {v} out of range [{min}, {max}]"));
    }
    Ok(v)
}

/// A `u32` in `[min, max]`.
pub(crate) fn parse_u32_in(s: &str, min: u32, max: u32) -> Result<u32, String> {
    parse_u64_in(s, min.into(), max.into()).map(|v| v as u32)
}

/// A decimal number (`6`, `6.0`, `.5`), finite and `>= 0`.
pub(crate) fn parse_f64(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s != ".";
    let v: f64 =
        if ok { s.parse().ok() } else { None }.ok_or_else(|| format!("invalid number \"{s}\""))?;
    if !v.is_finite() {
        return Err(format!("invalid number \"{s}\""));
    }
    Ok(v)
}

/// Whole seconds in `[min, max]`.
pub(crate) fn parse_secs(s: &str, min: u64, max: u64) -> Result<Duration, String> {
    parse_u64_in(s, min, max).map(Duration::from_secs)
}

/// Whole milliseconds in `[min, max]`.
pub(crate) fn parse_millis(s: &str, min: u64, max: u64) -> Result<Duration, String> {
    parse_u64_in(s, min, max).map(Duration::from_millis)
}

/// Seconds, possibly fractional (`10`, `2.5`), at most `max`.
pub(crate) fn parse_secs_f(s: &str, max: f64) -> Result<Duration, String> {
    let v = parse_f64(s)?;
    if v > max {
        return Err(format!("{s} seconds is more than the maximum {max}"));
    }
    Duration::try_from_secs_f64(v).map_err(|_| format!("invalid duration \"{s}\""))
}

/// A port, `1..=65535`.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port \"{s}\""));
    }
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("port \"{s}\" out of range [1, 65535]")),
    }
}

/// One listen endpoint: `8000` (= `0.0.0.0:8000`), `127.0.0.1:8000` or
/// `[::1]:8000`.
pub(crate) fn parse_endpoint(s: &str) -> Result<SocketAddr, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let port = parse_port(s)?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    let Some(colon) = s.rfind(':') else {
        return Err(format!("invalid port \"{s}\""));
    };
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    let port = parse_port(port)?;
    let ip: IpAddr = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner
            .parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("invalid IPv6 address \"{inner}\" in \"{s}\""))?
    } else {
        host.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
            format!("invalid IP address \"{host}\" in \"{s}\" (IPv6 needs [brackets])")
        })?
    };
    Ok(SocketAddr::new(ip, port))
}

/// Sets a list of listen endpoints (several args, or a space-separated env
/// value); an empty list keeps the default.
pub(crate) fn set_listen(args: &[String], slot: &mut Vec<SocketAddr>) -> Applied {
    let parts: Vec<&str> = args
        .iter()
        .flat_map(|a| a.split_ascii_whitespace())
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let addr = parse_endpoint(p)?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    *slot = out;
    Ok(None)
}

/// One `candidate` value: `*`, an IPv4 address, an IPv6 address with or
/// without `[brackets]`, or a host name. An IPv6 address is kept without
/// its brackets; anything else as written.
pub(crate) fn parse_candidate(s: &str) -> Result<String, String> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("invalid candidate \"{s}\": no closing ]"))?;
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| inner.to_string())
            .map_err(|_| format!("invalid IPv6 candidate \"{s}\""));
    }
    if s.contains(':') {
        return s
            .parse::<std::net::Ipv6Addr>()
            .map(|_| s.to_string())
            .map_err(|_| {
                format!("invalid candidate \"{s}\" (an IPv6 address, or a host without a port)")
            });
    }
    Ok(s.to_string())
}

/// Sets `candidate`: one or more values (several args, or a
/// space-separated env value), each checked by [`parse_candidate`], kept
/// joined by single spaces. No value (an unset `$CANDIDATE`) keeps the
/// default.
pub(crate) fn set_candidates(args: &[String], slot: &mut String) -> Applied {
    let mut out: Vec<String> = Vec::new();
    for w in args.iter().flat_map(|a| a.split_ascii_whitespace()) {
        let c = parse_candidate(w)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if !out.is_empty() {
        *slot = out.join(" ");
    }
    Ok(None)
}

/// Sets a one-value directive: no value (or an empty one, as from an unset
/// `$VAR`) keeps the default, more than one value is an error.
pub(crate) fn set<T>(
    args: &[String],
    slot: &mut T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Applied {
    match args {
        [] => Ok(None),
        [v] if v.is_empty() => Ok(None),
        [v] => {
            *slot = parse(v)?;
            Ok(None)
        }
        _ => Err(format!(
            "expects one value, got {}: \"{}\"",
            args.len(),
            args.join(" ")
        )),
    }
}

/// Like [`set`] into an `Option`.
pub(crate) fn set_opt<T>(
    args: &[String],
    slot: &mut Option<T>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Applied {
    let mut v = None;
    set(args, &mut v, |s| parse(s).map(Some))?;
    if v.is_some() {
        *slot = v;
    }
    Ok(None)
}

/// A string value (kept as written).
pub(crate) fn set_string(args: &[String], slot: &mut String) -> Applied {
    set(args, slot, |s| Ok(s.to_string()))
}

/// A list of words (several args, or a space-separated env value).
pub(crate) fn set_words(args: &[String], slot: &mut Vec<String>) -> Applied {
    let words: Vec<String> = args
        .iter()
        .flat_map(|a| a.split_ascii_whitespace())
        .map(str::to_string)
        .collect();
    if !words.is_empty() {
        *slot = words;
    }
    Ok(None)
}

/// Space-separated words, each passed by `check` (which names what is
/// wrong with it).
pub(crate) fn checked_words(
    a: &[String],
    slot: &mut Vec<String>,
    check: fn(&str) -> Result<(), String>,
) -> Applied {
    let mut words = Vec::new();
    set_words(a, &mut words)?;
    if words.len() > 16 {
        return Err(format!("{} values, at most 16", words.len()));
    }
    for w in &words {
        check(w)?;
    }
    *slot = words;
    Ok(None)
}

/// A STUN or TURN URI (RFC 7064, 7065) as a `Link` header can carry it.
pub(crate) fn ice_server_uri(v: &str) -> Result<(), String> {
    let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
        .iter()
        .any(|s| v.len() > s.len() && v.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)));
    let chars_ok = v.len() <= 512
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b',' | b';'));
    if scheme_ok && chars_ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a stun:, stuns:, turn: or turns: URI (no <>\",; or spaces)"
        ))
    }
}

/// An RFC 6750 `b64token`: 1 to 512 of `A-Za-z0-9-._~+/`, then `=`s.
pub(crate) fn bearer_token(v: &str) -> Result<(), String> {
    let body = v.trim_end_matches('=');
    let ok = !body.is_empty()
        && v.len() <= 512
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a Bearer token (1 to 512 of A-Za-z0-9-._~+/, then =)",
            v.chars().take(40).collect::<String>()
        ))
    }
}
