//! Tests of the configuration module.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

pub(super) fn empty() -> MapEnv {
    MapEnv::new()
}

pub(super) fn parse(text: &str) -> Loaded {
    match Config::parse_str(text, "t.conf", &empty()) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub(super) fn parse_env(text: &str, env: &MapEnv) -> Result<Loaded, ConfigError> {
    Config::parse_str(text, "t.conf", env)
}

pub(super) fn err(text: &str) -> ConfigError {
    match Config::parse_str(text, "x.conf", &empty()) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e,
    }
}

/// The (line, directive) of an error, and its Display.
pub(super) fn where_(e: &ConfigError) -> (u32, Option<String>, String) {
    let s = e.to_string();
    match e {
        ConfigError::Syntax {
            line, directive, ..
        } => (*line, directive.clone(), s),
        ConfigError::Invalid {
            line, directive, ..
        } => (*line, Some(directive.clone()), s),
        ConfigError::Include { line, .. } => (*line, Some("include".into()), s),
        ConfigError::NotUtf8 { line, .. } => (*line, None, s),
        other => panic!("no line in {other:?}"),
    }
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub(super) fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

pub(super) fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shardsfu-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(&p, text).expect("write file");
    p
}

// ---------------------------------------------------------------- defaults

#[test]
pub(super) fn empty_file_gives_srs_defaults() {
    for text in ["", "   \n\n", "# only a comment\n  # another\n"] {
        let l = parse(text);
        assert!(l.warnings.is_empty());
        assert_eq!(l.config, Config::default());
    }
    let c = Config::default();
    assert_eq!(c.listen, vec![addr("0.0.0.0:1935")]);
    assert_eq!(c.max_connections, 1000);
    assert_eq!(c.max_connections_per_ip, 128);
    assert!(c.daemon);
    assert_eq!(c.workers, None);
    assert_eq!(c.srs_log_tank, LogTank::File);
    assert_eq!(c.log_level(), LogLevel::Trace);
    assert_eq!(c.log_filter(), tracing::level_filters::LevelFilter::INFO);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.pid, "./objs/srs.pid");
    assert!(!c.http_server.enabled);
    assert_eq!(c.http_server.listen, vec![addr("0.0.0.0:8080")]);
    assert_eq!(c.http_server.https.listen, vec![addr("0.0.0.0:8088")]);
    assert!(!c.http_api.enabled);
    assert_eq!(c.http_api.listen, vec![addr("0.0.0.0:1985")]);
    assert_eq!(c.http_api.https.listen, vec![addr("0.0.0.0:1990")]);
    assert!(c.http_api.crossdomain);
    let r = &c.rtc_server;
    assert!(!r.enabled);
    assert_eq!(r.listen, vec![addr("0.0.0.0:8000")]);
    assert_eq!(r.candidate, "*");
    assert!(r.candidate_is_auto());
    assert_eq!(r.protocol, RtcProtocol::Udp);
    assert_eq!(r.ip_family, IpFamily::Ipv4);
    assert!(!r.tcp.enabled);
    assert_eq!(r.tcp.listen, vec![addr("0.0.0.0:8000")]);
    assert!(r.api_as_candidates && r.resolve_api_domain && !r.keep_api_domain);
    assert!(r.use_auto_detect_network_ip && r.ecdsa && r.encrypt && !r.merge_nalus);
    assert_eq!(
        (r.signaling_rate_per_ip, r.signaling_burst_per_ip),
        (20, 40)
    );
    let v = c.vhost(DEFAULT_VHOST);
    assert_eq!(v.name, DEFAULT_VHOST);
    assert!(!v.rtc.enabled && v.rtc.nack && v.rtc.twcc);
    assert_eq!(v.rtc.stun_timeout, Duration::from_secs(30));
    assert_eq!(v.rtc.dtls_role, DtlsRole::Passive);
    assert_eq!(v.rtc.pli_for_rtmp, Duration::from_secs(6));
    assert_eq!(v.http_remux.mount, "[vhost]/[app]/[stream].flv");
    assert_eq!(v.hls.hls_fragment, Duration::from_secs(10));
    assert_eq!(v.hls.hls_window, Duration::from_secs(60));
    assert_eq!(v.hls.hls_m3u8_file, "[app]/[stream].m3u8");
}

