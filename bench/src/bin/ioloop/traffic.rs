//! The traffic thread: publishers that send paced bursts of datagrams to
//! the forwarder, and the subscribers' sockets that take the copies and
//! measure each one's latency (kernel arrival stamp minus the send time the
//! publisher wrote into it). It also reads the forwarding thread's CPU time
//! from /proc at the start and end of the measured window.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use shards::{RecvBatch, SendBatch, RECV_BATCH};

use crate::forward::Counters;

/// The first bytes of every datagram the publishers send.
const MAGIC: &[u8; 4] = b"IOAB";

/// What the publishers send, and for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Subscribers per publisher.
    pub fanout: usize,
    /// Datagrams per second per publisher.
    pub rate: f64,
    /// Datagrams sent together (a video frame's packets).
    pub burst: usize,
    /// Bytes per datagram (at least 16).
    pub size: usize,
    /// Time before the measured window (the loops settle).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// The forwarding thread's CPU time: in all (ns, exact) and its user and
/// system parts (clock ticks, sampled).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    total_ns: u64,
    user: u64,
    system: u64,
}

/// What happened in the measured window.
#[derive(Debug)]
pub struct Outcome {
    /// Datagrams the publishers sent in the window.
    pub published: u64,
    /// Copies of those the subscribers received.
    pub delivered: u64,
    /// Copies the forwarder sent in the window.
    pub forwarded: u64,
    /// Copies the forwarder dropped (a full send buffer).
    pub dropped: u64,
    /// Datagrams the forwarder received in the window.
    pub received: u64,
    /// Times the forwarder waited for its socket in the window.
    pub waits: u64,
    /// The forwarding thread's user and system CPU time in the window.
    pub cpu_user: Duration,
    /// See `cpu_user`.
    pub cpu_system: Duration,
    /// Latency of delivered copies, µs.
    pub latency_us: Histogram<u64>,
}

