//! WHIP/WHEP, the legacy `/rtc/v1/publish|play` JSON API and `/api/v1/*`
//! (behind [`auth`] when `http_api.auth` is on).
//!
//! [`handle`] routes one parsed request to its handler and returns the
//! response with CORS headers applied (browsers need them on every
//! response, preflights and errors included).

pub mod auth;
mod error;
mod info;
mod legacy;
mod session;
mod whip;

use std::net::{IpAddr, SocketAddr};

pub use error::ApiError;
pub use session::{create_session, Created, SessionRequest};

use crate::config::Config;
use crate::config::{DtlsRole, IpFamily as CfgIpFamily, RtcProtocol};
use crate::http::{self, Method, Request, Response};
use crate::sdp::{CandidatePolicy, IpFamily, Protocol};
use crate::server::{ShardCore, Site};

/// What a signaling request asks to publish or play, for the deciding
/// hooks ([`crate::server::hooks`]).
#[derive(Debug, PartialEq, Eq)]
pub struct HookTarget {
    /// Publish or play.
    pub action: crate::server::hooks::Action,
    /// `app`.
    pub app: String,
    /// `stream`.
    pub stream: String,
    /// The query (`?app=live&stream=s&token=t`), or empty.
    pub param: String,
}

/// The stream a WHIP/WHEP POST (`app` and `stream` in the query) or a legacy
/// `/rtc/v1/publish|play` POST (`streamurl`) asks for. `None` for any other
/// request, and for a malformed one (its handler answers that).
pub fn hook_target(req: &Request, site: Site) -> Option<HookTarget> {
    use crate::server::hooks::Action;
    if req.method != Method::Post || !matches!(site, Site::Api | Site::Both) {
        return None;
    }
    let query = |target: &str| {
        target
            .split_once('?')
            .map_or(String::new(), |(_, q)| format!("?{q}"))
    };
    let (action, app, stream, param) = match req.path.trim_end_matches('/') {
        "/rtc/v1/whip" | "/rtc/v1/whep" => (
            if req.path.starts_with("/rtc/v1/whip") {
                Action::Publish
            } else {
                Action::Play
            },
            req.query_param("app")?.to_owned(),
            req.query_param("stream")?.to_owned(),
            query(&req.raw_target),
        ),
        "/rtc/v1/publish" | "/rtc/v1/play" => {
            let (app, stream, url) = legacy::stream_of(req)?;
            let action = if req.path.starts_with("/rtc/v1/publish") {
                Action::Publish
            } else {
                Action::Play
            };
            (action, app, stream, query(&url))
        }
        _ => return None,
    };
    Some(HookTarget {
        action,
        app,
        stream,
        param,
    })
}

/// Serves one request on `core`'s shard.
pub fn handle(core: &ShardCore, req: &Request, site: Site) -> Response {
    let mut resp = route(core, req, site);
    http::apply_cors(req, &mut resp);
    resp
}

fn route(core: &ShardCore, req: &Request, site: Site) -> Response {
    if req.method == Method::Options {
        return http::preflight(req);
    }
    let path = req.path.as_str();
    let api = matches!(site, Site::Api | Site::Both);
    if api {
        let p = path.trim_end_matches('/');
        if p == "/api" || p.starts_with("/api/") {
            if let Err(challenge) = auth::check(&core.shared.config.http_api.auth, req) {
                return challenge;
            }
        }
        match (&req.method, p) {
            (Method::Post, "/rtc/v1/whip") => {
                return whip::create(core, req, crate::sdp::Role::Publish)
            }
            (Method::Post, "/rtc/v1/whep") => {
                return whip::create(core, req, crate::sdp::Role::Play)
            }
            (Method::Delete, "/rtc/v1/whip" | "/rtc/v1/whep") => return whip::delete(core, req),
            (Method::Post, "/rtc/v1/publish") => {
                return legacy::handle(core, req, crate::sdp::Role::Publish)
            }
            (Method::Post, "/rtc/v1/play") => {
                return legacy::handle(core, req, crate::sdp::Role::Play)
            }
            (Method::Get, "/api/v1/versions") => return info::versions(),
            (Method::Get, "/api/v1/summaries") => return info::summaries(core),
            (Method::Get, "/api/v1/clients") => return info::clients(core),
            (Method::Get, "/api/v1/streams") => return info::streams(core),
            (Method::Get, "/api/v1" | "/api") => return info::index(),
            _ => {}
        }
        if p.starts_with("/rtc/") || p.starts_with("/api/") {
            return Response::error(404, &format!("no API at {} {}", req.method, path));
        }
    }
    if matches!(site, Site::Files | Site::Both) && matches!(req.method, Method::Get | Method::Head)
    {
        // Live hook: HLS playlists and segments before static files.
        if let Some(resp) = crate::server::live::http::hls_response(core, req) {
            return resp;
        }
        return static_file(core, &req.raw_target);
    }
    Response::error(404, &format!("not found: {path}"))
}

fn static_file(core: &ShardCore, path: &str) -> Response {
    // resolve_static decodes the raw (percent-encoded) target itself.
    let root = std::path::Path::new(&core.shared.config.http_server.dir);
    match http::resolve_static(root, path) {
        // Static files are small and rare next to media; a blocking read is
        // acceptable here. Streaming FLV/HLS uses its own path.
        Ok(file) => match std::fs::read(&file) {
            Ok(body) => http::static_response(&file, body),
            Err(_) => Response::error(404, &format!("not found: {path}")),
        },
        Err(e) => Response::error(e.status(), &e.to_string()),
    }
}

/// Whether the configuration makes us the DTLS client when the peer offers `actpass`.
pub fn dtls_role_active(cfg: &Config) -> bool {
    cfg.vhost("__defaultVhost__").rtc.dtls_role == DtlsRole::Active
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
