//! Tests of the warnings for directives accepted without effect, of the
//! shipped configurations' warnings, and of the vhost lookup.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

fn parse(text: &str) -> Loaded {
    match Config::parse_str(text, "t.conf", &MapEnv::new()) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error: {e}\n{text}"),
    }
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A value for each row of [`NO_EFFECT`] that parses and is not one of the
/// row's matching values.
const SAMPLES: &[(&str, &str)] = &[
    ("daemon", "on"),
    ("pid", "/run/x.pid"),
    ("srs_log_tank", "file"),
    ("srs_log_file", "/var/log/x.log"),
    ("server_id", "sid"),
    ("utc_time", "off"),
    ("pithy_print_ms", "5000"),
    ("work_dir", "/tmp"),
    ("asprocess", "on"),
    ("empty_ip_ok", "off"),
    ("grace_start_wait", "10"),
    ("force_grace_quit", "off"),
    ("http_server.crossdomain", "off"),
    ("http_api.crossdomain", "off"),
    ("stats.enabled", "on"),
    ("stats.network", "0"),
    ("stats.disk", "sda"),
    ("rtc_server.ecdsa", "off"),
    ("rtc_server.encrypt", "off"),
    ("rtc_server.reuseport", "2"),
    ("rtc_server.merge_nalus", "on"),
    ("rtc_server.black_hole.enabled", "on"),
    ("rtc_server.black_hole.addr", "127.0.0.1:10000"),
    ("vhost.enabled", "off"),
    ("vhost.min_latency", "on"),
    ("vhost.tcp_nodelay", "off"),
    ("vhost.in_ack_size", "100"),
    ("vhost.out_ack_size", "100"),
    ("vhost.queue_length", "10"),
    ("vhost.time_jitter", "zero"),
    ("vhost.mw_latency", "100"),
    ("vhost.atc", "on"),
    ("vhost.mix_correct", "on"),
    ("vhost.rtc.nack_no_copy", "on"),
    ("vhost.rtc.stun_strict_check", "on"),
    ("vhost.rtc.dtls_version", "dtls1.2"),
    ("vhost.rtc.drop_for_pt", "96"),
    ("vhost.rtc.keep_avc_nalu_sei", "off"),
    ("vhost.rtc.init_rate_from_sdp", "on"),
    ("vhost.rtc.keep_original_ssrc", "on"),
    ("vhost.play.gop_cache_max_frames", "100"),
    ("vhost.play.queue_length", "10"),
    ("vhost.play.time_jitter", "off"),
    ("vhost.play.atc", "on"),
    ("vhost.play.atc_auto", "on"),
    ("vhost.play.mix_correct", "on"),
    ("vhost.play.mw_latency", "0"),
    ("vhost.play.mw_msgs", "0"),
    ("vhost.play.send_min_interval", "10"),
    ("vhost.play.reduce_sequence_header", "on"),
    ("vhost.publish.mr", "on"),
    ("vhost.publish.mr_latency", "100"),
    ("vhost.publish.parse_sps", "off"),
    ("vhost.publish.try_annexb_first", "off"),
    ("vhost.publish.kickoff_for_idle", "10"),
    ("vhost.http_remux.mount", "[vhost]/[app]/[stream].ts"),
    ("vhost.http_remux.fast_cache", "2"),
    ("vhost.http_remux.drop_if_not_match", "off"),
    ("vhost.http_remux.has_audio", "off"),
    ("vhost.http_remux.has_video", "off"),
    ("vhost.http_remux.guess_has_av", "off"),
    ("vhost.hls.hls_aof_ratio", "3"),
    ("vhost.hls.hls_on_error", "ignore"),
    ("vhost.hls.hls_path", "/srv/hls"),
    ("vhost.hls.hls_m3u8_file", "[stream].m3u8"),
    ("vhost.hls.hls_ts_file", "[stream]-[seq].ts"),
    ("vhost.hls.hls_ts_floor", "on"),
    ("vhost.hls.hls_entry_prefix", "http://cdn/"),
    ("vhost.hls.hls_cleanup", "off"),
    ("vhost.hls.hls_wait_keyframe", "off"),
    ("vhost.hls.hls_nb_notify", "8"),
    ("vhost.hls.hls_dts_directly", "off"),
    ("vhost.hls.hls_use_fmp4", "on"),
    ("vhost.hls.hls_fmp4_file", "a.m4s"),
    ("vhost.hls.hls_init_file", "i.mp4"),
    ("vhost.hls.hls_ctx", "off"),
    ("vhost.hls.hls_ts_ctx", "off"),
    ("vhost.hls.hls_recover", "off"),
    ("vhost.http_hooks.on_connect", "http://a/1"),
    ("vhost.http_hooks.on_close", "http://a/1"),
    ("vhost.http_hooks.on_hls", "http://a/1"),
    ("vhost.http_hooks.on_hls_notify", "http://a/1"),
];

