//! From the directive tree to the typed [`Config`]: each section's
//! directives go through its settings table; anything else becomes a warning.

use std::collections::HashMap;

use super::error::{ConfigError, ConfigWarning};
use super::model::Config;
use super::no_effect;
use super::parser::Directive;
use super::settings::{
    Setting, BLACK_HOLE, EXPORTER, HLS, HLS_UNSUPPORTED, HTTPS, HTTP_API, HTTP_API_AUTH,
    HTTP_API_UNSUPPORTED, HTTP_HOOKS, HTTP_REMUX, HTTP_SERVER, PLAY, PUBLISH, ROOT,
    ROOT_UNSUPPORTED, RTC_SERVER, RTC_TCP, RTC_VHOST, RTMP, STATS, VHOST, VHOST_UNSUPPORTED,
};
use super::signaling::SIGNALING;
use super::vhost::{VhostConfig, DEFAULT_VHOST};

type Warnings = Vec<ConfigWarning>;

/// Handles the sub-blocks of a section.
type Sub<'s, T> =
    &'s mut dyn FnMut(&Directive, &str, &mut T, &mut Warnings) -> Result<(), ConfigError>;

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn warn(w: &mut Warnings, d: &Directive, path: &str, message: impl Into<String>) {
    w.push(ConfigWarning {
        file: d.file.to_string(),
        line: d.line,
        directive: path.to_string(),
        message: message.into(),
    });
}

fn invalid(d: &Directive, path: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: d.file.to_string(),
        line: d.line,
        directive: path.to_string(),
        reason: reason.into(),
    }
}

/// The parts of one section.
struct Section<'a, T: 'static> {
    path: &'a str,
    settings: &'static [Setting<T>],
    blocks: &'a [&'a str],
    unsupported: &'a [&'a str],
}

fn no_blocks<T>(_: &Directive, _: &str, _: &mut T, _: &mut Warnings) -> Result<(), ConfigError> {
    Ok(())
}

fn apply_section<T>(
    sec: &Section<'_, T>,
    items: &[Directive],
    target: &mut T,
    w: &mut Warnings,
    sub: Sub<'_, T>,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for d in items {
        let path = join(sec.path, &d.name);
        let setting = sec.settings.iter().find(|s| s.name == d.name);
        let is_block = sec.blocks.contains(&d.name.as_str());
        if setting.is_none() && !is_block {
            let msg = if sec.unsupported.contains(&d.name.as_str()) {
                "SRS directive not supported by shardsfu; ignored"
            } else {
                "unknown directive; ignored"
            };
            warn(w, d, &path, msg);
            continue;
        }
        if !(sec.path.is_empty() && d.name == "vhost") {
            if let Some(first) = seen.get(d.name.as_str()) {
                warn(
                    w,
                    d,
                    &path,
                    format!("duplicate directive; the first one (line {first}) is used"),
                );
                continue;
            }
            seen.insert(&d.name, d.line);
        }
        if is_block {
            if !d.is_block {
                return Err(invalid(d, &path, "expects a block { ... }"));
            }
            if d.name != "vhost" && !d.args.is_empty() {
                return Err(invalid(
                    d,
                    &path,
                    format!("takes no arguments, got \"{}\"", d.args.join(" ")),
                ));
            }
            sub(d, &path, target, w)?;
            continue;
        }
        if let Some(s) = setting {
            if d.is_block {
                return Err(invalid(d, &path, "takes a value, not a block"));
            }
            match (s.apply)(target, &d.args) {
                Err(reason) => return Err(invalid(d, &path, reason)),
                Ok(Some(msg)) => warn(w, d, &path, msg),
                Ok(None) => {}
            }
            if let Some(msg) = no_effect::check(&path, &d.args) {
                warn(w, d, &path, msg);
            }
        }
    }
    Ok(())
}

fn leaf<T>(
    path: &str,
    settings: &'static [Setting<T>],
    unsupported: &[&str],
    d: &Directive,
    target: &mut T,
    w: &mut Warnings,
) -> Result<(), ConfigError> {
    let sec = Section {
        path,
        settings,
        blocks: &[],
        unsupported,
    };
    apply_section(&sec, &d.children, target, w, &mut no_blocks)
}