#[test]
pub(super) fn vhost_lookup_falls_back_to_default() {
    let l =
        parse("vhost a.com { rtc { enabled on; } }\nvhost __defaultVhost__ { tcp_nodelay on; }");
    assert!(l.config.vhost("a.com").rtc.enabled);
    assert!(!l.config.vhost("a.com").tcp_nodelay);
    assert!(l.config.vhost("nope.com").tcp_nodelay);
    assert_eq!(l.config.vhost("nope.com").name, DEFAULT_VHOST);
    // The default vhost exists when the file has only others.
    let l = parse("vhost a.com { }");
    assert_eq!(l.config.vhosts.len(), 2);
    let mut c = l.config;
    c.vhosts.clear();
    assert_eq!(c.vhost("x").name, DEFAULT_VHOST);
}

// ------------------------------------------------------- shipped configs

#[test]
pub(super) fn embedded_default_is_rtc_conf() {
    // Its warnings: tests_warnings.rs, shipped_configs_warn_only_as_known.
    let l = Config::embedded_default(&empty()).expect("embedded");
    let c = &l.config;
    assert_eq!(c.rtc_server.candidate, "*");
    assert!(c.rtc_server.enabled && c.http_api.enabled && c.http_server.enabled);
    assert!(!c.daemon);
    assert_eq!(c.srs_log_tank, LogTank::Console);
    let v = c.vhost(DEFAULT_VHOST);
    assert!(v.rtc.enabled && !v.rtc.rtmp_to_rtc && !v.rtc.rtc_to_rtmp);
    assert!(v.http_remux.enabled);
    let from_file = Config::load(&repo("configs/rtc.conf"), &empty()).expect("rtc.conf");
    assert_eq!(from_file.config, l.config);

    let env = MapEnv::new().with("CANDIDATE", "192.168.1.10");
    let l = Config::embedded_default(&env).expect("embedded");
    assert_eq!(l.config.rtc_server.candidate, "192.168.1.10");
}

#[test]
pub(super) fn shipped_configs_parse() {
    for (name, rtmp_to_rtc, rtc_to_rtmp) in [
        ("rtc.conf", false, false),
        ("rtmp2rtc.conf", true, true),
        ("rtc2rtmp.conf", true, true),
    ] {
        let l = Config::load(&repo(&format!("configs/{name}")), &empty())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = &l.config;
        assert!(c.rtc_server.enabled, "{name}");
        assert_eq!(c.rtc_server.listen, vec![addr("0.0.0.0:8000")]);
        assert_eq!(c.rtc_server.candidate, "*");
        assert_eq!(c.http_api.listen, vec![addr("0.0.0.0:1985")]);
        let v = c.vhost(DEFAULT_VHOST);
        assert!(v.rtc.enabled);
        assert_eq!(
            (v.rtc.rtmp_to_rtc, v.rtc.rtc_to_rtmp),
            (rtmp_to_rtc, rtc_to_rtmp),
            "{name}"
        );
    }
}

#[test]
pub(super) fn full_conf_has_every_directive_at_its_default() {
    let l = Config::load(&repo("configs/full.conf"), &empty()).expect("full.conf");
    // Directives without a default carry an example value in full.conf.
    let mut expected = Config {
        srs_log_level_v2: Some(LogLevel::Info),
        workers: Some(4),
        server_id: Some("shardsfu-full".into()),
        default_vhost_configured: true,
        ..Config::default()
    };
    expected.http_api.auth.username = "admin".into();
    expected.http_api.auth.password = "admin".into();
    expected.stats.disk = vec!["sda".into()];
    expected.exporter.label = "cn-beijing".into();
    expected.exporter.tag = "cn-edge".into();
    expected.cluster.password = Some("secret".into());
    expected.cluster.advertise = Some(addr("10.0.0.2:1985"));
    expected.rtc_server.black_hole.addr = Some(addr("127.0.0.1:10000"));
    expected.rtc_server.ice_servers = vec!["stun:stun.example.com:3478".into()];
    let v = expected
        .vhosts
        .get_mut(DEFAULT_VHOST)
        .expect("default vhost");
    v.min_latency = Some(true);
    v.chunk_size = Some(60000);
    v.play.mw_latency = Some(Duration::from_millis(350));
    v.play.mw_msgs = Some(8);
    v.rtc.bearer_token = vec!["s3cret-token".into()];
    let h = &mut v.http_hooks;
    h.on_connect = vec!["http://127.0.0.1:8085/api/v1/clients".into()];
    h.on_close = h.on_connect.clone();
    h.on_publish = vec!["http://127.0.0.1:8085/api/v1/streams".into()];
    h.on_unpublish = h.on_publish.clone();
    h.on_play = vec!["http://127.0.0.1:8085/api/v1/sessions".into()];
    h.on_stop = h.on_play.clone();
    h.on_dvr = vec!["http://127.0.0.1:8085/api/v1/dvrs".into()];
    h.on_hls = vec!["http://127.0.0.1:8085/api/v1/hls".into()];
    h.on_hls_notify =
        vec!["http://127.0.0.1:8085/api/v1/hls/[app]/[stream]/[ts_url][param]".into()];
    let mut other = VhostConfig::new("rtc.example.com");
    other.rtc.enabled = true;
    other.rtc.rtc_to_rtmp = true;
    expected.vhosts.insert(other.name.clone(), other);
    assert_eq!(l.config, expected);
}

