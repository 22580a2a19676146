//! The event loop: one thread, one mio poll over every peer's UDP socket, a
//! timer heap, and the signaling pool's results arriving through a waker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use shardsfu::dtls::DtlsCert;

use crate::live::LiveConfig;
use crate::media::Clip;
use crate::peer::{splitmix, Arrival, Ctx, Peer, State};
use crate::report::{self, Final, ServerFigures, Snapshot, Stats};
use crate::signal::{self, Done, Job, Role, Url};
use crate::soak::{Churn, ChurnConfig};
use crate::sock;

const WAKER: Token = Token(usize::MAX);

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// WHIP URL (`%d` = stream number).
    pub whip: String,
    /// WHEP URLs (`%d` = stream number); subscribers take them in turn
    /// (several: players spread over the nodes of a cluster).
    pub whep: Vec<String>,
    /// Publishers.
    pub publishers: usize,
    /// Subscribers.
    pub subscribers: usize,
    /// Streams subscribers are spread over.
    pub streams: usize,
    /// Run length from the first POST.
    pub duration: Duration,
    /// Peers started per second (0 = all at once).
    pub ramp: f64,
    /// Server process to measure.
    pub server_pid: Option<u32>,
    /// Signaling threads.
    pub signal_threads: usize,
    /// Print a progress line per second.
    pub progress: bool,
    /// Clip cache directory.
    pub media_dir: PathBuf,
    /// Video bit rate of the clip, kbps.
    pub video_kbps: u32,
    /// UDP receive buffer per socket, bytes.
    pub rcvbuf: usize,
    /// Subscribers read a sender's UDP GSO message whole ([`sock::enable_gro`]).
    pub gro: bool,
    /// Soak: peers come and go for the whole run (`-p`/`-n` are then slots).
    pub churn: Option<ChurnConfig>,
    /// Soak: RTMP publishers and RTMP/HTTP-FLV players coming and going too.
    pub live: Option<LiveConfig>,
}

