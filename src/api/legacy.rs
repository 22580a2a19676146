//! The older JSON API: `POST /rtc/v1/publish/` and `POST /rtc/v1/play/` with
//! `{api, streamurl: "webrtc://host/app/stream", sdp, tid}`, answered with
//! `{code, server, sdp, sessionid}` as SRS does.

use serde::Deserialize;
use serde_json::json;

use crate::api::{AnswerStyle, ApiError, Signaling};
use crate::http::{Request, Response};
use crate::sdp::Role;
use crate::sfu::Created;

#[derive(Deserialize)]
struct Body {
    streamurl: String,
    sdp: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted for compatibility; echoed by SRS in logs only
    tid: Option<String>,
}

/// The parts of `webrtc://host[:port]/app/stream[?query]` we use (the host
/// names SRS's vhost unless it is an IP address).
#[derive(Debug)]
struct StreamUrl {
    host: String,
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
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let host = crate::api::request::host_without_port(host).to_string();
    let path = parts.next().ok_or_else(bad)?;
    let (app, stream) = path.rsplit_once('/').ok_or_else(bad)?;
    if app.is_empty() || stream.is_empty() {
        return Err(bad());
    }
    let query = crate::http::query::parse_query(query);
    Ok(StreamUrl {
        host,
        app: app.to_string(),
        stream: stream.to_string(),
        query,
    })
}

/// A plain JSON error `{code, error}` with its status, as SRS answers.
pub fn error(e: ApiError) -> Response {
    let mut resp = Response::json(
        e.status(),
        &json!({ "code": e.code(), "error": e.to_string() }),
    );
    if let Some(s) = e.retry_after() {
        resp.set_header("Retry-After", s.to_string());
    }
    if let Some(c) = e.challenge() {
        resp.set_header("WWW-Authenticate", c);
    }
    resp
}

/// Reads `/rtc/v1/publish/` (`role` Publish) or `/rtc/v1/play/` (Play).
pub fn parse(req: &Request, role: Role) -> Result<Signaling, ApiError> {
    let body: Body = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let StreamUrl {
        host,
        app,
        stream,
        query,
    } = parse_stream_url(&body.streamurl)?;
    // Options may come in the API URL's query or in the stream URL's.
    let opt = |k: &str| {
        req.query_param(k).or_else(|| {
            query
                .iter()
                .find(|(qk, _)| qk == k)
                .map(|(_, v)| v.as_str())
        })
    };
    let param = body
        .streamurl
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    let mut sig = Signaling::new(
        role,
        Some(&app),
        Some(&stream),
        body.sdp,
        &opt,
        req.host(),
        param,
        AnswerStyle::Legacy,
    )?;
    sig.bearer = crate::api::session::bearer(req)
        .or_else(|| opt("token"))
        .map(str::to_owned);
    if opt("vhost").or_else(|| opt("domain")).is_none() {
        // The stream URL's host names the vhost, as in SRS (an IP names none).
        let named = host.parse::<std::net::IpAddr>().is_err()
            && crate::api::request::check_name("vhost", &host).is_ok();
        sig.create.vhost = if named {
            host
        } else {
            crate::config::DEFAULT_VHOST.to_string()
        };
    }
    Ok(sig)
}

/// SRS's answer: `{code: 0, server, service, pid, sdp, sessionid}`.
pub fn answer(result: Result<Created, ApiError>) -> Response {
    match result {
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
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls() {
        let u = parse_stream_url("webrtc://example.com:1985/live/cam?eip=1.2.3.4").unwrap();
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "cam"));
        assert_eq!(u.host, "example.com");

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
