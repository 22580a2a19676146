//! The tables of settings: for each section, each directive's name, whether
//! an `SRS_*` environment variable overrides it, and how its value is parsed
//! into the model. The file and the environment go through the same code.

use std::time::Duration;

use super::model::{
    BlackHoleConfig, Config, ExporterConfig, HttpApiAuthConfig, HttpApiConfig, HttpServerConfig,
    HttpsConfig, IpFamily, LogFormat, LogLevel, LogTank, RtcProtocol, RtcServerConfig,
    RtcTcpConfig, StatsConfig,
};
use super::values::{
    bearer_token, checked_words, ice_server_uri, parse_bool, parse_endpoint, parse_f64,
    parse_millis, parse_secs, parse_secs_f, parse_u32_in, set, set_candidates, set_listen, set_opt,
    set_string, set_words, Applied,
};
use super::vhost::{
    DtlsRole, DtlsVersion, HlsConfig, HlsOnError, HttpHooksConfig, HttpRemuxConfig, PlayConfig,
    PublishConfig, RtcVhostConfig, TimeJitter, VhostConfig,
};

/// One directive of a section.
pub(crate) struct Setting<T: 'static> {
    /// The directive's name.
    pub name: &'static str,
    /// Whether `SRS_<SECTION>_<NAME>` (upper case, dots as `_`) overrides it.
    pub env: bool,
    /// Further environment names, checked after the derived one.
    pub aliases: &'static [&'static str],
    /// Parses the arguments into the target; `Ok(Some(msg))` is a warning.
    pub apply: fn(&mut T, &[String]) -> Applied,
}

/// The environment variables that override `name` in section `path`.
pub(crate) fn env_names<T>(path: &str, s: &Setting<T>) -> Vec<String> {
    let mut out = Vec::new();
    if s.env {
        let full = if path.is_empty() {
            s.name.to_string()
        } else {
            format!("{path}.{}", s.name)
        };
        out.push(format!(
            "SRS_{}",
            full.replace('.', "_").to_ascii_uppercase()
        ));
    }
    out.extend(s.aliases.iter().map(|a| a.to_string()));
    out
}

macro_rules! s {
    ($name:literal, $f:expr) => {
        Setting {
            name: $name,
            env: true,
            aliases: &[],
            apply: $f,
        }
    };
    ($name:literal, noenv, $f:expr) => {
        Setting {
            name: $name,
            env: false,
            aliases: &[],
            apply: $f,
        }
    };
    ($name:literal, aliases $al:expr, $f:expr) => {
        Setting {
            name: $name,
            env: true,
            aliases: $al,
            apply: $f,
        }
    };
}

fn boolean(a: &[String], slot: &mut bool) -> Applied {
    set(a, slot, parse_bool)
}

fn u32_in(a: &[String], slot: &mut u32, min: u32, max: u32) -> Applied {
    set(a, slot, |v| parse_u32_in(v, min, max))
}

/// A bitrate SRS resets to 48000 outside [8000, 320000].
fn bitrate(a: &[String], slot: &mut u32) -> Applied {
    let mut v = *slot;
    set(a, &mut v, |s| parse_u32_in(s, 0, u32::MAX))?;
    if (8000..=320_000).contains(&v) {
        *slot = v;
        Ok(None)
    } else {
        *slot = 48000;
        Ok(Some(format!(
            "bitrate {v} outside [8000, 320000]; reset to 48000 as SRS does"
        )))
    }
}

fn deprecated(a: &[String], slot: &mut bool, now: &str, keep_if: &str) -> Applied {
    let mut v = String::new();
    set(a, &mut v, |s| Ok(s.to_string()))?;
    if !v.is_empty() {
        *slot = v == keep_if;
    }
    Ok(Some(format!(
        "deprecated; use {now} (taken as {})",
        if *slot { "on" } else { "off" }
    )))
}

fn moved(r: Applied, to: &str) -> Applied {
    r.map(|w| Some(w.unwrap_or_else(|| format!("deprecated here; use {to}"))))
}