/// Runs the load and returns the final figures as (text, JSON).
pub fn run(cfg: &Config) -> anyhow::Result<(String, serde_json::Value)> {
    let clip = Clip::load_or_make(&cfg.media_dir, cfg.video_kbps, 10)?;
    let (vk, ak) = clip.bitrates_kbps();
    eprintln!(
        "clip: {} video frames ({vk:.0} kbps), {} opus packets ({ak:.0} kbps)",
        clip.video.len(),
        clip.audio.len()
    );
    let cert = DtlsCert::generate().map_err(|e| anyhow::anyhow!("certificate: {e}"))?;
    let fingerprint = cert.fingerprint_sha256();
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let w2 = waker.clone();
    let (jobs, done) = signal::pool(
        cfg.signal_threads,
        Duration::from_secs(10),
        Arc::new(move || {
            let _ = w2.wake();
        }),
    );

    let epoch = Instant::now();
    let seed = sock::realtime_ns() ^ (u64::from(std::process::id()) << 32) ^ 0x5eed;
    let mut peers = Vec::with_capacity(cfg.publishers + cfg.subscribers);
    let streams = cfg.streams.max(1);
    for i in 0..cfg.publishers + cfg.subscribers {
        let (role, stream) = if i < cfg.publishers {
            (Role::Publisher, i)
        } else {
            (Role::Subscriber, (i - cfg.publishers) % streams)
        };
        peers.push(open_peer(
            cfg,
            poll.registry(),
            i,
            role,
            stream,
            splitmix(seed ^ i as u64),
            epoch,
        )?);
    }
    let mut churn = cfg
        .churn
        .clone()
        .map(|c| Churn::new(c, splitmix(seed ^ 0xc0ffee), cfg.publishers));
    let mut reincarnations = 0u64;

    let mut stats = Stats::new();
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = Events::with_capacity(1024);
    // Room for a whole GSO message when subscribers read them whole.
    let mut buf = vec![0u8; if cfg.gro { 65_536 } else { 2048 }];
    let t0 = Instant::now();
    let end = t0 + cfg.duration;
    let mut next_tick = t0 + Duration::from_secs(1);
    let mut last = Snapshot::default();
    let mut last_at = t0;
    let mut started = 0usize;
    let mut ramp_base = t0;
    let mut ramp_base_n = 0usize;
    let proc0 = cfg.server_pid.and_then(report::proc_sample);
    let me0 = report::proc_sample(std::process::id());
    let mut rss_max = proc0.map_or(0, |p| p.rss_kib);
    let spacing = if cfg.ramp > 0.0 {
        Duration::from_secs_f64(1.0 / cfg.ramp)
    } else {
        Duration::ZERO
    };
    let mut due = Vec::new();
    let mut backlog: Vec<usize> = Vec::new();
    let live = match &cfg.live {
        Some(l) => Some(crate::live::spawn(l, end, splitmix(seed ^ 0x11fe))?),
        None => None,
    };

    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Start peers: publishers first; subscribers once every publisher is up or failed
        // (or 5 s passed), so plays find their stream.
        while started < peers.len() {
            let is_sub = started >= cfg.publishers;
            if is_sub && started == cfg.publishers && ramp_base_n != started {
                let pubs_done = peers[..cfg.publishers]
                    .iter()
                    .all(|p| matches!(p.state, State::Media | State::Failed));
                if !pubs_done && now < t0 + Duration::from_secs(5) {
                    break;
                }
                ramp_base = now;
                ramp_base_n = started;
            }
            let at = ramp_base + spacing * (started - ramp_base_n) as u32;
            if at > now {
                break;
            }
            let p = &mut peers[started];
            post(p, started, cfg, &fingerprint, &jobs, now)?;
            if let Some(ch) = churn.as_mut() {
                ch.on_start(p, now);
            }
            started += 1;
        }

        // Soak: end the peers whose time is up, and start new ones in their slots.
        if let Some(ch) = churn.as_mut() {
            for (id, slot) in peers.iter_mut().enumerate().take(started) {
                if !ch.due(slot, now) {
                    continue;
                }
                ch.end(slot, &jobs);
                let _ = poll.registry().deregister(&mut slot.sock);
                if now + ch.cfg.life.0 >= end || !ch.may_start() {
                    continue;
                }
                let stream = ch.stream_for(slot.role, id);
                reincarnations += 1;
                let rng = splitmix(seed ^ (reincarnations << 20) ^ id as u64);
                let mut p = open_peer(cfg, poll.registry(), id, slot.role, stream, rng, epoch)?;
                post(&mut p, id, cfg, &fingerprint, &jobs, now)?;
                ch.on_start(&mut p, now);
                *slot = p;
            }
            ch.observe(&peers);
        }

        let mut timeout = end
            .saturating_duration_since(now)
            .min(next_tick.saturating_duration_since(now));
        if let Some(Reverse((t, _))) = heap.peek() {
            timeout = timeout.min(t.saturating_duration_since(now));
        }
        if started < peers.len() {
            timeout = timeout.min(Duration::from_millis(1));
        }
        if !backlog.is_empty() {
            timeout = Duration::ZERO;
        }
        poll.poll(&mut events, Some(timeout))?;

        let mut ctx = Ctx {
            stats: &mut stats,
            clip: &clip,
            cert: &cert,
        };
        for ev in events.iter() {
            if ev.token() == WAKER {
                while let Ok(d) = done.try_recv() {
                    if let Done::Posted { id, result } = d {
                        let p = &mut peers[id];
                        match result {
                            Ok(posted) => {
                                let (answer, loc) = *posted;
                                p.location = loc;
                                if p.state == State::Signaling {
                                    p.handle_answer(answer, Instant::now());
                                }
                            }
                            Err(reason) => p.fail(&reason, ctx.stats),
                        }
                        schedule(p, id, &mut heap);
                    }
                }
                continue;
            }
            let id = ev.token().0;
            if id < peers.len() && !backlog.contains(&id) {
                backlog.push(id);
            }
        }
        // Read every readable socket until it would block, 64 datagrams at a
        // time per socket so one busy peer cannot starve the others; sockets
        // with more stay on the list (mio is edge-triggered).
        let mut i = 0;
        while i < backlog.len() {
            let id = backlog[i];
            let p = &mut peers[id];
            let mut drained = false;
            for _ in 0..64 {
                match sock::recv(&p.sock, &mut buf) {
                    Ok(r) => {
                        if r.segment.is_some_and(|s| s < r.len) {
                            ctx.stats.gro_reads.0 += 1;
                            ctx.stats.gro_reads.1 += r.datagrams(&buf).len() as u64;
                        }
                        let at = Arrival {
                            kernel_ns: r.kernel_ns,
                            user_ns: sock::realtime_ns(),
                        };
                        for d in r.datagrams(&buf) {
                            p.handle_datagram(Instant::now(), at, r.from, d, &mut ctx);
                        }
                    }
                    Err(_) => {
                        // WouldBlock, or an error such as ECONNREFUSED: read again on the next event.
                        drained = true;
                        break;
                    }
                }
            }
            schedule(p, id, &mut heap);
            if drained {
                backlog.swap_remove(i);
            } else {
                i += 1;
            }
        }

        let now = Instant::now();
        due.clear();
        while let Some(&Reverse((t, id))) = heap.peek() {
            if t > now {
                break;
            }
            heap.pop();
            if peers[id].scheduled == Some(t) {
                peers[id].scheduled = None;
                due.push(id);
            }
        }
        for &id in &due {
            let p = &mut peers[id];
            p.handle_timeout(now, &mut ctx);
            schedule(p, id, &mut heap);
        }

        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            let snap = snapshot(&stats, &peers);
            if let Some(s) = cfg.server_pid.and_then(report::proc_sample) {
                rss_max = rss_max.max(s.rss_kib);
            }
            if cfg.progress {
                let (pubs, subs, pending) = counts(&peers);
                let failed: u64 = stats.failures.values().sum();
                let dt = now
                    .saturating_duration_since(last_at)
                    .as_secs_f64()
                    .max(1e-3);
                eprintln!(
                    "{}",
                    report::progress_line(now - t0, pubs, subs, pending, failed, &last, &snap, dt)
                );
            }
            last = snap;
            last_at = now;
        }
    }

    let elapsed = t0.elapsed().as_secs_f64();
    let proc1 = cfg.server_pid.and_then(report::proc_sample);
    if let Some(s) = proc1 {
        rss_max = rss_max.max(s.rss_kib);
    }
    let me1 = report::proc_sample(std::process::id());
    let harness_cpu = match (me0, me1) {
        (Some(a), Some(b)) => b.cpu_seconds - a.cpu_seconds,
        _ => 0.0,
    };
    let snap = snapshot(&stats, &peers);
    let (pubs, subs, _) = counts(&peers);
    // Peers that never got going by the end are counted, so every peer is
    // accounted for (in a soak, peers are always coming and going: not failures).
    for p in peers.iter_mut().filter(|_| churn.is_none()) {
        match p.state {
            State::Idle => p.fail("not_started", &mut stats),
            State::Signaling => p.fail("signaling_pending_at_end", &mut stats),
            State::Ice => p.fail("ice_pending_at_end", &mut stats),
            State::Dtls => p.fail("dtls_pending_at_end", &mut stats),
            State::Media if p.role == Role::Subscriber && !p.got_media => {
                p.fail("no_media_at_end", &mut stats)
            }
            _ => {}
        }
    }
    // Tear down the sessions (bounded: 3 s); a soak's last peers end as
    // the churn draws (some vanish, for the server to reclaim).
    let mut deletes = 0;
    for p in &mut peers {
        if let Some(ch) = churn.as_mut() {
            if !matches!(p.state, State::Idle | State::Signaling | State::Ended) && ch.end(p, &jobs)
            {
                deletes += 1;
            }
        } else if let Some(url) = &p.location {
            let _ = jobs.send(Job::Delete { url: url.clone() });
            deletes += 1;
        }
    }
    let stop = Instant::now() + Duration::from_secs(3);
    while deletes > 0 && Instant::now() < stop {
        if let Ok(Done::Deleted) = done.recv_timeout(stop.saturating_duration_since(Instant::now()))
        {
            deletes -= 1;
        }
    }
    drop(jobs);

    let server = match (proc0, proc1) {
        (Some(a), Some(b)) => Some(ServerFigures {
            cpu_seconds: b.cpu_seconds - a.cpu_seconds,
            rss_kib: rss_max,
            rss_start_kib: a.rss_kib,
            hwm_kib: b.hwm_kib,
        }),
        _ => None,
    };
    let f = Final {
        duration_s: elapsed,
        publishers_connected: pubs,
        subscribers_connected: subs,
        publishers: cfg.publishers,
        subscribers: cfg.subscribers,
        expected: snap.expected,
        received: snap.received,
        stats: &stats,
        server,
        harness_cpu_seconds: harness_cpu,
    };
    let (mut text, mut json) = (f.text(), f.json());
    if let Some(ch) = &churn {
        text.push_str(&ch.counts.text());
        json["churn"] = ch.counts.json();
    }
    if let Some(handle) = live {
        let counts = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a live churn thread panicked"))?;
        text.push_str(&counts.text());
        json["live"] = counts.json();
    }
    Ok((text, json))
}

