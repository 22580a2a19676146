//! Tests of the `SRS_*` environment overrides and SRS's candidate rules.

use std::time::Duration;

use super::tests::*;
use super::*;

// ------------------------------------------------------------ environment

#[test]
fn env_overrides_win_over_the_file() {
    let text = "listen 1935;\nmax_connections 10;\nworkers 2;\n\
        http_api { enabled off; listen 1985; }\nhttp_server { enabled off; listen 8080; dir a; }\n\
        rtc_server { enabled off; listen 8000; protocol udp; tcp { enabled off; listen 8000; }\n\
          api_as_candidates on; resolve_api_domain on; keep_api_domain off;\n\
          use_auto_detect_network_ip on; ip_family ipv4; }\n\
        vhost other { rtc { nack on; } }\n";
    let env: MapEnv = [
        ("SRS_LISTEN", "1936 127.0.0.1:1937"),
        ("SRS_MAX_CONNECTIONS", "20"),
        ("SRS_WORKERS", "8"),
        ("SRS_DAEMON", "off"),
        ("SRS_LOG_TANK", "console"),
        ("SRS_HTTP_API_ENABLED", "on"),
        ("SRS_HTTP_API_LISTEN", "2985"),
        ("SRS_HTTP_SERVER_ENABLED", "on"),
        ("SRS_HTTP_SERVER_LISTEN", "9080"),
        ("SRS_HTTP_SERVER_DIR", "/www"),
        ("SRS_RTC_SERVER_ENABLED", "on"),
        ("SRS_RTC_SERVER_LISTEN", "9000"),
        ("SRS_RTC_SERVER_PROTOCOL", "all"),
        ("SRS_RTC_SERVER_TCP_ENABLED", "on"),
        ("SRS_RTC_SERVER_TCP_LISTEN", "9001"),
        ("SRS_RTC_SERVER_API_AS_CANDIDATES", "off"),
        ("SRS_RTC_SERVER_RESOLVE_API_DOMAIN", "off"),
        ("SRS_RTC_SERVER_KEEP_API_DOMAIN", "on"),
        ("SRS_RTC_SERVER_USE_AUTO_DETECT_NETWORK_IP", "off"),
        ("SRS_RTC_SERVER_IP_FAMILY", "ipv6"),
        ("SRS_VHOST_RTC_ENABLED", "on"),
        ("SRS_VHOST_RTC_NACK", "off"),
        ("SRS_VHOST_RTC_TWCC", "off"),
        ("SRS_VHOST_RTC_STUN_TIMEOUT", "9"),
        ("SRS_VHOST_RTC_DTLS_ROLE", "active"),
        ("SRS_VHOST_RTC_RTMP_TO_RTC", "on"),
        ("SRS_VHOST_RTC_RTC_TO_RTMP", "on"),
        ("SRS_VHOST_RTC_PLI_FOR_RTMP", "2.5"),
        ("SRS_VHOST_RTC_KEEP_BFRAME", "on"),
        ("SRS_VHOST_HTTP_REMUX_ENABLED", "on"),
        ("SRS_VHOST_HLS_ENABLED", "on"),
        ("SRS_VHOST_HLS_HLS_FRAGMENT", "4"),
        ("SRS_EXPORTER_ENABLED", "on"),
        ("SRS_EXPORTER_LISTEN", "9973"),
        ("SRS_EXPORTER_LABEL", "lbl"),
        ("SRS_EXPORTER_TAG", "tg"),
        ("SRS_UNRELATED", "x"),
    ]
    .into_iter()
    .collect();
    let l = parse_env(text, &env).expect("parse");
    let e = &l.config.exporter;
    assert!(e.enabled && e.label == "lbl" && e.tag == "tg");
    assert_eq!(e.listen, vec![addr("0.0.0.0:9973")]);
    // Only the named vhost's own warning (SRS_DAEMON=off and
    // SRS_LOG_TANK=console say what shardsfu does anyway).
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(l.warnings[0].directive, "vhost");
    let c = &l.config;
    assert_eq!(c.listen, vec![addr("0.0.0.0:1936"), addr("127.0.0.1:1937")]);
    assert_eq!(
        (c.max_connections, c.workers, c.daemon),
        (20, Some(8), false)
    );
    assert_eq!(c.srs_log_tank, LogTank::Console);
    assert!(c.http_api.enabled && c.http_server.enabled);
    assert_eq!(c.http_api.listen, vec![addr("0.0.0.0:2985")]);
    assert_eq!(c.http_server.listen, vec![addr("0.0.0.0:9080")]);
    assert_eq!(c.http_server.dir, "/www");
    let r = &c.rtc_server;
    assert!(r.enabled && r.tcp.enabled);
    assert_eq!(r.listen, vec![addr("0.0.0.0:9000")]);
    assert_eq!(r.tcp.listen, vec![addr("0.0.0.0:9001")]);
    assert_eq!(r.protocol, RtcProtocol::All);
    assert!(!r.api_as_candidates && !r.resolve_api_domain && r.keep_api_domain);
    assert!(!r.use_auto_detect_network_ip);
    assert_eq!(r.ip_family, IpFamily::Ipv6);
    for name in [DEFAULT_VHOST, "other"] {
        let v = c.vhost(name);
        assert_eq!(v.name, name);
        assert!(v.rtc.enabled && !v.rtc.nack && !v.rtc.twcc, "{name}");
        assert_eq!(v.rtc.stun_timeout, Duration::from_secs(9));
        assert_eq!(v.rtc.dtls_role, DtlsRole::Active);
        assert!(v.rtc.rtmp_to_rtc && v.rtc.rtc_to_rtmp && v.rtc.keep_bframe);
        assert_eq!(v.rtc.pli_for_rtmp, Duration::from_millis(2500));
        assert!(v.http_remux.enabled && v.hls.enabled);
        assert_eq!(v.hls.hls_fragment, Duration::from_secs(4));
    }
}

