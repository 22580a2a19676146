//! Per-shard server state and the run loops that drive the protocol cores.
//!
//! [`serve`] builds the process-wide [`Shared`] state and starts one shard
//! per configured worker. Each shard binds the RTC UDP port (and TCP port),
//! the HTTP API and HTTP server ports (and their HTTPS ports) and the RTMP
//! port with `SO_REUSEPORT`, then runs: the UDP receive loop
//! ([`ShardRuntime::on_datagram`]), one receive loop per peer shard
//! ([`ShardRuntime::on_mesh`]), an accept loop per HTTP, RTMP and
//! WebRTC-over-TCP listener ([`rtc_tcp`]), and the timer tick that also
//! watches for shutdown.

pub mod cluster;
pub mod conn_limit;
mod core;
pub mod drain;
pub mod files;
pub mod hooks;
mod http_conn;
pub mod live;
pub mod metrics;
pub mod mix;
pub mod ops;
pub mod reload;
pub mod resolver;
pub mod rtc_tcp;
pub mod shared;
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
use crate::config::Config;
use crate::sfu::{Sfu, SfuConfig, ShardMsg};

/// How often each shard runs its timers and checks for shutdown.
const TICK: Duration = Duration::from_millis(20);

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
    let results = shards::run(opts, move |ctx: ShardContext<ShardMsg>| {
        let shared = shared.clone();
        async move { shard_main(ctx, shared).await }
    });
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
    let (udp, http, rtmp, rtc_tcp) = match bound {
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
    let core = Rc::new(ShardRuntime {
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
    });
    let mut tasks = Vec::new();
    for s in core.udp.clone() {
        tasks.push(glommio::spawn_local(udp_loop(core.clone(), s.sock)));
    }
    for (_peer, rx) in receivers {
        let core = core.clone();
        tasks.push(glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                core.on_mesh(msg).await;
            }
        }));
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
        tasks.push(glommio::spawn_local(rtc_tcp::accept_loop(
            core.clone(),
            listener,
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

/// How long a stopping shard waits for its live connections to end.
const LIVE_STOP_WAIT: Duration = Duration::from_millis(300);

/// An HTTP listener, what it serves, and its TLS when it is an `https` one.
type HttpListener = (
    glommio::net::TcpListener,
    Site,
    Option<futures_rustls::TlsAcceptor>,
);

/// The RTC UDP sockets, HTTP listeners, RTMP listeners and WebRTC-over-TCP
/// listeners of one shard.
type Bound = (
    Vec<UdpSocket>,
    Vec<HttpListener>,
    Vec<glommio::net::TcpListener>,
    Vec<glommio::net::TcpListener>,
);

fn bind_all(shared: &Shared) -> anyhow::Result<Bound> {
    let cfg = &shared.config;
    let tcp = tcp_endpoints(cfg);
    let v6_only = shards::v6_only;
    let mut udp = Vec::new();
    if cfg.rtc_server.enabled {
        let all = &cfg.rtc_server.listen;
        for addr in all {
            let sock = shards::bind_udp(*addr, SocketOptions::default(), v6_only(*addr, all))
                .with_context(|| format!("rtc_server: cannot bind UDP {addr}"))?;
            udp.push(sock);
        }
    }
    let mut rtc_tcp = Vec::new();
    if cfg.rtc_server.enabled && cfg.rtc_server.tcp.enabled {
        for addr in &cfg.rtc_server.tcp.listen {
            let l = shards::bind_tcp(*addr, v6_only(*addr, &tcp))
                .with_context(|| format!("rtc_server.tcp: cannot bind TCP {addr}"))?;
            rtc_tcp.push(l);
        }
    }
    let mut http = Vec::new();
    let api: &[SocketAddr] = if cfg.http_api.enabled {
        &cfg.http_api.listen
    } else {
        &[]
    };
    let files: &[SocketAddr] = if cfg.http_server.enabled {
        &cfg.http_server.listen
    } else {
        &[]
    };
    bind_http(&mut http, (api, None), (files, None), "", &tcp)?;
    // HTTPS: `Shared` loaded the certificates of the enabled sections only.
    let https_api = shared
        .tls_api
        .as_ref()
        .map_or(&[][..], |_| &cfg.http_api.https.listen);
    let https_files = shared
        .tls_files
        .as_ref()
        .map_or(&[][..], |_| &cfg.http_server.https.listen);
    bind_http(
        &mut http,
        (https_api, shared.tls_api.as_ref()),
        (https_files, shared.tls_files.as_ref()),
        ".https",
        &tcp,
    )?;
    // RTMP (`listen`, SRS's 1935).
    let mut rtmp = Vec::new();
    for addr in &cfg.listen {
        let l = shards::bind_tcp(*addr, v6_only(*addr, &tcp))
            .with_context(|| format!("rtmp: cannot bind TCP {addr}"))?;
        rtmp.push(l);
    }
    Ok((udp, http, rtmp, rtc_tcp))
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

/// Binds the HTTP API's addresses (serving both sites where the HTTP server
/// shares one) and then the HTTP server's others, each with its TLS if any.
/// `section` (`""` or `".https"`) goes in bind errors; `tcp` is every TCP
/// endpoint (for [`shards::v6_only`]).
fn bind_http(
    out: &mut Vec<HttpListener>,
    (api, tls_api): (&[SocketAddr], Option<&futures_rustls::TlsAcceptor>),
    (files, tls_files): (&[SocketAddr], Option<&futures_rustls::TlsAcceptor>),
    section: &str,
    tcp: &[SocketAddr],
) -> anyhow::Result<()> {
    for addr in api {
        let site = if files.contains(addr) {
            Site::Both
        } else {
            Site::Api
        };
        let l = shards::bind_tcp(*addr, shards::v6_only(*addr, tcp))
            .with_context(|| format!("http_api{section}: cannot bind TCP {addr}"))?;
        out.push((l, site, tls_api.cloned()));
    }
    for addr in files.iter().filter(|a| !api.contains(a)) {
        let l = shards::bind_tcp(*addr, shards::v6_only(*addr, tcp))
            .with_context(|| format!("http_server{section}: cannot bind TCP {addr}"))?;
        out.push((l, Site::Files, tls_files.cloned()));
    }
    Ok(())
}

async fn udp_loop(core: Rc<ShardRuntime>, sock: Rc<UdpSocket>) {
    let mut buf = vec![0u8; 2048];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => core.on_datagram(shards::canonical(from), &buf[..n]).await,
            Err(e) => {
                crate::warn_limited!(shard = core.id, "rtc udp receive: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
