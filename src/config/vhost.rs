//! The typed settings of one `vhost NAME { }`. Defaults are SRS's.

use std::time::Duration;

use super::model::keyword_enum;

/// The name of the vhost used when a request names no known vhost.
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

keyword_enum! {
    /// DTLS role when the peer offers `actpass` (`vhost.rtc.dtls_role`).
    DtlsRole {
        /// We are the DTLS server: SRS's default.
        Passive = "passive",
        /// We are the DTLS client.
        Active = "active",
    }
}

keyword_enum! {
    /// DTLS version (`vhost.rtc.dtls_version`).
    DtlsVersion {
        /// Negotiate: SRS's default.
        Auto = "auto",
        /// DTLS 1.0 only.
        Dtls1_0 = "dtls1.0",
        /// DTLS 1.2 only.
        Dtls1_2 = "dtls1.2",
    }
}

keyword_enum! {
    /// Timestamp correction for RTMP players (`vhost.play.time_jitter`).
    TimeJitter {
        /// Start at zero and keep timestamps monotonic: SRS's default.
        Full = "full",
        /// Start at zero only.
        Zero = "zero",
        /// No correction.
        Off = "off",
    }
}

keyword_enum! {
    /// What HLS does on an error (`vhost.hls.hls_on_error`).
    HlsOnError {
        /// Disable HLS for the stream, keep publishing.
        Ignore = "ignore",
        /// Disconnect the publisher.
        Disconnect = "disconnect",
        /// Ignore the error and go on: SRS's default.
        Continue = "continue",
    }
}

/// `vhost { rtc { } }`: WebRTC for this vhost.
#[derive(Debug, Clone, PartialEq)]
pub struct RtcVhostConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `nack`: answer and send NACKs. Default on.
    pub nack: bool,
    /// `nack_no_copy`. Default on.
    pub nack_no_copy: bool,
    /// `twcc`. Default on.
    pub twcc: bool,
    /// `stun_timeout`: session timeout without STUN (whole seconds). Default 30 s.
    pub stun_timeout: Duration,
    /// `stun_strict_check`. Default off.
    pub stun_strict_check: bool,
    /// `dtls_role`. Default passive.
    pub dtls_role: DtlsRole,
    /// `dtls_version`. Default auto.
    pub dtls_version: DtlsVersion,
    /// `drop_for_pt`: drop RTP of this payload type; 0 drops nothing. Default 0.
    pub drop_for_pt: u8,
    /// `rtmp_to_rtc`. Default off.
    pub rtmp_to_rtc: bool,
    /// `keep_bframe`. Default off.
    pub keep_bframe: bool,
    /// `keep_avc_nalu_sei`. Default on.
    pub keep_avc_nalu_sei: bool,
    /// `opus_bitrate` for RTMP to RTC, in [8000, 320000] (SRS resets other
    /// values to the default). Default 48000.
    pub opus_bitrate: u32,
    /// `rtc_to_rtmp`. Default off.
    pub rtc_to_rtmp: bool,
    /// `pli_for_rtmp`: PLI interval for RTC to RTMP, in [0.5, 30] s (SRS
    /// resets other values to the default). Default 6 s.
    pub pli_for_rtmp: Duration,
    /// `aac_bitrate` for RTC to RTMP, in [8000, 320000]. Default 48000.
    pub aac_bitrate: u32,
    /// `init_rate_from_sdp`. Default off.
    pub init_rate_from_sdp: bool,
    /// `keep_original_ssrc`. Default off.
    pub keep_original_ssrc: bool,
    /// `bearer_token` (shardsfu's; SRS has none): when set, WHIP/WHEP and
    /// the legacy API need `Authorization: Bearer <one of these>`
    /// (RFC 9725 §4.5), and so do the session's `PATCH`, `GET` and
    /// `DELETE`. Default none (no authentication).
    pub bearer_token: Vec<String>,
}

/// `vhost { play { } }`: players (RTMP, HTTP-FLV and the RTMP side of RTC).
#[derive(Debug, Clone, PartialEq)]
pub struct PlayConfig {
    /// `gop_cache`. Default on.
    pub gop_cache: bool,
    /// `gop_cache_max_frames`. Default 2500.
    pub gop_cache_max_frames: u32,
    /// `queue_length` (whole seconds). Default 30 s.
    pub queue_length: Duration,
    /// `time_jitter`. Default full.
    pub time_jitter: TimeJitter,
    /// `atc`. Default off.
    pub atc: bool,
    /// `atc_auto`. Default off.
    pub atc_auto: bool,
    /// `mix_correct`. Default off.
    pub mix_correct: bool,
    /// `mw_latency` (ms). Default unset: 350 ms for RTMP, 0 for RTC.
    pub mw_latency: Option<Duration>,
    /// `mw_msgs`. Default unset: 8 for RTMP, 0 when `min_latency`.
    pub mw_msgs: Option<u32>,
    /// `send_min_interval` (ms, fractional). Default 0.
    pub send_min_interval: Duration,
    /// `reduce_sequence_header`. Default off.
    pub reduce_sequence_header: bool,
}

