//! Recording (SRS's DVR) for the runtime: one writer thread does every file
//! write, so no shard ever waits on the disk.
//!
//! A publish (RTMP, or a WebRTC publisher bridged with `rtc_to_rtmp`) whose
//! vhost has `dvr { enabled on; }` and whose name `dvr_apply` selects calls
//! [`Dvr::on_publish`] on its shard: that subscribes to the stream in the
//! live hub exactly as an HTTP-FLV player does (a bounded queue the hub
//! fills with `try_send`, so the media path is unchanged) and hands the
//! queue to the writer thread. The thread polls its queues every
//! [`POLL`], runs each through the sans-IO [`Segmenter`] and [`DvrFile`],
//! and writes with `std::fs`. A recorder that falls more than the hub's
//! `PLAYER_QUEUE` tags behind is dropped by the hub like any slow player:
//! its file is finished there and counted ([`DvrStats::too_slow`]).
//!
//! Files are written as `NAME.tmp` and renamed to `NAME` when finished (at
//! the unpublish, at a segment cut, or at shutdown: [`Dvr::stop`], bounded),
//! then `on_dvr` hooks are told. One recorder per stream; at most
//! [`MAX_RECORDINGS`] at once. A path that cannot be written gives one
//! warning per publish ([`DvrStats::errors`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Config, DvrConfig, HttpHooksConfig};
use crate::live::dvr::{dvr_path, DvrError, DvrFile, DvrFormat, Segmenter, Step, WallClock};
use crate::live::flv::FlvTag;
use crate::server::live::hub::stream_key;
use crate::server::live::Hub;

/// How often the writer thread looks at its queues while recording.
pub const POLL: Duration = Duration::from_millis(20);

/// Streams recorded at once, at most; more publishes are not recorded (and
/// each is warned about and counted in [`DvrStats::refused`]).
pub const MAX_RECORDINGS: usize = 1024;

/// Starts waiting for the writer thread, at most.
const COMMANDS: usize = 256;

/// `on_dvr` hook calls in flight, at most (more are skipped with a warning).
const MAX_HOOKS: usize = 64;

/// Bytes buffered in front of each file.
const FILE_BUFFER: usize = 256 * 1024;

/// Who publishes the recorded stream, as SRS describes it to `on_dvr`.
#[derive(Debug, Clone, Default)]
pub struct DvrSubject {
    /// The vhost whose `dvr` and `http_hooks` apply.
    pub vhost: String,
    /// `app`.
    pub app: String,
    /// `stream`.
    pub stream: String,
    /// The publish's `?query`, or empty.
    pub param: String,
    /// The publisher's IP address, if known.
    pub ip: String,
    /// `rtmp://host/app` or `webrtc://host/app`.
    pub tc_url: String,
    /// The publisher's client id, if it has one.
    pub client_id: String,
}

impl DvrSubject {
    /// A publish of `app/stream` with its `?query` and tcUrl, in the
    /// default vhost, from an unknown address.
    pub fn new(app: &str, stream: &str, param: &str, tc_url: &str) -> Self {
        Self {
            vhost: crate::config::DEFAULT_VHOST.to_owned(),
            app: app.to_owned(),
            stream: stream.to_owned(),
            param: param.to_owned(),
            tc_url: tc_url.to_owned(),
            ..Self::default()
        }
    }
}

/// Counters of the recorder, process-wide.
#[derive(Debug, Default)]
pub struct DvrStats {
    /// Streams being recorded now.
    pub recording: AtomicUsize,
    /// Files finished.
    pub files: AtomicU64,
    /// Recordings that failed (a path that cannot be created or written).
    pub errors: AtomicU64,
    /// Recordings the hub dropped because the writer fell behind.
    pub too_slow: AtomicU64,
    /// Publishes not recorded (too many recordings, or the thread busy).
    pub refused: AtomicU64,
    /// The file each recorded stream is being written to (for the HTTP API).
    current: Mutex<HashMap<String, String>>,
}

impl DvrStats {
    fn set_file(&self, key: &str, file: Option<&str>) {
        let mut files = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match file {
            Some(f) => files.insert(key.to_owned(), f.to_owned()),
            None => files.remove(key),
        };
    }
}

enum Command {
    Start(Box<Recording>),
    Stop(flume::Sender<()>),
}

/// The recorder of the process (one writer thread, started at the first recording).
#[derive(Debug, Default)]
pub struct Dvr {
    thread: Mutex<Option<(flume::Sender<Command>, JoinHandle<()>)>>,
    /// Its counters.
    pub stats: Arc<DvrStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Start(_) => "Start",
            Command::Stop(_) => "Stop",
        })
    }
}

