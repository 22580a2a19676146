//! Live churn for soak runs: RTMP publishers and RTMP / HTTP-FLV players,
//! one thread each, coming and going until the run ends. A publisher
//! streams an FLV clip in real time (looped) under a new stream name each
//! time, and ends cleanly, drops the connection in the middle of a message,
//! or stalls (sends nothing more, so the server's `publish.normal_timeout`
//! must close it). A player plays a random publisher's current name, which
//! may be gone (a play of a missing stream), over RTMP or HTTP-FLV, reads
//! for a while, and drops the connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use shardsfu::live::flv::{FlvDemuxer, FlvTag, TagKind};
use shardsfu::live::rtmp::chunk::write_message;
use shardsfu::live::rtmp::client;

use crate::peer::splitmix;
use crate::signal::Url;

/// What the live churn does.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// `rtmp://host:port/app/name` with `%d` for the stream number.
    pub rtmp: String,
    /// `http://host:port/app/name.flv` with `%d`, for HTTP-FLV plays (none: RTMP only).
    pub flv: Option<String>,
    /// Publisher threads.
    pub publishers: usize,
    /// Player threads.
    pub players: usize,
    /// The FLV clip publishers stream (H.264 + AAC).
    pub clip: PathBuf,
    /// Shortest and longest session.
    pub life: (Duration, Duration),
}

/// What happened.
#[derive(Debug, Default, Clone)]
pub struct LiveCounts {
    /// RTMP publishes started.
    pub publishes: u64,
    /// Publishes ended by closing between messages.
    pub publish_closed: u64,
    /// Publishes ended by closing in the middle of a message.
    pub publish_dropped_mid_message: u64,
    /// Publishes that stalled and were closed by the server.
    pub publish_stalled_closed: u64,
    /// Publishes that stalled and were still open when the wait ended.
    pub publish_stalled_open: u64,
    /// RTMP plays.
    pub rtmp_plays: u64,
    /// HTTP-FLV plays.
    pub flv_plays: u64,
    /// Bytes players read.
    pub play_bytes: u64,
    /// Sessions that failed to start (connect, handshake).
    pub errors: u64,
}

impl LiveCounts {
    fn add(&mut self, o: &LiveCounts) {
        self.publishes += o.publishes;
        self.publish_closed += o.publish_closed;
        self.publish_dropped_mid_message += o.publish_dropped_mid_message;
        self.publish_stalled_closed += o.publish_stalled_closed;
        self.publish_stalled_open += o.publish_stalled_open;
        self.rtmp_plays += o.rtmp_plays;
        self.flv_plays += o.flv_plays;
        self.play_bytes += o.play_bytes;
        self.errors += o.errors;
    }

    /// The JSON form.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "publishes": self.publishes,
            "publish_closed": self.publish_closed,
            "publish_dropped_mid_message": self.publish_dropped_mid_message,
            "publish_stalled_closed": self.publish_stalled_closed,
            "publish_stalled_open": self.publish_stalled_open,
            "rtmp_plays": self.rtmp_plays,
            "flv_plays": self.flv_plays,
            "play_bytes": self.play_bytes,
            "errors": self.errors,
        })
    }

    /// One line of text.
    pub fn text(&self) -> String {
        format!(
            "live churn: {} RTMP publishes (ended: {} closed, {} dropped mid-message, {} stalled and closed by the server, {} stalled still open), {} RTMP plays, {} HTTP-FLV plays ({} bytes read), {} errors\n",
            self.publishes,
            self.publish_closed,
            self.publish_dropped_mid_message,
            self.publish_stalled_closed,
            self.publish_stalled_open,
            self.rtmp_plays,
            self.flv_plays,
            self.play_bytes,
            self.errors
        )
    }
}

/// An `rtmp://host:port/app/name%d` URL.
#[derive(Debug, Clone)]
struct RtmpUrl {
    addr: SocketAddr,
    tc_url: String,
    app: String,
    name: String,
}

