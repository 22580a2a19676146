//! The WHIP/WHEP session resource (RFC 9725 §4.3, the WHEP draft): the
//! `Location` a 201 names, read with `GET`/`HEAD`, changed with `PATCH`
//! (`application/trickle-ice-sdpfrag`: trickled candidates, or an ICE
//! restart guarded by `ETag`/`If-Match`), ended with `DELETE`; and Bearer
//! authentication (RFC 9725 §4.5, RFC 6750) of every request of a vhost
//! that configures `bearer_token`. Sans-IO: the runtime runs
//! [`apply_patch`] under the directory's lock and carries out the restart.

use subtle::ConstantTimeEq;

use crate::api::ApiError;
use crate::directory::{IceView, SessionEntry};
use crate::http::{Request, Response};
use crate::sdp::sdpfrag::{self, SdpFrag};
use crate::sdp::Role;

/// Candidates taken per ICE generation; more are ignored (answered 204).
pub const MAX_TRICKLED: usize = 256;

/// A `PATCH` of a session resource, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The session's token (from the resource URL).
    pub token: String,
    /// The fragment.
    pub frag: SdpFrag,
    /// `If-Match`, as sent.
    pub if_match: Option<String>,
}

/// What a `PATCH` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patched {
    /// Trickle ICE: `taken` candidates accepted, `ignored` ones dropped
    /// (after `a=end-of-candidates`, or beyond [`MAX_TRICKLED`]). 204.
    Trickled {
        /// Candidates accepted.
        taken: usize,
        /// Candidates ignored.
        ignored: usize,
    },
    /// An ICE restart to these server credentials. 200 with an sdpfrag.
    Restarted {
        /// The server's new ufrag (its `ETag` names it).
        ufrag: String,
        /// The server's new password.
        pwd: String,
        /// The client's new ufrag.
        remote_ufrag: String,
    },
}

/// The strong entity-tag of an ICE generation whose server ufrag is `ufrag`.
pub fn etag(ufrag: &str) -> String {
    format!("\"{ufrag}\"")
}

/// Reads a `PATCH`: `application/trickle-ice-sdpfrag` (else 415) with the
/// resource's `token`.
pub fn parse_patch(req: &Request) -> Result<Patch, ApiError> {
    let token = req
        .query_param("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("PATCH needs the token of the session resource".into())
        })?;
    match req.content_type() {
        Some(sdpfrag::CONTENT_TYPE) => {}
        other => {
            return Err(ApiError::UnsupportedMediaType(
                other.unwrap_or("").to_string(),
                sdpfrag::CONTENT_TYPE,
            ))
        }
    }
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::BadRequest("the sdpfrag is not UTF-8".into()))?;
    Ok(Patch {
        token: token.to_owned(),
        frag: SdpFrag::parse(text)?,
        if_match: req.header("If-Match").map(|v| v.trim().to_owned()),
    })
}

/// Decides `p` against the session's ICE state `ice` and applies it there;
/// `fresh_ufrag`/`fresh_pwd` are the credentials an ICE restart gets.
/// `If-Match` must name the current `ETag` (or be `*`) when present, and is
/// required for a restart.
pub fn apply_patch(
    ice: &mut IceView,
    p: &Patch,
    fresh_ufrag: &str,
    fresh_pwd: &str,
) -> Result<Patched, ApiError> {
    let current = etag(&ice.ufrag);
    let restart = p.frag.is_restart(&ice.remote_ufrag);
    match p.if_match.as_deref() {
        None if restart => return Err(ApiError::PreconditionRequired),
        None => {}
        Some(m) if matches(m, &current) => {}
        Some(m) => {
            return Err(ApiError::PreconditionFailed {
                given: m.chars().take(80).collect(),
                current,
            })
        }
    }
    let n = p.frag.candidates.len();
    if restart {
        let remote_ufrag = p.frag.ice_ufrag.clone().unwrap_or_default();
        if p.frag.ice_pwd.is_none() {
            return Err(ApiError::BadRequest(format!(
                "ICE restart to ice-ufrag {remote_ufrag:?} without a=ice-pwd"
            )));
        }
        ice.ufrag = fresh_ufrag.to_owned();
        ice.remote_ufrag = remote_ufrag.clone();
        ice.end_of_candidates = p.frag.end_of_candidates;
        ice.candidates = n.min(MAX_TRICKLED);
        ice.restarts = ice.restarts.saturating_add(1);
        return Ok(Patched::Restarted {
            ufrag: fresh_ufrag.to_owned(),
            pwd: fresh_pwd.to_owned(),
            remote_ufrag,
        });
    }
    // RFC 8838 §14: after end-of-candidates no more of this generation.
    let room = if ice.end_of_candidates {
        0
    } else {
        MAX_TRICKLED.saturating_sub(ice.candidates)
    };
    let taken = n.min(room);
    ice.candidates += taken;
    ice.end_of_candidates |= p.frag.end_of_candidates;
    Ok(Patched::Trickled {
        taken,
        ignored: n - taken,
    })
}

