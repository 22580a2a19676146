//! A signaling request (WHIP, WHEP or the legacy API) after its HTTP has
//! been read: the SFU's [`CreateSession`] command, checked for well-formed
//! names and credentials, and what the runtime needs around it.

use crate::api::ApiError;
use crate::config::DEFAULT_VHOST;
use crate::sdp::Role;
use crate::sfu::CreateSession;

/// SRS's `app` when a request names none.
pub const DEFAULT_APP: &str = "live";
/// SRS's `stream` when a request names none.
pub const DEFAULT_STREAM: &str = "livestream";

/// How the answer is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerStyle {
    /// WHIP/WHEP: `201 Created`, `application/sdp`, `Location`.
    Whip,
    /// The legacy JSON API: `{code, sdp, sessionid}`.
    Legacy,
}

/// A request to create a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signaling {
    /// The command for the SFU.
    pub create: CreateSession,
    /// `eip=ip[:port]` (or SRS 5's `candidate=`): forces the answer's candidate.
    pub eip: Option<String>,
    /// The `Host` of the API request (for `api_as_candidates`).
    pub api_host: Option<String>,
    /// The request's query (`?app=live&stream=s&token=t`) for the hooks.
    pub param: String,
    /// How to answer.
    pub style: AnswerStyle,
    /// The `Authorization: Bearer` token (for the legacy API also the
    /// stream URL's `token=`), checked against the vhost's `bearer_token`
    /// and passed to the hooks.
    pub bearer: Option<String>,
}

/// The options of a request, looked up by name (the URL's query, and for
/// the legacy API the stream URL's query too).
pub type Options<'a> = &'a dyn Fn(&str) -> Option<&'a str>;

impl Signaling {
    /// Checks a request's parts and builds it. `app` and `stream` default
    /// to SRS's `live` and `livestream`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        role: Role,
        app: Option<&str>,
        stream: Option<&str>,
        offer: String,
        opt: Options<'_>,
        api_host: Option<&str>,
        param: String,
        style: AnswerStyle,
    ) -> Result<Self, ApiError> {
        let app = app.filter(|a| !a.is_empty()).unwrap_or(DEFAULT_APP);
        let stream = stream.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_STREAM);
        check_name("app", app)?;
        check_name("stream", stream)?;
        let ice_ufrag = opt("ice-ufrag")
            .map(|u| check_ice("ice-ufrag", u, 4))
            .transpose()?;
        let ice_pwd = opt("ice-pwd")
            .map(|p| check_ice("ice-pwd", p, 22))
            .transpose()?;
        let eip = opt("eip").or_else(|| opt("candidate"));
        if let Some(eip) = eip {
            crate::api::check_eip(eip)?;
        }
        // SRS's order: `?vhost=`, `?domain=`, then the host the request
        // was sent to (an IP address names no vhost).
        let host = api_host
            .map(host_without_port)
            .filter(|h| h.parse::<std::net::IpAddr>().is_err() && check_name("vhost", h).is_ok());
        let vhost = opt("vhost")
            .or_else(|| opt("domain"))
            .filter(|v| !v.is_empty())
            .or(host)
            .unwrap_or(DEFAULT_VHOST);
        check_name("vhost", vhost)?;
        Ok(Signaling {
            create: CreateSession {
                role,
                vhost: vhost.to_string(),
                app: app.to_string(),
                stream: stream.to_string(),
                offer,
                ice_ufrag,
                ice_pwd,
                client_ip: None,
            },
            eip: eip.map(str::to_string),
            api_host: api_host.map(str::to_string),
            param,
            style,
            bearer: None,
        })
    }
}

/// The host of a `Host` header value, without its port.
pub(crate) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Stream, app and vhost names: 1 to 256 of `[A-Za-z0-9-_.~]`.
pub(crate) fn check_name(what: &str, v: &str) -> Result<(), ApiError> {
    if crate::util::is_valid_name(v) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("invalid {what} {v:?}")))
    }
}

/// ICE credentials may hold `ALPHA / DIGIT / "+" / "/"` (RFC 8839); ours
/// also refuse `:` which separates the two ufrags in USERNAME.
fn check_ice(what: &str, v: &str, min: usize) -> Result<String, ApiError> {
    let ok = (min..=256).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if ok {
        Ok(v.to_string())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid {what} {v:?} ({min} to 256 ICE characters)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<&'static str> {
        None
    }

    #[test]
    fn app_and_stream_default_as_in_srs() {
        let s = Signaling::new(
            Role::Publish,
            None,
            Some(""),
            "v=0".into(),
            &none,
            None,
            String::new(),
            AnswerStyle::Whip,
        )
        .unwrap();
        assert_eq!(
            (s.create.app.as_str(), s.create.stream.as_str()),
            ("live", "livestream")
        );
        assert_eq!(s.create.vhost, DEFAULT_VHOST);
        let named = |host| {
            Signaling::new(
                Role::Play,
                None,
                None,
                String::new(),
                &none,
                Some(host),
                String::new(),
                AnswerStyle::Whip,
            )
            .unwrap()
            .create
            .vhost
        };
        assert_eq!(named("example.com:1985"), "example.com");
        assert_eq!(named("127.0.0.1:1985"), DEFAULT_VHOST);
        assert_eq!(named("[::1]:1985"), DEFAULT_VHOST);
    }

    #[test]
    fn names_and_credentials_are_checked() {
        let opts = |k: &str| match k {
            "candidate" => Some("10.0.0.1"),
            "ice-ufrag" => Some("abcd"),
            _ => None,
        };
        let s = Signaling::new(
            Role::Play,
            Some("live"),
            Some("s"),
            String::new(),
            &opts,
            None,
            String::new(),
            AnswerStyle::Whip,
        )
        .unwrap();
        assert_eq!(s.eip.as_deref(), Some("10.0.0.1"), "candidate= is eip");
        assert_eq!(s.create.ice_ufrag.as_deref(), Some("abcd"));
        let bad = Signaling::new(
            Role::Play,
            Some("li/ve"),
            Some("s"),
            String::new(),
            &none,
            None,
            String::new(),
            AnswerStyle::Whip,
        );
        assert!(matches!(bad, Err(ApiError::BadRequest(m)) if m.contains("app")));
        let short = |k: &str| (k == "ice-pwd").then_some("short");
        assert!(Signaling::new(
            Role::Play,
            None,
            None,
            String::new(),
            &short,
            None,
            String::new(),
            AnswerStyle::Whip
        )
        .is_err());
    }
}
