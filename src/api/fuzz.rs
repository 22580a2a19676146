//! Fuzz entry point for the signaling API (fuzz/fuzz_targets/api_route.rs):
//! whatever a stranger sends, routing never panics, every refusal is a 4xx
//! or 5xx with a reason, and every session request it accepts carries only
//! well-formed names.

use std::time::Instant;

use crate::api::{created, route, ApiError, Route, Site};
use crate::config::Config;
use crate::http::{ServerConn, Timeouts};

/// Parses `data` as HTTP requests and routes each; panics only if an
/// invariant breaks.
pub fn route_requests(data: &[u8]) {
    let now = Instant::now();
    let config = Config::default();
    let mut conn = ServerConn::new(now, Timeouts::default());
    conn.handle_input(now, data);
    conn.handle_eof(now);
    while let Some(Ok(req)) = conn.poll_request() {
        match route(&req, Site::Both, &config) {
            Route::Respond(r) => assert!((100..600).contains(&r.status), "{}", r.status),
            Route::Create(sig) => {
                let c = &sig.create;
                for name in [&c.app, &c.stream, &c.vhost] {
                    assert!(crate::util::is_valid_name(name), "{name:?} got through");
                }
                if let Some(eip) = &sig.eip {
                    assert!(crate::api::check_eip(eip).is_ok(), "{eip:?} got through");
                }
                let refused = created(&sig, Err(ApiError::BadRequest("fuzz".into())));
                assert!((400..500).contains(&refused.status));
            }
            Route::Delete { token } => {
                assert!(!token.is_empty() || req.query_param("token").is_some())
            }
            Route::Kick { id } => assert!(!id.is_empty()),
            Route::Mix { method, .. } => assert!(matches!(
                method,
                crate::http::Method::Post | crate::http::Method::Delete | crate::http::Method::Get
            )),
            Route::Patch(p) => {
                assert!(!p.token.is_empty());
                assert!(p.frag.candidates.len() <= crate::sdp::sdpfrag::MAX_CANDIDATES);
            }
            Route::Session { token } => assert!(!token.is_empty()),
            Route::Info(_) | Route::Files => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_route_without_breaking_an_invariant() {
        let offer = include_str!("../../tests/fixtures/sdp/aiortc_whip_h264.sdp");
        let whip = format!(
            "POST /rtc/v1/whip/?app=live&stream=s&eip=1.2.3.4 HTTP/1.1\r\nHost: a.example:1985\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
            offer.len()
        );
        let legacy = "POST /rtc/v1/play/ HTTP/1.1\r\nHost: x\r\nContent-Length: 52\r\n\r\n\
                      {\"streamurl\":\"webrtc://h/live/s?eip=1.2.3.4\",\"sdp\":\"\"}";
        let bad = "POST /rtc/v1/whep/?app=../x HTTP/1.1\r\nContent-Type: application/sdp\r\nContent-Length: 1\r\n\r\nv";
        for seed in [
            whip.as_str(),
            legacy,
            bad,
            "DELETE /rtc/v1/whip/?token=t HTTP/1.1\r\n\r\n",
            "DELETE /api/v1/clients/abcd:efgh HTTP/1.1\r\n\r\n",
            "GET /api/v1/clients?start=-1&count=x HTTP/1.1\r\n\r\n",
            "GET /api/v1/streams/live/s HTTP/1.1\r\n\r\n",
        ] {
            super::route_requests(seed.as_bytes());
        }
    }
}