/// `If-Match: *` or a list of entity-tags, one of which is `current`
/// (strong comparison: a weak tag never matches).
fn matches(if_match: &str, current: &str) -> bool {
    if_match.trim() == "*" || if_match.split(',').any(|t| t.trim() == current)
}

/// The answer to a `PATCH`: 204, or 200 with the server's new credentials
/// and `ETag`.
pub fn patched(result: Result<Patched, ApiError>) -> Response {
    match result {
        Ok(Patched::Trickled { .. }) => Response::new(204),
        Ok(Patched::Restarted { ufrag, pwd, .. }) => Response::bytes(
            200,
            sdpfrag::CONTENT_TYPE,
            sdpfrag::write_restart_answer(&ufrag, &pwd).into_bytes(),
        )
        .with_header("ETag", etag(&ufrag)),
        Err(e) => crate::api::whip::error(e),
    }
}

/// `GET`/`HEAD` of a session resource: what it is, in JSON, with its `ETag`.
pub fn describe(e: &SessionEntry) -> Response {
    let body = serde_json::json!({
        "code": 0,
        "session": e.id,
        "role": if e.role == Role::Publish { "publish" } else { "play" },
        "vhost": e.vhost,
        "stream": e.stream,
        "ice": {
            "ufrag": e.ice.ufrag,
            "restarts": e.ice.restarts,
            "candidates": e.ice.candidates,
            "end_of_candidates": e.ice.end_of_candidates,
        },
    });
    Response::json(200, &body)
        .with_header("ETag", etag(&e.ice.ufrag))
        .with_header("Accept-Patch", sdpfrag::CONTENT_TYPE)
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub fn bearer(req: &Request) -> Option<&str> {
    let v = req.header("Authorization")?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks `presented` against a vhost's `bearer_token`s (none configured:
/// anything passes). Compared in constant time.
pub fn check_bearer(tokens: &[String], presented: Option<&str>) -> Result<(), ApiError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let Some(t) = presented else {
        return Err(ApiError::Unauthorized {
            reason: "this vhost needs Authorization: Bearer <token>".into(),
            invalid: false,
        });
    };
    let ok = tokens.iter().fold(0u8, |acc, k| {
        acc | k.as_bytes().ct_eq(t.as_bytes()).unwrap_u8()
    });
    if ok == 1 {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            reason: "the Bearer token is not valid for this vhost".into(),
            invalid: true,
        })
    }
}

/// `param` (the request's query, for the hooks) with the Bearer token
/// added as `token=` unless it names one already (SRS's hooks read the
/// token from `param`).
pub fn param_with_token(param: &str, token: &str) -> String {
    let q = param.strip_prefix('?').unwrap_or(param);
    if q.split('&').any(|kv| kv.starts_with("token=")) {
        return param.to_owned();
    }
    if q.is_empty() {
        format!("?token={token}")
    } else {
        format!("?{q}&token={token}")
    }
}

/// Adds `Link: <uri>; rel="ice-server"` for each of `ice_servers`
/// (RFC 9725 §4.6).
pub fn with_ice_servers(mut resp: Response, ice_servers: &[String]) -> Response {
    for s in ice_servers {
        resp = resp.with_header("Link", format!("<{s}>; rel=\"ice-server\""));
    }
    resp
}

/// The `OPTIONS` answer for a WHIP/WHEP endpoint or session resource: the
/// CORS preflight plus `Accept-Post` (endpoint) or `Accept-Patch`
/// (resource), and the ICE servers.
pub fn options(req: &Request, ice_servers: &[String]) -> Response {
    let mut resp = crate::http::preflight(req);
    if req.query_param("token").is_some() {
        resp.set_header("Accept-Patch", sdpfrag::CONTENT_TYPE);
    } else {
        resp.set_header("Accept-Post", "application/sdp");
    }
    with_ice_servers(resp, ice_servers)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
