//! WHIP (`POST /rtc/v1/whip/`) and WHEP (`POST /rtc/v1/whep/`, SRS's
//! `/rtc/v1/whip-play/` and `/rtc/v1/whip/?action=play`), and their answers.

use crate::api::{AnswerStyle, ApiError, Signaling};
use crate::http::{Request, Response};
use crate::sdp::Role;
use crate::sfu::Created;

/// A plain-text error with its status.
pub fn error(e: ApiError) -> Response {
    let mut resp = Response::error(e.status(), &e.to_string());
    if let Some(s) = e.retry_after() {
        resp.set_header("Retry-After", s.to_string());
    }
    if let Some(c) = e.challenge() {
        resp.set_header("WWW-Authenticate", c);
    }
    resp
}

/// Reads a WHIP/WHEP POST: an `application/sdp` offer, `app` and `stream`
/// in the query (SRS's defaults when absent), and the options.
pub fn parse(req: &Request) -> Result<Signaling, ApiError> {
    match req.content_type() {
        Some("application/sdp") => {}
        other => {
            return Err(ApiError::UnsupportedMediaType(
                other.unwrap_or("").to_string(),
                "application/sdp",
            ))
        }
    }
    let offer = String::from_utf8(req.body.to_vec())
        .map_err(|_| ApiError::BadRequest("the offer is not UTF-8".into()))?;
    let path = req.path.trim_end_matches('/');
    let role = if path == "/rtc/v1/whep"
        || path == "/rtc/v1/whip-play"
        || req.query_param("action") == Some("play")
    {
        Role::Play
    } else {
        Role::Publish
    };
    let param = req
        .raw_target
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    let mut sig = Signaling::new(
        role,
        req.query_param("app"),
        req.query_param("stream"),
        offer,
        &|k| req.query_param(k),
        req.host(),
        param,
        AnswerStyle::Whip,
    )?;
    sig.bearer = crate::api::session::bearer(req).map(str::to_owned);
    Ok(sig)
}

/// `201 Created`, the answer, and a `Location` naming the session's resource.
pub fn answer(sig: &Signaling, result: Result<Created, ApiError>) -> Response {
    let c = match result {
        Ok(c) => c,
        Err(e) => return error(e),
    };
    let kind = if sig.create.role == Role::Publish {
        "whip"
    } else {
        "whep"
    };
    let location = format!(
        "/rtc/v1/{kind}/?action=delete&token={}&app={}&stream={}&session={}",
        c.token, sig.create.app, sig.create.stream, c.session_id
    );
    let ufrag = c.session_id.split(':').next().unwrap_or_default();
    Response::bytes(201, "application/sdp", c.answer.into_bytes())
        .with_header("Location", &location)
        .with_header("ETag", crate::api::session::etag(ufrag))
        .with_header("Accept-Patch", crate::sdp::sdpfrag::CONTENT_TYPE)
}
