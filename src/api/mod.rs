//! The signaling API in HTTP terms: WHIP/WHEP, the legacy
//! `/rtc/v1/publish|play` JSON API and `/api/v1/*` (behind [`auth`] when
//! `http_api.auth` is on).
//!
//! [`route`] looks at a request once and says what it asks for: an answer
//! it can give itself ([`Route::Respond`]), or a command for the shard's
//! SFU ([`Route::Create`], [`Route::Delete`]), a report ([`Route::Info`]) or
//! a file ([`Route::Files`]) that the runtime carries out. The answer
//! builders ([`created`], [`deleted`], [`info`]) turn the results back into
//! HTTP; [`finish`] adds CORS (browsers need it on every response,
//! preflights and errors included). Nothing here knows the runtime.

pub mod auth;
mod error;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod info;
mod legacy;
mod request;
mod whip;

use std::net::{IpAddr, SocketAddr};

pub use error::ApiError;
pub(crate) use request::host_without_port;
pub use request::{AnswerStyle, Signaling};

use crate::config::{Config, IpFamily as CfgIpFamily, RtcProtocol};
use crate::http::{self, Method, Request, Response};
use crate::sdp::{CandidatePolicy, IpFamily, Protocol, Role};
use crate::sfu::Created;

/// Which HTTP listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// `http_api` (1985): WHIP/WHEP, `/rtc/v1/*`, `/api/v1/*`.
    Api,
    /// `http_server` (8080): static files (and the API when the ports are the same).
    Files,
    /// Both on one port.
    Both,
}

/// The reports of `/api/v1/*` that need the server's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoQuery {
    /// `/api/v1/summaries`.
    Summaries,
    /// `/api/v1/clients`.
    Clients,
    /// `/api/v1/streams`.
    Streams,
}

/// What a request asks for.
#[derive(Debug)]
pub enum Route {
    /// Answer this (a preflight, an error, `/api/v1/versions`, ...).
    Respond(Response),
    /// Create a session (WHIP, WHEP, legacy publish/play).
    Create(Box<Signaling>),
    /// End the session with this token (DELETE of its resource).
    Delete {
        /// The token from the resource URL.
        token: String,
    },
    /// A report from the server's figures.
    Info(InfoQuery),
    /// A file, HLS playlist or segment from the HTTP server.
    Files,
}

/// Routes one request that arrived on `site`.
pub fn route(req: &Request, site: Site, config: &Config) -> Route {
    if req.method == Method::Options {
        return Route::Respond(http::preflight(req));
    }
    let path = req.path.as_str();
    if matches!(site, Site::Api | Site::Both) {
        let p = path.trim_end_matches('/');
        if p == "/api" || p.starts_with("/api/") {
            if let Err(challenge) = auth::check(&config.http_api.auth, req) {
                return Route::Respond(challenge);
            }
        }
        let signaling = |r: Result<Signaling, ApiError>, style: fn(ApiError) -> Response| match r {
            Ok(s) => Route::Create(Box::new(s)),
            Err(e) => Route::Respond(style(e)),
        };
        match (&req.method, p) {
            (Method::Post, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play") => {
                return signaling(whip::parse(req), whip::error)
            }
            (Method::Delete, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play") => {
                return match req.query_param("token") {
                    Some(t) => Route::Delete { token: t.into() },
                    None => Route::Respond(whip::error(ApiError::BadRequest(
                        "DELETE needs the token of the session resource".into(),
                    ))),
                }
            }
            (Method::Post, "/rtc/v1/publish") => {
                return signaling(legacy::parse(req, Role::Publish), legacy::error)
            }
            (Method::Post, "/rtc/v1/play") => {
                return signaling(legacy::parse(req, Role::Play), legacy::error)
            }
            (Method::Get, "/api/v1/versions") => return Route::Respond(info::versions()),
            (Method::Get, "/api/v1/summaries") => return Route::Info(InfoQuery::Summaries),
            (Method::Get, "/api/v1/clients") => return Route::Info(InfoQuery::Clients),
            (Method::Get, "/api/v1/streams") => return Route::Info(InfoQuery::Streams),
            (Method::Get, "/api/v1" | "/api") => return Route::Respond(info::index()),
            _ => {}
        }
        if p.starts_with("/rtc/") || p.starts_with("/api/") {
            return Route::Respond(Response::error(
                404,
                &format!("no API at {} {}", req.method, path),
            ));
        }
    }
    if matches!(site, Site::Files | Site::Both) && matches!(req.method, Method::Get | Method::Head)
    {
        return Route::Files;
    }
    Route::Respond(Response::error(404, &format!("not found: {path}")))
}

