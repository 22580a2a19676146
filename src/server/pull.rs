//! Play anywhere, the IO side: a player of a stream that the cluster's
//! directory names on another node makes this node pull it once from that
//! origin (a WHEP POST to its API, on a helper thread with a deadline),
//! then plays it from the pull's session like from a local publisher.
//!
//! Each pull has its own UDP socket (the origin tells its players apart by
//! address); the SFU knows the pull's peer as that socket's local address,
//! which [`ShardRuntime::send_datagrams`](super::ShardRuntime) maps back to
//! the socket and the origin's real address. The decisions (one pull per
//! stream, when it ends) are [`PullTable`](crate::cluster::pull::PullTable)'s.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shards::glommio::net::UdpSocket;

use crate::api::ApiError;
use crate::cluster::pull::{Begin, Ended, PullError, HLS_KEEP};
use crate::cluster::StreamOwner;
use crate::directory::{IceView, SessionEntry, StreamEntry};
use crate::sdp::Role;
use crate::server::cluster::Cluster;
use crate::server::outbound;
use crate::server::ShardRuntime;
use crate::sfu::create::source_codecs;
use crate::sfu::upstream::{first_udp_candidate, pull_offer, PullSpec};
use crate::sfu::{EndReason, StreamKey};

/// How long the origin may take to answer the pull's offer.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(2);
/// How often a player waiting for another request's pull looks again.
const WAIT_STEP: Duration = Duration::from_millis(20);
/// Largest origin answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Whether the default vhost bridges WebRTC publishers to the live side
/// (`rtc { rtc_to_rtmp on; }`): a pulled stream then also plays over
/// RTMP, HTTP-FLV and HLS here.
fn bridged(core: &ShardRuntime) -> bool {
    let v = core.shared.config.vhost(crate::config::DEFAULT_VHOST);
    v.rtc.enabled && v.rtc.rtc_to_rtmp
}

/// What a live player waits for after its pull is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveWait {
    /// The live stream (HTTP-FLV).
    Stream,
    /// Its HLS playlist (a `.m3u8`); the pull is kept [`HLS_KEEP`].
    Playlist,
    /// Nothing (a `.ts`); the pull is kept [`HLS_KEEP`].
    Keep,
}

/// Before a live player (HTTP-FLV, HLS) of `app/stream` is served: when
/// nobody publishes it here, the directory names another node and
/// `rtc_to_rtmp` bridges pulled streams, pull it ([`ensure`]) and wait up
/// to `limit` for what the player needs. Errors are the pull's (502).
pub async fn ensure_live(
    core: &ShardRuntime,
    app: &str,
    stream: &str,
    wait: LiveWait,
    limit: Duration,
) -> Result<(), ApiError> {
    let Some(cluster) = &core.shared.cluster else {
        return Ok(());
    };
    let key = StreamKey::new(app, stream);
    let live = &core.shared.live;
    if !bridged(core) || (live.is_publishing(key.as_str()) && wait == LiveWait::Stream) {
        return Ok(());
    }
    if !cluster.pulls().is_pulled(key.as_str()) && cluster.owner_elsewhere(key.as_str()).is_none() {
        return Ok(());
    }
    ensure(core, crate::config::DEFAULT_VHOST, app, stream).await?;
    if wait != LiveWait::Stream {
        cluster
            .pulls()
            .keep(key.as_str(), Instant::now() + HLS_KEEP);
    }
    let ready = || match wait {
        LiveWait::Stream => live.is_publishing(key.as_str()),
        LiveWait::Playlist => live.hls_playlist(key.as_str(), "").is_some(),
        LiveWait::Keep => true,
    };
    let deadline = Instant::now() + limit;
    while !ready() && Instant::now() < deadline {
        shards::glommio::timer::sleep(WAIT_STEP).await;
    }
    Ok(())
}

/// Where a pull's packets go: its socket and the origin's address.
#[derive(Clone)]
pub struct PullRoute {
    /// The pull's own socket.
    pub sock: Rc<UdpSocket>,
    /// The origin's RTC address (its answer's candidate).
    pub origin: SocketAddr,
    /// The pull's session token.
    pub token: String,
}

