//! Per-shard server state and the run loops that drive the protocol cores.
//!
//! [`serve`] builds the process-wide [`Shared`] state and starts one shard
//! per configured worker. Each shard binds the RTC UDP port (and TCP port),
//! the HTTP API and HTTP server ports (and their HTTPS ports) and the RTMP
//! port with `SO_REUSEPORT`, then runs: the UDP receive loop
//! ([`ShardRuntime::on_datagram`]), one receive loop per peer shard
//! ([`ShardRuntime::on_mesh`]), an accept loop per HTTP, RTMP and
//! WebRTC-over-TCP listener ([`rtc_tcp`]) and per port those share
//! ([`port_mux`]), and the timer tick that also watches for shutdown.

pub mod cluster;
pub mod cluster_forward;
pub mod cluster_link;
pub mod cluster_rooms;
pub mod conn_limit;
mod core;
pub mod drain;
pub mod dvr;
pub mod files;
pub mod hooks;
mod http_conn;
pub mod live;
pub mod metrics;
pub mod mix;
pub mod ops;
pub mod outbound;
pub mod port_mux;
pub mod pull;
pub mod reload;
pub mod resolver;
pub mod rooms;
pub mod rtc_tcp;
pub mod shared;
pub mod sig_ws;
pub mod signaling;
pub mod snapshots;
pub mod timeouts;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use shards::glommio::{self, net::UdpSocket};
use shards::{RuntimeOptions, ShardContext, Signals, SocketOptions};

pub use self::core::{RtcSocket, ShardRuntime};
pub use self::reload::ConfigSource;
pub use self::shared::Shared;
pub use crate::api::Site;
use crate::config::{Config, TcpService};
use crate::sfu::{Sfu, SfuConfig, ShardMsg};

/// How often each shard runs its timers and checks for shutdown.
const TICK: Duration = Duration::from_millis(20);
/// How often a shard looks at its pulls (linger, origin gone, resume).
const PULL_CHECK: Duration = Duration::from_millis(250);