impl Dvr {
    /// A publish of `subject` started in `hub` (call right after
    /// `Hub::publish`, before its first tag): records it if `config` says so.
    pub fn on_publish(&self, hub: &Arc<Hub>, config: &Config, subject: DvrSubject) {
        let vhost = config.vhost(&subject.vhost);
        let dvr = &vhost.dvr;
        if !dvr.enabled || !dvr.applies_to(&subject.app, &subject.stream) {
            return;
        }
        let key = stream_key(&subject.app, &subject.stream);
        if self.stats.recording.load(Ordering::Relaxed) >= MAX_RECORDINGS {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            crate::warn_limited!(
                stream = key,
                "dvr: not recorded: {MAX_RECORDINGS} recordings already"
            );
            return;
        }
        let Some(rx) = hub.subscribe(&key, false) else {
            return;
        };
        let rec = Recording {
            segmenter: Segmenter::new(dvr.dvr_plan, dvr.dvr_duration, dvr.dvr_wait_keyframe),
            key,
            subject,
            rx,
            dvr: dvr.clone(),
            hooks: vhost.http_hooks.clone(),
            file: None,
            failed: false,
            finished: Vec::new(),
        };
        let mut guard = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            match spawn(hub.clone(), self.stats.clone()) {
                Ok(t) => *guard = Some(t),
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    crate::warn_limited!("dvr: cannot start the writer thread: {e}");
                    return;
                }
            }
        }
        let Some((tx, _)) = guard.as_ref() else {
            return;
        };
        if tx.try_send(Command::Start(Box::new(rec))).is_err() {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            crate::warn_limited!("dvr: not recorded: the writer thread is behind");
        }
    }

    /// The file `app/stream` is being recorded to now, if it is.
    pub fn file(&self, key: &str) -> Option<String> {
        let files = self.stats.current.lock().unwrap_or_else(|e| e.into_inner());
        files.get(key).cloned()
    }

    /// Finishes every recording (what is queued is written, MP4 files get
    /// their moov) and tells the `on_dvr` hooks; waits at most `wait`.
    /// Call once the shards have stopped.
    pub fn stop(&self, wait: Duration) {
        let taken = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((tx, handle)) = taken else {
            return;
        };
        let (done_tx, done) = flume::bounded(1);
        let deadline = Instant::now() + wait;
        if tx.send_timeout(Command::Stop(done_tx), wait).is_err()
            || done.recv_deadline(deadline).is_err()
        {
            tracing::warn!(
                recording = self.stats.recording.load(Ordering::Relaxed),
                "dvr: recordings not finished within {wait:?} of the stop"
            );
            return;
        }
        let _ = handle.join();
    }
}

fn spawn(
    hub: Arc<Hub>,
    stats: Arc<DvrStats>,
) -> std::io::Result<(flume::Sender<Command>, JoinHandle<()>)> {
    let (tx, rx) = flume::bounded(COMMANDS);
    let handle = std::thread::Builder::new()
        .name("dvr".into())
        .spawn(move || Writer::new(hub, stats).run(&rx))?;
    Ok((tx, handle))
}

/// The writer thread's state.
struct Writer {
    hub: Arc<Hub>,
    stats: Arc<DvrStats>,
    recordings: HashMap<String, Recording>,
    hooks: Vec<JoinHandle<()>>,
}

impl Writer {
    fn new(hub: Arc<Hub>, stats: Arc<DvrStats>) -> Self {
        Self {
            hub,
            stats,
            recordings: HashMap::new(),
            hooks: Vec::new(),
        }
    }

