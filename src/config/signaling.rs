//! `signaling { }` (shardsfu's own): the built-in rooms of `/sig/v1/rtc`
//! (ossrs/signaling's protocol; docs/signaling.md). SRS runs that as a
//! separate Go program, so SRS has no such section.

use std::time::Duration;

use super::settings::Setting;
use super::values::{parse_bool, parse_secs, parse_u32_in, set, Applied};

/// `signaling { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalingConfig {
    /// `enabled`: serve `/sig/v1/rtc` and `/sig/v1/versions` on the HTTP
    /// server and the HTTP API (and their HTTPS ports). Default on.
    pub enabled: bool,
    /// `max_rooms`: rooms at once in the process. Default 1000.
    pub max_rooms: u32,
    /// `max_members`: members at once in one room. Default 16.
    pub max_members: u32,
    /// `max_message_size`: bytes of one WebSocket message. Default 16384
    /// (the Go app's read buffer).
    pub max_message_size: u32,
    /// `message_rate`: messages a second one socket may send, sustained.
    /// Default 10.
    pub message_rate: u32,
    /// `message_burst`: messages one socket may send at once. Default 20.
    pub message_burst: u32,
    /// `idle_timeout`: seconds a socket may stay silent (the server pings at
    /// a third of it; browsers answer by themselves), and may take from
    /// connecting to joining. Default 60.
    pub idle_timeout: Duration,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        SignalingConfig {
            enabled: true,
            max_rooms: 1000,
            max_members: 16,
            max_message_size: 16384,
            message_rate: 10,
            message_burst: 20,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

macro_rules! u32_setting {
    ($name:literal, $field:ident, $min:expr, $max:expr) => {
        Setting {
            name: $name,
            env: true,
            aliases: &[],
            apply: |c: &mut SignalingConfig, a: &[String]| -> Applied {
                set(a, &mut c.$field, |v| parse_u32_in(v, $min, $max))
            },
        }
    };
}

/// `signaling { }` (`SRS_SIGNALING_*` override each directive).
pub(crate) static SIGNALING: &[Setting<SignalingConfig>] = &[
    Setting {
        name: "enabled",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.enabled, parse_bool),
    },
    u32_setting!("max_rooms", max_rooms, 1, 1_000_000),
    u32_setting!("max_members", max_members, 1, 1000),
    u32_setting!("max_message_size", max_message_size, 256, 1 << 20),
    u32_setting!("message_rate", message_rate, 1, 10_000),
    u32_setting!("message_burst", message_burst, 1, 10_000),
    Setting {
        name: "idle_timeout",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.idle_timeout, |v| parse_secs(v, 1, 86_400)),
    },
];

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Config, ConfigError, MapEnv};

    #[test]
    fn directives_and_env_overrides() {
        let env = MapEnv::new().with("SRS_SIGNALING_MESSAGE_RATE", "3");
        let text = "signaling { enabled off; max_rooms 5; max_members 4; max_message_size 4096;\n\
                    message_burst 7; idle_timeout 9; }\n";
        let l = Config::parse_str(text, "t.conf", &env).unwrap();
        let s = &l.config.signaling;
        assert!(!s.enabled);
        assert_eq!(
            (s.max_rooms, s.max_members, s.max_message_size),
            (5, 4, 4096)
        );
        assert_eq!((s.message_rate, s.message_burst), (3, 7));
        assert_eq!(s.idle_timeout, Duration::from_secs(9));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let d = Config::parse_str("", "t.conf", &MapEnv::new())
            .unwrap()
            .config;
        assert!(d.signaling.enabled);
        assert_eq!(d.signaling.max_members, 16);
    }

    #[test]
    fn bad_values_name_the_line_and_directive() {
        let err = Config::parse_str("\nsignaling { max_members 0; }\n", "t.conf", &MapEnv::new())
            .unwrap_err();
        match &err {
            ConfigError::Invalid {
                line, directive, ..
            } => assert_eq!((*line, directive.as_str()), (2, "signaling.max_members")),
            other => panic!("{other}"),
        }
    }
}
