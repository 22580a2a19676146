//! The environment: where it comes from ([`Env`]), `$VAR` expansion inside
//! the file, SRS's `SRS_*` overrides (the environment wins over the file) and
//! the `candidate` rules.

use std::collections::{HashMap, HashSet};

use super::cluster::CLUSTER;
use super::error::{ConfigError, ConfigWarning};
use super::model::Config;
use super::no_effect;
use super::settings::{
    env_names, Setting, BLACK_HOLE, EXPORTER, HLS, HTTPS, HTTP_API, HTTP_API_AUTH, HTTP_HOOKS,
    HTTP_REMUX, HTTP_SERVER, PLAY, PUBLISH, ROOT, RTC_SERVER, RTC_TCP, RTC_VHOST, STATS, VHOST,
};
use super::signaling::SIGNALING;

/// A source of environment variables, injectable for tests.
pub trait Env {
    /// The value of `name`, `None` when unset (or not valid UTF-8).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// An environment held in a map (tests, or a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// An empty environment.
    pub fn new() -> Self {
        MapEnv::default()
    }

    /// Sets `name` to `value`, for chaining.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_string(), value.to_string());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapEnv(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// `name`'s value when set and not empty (SRS treats empty as unset).
fn nonempty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Replaces `$NAME` and `${NAME}` with the variable's value (empty when
/// unset). A `$` not followed by a name is kept as is.
pub(crate) fn expand_vars(s: &str, env: &dyn Env) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(off) = s[i..].find('$') {
        out.push_str(&s[i..i + off]);
        let j = i + off + 1; // just after '$' (ASCII, so a char boundary)
        if bytes.get(j) == Some(&b'{') {
            if let Some(len) = s[j + 1..].find('}') {
                let name = &s[j + 1..j + 1 + len];
                if !name.is_empty()
                    && is_name_start(name.as_bytes()[0])
                    && name.bytes().all(is_name_char)
                {
                    out.push_str(&env.var(name).unwrap_or_default());
                    i = j + len + 2;
                    continue;
                }
            }
        } else if bytes.get(j).copied().is_some_and(is_name_start) {
            let len = bytes[j..].iter().take_while(|&&b| is_name_char(b)).count();
            out.push_str(&env.var(&s[j..j + len]).unwrap_or_default());
            i = j + len;
            continue;
        }
        out.push('$');
        i = j;
    }
    out.push_str(&s[i..]);
    out
}

/// Applies the overrides of one section to `target`.
fn section<T>(
    path: &str,
    settings: &'static [Setting<T>],
    target: &mut T,
    env: &dyn Env,
    w: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    for s in settings {
        let Some((var, value)) = env_names(path, s)
            .into_iter()
            .find_map(|var| nonempty(env, &var).map(|v| (var, v)))
        else {
            continue;
        };
        let directive = if path.is_empty() {
            s.name.to_string()
        } else {
            format!("{path}.{}", s.name)
        };
        let args = std::slice::from_ref(&value);
        let applied = (s.apply)(target, args).map_err(|reason| ConfigError::Env {
            var: var.clone(),
            value: value.clone(),
            reason,
        })?;
        let no_effect = no_effect::check(&directive, args);
        for message in applied.into_iter().chain(no_effect) {
            w.push(ConfigWarning {
                file: "environment".into(),
                line: 0,
                directive: directive.clone(),
                message: format!("{var}={value}: {message}"),
            });
        }
    }
    Ok(())
}

