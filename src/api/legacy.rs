//! The older JSON API: `POST /rtc/v1/publish/` and `POST /rtc/v1/play/` with
//! `{api, streamurl: "webrtc://host/app/stream", sdp, tid}`, answered with
//! `{code, server, sdp, sessionid}` as SRS does.

use serde::Deserialize;
use serde_json::json;

use crate::api::{create_session, ApiError, SessionRequest};
use crate::http::{Request, Response};
use crate::sdp::Role;
use crate::server::ShardCore;

#[derive(Deserialize)]
struct Body {
    streamurl: String,
    sdp: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted for compatibility; echoed by SRS in logs only
    tid: Option<String>,
}

/// The parts of `webrtc://host[:port]/app/stream[?query]` we use (the host
/// names SRS's vhost; shardsfu serves the default vhost).
#[derive(Debug)]
struct StreamUrl {
    app: String,
    stream: String,
    query: Vec<(String, String)>,
}

fn parse_stream_url(url: &str) -> Result<StreamUrl, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid streamurl {url:?}, expected webrtc://host/app/stream"
        ))
    };
    let rest = url.strip_prefix("webrtc://").ok_or_else(bad)?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut parts = rest.splitn(2, '/');
    let _host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let path = parts.next().ok_or_else(bad)?;
    let (app, stream) = path.rsplit_once('/').ok_or_else(bad)?;
    if app.is_empty() || stream.is_empty() {
        return Err(bad());
    }
    let query = crate::http::query::parse_query(query);
    Ok(StreamUrl {
        app: app.to_string(),
        stream: stream.to_string(),
        query,
    })
}

/// The `app`, `stream` and whole `streamurl` of a request's body, if it is
/// well formed.
pub(crate) fn stream_of(req: &Request) -> Option<(String, String, String)> {
    let body: Body = serde_json::from_slice(&req.body).ok()?;
    let StreamUrl { app, stream, .. } = parse_stream_url(&body.streamurl).ok()?;
    Some((app, stream, body.streamurl))
}

fn fail(e: ApiError) -> Response {
    Response::json(
        e.status(),
        &json!({ "code": e.code(), "error": e.to_string() }),
    )
}

/// Handles `/rtc/v1/publish/` (`role` Publish) and `/rtc/v1/play/` (Play).
pub fn handle(core: &ShardCore, req: &Request, role: Role) -> Response {
    let body: Body = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return fail(ApiError::BadRequest(format!("invalid JSON body: {e}"))),
    };
    let StreamUrl {
        app, stream, query, ..
    } = match parse_stream_url(&body.streamurl) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // Options may come in the API URL's query or in the stream URL's.
    let opt = |k: &str| {
        req.query_param(k).or_else(|| {
            query
                .iter()
                .find(|(qk, _)| qk == k)
                .map(|(_, v)| v.as_str())
        })
    };
    let sreq = SessionRequest {
        role: Some(role),
        app: &app,
        stream: &stream,
        offer: &body.sdp,
        eip: opt("eip"),
        ice_ufrag: opt("ice-ufrag"),
        ice_pwd: opt("ice-pwd"),
        api_host: req.host(),
    };
    match create_session(core, &sreq) {
        Ok(c) => Response::json(
            200,
            &json!({
                "code": 0,
                "server": crate::api::info::server_id(),
                "service": crate::api::info::service_id(),
                "pid": std::process::id().to_string(),
                "sdp": c.answer,
                "sessionid": c.session_id,
            }),
        ),
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls() {
        let u = parse_stream_url("webrtc://example.com:1985/live/cam?eip=1.2.3.4").unwrap();
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "cam"));
        assert_eq!(u.query, vec![("eip".to_string(), "1.2.3.4".to_string())]);
        let u = parse_stream_url("webrtc://h/a/b/c").unwrap();
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("a/b", "c"));
        for bad in [
            "rtmp://h/live/s",
            "webrtc://",
            "webrtc://h",
            "webrtc://h/live",
            "webrtc://h/live/",
            "webrtc:///live/s",
        ] {
            assert!(parse_stream_url(bad).is_err(), "{bad}");
        }
    }
}