/// The text writing `path` = `value` (in `__defaultVhost__` for vhost
/// directives) after two comment lines, and the directive's line.
fn text_for(path: &str, value: &str) -> (String, u32) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let leaf = parts.pop().expect("a path has a leaf");
    let mut text = String::from("# one\n# two\n");
    let mut line = 3;
    for p in &parts {
        if *p == "vhost" {
            text.push_str("vhost __defaultVhost__ {\n");
        } else {
            text.push_str(&format!("{p} {{\n"));
        }
        line += 1;
    }
    text.push_str(&format!("{leaf} {value};\n"));
    text.push_str(&"}\n".repeat(parts.len()));
    (text, line)
}

/// The SRS 1/2 vhost-level spellings also warn that they are deprecated.
fn is_old_spelling(path: &str) -> bool {
    path.split('.').count() == 2 && no_effect(path).is_some_and(|n| n.reason.contains("SRS 1/2"))
}

#[test]
fn every_directive_without_effect_warns_at_its_line() {
    let sampled: BTreeSet<&str> = SAMPLES.iter().map(|(p, _)| *p).collect();
    let rows: BTreeSet<&str> = NO_EFFECT.iter().map(|n| n.path).collect();
    assert_eq!(sampled, rows, "SAMPLES and NO_EFFECT differ");
    assert_eq!(rows.len(), NO_EFFECT.len(), "a row is listed twice");
    for (path, value) in SAMPLES {
        let (text, line) = text_for(path, value);
        let l = parse(&text);
        let want = if is_old_spelling(path) { 2 } else { 1 };
        assert_eq!(l.warnings.len(), want, "{path}: {:#?}", l.warnings);
        let w = l.warnings.last().expect("one warning");
        assert_eq!((w.file.as_str(), w.line), ("t.conf", line), "{path}");
        assert_eq!(w.directive, *path);
        assert!(
            w.to_string().starts_with(&format!(
                "t.conf:{line}: directive \"{path}\": accepted for SRS compatibility \
                 but has no effect in shardsfu: "
            )),
            "{w}"
        );
    }
}