/// Runs the server until `signals.shutdown` is requested. Returns once every
/// shard has closed its sessions. The other signals are handled by the
/// [`ops`] thread.
pub fn serve(config: Config, source: ConfigSource, signals: Signals) -> anyhow::Result<()> {
    let workers = config
        .workers
        .unwrap_or_else(|| shards::allowed_cpus().len())
        .max(1);
    let shared = Arc::new(Shared::new(config, source, workers)?);
    tracing::info!(
        workers,
        fingerprint = %shared.fingerprint,
        candidate = %shared.current.get().candidates.candidates.join(" "),
        "shardsfu {} starting",
        env!("CARGO_PKG_VERSION")
    );
    let ops = ops::Ops::spawn(shared.clone(), signals.clone())
        .context("cannot start the operations thread")?;
    let exporter = metrics::Exporter::spawn(shared.clone(), signals.shutdown.clone());
    let exporter = match exporter {
        Ok(e) => e,
        Err(e) => {
            ops.stop();
            return Err(e.into());
        }
    };
    let cluster = match cluster::Cluster::spawn(shared.clone(), signals.shutdown.clone()) {
        Ok(c) => c,
        Err(e) => {
            ops.stop();
            return Err(anyhow::Error::new(e).context("cannot start the cluster thread"));
        }
    };
    let opts = RuntimeOptions::new(workers, signals.shutdown.clone());
    let recorder = shared.clone();
    let results = shards::run(opts, move |ctx: ShardContext<ShardMsg>| {
        let shared = shared.clone();
        async move { shard_main(ctx, shared).await }
    });
    // The shards ended every publish: finish the recordings' files.
    recorder.dvr.stop(DVR_STOP_WAIT);
    ops.stop();
    if let Some(e) = exporter {
        e.join();
    }
    if let Some(c) = cluster {
        let _ = c.join();
    }
    let results = results?;
    // A shard that could not bind reports why; the others were told to stop.
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

async fn shard_main(mut ctx: ShardContext<ShardMsg>, shared: Arc<Shared>) -> anyhow::Result<()> {
    let bound = bind_all(&shared);
    let Bound {
        udp,
        http,
        rtmp,
        rtc_tcp,
        shared: shared_ports,
    } = match bound {
        Ok(b) => b,
        Err(e) => {
            ctx.shutdown.request();
            return Err(e.context(format!("shard {}", ctx.id)));
        }
    };
    // Every socket of this shard listens: readiness counts it (ops.rs).
    shared.liveness.shard_bound();
    let receivers = ctx.mesh.take_receivers();
    let local_addr = udp
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut load = crate::overload::ShardLoad::new(None);
    core::configure_overload(&mut load, &shared.current.get().config);
    load.handle_cpu_time(Instant::now(), shards::thread_cpu_time());
    let core = Rc::new_cyclic(|this| ShardRuntime {
        id: ctx.id,
        count: ctx.count,
        sfu: std::cell::RefCell::new(Sfu::new(SfuConfig {
            id: ctx.id,
            local_addr,
            cert: shared.cert.clone(),
            ntp: shared.ntp,
            stats: shared.stats[ctx.id].clone(),
            settings: shared.current.get().settings.clone(),
        })),
        shared,
        mesh: ctx.mesh,
        udp: udp
            .into_iter()
            .map(|s| RtcSocket::new(Rc::new(s)))
            .collect(),
        batch: Default::default(),
        tcp_peers: Default::default(),
        stop: Default::default(),
        spare: Default::default(),
        settings_generation: std::cell::Cell::new(0),
        pull_routes: Default::default(),
        this: this.clone(),
        load: std::cell::RefCell::new(load),
    });
    // Media (RTC sockets, the mesh, WebRTC over TCP) runs in its own task
    // queue: when it saturates the shard, the default queue (HTTP, RTMP,
    // signaling, the shard's timers) still gets an equal share of the CPU.
    let media = glommio::executor().create_task_queue(
        glommio::Shares::Static(1000),
        glommio::Latency::NotImportant,
        "media",
    );
    let mut tasks = Vec::new();
    for s in core.udp.clone() {
        tasks.push(in_queue(udp_loop(core.clone(), s.sock), media)?);
    }
    for (_peer, rx) in receivers {
        let core = core.clone();
        tasks.push(in_queue(
            async move {
                while let Some(msg) = rx.recv().await {
                    core.on_mesh(msg).await;
                    glommio::yield_if_needed().await;
                }
            },
            media,
        )?);
    }
    for (listener, site, tls) in http {
        tasks.push(glommio::spawn_local(http_conn::accept_loop(
            core.clone(),
            listener,
            site,
            tls,
        )));
    }
    for listener in rtc_tcp {
        tasks.push(in_queue(
            rtc_tcp::accept_loop(core.clone(), listener),
            media,
        )?);
    }
    for (listener, roles) in shared_ports {
        tasks.push(glommio::spawn_local(port_mux::accept_loop(
            core.clone(),
            listener,
            roles,
        )));
    }
    // Live streaming: one RTMP accept loop per `listen` address.
    for listener in rtmp {
        tasks.push(glommio::spawn_local(live::rtmp_conn::accept_loop(
            core.clone(),
            listener,
        )));
    }
    tracing::debug!(shard = ctx.id, cpu = ?ctx.cpu, "shard running");
    let mut last_snapshot = Instant::now();
    const SNAPSHOT_INTERVAL: Duration = crate::sfu::snapshot::SNAPSHOT_INTERVAL;
    let mut last_sweep = Instant::now();
    let mut last_pull_check = Instant::now();
    while !ctx.shutdown.is_requested() {
        glommio::timer::sleep(TICK).await;
        let now = Instant::now();
        core.sync_settings();
        // One shard reclaims unused live streams for the whole process.
        if core.id == 0 && now.duration_since(last_sweep) >= live::hub::SWEEP_INTERVAL {
            last_sweep = now;
            core.shared.live.sweep(now);
            // Counts of rate-limited log lines whose second is over.
            crate::util::log_limit::flush(now);
        }
        let with_clients = now.duration_since(last_snapshot) >= SNAPSHOT_INTERVAL;
        if with_clients {
            last_snapshot = now;
        }
        core.tick(now, with_clients).await;
        if now.duration_since(last_pull_check) >= PULL_CHECK {
            last_pull_check = now;
            pull::tick(&core, now).await;
        }
        core.shared.liveness.shard_ticked(ctx.id);
    }
    // Stop accepting and receiving, then end the sessions.
    drop(tasks);
    stop_live(&core).await;
    core.close_all().await;
    core.mesh.close();
    tracing::debug!(shard = ctx.id, "shard stopped");
    Ok(())
}

/// Ends this shard's RTMP and HTTP-FLV connections (their sessions' end
/// lines say `shutdown`), waiting for them at most [`LIVE_STOP_WAIT`].
async fn stop_live(core: &ShardRuntime) {
    core.stop.raise();
    let deadline = Instant::now() + LIVE_STOP_WAIT;
    while live::session::open_here() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// How long the stop waits for the recordings' files to be finished.
const DVR_STOP_WAIT: Duration = Duration::from_secs(5);

/// How long a stopping shard waits for its live connections to end.
const LIVE_STOP_WAIT: Duration = Duration::from_millis(300);

/// An HTTP listener, what it serves, and its TLS when it is an `https` one.
type HttpListener = (
    glommio::net::TcpListener,
    Site,
    Option<futures_rustls::TlsAcceptor>,
);

/// The listeners of one shard.
#[derive(Default)]
struct Bound {
    /// RTC UDP sockets.
    udp: Vec<UdpSocket>,
    /// HTTP and HTTPS listeners of one site each.
    http: Vec<HttpListener>,
    /// RTMP listeners.
    rtmp: Vec<glommio::net::TcpListener>,
    /// WebRTC-over-TCP listeners of their own.
    rtc_tcp: Vec<glommio::net::TcpListener>,
    /// Listeners shared by several of HTTP, HTTPS and WebRTC over TCP.
    shared: Vec<(glommio::net::TcpListener, Rc<port_mux::Roles>)>,
}

fn bind_all(shared: &Shared) -> anyhow::Result<Bound> {
    let cfg = &shared.config;
    let tcp = tcp_endpoints(cfg);
    let v6_only = shards::v6_only;
    let mut out = Bound::default();
    if cfg.rtc_server.enabled {
        let all = &cfg.rtc_server.listen;
        for addr in all {
            let sock = shards::bind_udp(*addr, SocketOptions::default(), v6_only(*addr, all))
                .with_context(|| format!("rtc_server: cannot bind UDP {addr}"))?;
            out.udp.push(sock);
        }
    }
    // Every TCP address once, with what it serves (`Config` refused the
    // services that cannot share one).
    for listen in crate::config::tcp_listeners(cfg) {
        let addr = listen.addr;
        let names: Vec<&str> = listen.services.iter().map(|s| s.directive()).collect();
        let l = shards::bind_tcp(addr, v6_only(addr, &tcp))
            .with_context(|| format!("{}: cannot bind TCP {addr}", names.join(" and ")))?;
        let roles = roles(shared, &listen);
        match (&roles.plain, &roles.tls, roles.rtc) {
            _ if listen.serves(TcpService::Rtmp) => out.rtmp.push(l),
            (Some(site), None, false) => out.http.push((l, *site, None)),
            (None, Some((site, tls)), false) => out.http.push((l, *site, Some(tls.clone()))),
            (None, None, true) => out.rtc_tcp.push(l),
            (None, None, false) => {}
            _ => {
                tracing::info!(%addr, services = %names.join(" "), "one TCP port for these services");
                out.shared.push((l, Rc::new(roles)));
            }
        }
    }
    Ok(out)
}

/// What a TCP address serves: plain HTTP for the API, the server or both
/// (one site where they share the address, as in SRS); HTTPS likewise,
/// with the API's certificate where both share it; WebRTC over TCP.
fn roles(shared: &Shared, listen: &crate::config::TcpListen) -> port_mux::Roles {
    let site = |api: bool, files: bool| match (api, files) {
        (true, true) => Some(Site::Both),
        (true, false) => Some(Site::Api),
        (false, true) => Some(Site::Files),
        (false, false) => None,
    };
    let plain = site(
        listen.serves(TcpService::HttpApi),
        listen.serves(TcpService::HttpServer),
    );
    // `Shared` loaded the certificates of the enabled sections only.
    let https_api = listen.serves(TcpService::HttpsApi);
    let tls = site(https_api, listen.serves(TcpService::HttpsServer)).and_then(|s| {
        let acceptor = if https_api {
            shared.tls_api.as_ref()
        } else {
            shared.tls_files.as_ref()
        };
        acceptor.map(|a| (s, a.clone()))
    });
    port_mux::Roles {
        plain,
        tls,
        rtc: listen.serves(TcpService::RtcTcp),
    }
}

/// Every TCP endpoint this process listens on (RTMP, HTTP, HTTPS, WebRTC
/// over TCP): a `[::]:port` is IPv6-only when any of them puts an IPv4
/// address on that port ([`shards::v6_only`]).
fn tcp_endpoints(cfg: &crate::config::Config) -> Vec<SocketAddr> {
    let mut all = cfg.listen.clone();
    all.extend(&cfg.http_api.listen);
    all.extend(&cfg.http_server.listen);
    all.extend(&cfg.http_api.https.listen);
    all.extend(&cfg.http_server.https.listen);
    all.extend(&cfg.rtc_server.tcp.listen);
    all
}

/// Starts `task` in the task queue `queue` of this shard's executor.
fn in_queue<F: std::future::Future + 'static>(
    task: F,
    queue: glommio::TaskQueueHandle,
) -> anyhow::Result<glommio::Task<F::Output>> {
    glommio::spawn_local_into(task, queue)
        .map_err(|e| anyhow::anyhow!("cannot start a task in queue {queue:?}: {e}"))
}

/// Receives an RTC socket's datagrams in batches ([`shards::RecvBatch`]),
/// each batch handled and answered in one flush. The first datagram of a
/// batch is taken by glommio's receive: at once when one is queued (then
/// `recvmmsg` adds what else is), else by io_uring when one comes (then
/// `recvmmsg` adds what came after it, so a video frame's packets are
/// handled, and sent as GSO runs, together: docs/BENCHMARKS.md, "UDP GSO").
/// Full batches are followed by more while the queue lasts. Yields when the
/// executor asks, so a saturated shard still runs its other task queue.
async fn udp_loop(core: Rc<ShardRuntime>, sock: Rc<UdpSocket>) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    if let Err(e) = shards::enable_arrival_stamps(fd) {
        tracing::warn!(
            shard = core.id,
            "rtc udp: no arrival stamps ({e}): max_queue_delay cannot see the queue"
        );
    }
    let mut batch = shards::RecvBatch::default();
    loop {
        let first = sock.recv_from(batch.first_slot()).await;
        let mut got = match first {
            Ok((len, from)) => {
                batch.set_first(len, from);
                batch.recv_more(fd).map(|_| batch.len())
            }
            Err(e) => Err(e.into()),
        };
        while let Ok(n) = got {
            core.on_datagrams(&batch).await;
            glommio::yield_if_needed().await;
            if n < shards::RECV_BATCH {
                break;
            }
            got = match batch.recv(fd) {
                Ok(0) => break,
                r => r,
            };
        }
        if let Err(e) = got {
            crate::warn_limited!(shard = core.id, "rtc udp receive: {e}");
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    }
}
