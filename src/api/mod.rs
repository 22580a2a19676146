//! The signaling API in HTTP terms: WHIP/WHEP, the legacy
//! `/rtc/v1/publish|play` JSON API and `/api/v1/*` (behind [`auth`] when
//! `http_api.auth` is on).
//!
//! [`route`] looks at a request once and says what it asks for: an answer
//! it can give itself ([`Route::Respond`]), or a command for the shard's
//! SFU ([`Route::Create`], [`Route::Delete`]), a kick of a client
//! ([`Route::Kick`]), a report ([`Route::Info`]) or a file
//! ([`Route::Files`]) that the runtime carries out. The answer builders
//! ([`created`], [`deleted`], [`kicked`], [`info`]) turn the results back into
//! HTTP; [`finish`] adds CORS (browsers need it on every response,
//! preflights and errors included). Nothing here knows the runtime.

pub mod auth;
mod error;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod info;
mod legacy;
pub mod page;
mod request;
pub mod session;
mod whip;

use std::net::{IpAddr, SocketAddr};

pub use error::ApiError;
pub use page::Page;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfoQuery {
    /// `/api/v1/summaries`.
    Summaries,
    /// `/api/v1/clients?start=&count=`.
    Clients(Page),
    /// `/api/v1/streams?start=&count=`.
    Streams(Page),
    /// `/api/v1/clients/{id}`.
    Client(String),
    /// `/api/v1/streams/{id}` (`app/stream`).
    Stream(String),
    /// `/api/v1/cluster`: this node, the other nodes, the streams.
    Cluster,
}

/// What a request asks for.
#[derive(Debug)]
pub enum Route {
    /// Answer this (a preflight, an error, `/api/v1/versions`, ...).
    Respond(Response),
    /// Create a session (WHIP, WHEP, legacy publish/play).
    Create(Box<Signaling>),
    /// Trickle ICE or an ICE restart (`PATCH` of a session resource).
    Patch(Box<session::Patch>),
    /// Describe the session with this token (`GET`/`HEAD` of its resource).
    Session {
        /// The token from the resource URL.
        token: String,
    },
    /// End the session with this token (DELETE of its resource).
    Delete {
        /// The token from the resource URL.
        token: String,
    },
    /// Kick the client with this id (`DELETE /api/v1/clients/{id}`): a
    /// WebRTC session, an RTMP publisher or player, an HTTP-FLV player.
    Kick {
        /// The client's id as `/api/v1/clients` lists it.
        id: String,
    },
    /// A report from the server's figures.
    Info(InfoQuery),
    /// A file, HLS playlist or segment from the HTTP server.
    Files,
    /// `/api/v1/rooms/{room}/mix`: start (`POST`), stop (`DELETE`) or
    /// report (`GET`) a room's mix.
    Mix {
        /// The room (its app name), as given.
        room: String,
        /// `POST`, `DELETE` or `GET`.
        method: Method,
    },
}