#[test]
fn log_levels_are_read_as_srs_reads_them() {
    use tracing::level_filters::LevelFilter as L;
    // srs_log_level: SRS 4 names (verbose < info < trace < warn < error).
    for (v1, want) in [
        ("verbose", L::TRACE),
        ("info", L::DEBUG),
        ("debug", L::DEBUG),
        ("trace", L::INFO),
        ("warn", L::WARN),
        ("error", L::ERROR),
    ] {
        let c = parse(&format!("srs_log_level {v1};")).config;
        assert_eq!(c.log_filter(), want, "srs_log_level {v1}");
    }
    // srs_log_level_v2 (log4j names) wins over srs_log_level.
    for (v2, want) in [
        ("trace", L::TRACE),
        ("debug", L::DEBUG),
        ("info", L::INFO),
        ("warn", L::WARN),
        ("error", L::ERROR),
    ] {
        let c = parse(&format!("srs_log_level error;\nsrs_log_level_v2 {v2};")).config;
        assert_eq!(c.log_filter(), want, "srs_log_level_v2 {v2}");
    }
    let env = MapEnv::new()
        .with("SRS_LOG_LEVEL", "warn")
        .with("SRS_LOG_FORMAT", "json");
    let c = parse_env("srs_log_level trace; log_format text;", &env)
        .expect("parse")
        .config;
    assert_eq!((c.log_filter(), c.log_format), (L::WARN, LogFormat::Json));
    let e = parse_env("log_format xml;", &MapEnv::new()).expect_err("bad format");
    assert!(e.to_string().contains("expected one of: text, json"), "{e}");
}