impl RtmpUrl {
    fn parse(url: &str) -> anyhow::Result<RtmpUrl> {
        let rest = url
            .strip_prefix("rtmp://")
            .with_context(|| format!("only rtmp:// URLs: {url}"))?;
        let (authority, path) = rest.split_once('/').context("no app in the RTMP URL")?;
        let (app, name) = path.split_once('/').context("no stream in the RTMP URL")?;
        let with_port = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:1935")
        };
        let addr = with_port
            .to_socket_addrs()?
            .next()
            .with_context(|| format!("no address for {authority}"))?;
        Ok(RtmpUrl {
            addr,
            tc_url: format!("rtmp://{authority}/{app}"),
            app: app.to_string(),
            name: name.to_string(),
        })
    }

    fn stream(&self, n: usize) -> String {
        self.name.replace("%d", &n.to_string())
    }
}

/// Shared by the threads: the clip, and each publisher's current stream.
struct Shared {
    url: RtmpUrl,
    flv: Option<String>,
    tags: Vec<FlvTag>,
    clip_ms: u32,
    current: Mutex<Vec<usize>>,
    life: (Duration, Duration),
    until: Instant,
}

/// Starts the threads; the handle gives the counts once all have ended
/// (by `until`, plus a stalled publisher's wait).
pub fn spawn(
    cfg: &LiveConfig,
    until: Instant,
    seed: u64,
) -> anyhow::Result<JoinHandle<LiveCounts>> {
    let url = RtmpUrl::parse(&cfg.rtmp)?;
    let bytes = std::fs::read(&cfg.clip)
        .with_context(|| format!("reading the FLV clip {}", cfg.clip.display()))?;
    let mut d = FlvDemuxer::new();
    d.push(&bytes);
    let mut tags = Vec::new();
    while let Some(t) = d.next_tag().map_err(|e| anyhow::anyhow!("{e}"))? {
        if matches!(t.kind, TagKind::Audio | TagKind::Video) {
            tags.push(t);
        }
    }
    anyhow::ensure!(
        !tags.is_empty(),
        "no audio or video in {}",
        cfg.clip.display()
    );
    let clip_ms = tags.iter().map(|t| t.timestamp_ms).max().unwrap_or(0) + 40;
    let shared = Arc::new(Shared {
        url,
        flv: cfg.flv.clone(),
        tags,
        clip_ms,
        current: Mutex::new((0..cfg.publishers.max(1)).collect()),
        life: cfg.life,
        until,
    });
    let publishers = cfg.publishers;
    let mut threads = Vec::new();
    for i in 0..cfg.publishers + cfg.players {
        let sh = shared.clone();
        let rng = splitmix(seed ^ (0x11fe_u64 + i as u64));
        threads.push(std::thread::spawn(move || {
            if i < publishers {
                publisher(&sh, i, publishers, rng)
            } else {
                player(&sh, rng)
            }
        }));
    }
    Ok(std::thread::spawn(move || {
        let mut all = LiveCounts::default();
        for t in threads {
            if let Ok(c) = t.join() {
                all.add(&c);
            }
        }
        all
    }))
}

/// A uniform draw in [0, 1).
fn uniform(rng: &mut u64) -> f64 {
    *rng = splitmix(*rng);
    (*rng >> 11) as f64 / (1u64 << 53) as f64
}

fn life(sh: &Shared, rng: &mut u64) -> Duration {
    let (lo, hi) = sh.life;
    lo + hi.saturating_sub(lo).mul_f64(uniform(rng))
}

/// Connects and shakes hands; `command` (`publish`/`play`) of `stream` sent.
fn open(url: &RtmpUrl, command: &str, stream: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&url.addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&client::hello())?;
    let mut s012 = vec![0u8; client::SERVER_HELLO_LEN];
    s.read_exact(&mut s012)?;
    s.write_all(&client::ack())?;
    s.write_all(&client::commands(&url.app, &url.tc_url, command, stream))?;
    Ok(s)
}

/// One tag as an RTMP message (audio on chunk stream 4, video on 6).
fn message(tag: &FlvTag, ts: u32, out: &mut Vec<u8>) {
    let (csid, kind) = match tag.kind {
        TagKind::Audio => (4, 8),
        _ => (6, 9),
    };
    write_message(out, csid, ts, kind, 1, &tag.data, CHUNK);
}

/// The chunk size publishers announce.
const CHUNK: usize = 4096;

