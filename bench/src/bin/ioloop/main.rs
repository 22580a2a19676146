//! shardsfu-ioloop: an A/B of the ways a forwarding thread can wait,
//! receive and send UDP, with the forwarding work held the same.
//!
//! One thread forwards (pinned to `--forward-cpu`): every datagram from a
//! publisher is copied to each of its subscribers, as an SFU's fan-out does
//! without the SRTP. Another (pinned to `--traffic-cpu`) sends the
//! publishers' paced bursts and receives the copies on one socket per
//! subscriber. The report gives the forwarding thread's CPU time per
//! forwarded datagram (user and system), datagrams per wait, loss and
//! latency, for the loop named by `--loop` (see [`loops::LoopKind`]).
//!
//! Every socket is on 127.0.0.1; run it in the loopback-only namespace
//! (`scripts/bench ioloop` does). It stops by itself after
//! `--warmup` + `--duration` seconds.

mod forward;
mod loops;
mod traffic;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use loops::LoopKind;

/// Compare receive/send loops on one forwarding thread.
#[derive(Parser, Debug)]
#[command(name = "shardsfu-ioloop", version)]
struct Args {
    /// The loop under test.
    #[arg(long = "loop", value_enum)]
    kind: LoopKind,
    /// Publishers (streams).
    #[arg(long, short = 'p', default_value_t = 1)]
    publishers: usize,
    /// Subscribers per publisher.
    #[arg(long, short = 'n', default_value_t = 1000)]
    fanout: usize,
    /// Datagrams per second per publisher (the harness's clip: ~170).
    #[arg(long, default_value_t = 170.0)]
    rate: f64,
    /// Datagrams a publisher sends together (a video frame's packets).
    #[arg(long, default_value_t = 4)]
    burst: usize,
    /// Bytes per datagram.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Seconds before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// CPU of the forwarding thread.
    #[arg(long, default_value_t = 1)]
    forward_cpu: usize,
    /// CPU of the traffic thread.
    #[arg(long, default_value_t = 0)]
    traffic_cpu: usize,
    /// Copies queued before a flush (the server flushes at the end of a
    /// received batch, or once 64 outputs are pending).
    #[arg(long, default_value_t = forward::MAX_OUT)]
    max_out: usize,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.duration > 0.0 && a.duration <= 600.0 && (0.0..=60.0).contains(&a.warmup),
        "--duration must be in (0, 600] and --warmup in [0, 60]"
    );
    anyhow::ensure!(
        a.publishers >= 1 && a.fanout >= 1 && a.publishers * a.fanout <= 20_000,
        "--publishers and --fanout must be >= 1 with at most 20000 subscribers in all"
    );
    anyhow::ensure!(
        a.rate > 0.0 && a.rate <= 100_000.0 && (1..=64).contains(&a.burst),
        "--rate must be in (0, 100000] and --burst in [1, 64]"
    );
    anyhow::ensure!(
        (16..=1472).contains(&a.size),
        "--size must be in [16, 1472]"
    );
    anyhow::ensure!(
        (1..=65_536).contains(&a.max_out),
        "--max-out must be in [1, 65536]"
    );
    raise_fd_limit(a.publishers * (a.fanout + 1) + 64);

    let loopback = |rcvbuf: usize| -> anyhow::Result<UdpSocket> {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        s.set_recv_buffer_size(rcvbuf)?;
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        Ok(s.into())
    };
    // The server's RTC socket asks for 8 MiB (src/server); the harness's 1 MiB.
    let forwarder = loopback(8 << 20).context("binding the forwarder's socket")?;
    let target = forwarder.local_addr()?;
    let publishers: Vec<UdpSocket> = (0..a.publishers)
        .map(|_| loopback(1 << 20))
        .collect::<anyhow::Result<_>>()?;
    let subscribers: Vec<UdpSocket> = (0..a.publishers * a.fanout)
        .map(|_| loopback(1 << 20))
        .collect::<anyhow::Result<_>>()
        .context("binding the subscribers' sockets")?;
    let mut routes = HashMap::new();
    for (i, p) in publishers.iter().enumerate() {
        let subs = &subscribers[i * a.fanout..(i + 1) * a.fanout];
        routes.insert(
            p.local_addr()?,
            subs.iter()
                .map(|s| s.local_addr())
                .collect::<Result<_, _>>()?,
        );
    }

    let counters = Arc::new(forward::Counters::default());
    let fwd = forward::Forwarder::new(routes, counters.clone(), a.max_out);
    let stop = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let kind = a.kind;
    let forward_cpu = a.forward_cpu;
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("forward".into())
        .spawn(move || {
            pin_to(forward_cpu);
            // SAFETY: gettid has no preconditions.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            loops::run(kind, forwarder, fwd, &stop2)
        })?;
    let tid = tid_rx
        .recv_timeout(Duration::from_secs(5))
        .context("the forwarding thread did not start")?;
    pin_to(a.traffic_cpu);
    let plan = traffic::Plan {
        fanout: a.fanout,
        rate: a.rate,
        burst: a.burst,
        size: a.size,
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.duration),
    };
    let outcome = traffic::run(&plan, &publishers, subscribers, target, tid, &counters);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Wakes a loop that waits for its socket (unknown sender: not forwarded).
    loopback(1 << 16)?.send_to(b"stop", target)?;
    let ran = thread
        .join()
        .map_err(|_| anyhow::anyhow!("the forwarding thread panicked"))?;
    let o = outcome.context("traffic")?;
    ran.with_context(|| format!("the {kind:?} loop"))?;
    let (text, json) = report(&a, &plan, &o);
    println!("{text}");
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")?;
    }
    Ok(())
}