/// Routes one request that arrived on `site`.
pub fn route(req: &Request, site: Site, config: &Config) -> Route {
    let path = req.path.as_str();
    let api_site = matches!(site, Site::Api | Site::Both);
    if req.method == Method::Options {
        if api_site && is_whip_path(path.trim_end_matches('/')) {
            return Route::Respond(session::options(req, &config.rtc_server.ice_servers));
        }
        return Route::Respond(http::preflight(req));
    }
    // ossrs/signaling's version, on both sites as the Go app serves it.
    if config.signaling.enabled
        && req.method == Method::Get
        && path.trim_end_matches('/') == crate::signaling::VERSIONS_PATH
    {
        return Route::Respond(Response::text(200, "1.0"));
    }
    if api_site {
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
            (Method::Patch, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play") => {
                return match session::parse_patch(req) {
                    Ok(patch) => Route::Patch(Box::new(patch)),
                    Err(e) => Route::Respond(whip::error(e)),
                }
            }
            (Method::Get | Method::Head, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play")
                if req.query_param("token").is_some_and(|t| !t.is_empty()) =>
            {
                return Route::Session {
                    token: req.query_param("token").unwrap_or_default().into(),
                };
            }
            (_, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play") => {
                let e = ApiError::MethodNotAllowed {
                    method: req.method.to_string(),
                    allow: WHIP_ALLOW,
                };
                return Route::Respond(whip::error(e).with_header("Allow", WHIP_ALLOW));
            }
            (Method::Post, "/rtc/v1/publish") => {
                return signaling(legacy::parse(req, Role::Publish), legacy::error)
            }
            (Method::Post, "/rtc/v1/play") => {
                return signaling(legacy::parse(req, Role::Play), legacy::error)
            }
            (Method::Get, "/api/v1/versions") => return Route::Respond(info::versions()),
            (Method::Get, "/api/v1/summaries") => return Route::Info(InfoQuery::Summaries),
            (Method::Get, "/api/v1/cluster") => return Route::Info(InfoQuery::Cluster),
            (Method::Get, "/api/v1/clients") => {
                return paged(req, InfoQuery::Clients);
            }
            (Method::Get, "/api/v1/streams") => {
                return paged(req, InfoQuery::Streams);
            }
            (Method::Get, "/api/v1" | "/api") => return Route::Respond(info::index()),
            (_, "/api/v1/clients" | "/api/v1/streams") => {
                return not_allowed(req, "GET");
            }
            _ => {}
        }
        if let Some(id) = p.strip_prefix("/api/v1/clients/") {
            return match req.method {
                Method::Get => Route::Info(InfoQuery::Client(id.to_owned())),
                Method::Delete => Route::Kick { id: id.to_owned() },
                _ => not_allowed(req, "GET, DELETE"),
            };
        }
        if let Some(room) = p
            .strip_prefix("/api/v1/rooms/")
            .and_then(|r| r.strip_suffix("/mix"))
        {
            return match req.method {
                Method::Post | Method::Delete | Method::Get => Route::Mix {
                    room: room.to_owned(),
                    method: req.method.clone(),
                },
                _ => not_allowed(req, "POST, DELETE, GET"),
            };
        }
        if let Some(id) = p.strip_prefix("/api/v1/streams/") {
            return match req.method {
                Method::Get => Route::Info(InfoQuery::Stream(id.to_owned())),
                _ => not_allowed(req, "GET"),
            };
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

/// The methods of the WHIP/WHEP endpoints and session resources.
const WHIP_ALLOW: &str = "OPTIONS, POST, PATCH, GET, HEAD, DELETE";

/// Whether `p` (without a trailing `/`) is a WHIP/WHEP endpoint.
fn is_whip_path(p: &str) -> bool {
    matches!(p, "/rtc/v1/whip" | "/rtc/v1/whep" | "/rtc/v1/whip-play")
}

/// Which API a request is a signaling POST (or a session `PATCH`) of
/// (WHIP/WHEP, the legacy publish or play), judged from its method and path
/// alone, before its body is read: the requests
/// `rtc_server.signaling_rate_per_ip` counts.
pub fn signaling_post(req: &Request, site: Site) -> Option<AnswerStyle> {
    let patch = req.method == Method::Patch;
    if !(req.method == Method::Post || patch) || site == Site::Files {
        return None;
    }
    match req.path.trim_end_matches('/') {
        p if is_whip_path(p) => Some(AnswerStyle::Whip),
        _ if patch => None,
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

/// A list report with the page the query asks for, or its 400.
fn paged(req: &Request, query: fn(Page) -> InfoQuery) -> Route {
    match Page::from_request(req) {
        Ok(page) => Route::Info(query(page)),
        Err(e) => Route::Respond(api_error(e)),
    }
}

/// SRS's 405 for a method an `/api/v1` path does not serve.
fn not_allowed(req: &Request, allow: &'static str) -> Route {
    let e = ApiError::MethodNotAllowed {
        method: req.method.to_string(),
        allow,
    };
    Route::Respond(api_error(e).with_header("Allow", allow))
}

/// An error of `/api/v1/*` in SRS's JSON shape: its HTTP status and
/// `{"code": <SRS error code>, "error": reason}`.
pub fn api_error(e: ApiError) -> Response {
    legacy::error(e)
}

/// The answer to a [`Route::Kick`]: SRS's `{"code": 0, ...}`, or the error.
pub fn kicked(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => info::ok(),
        Err(e) => api_error(e),
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
        // `[v6]` from the CANDIDATE variable loses its brackets here.
        candidates: rtc
            .candidates()
            .map(|c| c.trim_start_matches('[').trim_end_matches(']').to_string())
            .collect(),
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
    let bracketed = eip.strip_prefix('[').and_then(|e| e.strip_suffix(']'));
    if eip.parse::<IpAddr>().is_ok()
        || eip.parse::<SocketAddr>().is_ok()
        || bracketed.is_some_and(|e| e.parse::<std::net::Ipv6Addr>().is_ok())
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(method: Method, target: &str, config: &Config) -> Route {
        let req = Request::from_parts(method, target, Vec::new(), Vec::new()).unwrap();
        route(&req, Site::Api, config)
    }

    fn status(r: &Route) -> u16 {
        match r {
            Route::Respond(resp) => resp.status,
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn client_and_stream_lists_are_paged() {
        let c = Config::default();
        let page = |start, count| Page { start, count };
        assert!(matches!(
            routed(Method::Get, "/api/v1/clients", &c),
            Route::Info(InfoQuery::Clients(p)) if p == page(0, 10)
        ));
        assert!(matches!(
            routed(Method::Get, "/api/v1/clients/?start=20&count=5", &c),
            Route::Info(InfoQuery::Clients(p)) if p == page(20, 5)
        ));
        assert!(matches!(
            routed(Method::Get, "/api/v1/streams?count=5000", &c),
            Route::Info(InfoQuery::Streams(p)) if p == page(0, page::MAX_COUNT)
        ));
        let bad = routed(Method::Get, "/api/v1/streams?start=-3", &c);
        let Route::Respond(resp) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(resp.status, 400);
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(body["code"], 4400, "{body}");
        assert!(body["error"].as_str().unwrap().contains("start"), "{body}");
    }

    #[test]
    fn one_client_or_stream_and_the_kick() {
        let c = Config::default();
        assert!(matches!(
            routed(Method::Get, "/api/v1/clients/ab12:cd34", &c),
            Route::Info(InfoQuery::Client(id)) if id == "ab12:cd34"
        ));
        assert!(matches!(
            routed(Method::Delete, "/api/v1/clients/ab12%3Acd34/", &c),
            Route::Kick { id } if id == "ab12:cd34"
        ));
        assert!(matches!(
            routed(Method::Get, "/api/v1/streams/live/cam", &c),
            Route::Info(InfoQuery::Stream(id)) if id == "live/cam"
        ));
        for (m, target, allow) in [
            (Method::Post, "/api/v1/clients/x", "GET, DELETE"),
            (Method::Delete, "/api/v1/streams/live/cam", "GET"),
            (Method::Delete, "/api/v1/clients", "GET"),
        ] {
            let r = routed(m, target, &c);
            assert_eq!(status(&r), 405, "{target}");
            let Route::Respond(resp) = r else {
                unreachable!()
            };
            assert_eq!(resp.header("Allow"), Some(allow));
        }
        let nf = kicked(Err(ApiError::ClientNotFound("x".into())));
        assert_eq!(nf.status, 404);
        let body: serde_json::Value = serde_json::from_slice(&nf.body).unwrap();
        assert_eq!(body["code"], 2049);
        let ok: serde_json::Value = serde_json::from_slice(&kicked(Ok(())).body).unwrap();
        assert_eq!(ok["code"], 0);
        assert!(ok.get("data").is_none(), "{ok}");
    }

    #[test]
    fn a_kick_needs_the_api_credentials() {
        let mut c = Config::default();
        c.http_api.auth.enabled = true;
        c.http_api.auth.username = "admin".into();
        c.http_api.auth.password = "pw".into();
        assert_eq!(
            status(&routed(Method::Delete, "/api/v1/clients/x", &c)),
            401
        );
        let req = Request::from_parts(
            Method::Delete,
            "/api/v1/clients/x",
            vec![("Authorization".into(), "Basic YWRtaW46cHc=".into())],
            Vec::new(),
        )
        .unwrap();
        assert!(matches!(route(&req, Site::Api, &c), Route::Kick { .. }));
    }
}
