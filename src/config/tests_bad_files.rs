//! Tests of bad files: values, syntax, nesting, includes and load errors, each naming its file and line.

use super::tests::*;
use super::*;

// ------------------------------------------------------------ bad files

#[test]
fn bad_value_names_file_line_and_directive() {
    let mut text = String::new();
    for _ in 0..11 {
        text.push_str("# filler\n");
    }
    text.push_str("listen abc;\n");
    let e = err(&text);
    assert_eq!(
        e.to_string(),
        "x.conf:12: directive \"listen\": invalid port \"abc\""
    );
    assert_eq!(where_(&e).0, 12);
}

#[test]
fn syntax_errors_point_at_the_right_line() {
    let cases: &[(&str, u32, Option<&str>, &str)] = &[
        (
            "listen 1935\nmax_connections 10;\n",
            1,
            Some("listen"),
            "missing ';'",
        ),
        (
            "daemon off;\nhttp_api {\n  enabled on\n}\n",
            3,
            Some("enabled"),
            "missing ';'",
        ),
        (
            "a 1;\nvhost x {\n  rtc {\n  }\n",
            2,
            Some("vhost"),
            "unterminated block",
        ),
        (
            "a 1;\n\nvhost x {\n  rtc {\n",
            4,
            Some("rtc"),
            "unterminated block",
        ),
        ("daemon off;\n}\n", 2, None, "unexpected '}'"),
        ("daemon off;\n\n  ;\n", 3, None, "unexpected ';'"),
        ("daemon off;\n{ a 1; }\n", 2, None, "unexpected '{'"),
        ("pid \"abc;\n", 1, None, "unterminated quoted string"),
        ("a 1;\npid \"a\"b;\n", 2, None, "after the quoted string"),
        (
            "vhost v { rtc { enabled on } }\n",
            1,
            Some("enabled"),
            "before '}'",
        ),
        ("a 1;\nlisten 1935", 2, Some("listen"), "end of the file"),
        ("vhost x\n{\n}\n", 1, Some("vhost"), "missing ';'"),
    ];
    for (text, line, dir, reason) in cases {
        let e = err(text);
        assert!(matches!(e, ConfigError::Syntax { .. }), "{text:?}: {e}");
        let (l, d, s) = where_(&e);
        assert_eq!(l, *line, "{text:?}: {s}");
        assert_eq!(d.as_deref(), *dir, "{text:?}: {s}");
        assert!(s.contains(reason), "{text:?}: {s}");
        assert!(s.starts_with(&format!("x.conf:{line}: ")), "{s}");
    }
}