/// One line of text and the JSON object of a run.
fn report(a: &Args, plan: &traffic::Plan, o: &traffic::Outcome) -> (String, serde_json::Value) {
    let secs = plan.duration.as_secs_f64();
    let cpu = (o.cpu_user + o.cpu_system).as_secs_f64();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / o.forwarded.max(1) as f64;
    let expected = o.published * plan.fanout as u64;
    let loss = 1.0 - o.delivered as f64 / expected.max(1) as f64;
    let q = |p: f64| o.latency_us.value_at_quantile(p) as f64 / 1000.0;
    let json = serde_json::json!({
        "loop": format!("{:?}", a.kind),
        "publishers": a.publishers,
        "fanout": a.fanout,
        "rate_pps": a.rate,
        "burst": a.burst,
        "size": a.size,
        "duration_s": secs,
        "received_pps": o.received as f64 / secs,
        "forwarded_pps": o.forwarded as f64 / secs,
        "dropped": o.dropped,
        "loss_ratio": loss,
        "cpu_share": cpu / secs,
        "us_per_forwarded": per(o.cpu_user + o.cpu_system),
        "user_us_per_forwarded": per(o.cpu_user),
        "system_us_per_forwarded": per(o.cpu_system),
        "datagrams_per_wait": o.received as f64 / o.waits.max(1) as f64,
        "latency_ms": { "p50": q(0.5), "p99": q(0.99), "max": o.latency_us.max() as f64 / 1000.0 },
    });
    let text = format!(
        "{:?}: {} x (1 -> {}) at {} pps: forwarded {:.0}/s, dropped {}, loss {:.3}%, \
         CPU {:.1}% = {:.2} us/forwarded ({:.2} user + {:.2} system), \
         {:.1} datagrams/wait, latency p50 {:.2} / p99 {:.2} / max {:.2} ms",
        a.kind,
        a.publishers,
        a.fanout,
        a.rate,
        o.forwarded as f64 / secs,
        o.dropped,
        loss * 100.0,
        cpu / secs * 100.0,
        per(o.cpu_user + o.cpu_system),
        per(o.cpu_user),
        per(o.cpu_system),
        o.received as f64 / o.waits.max(1) as f64,
        q(0.5),
        q(0.99),
        o.latency_us.max() as f64 / 1000.0,
    );
    (text, json)
}

/// Pins the calling thread to `cpu`; warns and runs unpinned when the
/// CPU is not allowed here.
fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays inside it (checked).
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            -1
        } else {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        }
    };
    if rc != 0 {
        eprintln!("shardsfu-ioloop: cannot pin a thread to CPU {cpu}; it runs unpinned");
    }
}

/// Raises the open-file limit to at least `want` (up to the hard limit).
fn raise_fd_limit(want: usize) {
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && (l.rlim_cur as usize) < want {
            l.rlim_cur = (want as libc::rlim_t).min(l.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
