//! `vhost { dvr { } }`: recording live streams to FLV or MP4 files, as SRS
//! configures it (`enabled`, `dvr_apply`, `dvr_plan`, `dvr_path`,
//! `dvr_duration`, `dvr_wait_keyframe`, `time_jitter`). The recorder itself
//! is [`crate::live::dvr`] (sans-IO) and [`crate::server::dvr`] (files).

use std::time::Duration;

use super::settings::Setting;
use super::values::{parse_bool, parse_secs, set, set_string, set_words, Applied};
use super::vhost::TimeJitter;

/// When a recording starts a new file (`dvr_plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DvrPlan {
    /// One file per publish, finished at the unpublish: SRS's default.
    Session,
    /// A new file every `dvr_duration`, cut at a keyframe with `dvr_wait_keyframe`.
    Segment,
}

/// `vhost { dvr { } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvrConfig {
    /// `enabled`. Default off.
    pub enabled: bool,
    /// `dvr_apply`: `all`, or the `app/stream` names to record. Default `all`.
    pub dvr_apply: Vec<String>,
    /// `dvr_plan`. Default session.
    pub dvr_plan: DvrPlan,
    /// `dvr_path`, a file template ending in `.flv` or `.mp4`, or a
    /// directory (`/[stream].[timestamp].flv` is then added, as SRS does).
    /// Default `./objs/nginx/html/[app]/[stream].[timestamp].flv`.
    pub dvr_path: String,
    /// `dvr_duration` (whole seconds), the length of a segment. Default 30 s.
    pub dvr_duration: Duration,
    /// `dvr_wait_keyframe`: cut segments at video keyframes. Default on.
    pub dvr_wait_keyframe: bool,
    /// `time_jitter`. Default full.
    pub time_jitter: TimeJitter,
}

impl Default for DvrConfig {
    fn default() -> Self {
        DvrConfig {
            enabled: false,
            dvr_apply: vec!["all".into()],
            dvr_plan: DvrPlan::Session,
            dvr_path: "./objs/nginx/html/[app]/[stream].[timestamp].flv".into(),
            dvr_duration: Duration::from_secs(30),
            dvr_wait_keyframe: true,
            time_jitter: TimeJitter::Full,
        }
    }
}

impl DvrConfig {
    /// Whether `dvr_apply` selects `app/stream` (the `all` word selects every stream).
    pub fn applies_to(&self, app: &str, stream: &str) -> bool {
        self.dvr_apply.iter().any(|a| {
            a == "all"
                || a.split_once('/')
                    .is_some_and(|(x, y)| x == app && y == stream)
        })
    }
}

/// `dvr_plan`: `session` or `segment`; SRS's removed `append` and anything
/// else are warned about and recorded as `session`.
fn plan(a: &[String], slot: &mut DvrPlan) -> Applied {
    let mut word = String::new();
    set_string(a, &mut word)?;
    match word.as_str() {
        "" => Ok(None),
        "session" => {
            *slot = DvrPlan::Session;
            Ok(None)
        }
        "segment" => {
            *slot = DvrPlan::Segment;
            Ok(None)
        }
        other => {
            *slot = DvrPlan::Session;
            Ok(Some(format!(
                "dvr_plan \"{other}\" is not honoured (shardsfu records session or segment); \
                 recording as session"
            )))
        }
    }
}

/// `vhost { dvr { } }`.
pub(crate) static DVR: &[Setting<DvrConfig>] = &[
    Setting {
        name: "enabled",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.enabled, parse_bool),
    },
    Setting {
        name: "dvr_apply",
        env: true,
        aliases: &[],
        apply: |c, a| set_words(a, &mut c.dvr_apply),
    },
    Setting {
        name: "dvr_plan",
        env: true,
        aliases: &[],
        apply: |c, a| plan(a, &mut c.dvr_plan),
    },
    Setting {
        name: "dvr_path",
        env: true,
        aliases: &[],
        apply: |c, a| set_string(a, &mut c.dvr_path),
    },
    Setting {
        name: "dvr_duration",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.dvr_duration, |v| parse_secs(v, 1, 86_400)),
    },
    Setting {
        name: "dvr_wait_keyframe",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.dvr_wait_keyframe, parse_bool),
    },
    Setting {
        name: "time_jitter",
        env: true,
        aliases: &[],
        apply: |c, a| set(a, &mut c.time_jitter, TimeJitter::parse),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MapEnv, DEFAULT_VHOST};

    fn load(text: &str, env: &[(&str, &str)]) -> crate::config::Loaded {
        let env = env.iter().fold(MapEnv::new(), |m, (k, v)| m.with(k, v));
        Config::parse_str(text, "t.conf", &env).expect("parses")
    }

    #[test]
    fn srs_dvr_block_is_read() {
        let l = load(
            "vhost __defaultVhost__ {\n dvr {\n  enabled on;\n  dvr_apply live/a live/b;\n  \
             dvr_path /tmp/[app]/[stream].[timestamp].mp4;\n  dvr_plan segment;\n  \
             dvr_duration 10;\n  dvr_wait_keyframe off;\n  time_jitter zero;\n }\n}\n",
            &[],
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let d = &l.config.vhost(DEFAULT_VHOST).dvr;
        assert!(d.enabled);
        assert_eq!(d.dvr_plan, DvrPlan::Segment);
        assert_eq!(d.dvr_duration, Duration::from_secs(10));
        assert!(!d.dvr_wait_keyframe);
        assert_eq!(d.time_jitter, TimeJitter::Zero);
        assert!(d.applies_to("live", "a") && d.applies_to("live", "b"));
        assert!(!d.applies_to("live", "c"));
        assert!(DvrConfig::default().applies_to("x", "y"), "all by default");
    }

    #[test]
    fn unknown_plan_is_warned_at_its_line_and_recorded_as_session() {
        let l = load(
            "vhost __defaultVhost__ {\n  dvr {\n    dvr_plan append;\n  }\n}\n",
            &[],
        );
        assert_eq!(l.warnings.len(), 1);
        assert_eq!(
            (l.warnings[0].line, l.warnings[0].directive.as_str()),
            (3, "vhost.dvr.dvr_plan")
        );
        assert!(l.warnings[0].message.contains("append"));
        assert_eq!(l.config.vhost(DEFAULT_VHOST).dvr.dvr_plan, DvrPlan::Session);
    }

    #[test]
    fn environment_overrides_as_in_srs() {
        let l = load(
            "vhost __defaultVhost__ { }\n",
            &[
                ("SRS_VHOST_DVR_ENABLED", "on"),
                ("SRS_VHOST_DVR_DVR_PLAN", "segment"),
                ("SRS_VHOST_DVR_DVR_PATH", "/r/[stream].flv"),
            ],
        );
        let d = &l.config.vhost(DEFAULT_VHOST).dvr;
        assert!(d.enabled);
        assert_eq!(d.dvr_plan, DvrPlan::Segment);
        assert_eq!(d.dvr_path, "/r/[stream].flv");
    }
}