#[test]
pub(super) fn full_conf_names_every_known_directive_and_env_variable() {
    let text = std::fs::read_to_string(repo("configs/full.conf")).expect("full.conf");
    for (var, dir) in env_variables() {
        if var == "CANDIDATE" || var == "SRS_RTC_SERVER_CANDIDATE" {
            continue;
        }
        // Deprecated vhost spellings are documented in docs/ only.
        let leaf = dir.rsplit('.').next().unwrap_or(&dir);
        assert!(text.contains(leaf), "full.conf lacks {dir}");
        if !dir.starts_with("vhost.http_hooks.on_") || var.ends_with("ON_CONNECT") {
            assert!(text.contains(&var), "full.conf lacks {var} ({dir})");
        }
    }
    let docs = std::fs::read_to_string(repo("docs/configuration.md")).expect("docs");
    for (var, _) in env_variables() {
        assert!(docs.contains(&var), "docs/configuration.md lacks {var}");
    }
}

// --------------------------------------------------- every directive parsed

pub(super) const NON_DEFAULT: &str = r#"
listen 127.0.0.1:19350 [::1]:19351 19352;
chunk_size 4096;
max_connections 77;
max_connections_per_ip 9;
daemon off;
pid /run/s.pid;
srs_log_tank console;
srs_log_level warn;
srs_log_level_v2 debug;
srs_log_file /var/log/s.log;
log_format json;
workers 3;
server_id sid-1;
utc_time on;
pithy_print_ms 5000;
work_dir /tmp;
asprocess on;
empty_ip_ok off;
grace_start_wait 10;
grace_final_wait 20;
force_grace_quit on;
http_server {
    enabled on; listen 18080; dir /srv/html; crossdomain off;
    https { enabled on; listen 18088; key k.pem; cert c.pem; }
}
http_api {
    enabled on; listen 127.0.0.1:11985; crossdomain off;
    auth { enabled on; username u; password 'p w'; }
    https { enabled on; listen 11990; key ak.pem; cert ac.pem; }
}
stats { enabled off; network 2; disk sda sdb; }
exporter { enabled on; listen 127.0.0.1:19972; label cn-beijing; tag cn-edge; }
rtc_server {
    enabled on; listen 18000 [::]:18000; protocol all; candidate 10.0.0.1;
    use_auto_detect_network_ip off; ip_family all; api_as_candidates off;
    resolve_api_domain off; keep_api_domain on; ecdsa off; encrypt off;
    reuseport 4; merge_nalus on; signaling_rate_per_ip 0; signaling_burst_per_ip 3;
    tcp { enabled on; listen 18001; }
    black_hole { enabled on; addr 127.0.0.1:9999; }
}
vhost v.com {
    enabled off; min_latency off; tcp_nodelay on; chunk_size 256;
    in_ack_size 10; out_ack_size 20;
    rtc {
        enabled on; nack off; nack_no_copy off; twcc off; stun_timeout 7;
        stun_strict_check on; dtls_role active; dtls_version dtls1.2; drop_for_pt 96;
        rtmp_to_rtc on; keep_bframe on; keep_avc_nalu_sei off; opus_bitrate 64000;
        rtc_to_rtmp on; pli_for_rtmp 0.5; aac_bitrate 96000; init_rate_from_sdp on;
        keep_original_ssrc on;
    }
    play {
        gop_cache off; gop_cache_max_frames 100; queue_length 5; time_jitter zero;
        atc on; atc_auto on; mix_correct on; mw_latency 100; mw_msgs 2;
        send_min_interval 10.5; reduce_sequence_header on;
    }
    publish {
        mr on; mr_latency 100; firstpkt_timeout 1000; normal_timeout 2000;
        parse_sps off; try_annexb_first off; kickoff_for_idle 1.5;
    }
    http_remux {
        enabled on; mount [vhost]/[app]/[stream].ts; fast_cache 2.5; drop_if_not_match off;
        has_audio off; has_video off; guess_has_av off;
    }
    hls {
        enabled on; hls_fragment 2.5; hls_td_ratio 1.5; hls_aof_ratio 3; hls_window 30;
        hls_on_error disconnect; hls_path /srv/hls; hls_m3u8_file [stream].m3u8;
        hls_ts_file [stream]-[seq].ts; hls_ts_floor on; hls_entry_prefix http://cdn/;
        hls_cleanup off; hls_dispose 5; hls_wait_keyframe off; hls_nb_notify 8;
        hls_dts_directly off; hls_use_fmp4 on; hls_fmp4_file a.m4s; hls_init_file i.mp4;
        hls_ctx off; hls_ts_ctx off; hls_recover off;
    }
    http_hooks {
        enabled on; on_connect http://a/1 http://a/2; on_close http://b; on_publish http://c;
        on_unpublish http://d; on_play http://e; on_stop http://f; on_dvr http://g;
        on_hls http://h; on_hls_notify http://i;
    }
}
"#;