#[test]
fn env_precedence_of_aliases_and_empty_values() {
    let env = MapEnv::new()
        .with("SRS_SRS_LOG_TANK", "file")
        .with("SRS_LOG_TANK", "console")
        .with("SRS_LOG_LEVEL", "error")
        .with("SRS_MAX_CONNECTIONS", "");
    let l = parse_env("srs_log_tank console; max_connections 7;", &env).expect("parse");
    assert_eq!(l.config.srs_log_tank, LogTank::File);
    assert_eq!(l.config.srs_log_level, LogLevel::Error);
    assert_eq!(l.config.max_connections, 7, "an empty variable is unset");
}

#[test]
fn bad_env_value_names_variable_and_value() {
    let env = MapEnv::new().with("SRS_RTC_SERVER_LISTEN", "80a");
    let e = parse_env("", &env).expect_err("bad env");
    assert_eq!(
        e.to_string(),
        "environment variable SRS_RTC_SERVER_LISTEN=\"80a\": invalid port \"80a\""
    );
    for (var, value) in [
        ("SRS_WORKERS", "0"),
        ("SRS_HTTP_API_ENABLED", "yes please"),
        ("SRS_VHOST_RTC_DTLS_ROLE", "x"),
        ("SRS_VHOST_RTC_STUN_TIMEOUT", "1.5"),
    ] {
        let e = parse_env("", &MapEnv::new().with(var, value)).expect_err(var);
        match e {
            ConfigError::Env {
                var: v, value: x, ..
            } => assert_eq!((v.as_str(), x.as_str()), (var, value)),
            other => panic!("{var}: {other}"),
        }
    }
    // An env value SRS would reset gives a warning, not an error.
    let l = parse_env("", &MapEnv::new().with("SRS_VHOST_RTC_PLI_FOR_RTMP", "99")).expect("pli");
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings[0].file, "environment");
    assert!(l.warnings[0]
        .message
        .contains("SRS_VHOST_RTC_PLI_FOR_RTMP=99"));
}

#[test]
fn every_env_variable_either_applies_or_names_itself() {
    let vars = env_variables();
    let mut names: Vec<&str> = vars.iter().map(|(v, _)| v.as_str()).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    // Vhost variables are shared by the https sections? No: each name is unique.
    assert_eq!(names.len(), n, "duplicate environment variable names");
    for want in [
        "SRS_LISTEN",
        "SRS_MAX_CONNECTIONS",
        "SRS_WORKERS",
        "SRS_HTTP_API_ENABLED",
        "SRS_HTTP_API_LISTEN",
        "SRS_HTTP_SERVER_ENABLED",
        "SRS_HTTP_SERVER_LISTEN",
        "SRS_HTTP_SERVER_DIR",
        "SRS_RTC_SERVER_ENABLED",
        "SRS_RTC_SERVER_LISTEN",
        "SRS_RTC_SERVER_CANDIDATE",
        "SRS_RTC_SERVER_PROTOCOL",
        "SRS_RTC_SERVER_TCP_ENABLED",
        "SRS_RTC_SERVER_TCP_LISTEN",
        "SRS_RTC_SERVER_API_AS_CANDIDATES",
        "SRS_RTC_SERVER_RESOLVE_API_DOMAIN",
        "SRS_RTC_SERVER_KEEP_API_DOMAIN",
        "SRS_RTC_SERVER_USE_AUTO_DETECT_NETWORK_IP",
        "SRS_RTC_SERVER_IP_FAMILY",
        "SRS_VHOST_RTC_ENABLED",
        "SRS_VHOST_RTC_NACK",
        "SRS_VHOST_RTC_TWCC",
        "SRS_VHOST_RTC_STUN_TIMEOUT",
        "SRS_VHOST_RTC_DTLS_ROLE",
        "SRS_VHOST_RTC_RTMP_TO_RTC",
        "SRS_VHOST_RTC_RTC_TO_RTMP",
        "SRS_VHOST_RTC_PLI_FOR_RTMP",
        "SRS_VHOST_RTC_KEEP_BFRAME",
        "SRS_VHOST_HTTP_REMUX_ENABLED",
        "SRS_VHOST_HLS_ENABLED",
        "SRS_DAEMON",
        "SRS_SRS_LOG_TANK",
        "SRS_LOG_TANK",
        "SRS_HTTP_API_HTTPS_LISTEN",
        "CANDIDATE",
    ] {
        assert!(names.contains(&want), "{want} missing");
    }
    for (var, _) in &vars {
        for value in ["???", "1", "on", "127.0.0.1:1"] {
            match parse_env("", &MapEnv::new().with(var, value)) {
                Ok(_) => {}
                Err(ConfigError::Env {
                    var: v, value: x, ..
                }) => {
                    assert_eq!((&v, x.as_str()), (var, value));
                }
                Err(other) => panic!("{var}={value}: {other}"),
            }
        }
    }
}

