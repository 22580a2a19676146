//! The RTMP listeners of a shard: accept, then drive one sans-IO
//! [`RtmpServerConn`] per connection against the process-wide [`Hub`].
//!
//! Each connection is two local tasks: a reader that forwards socket bytes
//! through a small channel, and the connection task that waits on either
//! those bytes or the player's tag queue, so a player writes tags while
//! still reading control messages. A malformed stream (bad handshake,
//! oversized chunk, bad AMF, a bad app or stream name) ends that connection
//! with one log line, after any error status the core queued is sent.
//!
//! A connection that publishes or plays is a client of the HTTP API
//! ([`Hub::add_client`]): it counts its bytes there, and races every wait
//! and write with its [`Kick`], so `DELETE /api/v1/clients/{id}` from any
//! shard closes it at once.
//!
//! Bounds: the handshake, `connect` and `publish`/`play` must all be done
//! within [`RTMP_SETUP_DEADLINE`] of the accept (a total, not a per-byte
//! timer); every write must make progress within the write timeout; the
//! connection's unfinished messages count against the hub's process-wide
//! budget.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use shards::glommio::{self, net::TcpListener, net::TcpStream};

use crate::cluster::Decision;
use crate::config::{PublishConfig, DEFAULT_VHOST};
use crate::live::flv::FlvTag;
use crate::live::rtmp::{RtmpConfig, RtmpEvent, RtmpServerConn};
use crate::logging::Proto;
use crate::server::conn_limit;
use crate::server::hooks::{self, Action, Subject};
use crate::server::live::clients::{ByteCounters, Kick, LiveClientDesc, LiveClientGuard, LiveKind};
use crate::server::live::hub::{stream_key, Hub, Publication, StreamSettings};
use crate::server::live::rtmp_to_rtc::RtmpToRtc;
use crate::server::live::session::LiveSession;
use crate::server::timeouts::{self, RTMP_SETUP_DEADLINE};
use crate::server::ShardRuntime;

/// Tags written per wake-up of a player before its input is looked at again.
const TAG_BATCH: usize = 64;