/// Applies every `SRS_*` override (vhost ones to every vhost) and resolves
/// `rtc_server.candidate`.
pub(crate) fn apply_overrides(
    c: &mut Config,
    env: &dyn Env,
    w: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    section("", ROOT, c, env, w)?;
    section("http_server", HTTP_SERVER, &mut c.http_server, env, w)?;
    section("http_server.https", HTTPS, &mut c.http_server.https, env, w)?;
    section("http_api", HTTP_API, &mut c.http_api, env, w)?;
    section("http_api.https", HTTPS, &mut c.http_api.https, env, w)?;
    // `https_api { }` is the same block: SRS_HTTPS_API_* set it too.
    section("https_api", HTTPS, &mut c.http_api.https, env, w)?;
    section("http_api.auth", HTTP_API_AUTH, &mut c.http_api.auth, env, w)?;
    section("rtc_server", RTC_SERVER, &mut c.rtc_server, env, w)?;
    section("rtc_server.tcp", RTC_TCP, &mut c.rtc_server.tcp, env, w)?;
    section(
        "rtc_server.black_hole",
        BLACK_HOLE,
        &mut c.rtc_server.black_hole,
        env,
        w,
    )?;
    section("stats", STATS, &mut c.stats, env, w)?;
    section("exporter", EXPORTER, &mut c.exporter, env, w)?;
    section("signaling", SIGNALING, &mut c.signaling, env, w)?;
    section("cluster", CLUSTER, &mut c.cluster, env, w)?;
    // `SRS_VHOST_*` apply to every vhost; say so once, not once per vhost.
    let before = w.len();
    for v in c.vhosts.values_mut() {
        section("vhost", VHOST, v, env, w)?;
        section("vhost.rtc", RTC_VHOST, &mut v.rtc, env, w)?;
        section("vhost.play", PLAY, &mut v.play, env, w)?;
        section("vhost.publish", PUBLISH, &mut v.publish, env, w)?;
        section("vhost.http_remux", HTTP_REMUX, &mut v.http_remux, env, w)?;
        section("vhost.hls", HLS, &mut v.hls, env, w)?;
        section("vhost.http_hooks", HTTP_HOOKS, &mut v.http_hooks, env, w)?;
        section("vhost.dvr", super::dvr::DVR, &mut v.dvr, env, w)?;
    }
    let mut seen = HashSet::new();
    let vhost_warnings: Vec<ConfigWarning> = w
        .drain(before..)
        .filter(|x| seen.insert((x.directive.clone(), x.message.clone())))
        .collect();
    w.extend(vhost_warnings);
    resolve_candidate(c, env);
    Ok(())
}

/// `rtc_server.candidate`, after the file (where `$CANDIDATE` unset gave
/// the default `*`): `CANDIDATE` overrides it, and `SRS_RTC_SERVER_CANDIDATE`
/// overrides both; when the latter is `$NAME`, NAME's value is used, and if
/// NAME is unset the override is skipped (as SRS's
/// `get_rtc_server_candidates`).
fn resolve_candidate(c: &mut Config, env: &dyn Env) {
    if let Some(v) = nonempty(env, "SRS_RTC_SERVER_CANDIDATE") {
        match v.strip_prefix('$') {
            None => {
                c.rtc_server.candidate = v;
                return;
            }
            Some(name) => {
                let name = name.trim_start_matches('{').trim_end_matches('}');
                if let Some(x) = nonempty(env, name) {
                    c.rtc_server.candidate = x;
                    return;
                }
            }
        }
    }
    if let Some(x) = nonempty(env, "CANDIDATE") {
        c.rtc_server.candidate = x;
    }
}

/// Every environment variable that overrides a directive, with the
/// directive's path (`vhost.*` ones apply to every vhost), in table order.
/// `CANDIDATE` and `SRS_RTC_SERVER_CANDIDATE` are listed last.
pub fn env_variables() -> Vec<(String, String)> {
    fn add<T>(out: &mut Vec<(String, String)>, path: &str, settings: &'static [Setting<T>]) {
        for s in settings {
            let dir = if path.is_empty() {
                s.name.to_string()
            } else {
                format!("{path}.{}", s.name)
            };
            for var in env_names(path, s) {
                out.push((var, dir.clone()));
            }
        }
    }
    let mut out = Vec::new();
    add(&mut out, "", ROOT);
    add(&mut out, "http_server", HTTP_SERVER);
    add(&mut out, "http_server.https", HTTPS);
    add(&mut out, "http_api", HTTP_API);
    add(&mut out, "http_api.https", HTTPS);
    add(&mut out, "https_api", HTTPS);
    add(&mut out, "http_api.auth", HTTP_API_AUTH);
    add(&mut out, "rtc_server", RTC_SERVER);
    add(&mut out, "rtc_server.tcp", RTC_TCP);
    add(&mut out, "rtc_server.black_hole", BLACK_HOLE);
    add(&mut out, "exporter", EXPORTER);
    add(&mut out, "signaling", SIGNALING);
    add(&mut out, "cluster", CLUSTER);
    add(&mut out, "vhost", VHOST);
    add(&mut out, "vhost.rtc", RTC_VHOST);
    add(&mut out, "vhost.play", PLAY);
    add(&mut out, "vhost.publish", PUBLISH);
    add(&mut out, "vhost.http_remux", HTTP_REMUX);
    add(&mut out, "vhost.hls", HLS);
    add(&mut out, "vhost.http_hooks", HTTP_HOOKS);
    add(&mut out, "vhost.dvr", super::dvr::DVR);
    out.push((
        "SRS_RTC_SERVER_CANDIDATE".into(),
        "rtc_server.candidate".into(),
    ));
    out.push(("CANDIDATE".into(), "rtc_server.candidate".into()));
    out
}
