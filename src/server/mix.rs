//! Room to live, run: `POST /api/v1/rooms/{room}/mix` starts a compositor
//! for the streams published in app `{room}` (the room's participants, over
//! RTMP or WebRTC with `rtc_to_rtmp on`), publishing `{room}/{room}-mix`
//! back into this server over RTMP, so it plays over RTMP, HTTP-FLV, HLS and
//! (with `rtmp_to_rtc on`) WHEP. The compositor is the `ffmpeg` program, one
//! supervised child per mix, restarted when the room's publishers change or
//! when it fails ([`crate::mix::plan`]); at most [`MAX_MIXES`] run at once.
//!
//! One `mixer` thread, started with the first mix, watches the live hub
//! every [`TICK`] and runs the children; shards only take the table's lock
//! for an API call. The children die with the process (`PR_SET_PDEATHSIG`)
//! and are stopped when a graceful stop begins.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::Response;
use crate::mix::layout::{self, MixInput};
use crate::mix::plan::{MixAction, MixPlan};
use crate::server::live::hub::{stream_key, Hub};
use crate::server::shared::Shared;

/// Mixes that may run at once on this server (each is an FFmpeg encoding
/// up to 1920×1080 H.264: about one core each).
pub const MAX_MIXES: usize = 4;

/// How often the mixer thread looks at the rooms.
pub const TICK: Duration = Duration::from_millis(200);

/// Why a mix request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    /// The room name is not a valid app name.
    #[error("invalid room name {0:?} (1 to 256 of A-Z a-z 0-9 - _ . ~)")]
    BadRoom(String),
    /// The compositor program is missing.
    #[error("no `ffmpeg` program on this server's PATH: install the Debian package `ffmpeg` to mix rooms")]
    NoFfmpeg,
    /// Nobody publishes in the room.
    #[error("room {0:?} has no published stream to mix (participants publish as app {0:?}; WebRTC ones need rtc_to_rtmp on)")]
    EmptyRoom(String),
    /// [`MAX_MIXES`] already run.
    #[error("{0} mixes already run, the most this server runs at once")]
    TooMany(usize),
    /// `DELETE`/`GET` of a room that has no mix.
    #[error("room {0:?} has no mix")]
    NoMix(String),
    /// The server is stopping.
    #[error("the server is stopping: no new mix")]
    Stopping,
}

impl MixError {
    /// The HTTP status that reports it.
    pub fn status(&self) -> u16 {
        match self {
            MixError::BadRoom(_) => 400,
            MixError::EmptyRoom(_) | MixError::NoMix(_) => 404,
            MixError::NoFfmpeg | MixError::TooMany(_) | MixError::Stopping => 503,
        }
    }

    /// The error as the API answers it: SRS's JSON shape, `Retry-After` on a 503.
    pub fn response(&self) -> Response {
        let resp = Response::json(
            self.status(),
            &json!({ "code": self.status(), "error": self.to_string() }),
        );
        if self.status() == 503 {
            resp.with_header("Retry-After", "5")
        } else {
            resp
        }
    }
}

struct Mix {
    plan: MixPlan,
    child: Option<Child>,
}

/// Every room's mix, process-wide.
#[derive(Default)]
pub struct Mixes {
    table: Mutex<HashMap<String, Mix>>,
    thread: OnceLock<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The name of the mix of `room`: `{room}-mix`.
pub fn mix_stream(room: &str) -> String {
    format!("{room}-mix")
}

/// `rtmp://host:port` of this server's RTMP listener, as its own children reach it.
fn rtmp_origin(listen: &[SocketAddr]) -> String {
    let addr = listen
        .first()
        .copied()
        .unwrap_or_else(|| "0.0.0.0:1935".parse().expect("a valid address"));
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("rtmp://{}", SocketAddr::new(ip, addr.port()))
}

/// Whether `program` is an executable file on `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The streams published in app `room` (not its own mix).
fn publishers(hub: &Hub, room: &str) -> Vec<MixInput> {
    let prefix = format!("{room}/");
    let own = mix_stream(room);
    hub.publishing()
        .into_iter()
        .filter_map(|key| {
            let display = key.strip_prefix(&prefix)?.to_owned();
            if display == own {
                return None;
            }
            let has_audio = hub
                .media(&stream_key(room, &display))
                .is_some_and(|m| m.audio.is_some());
            Some(MixInput { display, has_audio })
        })
        .collect()
}

impl Mixes {
    /// Starts the mix of `room` (or reports the running one).
    pub fn start(&self, shared: &Arc<Shared>, room: &str) -> Result<Response, MixError> {
        if !crate::util::is_valid_name(room) {
            return Err(MixError::BadRoom(room.to_owned()));
        }
        if shared.drain.is_draining() {
            return Err(MixError::Stopping);
        }
        let mut table = lock(&self.table);
        if let Some(mix) = table.get(room) {
            return Ok(Response::json(200, &self.describe(shared, room, mix)));
        }
        if table.len() >= MAX_MIXES {
            return Err(MixError::TooMany(MAX_MIXES));
        }
        let inputs = publishers(&shared.live, room);
        if inputs.is_empty() {
            return Err(MixError::EmptyRoom(room.to_owned()));
        }
        if !on_path("ffmpeg") {
            return Err(MixError::NoFfmpeg);
        }
        let mix = Mix {
            plan: MixPlan::new(Instant::now(), inputs),
            child: None,
        };
        let body = self.describe(shared, room, &mix);
        table.insert(room.to_owned(), mix);
        drop(table);
        self.thread.get_or_init(|| {
            let shared = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("mixer".into())
                .spawn(move || loop {
                    std::thread::sleep(TICK);
                    shared.mixes.tick(&shared, Instant::now());
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start the mixer thread: {e}");
            }
        });
        tracing::info!(room, "room mix started");
        Ok(Response::json(201, &body))
    }

    /// Stops the mix of `room`.
    pub fn stop(&self, room: &str) -> Result<(), MixError> {
        let mix = lock(&self.table).remove(room);
        let mut mix = mix.ok_or_else(|| MixError::NoMix(room.to_owned()))?;
        kill(&mut mix.child);
        tracing::info!(room, "room mix stopped by the API");
        Ok(())
    }

    /// `GET /api/v1/rooms/{room}/mix`.
    pub fn info(&self, shared: &Shared, room: &str) -> Result<Response, MixError> {
        let table = lock(&self.table);
        let mix = table
            .get(room)
            .ok_or_else(|| MixError::NoMix(room.to_owned()))?;
        Ok(Response::json(200, &self.describe(shared, room, mix)))
    }

    /// Mixes running or starting.
    pub fn len(&self) -> usize {
        lock(&self.table).len()
    }

    /// Whether no mix runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn describe(&self, shared: &Shared, room: &str, mix: &Mix) -> serde_json::Value {
        let name = mix_stream(room);
        let running: Vec<&str> = mix
            .plan
            .running()
            .unwrap_or_default()
            .iter()
            .map(|i| i.display.as_str())
            .collect();
        let (w, h) = layout::size(running.len());
        json!({
            "code": 0,
            "mix": {
                "room": room,
                "stream": name,
                "url": format!("{}/{room}/{name}", rtmp_origin(&shared.config.listen)),
                "inputs": running,
                "width": if running.is_empty() { 0 } else { w },
                "height": if running.is_empty() { 0 } else { h },
                "failures": mix.plan.failures(),
            }
        })
    }