#[test]
fn invalid_values_are_errors_with_line_and_path() {
    let cases: &[(&str, u32, &str, &str)] = &[
        ("\nlisten 70000;", 2, "listen", "out of range"),
        ("listen 0;", 1, "listen", "out of range"),
        ("listen 1.2.3:80;", 1, "listen", "invalid IP address"),
        ("listen ::1:80;", 1, "listen", "invalid IP address"),
        ("listen [zz]:80;", 1, "listen", "invalid IPv6"),
        ("listen 127.0.0.1:x;", 1, "listen", "invalid port \"x\""),
        (
            "max_connections ten;",
            1,
            "max_connections",
            "invalid number \"ten\"",
        ),
        (
            "max_connections -1;",
            1,
            "max_connections",
            "invalid number",
        ),
        ("max_connections 0;", 1, "max_connections", "out of range"),
        (
            "max_connections 99999999999999999999999;",
            1,
            "max_connections",
            "out of range",
        ),
        ("workers 0;", 1, "workers", "out of range"),
        ("daemon maybe;", 1, "daemon", "invalid boolean \"maybe\""),
        ("daemon on off;", 1, "daemon", "expects one value, got 2"),
        (
            "srs_log_tank syslog;",
            1,
            "srs_log_tank",
            "expected one of: console, file",
        ),
        (
            "\n\nrtc_server {\n protocol sctp;\n}",
            4,
            "rtc_server.protocol",
            "\"sctp\"",
        ),
        (
            "rtc_server { ip_family ipx; }",
            1,
            "rtc_server.ip_family",
            "ipx",
        ),
        (
            "rtc_server { tcp { listen 8000a; } }",
            1,
            "rtc_server.tcp.listen",
            "8000a",
        ),
        (
            "rtc_server { reuseport 0; }",
            1,
            "rtc_server.reuseport",
            "out of range",
        ),
        (
            "vhost v {\n rtc {\n  stun_timeout 3s;\n }\n}",
            3,
            "vhost.rtc.stun_timeout",
            "3s",
        ),
        (
            "vhost v { rtc { dtls_role both; } }",
            1,
            "vhost.rtc.dtls_role",
            "both",
        ),
        (
            "vhost v { rtc { pli_for_rtmp six; } }",
            1,
            "vhost.rtc.pli_for_rtmp",
            "six",
        ),
        (
            "vhost v { rtc { drop_for_pt 200; } }",
            1,
            "vhost.rtc.drop_for_pt",
            "out of range",
        ),
        (
            "vhost v { hls { hls_fragment -1; } }",
            1,
            "vhost.hls.hls_fragment",
            "-1",
        ),
        (
            "vhost v { hls { hls_window inf; } }",
            1,
            "vhost.hls.hls_window",
            "inf",
        ),
        (
            "vhost v { hls { hls_window 1e999; } }",
            1,
            "vhost.hls.hls_window",
            "1e999",
        ),
        ("max_connections { }", 1, "max_connections", "not a block"),
        ("rtc_server on;", 1, "rtc_server", "expects a block"),
        ("http_api x { }", 1, "http_api", "takes no arguments"),
        ("vhost { }", 1, "vhost", "expects one vhost name"),
        ("vhost a b { }", 1, "vhost", "expects one vhost name"),
        (
            "vhost a { }\n\nvhost a { }",
            3,
            "vhost",
            "duplicate vhost \"a\" (first at x.conf:1)",
        ),
    ];
    for (text, line, dir, reason) in cases {
        let e = err(text);
        assert!(matches!(e, ConfigError::Invalid { .. }), "{text:?}: {e}");
        let (l, d, s) = where_(&e);
        assert_eq!((l, d.as_deref()), (*line, Some(*dir)), "{text:?}: {s}");
        assert!(s.contains(reason), "{text:?}: {s}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = "a {".repeat(100_000);
    let e = err(&text);
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

// --------------------------------------------------------------- includes

#[test]
fn includes_are_relative_and_keep_their_file_and_line() {
    let dir = tmpdir("inc");
    write(
        &dir,
        "conf.d/rtc.inc",
        "rtc {\n  enabled on;\n  foo 1;\n}\n",
    );
    write(
        &dir,
        "conf.d/api.inc",
        "# api\nhttp_api { enabled on; listen 1990; }\n",
    );
    write(&dir, "conf.d/top.inc", "include api.inc;\n");
    let main = write(
        &dir,
        "main.conf",
        "include conf.d/top.inc;\nvhost __defaultVhost__ {\n  include conf.d/rtc.inc;\n}\n",
    );
    let l = Config::load(&main, &empty()).expect("load");
    assert!(l.config.http_api.enabled);
    assert_eq!(l.config.http_api.listen, vec![addr("0.0.0.0:1990")]);
    assert!(l.config.vhost(DEFAULT_VHOST).rtc.enabled);
    assert_eq!(l.warnings.len(), 1);
    let w = &l.warnings[0];
    assert!(w.file.ends_with("conf.d/rtc.inc"), "{w}");
    assert_eq!((w.line, w.directive.as_str()), (3, "vhost.rtc.foo"));

    // parse_str resolves includes relative to the origin's directory.
    let origin = dir.join("virtual.conf");
    let l = Config::parse_str(
        "include conf.d/top.inc;",
        &origin.display().to_string(),
        &empty(),
    )
    .expect("parse_str");
    assert!(l.config.http_api.enabled);

    // $VAR in an include path.
    let env = MapEnv::new().with("CONF", dir.join("conf.d").display().to_string().as_str());
    let l = Config::parse_str("include $CONF/top.inc;", "t.conf", &env).expect("var include");
    assert!(l.config.http_api.enabled);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_errors() {
    let dir = tmpdir("incerr");
    write(&dir, "a.conf", "daemon off;\ninclude b.conf;\n");
    write(&dir, "b.conf", "\n\ninclude a.conf;\n");
    write(&dir, "self.conf", "include self.conf;\n");
    write(&dir, "bad.conf", "daemon off;\n\nlisten nope;\n");
    write(&dir, "main.conf", "# x\ninclude bad.conf;\n");
    write(&dir, "missing.conf", "\ninclude nothere.conf;\n");
    write(&dir, "empty.conf", "include;\n");
    write(&dir, "dir.conf", "include sub;\n");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");

    let e = Config::load(&dir.join("a.conf"), &empty()).expect_err("cycle");
    let s = e.to_string();
    assert!(matches!(e, ConfigError::Include { line: 3, .. }), "{s}");
    assert!(
        s.contains("b.conf:3: directive \"include\"") && s.contains("cycle"),
        "{s}"
    );

    let e = Config::load(&dir.join("self.conf"), &empty()).expect_err("self");
    assert!(e.to_string().contains("cycle"), "{e}");

    let e = Config::load(&dir.join("main.conf"), &empty()).expect_err("bad value");
    let s = e.to_string();
    assert!(
        s.contains("bad.conf:3: directive \"listen\": invalid port \"nope\""),
        "{s}"
    );

    let e = Config::load(&dir.join("missing.conf"), &empty()).expect_err("missing");
    assert!(matches!(e, ConfigError::Include { line: 2, .. }), "{e}");
    assert!(e.to_string().contains("nothere.conf"), "{e}");

    let e = Config::load(&dir.join("empty.conf"), &empty()).expect_err("empty");
    assert!(e.to_string().contains("no file named"), "{e}");

    let e = Config::load(&dir.join("dir.conf"), &empty()).expect_err("dir");
    assert!(e.to_string().contains("not a regular file"), "{e}");

    let e = err("include a { }");
    assert!(e.to_string().contains("cannot be a block"), "{e}");

    // A chain deeper than the limit.
    for i in 0..30 {
        write(
            &dir,
            &format!("d{i}.conf"),
            &format!("include d{}.conf;\n", i + 1),
        );
    }
    write(&dir, "d30.conf", "daemon off;\n");
    let e = Config::load(&dir.join("d0.conf"), &empty()).expect_err("depth");
    assert!(e.to_string().contains("nested deeper"), "{e}");
    // A short chain is fine.
    let l = Config::load(&dir.join("d20.conf"), &empty()).expect("short chain");
    assert!(!l.config.daemon);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_errors() {
    let dir = tmpdir("load");
    let e = Config::load(&dir.join("none.conf"), &empty()).expect_err("missing");
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("none.conf"), "{e}");
    let p = dir.join("latin1.conf");
    std::fs::write(&p, b"daemon off;\n\npid caf\xe9;\n").expect("write");
    let e = Config::load(&p, &empty()).expect_err("utf8");
    assert!(matches!(e, ConfigError::NotUtf8 { line: 3, .. }), "{e}");
    let e = Config::load(&dir, &empty()).expect_err("dir");
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