    fn run(mut self, rx: &flume::Receiver<Command>) {
        loop {
            let cmd = if self.recordings.is_empty() {
                rx.recv().ok()
            } else {
                match rx.recv_timeout(POLL) {
                    Ok(c) => Some(c),
                    Err(flume::RecvTimeoutError::Timeout) => None,
                    Err(flume::RecvTimeoutError::Disconnected) => break,
                }
            };
            match cmd {
                Some(Command::Start(rec)) => {
                    if let Some(mut old) = self.recordings.remove(&rec.key) {
                        old.drain(&self.stats);
                        self.end(old);
                    }
                    self.stats.recording.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(stream = rec.key, "dvr: recording");
                    self.recordings.insert(rec.key.clone(), *rec);
                }
                Some(Command::Stop(done)) => {
                    for (_, mut rec) in std::mem::take(&mut self.recordings) {
                        rec.drain(&self.stats);
                        self.end(rec);
                    }
                    self.join_hooks(Duration::from_secs(3));
                    let _ = done.send(());
                    return;
                }
                None if !self.recordings.is_empty() => {}
                None => return,
            }
            let mut ended = Vec::new();
            let mut told = Vec::new();
            for (k, r) in &mut self.recordings {
                if !r.drain(&self.stats) {
                    ended.push(k.clone());
                }
                for file in r.finished.drain(..) {
                    told.push((r.subject.clone(), r.hooks.clone(), file));
                }
            }
            for (subject, hooks, file) in told {
                notify(&mut self.hooks, &subject, &hooks, &file);
            }
            for key in ended {
                if let Some(rec) = self.recordings.remove(&key) {
                    if self.hub.is_publishing(&key) {
                        self.stats.too_slow.fetch_add(1, Ordering::Relaxed);
                        crate::warn_limited!(
                            stream = key,
                            "dvr: fell behind the stream; its recording ends here"
                        );
                    }
                    self.end(rec);
                }
            }
            self.hooks.retain(|h| !h.is_finished());
        }
    }

    /// Finishes `rec`'s file and forgets it.
    fn end(&mut self, mut rec: Recording) {
        self.stats.recording.fetch_sub(1, Ordering::Relaxed);
        if let Some(done) = rec.close(&self.stats) {
            rec.finished.push(done);
        }
        for file in rec.finished.drain(..) {
            notify(&mut self.hooks, &rec.subject, &rec.hooks, &file);
        }
        tracing::info!(stream = rec.key, "dvr: recording ended");
    }

    fn join_hooks(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while self.hooks.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Tells the `on_dvr` hooks of `hooks` that `file` of `subject` is
/// finished, each call on a thread of its own (kept in `calls`).
fn notify(
    calls: &mut Vec<JoinHandle<()>>,
    subject: &DvrSubject,
    hooks: &HttpHooksConfig,
    file: &str,
) {
    if !hooks.enabled {
        return;
    }
    for url in &hooks.on_dvr {
        calls.retain(|h| !h.is_finished());
        if calls.len() >= MAX_HOOKS {
            crate::warn_limited!("dvr: on_dvr hook {url} skipped: {MAX_HOOKS} calls in flight");
            continue;
        }
        let (to, body) = (url.clone(), on_dvr_body(subject, file));
        let call = std::thread::Builder::new()
            .name("dvr-hook".into())
            .spawn(move || match crate::server::hooks::post(&to, &body) {
                Ok(()) => tracing::info!("on_dvr hook {to}: told"),
                Err(why) => crate::warn_limited!("on_dvr hook {to}: {why}"),
            });
        match call {
            Ok(h) => calls.push(h),
            Err(e) => crate::warn_limited!("dvr: on_dvr hook {url} not called: {e}"),
        }
    }
}

/// SRS's `on_dvr` body.
fn on_dvr_body(s: &DvrSubject, file: &str) -> String {
    let cwd = std::env::current_dir().map_or_else(|_| String::new(), |p| p.display().to_string());
    serde_json::json!({
        "server_id": "shardsfu",
        "service_id": "shardsfu",
        "action": "on_dvr",
        "client_id": s.client_id,
        "ip": s.ip,
        "vhost": s.vhost,
        "app": s.app,
        "tcUrl": s.tc_url,
        "stream": s.stream,
        "param": s.param,
        "cwd": cwd,
        "file": file,
        "stream_url": format!("/{}/{}", s.app, s.stream),
        "stream_id": s.client_id,
    })
    .to_string()
}

/// One file being written.
struct Open {
    /// The finished name.
    path: String,
    /// Where it is written until finished (`path` + `.tmp`).
    tmp: PathBuf,
    file: DvrFile<BufWriter<File>>,
}

/// One recorded stream.
struct Recording {
    key: String,
    subject: DvrSubject,
    rx: flume::Receiver<FlvTag>,
    dvr: DvrConfig,
    hooks: HttpHooksConfig,
    segmenter: Segmenter,
    file: Option<Open>,
    /// Writing failed: the rest of the publish is not recorded.
    failed: bool,
    /// Files finished whose hooks are not told yet.
    finished: Vec<String>,
}

/// Why a recording file could not be started or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The directory or file could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file or directory.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// What failed.
        source: DvrError,
    },
}

