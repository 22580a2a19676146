//! SRS's HTTP hooks, `http_hooks { enabled on; on_publish URL..; on_play
//! URL..; on_unpublish URL..; on_stop URL..; }`. Deciding: before a publisher
//! (WHIP, `/rtc/v1/publish/`, RTMP) or a player (WHEP, `/rtc/v1/play/`,
//! RTMP) is accepted, every URL gets SRS's JSON POST, and the stream is
//! allowed only if each answers HTTP 200 with `0` or `{"code": 0}`; a hook
//! that fails, times out or answers anything else refuses, as in SRS (fail
//! closed). Notifying: when a publisher or player ends, `on_unpublish` or
//! `on_stop` is told, and its answer only logged. The blocking HTTP call
//! (ureq) runs on a short-lived thread while a shard task awaits it, so no
//! shard stops; calls in flight are bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::HttpHooksConfig;
use crate::server::outbound;

/// How long one hook may take to answer.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Hook calls in flight, all shards together, beyond which a new publish or
/// play is refused rather than queued.
pub const MAX_IN_FLIGHT: usize = 256;

/// Largest hook answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Which deciding hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `on_publish`.
    Publish,
    /// `on_play`.
    Play,
    /// `on_unpublish` (notifies).
    Unpublish,
    /// `on_stop` (notifies).
    Stop,
}

impl Action {
    /// SRS's name of the action (the JSON `action` and the directive).
    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "on_publish",
            Action::Play => "on_play",
            Action::Unpublish => "on_unpublish",
            Action::Stop => "on_stop",
        }
    }

    /// The URLs `hooks` asks for this action (none when hooks are off).
    pub fn urls(self, hooks: &HttpHooksConfig) -> &[String] {
        if !hooks.enabled {
            return &[];
        }
        match self {
            Action::Publish => &hooks.on_publish,
            Action::Play => &hooks.on_play,
            Action::Unpublish => &hooks.on_unpublish,
            Action::Stop => &hooks.on_stop,
        }
    }
}

/// Who asks for what, as SRS describes it to hooks.
#[derive(Debug)]
pub struct Subject<'a> {
    /// Publish or play.
    pub action: Action,
    /// The client's IP address.
    pub ip: String,
    /// `app`.
    pub app: &'a str,
    /// `stream`, without its query.
    pub stream: &'a str,
    /// The query of the request (`?token=...`), or empty.
    pub param: &'a str,
    /// `rtmp://host/app` or `webrtc://host/app`.
    pub tc_url: String,
}

/// Counts hook calls in flight (one per process, in [`crate::server::Shared`]).
#[derive(Debug, Default)]
pub struct InFlight(AtomicUsize);

impl InFlight {
    /// Hook calls in flight now.
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Asks every hook of `subject.action`; `Err` holds the reason to give the
/// client (naming the hook). Nothing is asked when hooks are off or none is
/// configured for the action.
pub async fn authorize(
    hooks: &HttpHooksConfig,
    in_flight: &InFlight,
    subject: &Subject<'_>,
) -> Result<(), String> {
    let urls = subject.action.urls(hooks);
    if urls.is_empty() {
        return Ok(());
    }
    let body = body(subject);
    for url in urls {
        call(in_flight, url, &body).await.map_err(|why| {
            format!(
                "{} hook {url} refused {}/{}: {why}",
                subject.action.name(),
                subject.app,
                subject.stream
            )
        })?;
    }
    Ok(())
}

/// Tells every hook of `subject.action` (`on_unpublish`, `on_stop`); a
/// failure is logged, nothing else.
pub async fn notify(hooks: &HttpHooksConfig, in_flight: &InFlight, subject: &Subject<'_>) {
    let urls = subject.action.urls(hooks);
    if urls.is_empty() {
        return;
    }
    let body = body(subject);
    for url in urls {
        if let Err(why) = call(in_flight, url, &body).await {
            crate::warn_limited!(
                "{} hook {url} for {}/{}: {why}",
                subject.action.name(),
                subject.app,
                subject.stream
            );
        }
    }
}

/// SRS's JSON description of `subject`.
fn body(subject: &Subject<'_>) -> String {
    serde_json::json!({
        "server_id": "shardsfu",
        "action": subject.action.name(),
        "client_id": format!("{}-{}", subject.ip, crate::util::random_string(8)),
        "ip": subject.ip,
        "vhost": crate::config::DEFAULT_VHOST,
        "app": subject.app,
        "tcUrl": subject.tc_url,
        "stream": subject.stream,
        "param": subject.param,
        "stream_url": format!("/{}/{}", subject.app, subject.stream),
    })
    .to_string()
}

/// A publisher or player that ended, for `on_unpublish` / `on_stop` (the
/// shard's sans-IO core queues these; its runtime sends them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `Unpublish` or `Stop`.
    pub action: Action,
    /// The vhost whose hooks are told.
    pub vhost: String,
    /// The client's IP address, if known.
    pub ip: String,
    /// `app`.
    pub app: String,
    /// `stream`.
    pub stream: String,
    /// `rtmp://host/app` or `webrtc://host/app`.
    pub tc_url: String,
}