/// A peer for slot `id`: its UDP socket bound (beside the WHIP/WHEP host)
/// and registered with the poll under `Token(id)`.
fn open_peer(
    cfg: &Config,
    registry: &mio::Registry,
    id: usize,
    role: Role,
    stream: usize,
    seed: u64,
    epoch: Instant,
) -> anyhow::Result<Peer> {
    let bind = std::net::SocketAddr::new(Url::parse(url_template(cfg, role, id), 0)?.addr.ip(), 0);
    let mut sock = UdpSocket::bind(bind).with_context(|| format!("binding UDP socket {id}"))?;
    sock::set_rcvbuf(&sock, cfg.rcvbuf);
    if role == Role::Subscriber {
        sock::enable_timestamps(&sock);
        if cfg.gro && !sock::enable_gro(&sock) {
            anyhow::bail!("the kernel refused UDP_GRO on subscriber socket {id}");
        }
    }
    registry.register(&mut sock, Token(id), Interest::READABLE)?;
    Ok(Peer::new(role, stream, sock, seed, epoch))
}

/// The WHIP URL for publishers, a WHEP URL for subscribers: subscriber
/// `k` (peer `id` = publishers + `k`) plays stream `k mod streams` and takes
/// the URLs in turn per round over the streams, so with at least
/// `streams × URLs` subscribers every stream is played through every URL.
fn url_template(cfg: &Config, role: Role, id: usize) -> &str {
    if role == Role::Publisher || cfg.whep.is_empty() {
        return &cfg.whip;
    }
    let round = id.saturating_sub(cfg.publishers) / cfg.streams.max(1);
    &cfg.whep[round % cfg.whep.len()]
}