/// Before a player of `req`'s stream is admitted: when no local publisher
/// has it and the directory names another node, pull it from there (or
/// wait for this node's pull being made). A stream published nowhere, or a
/// node without a cluster, changes nothing: the player waits as before.
pub async fn ensure(
    core: &ShardRuntime,
    vhost: &str,
    app: &str,
    stream: &str,
) -> Result<(), ApiError> {
    let Some(cluster) = &core.shared.cluster else {
        return Ok(());
    };
    let key = StreamKey::new(app, stream);
    let deadline = Instant::now() + ANSWER_DEADLINE + Duration::from_secs(1);
    loop {
        if core.shared.directory.stream(key.as_str()).is_some() {
            return Ok(());
        }
        let Some(owner) = cluster.owner_elsewhere(key.as_str()) else {
            return Ok(());
        };
        let begin = cluster
            .pulls()
            .begin(key.as_str(), &owner.node, Instant::now());
        match begin {
            Begin::Active => return Ok(()),
            Begin::Start => {
                return start(core, cluster, vhost, app, stream, &owner)
                    .await
                    .map_err(ApiError::from)
            }
            Begin::Wait if Instant::now() < deadline => {
                shards::glommio::timer::sleep(WAIT_STEP).await
            }
            Begin::Wait => return Ok(()),
        }
    }
}

async fn start(
    core: &ShardRuntime,
    cluster: &Cluster,
    vhost: &str,
    app: &str,
    stream: &str,
    owner: &StreamOwner,
) -> Result<(), PullError> {
    let key = StreamKey::new(app, stream);
    cluster.stats.pulls_started.fetch_add(1, Ordering::Relaxed);
    match make(core, cluster, vhost, app, stream, owner).await {
        Ok((token, resource)) => {
            tracing::info!(shard = core.id, stream = %key, origin = %owner.node, %resource, "cluster: pulling the stream from its origin");
            cluster
                .pulls()
                .started(key.as_str(), core.id, &token, &resource);
            Ok(())
        }
        Err(e) => {
            cluster.pulls().failed(key.as_str(), Instant::now());
            cluster.stats.pulls_failed.fetch_add(1, Ordering::Relaxed);
            crate::warn_limited!(stream = %key, "cluster: pull failed: {e}");
            Err(e)
        }
    }
}

/// The local address of this node's pull sockets: its RTC candidate's IP
/// when it is one, else the unspecified address of the origin's family.
fn local_ip(cluster: &Cluster, origin: SocketAddr) -> IpAddr {
    let first = cluster.me.candidate.split([' ', ',']).next().unwrap_or("");
    match first.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == origin.is_ipv4() => ip,
        _ if origin.is_ipv4() => IpAddr::from([0, 0, 0, 0]),
        _ => IpAddr::from([0u16; 8]),
    }
}

async fn make(
    core: &ShardRuntime,
    cluster: &Cluster,
    vhost: &str,
    app: &str,
    stream: &str,
    owner: &StreamOwner,
) -> Result<(String, String), PullError> {
    let key = StreamKey::new(app, stream);
    let api: SocketAddr = owner.api.parse().map_err(|_| PullError::BadApi {
        stream: key.to_string(),
        api: owner.api.clone(),
    })?;
    let bad_answer = |why: String| PullError::BadAnswer {
        stream: key.to_string(),
        api: owner.api.clone(),
        why,
    };
    let ip = local_ip(cluster, api);
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0))
        .and_then(|s| s.local_addr().map(|a| (s, a)))
        .map_err(|e| PullError::Socket {
            stream: key.to_string(),
            ip,
            why: e.to_string(),
        });
    let (sock, target) = sock?;
    let ufrag = crate::util::random_string(8);
    let pwd = crate::util::random_string(32);
    let offer = pull_offer(&ufrag, &pwd, &core.shared.fingerprint, target);
    let url = format!("http://{api}/rtc/v1/whep/?app={app}&stream={stream}");
    let (status, location, body) =
        post_offer(url, offer)
            .await
            .map_err(|why| PullError::Unreachable {
                stream: key.to_string(),
                api: owner.api.clone(),
                why,
            })?;
    if status != 201 {
        return Err(PullError::Refused {
            stream: key.to_string(),
            api: owner.api.clone(),
            status,
            body: body.chars().take(200).collect(),
        });
    }
    let resource = match location {
        Some(l) if l.starts_with("http://") => l,
        Some(l) => format!("http://{api}{l}"),
        None => String::new(),
    };
    let spec = PullSpec {
        vhost: vhost.to_string(),
        app: app.to_string(),
        stream: stream.to_string(),
        ufrag,
        pwd,
        answer: body,
        target,
    };
    let result = admit(core, &spec, sock);
    match result {
        Ok(token) => Ok((token, resource)),
        Err(why) => {
            delete_resource(resource);
            Err(bad_answer(why))
        }
    }
}