impl Ended {
    /// Tells the hooks, in a task of its own on the current shard.
    pub fn spawn_notify(self, shared: std::sync::Arc<crate::server::Shared>) {
        shards::glommio::spawn_local(async move {
            let current = shared.current.get();
            let hooks = &current.config.vhost(&self.vhost).http_hooks;
            let subject = Subject {
                action: self.action,
                ip: self.ip,
                app: &self.app,
                stream: &self.stream,
                param: "",
                tc_url: self.tc_url,
            };
            notify(hooks, &shared.hooks_in_flight, &subject).await;
        })
        .detach();
    }
}

/// Releases its slot of [`InFlight`] when dropped.
struct Slot<'a>(&'a InFlight);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn call(in_flight: &InFlight, url: &str, body: &str) -> Result<(), String> {
    let n = in_flight.0.fetch_add(1, Ordering::Relaxed) + 1;
    let _slot = Slot(in_flight);
    if n > MAX_IN_FLIGHT {
        return Err(format!("{MAX_IN_FLIGHT} hook calls already in flight"));
    }
    let (url, body) = (url.to_owned(), body.to_owned());
    outbound::on_thread("http-hook", "the hook call", move || post(&url, &body)).await
}

/// One blocking POST of `body` to `url`, and the decision in its answer.
pub(crate) fn post(url: &str, body: &str) -> Result<(), String> {
    let mut resp = outbound::agent(HOOK_TIMEOUT)
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let answer = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    decide(&answer)
}

/// SRS's rule for a hook's answer: `0`, or a JSON object whose `code` is 0.
pub fn decide(answer: &str) -> Result<(), String> {
    let text = answer.trim();
    if text == "0" {
        return Ok(());
    }
    let code = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
    match code {
        Some(0) => Ok(()),
        Some(c) => Err(format!("code {c}")),
        None => Err(format!(
            "answer {:?} is neither 0 nor {{\"code\": 0}}",
            text.chars().take(80).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_srs_reads_them() {
        assert!(decide("0").is_ok());
        assert!(decide(" 0\n").is_ok());
        assert!(decide(r#"{"code": 0, "data": null}"#).is_ok());
        assert!(decide("1").is_err());
        assert_eq!(decide(r#"{"code": 403}"#), Err("code 403".to_string()));
        assert!(decide("").is_err());
        assert!(decide("ok").is_err());
        assert!(decide(r#"{"code": "0"}"#).is_err());
    }

    #[test]
    fn nothing_is_asked_when_off_or_unset() {
        let subject = Subject {
            action: Action::Play,
            ip: "127.0.0.1".into(),
            app: "live",
            stream: "s",
            param: "",
            tc_url: "webrtc://h/live".into(),
        };
        let off = HttpHooksConfig {
            on_play: vec!["http://127.0.0.1:9/never".into()],
            ..Default::default()
        };
        let unset = HttpHooksConfig {
            enabled: true,
            on_publish: vec!["http://127.0.0.1:9/never".into()],
            ..Default::default()
        };
        let in_flight = InFlight::default();
        for hooks in [off, unset] {
            assert!(
                futures_lite::future::block_on(authorize(&hooks, &in_flight, &subject)).is_ok()
            );
        }
    }
}