/// Which API a request is a signaling POST of (WHIP/WHEP, the legacy
/// publish or play), judged from its method and path alone, before its body
/// is read: the requests `rtc_server.signaling_rate_per_ip` counts.
pub fn signaling_post(req: &Request, site: Site) -> Option<AnswerStyle> {
    if req.method != Method::Post || site == Site::Files {
        return None;
    }
    match req.path.trim_end_matches('/') {
        "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play" => Some(AnswerStyle::Whip),
        "/rtc/v1/publish" | "/rtc/v1/play" => Some(AnswerStyle::Legacy),
        _ => None,
    }
}

/// `e` in the style of the API that was asked.
pub fn error(style: AnswerStyle, e: ApiError) -> Response {
    match style {
        AnswerStyle::Whip => whip::error(e),
        AnswerStyle::Legacy => legacy::error(e),
    }
}

/// The answer to a [`Route::Create`]: WHIP/WHEP's `201` with the SDP and a
/// `Location`, or the legacy API's JSON.
pub fn created(sig: &Signaling, result: Result<Created, ApiError>) -> Response {
    match sig.style {
        AnswerStyle::Whip => whip::answer(sig, result),
        AnswerStyle::Legacy => legacy::answer(result),
    }
}

/// The answer to a [`Route::Delete`].
pub fn deleted(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => Response::new(200),
        Err(e) => whip::error(e),
    }
}

/// A refusal by a deciding hook (`on_publish`/`on_play`), in the style of
/// the API that was asked.
pub fn refused(sig: &Signaling, why: &str) -> Response {
    error(sig.style, ApiError::Forbidden(why.to_string()))
}

/// Adds the CORS headers every response needs.
pub fn finish(req: &Request, mut resp: Response) -> Response {
    http::apply_cors(req, &mut resp);
    resp
}

/// The candidate policy of the configuration.
pub fn candidate_policy(cfg: &Config) -> CandidatePolicy {
    let rtc = &cfg.rtc_server;
    let udp_port = rtc.listen.first().map(|a| a.port()).unwrap_or(8000);
    CandidatePolicy {
        candidate: rtc.candidate.clone(),
        udp_port,
        tcp_port: rtc
            .tcp
            .enabled
            .then(|| rtc.tcp.listen.first().map(|a| a.port()).unwrap_or(udp_port)),
        protocol: match rtc.protocol {
            RtcProtocol::Tcp => Protocol::Tcp,
            RtcProtocol::All => Protocol::All,
            RtcProtocol::Udp => Protocol::Udp,
        },
        api_as_candidates: rtc.api_as_candidates,
        resolve_api_domain: rtc.resolve_api_domain,
        keep_api_domain: rtc.keep_api_domain,
        use_auto_detect_network_ip: rtc.use_auto_detect_network_ip,
        ip_family: match rtc.ip_family {
            CfgIpFamily::Ipv4 => IpFamily::V4,
            CfgIpFamily::Ipv6 => IpFamily::V6,
            CfgIpFamily::All => IpFamily::All,
        },
    }
}

/// `eip` must be an IP (or host name) optionally followed by `:port`.
pub(crate) fn check_eip(eip: &str) -> Result<(), ApiError> {
    if eip.parse::<IpAddr>().is_ok() || eip.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = match eip.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (eip, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid eip {eip:?}, expected ip[:port]"
        )))
    }
}