#[test]
pub(super) fn every_directive_reaches_the_model() {
    // Its warnings: tests_warnings.rs, honoured_directives_do_not_warn.
    let l = parse(NON_DEFAULT);
    let c = &l.config;
    assert_eq!(
        c.listen,
        vec![
            addr("127.0.0.1:19350"),
            addr("[::1]:19351"),
            addr("0.0.0.0:19352")
        ]
    );
    assert_eq!(
        (
            c.chunk_size,
            c.max_connections,
            c.max_connections_per_ip,
            c.daemon
        ),
        (4096, 77, 9, false)
    );
    assert_eq!(c.pid, "/run/s.pid");
    assert_eq!(c.srs_log_tank, LogTank::Console);
    assert_eq!(c.srs_log_level, LogLevel::Warn);
    assert_eq!(c.srs_log_level_v2, Some(LogLevel::Debug));
    assert_eq!(c.log_level(), LogLevel::Debug);
    assert_eq!(c.srs_log_file, "/var/log/s.log");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.workers, Some(3));
    let e = &c.exporter;
    assert!(e.enabled && e.label == "cn-beijing" && e.tag == "cn-edge");
    assert_eq!(e.listen, vec![addr("127.0.0.1:19972")]);
    assert_eq!(c.server_id.as_deref(), Some("sid-1"));
    assert!(c.utc_time && c.asprocess && !c.empty_ip_ok && c.force_grace_quit);
    assert_eq!(c.pithy_print_ms, Duration::from_secs(5));
    assert_eq!(c.work_dir, "/tmp");
    assert_eq!(c.grace_start_wait, Duration::from_millis(10));
    assert_eq!(c.grace_final_wait, Duration::from_millis(20));

    let hs = &c.http_server;
    assert!(hs.enabled && !hs.crossdomain);
    assert_eq!(hs.listen, vec![addr("0.0.0.0:18080")]);
    assert_eq!(hs.dir, "/srv/html");
    assert!(hs.https.enabled);
    assert_eq!(hs.https.listen, vec![addr("0.0.0.0:18088")]);
    assert_eq!(
        (hs.https.key.as_str(), hs.https.cert.as_str()),
        ("k.pem", "c.pem")
    );
    let api = &c.http_api;
    assert!(api.enabled && !api.crossdomain);
    assert_eq!(api.listen, vec![addr("127.0.0.1:11985")]);
    assert_eq!(
        api.auth,
        HttpApiAuthConfig {
            enabled: true,
            username: "u".into(),
            password: "p w".into()
        }
    );
    assert!(api.https.enabled);
    assert_eq!(api.https.listen, vec![addr("0.0.0.0:11990")]);
    assert_eq!(
        (api.https.key.as_str(), api.https.cert.as_str()),
        ("ak.pem", "ac.pem")
    );
    assert_eq!(
        c.stats,
        StatsConfig {
            enabled: false,
            network: 2,
            disk: vec!["sda".into(), "sdb".into()]
        }
    );

    let r = &c.rtc_server;
    assert!(r.enabled);
    assert_eq!(r.listen, vec![addr("0.0.0.0:18000"), addr("[::]:18000")]);
    assert_eq!(r.protocol, RtcProtocol::All);
    assert_eq!(r.candidate, "10.0.0.1");
    assert!(!r.candidate_is_auto());
    assert_eq!(r.ip_family, IpFamily::All);
    assert!(!r.use_auto_detect_network_ip && !r.api_as_candidates && !r.resolve_api_domain);
    assert!(r.keep_api_domain && !r.ecdsa && !r.encrypt && r.merge_nalus);
    assert_eq!(r.reuseport, 4);
    assert_eq!((r.signaling_rate_per_ip, r.signaling_burst_per_ip), (0, 3));
    assert_eq!(
        r.tcp,
        RtcTcpConfig {
            enabled: true,
            listen: vec![addr("0.0.0.0:18001")]
        }
    );
    assert_eq!(
        r.black_hole,
        BlackHoleConfig {
            enabled: true,
            addr: Some(addr("127.0.0.1:9999"))
        }
    );

    let v = c.vhost("v.com");
    assert_eq!(v.name, "v.com");
    assert!(!v.enabled && v.tcp_nodelay);
    assert_eq!(v.min_latency, Some(false));
    assert_eq!(
        (v.chunk_size, v.in_ack_size, v.out_ack_size),
        (Some(256), 10, 20)
    );
    let rtc = &v.rtc;
    assert!(rtc.enabled && !rtc.nack && !rtc.nack_no_copy && !rtc.twcc && rtc.stun_strict_check);
    assert_eq!(rtc.stun_timeout, Duration::from_secs(7));
    assert_eq!(rtc.dtls_role, DtlsRole::Active);
    assert_eq!(rtc.dtls_version, DtlsVersion::Dtls1_2);
    assert_eq!(rtc.drop_for_pt, 96);
    assert!(rtc.rtmp_to_rtc && rtc.keep_bframe && !rtc.keep_avc_nalu_sei && rtc.rtc_to_rtmp);
    assert_eq!((rtc.opus_bitrate, rtc.aac_bitrate), (64000, 96000));
    assert_eq!(rtc.pli_for_rtmp, Duration::from_millis(500));
    assert!(rtc.init_rate_from_sdp && rtc.keep_original_ssrc);
    let p = &v.play;
    assert!(!p.gop_cache && p.atc && p.atc_auto && p.mix_correct && p.reduce_sequence_header);
    assert_eq!(p.gop_cache_max_frames, 100);
    assert_eq!(p.queue_length, Duration::from_secs(5));
    assert_eq!(p.time_jitter, TimeJitter::Zero);
    assert_eq!(p.mw_latency, Some(Duration::from_millis(100)));
    assert_eq!(p.mw_msgs, Some(2));
    assert_eq!(p.send_min_interval, Duration::from_micros(10_500));
    let pb = &v.publish;
    assert!(pb.mr && !pb.parse_sps && !pb.try_annexb_first);
    assert_eq!(pb.mr_latency, Duration::from_millis(100));
    assert_eq!(pb.firstpkt_timeout, Duration::from_secs(1));
    assert_eq!(pb.normal_timeout, Duration::from_secs(2));
    assert_eq!(pb.kickoff_for_idle, Duration::from_millis(1500));
    let hr = &v.http_remux;
    assert!(
        hr.enabled && !hr.drop_if_not_match && !hr.has_audio && !hr.has_video && !hr.guess_has_av
    );
    assert_eq!(hr.mount, "[vhost]/[app]/[stream].ts");
    assert_eq!(hr.fast_cache, Duration::from_millis(2500));
    let h = &v.hls;
    assert!(h.enabled && h.hls_ts_floor && !h.hls_cleanup && !h.hls_wait_keyframe);
    assert!(!h.hls_dts_directly && h.hls_use_fmp4 && !h.hls_ctx && !h.hls_ts_ctx && !h.hls_recover);
    assert_eq!(h.hls_fragment, Duration::from_millis(2500));
    assert_eq!((h.hls_td_ratio, h.hls_aof_ratio), (1.5, 3.0));
    assert_eq!(h.hls_window, Duration::from_secs(30));
    assert_eq!(h.hls_on_error, HlsOnError::Disconnect);
    assert_eq!(h.hls_path, "/srv/hls");
    assert_eq!(h.hls_m3u8_file, "[stream].m3u8");
    assert_eq!(h.hls_ts_file, "[stream]-[seq].ts");
    assert_eq!(h.hls_entry_prefix, "http://cdn/");
    assert_eq!(h.hls_dispose, Duration::from_secs(5));
    assert_eq!(h.hls_nb_notify, 8);
    assert_eq!(
        (h.hls_fmp4_file.as_str(), h.hls_init_file.as_str()),
        ("a.m4s", "i.mp4")
    );
    let hk = &v.http_hooks;
    assert!(hk.enabled);
    assert_eq!(
        hk.on_connect,
        vec!["http://a/1".to_string(), "http://a/2".to_string()]
    );
    for (got, want) in [
        (&hk.on_close, "http://b"),
        (&hk.on_publish, "http://c"),
        (&hk.on_unpublish, "http://d"),
        (&hk.on_play, "http://e"),
        (&hk.on_stop, "http://f"),
        (&hk.on_dvr, "http://g"),
        (&hk.on_hls, "http://h"),
        (&hk.on_hls_notify, "http://i"),
    ] {
        assert_eq!(got, &vec![want.to_string()]);
    }
    // The default vhost is untouched.
    assert_eq!(c.vhost(DEFAULT_VHOST), &VhostConfig::new(DEFAULT_VHOST));
}

