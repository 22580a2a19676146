//! `http_api { auth { enabled on; username U; password P; } }`: HTTP Basic
//! authentication (RFC 7617) of the management API, `/api/*`, as in SRS
//! 5.0.152+. As in SRS, WebRTC signaling (`/rtc/*`) and the HTTP server are
//! not covered: players and publishers are users, not operators.

use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::config::HttpApiAuthConfig;
use crate::http::{Request, Response};

/// The realm browsers show when they ask for the credentials.
const REALM: &str = "SRS";

/// `Ok` when `auth` is off or `req` carries its credentials; otherwise the
/// 401 to send, with a `WWW-Authenticate` challenge and the reason.
pub fn check(auth: &HttpApiAuthConfig, req: &Request) -> Result<(), Response> {
    if !auth.enabled {
        return Ok(());
    }
    let reason = match credentials(req) {
        Err(why) => why,
        Ok((user, pass)) => {
            // Both compared in constant time, so timing tells nothing about either.
            let user_ok = user.as_bytes().ct_eq(auth.username.as_bytes());
            let pass_ok = pass.as_bytes().ct_eq(auth.password.as_bytes());
            if bool::from(user_ok & pass_ok) {
                return Ok(());
            }
            "wrong username or password"
        }
    };
    Err(
        Response::error(401, &format!("authentication required: {reason}"))
            .with_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\"")),
    )
}

/// The user and password of an `Authorization: Basic` header.
fn credentials(req: &Request) -> Result<(String, String), &'static str> {
    let value = req
        .header("Authorization")
        .ok_or("no Authorization header")?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or("Authorization is not \"Basic <credentials>\"")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("Authorization scheme is not Basic");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "Basic credentials are not base64")?;
    let text = String::from_utf8(decoded).map_err(|_| "Basic credentials are not UTF-8")?;
    let (user, pass) = text
        .split_once(':')
        .ok_or("Basic credentials have no ':'")?;
    Ok((user.to_owned(), pass.to_owned()))
}

#[cfg(any(test, feature = "fuzz"))]
/// Fuzz entry (fuzz/fuzz_targets/basic_auth.rs): `data` as the
/// Authorization header of an API request against fixed credentials. Only
/// the exact credentials may pass, and every refusal is a 401 with a
/// challenge. Never panics on any input.
#[doc(hidden)]
pub fn fuzz_basic_auth(data: &[u8]) {
    let auth = HttpApiAuthConfig {
        enabled: true,
        username: "admin".into(),
        password: "s3cr:et".into(),
    };
    let value = String::from_utf8_lossy(data).into_owned();
    let Ok(req) = Request::from_parts(
        crate::http::Method::Get,
        "/api/v1/versions",
        vec![("Authorization".into(), value)],
        "",
    ) else {
        return;
    };
    match check(&auth, &req) {
        Ok(()) => assert_eq!(credentials(&req), Ok(("admin".into(), "s3cr:et".into()))),
        Err(resp) => {
            assert_eq!(resp.status, 401);
            assert!(resp.header("WWW-Authenticate").is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn auth() -> HttpApiAuthConfig {
        HttpApiAuthConfig {
            enabled: true,
            username: "admin".into(),
            password: "s3cr:et".into(),
        }
    }

    fn req(authorization: Option<&str>) -> Request {
        let headers = authorization
            .map(|v| vec![("Authorization".to_string(), v.to_string())])
            .unwrap_or_default();
        Request::from_parts(Method::Get, "/api/v1/versions", headers, "").unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn fuzz_entry_holds_on_odd_headers() {
        for h in [
            &b""[..],
            b"Basic",
            b"Basic ",
            b"Basic YWRtaW46czNjcjpldA==",
            b"\xff\xfe",
            b"basic Og==",
        ] {
            fuzz_basic_auth(h);
        }
    }

    #[test]
    fn off_lets_everything_through() {
        assert!(check(&HttpApiAuthConfig::default(), &req(None)).is_ok());
    }

    #[test]
    fn right_credentials_pass_and_the_password_may_hold_colons() {
        assert!(check(&auth(), &req(Some(&basic("admin:s3cr:et")))).is_ok());
        assert!(check(
            &auth(),
            &req(Some(&basic("admin:s3cr:et").replace("Basic", "basic")))
        )
        .is_ok());
    }

    #[test]
    fn everything_else_is_a_401_with_a_challenge_and_a_reason() {
        for (value, reason) in [
            (None, "no Authorization header"),
            (Some(basic("admin:wrong")), "wrong username or password"),
            (Some(basic("root:s3cr:et")), "wrong username or password"),
            (Some(basic("admin")), "no ':'"),
            (Some("Basic !!!".to_string()), "not base64"),
            (Some("Bearer abc".to_string()), "not Basic"),
            (Some("Basic".to_string()), "not \"Basic <credentials>\""),
        ] {
            let resp = check(&auth(), &req(value.as_deref())).expect_err("refused");
            assert_eq!(resp.status, 401);
            assert_eq!(resp.header("WWW-Authenticate"), Some("Basic realm=\"SRS\""));
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            assert!(body.contains(reason), "{value:?}: {body}");
        }
    }
}