/// Accepts RTMP connections until the task is dropped (shutdown).
pub async fn accept_loop(core: Rc<ShardRuntime>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if core.shared.drain.is_draining() {
                    // A graceful stop takes no new RTMP clients (drain.rs).
                    drop(stream);
                    continue;
                }
                let hub = core.shared.live.clone();
                let open = hub.rtmp_connections.fetch_add(1, Ordering::Relaxed) + 1;
                if open > core.shared.config.max_connections as usize {
                    hub.rtmp_connections.fetch_sub(1, Ordering::Relaxed);
                    crate::warn_limited!(
                        open,
                        "max_connections reached, closing a new RTMP connection"
                    );
                    continue;
                }
                let Ok(slot) = conn_limit::admit(&core, &stream, "rtmp") else {
                    hub.rtmp_connections.fetch_sub(1, Ordering::Relaxed);
                    continue;
                };
                let core = core.clone();
                // The shard stopping drops the connection, and so ends its
                // session (its end line says `shutdown`).
                let stopped = core.stop.stopped();
                glommio::spawn_local(async move {
                    futures_lite::future::or(serve(core, stream), stopped).await;
                    drop(slot);
                    hub.rtmp_connections.fetch_sub(1, Ordering::Relaxed);
                })
                .detach();
            }
            Err(e) => {
                crate::warn_limited!(shard = core.id, "rtmp accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the connection does with its stream.
enum Role {
    Idle,
    /// The live publication, its WebRTC side when `rtmp_to_rtc` is on, and
    /// whether a media message has arrived yet.
    Publishing(Publication, Option<Box<RtmpToRtc>>, bool),
    /// The player's tag queue and its stream key.
    Playing(flume::Receiver<FlvTag>, String),
}

impl Role {
    /// How long the connection may send nothing before it is closed, as SRS
    /// does: `publish.firstpkt_timeout` until a publisher's first media
    /// message, then `publish.normal_timeout` (an encoder that hangs frees
    /// its stream). A player is never timed out for sending nothing; an idle
    /// connection has the fixed [`RTMP_SETUP_DEADLINE`] instead.
    fn input_timeout(&self, publish: &PublishConfig) -> Option<Duration> {
        match self {
            Role::Idle | Role::Playing(..) => None,
            Role::Publishing(_, _, false) => Some(publish.firstpkt_timeout),
            Role::Publishing(_, _, true) => Some(publish.normal_timeout),
        }
    }
}

/// What woke the connection task.
enum Wake {
    Input(Option<Vec<u8>>),
    Tag(Option<FlvTag>),
    /// No input for the role's [`Role::input_timeout`].
    Silent(Duration),
    /// Still idle at the setup deadline.
    SetupOver,
    /// `DELETE /api/v1/clients/{id}`.
    Kicked,
}

/// What `connect` said, for the API's client entry.
#[derive(Default)]
struct ConnectInfo {
    tc_url: String,
    page_url: String,
    swf_url: String,
}

/// The connection's entry in the hub's clients while it publishes or plays:
/// the guard, whether it publishes, and the stream.
type Registered = Option<(LiveClientGuard, bool, String)>;

/// Registers the connection as a client of `role`'s stream (again when the
/// role changed), or unregisters it when idle.
#[allow(clippy::too_many_arguments)]
fn sync_client(
    registered: &mut Registered,
    role: &Role,
    conn: &RtmpServerConn,
    core: &ShardRuntime,
    hub: &Arc<Hub>,
    info: &ConnectInfo,
    peer: SocketAddr,
    io: (&Arc<ByteCounters>, &Kick),
) {
    let want = match role {
        Role::Publishing(p, _, _) => Some((true, p.key())),
        Role::Playing(_, key) => Some((false, key.as_str())),
        Role::Idle => None,
    };
    let Some((publish, key)) = want else {
        *registered = None;
        return;
    };
    if registered
        .as_ref()
        .is_some_and(|(_, p, k)| *p == publish && k == key)
    {
        return;
    }
    *registered = None;
    let (app, stream) = key.split_once('/').unwrap_or(("", key));
    let kind = match (publish, conn.is_fmle_publish()) {
        (true, true) => LiveKind::FmlePublish,
        (true, false) => LiveKind::FlashPublish,
        (false, _) => LiveKind::RtmpPlay,
    };
    let desc = LiveClientDesc {
        kind,
        shard: core.id,
        vhost: DEFAULT_VHOST.to_owned(),
        app: app.to_owned(),
        stream: stream.to_owned(),
        ip: peer.ip().to_string(),
        tc_url: info.tc_url.clone(),
        page_url: info.page_url.clone(),
        swf_url: info.swf_url.clone(),
    };
    let guard = hub.add_client(desc, io.0.clone(), io.1);
    *registered = Some((guard, publish, key.to_owned()));
}

async fn serve(core: Rc<ShardRuntime>, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(shards::canonical)
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let (in_tx, in_rx) = flume::bounded::<Option<Vec<u8>>>(4);
    let bytes = Arc::new(ByteCounters::default());
    let kick = Kick::default();
    let counted = bytes.clone();
    let reader = glommio::spawn_local(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            counted.add_recv(n);
            let msg = (n > 0).then(|| buf[..n].to_vec());
            if in_tx.send_async(msg).await.is_err() || n == 0 {
                return;
            }
        }
    });
    let hub = core.shared.live.clone();
    let vhost = core.shared.config.vhost(crate::config::DEFAULT_VHOST);
    let settings = StreamSettings::from_vhost(vhost);
    let bridge = BridgeSettings {
        on: vhost.rtc.enabled && vhost.rtc.rtmp_to_rtc && core.shared.config.rtc_server.enabled,
        keep_bframe: vhost.rtc.keep_bframe,
        opus_bitrate: vhost.rtc.opus_bitrate,
    };
    let mut conn = RtmpServerConn::new(RtmpConfig {
        out_chunk_size: vhost.chunk_size.unwrap_or(core.shared.config.chunk_size),
        ..RtmpConfig::default()
    });
    let mut role = Role::Idle;
    let mut registered: Registered = None;
    let mut connect_info = ConnectInfo::default();
    // The publish or play in progress, for its start and end log lines.
    let mut session: Option<LiveSession> = None;
    // Why the connection ends (the reason of a session still running then).
    let mut end = "closed";
    let mut closed = false;
    let mut charge = hub.rtmp_charge();
    // Idle until this instant at most (from the accept, then from the end of
    // each stream); `None` while publishing or playing.
    let mut setup_deadline = Some(Instant::now() + RTMP_SETUP_DEADLINE);
    loop {
        while let Some(ev) = conn.poll_event() {
            if let Err(why) = authorize(&core, &ev, peer).await {
                crate::warn_limited!(%peer, "rtmp: refused: {why}");
                conn.reject(&why);
                continue;
            }
            if let Err(why) = claim(&core, &ev).await {
                crate::warn_limited!(%peer, "rtmp publish refused: {why}");
                conn.reject(&why);
                continue;
            }
            if let RtmpEvent::Connect {
                tc_url,
                page_url,
                swf_url,
                ..
            } = &ev
            {
                connect_info = ConnectInfo {
                    tc_url: tc_url.clone(),
                    page_url: page_url.clone(),
                    swf_url: swf_url.clone(),
                };
            }
            closed |= on_event(
                &core,
                &hub,
                &settings,
                &bridge,
                &mut conn,
                (&mut role, &mut session),
                ev,
                peer,
            );
            sync_client(
                &mut registered,
                &role,
                &conn,
                &core,
                &hub,
                &connect_info,
                peer,
                (&bytes, &kick),
            );
        }
        if let Role::Publishing(_, Some(b), _) = &mut role {
            b.flush().await;
        }
        while let Some(out) = conn.poll_transmit() {
            match kick.or(timeouts::write_all(&mut wr, &out)).await {
                Some(Ok(())) => bytes.add_sent(out.len()),
                Some(Err(e)) => {
                    // A peer that stopped reading ends here after the write timeout.
                    crate::info_limited!(%peer, "rtmp: closing the connection: write: {e}");
                    end = "write_failed";
                    closed = true;
                    break;
                }
                None => {
                    tracing::warn!(%peer, "rtmp: closing the connection: kicked by the HTTP API");
                    end = "kicked";
                    closed = true;
                    break;
                }
            }
            if let Some(s) = &mut session {
                s.counts.bytes_out += out.len() as u64;
            }
        }
        if closed {
            break;
        }
        if matches!(role, Role::Idle) {
            setup_deadline.get_or_insert_with(|| Instant::now() + RTMP_SETUP_DEADLINE);
        } else {
            setup_deadline = None;
        }
        let input = async { Wake::Input(in_rx.recv_async().await.ok().flatten()) };
        let wait = async {
            match (&role, role.input_timeout(&vhost.publish)) {
                (Role::Playing(rx, _), _) => {
                    futures_lite::future::or(input, async { Wake::Tag(rx.recv_async().await.ok()) })
                        .await
                }
                (Role::Idle, _) => {
                    let left = setup_deadline.map_or(RTMP_SETUP_DEADLINE, |d| {
                        d.saturating_duration_since(Instant::now())
                    });
                    futures_lite::future::or(input, async {
                        glommio::timer::sleep(left).await;
                        Wake::SetupOver
                    })
                    .await
                }
                (_, Some(limit)) => {
                    futures_lite::future::or(input, async {
                        glommio::timer::sleep(limit).await;
                        Wake::Silent(limit)
                    })
                    .await
                }
                (_, None) => input.await,
            }
        };
        let wake = kick.or(wait).await.unwrap_or(Wake::Kicked);
        match wake {
            Wake::Input(Some(bytes)) => {
                if let Some(s) = &mut session {
                    s.counts.bytes_in += bytes.len() as u64;
                }
                if let Err(e) = conn.handle_input(&bytes) {
                    end = "protocol_error";
                    crate::warn_limited!(%peer, "rtmp: closing the connection: {e}");
                    // Tell the peer why when the core queued an answer (a bad name).
                    if let Some(out) = conn.poll_transmit() {
                        let _ = kick.or(timeouts::write_all(&mut wr, &out)).await;
                    }
                    break;
                }
                if let Err(e) = charge.set(conn.buffered()) {
                    crate::warn_limited!(%peer, "rtmp: closing the connection: {e}");
                    end = "buffer_budget";
                    break;
                }
            }
            Wake::Kicked => {
                tracing::warn!(%peer, "rtmp: closing the connection: kicked by the HTTP API");
                end = "kicked";
                break;
            }
            Wake::SetupOver => {
                crate::warn_limited!(
                    %peer,
                    "rtmp: closing the connection: no publish or play within {RTMP_SETUP_DEADLINE:?}"
                );
                break;
            }
            Wake::Input(None) => conn.handle_eof(),
            Wake::Silent(limit) => {
                crate::warn_limited!(%peer, "rtmp: closing the connection: no data for {limit:?}");
                end = "timeout";
                break;
            }
            Wake::Tag(Some(tag)) => {
                let Role::Playing(rx, _) = &role else {
                    continue;
                };
                let mut next = Some(tag);
                let mut sent = 0;
                while let Some(tag) = next.take() {
                    match conn.send_tag(&tag) {
                        Ok(()) => {
                            if let Some(s) = &mut session {
                                s.counts.packets_out += 1;
                            }
                        }
                        Err(e) => tracing::debug!(%peer, "rtmp: player tag not sent: {e}"),
                    }
                    sent += 1;
                    if sent < TAG_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
            }
            Wake::Tag(None) => {
                // The stream ended or this player was too slow (the hub
                // dropped its queue while the stream goes on).
                end = match &role {
                    Role::Playing(_, key) if hub.is_publishing(key) => "too_slow",
                    _ => "stream_ended",
                };
                break;
            }
        }
    }
    if let Some(s) = session.take() {
        s.end(end);
    }
    notify_ended(&core, &role, peer);
    drop(registered);
    drop(role);
    // A kicked connection is not waited for: dropping the socket closes it.
    let _ = kick.or(timeouts::close(&mut wr)).await;
    drop(reader);
}

/// Asks the `on_publish`/`on_play` hooks about a publish or play (every other
/// event passes).
async fn authorize(core: &ShardRuntime, ev: &RtmpEvent, peer: SocketAddr) -> Result<(), String> {
    let (action, app, stream, param, tc_url) = match ev {
        RtmpEvent::Publish {
            app,
            stream,
            param,
            tc_url,
        } => (Action::Publish, app, stream, param, tc_url),
        RtmpEvent::Play {
            app,
            stream,
            param,
            tc_url,
        } => (Action::Play, app, stream, param, tc_url),
        _ => return Ok(()),
    };
    let subject = Subject {
        action,
        ip: peer.ip().to_string(),
        app,
        stream,
        param,
        tc_url: tc_url.clone(),
    };
    let hooks = &core.shared.config.vhost(DEFAULT_VHOST).http_hooks;
    hooks::authorize(hooks, &core.shared.hooks_in_flight, &subject).await
}

/// In a cluster, a publish first claims its stream in the directory, as a
/// WHIP publish does (atomic in Redis; past the deadline or while Redis is
/// unreachable it goes ahead unchecked).
async fn claim(core: &ShardRuntime, ev: &RtmpEvent) -> Result<(), String> {
    let (RtmpEvent::Publish { app, stream, .. }, Some(cluster)) = (ev, &core.shared.cluster) else {
        return Ok(());
    };
    let key = stream_key(app, stream);
    match cluster.claim(&key).await {
        Decision::Refused(owner) => Err(format!(
            "stream {key} is already publishing, live on another cluster node ({})",
            owner.node
        )),
        Decision::Granted | Decision::Unchecked => Ok(()),
    }
}

/// Tells the `on_unpublish` / `on_stop` hooks that this connection stops
/// publishing or playing (nothing while idle, or without such hooks).
fn notify_ended(core: &Rc<ShardRuntime>, role: &Role, peer: SocketAddr) {
    let (action, key) = match role {
        Role::Publishing(p, _, _) => (Action::Unpublish, p.key()),
        Role::Playing(_, key) => (Action::Stop, key.as_str()),
        Role::Idle => return,
    };
    let hooks = &core.shared.config.vhost(DEFAULT_VHOST).http_hooks;
    let Some((app, stream)) = key.split_once('/') else {
        return;
    };
    if action.urls(hooks).is_empty() {
        return;
    }
    hooks::Ended {
        action,
        vhost: DEFAULT_VHOST.to_string(),
        ip: peer.ip().to_string(),
        app: app.to_owned(),
        stream: stream.to_owned(),
        tc_url: format!("rtmp://localhost/{app}"),
    }
    .spawn_notify(core.shared.clone());
}

/// `rtc { rtmp_to_rtc; keep_bframe; opus_bitrate }` of the vhost.
struct BridgeSettings {
    on: bool,
    keep_bframe: bool,
    opus_bitrate: u32,
}

/// Carry out one event (a publish or play starts `session`, its end ends
/// it); true when the connection should close.
#[allow(clippy::too_many_arguments)]
fn on_event(
    core: &Rc<ShardRuntime>,
    hub: &Arc<Hub>,
    settings: &StreamSettings,
    bridge: &BridgeSettings,
    conn: &mut RtmpServerConn,
    (role, session): (&mut Role, &mut Option<LiveSession>),
    ev: RtmpEvent,
    peer: SocketAddr,
) -> bool {
    match ev {
        RtmpEvent::Connect { app, .. } => {
            tracing::debug!(%peer, app, "rtmp connect");
        }
        RtmpEvent::Publish {
            app,
            stream,
            param,
            tc_url,
        } => {
            let key = stream_key(&app, &stream);
            // A WebRTC publisher of the same stream also makes it busy.
            let rtc = if bridge.on {
                match RtmpToRtc::start(core.clone(), &key, bridge.keep_bframe, bridge.opus_bitrate)
                {
                    Ok(b) => Some(Box::new(b)),
                    Err(e) => {
                        crate::warn_limited!(%peer, "rtmp publish refused: {e}");
                        conn.reject(&e.to_string());
                        return false;
                    }
                }
            } else if core.shared.directory.stream(&key).is_some() {
                crate::warn_limited!(%peer, stream = key, "rtmp publish refused: already publishing over WebRTC");
                conn.reject("stream is already publishing");
                return false;
            } else {
                None
            };
            match hub.publish(&key, settings) {
                Ok(p) => {
                    if let Err(e) = conn.accept_publish() {
                        crate::warn_limited!(%peer, "rtmp publish: {e}");
                        return true;
                    }
                    let dvr = crate::server::dvr::DvrSubject {
                        vhost: crate::config::DEFAULT_VHOST.to_owned(),
                        ip: peer.ip().to_string(),
                        client_id: crate::util::random_string(8),
                        ..crate::server::dvr::DvrSubject::new(&app, &stream, &param, &tc_url)
                    };
                    let config = core.shared.current.get().config.clone();
                    core.shared.dvr.on_publish(hub, &config, dvr);
                    if rtc.is_some() {
                        tracing::info!(
                            stream = key,
                            "rtmp_to_rtc: bridging an RTMP publisher to WebRTC"
                        );
                    }
                    if let Some(old) = session.take() {
                        old.end("restarted");
                    }
                    *session = Some(LiveSession::start(
                        Proto::Rtmp,
                        true,
                        &key,
                        Some(peer.ip()),
                        core.id,
                    ));
                    *role = Role::Publishing(p, rtc, false);
                }
                Err(e) => {
                    crate::warn_limited!(%peer, "rtmp publish refused: {e}");
                    conn.reject(&e.to_string());
                }
            }
        }
        RtmpEvent::Play { app, stream, .. } => {
            let key = stream_key(&app, &stream);
            // Subscribing with `wait` cannot fail.
            let Some(rx) = hub.subscribe(&key, true) else {
                conn.reject("no such stream");
                return false;
            };
            if let Err(e) = conn.accept_play() {
                crate::warn_limited!(%peer, "rtmp play: {e}");
                return true;
            }
            if let Some(old) = session.take() {
                old.end("restarted");
            }
            *session = Some(LiveSession::start(
                Proto::Rtmp,
                false,
                &key,
                Some(peer.ip()),
                core.id,
            ));
            *role = Role::Playing(rx, key);
        }
        RtmpEvent::Media(tag) => {
            if let Role::Publishing(p, rtc, media_seen) = role {
                if let Some(s) = session {
                    s.counts.packets_in += 1;
                }
                *media_seen = true;
                p.push(&tag);
                if let Some(b) = rtc {
                    b.on_tag(&tag);
                }
            }
        }
        RtmpEvent::Unpublish | RtmpEvent::PlayStop => {
            if let Some(s) = session.take() {
                s.end(match role {
                    Role::Publishing(..) => "unpublish",
                    _ => "stop",
                });
            }
            notify_ended(core, role, peer);
            *role = Role::Idle;
        }
        RtmpEvent::Closed => return true,
    }
    false
}