fn publisher(sh: &Shared, slot: usize, publishers: usize, mut rng: u64) -> LiveCounts {
    let mut c = LiveCounts::default();
    let mut n = slot;
    while Instant::now() + sh.life.0 < sh.until {
        n += publishers.max(1);
        sh.current.lock().unwrap_or_else(|p| p.into_inner())[slot] = n;
        let stream = sh.url.stream(n);
        let Ok(mut s) = open(&sh.url, "publish", &stream) else {
            c.errors += 1;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        c.publishes += 1;
        let mut wire = Vec::new();
        write_message(&mut wire, 2, 0, 1, 0, &(CHUNK as u32).to_be_bytes(), 128);
        let ends = (Instant::now() + life(sh, &mut rng)).min(sh.until);
        let start = Instant::now();
        let mut ok = s.write_all(&wire).is_ok();
        let mut i = 0usize;
        let mut lap = 0u32;
        while ok && Instant::now() < ends {
            let tag = &sh.tags[i];
            let ts = lap * sh.clip_ms + tag.timestamp_ms;
            let due = start + Duration::from_millis(u64::from(ts));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait.min(ends.saturating_duration_since(Instant::now())));
                if Instant::now() >= ends {
                    break;
                }
            }
            // Sequence headers once, at the start; later laps repeat the frames.
            if lap == 0 || !tag.is_sequence_header() {
                wire.clear();
                message(tag, ts, &mut wire);
                ok = s.write_all(&wire).is_ok();
            }
            i += 1;
            if i == sh.tags.len() {
                i = 0;
                lap += 1;
            }
        }
        let draw = uniform(&mut rng);
        if !ok || draw < 0.5 {
            c.publish_closed += 1;
        } else if draw < 0.8 {
            // Half of the next message, then the connection goes.
            wire.clear();
            message(&sh.tags[i], lap * sh.clip_ms, &mut wire);
            let _ = s.write_all(&wire[..wire.len() / 2]);
            c.publish_dropped_mid_message += 1;
        } else {
            // Silence: the server must close it (publish.normal_timeout).
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let give_up = Instant::now() + Duration::from_secs(15);
            let closed = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break true,
                }
                if Instant::now() > give_up {
                    break false;
                }
            };
            if closed {
                c.publish_stalled_closed += 1;
            } else {
                c.publish_stalled_open += 1;
            }
        }
    }
    c
}

fn player(sh: &Shared, mut rng: u64) -> LiveCounts {
    let mut c = LiveCounts::default();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() + sh.life.0 < sh.until {
        let n = {
            let cur = sh.current.lock().unwrap_or_else(|p| p.into_inner());
            cur[(uniform(&mut rng) * cur.len() as f64) as usize % cur.len()]
        };
        let stream = sh.url.stream(n);
        let flv = sh
            .flv
            .as_ref()
            .filter(|_| uniform(&mut rng) < 0.5)
            .map(|f| Url::parse(f, n));
        let is_flv = flv.is_some();
        let conn = match flv {
            Some(Ok(u)) => {
                TcpStream::connect_timeout(&u.addr, Duration::from_secs(5)).and_then(|mut s| {
                    let req = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", u.target, u.authority);
                    s.write_all(req.as_bytes()).map(|()| s)
                })
            }
            Some(Err(_)) => Err(std::io::Error::other("bad FLV URL")),
            None => open(&sh.url, "play", &stream),
        };
        let Ok(mut s) = conn else {
            c.errors += 1;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        if is_flv {
            c.flv_plays += 1;
        } else {
            c.rtmp_plays += 1;
        }
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let ends = (Instant::now() + life(sh, &mut rng)).min(sh.until);
        while Instant::now() < ends {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => c.play_bytes += k as u64,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        // Dropped mid-stream, unread bytes and all.
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls_parse() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/live/soak%d").unwrap();
        assert_eq!(u.addr, SocketAddr::from(([127, 0, 0, 1], 19350)));
        assert_eq!((u.app.as_str(), u.stream(7).as_str()), ("live", "soak7"));
        assert_eq!(u.tc_url, "rtmp://127.0.0.1:19350/live");
        assert!(RtmpUrl::parse("http://x/live/a").is_err());
        assert!(RtmpUrl::parse("rtmp://127.0.0.1/live").is_err());
    }
}
