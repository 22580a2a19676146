//! Tests of CORS on every kind of response, and of resolving static file paths safely.

use std::path::PathBuf;
use std::time::Instant;

use super::tests::*;
use super::*;

#[test]
fn cors_on_preflight() {
    let req = parse_one(
        b"OPTIONS /rtc/v1/whip/?app=live&stream=s HTTP/1.1\r\nHost: h\r\nOrigin: http://localhost:8080\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, x-custom, authorization, bad header\r\n\r\n",
    )
    .unwrap();
    let resp = preflight(&req);
    assert_eq!(resp.status, 204);
    assert_eq!(
        resp.header("Access-Control-Allow-Origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(resp.header("Vary"), Some("Origin"));
    assert_eq!(
        resp.header("Access-Control-Allow-Methods"),
        Some(cors::ALLOW_METHODS)
    );
    assert_eq!(
        resp.header("Access-Control-Allow-Headers"),
        Some("Content-Type, Authorization, If-Match, x-custom")
    );
    assert_eq!(
        resp.header("Access-Control-Expose-Headers"),
        Some(cors::EXPOSE_HEADERS)
    );
    assert_eq!(resp.header("Access-Control-Max-Age"), Some("86400"));
    let mut out = Vec::new();
    resp.encode(false, true, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"));
}

#[test]
fn cors_on_normal_and_error_responses() {
    let req =
        parse_one(b"POST /rtc/v1/whip/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut resp = Response::text(201, "v=0").with_header("Location", "/rtc/v1/whip/?token=1");
    apply_cors(&req, &mut resp);
    assert_eq!(resp.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        resp.header("Access-Control-Expose-Headers"),
        Some(cors::EXPOSE_HEADERS)
    );
    assert_eq!(
        resp.header("Access-Control-Allow-Headers"),
        Some(cors::ALLOW_HEADERS)
    );
    // Applying twice does not duplicate.
    apply_cors(&req, &mut resp);
    assert_eq!(
        resp.headers
            .iter()
            .filter(|(k, _)| k == "Access-Control-Allow-Origin")
            .count(),
        1
    );

    let mut err = Response::error(404, "stream not found");
    apply_cors(&req, &mut err);
    assert_eq!(
        err.header("Access-Control-Allow-Methods"),
        Some(cors::ALLOW_METHODS)
    );
    let e = HttpError::Malformed { what: "x" }.response();
    assert_eq!(e.status, 400);
    assert_eq!(e.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        e.header("Access-Control-Expose-Headers"),
        Some(cors::EXPOSE_HEADERS)
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "shardsfu-http-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn static_resolution_and_escapes() {
    let tmp = TempDir::new("static");
    let root = tmp.0.join("www");
    std::fs::create_dir_all(root.join("players/sub")).unwrap();
    std::fs::write(root.join("index.html"), "<html>").unwrap();
    std::fs::write(root.join("players/whip.html"), "w").unwrap();
    std::fs::write(root.join("players/a b.js"), "x").unwrap();
    std::fs::write(tmp.0.join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(tmp.0.join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&tmp.0, root.join("updir")).unwrap();
    std::os::unix::fs::symlink(root.join("players/whip.html"), root.join("inside.html")).unwrap();
    let canon = |p: PathBuf| p.canonicalize().unwrap();

    assert_eq!(
        resolve_static(&root, "/").unwrap(),
        canon(root.join("index.html"))
    );
    assert_eq!(
        resolve_static(&root, "/players/whip.html?x=1").unwrap(),
        canon(root.join("players/whip.html"))
    );
    assert_eq!(
        resolve_static(&root, "/players/a%20b.js").unwrap(),
        canon(root.join("players/a b.js"))
    );
    assert_eq!(
        resolve_static(&root, "//./players//whip.html").unwrap(),
        canon(root.join("players/whip.html"))
    );
    assert_eq!(
        resolve_static(&root, "/inside.html").unwrap(),
        canon(root.join("players/whip.html"))
    );

    let forbidden = |p: &str| {
        let e = resolve_static(&root, p).unwrap_err();
        assert_eq!(e.status(), 403, "{p}: {e:?}");
    };
    forbidden("/../etc/passwd");
    forbidden("/../secret.txt");
    forbidden("/%2e%2e/secret.txt");
    forbidden("/%2E%2E%2fsecret.txt");
    forbidden("/players/../../secret.txt");
    forbidden("/index.html%00.png");
    forbidden("/..%5csecret.txt");
    forbidden("/players\\..\\..\\secret.txt");
    forbidden("/link.txt");
    forbidden("/updir/secret.txt");

    let not_found = |p: &str| {
        let e = resolve_static(&root, p).unwrap_err();
        assert_eq!(e.status(), 404, "{p}: {e:?}");
    };
    not_found("/nope.html");
    not_found("/players/sub/"); // a directory without index.html
    assert_eq!(resolve_static(&root, "/%zz").unwrap_err().status(), 400);
    assert_eq!(
        resolve_static(&tmp.0.join("missing-root"), "/")
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn content_types() {
    use std::path::Path;
    let ct = |p: &str| content_type_for(Path::new(p));
    assert_eq!(ct("a.html"), "text/html; charset=utf-8");
    assert_eq!(ct("a.JS"), "text/javascript; charset=utf-8");
    assert_eq!(ct("a.css"), "text/css; charset=utf-8");
    assert_eq!(ct("a.json"), "application/json");
    assert_eq!(ct("a.txt"), "text/plain; charset=utf-8");
    assert_eq!(ct("a.png"), "image/png");
    assert_eq!(ct("a.jpg"), "image/jpeg");
    assert_eq!(ct("a.svg"), "image/svg+xml");
    assert_eq!(ct("favicon.ico"), "image/x-icon");
    assert_eq!(ct("live/s.m3u8"), "application/vnd.apple.mpegurl");
    assert_eq!(ct("live/s-1.ts"), "video/MP2T");
    assert_eq!(ct("live/s.flv"), "video/x-flv");
    assert_eq!(ct("a.mp4"), "video/mp4");
    assert_eq!(ct("a.wasm"), "application/wasm");
    assert_eq!(ct("Makefile"), "application/octet-stream");
    let r = static_response(Path::new("x.m3u8"), "#EXTM3U");
    assert_eq!(r.header("Cache-Control"), Some("no-cache"));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.apple.mpegurl")
    );
}

#[test]
fn streamed_bodies_get_a_head_only() {
    let now = Instant::now();
    let mut c = conn(now);
    // GET then a pipelined HEAD, both for a "file" of 5 bytes.
    c.handle_input(
        now,
        b"GET /f HTTP/1.1\r\nHost: h\r\n\r\nHEAD /f HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let head = Response::bytes(200, "text/plain", "ignored body");
    c.poll_request().unwrap().unwrap();
    assert!(c.send_response_head(now, &head, 5), "GET: the body follows");
    let out = drain(&mut c);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Content-Length: 5\r\n"), "{out}");
    assert!(out.contains("Connection: keep-alive"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "only the head: {out}");
    // The runtime writes the 5 bytes itself here; the next request waits.
    let req = c.poll_request().unwrap().unwrap();
    assert!(req.is_head());
    assert!(!c.send_response_head(now, &head, 5), "HEAD: no body");
    let out = drain(&mut c);
    assert!(
        out.contains("Content-Length: 5\r\n") && out.ends_with("\r\n\r\n"),
        "{out}"
    );
    // A connection that is closing takes no more.
    c.handle_eof(now);
    assert!(!c.send_response_head(now, &head, 5));
}