/// Top-level directives (section path ``).
pub(crate) static ROOT: &[Setting<Config>] = &[
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("chunk_size", |c, a| u32_in(
        a,
        &mut c.chunk_size,
        128,
        65536
    )),
    s!("max_connections", |c, a| u32_in(
        a,
        &mut c.max_connections,
        1,
        10_000_000
    )),
    s!("max_connections_per_ip", |c, a| u32_in(
        a,
        &mut c.max_connections_per_ip,
        1,
        10_000_000
    )),
    s!("daemon", |c, a| boolean(a, &mut c.daemon)),
    s!("pid", |c, a| set_string(a, &mut c.pid)),
    s!("srs_log_tank", aliases & ["SRS_LOG_TANK"], |c, a| set(
        a,
        &mut c.srs_log_tank,
        LogTank::parse
    )),
    s!("srs_log_level", aliases & ["SRS_LOG_LEVEL"], |c, a| set(
        a,
        &mut c.srs_log_level,
        LogLevel::parse
    )),
    s!(
        "srs_log_level_v2",
        aliases & ["SRS_LOG_LEVEL_V2"],
        |c, a| set_opt(a, &mut c.srs_log_level_v2, LogLevel::parse)
    ),
    s!("srs_log_file", aliases & ["SRS_LOG_FILE"], |c, a| {
        set_string(a, &mut c.srs_log_file)
    }),
    s!("log_format", |c, a| set(
        a,
        &mut c.log_format,
        LogFormat::parse
    )),
    s!("workers", |c, a| set_opt(a, &mut c.workers, |v| {
        parse_u32_in(v, 1, 4096).map(|n| n as usize)
    })),
    s!("server_id", |c, a| set_opt(a, &mut c.server_id, |v| Ok(
        v.to_string()
    ))),
    s!("utc_time", |c, a| boolean(a, &mut c.utc_time)),
    s!("pithy_print_ms", |c, a| set(
        a,
        &mut c.pithy_print_ms,
        |v| parse_millis(v, 1, 86_400_000)
    )),
    s!("work_dir", |c, a| set_string(a, &mut c.work_dir)),
    s!("asprocess", |c, a| boolean(a, &mut c.asprocess)),
    s!("empty_ip_ok", |c, a| boolean(a, &mut c.empty_ip_ok)),
    s!("grace_start_wait", |c, a| set(
        a,
        &mut c.grace_start_wait,
        |v| parse_millis(v, 0, 3_600_000)
    )),
    s!("grace_final_wait", |c, a| set(
        a,
        &mut c.grace_final_wait,
        |v| parse_millis(v, 0, 3_600_000)
    )),
    s!("force_grace_quit", |c, a| boolean(
        a,
        &mut c.force_grace_quit
    )),
];

/// SRS 7's `rtmp { }`: the same fields as the top-level `listen`/`chunk_size`.
pub(crate) static RTMP: &[Setting<Config>] = &[
    s!("listen", noenv, |c, a| set_listen(a, &mut c.listen)),
    s!("chunk_size", noenv, |c, a| u32_in(
        a,
        &mut c.chunk_size,
        128,
        65536
    )),
];

/// Top-level SRS directives shardsfu does not implement (warned as such).
pub(crate) static ROOT_UNSUPPORTED: &[&str] = &[
    "rtmps",
    "srt_server",
    "stream_caster",
    "circuit_breaker",
    "heartbeat",
    "ff_log_dir",
    "ff_log_level",
    "in_docker",
    "disable_daemon_for_docker",
    "inotify_auto_reload",
    "auto_reload_for_docker",
    "tcmalloc_release_rate",
    "query_latest_version",
    "first_wait_for_qlv",
    "rtsp_server",
    "tencentcloud_cls",
    "tencentcloud_apm",
    "is_full",
    "threads",
    "hybrids",
];

/// `http_server { }`.
pub(crate) static HTTP_SERVER: &[Setting<HttpServerConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("dir", |c, a| set_string(a, &mut c.dir)),
    s!("crossdomain", |c, a| boolean(a, &mut c.crossdomain)),
];

/// `http_server { https { } }` and `http_api { https { } }`.
pub(crate) static HTTPS: &[Setting<HttpsConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("key", |c, a| set_string(a, &mut c.key)),
    s!("cert", |c, a| set_string(a, &mut c.cert)),
];