#[test]
pub(super) fn srs7_rtmp_section_and_keyword_case() {
    let l = parse("rtmp { listen 1936; chunk_size 128; }\nsrs_log_tank CONSOLE;\nrtc_server { protocol TCP; }");
    assert_eq!(l.config.listen, vec![addr("0.0.0.0:1936")]);
    assert_eq!(l.config.chunk_size, 128);
    assert_eq!(l.config.srs_log_tank, LogTank::Console);
    assert_eq!(l.config.rtc_server.protocol, RtcProtocol::Tcp);
}

#[test]
pub(super) fn empty_value_keeps_the_default() {
    let l = parse("max_connections \"\";\nhttp_api { listen; }\nvhost v { rtc { nack ''; } }");
    assert_eq!(l.config.max_connections, 1000);
    assert_eq!(l.config.http_api.listen, vec![addr("0.0.0.0:1985")]);
    assert!(l.config.vhost("v").rtc.nack);
}

// ----------------------------------------------------------------- lexing

#[test]
pub(super) fn quotes_comments_and_var_expansion() {
    let env = MapEnv::new()
        .with("DIR", "/srv")
        .with("PORT", "9000")
        .with("A", "x");
    let text = concat!(
        "http_server { dir \"$DIR/html\"; listen $PORT; } # trailing comment\n",
        "pid '$DIR/literal';\n",
        "srs_log_file ${DIR}/a${A}b$A.log;\n",
        "server_id \"a b;c{d}#e\";\n",
        "stats { disk $ $1 \"${}\" ${UNSET}x$UNSET ${A}; }\n",
    );
    let l = parse_env(text, &env).expect("parse");
    let c = &l.config;
    assert_eq!(c.http_server.dir, "/srv/html");
    assert_eq!(c.http_server.listen, vec![addr("0.0.0.0:9000")]);
    assert_eq!(c.pid, "$DIR/literal");
    assert_eq!(c.srs_log_file, "/srv/axbx.log");
    assert_eq!(c.server_id.as_deref(), Some("a b;c{d}#e"));
    assert_eq!(c.stats.disk, vec!["$", "$1", "${}", "x", "x"]);
}

