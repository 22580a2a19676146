//! Directives shardsfu accepts for SRS compatibility but does not act on.
//!
//! An SRS configuration must load unchanged, so these directives are parsed
//! (bad values are still errors) and kept in the model; but a setting that
//! silently does nothing lies to its user. Each one written with a value
//! other than what shardsfu does anyway gives a warning at its line, from the
//! file or the environment.
//!
//! [`NO_EFFECT`] is the one list to maintain: when a directive starts being
//! honoured, remove its row (a test checks that `docs/configuration.md`
//! shows every row, so update the docs' list too).
//! How it was made: for each directive the model accepts, the field's uses
//! outside `src/config/` were searched; no use means no effect.

use super::values::parse_bool;
use super::vhost::DEFAULT_VHOST;

/// One directive accepted without effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEffect {
    /// The dotted path, e.g. `vhost.play.mw_latency` (any vhost).
    pub path: &'static str,
    /// Values that say what shardsfu does anyway (`daemon off`): no warning
    /// for them. `on`/`off` also match `true`/`false`.
    pub matching: &'static [&'static str],
    /// What shardsfu does instead.
    pub reason: &'static str,
}

/// Whether the request path chooses a vhost by name yet. While it does
/// not, every request uses `__defaultVhost__`, and each other vhost is
/// warned about at its line. Set it to `true` when requests go through
/// [`Config::vhost_for`](super::Config::vhost_for) (and remove the
/// `vhost.enabled` row of [`NO_EFFECT`]).
pub const NAMED_VHOSTS_SELECTED: bool = false;

const fn row(
    path: &'static str,
    matching: &'static [&'static str],
    reason: &'static str,
) -> NoEffect {
    NoEffect {
        path,
        matching,
        reason,
    }
}

const NO_PERIODIC: &str = "shardsfu prints no periodic status logs";
const GRACE: &str = "SIGTERM and SIGQUIT always drain: new clients are refused at once, \
     existing ones get up to grace_final_wait (see docs/operations.md)";
const CORS: &str = "CORS headers are always sent";
const NO_BLACK_HOLE: &str = "no plaintext RTP copy is made";
const NO_DEVICE_STATS: &str = "the API reports no network or disk device statistics";
const OLD_PLAY: &str = "the SRS 1/2 spelling of a play { } directive that has no effect";
const NO_MERGE: &str = "each packet is sent as it arrives (no merged writes)";
const NO_TIMESTAMP_FIX: &str = "RTMP and HTTP-FLV timestamps are passed through unchanged";
const NO_MERGED_READ: &str = "RTMP input is read as it arrives (no merged reads)";
const FLV_AS_IS: &str = "HTTP-FLV sends what the publisher sends, audio and video";
const FLV_MOUNT: &str =
    "HTTP-FLV is served at /APP/STREAM.flv whatever the mount; one not ending in .flv turns it off";
const HLS_IN_MEMORY: &str = "HLS is kept in memory and served at /APP/STREAM.m3u8";
const HLS_FIXED: &str = "HLS segments are cut at keyframes in MPEG-TS, without this option";
const HOOK_NOT_CALLED: &str =
    "this hook is never called (shardsfu calls on_publish, on_play, on_unpublish, on_stop, on_dvr)";