/// `http_api { }`.
pub(crate) static HTTP_API: &[Setting<HttpApiConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("crossdomain", |c, a| boolean(a, &mut c.crossdomain)),
];

/// `http_api` directives of SRS that shardsfu does not implement.
pub(crate) static HTTP_API_UNSUPPORTED: &[&str] = &["raw_api"];

/// `http_api { auth { } }`.
pub(crate) static HTTP_API_AUTH: &[Setting<HttpApiAuthConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("username", |c, a| set_string(a, &mut c.username)),
    s!("password", |c, a| set_string(a, &mut c.password)),
];

/// `rtc_server { }`. `candidate` is resolved separately (see `env.rs`).
pub(crate) static RTC_SERVER: &[Setting<RtcServerConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("protocol", |c, a| set(
        a,
        &mut c.protocol,
        RtcProtocol::parse
    )),
    s!("candidate", noenv, |c, a| set_candidates(
        a,
        &mut c.candidate
    )),
    s!("use_auto_detect_network_ip", |c, a| boolean(
        a,
        &mut c.use_auto_detect_network_ip
    )),
    s!("ip_family", |c, a| set(
        a,
        &mut c.ip_family,
        IpFamily::parse
    )),
    s!("api_as_candidates", |c, a| boolean(
        a,
        &mut c.api_as_candidates
    )),
    s!("resolve_api_domain", |c, a| boolean(
        a,
        &mut c.resolve_api_domain
    )),
    s!("keep_api_domain", |c, a| boolean(a, &mut c.keep_api_domain)),
    s!("first_check_timeout", |c, a| u32_in(
        a,
        &mut c.first_check_timeout,
        1,
        300
    )),
    s!("max_pending_per_ip", |c, a| u32_in(
        a,
        &mut c.max_pending_per_ip,
        1,
        1_000_000
    )),
    s!("signaling_rate_per_ip", |c, a| u32_in(
        a,
        &mut c.signaling_rate_per_ip,
        0,
        1_000_000
    )),
    s!("signaling_burst_per_ip", |c, a| u32_in(
        a,
        &mut c.signaling_burst_per_ip,
        1,
        1_000_000
    )),
    s!("max_queue_delay", |c, a| u32_in(
        a,
        &mut c.max_queue_delay,
        0,
        10_000
    )),
    s!("max_shard_load", |c, a| u32_in(
        a,
        &mut c.max_shard_load,
        0,
        100
    )),
    s!("ecdsa", |c, a| boolean(a, &mut c.ecdsa)),
    s!("encrypt", |c, a| boolean(a, &mut c.encrypt)),
    s!("reuseport", |c, a| u32_in(a, &mut c.reuseport, 1, 1024)),
    s!("merge_nalus", |c, a| boolean(a, &mut c.merge_nalus)),
    s!("ice_servers", |c, a| checked_words(
        a,
        &mut c.ice_servers,
        ice_server_uri
    )),
];

/// `rtc_server { tcp { } }`.
pub(crate) static RTC_TCP: &[Setting<RtcTcpConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
];

/// `rtc_server { black_hole { } }`.
pub(crate) static BLACK_HOLE: &[Setting<BlackHoleConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("addr", |c, a| set_opt(a, &mut c.addr, parse_endpoint)),
];

/// `stats { }` (SRS has no environment overrides for it).
pub(crate) static STATS: &[Setting<StatsConfig>] = &[
    s!("enabled", noenv, |c, a| boolean(a, &mut c.enabled)),
    s!("network", noenv, |c, a| u32_in(a, &mut c.network, 0, 1024)),
    s!("disk", noenv, |c, a| set_words(a, &mut c.disk)),
];

/// `exporter { }` (SRS 5+: `SRS_EXPORTER_*`).
pub(crate) static EXPORTER: &[Setting<ExporterConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("listen", |c, a| set_listen(a, &mut c.listen)),
    s!("label", |c, a| set_string(a, &mut c.label)),
    s!("tag", |c, a| set_string(a, &mut c.tag)),
];

