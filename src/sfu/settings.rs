//! What the SFU needs to know of the configuration, handed in by the
//! runtime (and replaced whole on reload): each vhost's WebRTC settings.
//! The SFU never reads the configuration itself; a setting applies to the
//! sessions created after it was handed in.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{Config, DtlsRole, VhostConfig, DEFAULT_VHOST};

/// The settings a new session of one vhost gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// `rtc_server.enabled && vhost.rtc.enabled`: WebRTC allowed at all.
    pub enabled: bool,
    /// `rtc.nack`: NACK toward publishers and retransmission to players.
    pub nack: bool,
    /// `rtc.twcc`: transport-wide congestion control feedback to publishers.
    pub twcc: bool,
    /// `rtc.stun_timeout`: a session without a valid check for this long ends.
    pub stun_timeout: Duration,
    /// `rtc.dtls_role active`: be the DTLS client when the peer offers `actpass`.
    pub dtls_role_active: bool,
    /// `rtc_server.first_check_timeout`: a new session with no valid STUN
    /// check within this ends.
    pub first_check_timeout: Duration,
    /// `rtc.rtc_to_rtmp`: a publisher's media also goes to the live side
    /// (the runtime gets [`Event::PublisherMedia`](crate::sfu::Event::PublisherMedia)).
    pub rtc_to_rtmp: bool,
}

impl SessionSettings {
    /// The settings of `vhost`, with `rtc_enabled` the server-wide switch.
    pub fn from_vhost(vhost: &VhostConfig, rtc_enabled: bool, first_check: Duration) -> Self {
        let rtc = &vhost.rtc;
        SessionSettings {
            enabled: rtc_enabled && rtc.enabled,
            nack: rtc.nack,
            twcc: rtc.twcc,
            stun_timeout: rtc.stun_timeout,
            dtls_role_active: rtc.dtls_role == DtlsRole::Active,
            first_check_timeout: first_check,
            rtc_to_rtmp: rtc.enabled && rtc.rtc_to_rtmp,
        }
    }
}

/// The SFU's settings: one [`SessionSettings`] per vhost, and the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfuSettings {
    vhosts: HashMap<String, SessionSettings>,
    /// `max_connections`: WebRTC sessions allowed in the whole process.
    pub max_sessions: usize,
    /// `rtc_server.max_pending_per_ip`: sessions one client IP may hold
    /// before they pass ICE.
    pub max_pending_per_ip: usize,
}

impl SfuSettings {
    /// The settings of a parsed configuration.
    pub fn from_config(config: &Config) -> Self {
        let rtc_enabled = config.rtc_server.enabled;
        let first = Duration::from_secs(config.rtc_server.first_check_timeout.into());
        let mut vhosts: HashMap<String, SessionSettings> = config
            .vhosts
            .iter()
            .map(|(name, v)| {
                (
                    name.clone(),
                    SessionSettings::from_vhost(v, rtc_enabled, first),
                )
            })
            .collect();
        vhosts.entry(DEFAULT_VHOST.to_string()).or_insert_with(|| {
            SessionSettings::from_vhost(config.vhost(DEFAULT_VHOST), rtc_enabled, first)
        });
        SfuSettings {
            vhosts,
            max_sessions: config.max_connections as usize,
            max_pending_per_ip: config.rtc_server.max_pending_per_ip as usize,
        }
    }

    /// The settings of vhost `name`, or of the default vhost when there is
    /// no such vhost.
    pub fn vhost(&self, name: &str) -> &SessionSettings {
        self.vhosts
            .get(name)
            .or_else(|| self.vhosts.get(DEFAULT_VHOST))
            .expect("from_config always adds the default vhost")
    }
}

impl Default for SessionSettings {
    /// WebRTC on, with SRS's defaults (NACK and TWCC on, 30 s
    /// `stun_timeout`, DTLS server for `actpass`, no RTC→RTMP).
    fn default() -> Self {
        SessionSettings {
            enabled: true,
            nack: true,
            twcc: true,
            stun_timeout: Duration::from_secs(30),
            dtls_role_active: false,
            first_check_timeout: Duration::from_secs(10),
            rtc_to_rtmp: false,
        }
    }
}

impl SfuSettings {
    /// These settings with vhost `name`'s replaced by `settings`.
    pub fn with_vhost(mut self, name: &str, settings: SessionSettings) -> Self {
        self.vhosts.insert(name.to_string(), settings);
        self
    }
}

impl Default for SfuSettings {
    /// Only the default vhost, with [`SessionSettings::default`], and SRS's
    /// default `max_connections` (1000).
    fn default() -> Self {
        SfuSettings {
            vhosts: HashMap::from([(DEFAULT_VHOST.to_string(), SessionSettings::default())]),
            max_sessions: 1000,
            max_pending_per_ip: 64,
        }
    }
}