/// Every directive accepted without effect, in `configs/full.conf` order.
pub static NO_EFFECT: &[NoEffect] = &[
    row(
        "daemon",
        &["off"],
        "shardsfu never daemonizes; run it under systemd or a container",
    ),
    row("pid", &[], "shardsfu writes no pid file"),
    row("srs_log_tank", &["console"], "shardsfu logs to stderr"),
    row(
        "srs_log_file",
        &[],
        "shardsfu writes no log file; it logs to stderr",
    ),
    row(
        "server_id",
        &[],
        "the API reports a random id made at start",
    ),
    row("utc_time", &["on"], "log times are always UTC"),
    row("pithy_print_ms", &[], NO_PERIODIC),
    row(
        "work_dir",
        &["./", "."],
        "shardsfu does not change directory",
    ),
    row(
        "asprocess",
        &["off"],
        "shardsfu does not watch its parent process",
    ),
    row("empty_ip_ok", &["on"], "shardsfu does not check peers' IPs"),
    row("grace_start_wait", &[], GRACE),
    row("force_grace_quit", &["on"], GRACE),
    row("http_server.crossdomain", &["on"], CORS),
    row("http_api.crossdomain", &["on"], CORS),
    row("stats.enabled", &[], NO_DEVICE_STATS),
    row("stats.network", &[], NO_DEVICE_STATS),
    row("stats.disk", &[], NO_DEVICE_STATS),
    row(
        "rtc_server.ecdsa",
        &["on"],
        "the DTLS certificate is always ECDSA P-256",
    ),
    row(
        "rtc_server.encrypt",
        &["on"],
        "media is always encrypted with SRTP",
    ),
    row(
        "rtc_server.reuseport",
        &[],
        "each shard binds its own socket per endpoint (see workers)",
    ),
    row("rtc_server.merge_nalus", &["off"], "NALUs are never merged"),
    row("rtc_server.black_hole.enabled", &["off"], NO_BLACK_HOLE),
    row("rtc_server.black_hole.addr", &[], NO_BLACK_HOLE),
    row(
        "vhost.enabled",
        &["on"],
        "WebRTC requests honour it; RTMP, HTTP-FLV and HLS do not check it yet",
    ),
    row("vhost.min_latency", &[], NO_MERGE),
    row(
        "vhost.tcp_nodelay",
        &["on"],
        "TCP_NODELAY is always set on RTMP connections",
    ),
    row(
        "vhost.in_ack_size",
        &["0"],
        "RTMP acknowledgements follow the peer's window size",
    ),
    row(
        "vhost.out_ack_size",
        &["2500000"],
        "the RTMP window announced is always 2500000",
    ),
    row("vhost.queue_length", &[], OLD_PLAY),
    row("vhost.time_jitter", &[], OLD_PLAY),
    row("vhost.mw_latency", &[], OLD_PLAY),
    row("vhost.atc", &[], OLD_PLAY),
    row("vhost.mix_correct", &[], OLD_PLAY),
    row(
        "vhost.rtc.nack_no_copy",
        &[],
        "retransmissions always share the stored packet",
    ),
    row(
        "vhost.rtc.stun_strict_check",
        &[],
        "STUN checks are always verified the same way",
    ),
    row(
        "vhost.rtc.dtls_version",
        &[],
        "the DTLS library negotiates the version itself",
    ),
    row(
        "vhost.rtc.drop_for_pt",
        &["0"],
        "no payload type is dropped",
    ),
    row(
        "vhost.rtc.keep_avc_nalu_sei",
        &["on"],
        "SEI NALUs are always kept",
    ),
    row("vhost.rtc.init_rate_from_sdp", &[], "not implemented"),
    row("vhost.rtc.keep_original_ssrc", &[], "not implemented"),
    row(
        "vhost.play.gop_cache_max_frames",
        &[],
        "the GOP cache holds one whole GOP",
    ),
    row(
        "vhost.play.queue_length",
        &[],
        "players' queues have a fixed size",
    ),
    row("vhost.play.time_jitter", &[], NO_TIMESTAMP_FIX),
    row("vhost.play.atc", &[], NO_TIMESTAMP_FIX),
    row("vhost.play.atc_auto", &[], NO_TIMESTAMP_FIX),
    row("vhost.play.mix_correct", &[], NO_TIMESTAMP_FIX),
    row("vhost.play.mw_latency", &[], NO_MERGE),
    row("vhost.play.mw_msgs", &[], NO_MERGE),
    row("vhost.play.send_min_interval", &[], NO_MERGE),
    row("vhost.play.reduce_sequence_header", &[], "not implemented"),
    row("vhost.publish.mr", &[], NO_MERGED_READ),
    row("vhost.publish.mr_latency", &[], NO_MERGED_READ),
    row("vhost.publish.parse_sps", &[], "not implemented"),
    row("vhost.publish.try_annexb_first", &[], "not implemented"),
    row(
        "vhost.publish.kickoff_for_idle",
        &[],
        "idle publishers are not kicked off",
    ),
    row(
        "vhost.http_remux.mount",
        &["[vhost]/[app]/[stream].flv", "[app]/[stream].flv"],
        FLV_MOUNT,
    ),
    row(
        "vhost.http_remux.fast_cache",
        &[],
        "HTTP-FLV players start at the GOP cache",
    ),
    row("vhost.http_remux.drop_if_not_match", &[], FLV_AS_IS),
    row("vhost.http_remux.has_audio", &[], FLV_AS_IS),
    row("vhost.http_remux.has_video", &[], FLV_AS_IS),
    row("vhost.http_remux.guess_has_av", &[], FLV_AS_IS),
    row("vhost.hls.hls_aof_ratio", &[], HLS_FIXED),
    row(
        "vhost.hls.hls_on_error",
        &[],
        "HLS errors skip the tag and go on",
    ),
    row("vhost.hls.hls_path", &[], HLS_IN_MEMORY),
    row(
        "vhost.hls.hls_m3u8_file",
        &["[app]/[stream].m3u8"],
        HLS_IN_MEMORY,
    ),
    row(
        "vhost.hls.hls_ts_file",
        &["[app]/[stream]-[seq].ts"],
        "HLS is kept in memory and its segments served at /APP/STREAM-SEQ.ts",
    ),
    row("vhost.hls.hls_ts_floor", &[], HLS_FIXED),
    row(
        "vhost.hls.hls_entry_prefix",
        &[],
        "playlists name segments relative to themselves",
    ),
    row("vhost.hls.hls_cleanup", &[], HLS_IN_MEMORY),
    row("vhost.hls.hls_wait_keyframe", &[], HLS_FIXED),
    row(
        "vhost.hls.hls_nb_notify",
        &[],
        "on_hls_notify is never called",
    ),
    row("vhost.hls.hls_dts_directly", &[], HLS_FIXED),
    row(
        "vhost.hls.hls_use_fmp4",
        &["off"],
        "HLS segments are always MPEG-TS",
    ),
    row(
        "vhost.hls.hls_fmp4_file",
        &[],
        "HLS segments are always MPEG-TS",
    ),
    row(
        "vhost.hls.hls_init_file",
        &[],
        "HLS segments are always MPEG-TS",
    ),
    row("vhost.hls.hls_ctx", &[], HLS_FIXED),
    row("vhost.hls.hls_ts_ctx", &[], HLS_FIXED),
    row("vhost.hls.hls_recover", &[], HLS_FIXED),
    row("vhost.http_hooks.on_connect", &[], HOOK_NOT_CALLED),
    row("vhost.http_hooks.on_close", &[], HOOK_NOT_CALLED),
    row("vhost.http_hooks.on_hls", &[], HOOK_NOT_CALLED),
    row("vhost.http_hooks.on_hls_notify", &[], HOOK_NOT_CALLED),
];