/// `vhost NAME { }` (environment overrides apply to every vhost).
pub(crate) static VHOST: &[Setting<VhostConfig>] = &[
    s!("enabled", noenv, |c, a| boolean(a, &mut c.enabled)),
    s!("min_latency", |c, a| set_opt(
        a,
        &mut c.min_latency,
        parse_bool
    )),
    s!("tcp_nodelay", |c, a| boolean(a, &mut c.tcp_nodelay)),
    s!("chunk_size", |c, a| set_opt(a, &mut c.chunk_size, |v| {
        parse_u32_in(v, 128, 65536)
    })),
    s!("in_ack_size", |c, a| u32_in(
        a,
        &mut c.in_ack_size,
        0,
        u32::MAX
    )),
    s!("out_ack_size", |c, a| u32_in(
        a,
        &mut c.out_ack_size,
        0,
        u32::MAX
    )),
    // SRS 1/2 spellings that SRS 3 moved into `play { }`.
    s!("gop_cache", noenv, |c, a| moved(
        boolean(a, &mut c.play.gop_cache),
        "play { gop_cache }"
    )),
    s!("queue_length", noenv, |c, a| moved(
        queue_length(a, &mut c.play.queue_length),
        "play { queue_length }"
    )),
    s!("time_jitter", noenv, |c, a| moved(
        set(a, &mut c.play.time_jitter, TimeJitter::parse),
        "play { time_jitter }"
    )),
    s!("mw_latency", noenv, |c, a| moved(
        mw_latency(a, &mut c.play.mw_latency),
        "play { mw_latency }"
    )),
    s!("atc", noenv, |c, a| moved(
        boolean(a, &mut c.play.atc),
        "play { atc }"
    )),
    s!("mix_correct", noenv, |c, a| moved(
        boolean(a, &mut c.play.mix_correct),
        "play { mix_correct }"
    )),
];

/// vhost-level SRS directives shardsfu does not implement.
pub(crate) static VHOST_UNSUPPORTED: &[&str] = &[
    "cluster",
    "forward",
    "hds",
    "dash",
    "exec",
    "transcode",
    "ingest",
    "refer",
    "security",
    "bandcheck",
    "srt",
    "rtsp",
    "http_static",
    "debug_srs_upnode",
    "mr",
];

fn queue_length(a: &[String], slot: &mut Duration) -> Applied {
    set(a, slot, |v| parse_secs(v, 0, 3600))
}

fn mw_latency(a: &[String], slot: &mut Option<Duration>) -> Applied {
    set_opt(a, slot, |v| parse_millis(v, 0, 60_000))
}

/// `vhost { rtc { } }`.
pub(crate) static RTC_VHOST: &[Setting<RtcVhostConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("nack", |c, a| boolean(a, &mut c.nack)),
    s!("nack_no_copy", |c, a| boolean(a, &mut c.nack_no_copy)),
    s!("twcc", |c, a| boolean(a, &mut c.twcc)),
    s!("stun_timeout", |c, a| set(a, &mut c.stun_timeout, |v| {
        parse_secs(v, 1, 86_400)
    })),
    s!("stun_strict_check", |c, a| boolean(
        a,
        &mut c.stun_strict_check
    )),
    s!("dtls_role", |c, a| set(
        a,
        &mut c.dtls_role,
        DtlsRole::parse
    )),
    s!("dtls_version", |c, a| set(
        a,
        &mut c.dtls_version,
        DtlsVersion::parse
    )),
    s!("drop_for_pt", |c, a| set(a, &mut c.drop_for_pt, |v| {
        parse_u32_in(v, 0, 127).map(|n| n as u8)
    })),
    s!("rtmp_to_rtc", |c, a| boolean(a, &mut c.rtmp_to_rtc)),
    s!("keep_bframe", |c, a| boolean(a, &mut c.keep_bframe)),
    s!("keep_avc_nalu_sei", |c, a| boolean(
        a,
        &mut c.keep_avc_nalu_sei
    )),
    s!("opus_bitrate", |c, a| bitrate(a, &mut c.opus_bitrate)),
    s!("rtc_to_rtmp", |c, a| boolean(a, &mut c.rtc_to_rtmp)),
    s!("pli_for_rtmp", |c, a| pli(a, &mut c.pli_for_rtmp)),
    s!("aac_bitrate", |c, a| bitrate(a, &mut c.aac_bitrate)),
    s!("init_rate_from_sdp", |c, a| boolean(
        a,
        &mut c.init_rate_from_sdp
    )),
    s!("keep_original_ssrc", |c, a| boolean(
        a,
        &mut c.keep_original_ssrc
    )),
    s!("bearer_token", |c, a| checked_words(
        a,
        &mut c.bearer_token,
        bearer_token
    )),
    // SRS 4 spellings, transformed by SRS into the ones above.
    s!("bframe", noenv, |c, a| deprecated(
        a,
        &mut c.keep_bframe,
        "keep_bframe",
        "keep"
    )),
    s!("aac", noenv, |c, a| deprecated(
        a,
        &mut c.rtmp_to_rtc,
        "rtmp_to_rtc",
        "transcode"
    )),
];