/// Builds the configuration from the tree (SRS defaults for what is absent).
pub(crate) fn build(tree: &[Directive], w: &mut Warnings) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut vhost_lines: HashMap<String, (String, u32)> = HashMap::new();
    let root = Section {
        path: "",
        settings: ROOT,
        blocks: &[
            "rtmp",
            "http_server",
            "http_stream",
            "http_api",
            "https_api",
            "rtc_server",
            "stats",
            "exporter",
            "signaling",
            "cluster",
            "vhost",
        ],
        unsupported: ROOT_UNSUPPORTED,
    };
    apply_section(
        &root,
        tree,
        &mut config,
        w,
        &mut |d, path, c, w| match d.name.as_str() {
            "rtmp" => leaf(path, RTMP, &[], d, c, w),
            "http_server" | "http_stream" => {
                if d.name == "http_stream" {
                    warn(w, d, path, "deprecated; use http_server");
                }
                let sec = Section {
                    path: "http_server",
                    settings: HTTP_SERVER,
                    blocks: &["https"],
                    unsupported: &[],
                };
                apply_section(
                    &sec,
                    &d.children,
                    &mut c.http_server,
                    w,
                    &mut |d, p, t, w| leaf(p, HTTPS, &[], d, &mut t.https, w),
                )
            }
            "http_api" => {
                let sec = Section {
                    path,
                    settings: HTTP_API,
                    blocks: &["https", "auth"],
                    unsupported: HTTP_API_UNSUPPORTED,
                };
                apply_section(&sec, &d.children, &mut c.http_api, w, &mut |d, p, t, w| {
                    if d.name == "https" {
                        leaf(p, HTTPS, &[], d, &mut t.https, w)
                    } else {
                        leaf(p, HTTP_API_AUTH, &[], d, &mut t.auth, w)
                    }
                })
            }
            "rtc_server" => {
                let sec = Section {
                    path,
                    settings: RTC_SERVER,
                    blocks: &["tcp", "black_hole"],
                    unsupported: &[],
                };
                apply_section(
                    &sec,
                    &d.children,
                    &mut c.rtc_server,
                    w,
                    &mut |d, p, t, w| {
                        if d.name == "tcp" {
                            leaf(p, RTC_TCP, &[], d, &mut t.tcp, w)
                        } else {
                            leaf(p, BLACK_HOLE, &[], d, &mut t.black_hole, w)
                        }
                    },
                )
            }
            // SRS 7's IPv6 guide writes the HTTPS API as a top-level block;
            // it is `http_api { https { } }` by another name.
            "https_api" => leaf(path, HTTPS, &[], d, &mut c.http_api.https, w),
            "stats" => leaf(path, STATS, &[], d, &mut c.stats, w),
            "exporter" => leaf(path, EXPORTER, &[], d, &mut c.exporter, w),
            "signaling" => leaf(path, SIGNALING, &[], d, &mut c.signaling, w),
            "cluster" => leaf(path, super::cluster::CLUSTER, &[], d, &mut c.cluster, w),
            _ => {
                let vhost = build_vhost(d, w)?;
                let here = (d.file.to_string(), d.line);
                if let Some((file, line)) = vhost_lines.insert(vhost.name.clone(), here) {
                    return Err(invalid(
                        d,
                        "vhost",
                        format!(
                            "duplicate vhost \"{}\" (first at {file}:{line})",
                            vhost.name
                        ),
                    ));
                }
                if vhost.name == DEFAULT_VHOST {
                    c.default_vhost_configured = true;
                }
                c.vhosts.insert(vhost.name.clone(), vhost);
                Ok(())
            }
        },
    )?;
    Ok(config)
}

fn build_vhost(d: &Directive, w: &mut Warnings) -> Result<VhostConfig, ConfigError> {
    let name = match d.args.as_slice() {
        [n] if !n.is_empty() => n,
        _ => {
            return Err(invalid(
                d,
                "vhost",
                format!("expects one vhost name, got \"{}\"", d.args.join(" ")),
            ))
        }
    };
    if let Some(msg) = no_effect::named_vhost(name) {
        warn(w, d, "vhost", msg);
    }
    let mut vhost = VhostConfig::new(name);
    let sec = Section {
        path: "vhost",
        settings: VHOST,
        blocks: &[
            "rtc",
            "play",
            "publish",
            "http_remux",
            "hls",
            "http_hooks",
            "dvr",
        ],
        unsupported: VHOST_UNSUPPORTED,
    };
    apply_section(
        &sec,
        &d.children,
        &mut vhost,
        w,
        &mut |d, p, v, w| match d.name.as_str() {
            "rtc" => leaf(p, RTC_VHOST, &[], d, &mut v.rtc, w),
            "play" => leaf(p, PLAY, &[], d, &mut v.play, w),
            "publish" => leaf(p, PUBLISH, &[], d, &mut v.publish, w),
            "http_remux" => leaf(p, HTTP_REMUX, &[], d, &mut v.http_remux, w),
            "hls" => leaf(p, HLS, HLS_UNSUPPORTED, d, &mut v.hls, w),
            "dvr" => leaf(p, super::dvr::DVR, &[], d, &mut v.dvr, w),
            _ => leaf(p, HTTP_HOOKS, &[], d, &mut v.http_hooks, w),
        },
    )?;
    Ok(vhost)
}

/// `rtc_server { protocol tcp; }` without `tcp { enabled on; }` would answer
/// every offer with no candidate at all; SRS's guide says TCP must then be
/// enabled, so the configuration is refused at start-up, naming the line of
/// `protocol` (or the environment variable that set it).
pub(crate) fn check_rtc_protocol(tree: &[Directive], c: &Config) -> Result<(), ConfigError> {
    let rtc = &c.rtc_server;
    if !rtc.enabled || rtc.protocol != super::model::RtcProtocol::Tcp || rtc.tcp.enabled {
        return Ok(());
    }
    let reason = "protocol tcp needs WebRTC over TCP: add rtc_server { tcp { enabled on; } } \
                  (or use protocol udp or all); otherwise no answer would carry a candidate";
    let protocol = tree
        .iter()
        .filter(|d| d.name == "rtc_server")
        .flat_map(|d| d.children.iter())
        .find(|d| d.name == "protocol");
    match protocol {
        Some(d) if d.args.first().map(String::as_str) == Some("tcp") => {
            Err(invalid(d, "rtc_server.protocol", reason))
        }
        _ => Err(ConfigError::Env {
            var: "SRS_RTC_SERVER_PROTOCOL".into(),
            value: "tcp".into(),
            reason: reason.into(),
        }),
    }
}