/// Builds the pull's session from the origin's answer, registers it as the
/// stream's publisher on this node and starts its socket and checks.
fn admit(core: &ShardRuntime, spec: &PullSpec, sock: UdpSocket) -> Result<String, String> {
    let origin = first_udp_candidate(&spec.answer).ok_or("no UDP candidate in it")?;
    let (vhost, target) = (spec.vhost.as_str(), spec.target);
    let now = Instant::now();
    let session = core
        .sfu
        .borrow()
        .new_pull(now, spec)
        .map_err(|e| e.to_string())?;
    let token = session.token.to_string();
    let codecs = source_codecs(&session);
    let key = session.stream_key.to_string();
    let entry = SessionEntry {
        id: session.id.clone(),
        ufrag: session.ufrag.clone(),
        shard: core.id,
        role: Role::Publish,
        stream: key.clone(),
        pending_ip: None,
        vhost: vhost.to_string(),
        ice: IceView {
            ufrag: session.ufrag.clone(),
            remote_ufrag: session.answer.remote_ufrag.clone(),
            ..Default::default()
        },
        closing: false,
    };
    let publish = StreamEntry {
        publisher: token.clone(),
        video: codecs.video,
        audio: codecs.audio,
    };
    core.shared
        .directory
        .register(&token, entry, Some(publish))
        .map_err(|e| e.to_string())?;
    let sock = Rc::new(sock);
    core.pull_routes.borrow_mut().insert(
        target,
        PullRoute {
            sock: sock.clone(),
            origin,
            token: token.clone(),
        },
    );
    crate::logging::session_start(&session.log_line(core.id));
    let mut sfu = core.sfu.borrow_mut();
    sfu.insert(session);
    // The first check goes out now.
    sfu.handle_timeout(now);
    drop(sfu);
    if let Some(me) = core.this.upgrade() {
        shards::glommio::spawn_local(read_loop(me, sock, target, origin)).detach();
    }
    Ok(token)
}

/// Receives the pull's datagrams from the origin and hands them to the SFU
/// as coming from `target`, until the pull's route is removed.
async fn read_loop(
    core: Rc<ShardRuntime>,
    sock: Rc<UdpSocket>,
    target: SocketAddr,
    origin: SocketAddr,
) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = vec![0u8; 2048];
    core.flush().await;
    while core.pull_routes.borrow().contains_key(&target) {
        if let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if shards::canonical(from) == origin {
                core.on_datagram(target, &buf[..n]).await;
            }
        }
    }
}

/// POSTs the offer on a helper thread: `(status, Location, body)`.
async fn post_offer(url: String, offer: String) -> Result<(u16, Option<String>, String), String> {
    outbound::on_thread("cluster-pull", "the request", move || post(&url, &offer)).await
}

fn agent() -> ureq::Agent {
    outbound::agent(ANSWER_DEADLINE)
}

fn post(url: &str, offer: &str) -> Result<(u16, Option<String>, String), String> {
    let mut resp = agent()
        .post(url)
        .header("Content-Type", "application/sdp")
        .send(offer)
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok((status, location, body))
}

