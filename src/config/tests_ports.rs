//! One TCP port for several services: what may share (HTTP API, HTTP
//! server, their HTTPS sides, WebRTC over TCP, on one address) and what is
//! refused at load, with the line (or variable) that did it.

use std::net::SocketAddr;

use super::*;

fn parse(text: &str, env: &MapEnv) -> Result<Loaded, ConfigError> {
    Config::parse_str(text, "t.conf", env)
}

fn refused(text: &str, env: &MapEnv) -> String {
    match parse(text, env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// SRS's one-port example (its WebRTC-over-TCP guide): API, server and
/// WebRTC over TCP all on 8080.
const ONE_PORT: &str = "listen 1935;
http_server { enabled on; listen 8080; }
http_api { enabled on; listen 8080; }
rtc_server {
    enabled on;
    listen 8000;
    tcp { enabled on; listen 8080; }
    protocol tcp;
    candidate 127.0.0.1;
}
";

#[test]
fn srs_one_port_example_is_one_listener() {
    let c = parse(ONE_PORT, &MapEnv::new()).unwrap().config;
    let l = tcp_listeners(&c);
    assert_eq!(
        l,
        vec![
            TcpListen {
                addr: addr("0.0.0.0:1935"),
                services: vec![TcpService::Rtmp],
            },
            TcpListen {
                addr: addr("0.0.0.0:8080"),
                services: vec![
                    TcpService::HttpApi,
                    TcpService::HttpServer,
                    TcpService::RtcTcp
                ],
            },
        ]
    );
    // The same from SRS's Docker example: only environment variables.
    let env = MapEnv::new()
        .with("SRS_HTTP_API_LISTEN", "8080")
        .with("SRS_RTC_SERVER_TCP_ENABLED", "on")
        .with("SRS_RTC_SERVER_TCP_LISTEN", "8080")
        .with("SRS_RTC_SERVER_PROTOCOL", "tcp");
    let base = "http_server { enabled on; listen 8080; }\nhttp_api { enabled on; }\nrtc_server { enabled on; }\n";
    let c = parse(base, &env).unwrap().config;
    let shared = tcp_listeners(&c)
        .into_iter()
        .find(|l| l.addr == addr("0.0.0.0:8080"))
        .unwrap();
    assert!(shared.serves(TcpService::RtcTcp) && shared.serves(TcpService::HttpApi));
}

#[test]
fn https_and_rtc_and_the_api_and_server_may_share() {
    // WebRTC over TCP on the HTTPS port of the API; the HTTP server's plain
    // and HTTPS on one address; API and server on one (SRS shares it).
    let text = "http_api { enabled on; listen 1985; https { enabled on; listen 443; } }
http_server { enabled on; listen 1985; https { enabled on; listen 8088; } }
rtc_server { enabled on; tcp { enabled on; listen 443; } }
";
    let c = parse(text, &MapEnv::new()).unwrap().config;
    let l = tcp_listeners(&c);
    let at = |a: &str| {
        l.iter()
            .find(|x| x.addr == addr(a))
            .unwrap()
            .services
            .clone()
    };
    assert_eq!(
        at("0.0.0.0:443"),
        [TcpService::HttpsApi, TcpService::RtcTcp]
    );
    assert_eq!(
        at("0.0.0.0:1985"),
        [TcpService::HttpApi, TcpService::HttpServer]
    );
    // Disabled services bind nothing, so share nothing.
    let off = "listen 8080;\nhttp_server { enabled off; listen 8080; }\nexporter { enabled off; listen 1935; }\n";
    assert!(parse(off, &MapEnv::new()).is_ok());
}

#[test]
fn rtmp_or_the_exporter_on_a_shared_port_is_refused_with_the_line() {
    let text = "listen 1935;\nhttp_api { enabled on;\n listen 1935; }\n";
    let e = refused(text, &MapEnv::new());
    assert!(
        e.starts_with("t.conf:3: directive \"http_api.listen\": TCP 0.0.0.0:1935 overlaps listen 0.0.0.0:1935 (t.conf:1): listen cannot share a port"),
        "{e}"
    );
    // Only the HTTP API's line was written: RTMP's is its default.
    let e = refused("http_api { enabled on; listen 1935; }\n", &MapEnv::new());
    assert!(
        e.starts_with("t.conf:1: directive \"http_api.listen\""),
        "{e}"
    );
    assert!(e.contains("(its default)"), "{e}");
    // The exporter on the API's port.
    let text = "http_api { enabled on; listen 1985; }\nexporter { enabled on; listen 1985; }\n";
    let e = refused(text, &MapEnv::new());
    assert!(
        e.starts_with(
            "t.conf:2: directive \"exporter.listen\": TCP 0.0.0.0:1985 overlaps http_api.listen"
        ),
        "{e}"
    );
    assert!(e.contains("exporter.listen cannot share a port"), "{e}");
    // RTMP on the WebRTC-over-TCP port.
    let text = "listen 8000;\nrtc_server { enabled on; tcp { enabled on; listen 8000; } }\n";
    let e = refused(text, &MapEnv::new());
    assert!(
        e.starts_with("t.conf:2: directive \"rtc_server.tcp.listen\""),
        "{e}"
    );
}

#[test]
fn overlapping_addresses_of_one_port_are_refused() {
    // A wildcard and a specific address: the kernel would pick by address.
    let text = "http_api { enabled on; listen 8080; }\nrtc_server { enabled on; tcp { enabled on; listen 127.0.0.1:8080; } }\n";
    let e = refused(text, &MapEnv::new());
    assert!(e.contains("only on the same address"), "{e}");
    // Other families or other ports do not overlap.
    let ok = "http_api { enabled on; listen 127.0.0.1:8080; }\nlisten [::1]:8080 127.0.0.2:8080;\n";
    assert!(parse(ok, &MapEnv::new()).is_ok());
}

#[test]
fn a_conflict_from_the_environment_names_the_variable() {
    let env = MapEnv::new().with("SRS_LISTEN", "1985");
    // Reported at the file's line, naming the variable that collides.
    let e = refused("http_api { enabled on; listen 1985; }\n", &env);
    assert!(
        e.starts_with("t.conf:1: directive \"http_api.listen\": TCP 0.0.0.0:1985 overlaps listen 0.0.0.0:1985 (environment variable SRS_LISTEN)"),
        "{e}"
    );
    // Only variables: reported at the later service's variable.
    let env = env.with("SRS_HTTP_API_LISTEN", "1985");
    let e = refused("http_api { enabled on; }\n", &env);
    assert!(
        e.starts_with("environment variable SRS_HTTP_API_LISTEN=\"1985\": TCP 0.0.0.0:1985 overlaps listen 0.0.0.0:1985 (environment variable SRS_LISTEN)"),
        "{e}"
    );
}

#[test]
fn shipped_configs_pass() {
    for f in ["rtc.conf", "rtmp2rtc.conf", "rtc2rtmp.conf", "full.conf"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(f);
        if let Err(e) = Config::load(&path, &MapEnv::new()) {
            panic!("{f}: {e}");
        }
    }
}