    /// One look at every mix: who publishes in its room, whether its child
    /// still runs, and what its plan says to do.
    fn tick(&self, shared: &Shared, now: Instant) {
        let mut table = lock(&self.table);
        if shared.drain.is_draining() {
            for (_, mut mix) in table.drain() {
                kill(&mut mix.child);
            }
            return;
        }
        let origin = rtmp_origin(&shared.config.listen);
        let mut finished = vec![];
        for (room, mix) in table.iter_mut() {
            if let Some(child) = &mut mix.child {
                if let Ok(Some(status)) = child.try_wait() {
                    tracing::warn!(room, %status, "room mix: ffmpeg exited; restarting it");
                    mix.child = None;
                    mix.plan.handle_exit(now);
                }
            }
            mix.plan
                .handle_publishers(now, publishers(&shared.live, room));
            while let Some(action) = mix.plan.poll_action(now) {
                kill(&mut mix.child);
                match action {
                    MixAction::Stop => {}
                    MixAction::Start(inputs) => {
                        let output = format!("{origin}/{room}/{}", mix_stream(room));
                        let args =
                            layout::ffmpeg_args(&format!("{origin}/{room}"), &inputs, &output);
                        match spawn_ffmpeg(&args) {
                            Ok(child) => {
                                tracing::info!(
                                    room,
                                    inputs = inputs.len(),
                                    "room mix: ffmpeg started"
                                );
                                mix.child = Some(child);
                            }
                            Err(e) => {
                                tracing::warn!(room, "room mix: cannot run ffmpeg: {e}");
                                mix.plan.handle_exit(now);
                            }
                        }
                    }
                    MixAction::Finish(why) => {
                        tracing::info!(room, ?why, "room mix ended");
                        finished.push(room.clone());
                    }
                }
            }
        }
        for room in finished {
            table.remove(&room);
        }
    }
}

/// Runs `ffmpeg args`, quiet, dying with this process.
fn spawn_ffmpeg(args: &[String]) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("ffmpeg");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Stops a child (SIGKILL: FFmpeg's output is a live stream, nothing to
/// finish) and reaps it.
fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_reachable_from_this_host() {
        assert_eq!(
            rtmp_origin(&["0.0.0.0:1935".parse().unwrap()]),
            "rtmp://127.0.0.1:1935"
        );
        assert_eq!(
            rtmp_origin(&["[::]:1936".parse().unwrap()]),
            "rtmp://[::1]:1936"
        );
        assert_eq!(
            rtmp_origin(&["10.0.0.5:1935".parse().unwrap()]),
            "rtmp://10.0.0.5:1935"
        );
        assert_eq!(rtmp_origin(&[]), "rtmp://127.0.0.1:1935");
    }

    #[test]
    fn errors_have_their_status_and_a_retry_after_when_busy() {
        assert_eq!(MixError::BadRoom("a b".into()).status(), 400);
        let r = MixError::NoFfmpeg.response();
        assert_eq!(r.status, 503);
        assert_eq!(r.header("Retry-After"), Some("5"));
        assert!(String::from_utf8_lossy(&r.body).contains("Debian package `ffmpeg`"));
        assert_eq!(MixError::NoMix("r".into()).response().status, 404);
    }
}