#[test]
pub(super) fn hash_inside_a_word_is_not_a_comment() {
    let l = parse("srs_log_file a#b;");
    assert_eq!(l.config.srs_log_file, "a#b");
}

// ---------------------------------------------------------------- warnings

#[test]
pub(super) fn unknown_and_unsupported_directives_warn_with_path_and_line() {
    let text = "\nfoo 1;\nvhost __defaultVhost__ {\n  rtc {\n    bar on;\n  }\n  hds { enabled on; }\n}\nheartbeat { enabled on; }\n";
    let l = parse(text);
    let w: Vec<(String, u32, String)> = l
        .warnings
        .iter()
        .map(|w| (w.directive.clone(), w.line, w.file.clone()))
        .collect();
    assert_eq!(
        w,
        vec![
            ("foo".into(), 2, "t.conf".into()),
            ("vhost.rtc.bar".into(), 5, "t.conf".into()),
            ("vhost.hds".into(), 7, "t.conf".into()),
            ("heartbeat".into(), 9, "t.conf".into()),
        ]
    );
    assert!(l.warnings[0].message.contains("unknown"));
    assert!(l.warnings[2].message.contains("not supported"));
    assert_eq!(
        l.warnings[1].to_string(),
        "t.conf:5: directive \"vhost.rtc.bar\": unknown directive; ignored"
    );
}

