//! CORS headers for browsers (WHIP/WHEP players run on other origins).
//! Every response gets them, errors and preflights included.

use crate::http::request::Request;
use crate::http::response::Response;

/// Methods allowed cross-origin.
pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";
/// Request headers always allowed cross-origin.
pub const ALLOW_HEADERS: &str = "Content-Type, Authorization, If-Match";
/// Response headers scripts may read: WHIP's resource URL, its ETag and
/// ICE servers, what it accepts, and the retry and authentication hints.
pub const EXPOSE_HEADERS: &str =
    "Location, ETag, Link, Accept-Post, Accept-Patch, Retry-After, WWW-Authenticate";
/// How long browsers may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 86400;

/// Adds the CORS headers for `req` to `resp`, replacing earlier ones:
/// `Access-Control-Allow-Origin` echoes the request's Origin (with
/// `Vary: Origin`) or is `*` when there is none; the allowed headers are
/// [`ALLOW_HEADERS`] plus any valid tokens the preflight listed in
/// `Access-Control-Request-Headers`.
pub fn apply_cors(req: &Request, resp: &mut Response) {
    let origin = req
        .header("origin")
        .map(str::trim)
        .filter(|o| is_safe_origin(o));
    match origin {
        Some(o) => {
            resp.set_header("Access-Control-Allow-Origin", o);
            resp.set_header("Vary", "Origin");
        }
        None => resp.set_header("Access-Control-Allow-Origin", "*"),
    }
    resp.set_header("Access-Control-Allow-Methods", ALLOW_METHODS);
    resp.set_header("Access-Control-Allow-Headers", allow_headers(req));
    resp.set_header("Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

/// Adds permissive CORS headers (`Access-Control-Allow-Origin: *`) to a
/// response that has no parsed request, such as a parse error or a 408.
pub fn apply_cors_any(resp: &mut Response) {
    resp.set_header("Access-Control-Allow-Origin", "*");
    resp.set_header("Access-Control-Allow-Methods", ALLOW_METHODS);
    resp.set_header("Access-Control-Allow-Headers", ALLOW_HEADERS);
    resp.set_header("Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

/// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`,
/// or any `OPTIONS`): 204 with the CORS headers and
/// `Access-Control-Max-Age`.
pub fn preflight(req: &Request) -> Response {
    let mut resp = Response::new(204);
    apply_cors(req, &mut resp);
    resp.set_header("Access-Control-Max-Age", MAX_AGE_SECS.to_string());
    resp
}

/// [`ALLOW_HEADERS`] plus the requested header names that are valid tokens
/// and not already listed (case-insensitively).
fn allow_headers(req: &Request) -> String {
    let mut out = ALLOW_HEADERS.to_owned();
    let requested = req
        .headers_all("access-control-request-headers")
        .flat_map(|v| v.split(','));
    let mut added = 0;
    for name in requested.map(str::trim) {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let listed = out.split(',').any(|h| h.trim().eq_ignore_ascii_case(name));
        // A bound on how many are echoed keeps a hostile preflight from
        // growing the response without limit.
        if valid && !listed && added < 32 {
            out.push_str(", ");
            out.push_str(name);
            added += 1;
        }
    }
    out
}

/// An Origin is echoed only if it is plain visible ASCII (it is a
/// serialized origin such as `https://example.com:8443` or `null`).
fn is_safe_origin(o: &str) -> bool {
    !o.is_empty() && o.len() <= 256 && o.bytes().all(|b| b.is_ascii_graphic())
}