/// Sends and receives by `plan` from `publishers` to `target`, the copies
/// arriving at `subscribers`; `forwarder_tid` is the forwarding thread
/// (for its CPU time) and `counters` its counters. Returns when the window
/// is over and its last copies have had 300 ms to arrive.
pub fn run(
    plan: &Plan,
    publishers: &[UdpSocket],
    subscribers: Vec<UdpSocket>,
    target: SocketAddr,
    forwarder_tid: i32,
    counters: &Arc<Counters>,
) -> io::Result<Outcome> {
    let mut poll = mio::Poll::new()?;
    let mut sinks = Vec::with_capacity(subscribers.len());
    for (i, s) in subscribers.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        shards::enable_arrival_stamps(s.as_raw_fd())?;
        let mut s = mio::net::UdpSocket::from_std(s);
        poll.registry()
            .register(&mut s, mio::Token(i), mio::Interest::READABLE)?;
        sinks.push(s);
    }
    let mut events = mio::Events::with_capacity(1024);
    let mut batch = RecvBatch::default();
    let mut send = SendBatch::default();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| io::Error::other(e.to_string()))?;

    let start = Instant::now();
    let window_start = start + plan.warmup;
    let window_end = window_start + plan.duration;
    let drain_end = window_end + Duration::from_millis(300);
    let interval = Duration::from_secs_f64(plan.burst as f64 / plan.rate);
    let p = publishers.len().max(1) as u32;
    let mut next: Vec<Instant> = (0..p).map(|i| start + interval * i / p).collect();
    let mut payload = vec![0u8; plan.size.max(16)];
    payload[..4].copy_from_slice(MAGIC);

    let (mut published, mut delivered) = (0u64, 0u64);
    let mut window: Option<(u64, u64)> = None; // realtime ns: [start, end)
    let mut before = None;
    let mut after = None;
    loop {
        let now = Instant::now();
        if now >= drain_end {
            break;
        }
        if before.is_none() && now >= window_start {
            before = Some((cpu_of(forwarder_tid)?, snapshot(counters)));
            window = Some((realtime_ns(), u64::MAX));
        }
        if after.is_none() && now >= window_end {
            after = Some((cpu_of(forwarder_tid)?, snapshot(counters)));
            if let Some(w) = window.as_mut() {
                w.1 = realtime_ns();
            }
        }
        if now < window_end {
            for (i, due) in next.iter_mut().enumerate() {
                while *due <= now {
                    payload[8..16].copy_from_slice(&realtime_ns().to_be_bytes());
                    let burst: Vec<(&[u8], SocketAddr)> = (0..plan.burst)
                        .map(|_| (payload.as_slice(), target))
                        .collect();
                    let fd = publishers[i].as_raw_fd();
                    let sent = send.send(fd, &burst, false).unwrap_or(0);
                    if before.is_some() {
                        published += sent as u64;
                    }
                    *due += interval;
                }
            }
        }
        let wait = next
            .iter()
            .min()
            .map_or(Duration::from_millis(1), |d| {
                d.saturating_duration_since(now)
            })
            .min(Duration::from_millis(1));
        poll.poll(&mut events, Some(wait))?;
        for ev in events.iter() {
            let fd = sinks[ev.token().0].as_raw_fd();
            loop {
                let n = batch.recv(fd)?;
                let read_at = realtime_ns();
                for r in (0..n).filter_map(|i| batch.get(i)) {
                    if r.data.len() < 16 || &r.data[..4] != MAGIC {
                        continue;
                    }
                    let sent_at = u64::from_be_bytes(r.data[8..16].try_into().expect("8 bytes"));
                    if !window.is_some_and(|(a, b)| (a..b).contains(&sent_at)) {
                        continue;
                    }
                    delivered += 1;
                    let arrived = read_at.saturating_sub(r.waited.as_nanos() as u64);
                    let us = arrived.saturating_sub(sent_at) / 1000;
                    latency_us.saturating_record(us.max(1));
                }
                if n < RECV_BATCH {
                    break;
                }
            }
        }
    }
    let ((cpu0, c0), (cpu1, c1)) = (before.unwrap_or_default(), after.unwrap_or_default());
    // The exact total, split in the sampled ticks' proportion.
    let total = Duration::from_nanos(cpu1.total_ns - cpu0.total_ns);
    let (user, system) = (cpu1.user - cpu0.user, cpu1.system - cpu0.system);
    let user_share = user as f64 / (user + system).max(1) as f64;
    let cpu_user = total.mul_f64(user_share);
    Ok(Outcome {
        published,
        delivered,
        forwarded: c1.sent - c0.sent,
        dropped: c1.dropped - c0.dropped,
        received: c1.received - c0.received,
        waits: c1.waits - c0.waits,
        cpu_user,
        cpu_system: total - cpu_user,
        latency_us,
    })
}

/// The forwarder's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    received: u64,
    sent: u64,
    dropped: u64,
    waits: u64,
}

fn snapshot(c: &Counters) -> Snapshot {
    Snapshot {
        received: c.received.load(Ordering::Relaxed),
        sent: c.sent.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        waits: c.waits.load(Ordering::Relaxed),
    }
}

/// A thread's CPU time: the scheduler's exact run time (the first field of
/// /proc/self/task/TID/schedstat) and the user and system ticks of its stat
/// (fields 14 and 15, after the parenthesised name).
fn cpu_of(tid: i32) -> io::Result<Cpu> {
    let schedstat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))?;
    let total_ns = schedstat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::other(format!("thread {tid}: schedstat unreadable")))?;
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other(format!("thread {tid}: no name in its stat")))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| -> io::Result<u64> {
        fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| {
            io::Error::other(format!("thread {tid}: stat field {} unreadable", i + 3))
        })
    };
    // After ") ": field 3 (state) is index 0, so utime (14) is 11.
    Ok(Cpu {
        total_ns,
        user: num(11)?,
        system: num(12)?,
    })
}

/// `CLOCK_REALTIME` in ns: the clock of the kernel's arrival stamps.
fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