impl NoEffect {
    /// Whether `args` (as written) say what shardsfu does anyway.
    pub fn matches(&self, args: &[String]) -> bool {
        let value = args.join(" ");
        self.matching
            .iter()
            .any(|m| match (parse_bool(m), parse_bool(&value)) {
                (Ok(want), Ok(got)) => want == got,
                _ => *m == value,
            })
    }

    /// The warning's message (the warning names the directive).
    pub fn message(&self) -> String {
        format!(
            "accepted for SRS compatibility but has no effect in shardsfu: {}",
            self.reason
        )
    }
}

/// The row of `path` (e.g. `vhost.play.mw_latency`), if that directive is
/// accepted without effect.
pub fn no_effect(path: &str) -> Option<&'static NoEffect> {
    NO_EFFECT.iter().find(|n| n.path == path)
}

/// The warning for `path` written with `args`: `None` when the directive
/// has an effect, its value is empty (the default is kept) or the value is
/// what shardsfu does anyway.
pub(crate) fn check(path: &str, args: &[String]) -> Option<String> {
    let row = no_effect(path)?;
    if args.iter().all(String::is_empty) || row.matches(args) {
        return None;
    }
    Some(row.message())
}

/// The warning for `vhost NAME { }` while requests do not choose vhosts.
pub(crate) fn named_vhost(name: &str) -> Option<String> {
    (!NAMED_VHOSTS_SELECTED && name != DEFAULT_VHOST).then(|| {
        format!(
            "vhost \"{name}\": WebRTC requests for it (WHIP/WHEP, /rtc/v1/*) use its settings, \
             but RTMP, HTTP-FLV and HLS are served with {DEFAULT_VHOST}'s settings"
        )
    })
}
