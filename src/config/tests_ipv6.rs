//! SRS 7's IPv6 / dual-stack guide, line by line: several `listen` values,
//! several `candidate` values, `[::]` endpoints, and the top-level
//! `https_api { }` block.

use std::net::SocketAddr;

use super::*;

fn parse(text: &str, env: &MapEnv) -> Loaded {
    Config::parse_str(text, "t.conf", env).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// The guide's lines, verbatim.
const GUIDE: &str = "listen 1935 [::]:1935;
http_api { enabled on; listen [::]:1985; }
http_server { enabled on; listen [::]:8080; }
https_api { enabled on; listen [::]:1990; key ./conf/server.key; cert ./conf/server.crt; }
rtc_server {
    enabled on;
    listen 8000 [::]:8000;
    candidate 192.168.1.100 [2001:db8::1];
}
";

#[test]
fn the_guides_lines_parse_without_warnings() {
    let l = parse(GUIDE, &MapEnv::new());
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(c.listen, addrs(&["0.0.0.0:1935", "[::]:1935"]));
    assert_eq!(c.http_api.listen, addrs(&["[::]:1985"]));
    assert_eq!(c.http_server.listen, addrs(&["[::]:8080"]));
    assert_eq!(c.rtc_server.listen, addrs(&["0.0.0.0:8000", "[::]:8000"]));
    let cands: Vec<&str> = c.rtc_server.candidates().collect();
    assert_eq!(cands, ["192.168.1.100", "2001:db8::1"]);
    assert!(!c.rtc_server.candidate_is_auto());
}

#[test]
fn https_api_is_http_api_https() {
    let l = parse(GUIDE, &MapEnv::new());
    let h = &l.config.http_api.https;
    assert!(h.enabled);
    assert_eq!(h.listen, addrs(&["[::]:1990"]));
    assert_eq!(
        (h.key.as_str(), h.cert.as_str()),
        ("./conf/server.key", "./conf/server.crt")
    );
    // Its own variables, like every section's.
    let env = MapEnv::new()
        .with("SRS_HTTPS_API_LISTEN", "[::1]:2990 127.0.0.1:2990")
        .with("SRS_HTTPS_API_CERT", "/etc/c.pem");
    let h = parse(GUIDE, &env).config.http_api.https;
    assert_eq!(h.listen, addrs(&["[::1]:2990", "127.0.0.1:2990"]));
    assert_eq!(h.cert, "/etc/c.pem");
    // And they reach the nested spelling too.
    let env = MapEnv::new().with("SRS_HTTPS_API_ENABLED", "on");
    assert!(
        parse("http_api { enabled on; }", &env)
            .config
            .http_api
            .https
            .enabled
    );
    // A value error names the alias's path and the value.
    let e = Config::parse_str("https_api { listen [::1; }", "t.conf", &MapEnv::new())
        .expect_err("bad listen");
    let msg = e.to_string();
    assert!(
        msg.contains("https_api.listen") && msg.contains("[::1"),
        "{msg}"
    );
}

#[test]
fn candidate_values() {
    let one = |text: &str, env: &MapEnv| parse(text, env).config.rtc_server.candidate;
    let e = MapEnv::new();
    assert_eq!(one("rtc_server { candidate ::1; }", &e), "::1");
    assert_eq!(
        one("rtc_server { candidate [::1] ::1 127.0.0.1; }", &e),
        "::1 127.0.0.1"
    );
    assert_eq!(one("rtc_server { candidate * [::1]; }", &e), "* ::1");
    assert_eq!(
        one(
            "rtc_server { candidate media.example.com [2001:db8::1]; }",
            &e
        ),
        "media.example.com 2001:db8::1"
    );
    // `$VAR`s as before: an unset one gives nothing, so the others remain.
    let env = MapEnv::new().with("V6", "[2001:db8::9]");
    assert_eq!(
        one("rtc_server { candidate $CANDIDATE $V6; }", &env),
        "2001:db8::9"
    );
    assert_eq!(one("rtc_server { candidate $CANDIDATE; }", &e), "*");
    // CANDIDATE may hold several, space-separated.
    let env = MapEnv::new().with("CANDIDATE", "10.0.0.1 [::1]");
    let c = parse("rtc_server { candidate $CANDIDATE; }", &env).config;
    assert_eq!(
        c.rtc_server.candidates().collect::<Vec<_>>(),
        ["10.0.0.1", "[::1]"]
    );
    let p = crate::api::candidate_policy(&c);
    assert_eq!(p.candidates, ["10.0.0.1", "::1"]);
    for bad in ["[::1", "[nope]", "1.2.3.4:8000", "fe80::zz"] {
        let text = format!("rtc_server {{ candidate 10.0.0.1 {bad}; }}");
        let e = Config::parse_str(&text, "t.conf", &MapEnv::new()).expect_err(bad);
        let msg = e.to_string();
        assert!(
            msg.contains("rtc_server.candidate") && msg.contains(bad),
            "{msg}"
        );
    }
}