/// `pli_for_rtmp`: seconds in [0.5, 30]; SRS resets other values to 6 s.
fn pli(a: &[String], slot: &mut Duration) -> Applied {
    let mut v = *slot;
    set(a, &mut v, |s| parse_secs_f(s, f64::MAX))?;
    if (Duration::from_millis(500)..=Duration::from_secs(30)).contains(&v) {
        *slot = v;
        Ok(None)
    } else {
        *slot = Duration::from_secs(6);
        Ok(Some(format!(
            "{} s outside [0.5, 30]; reset to 6 s as SRS does",
            v.as_secs_f64()
        )))
    }
}

/// `vhost { play { } }`.
pub(crate) static PLAY: &[Setting<PlayConfig>] = &[
    s!("gop_cache", |c, a| boolean(a, &mut c.gop_cache)),
    s!("gop_cache_max_frames", |c, a| u32_in(
        a,
        &mut c.gop_cache_max_frames,
        0,
        u32::MAX
    )),
    s!("queue_length", |c, a| queue_length(a, &mut c.queue_length)),
    s!("time_jitter", |c, a| set(
        a,
        &mut c.time_jitter,
        TimeJitter::parse
    )),
    s!("atc", |c, a| boolean(a, &mut c.atc)),
    s!("atc_auto", |c, a| boolean(a, &mut c.atc_auto)),
    s!("mix_correct", |c, a| boolean(a, &mut c.mix_correct)),
    s!("mw_latency", |c, a| mw_latency(a, &mut c.mw_latency)),
    s!("mw_msgs", |c, a| set_opt(a, &mut c.mw_msgs, |v| {
        parse_u32_in(v, 0, 128)
    })),
    s!("send_min_interval", |c, a| set(
        a,
        &mut c.send_min_interval,
        |v| {
            let ms = parse_f64(v)?;
            Duration::try_from_secs_f64(ms / 1000.0)
                .map_err(|_| format!("invalid interval \"{v}\""))
        }
    )),
    s!("reduce_sequence_header", |c, a| boolean(
        a,
        &mut c.reduce_sequence_header
    )),
];

/// `vhost { publish { } }`.
pub(crate) static PUBLISH: &[Setting<PublishConfig>] = &[
    s!("mr", |c, a| boolean(a, &mut c.mr)),
    s!("mr_latency", |c, a| set(a, &mut c.mr_latency, |v| {
        parse_millis(v, 0, 60_000)
    })),
    s!("firstpkt_timeout", |c, a| set(
        a,
        &mut c.firstpkt_timeout,
        |v| parse_millis(v, 1, 3_600_000)
    )),
    s!("normal_timeout", |c, a| set(
        a,
        &mut c.normal_timeout,
        |v| parse_millis(v, 1, 3_600_000)
    )),
    s!("parse_sps", |c, a| boolean(a, &mut c.parse_sps)),
    s!("try_annexb_first", |c, a| boolean(
        a,
        &mut c.try_annexb_first
    )),
    s!("kickoff_for_idle", |c, a| set(
        a,
        &mut c.kickoff_for_idle,
        |v| parse_secs_f(v, 86_400.0)
    )),
];