impl Recording {
    /// Writes what the queue holds; false once the stream ended.
    fn drain(&mut self, stats: &DvrStats) -> bool {
        for _ in 0..8192 {
            match self.rx.try_recv() {
                Ok(tag) => self.on_tag(&tag, stats),
                Err(flume::TryRecvError::Empty) => return true,
                Err(flume::TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    fn on_tag(&mut self, tag: &FlvTag, stats: &DvrStats) {
        if self.failed {
            return;
        }
        let step = self.segmenter.push(tag);
        let r = match (step, self.file.is_some()) {
            (Step::Cut, true) => {
                if let Some(done) = self.close(stats) {
                    self.finished.push(done);
                }
                self.open(stats).and_then(|()| {
                    for h in self.segmenter.headers() {
                        self.write(&h)?;
                    }
                    self.write(tag)
                })
            }
            (_, false) => self.open(stats).and_then(|()| self.write(tag)),
            (_, true) => self.write(tag),
        };
        if let Err(e) = r {
            self.fail(&e, stats);
        }
    }

    fn fail(&mut self, e: &RecordError, stats: &DvrStats) {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        crate::warn_limited!(stream = self.key, "dvr: not recording: {e}");
        self.failed = true;
        stats.set_file(&self.key, None);
        if let Some(open) = self.file.take() {
            let _ = open.file.finish();
            let _ = std::fs::rename(&open.tmp, &open.path);
        }
    }

    fn write(&mut self, tag: &FlvTag) -> Result<(), RecordError> {
        let Some(open) = self.file.as_mut() else {
            return Ok(());
        };
        open.file.write(tag).map_err(|source| RecordError::Write {
            path: open.path.clone(),
            source,
        })
    }

    /// Creates the next file (and its directories).
    fn open(&mut self, stats: &DvrStats) -> Result<(), RecordError> {
        let s = &self.subject;
        let path = dvr_path(
            &self.dvr.dvr_path,
            &s.vhost,
            &s.app,
            &s.stream,
            &wall_clock(SystemTime::now()),
        );
        let create = |p: &Path, source| RecordError::Create {
            path: p.display().to_string(),
            source,
        };
        if let Some(dir) = Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| create(dir, e))?;
        }
        let tmp = PathBuf::from(format!("{path}.tmp"));
        let f = File::create(&tmp).map_err(|e| create(&tmp, e))?;
        let out = BufWriter::with_capacity(FILE_BUFFER, f);
        let file =
            DvrFile::start(DvrFormat::of(&path), out, self.dvr.time_jitter).map_err(|source| {
                RecordError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        tracing::info!(stream = self.key, file = path, "dvr: file started");
        stats.set_file(&self.key, Some(&path));
        self.file = Some(Open { path, tmp, file });
        Ok(())
    }

    /// Finishes the current file; its name when it was finished.
    fn close(&mut self, stats: &DvrStats) -> Option<String> {
        let open = self.file.take()?;
        stats.set_file(&self.key, None);
        let finished = open
            .file
            .finish()
            .map_err(|source| RecordError::Write {
                path: open.path.clone(),
                source,
            })
            .and_then(|(out, ms)| {
                out.into_inner()
                    .map_err(|e| RecordError::Write {
                        path: open.path.clone(),
                        source: DvrError::Io(e.into_error()),
                    })
                    .map(|_| ms)
            });
        let renamed = std::fs::rename(&open.tmp, &open.path);
        match (finished, renamed) {
            (Ok(ms), Ok(())) => {
                stats.files.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    stream = self.key,
                    file = open.path,
                    duration_ms = ms,
                    "dvr: file finished"
                );
                Some(open.path)
            }
            (Err(e), _) => {
                self.fail(&e, stats);
                None
            }
            (Ok(_), Err(e)) => {
                self.fail(
                    &RecordError::Create {
                        path: open.path,
                        source: e,
                    },
                    stats,
                );
                None
            }
        }
    }
}

/// `now` in the local time zone, as SRS's path variables use it.
fn wall_clock(now: SystemTime) -> WallClock {
    let unix_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let t = (unix_ms / 1000) as libc::time_t;
    // SAFETY: `tm` is plain data, and localtime_r writes only into it.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    WallClock {
        unix_ms,
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1).clamp(1, 12) as u32,
        day: tm.tm_mday.clamp(1, 31) as u32,
        hour: tm.tm_hour.clamp(0, 23) as u32,
        minute: tm.tm_min.clamp(0, 59) as u32,
        second: tm.tm_sec.clamp(0, 60) as u32,
    }
}
