//! WHIP (`POST /rtc/v1/whip/`) and WHEP (`POST /rtc/v1/whep/`), and DELETE
//! of the session resource they return.

use crate::api::{create_session, ApiError, SessionRequest};
use crate::http::{Request, Response};
use crate::sdp::Role;
use crate::server::{ShardCore, ShardMsg};

fn err(e: ApiError) -> Response {
    Response::error(e.status(), &e.to_string())
}

/// Creates a session from an `application/sdp` offer: `201 Created`, the
/// answer, and a `Location` naming the session's resource.
pub fn create(core: &ShardCore, req: &Request, role: Role) -> Response {
    match req.content_type() {
        Some("application/sdp") => {}
        other => {
            return err(ApiError::UnsupportedMediaType(
                other.unwrap_or("").to_string(),
                "application/sdp",
            ))
        }
    }
    let Ok(offer) = std::str::from_utf8(&req.body) else {
        return err(ApiError::BadRequest("the offer is not UTF-8".into()));
    };
    let (Some(app), Some(stream)) = (req.query_param("app"), req.query_param("stream")) else {
        return err(ApiError::BadRequest(
            "the query needs app and stream".into(),
        ));
    };
    let sreq = SessionRequest {
        role: Some(role),
        app,
        stream,
        offer,
        eip: req.query_param("eip"),
        ice_ufrag: req.query_param("ice-ufrag"),
        ice_pwd: req.query_param("ice-pwd"),
        api_host: req.host(),
    };
    match create_session(core, &sreq) {
        Ok(c) => {
            let kind = if role == Role::Publish {
                "whip"
            } else {
                "whep"
            };
            let location = format!(
                "/rtc/v1/{kind}/?action=delete&token={}&app={app}&stream={stream}&session={}",
                c.token, c.session_id
            );
            Response::bytes(201, "application/sdp", c.answer.into_bytes())
                .with_header("Location", &location)
        }
        Err(e) => err(e),
    }
}

/// Ends the session named by the `token` of its resource URL, on whichever
/// shard holds it.
pub fn delete(core: &ShardCore, req: &Request) -> Response {
    let Some(token) = req.query_param("token") else {
        return err(ApiError::BadRequest(
            "DELETE needs the token of the session resource".into(),
        ));
    };
    let Some(entry) = core.shared.directory.session(token) else {
        return err(ApiError::SessionNotFound(token.to_string()));
    };
    if entry.shard == core.id {
        if !core.close_session(token) {
            // In flight between shards: the directory entry goes now; the
            // receiving shard finds it gone and drops the session.
            core.shared.directory.remove(token);
        }
    } else if core
        .mesh
        .try_send(
            entry.shard,
            ShardMsg::Close {
                token: token.to_string(),
            },
        )
        .is_err()
    {
        // The owner is busy; forget it here so the resource is gone, and the
        // owner drops it at its next stun_timeout check.
        core.shared.directory.remove(token);
    }
    Response::new(200)
}