/// `vhost { http_remux { } }`.
pub(crate) static HTTP_REMUX: &[Setting<HttpRemuxConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("mount", |c, a| set_string(a, &mut c.mount)),
    s!("fast_cache", |c, a| set(a, &mut c.fast_cache, |v| {
        parse_secs_f(v, 3600.0)
    })),
    s!("drop_if_not_match", |c, a| boolean(
        a,
        &mut c.drop_if_not_match
    )),
    s!("has_audio", |c, a| boolean(a, &mut c.has_audio)),
    s!("has_video", |c, a| boolean(a, &mut c.has_video)),
    s!("guess_has_av", |c, a| boolean(a, &mut c.guess_has_av)),
];

/// `vhost { hls { } }`.
pub(crate) static HLS: &[Setting<HlsConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("hls_fragment", |c, a| set(a, &mut c.hls_fragment, |v| {
        parse_secs_f(v, 3600.0)
    })),
    s!("hls_td_ratio", |c, a| set(
        a,
        &mut c.hls_td_ratio,
        parse_f64
    )),
    s!("hls_aof_ratio", |c, a| set(
        a,
        &mut c.hls_aof_ratio,
        parse_f64
    )),
    s!("hls_window", |c, a| set(a, &mut c.hls_window, |v| {
        parse_secs_f(v, 86_400.0)
    })),
    s!("hls_on_error", |c, a| set(
        a,
        &mut c.hls_on_error,
        HlsOnError::parse
    )),
    s!("hls_path", |c, a| set_string(a, &mut c.hls_path)),
    s!("hls_m3u8_file", |c, a| set_string(a, &mut c.hls_m3u8_file)),
    s!("hls_ts_file", |c, a| set_string(a, &mut c.hls_ts_file)),
    s!("hls_ts_floor", |c, a| boolean(a, &mut c.hls_ts_floor)),
    s!("hls_entry_prefix", |c, a| set_string(
        a,
        &mut c.hls_entry_prefix
    )),
    s!("hls_cleanup", |c, a| boolean(a, &mut c.hls_cleanup)),
    s!("hls_dispose", |c, a| set(a, &mut c.hls_dispose, |v| {
        parse_secs(v, 0, 86_400)
    })),
    s!("hls_wait_keyframe", |c, a| boolean(
        a,
        &mut c.hls_wait_keyframe
    )),
    s!("hls_nb_notify", |c, a| u32_in(
        a,
        &mut c.hls_nb_notify,
        0,
        1 << 20
    )),
    s!("hls_dts_directly", |c, a| boolean(
        a,
        &mut c.hls_dts_directly
    )),
    s!("hls_use_fmp4", |c, a| boolean(a, &mut c.hls_use_fmp4)),
    s!("hls_fmp4_file", |c, a| set_string(a, &mut c.hls_fmp4_file)),
    s!("hls_init_file", |c, a| set_string(a, &mut c.hls_init_file)),
    s!("hls_ctx", |c, a| boolean(a, &mut c.hls_ctx)),
    s!("hls_ts_ctx", |c, a| boolean(a, &mut c.hls_ts_ctx)),
    s!("hls_recover", |c, a| boolean(a, &mut c.hls_recover)),
];

/// hls directives of SRS that shardsfu does not implement.
pub(crate) static HLS_UNSUPPORTED: &[&str] = &[
    "hls_keys",
    "hls_fragments_per_key",
    "hls_key_file",
    "hls_key_file_path",
    "hls_key_url",
    "hls_acodec",
    "hls_vcodec",
    "hls_storage",
    "hls_mount",
];

/// `vhost { http_hooks { } }`.
pub(crate) static HTTP_HOOKS: &[Setting<HttpHooksConfig>] = &[
    s!("enabled", |c, a| boolean(a, &mut c.enabled)),
    s!("on_connect", |c, a| set_words(a, &mut c.on_connect)),
    s!("on_close", |c, a| set_words(a, &mut c.on_close)),
    s!("on_publish", |c, a| set_words(a, &mut c.on_publish)),
    s!("on_unpublish", |c, a| set_words(a, &mut c.on_unpublish)),
    s!("on_play", |c, a| set_words(a, &mut c.on_play)),
    s!("on_stop", |c, a| set_words(a, &mut c.on_stop)),
    s!("on_dvr", |c, a| set_words(a, &mut c.on_dvr)),
    s!("on_hls", |c, a| set_words(a, &mut c.on_hls)),
    s!("on_hls_notify", |c, a| set_words(a, &mut c.on_hls_notify)),
];