// ------------------------------------------------------------- candidate

#[test]
fn candidate_rules() {
    let from_var = "rtc_server { candidate $CANDIDATE; }";
    let literal = "rtc_server { candidate 5.6.7.8; }";
    let other_var = "rtc_server { candidate $MY_IP; }";
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("", &[], "*"),
        (from_var, &[], "*"),
        (from_var, &[("CANDIDATE", "")], "*"),
        (from_var, &[("CANDIDATE", "1.2.3.4")], "1.2.3.4"),
        (literal, &[], "5.6.7.8"),
        (literal, &[("CANDIDATE", "1.2.3.4")], "1.2.3.4"),
        (other_var, &[], "*"),
        (other_var, &[("MY_IP", "9.8.7.6")], "9.8.7.6"),
        (
            other_var,
            &[("MY_IP", "9.8.7.6"), ("CANDIDATE", "1.2.3.4")],
            "1.2.3.4",
        ),
        (
            literal,
            &[
                ("SRS_RTC_SERVER_CANDIDATE", "9.9.9.9"),
                ("CANDIDATE", "1.2.3.4"),
            ],
            "9.9.9.9",
        ),
        (
            literal,
            &[("SRS_RTC_SERVER_CANDIDATE", "$EIP"), ("EIP", "7.7.7.7")],
            "7.7.7.7",
        ),
        (literal, &[("SRS_RTC_SERVER_CANDIDATE", "$EIP")], "5.6.7.8"),
        (
            literal,
            &[
                ("SRS_RTC_SERVER_CANDIDATE", "$EIP"),
                ("CANDIDATE", "1.2.3.4"),
            ],
            "1.2.3.4",
        ),
        (from_var, &[("SRS_RTC_SERVER_CANDIDATE", "")], "*"),
        ("rtc_server { candidate 'lit$X'; }", &[("X", "no")], "lit$X"),
    ];
    for (text, env, want) in cases {
        let env: MapEnv = env.iter().copied().collect();
        let l = parse_env(text, &env).expect("parse");
        assert_eq!(l.config.rtc_server.candidate, *want, "{text} with {env:?}");
    }
}

// ------------------------------------------------------------ robustness

/// A cheap stand-in for the fuzz target: pseudo-random texts over the
/// format's alphabet never panic, and errors always carry `file:line`.
#[test]
fn random_texts_never_panic() {
    const ALPHABET: &[&str] = &[
        " ",
        "\n",
        "\t",
        ";",
        "{",
        "}",
        "#",
        "\"",
        "'",
        "$",
        "${",
        "}",
        "listen",
        "vhost",
        "rtc",
        "rtc_server",
        "enabled",
        "on",
        "off",
        "8000",
        "1.2.3.4:80",
        "[::1]:1",
        "include",
        "http_api",
        "candidate",
        "$CANDIDATE",
        "é",
        "\r",
        "hls",
        "pli_for_rtmp",
        "0.5",
        "x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        match Config::parse_str(&text, "fuzz.conf", &empty()) {
            Ok(_) => {}
            Err(ConfigError::Include { .. }) => {}
            Err(e) => assert!(e.to_string().starts_with("fuzz.conf:"), "{e}"),
        }
    }
}