/// `vhost { publish { } }`: publishers.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishConfig {
    /// `mr`: merged read. Default off.
    pub mr: bool,
    /// `mr_latency` (ms). Default 350 ms.
    pub mr_latency: Duration,
    /// `firstpkt_timeout` (ms). Default 20000 ms.
    pub firstpkt_timeout: Duration,
    /// `normal_timeout` (ms). Default 5000 ms.
    pub normal_timeout: Duration,
    /// `parse_sps`. Default on.
    pub parse_sps: bool,
    /// `try_annexb_first`. Default on.
    pub try_annexb_first: bool,
    /// `kickoff_for_idle` (seconds, fractional); 0 never kicks. Default 0.
    pub kickoff_for_idle: Duration,
}

/// `vhost { http_remux { } }`: HTTP-FLV (and TS/AAC/MP3) live streaming.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRemuxConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `mount`: URL template. Default `[vhost]/[app]/[stream].flv`.
    pub mount: String,
    /// `fast_cache` (seconds, fractional). Default 0.
    pub fast_cache: Duration,
    /// `drop_if_not_match`. Default on.
    pub drop_if_not_match: bool,
    /// `has_audio`. Default on.
    pub has_audio: bool,
    /// `has_video`. Default on.
    pub has_video: bool,
    /// `guess_has_av`. Default on.
    pub guess_has_av: bool,
}

/// `vhost { hls { } }`: HLS output.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `hls_fragment` (seconds, fractional). Default 10 s.
    pub hls_fragment: Duration,
    /// `hls_td_ratio`. Default 1.0.
    pub hls_td_ratio: f64,
    /// `hls_aof_ratio`. Default 2.1.
    pub hls_aof_ratio: f64,
    /// `hls_window` (seconds, fractional). Default 60 s.
    pub hls_window: Duration,
    /// `hls_on_error`. Default continue.
    pub hls_on_error: HlsOnError,
    /// `hls_path`. Default `./objs/nginx/html`.
    pub hls_path: String,
    /// `hls_m3u8_file`. Default `[app]/[stream].m3u8`.
    pub hls_m3u8_file: String,
    /// `hls_ts_file`. Default `[app]/[stream]-[seq].ts`.
    pub hls_ts_file: String,
    /// `hls_ts_floor`. Default off.
    pub hls_ts_floor: bool,
    /// `hls_entry_prefix`. Default empty.
    pub hls_entry_prefix: String,
    /// `hls_cleanup`. Default on.
    pub hls_cleanup: bool,
    /// `hls_dispose` (whole seconds). Default 120 s.
    pub hls_dispose: Duration,
    /// `hls_wait_keyframe`. Default on.
    pub hls_wait_keyframe: bool,
    /// `hls_nb_notify`. Default 64.
    pub hls_nb_notify: u32,
    /// `hls_dts_directly`. Default on.
    pub hls_dts_directly: bool,
    /// `hls_use_fmp4`. Default off.
    pub hls_use_fmp4: bool,
    /// `hls_fmp4_file`. Default `[app]/[stream]-[seq].m4s`.
    pub hls_fmp4_file: String,
    /// `hls_init_file`. Default `[app]/[stream]/init.mp4`.
    pub hls_init_file: String,
    /// `hls_ctx`. Default on.
    pub hls_ctx: bool,
    /// `hls_ts_ctx`. Default on.
    pub hls_ts_ctx: bool,
    /// `hls_recover`. Default on.
    pub hls_recover: bool,
}

/// `vhost { http_hooks { } }`: HTTP callbacks (each `on_*` takes URLs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpHooksConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `on_connect`.
    pub on_connect: Vec<String>,
    /// `on_close`.
    pub on_close: Vec<String>,
    /// `on_publish`.
    pub on_publish: Vec<String>,
    /// `on_unpublish`.
    pub on_unpublish: Vec<String>,
    /// `on_play`.
    pub on_play: Vec<String>,
    /// `on_stop`.
    pub on_stop: Vec<String>,
    /// `on_dvr`.
    pub on_dvr: Vec<String>,
    /// `on_hls`.
    pub on_hls: Vec<String>,
    /// `on_hls_notify`.
    pub on_hls_notify: Vec<String>,
}