/// DELETEs the origin's resource of an ended pull, on a helper thread.
fn delete_resource(url: String) {
    if url.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cluster-pull".into())
        .spawn(move || match agent().delete(&url).call() {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::info!(%url, status = r.status().as_u16(), "cluster: the origin's pull resource was already gone"),
            Err(e) => tracing::info!(%url, "cluster: DELETE of the origin's pull resource failed: {e}"),
        });
    if let Err(e) = spawned {
        tracing::warn!("cluster: cannot DELETE the origin's pull resource: {e}");
    }
}

/// A session ended on this shard: if it was a pull, its route goes and the
/// origin's resource is deleted.
pub fn on_session_closed(core: &ShardRuntime, token: &str) {
    let Some(cluster) = &core.shared.cluster else {
        return;
    };
    let ended = cluster.pulls().session_ended(token);
    if let Some(Ended { stream, resource }) = ended {
        core.pull_routes
            .borrow_mut()
            .retain(|_, r| r.token != token);
        tracing::info!(shard = core.id, %stream, "cluster: pull ended");
        delete_resource(resource);
    }
}

/// Ends the local publishers of streams another node won in the directory
/// (after a partition or publishes let through while Redis was down): one
/// publisher per stream cluster-wide again, the first claim's. Its client
/// may publish again, and gets a 409 while the other holds the stream.
fn end_lost(core: &ShardRuntime, cluster: &Cluster, now: Instant) {
    let live = &core.shared.live;
    for stream in cluster.take_lost() {
        // An RTMP publisher (bridged to WebRTC or not) ends with its connection.
        let rtmp: Vec<String> = live
            .clients(now)
            .into_iter()
            .filter(|c| {
                c.desc.kind.is_publish()
                    && crate::server::live::hub::stream_key(&c.desc.app, &c.desc.stream) == stream
            })
            .map(|c| c.id)
            .collect();
        for id in &rtmp {
            tracing::warn!(%stream, client = %id, "cluster: ending the RTMP publisher here, the stream is another node's");
            live.kick(id);
        }
        let webrtc = core.shared.directory.stream(&stream);
        if let Some(entry) =
            webrtc.filter(|_| rtmp.is_empty() && !cluster.pulls().is_pulled(&stream))
        {
            tracing::warn!(%stream, "cluster: ending the WebRTC publisher here, the stream is another node's");
            let _ = crate::server::signaling::delete(core, &entry.publisher);
        }
    }
}

/// Every few hundred ms on each shard: ends this shard's pulls that have
/// had no player for a linger or whose origin left the directory, and (on
/// shard 0) resumes streams that have players here, no publisher, and now
/// an origin elsewhere.
pub async fn tick(core: &Rc<ShardRuntime>, now: Instant) {
    let Some(cluster) = &core.shared.cluster else {
        return;
    };
    let directory = &core.shared.directory;
    let live = &core.shared.live;
    let ends = cluster.pulls().handle_tick(
        now,
        core.id,
        |s| directory.players_of(s) + live.players_of(s),
        |s| cluster.owner_of(s),
        cluster.settling(now),
    );
    if !ends.is_empty() {
        for token in &ends {
            core.sfu.borrow_mut().close(now, token, EndReason::Deleted);
        }
        core.flush().await;
    }
    if core.id != 0 {
        return;
    }
    end_lost(core, cluster, now);
    let mut waiting = directory.played_unpublished();
    if bridged(core) {
        // RTMP players wait for their stream.
        let vhost = crate::config::DEFAULT_VHOST;
        waiting.extend(live.waiting().into_iter().map(|s| (s, vhost.to_owned())));
    }
    for (stream, vhost) in waiting {
        let skip = {
            let pulls = cluster.pulls();
            pulls.is_pulled(&stream) || pulls.recently_failed(&stream, now)
        };
        if skip || cluster.owner_elsewhere(&stream).is_none() {
            continue;
        }
        let Some((app, name)) = stream.split_once('/') else {
            continue;
        };
        let (core, app, name) = (core.clone(), app.to_string(), name.to_string());
        shards::glommio::spawn_local(async move {
            // Failures are counted and logged by `start`.
            let _ = ensure(&core, &vhost, &app, &name).await;
        })
        .detach();
    }
}