/// Sends peer `id`'s offer to the signaling pool.
fn post(
    p: &mut Peer,
    id: usize,
    cfg: &Config,
    fingerprint: &str,
    jobs: &crossbeam_channel::Sender<Job>,
    now: Instant,
) -> anyhow::Result<()> {
    let url = Url::parse(url_template(cfg, p.role, id), p.stream)?;
    let offer = signal::offer(p.role, &p.ufrag, &p.pwd, fingerprint, p.port(), p.ssrcs);
    p.state = State::Signaling;
    p.post_at = Some(now);
    let _ = jobs.send(Job::Post { id, url, offer });
    Ok(())
}

/// Puts the peer's next wake-up on the heap unless an earlier one is there.
fn schedule(p: &mut Peer, id: usize, heap: &mut BinaryHeap<Reverse<(Instant, usize)>>) {
    if let Some(w) = p.wake() {
        if p.scheduled.is_none_or(|s| w < s) {
            p.scheduled = Some(w);
            heap.push(Reverse((w, id)));
        }
    }
}

fn snapshot(stats: &Stats, peers: &[Peer]) -> Snapshot {
    let mut s = Snapshot {
        pkts_in: stats.pkts_in,
        bytes_in: stats.bytes_in,
        pkts_out: stats.pkts_out,
        bytes_out: stats.bytes_out,
        nacks: stats.nacks_sent,
        plis: stats.plis_sent + stats.plis_recv,
        ..Snapshot::default()
    };
    for p in peers.iter().filter(|p| p.role == Role::Subscriber) {
        for t in &p.tracks {
            s.expected += t.expected();
            s.received += t.received;
        }
    }
    s
}

/// (publishers sending, subscribers receiving, peers still connecting).
fn counts(peers: &[Peer]) -> (usize, usize, usize) {
    let pubs = peers
        .iter()
        .filter(|p| p.role == Role::Publisher && p.state == State::Media)
        .count();
    let subs = peers
        .iter()
        .filter(|p| p.role == Role::Subscriber && p.got_media && p.state == State::Media)
        .count();
    let pending = peers
        .iter()
        .filter(|p| matches!(p.state, State::Signaling | State::Ice | State::Dtls))
        .count()
        + peers
            .iter()
            .filter(|p| p.role == Role::Subscriber && p.state == State::Media && !p.got_media)
            .count();
    (pubs, subs, pending)
}