/// One `vhost NAME { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VhostConfig {
    /// The vhost's name (`__defaultVhost__` for the default one).
    pub name: String,
    /// `enabled`. Default on.
    pub enabled: bool,
    /// `min_latency`. Default unset: on for RTC, off for RTMP.
    pub min_latency: Option<bool>,
    /// `tcp_nodelay`. Default off.
    pub tcp_nodelay: bool,
    /// `chunk_size`. Default unset: the global `chunk_size`.
    pub chunk_size: Option<u32>,
    /// `in_ack_size`; 0 sends none. Default 0.
    pub in_ack_size: u32,
    /// `out_ack_size`. Default 2500000.
    pub out_ack_size: u32,
    /// `rtc { }`.
    pub rtc: RtcVhostConfig,
    /// `play { }`.
    pub play: PlayConfig,
    /// `publish { }`.
    pub publish: PublishConfig,
    /// `http_remux { }`.
    pub http_remux: HttpRemuxConfig,
    /// `hls { }`.
    pub hls: HlsConfig,
    /// `http_hooks { }`.
    pub http_hooks: HttpHooksConfig,
    /// `dvr { }`.
    pub dvr: super::dvr::DvrConfig,
}

impl Default for RtcVhostConfig {
    fn default() -> Self {
        RtcVhostConfig {
            enabled: false,
            nack: true,
            nack_no_copy: true,
            twcc: true,
            stun_timeout: Duration::from_secs(30),
            stun_strict_check: false,
            dtls_role: DtlsRole::Passive,
            dtls_version: DtlsVersion::Auto,
            drop_for_pt: 0,
            rtmp_to_rtc: false,
            keep_bframe: false,
            keep_avc_nalu_sei: true,
            opus_bitrate: 48000,
            rtc_to_rtmp: false,
            pli_for_rtmp: Duration::from_secs(6),
            aac_bitrate: 48000,
            init_rate_from_sdp: false,
            keep_original_ssrc: false,
            bearer_token: Vec::new(),
        }
    }
}

impl Default for PlayConfig {
    fn default() -> Self {
        PlayConfig {
            gop_cache: true,
            gop_cache_max_frames: 2500,
            queue_length: Duration::from_secs(30),
            time_jitter: TimeJitter::Full,
            atc: false,
            atc_auto: false,
            mix_correct: false,
            mw_latency: None,
            mw_msgs: None,
            send_min_interval: Duration::ZERO,
            reduce_sequence_header: false,
        }
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            mr: false,
            mr_latency: Duration::from_millis(350),
            firstpkt_timeout: Duration::from_millis(20_000),
            normal_timeout: Duration::from_millis(5_000),
            parse_sps: true,
            try_annexb_first: true,
            kickoff_for_idle: Duration::ZERO,
        }
    }
}

impl Default for HttpRemuxConfig {
    fn default() -> Self {
        HttpRemuxConfig {
            enabled: false,
            mount: "[vhost]/[app]/[stream].flv".into(),
            fast_cache: Duration::ZERO,
            drop_if_not_match: true,
            has_audio: true,
            has_video: true,
            guess_has_av: true,
        }
    }
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig {
            enabled: false,
            hls_fragment: Duration::from_secs(10),
            hls_td_ratio: 1.0,
            hls_aof_ratio: 2.1,
            hls_window: Duration::from_secs(60),
            hls_on_error: HlsOnError::Continue,
            hls_path: "./objs/nginx/html".into(),
            hls_m3u8_file: "[app]/[stream].m3u8".into(),
            hls_ts_file: "[app]/[stream]-[seq].ts".into(),
            hls_ts_floor: false,
            hls_entry_prefix: String::new(),
            hls_cleanup: true,
            hls_dispose: Duration::from_secs(120),
            hls_wait_keyframe: true,
            hls_nb_notify: 64,
            hls_dts_directly: true,
            hls_use_fmp4: false,
            hls_fmp4_file: "[app]/[stream]-[seq].m4s".into(),
            hls_init_file: "[app]/[stream]/init.mp4".into(),
            hls_ctx: true,
            hls_ts_ctx: true,
            hls_recover: true,
        }
    }
}

impl VhostConfig {
    /// A vhost named `name` with SRS's defaults.
    pub fn new(name: &str) -> Self {
        VhostConfig {
            name: name.to_string(),
            enabled: true,
            min_latency: None,
            tcp_nodelay: false,
            chunk_size: None,
            in_ack_size: 0,
            out_ack_size: 2_500_000,
            rtc: RtcVhostConfig::default(),
            play: PlayConfig::default(),
            publish: PublishConfig::default(),
            http_remux: HttpRemuxConfig::default(),
            hls: HlsConfig::default(),
            http_hooks: HttpHooksConfig::default(),
            dvr: super::dvr::DvrConfig::default(),
        }
    }
}
