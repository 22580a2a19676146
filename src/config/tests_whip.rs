//! The WHIP/WHEP directives (`rtc_server.ice_servers`, `vhost.rtc.bearer_token`)
//! and the start-up refusal of `protocol tcp` without TCP.

use super::*;

fn parse(text: &str, env: &MapEnv) -> Result<Loaded, ConfigError> {
    Config::parse_str(text, "t.conf", env)
}

#[test]
fn ice_servers_and_bearer_tokens() {
    let text = "rtc_server { enabled on; ice_servers stun:stun.example.net:3478 turns:t.example.net?transport=tcp; }
vhost __defaultVhost__ { rtc { enabled on; bearer_token s3cret.1 other-Token==; } }";
    let l = parse(text, &MapEnv::new()).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(
        l.config.rtc_server.ice_servers,
        [
            "stun:stun.example.net:3478",
            "turns:t.example.net?transport=tcp"
        ]
    );
    assert_eq!(
        l.config.vhost(DEFAULT_VHOST).rtc.bearer_token,
        ["s3cret.1", "other-Token=="]
    );
    for (bad, named) in [
        ("rtc_server { ice_servers http://x; }", "http://x"),
        ("rtc_server { ice_servers \"stun:a>b\"; }", "stun:a>b"),
        ("vhost v { rtc { bearer_token a=b; } }", "a=b"),
    ] {
        let e = parse(bad, &MapEnv::new()).unwrap_err().to_string();
        assert!(
            e.starts_with("t.conf:1:") && e.contains(named),
            "{bad}: {e}"
        );
    }
}

#[test]
fn protocol_tcp_without_tcp_fails_at_start_up_with_its_line() {
    let text = "rtc_server {\n  enabled on;\n  protocol tcp;\n}\n";
    let e = parse(text, &MapEnv::new()).unwrap_err().to_string();
    assert!(
        e.starts_with("t.conf:3: directive \"rtc_server.protocol\""),
        "{e}"
    );
    assert!(e.contains("tcp { enabled on; }"), "{e}");
    // With TCP on, or RTC off, or `all`, it loads.
    for ok in [
        "rtc_server { enabled on; protocol tcp; tcp { enabled on; } }",
        "rtc_server { enabled off; protocol tcp; }",
        "rtc_server { enabled on; protocol all; }",
    ] {
        parse(ok, &MapEnv::new()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // Set by the environment: the variable is named.
    let env = MapEnv::new().with("SRS_RTC_SERVER_PROTOCOL", "tcp");
    let e = parse("rtc_server { enabled on; }", &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SRS_RTC_SERVER_PROTOCOL"), "{e}");
}