#[test]
fn values_that_say_what_shardsfu_does_do_not_warn() {
    for row in NO_EFFECT.iter().filter(|n| !n.matching.is_empty()) {
        for value in row.matching {
            let (text, _) = text_for(row.path, value);
            let l = parse(&text);
            assert!(
                l.warnings.is_empty(),
                "{} {value}: {:?}",
                row.path,
                l.warnings
            );
        }
    }
    // Booleans match in any spelling; an empty value keeps the default.
    let l = parse("daemon false;\nutc_time TRUE;\nvhost __defaultVhost__ { min_latency \"\"; }");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn honoured_directives_do_not_warn() {
    // Every directive the model knows, each at a value other than its
    // default (tests.rs's NON_DEFAULT): only rows of NO_EFFECT warn, and the
    // named vhost it is written in.
    let l = parse(super::tests::NON_DEFAULT);
    let warned: BTreeSet<&str> = l.warnings.iter().map(|w| w.directive.as_str()).collect();
    let written_matching = [
        "daemon",
        "srs_log_tank",
        "utc_time",
        "vhost.tcp_nodelay",
        "force_grace_quit",
    ];
    let mut want: BTreeSet<&str> = NO_EFFECT
        .iter()
        .map(|n| n.path)
        .filter(|p| !is_old_spelling(p) && !written_matching.contains(p))
        .collect();
    want.insert("vhost");
    assert_eq!(warned, want);
    assert_eq!(l.warnings.len(), want.len(), "{:#?}", l.warnings);
}

#[test]
fn environment_overrides_without_effect_warn_once() {
    let env = MapEnv::new()
        .with("SRS_VHOST_PLAY_MW_LATENCY", "100")
        .with("SRS_DAEMON", "off")
        .with("SRS_RTC_SERVER_ENCRYPT", "off");
    let text = "vhost __defaultVhost__ { }\nvhost a.com { }\nvhost b.com { }\n";
    let l = Config::parse_str(text, "t.conf", &env).expect("parse");
    let env_warnings: Vec<(&str, &str)> = l
        .warnings
        .iter()
        .filter(|w| w.file == "environment")
        .map(|w| (w.directive.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(env_warnings.len(), 2, "{env_warnings:#?}");
    assert_eq!(env_warnings[0].0, "rtc_server.encrypt");
    assert!(env_warnings[0]
        .1
        .starts_with("SRS_RTC_SERVER_ENCRYPT=off: accepted"));
    assert_eq!(env_warnings[1].0, "vhost.play.mw_latency");
}

#[test]
fn unknown_directives_still_warn_and_bad_values_still_fail() {
    let l = parse("vhost __defaultVhost__ {\n  play {\n    mw_latncy 100;\n  }\n}\n");
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(
        l.warnings[0].to_string(),
        "t.conf:3: directive \"vhost.play.mw_latncy\": unknown directive; ignored"
    );
    let e = Config::parse_str(
        "vhost __defaultVhost__ {\n  play {\n    mw_latency soon;\n  }\n}\n",
        "x.conf",
        &MapEnv::new(),
    )
    .expect_err("bad value");
    assert_eq!(
        e.to_string(),
        "x.conf:3: directive \"vhost.play.mw_latency\": invalid number \"soon\""
    );
}

// ------------------------------------------------------- shipped configs

/// The warnings of the shipped WebRTC configurations: SRS's files write
/// `stats { network 0; }`, which shardsfu does not report.
const KNOWN_IN_RTC_CONFS: &[&str] = &["stats.network"];

fn directives(l: &Loaded) -> Vec<&str> {
    l.warnings.iter().map(|w| w.directive.as_str()).collect()
}

#[test]
fn shipped_configs_warn_only_as_known() {
    for name in ["rtc.conf", "rtmp2rtc.conf", "rtc2rtmp.conf"] {
        let l = Config::load(&repo(&format!("configs/{name}")), &MapEnv::new())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(directives(&l), KNOWN_IN_RTC_CONFS, "{name}");
        assert_eq!(
            l.warnings[0].file,
            repo(&format!("configs/{name}")).display().to_string()
        );
    }
    let l = Config::embedded_default(&MapEnv::new()).expect("embedded");
    assert_eq!(directives(&l), KNOWN_IN_RTC_CONFS);
    assert_eq!(
        l.warnings[0].to_string(),
        "configs/rtc.conf (embedded):20: directive \"stats.network\": accepted for SRS \
         compatibility but has no effect in shardsfu: the API reports no network or disk \
         device statistics"
    );
    // full.conf writes every directive at its default: only rows without a
    // matching default warn, and its named vhost.
    let l = Config::load(&repo("configs/full.conf"), &MapEnv::new()).expect("full.conf");
    for w in &l.warnings {
        assert!(
            no_effect(&w.directive).is_some() || w.directive == "vhost",
            "unexpected warning {w}"
        );
    }
    assert!(directives(&l).contains(&"vhost.play.mw_latency"));
}

#[test]
fn docs_list_every_directive_without_effect() {
    let docs = std::fs::read_to_string(repo("docs/configuration.md")).expect("docs");
    let start = docs
        .find("### Accepted without effect")
        .expect("docs/configuration.md has the section");
    let section = &docs[start..];
    let end = section[4..].find("\n## ").map_or(section.len(), |i| i + 4);
    let section = &section[..end];
    let listed: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let rows: BTreeSet<&str> = NO_EFFECT.iter().map(|n| n.path).collect();
    assert_eq!(
        listed, rows,
        "docs/configuration.md's list differs from NO_EFFECT"
    );
}

// ------------------------------------------------------------ named vhosts

#[test]
fn vhost_for_resolves_as_srs() {
    let l = parse(
        "vhost __defaultVhost__ { tcp_nodelay on; }\n\
         vhost a.com { rtc { enabled on; } }\n\
         vhost off.com { enabled off; }\n",
    );
    let c = &l.config;
    assert!(c.default_vhost_configured);
    assert_eq!(c.vhost_for("a.com").map(|v| v.name.as_str()), Ok("a.com"));
    assert!(c.vhost_for("a.com").is_ok_and(|v| v.rtc.enabled));
    // An unknown name, or one in another case, falls back to the default.
    for name in ["nope.com", "A.COM", "", DEFAULT_VHOST] {
        let v = c.vhost_for(name).expect(name);
        assert_eq!(v.name, DEFAULT_VHOST, "{name}");
        assert!(v.tcp_nodelay);
    }
    // A disabled vhost refuses its requests; it does not fall back.
    assert_eq!(
        c.vhost_for("off.com"),
        Err(VhostError::Disabled {
            name: "off.com".into(),
            vhost: "off.com".into()
        })
    );
}

#[test]
fn vhost_for_without_a_configured_default() {
    // As SRS: no `vhost __defaultVhost__` means only named vhosts serve.
    let l = parse("vhost a.com { }\n");
    let c = &l.config;
    assert!(!c.default_vhost_configured);
    assert!(c.vhost_for("a.com").is_ok());
    for name in ["b.com", DEFAULT_VHOST] {
        let e = c.vhost_for(name).expect_err(name);
        assert_eq!(e, VhostError::NotFound { name: name.into() });
        assert_eq!(
            e.to_string(),
            format!("no vhost \"{name}\" and no __defaultVhost__ configured")
        );
    }
    assert!(Config::default().vhost_for("x").is_err());
    // A disabled default refuses the requests it would serve.
    let l = parse("vhost __defaultVhost__ { enabled off; }\nvhost a.com { }\n");
    assert!(l.config.vhost_for("a.com").is_ok());
    assert_eq!(
        l.config.vhost_for("b.com"),
        Err(VhostError::Disabled {
            name: "b.com".into(),
            vhost: DEFAULT_VHOST.into()
        })
    );
}

#[test]
fn named_vhosts_parse_like_the_default_one() {
    // The vhost body of NON_DEFAULT (every vhost directive, non-default),
    // written for a named vhost and for the default one.
    let body = super::tests::NON_DEFAULT
        .split_once("vhost v.com {")
        .expect("NON_DEFAULT has vhost v.com")
        .1;
    let named = parse(&format!("vhost v.com {{{body}"));
    let default = parse(&format!("vhost {DEFAULT_VHOST} {{{body}"));
    let mut v = named.config.vhosts["v.com"].clone();
    v.name = DEFAULT_VHOST.into();
    assert_eq!(&v, &default.config.vhosts[DEFAULT_VHOST]);
    assert_ne!(v, VhostConfig::new(DEFAULT_VHOST));
    // The same warnings, plus the one about the named vhost itself.
    assert_eq!(named.warnings.len(), default.warnings.len() + 1);
}

#[test]
fn named_vhosts_warn_while_requests_do_not_choose_them() {
    let l = parse("\nvhost a.com {\n  rtc { enabled on; }\n}\nvhost __defaultVhost__ { }\n");
    if NAMED_VHOSTS_SELECTED {
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        return;
    }
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(
        l.warnings[0].to_string(),
        "t.conf:2: directive \"vhost\": vhost \"a.com\": WebRTC requests for it (WHIP/WHEP, \
         /rtc/v1/*) use its settings, but RTMP, HTTP-FLV and HLS are served with \
         __defaultVhost__'s settings"
    );
}
