//! The project's own pages (`web/`: the index, `/players/*.html`,
//! `/demos/*.html`, their scripts and the vendored FLV/HLS players),
//! compiled into the binary so that `cargo run --release` serves them with
//! no files on disk. A file under `http_server.dir` with the same path wins:
//! the embedded copy answers only what the directory does not have.
//!
//! `/js/server.js` is not a file: it is written from the running
//! configuration, so the pages know this server's ports.

use std::path::Path;

use bytes::Bytes;
use include_dir::{include_dir, Dir};

use crate::config::Config;
use crate::http::{self, Response};

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// The path of the generated configuration script the pages import.
pub const SERVER_JS: &str = "/js/server.js";

/// The embedded file a request target names (`/` and `/dir/` are their
/// `index.html`; the query is ignored), as a `200`; `None` when there is
/// none. Only plain paths match: anything percent-encoded or with `.`/`..`
/// segments finds nothing here (the directory lookup has refused or served
/// those already).
pub fn lookup(raw_target: &str) -> Option<Response> {
    let path = raw_target.split(['?', '#']).next().unwrap_or("");
    let rel = path.strip_prefix('/')?;
    if rel.split('/').any(|s| s == ".." || s == ".") || rel.contains(['%', '\\', '\0']) {
        return None;
    }
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_owned()
    };
    let file = WEB.get_file(&rel)?;
    Some(http::static_response(
        Path::new(&rel),
        Bytes::from_static(file.contents()),
    ))
}

/// `/js/server.js`: the ports the pages build URLs with, from `config`
/// (the first `listen` of each service; `null` for HTTPS when it is off).
pub fn server_js(config: &Config) -> Response {
    let port = |l: &[std::net::SocketAddr], fallback: u16| l.first().map_or(fallback, |a| a.port());
    let https = |h: &crate::config::HttpsConfig, fallback: u16| {
        if h.enabled {
            port(&h.listen, fallback).to_string()
        } else {
            "null".into()
        }
    };
    let body = format!(
        "// Written by the server from its configuration: the ports its pages use.\n\
         export const server = {{ api_port: {}, https_api_port: {}, http_port: {}, https_port: {}, rtmp_port: {} }};\n",
        port(&config.http_api.listen, 1985),
        https(&config.http_api.https, 1990),
        port(&config.http_server.listen, 8080),
        https(&config.http_server.https, 8088),
        port(&config.listen, 1935),
    );
    Response::bytes(200, "text/javascript; charset=utf-8", body.into_bytes())
        .with_header("Cache-Control", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response) -> String {
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    #[test]
    fn every_page_the_guides_link_is_embedded() {
        for p in [
            "/",
            "/index.html",
            "/players/whip.html",
            "/players/whep.html",
            "/players/rtc_publisher.html",
            "/players/rtc_player.html",
            "/players/srs_player.html",
            "/demos/one2one.html?autostart=true&room=a",
            "/demos/room.html",
            "/js/rtc.js",
            "/vendor/mpegts.js",
            "/vendor/hls.light.min.js",
        ] {
            let r = lookup(p).unwrap_or_else(|| panic!("{p} is not embedded"));
            assert_eq!(r.status, 200, "{p}");
            assert!(!r.body.is_empty(), "{p}");
        }
        let index = lookup("/").unwrap();
        assert!(body(&index).contains("/players/whip.html"));
        assert_eq!(
            index.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            lookup("/js/rtc.js").unwrap().header("Content-Type"),
            Some("text/javascript; charset=utf-8")
        );
    }

    #[test]
    fn nothing_outside_web_or_unnamed_is_found() {
        for p in [
            "/../Cargo.toml",
            "/players/../../Cargo.toml",
            "/./index.html",
            "/%2e%2e/Cargo.toml",
            "/players/nope.html",
            "relative.html",
            "",
            "/players", // a directory without its slash has no file
        ] {
            assert!(lookup(p).is_none(), "{p:?} found");
        }
    }

    #[test]
    fn server_js_names_the_configured_ports() {
        let mut c = Config::default();
        c.http_api.listen = vec!["127.0.0.1:2985".parse().unwrap()];
        c.http_api.https.enabled = true;
        c.http_api.https.listen = vec!["[::]:2990".parse().unwrap()];
        let js = body(&server_js(&c));
        assert!(js.contains("api_port: 2985"), "{js}");
        assert!(js.contains("https_api_port: 2990"), "{js}");
        assert!(js.contains("https_port: null"), "{js}");
        assert!(js.contains("rtmp_port: 1935"), "{js}");
    }
}