#[test]
pub(super) fn duplicates_warn_and_the_first_wins() {
    let l = parse("max_connections 5;\nmax_connections 6;\nrtc_server { enabled on; }\nrtc_server { enabled off; }");
    assert_eq!(l.config.max_connections, 5);
    assert!(l.config.rtc_server.enabled);
    assert_eq!(l.warnings.len(), 2);
    assert_eq!(
        (l.warnings[0].line, l.warnings[0].directive.as_str()),
        (2, "max_connections")
    );
    assert!(l.warnings[0].message.contains("line 1"));
    assert_eq!(
        (l.warnings[1].line, l.warnings[1].directive.as_str()),
        (4, "rtc_server")
    );
}

#[test]
pub(super) fn srs_resets_out_of_range_pli_and_bitrates_with_a_warning() {
    let l = parse("vhost __defaultVhost__ { rtc { pli_for_rtmp 0.1; opus_bitrate 1000; aac_bitrate 999999; } }");
    let rtc = &l.config.vhost(DEFAULT_VHOST).rtc;
    assert_eq!(rtc.pli_for_rtmp, Duration::from_secs(6));
    assert_eq!((rtc.opus_bitrate, rtc.aac_bitrate), (48000, 48000));
    let dirs: Vec<&str> = l.warnings.iter().map(|w| w.directive.as_str()).collect();
    assert_eq!(
        dirs,
        [
            "vhost.rtc.pli_for_rtmp",
            "vhost.rtc.opus_bitrate",
            "vhost.rtc.aac_bitrate"
        ]
    );
    let l = parse("vhost __defaultVhost__ { rtc { pli_for_rtmp 31; } }");
    assert_eq!(
        l.config.vhost(DEFAULT_VHOST).rtc.pli_for_rtmp,
        Duration::from_secs(6)
    );
    assert_eq!(l.warnings.len(), 1);
    let l = parse("vhost __defaultVhost__ { rtc { pli_for_rtmp 30; } }");
    assert_eq!(
        l.config.vhost(DEFAULT_VHOST).rtc.pli_for_rtmp,
        Duration::from_secs(30)
    );
    assert!(l.warnings.is_empty());
}

#[test]
pub(super) fn deprecated_spellings_are_applied_and_warned() {
    let l = parse("http_stream { enabled on; }\nvhost __defaultVhost__ { gop_cache off; rtc { bframe keep; aac transcode; } }");
    assert!(l.config.http_server.enabled);
    let v = l.config.vhost(DEFAULT_VHOST);
    assert!(!v.play.gop_cache && v.rtc.keep_bframe && v.rtc.rtmp_to_rtc);
    let dirs: Vec<&str> = l.warnings.iter().map(|w| w.directive.as_str()).collect();
    assert_eq!(
        dirs,
        [
            "http_stream",
            "vhost.gop_cache",
            "vhost.rtc.bframe",
            "vhost.rtc.aac"
        ]
    );
    assert!(l.warnings.iter().all(|w| w.message.contains("deprecated")));
    let l = parse("vhost __defaultVhost__ { rtc { bframe discard; } }");
    assert!(!l.config.vhost(DEFAULT_VHOST).rtc.keep_bframe);
}
