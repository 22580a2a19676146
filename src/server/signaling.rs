//! Carries out what [`api::route`] says a request asks for, on the shard
//! that accepted its connection: the deciding hooks, then a session created
//! or ended in the shard's SFU (with the directory), a report, or a file
//! (streamed, [`files`]). A signaling POST is first counted against its
//! client's `signaling_rate_per_ip`, before its body is looked at; a refused
//! one is logged, rate-limited, with its status and reason.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::api::session::{self, Patch, Patched};
use crate::api::{self, info::ServerFigures, ApiError, Route, Signaling, Site};
use crate::directory::{DirectoryError, SessionEntry};
use crate::http::{Method, Request, Response};
use crate::limits::Rate;
use crate::sdp::{self, Role};
use crate::server::hooks::{self, Subject};
use crate::server::reload::Current;
use crate::server::ShardRuntime;
use crate::server::{cluster_forward, files, web};
use crate::sfu::{Created, IceRestart, SessionToken, ShardMsg, ShardStats, StatsSnapshot};

/// What a request is answered with.
pub enum Reply {
    /// A whole response.
    Full(Response),
    /// A static file: the response's head (CORS included; its
    /// `Content-Length` is the file's length) and the file to stream after it.
    File(Response, files::OpenFile),
}

/// Serves one request (any but an HTTP-FLV play, which takes over the
/// connection) and returns its response, CORS included. The request sees
/// one snapshot of the running configuration from start to end, even if a
/// reload lands while its hook call is in flight.
pub async fn serve(
    core: &ShardRuntime,
    req: &Request,
    site: Site,
    peer: Option<SocketAddr>,
) -> Reply {
    let current = core.shared.current.get();
    let signaling = api::signaling_post(req, site);
    if let (Some(style), Some(peer)) = (signaling, peer) {
        if let Err(refused) = rate_limit(core, &current, peer) {
            crate::warn_limited!(%peer, "signaling refused: 429 {refused}");
            return Reply::Full(api::finish(req, api::error(style, refused)));
        }
    }
    let mut route = api::route(req, site, &current.config);
    if let Route::Create(sig) = &mut route {
        // Per-IP limits count the address the request came from.
        sig.create.client_ip = peer.map(|p| p.ip());
    }
    let resp = match route {
        Route::Respond(r) => r,
        Route::Create(sig) if core.shared.drain.is_draining() => {
            api::created(&sig, Err(ApiError::Stopping))
        }
        Route::Create(mut sig) => match choose_vhost(&current, &mut sig) {
            Err(e) => api::created(&sig, Err(e)),
            Ok(()) => match authorize(core, &current, &sig, req, peer).await {
                Ok(()) => {
                    let result = create(core, &current, &sig).await;
                    let mut resp = api::created(&sig, result);
                    if let (api::AnswerStyle::Whip, Some(c)) = (sig.style, &core.shared.cluster) {
                        cluster_forward::tag_location(&mut resp, c);
                    }
                    if sig.style == api::AnswerStyle::Whip && resp.status == 201 {
                        session::with_ice_servers(resp, &current.config.rtc_server.ice_servers)
                    } else {
                        resp
                    }
                }
                Err(refused) => refused,
            },
        },
        Route::Patch(p) => match elsewhere(core, req, &p.token).await {
            Some(r) => r,
            None => session::patched(patch(core, &current, req, &p)),
        },
        Route::Session { token } => match elsewhere(core, req, &token).await {
            Some(r) => r,
            None => match resource(core, &current, req, &token) {
                Ok(entry) => session::describe(&entry),
                Err(e) => api::error(api::AnswerStyle::Whip, e),
            },
        },
        Route::Delete { token } => match elsewhere(core, req, &token).await {
            Some(r) => r,
            None => api::deleted(
                resource(core, &current, req, &token).and_then(|_| delete(core, &token)),
            ),
        },
        // A client on another cluster node is kicked there.
        Route::Kick { id } => match (kick(core, &id), &core.shared.cluster) {
            (Err(ApiError::ClientNotFound(_)), Some(c)) => {
                match cluster_forward::kick_elsewhere(c, req).await {
                    Some(r) => r,
                    None => api::kicked(Err(ApiError::ClientNotFound(id))),
                }
            }
            (result, _) => api::kicked(result),
        },
        Route::Mix { room, method } => mix(core, &room, method).await,
        Route::Info(api::InfoQuery::Cluster) => cluster_report(core),
        Route::Info(q) => api::info::report(q, core),
        Route::Files if core.shared.drain.is_draining() && req.path.ends_with(".flv") => {
            api::error(api::AnswerStyle::Whip, ApiError::Stopping)
        }
        Route::Files => match crate::server::live::http::hls_response(core, req) {
            Some(r) => r,
            None if req.path == web::SERVER_JS => web::server_js(&current.config),
            None => {
                let root = &core.shared.config.http_server.dir;
                match files::open(root, &req.raw_target).await {
                    Ok((head, file)) => return Reply::File(api::finish(req, head), file),
                    // Not in the directory: the page compiled into the binary, if any.
                    Err(r) if r.status == 404 => web::lookup(&req.raw_target).unwrap_or(r),
                    Err(r) => r,
                }
            }
        },
    };
    if signaling.is_some() && resp.status >= 400 {
        let shown = &resp.body[..resp.body.len().min(300)];
        crate::warn_limited!(
            ?peer,
            "signaling refused: {} {}",
            resp.status,
            String::from_utf8_lossy(shown).trim_end()
        );
    }
    Reply::Full(api::finish(req, resp))
}

/// `/api/v1/rooms/{room}/mix`. Starting one looks up `ffmpeg` on the
/// filesystem: off the shard thread.
async fn mix(core: &ShardRuntime, room: &str, method: Method) -> Response {
    let shared = Arc::clone(&core.shared);
    let result = match method {
        Method::Post => {
            let room = room.to_owned();
            shards::glommio::executor()
                .spawn_blocking(move || shared.mixes.start(&shared, &room))
                .await
        }
        Method::Delete => shared
            .mixes
            .stop(room)
            .map(|()| Response::json(200, &serde_json::json!({ "code": 0 }))),
        _ => shared.mixes.info(&shared, room),
    };
    result.unwrap_or_else(|e| e.response())
}

/// The answer of the session's own node, when `token` is not held here and
/// the request names another node of the cluster (behind a load balancer;
/// see `cluster_forward`). `None`: answer here.
async fn elsewhere(core: &ShardRuntime, req: &Request, token: &str) -> Option<Response> {
    let cluster = core.shared.cluster.as_ref()?;
    if core.shared.directory.session(token).is_some() {
        return None;
    }
    match cluster_forward::target(cluster, req) {
        cluster_forward::Target::Local => None,
        cluster_forward::Target::UnknownNode(id) => {
            cluster_forward::count_unknown_node();
            Some(Response::error(
                404,
                &format!("session {token:?} is not here, and its cluster node {id:?} is not in the directory"),
            ))
        }
        cluster_forward::Target::Node { api, .. } => {
            Some(cluster_forward::forward(cluster, &api, req).await)
        }
    }
}

/// `GET /api/v1/cluster`: this node, the other nodes and the streams in
/// the directory; 404 when the cluster is off.
fn cluster_report(core: &ShardRuntime) -> Response {
    match &core.shared.cluster {
        Some(c) => {
            let mut report = c.report();
            let (forwarded, failed) = cluster_forward::counts();
            report["counters"]["forwarded"] = forwarded.into();
            report["counters"]["forward_failed"] = failed.into();
            Response::json(200, &api::info::envelope(report))
        }
        None => Response::error(404, "the cluster is off (cluster { enabled on; })"),
    }
}

/// Takes one of the client's `signaling_rate_per_ip` tokens; without one,
/// the refusal (counted in `signaling_rate_limited`). Process-wide: one
/// bucket per client whichever shard accepted the connection.
fn rate_limit(core: &ShardRuntime, current: &Current, peer: SocketAddr) -> Result<(), ApiError> {
    let rtc = &current.config.rtc_server;
    let limit = Rate {
        rate: rtc.signaling_rate_per_ip,
        burst: rtc.signaling_burst_per_ip,
    };
    core.shared
        .signaling_rate
        .check(peer.ip(), Instant::now(), limit)
        .map_err(|e| {
            ShardStats::inc(&core.stats().signaling_rate_limited);
            ApiError::RateLimited(e)
        })
}

/// The session resource `token` names, if the request may touch it: it
/// exists (404 otherwise) and the request carries a Bearer token of the
/// session's vhost when that vhost has any (401 otherwise).
fn resource(
    core: &ShardRuntime,
    current: &Current,
    req: &Request,
    token: &str,
) -> Result<SessionEntry, ApiError> {
    let entry = core
        .shared
        .directory
        .session(token)
        .filter(|e| !e.id.is_empty() && !e.closing)
        .ok_or_else(|| ApiError::SessionNotFound(token.to_owned()))?;
    let tokens = &current.config.vhost(&entry.vhost).rtc.bearer_token;
    session::check_bearer(tokens, session::bearer(req))?;
    Ok(entry)
}

/// A `PATCH` of a session resource: decided against the directory (so
/// every shard sees the same ICE generation and `ETag`); an ICE restart is
/// then carried to the session's shard, which keeps its DTLS and SRTP.
fn patch(
    core: &ShardRuntime,
    current: &Current,
    req: &Request,
    p: &Patch,
) -> Result<Patched, ApiError> {
    resource(core, current, req, &p.token)?;
    let fresh_ufrag = crate::util::random_string(8);
    let fresh_pwd = crate::util::random_string(32);
    let mut shard = core.id;
    let decided = core
        .shared
        .directory
        .update_ice(&p.token, &fresh_ufrag, |entry, ice| {
            shard = entry.shard;
            session::apply_patch(ice, p, &fresh_ufrag, &fresh_pwd)
        })
        .ok_or_else(|| ApiError::SessionNotFound(p.token.clone()))?
        // A fresh random ufrag already in use: astronomically rare; retry.
        .map_err(|_| ApiError::Busy)??;
    let Patched::Restarted {
        ufrag,
        pwd,
        remote_ufrag,
    } = &decided
    else {
        return Ok(decided);
    };
    let restart = IceRestart {
        token: SessionToken::from(p.token.as_str()),
        ufrag: ufrag.clone(),
        pwd: pwd.clone(),
        remote_ufrag: remote_ufrag.clone(),
    };
    if shard == core.id {
        core.sfu.borrow_mut().handle_ice_restart(&restart);
    } else if core
        .mesh
        .try_send(shard, ShardMsg::IceRestart(Box::new(restart)))
        .is_err()
    {
        // The directory moved on; a retry with `If-Match: *` sends it again.
        return Err(ApiError::Busy);
    }
    Ok(decided)
}

/// Resolves the request's vhost as SRS does: the named one, else the
/// default vhost; a disabled or missing one refuses the request.
fn choose_vhost(current: &Current, sig: &mut Signaling) -> Result<(), ApiError> {
    let vhost = current.config.vhost_for(&sig.create.vhost)?;
    sig.create.vhost = vhost.name.clone();
    // The vhost's Bearer tokens (RFC 9725 §4.5); a token reaches the hooks
    // in `param` as `token=`, where SRS's hooks look for it.
    session::check_bearer(&vhost.rtc.bearer_token, sig.bearer.as_deref())?;
    if let Some(t) = &sig.bearer {
        sig.param = session::param_with_token(&sig.param, t);
    }
    Ok(())
}

/// Asks the `on_publish`/`on_play` hooks of the request's vhost; a refusal
/// is a 403 naming the hook.
async fn authorize(
    core: &ShardRuntime,
    current: &Current,
    sig: &Signaling,
    req: &Request,
    peer: Option<SocketAddr>,
) -> Result<(), Response> {
    let c = &sig.create;
    let subject = Subject {
        action: match c.role {
            Role::Publish => hooks::Action::Publish,
            Role::Play => hooks::Action::Play,
        },
        ip: peer.map_or_else(String::new, |p| p.ip().to_string()),
        app: &c.app,
        stream: &c.stream,
        param: &sig.param,
        tc_url: format!("webrtc://{}/{}", req.host().unwrap_or("localhost"), c.app),
    };
    let config = &current.config.vhost(&c.vhost).http_hooks;
    hooks::authorize(config, &core.shared.hooks_in_flight, &subject)
        .await
        // Logged with every other refusal, in `serve`.
        .map_err(|why| api::refused(sig, &why))
}

/// Creates the session `sig` asks for on this shard: candidates (a host
/// name resolved off the shard), then [`control::admit`](crate::control::admit).
pub async fn create(
    core: &ShardRuntime,
    current: &Current,
    sig: &Signaling,
) -> Result<Created, ApiError> {
    let now = Instant::now();
    let here = core.load.borrow().is_overloaded(now).then_some(core.id);
    if let Some(shard) = here.or_else(|| core.shared.load.overloaded(now)) {
        ShardStats::inc(&core.stats().sessions_refused_overload);
        return Err(ApiError::Overloaded { shard });
    }
    let candidates = candidates(core, current, sig).await;
    claim(core, sig).await?;
    if sig.create.role == Role::Play {
        // Published on another node: pull it here first (cluster only).
        let c = &sig.create;
        crate::server::pull::ensure(core, &c.vhost, &c.app, &c.stream).await?;
    }
    core.sync_settings();
    let mut sfu = core.sfu.borrow_mut();
    crate::control::admit(
        &core.shared.directory,
        &mut sfu,
        Instant::now(),
        &sig.create,
        candidates,
    )
}

/// A publisher's claim on its stream, cluster-wide, before the session
/// exists: refused (409) when another node holds the stream. Nothing is
/// asked when the cluster is off or for a player.
async fn claim(core: &ShardRuntime, sig: &Signaling) -> Result<(), ApiError> {
    let Some(cluster) = &core.shared.cluster else {
        return Ok(());
    };
    if sig.create.role != Role::Publish {
        return Ok(());
    }
    let key = sig.create.stream_key();
    match cluster.claim(key.as_str()).await {
        crate::cluster::Decision::Refused(o) => Err(DirectoryError::ClaimedElsewhere {
            stream: key.to_string(),
            node: o.node,
            api: o.api,
        }
        .into()),
        _ => Ok(()),
    }
}

/// The answer's candidates by SRS's rules; the API's `Host`, when it is a
/// name and `resolve_api_domain` asks for it, is resolved off the shard.
async fn candidates(
    core: &ShardRuntime,
    current: &Current,
    sig: &Signaling,
) -> Vec<sdp::Candidate> {
    let shared = &core.shared;
    let policy = &current.candidates;
    let mut resolved: Vec<IpAddr> = Vec::new();
    let name = sig
        .api_host
        .as_deref()
        .filter(|_| sig.eip.is_none() && policy.api_as_candidates && policy.resolve_api_domain)
        .and_then(crate::server::resolver::host_name);
    if let Some(name) = name {
        resolved = shared.resolver.resolve(&name).await;
    }
    sdp::discover_candidates(
        policy,
        sig.api_host.as_deref(),
        sig.eip.as_deref(),
        &shared.interfaces,
        &|_| resolved.clone(),
    )
}

/// Ends the session named by `token`, on whichever shard holds it.
pub fn delete(core: &ShardRuntime, token: &str) -> Result<(), ApiError> {
    // Marked under the directory's lock: of two DELETEs racing, on any
    // shards, one finds the session and the other a 404, even while the
    // owning shard has yet to close it.
    let Some(entry) = core.shared.directory.mark_closing(token) else {
        return Err(ApiError::SessionNotFound(token.to_string()));
    };
    if entry.shard == core.id {
        if !core.close_session(token) {
            // In flight between shards: the directory entry goes now; the
            // receiving shard finds it gone and drops the session.
            core.shared.directory.remove(token);
        }
    } else if core
        .mesh
        .try_send(
            entry.shard,
            ShardMsg::Close {
                token: token.into(),
            },
        )
        .is_err()
    {
        // The owner is busy; forget it here so the resource is gone, and the
        // owner drops it at its next stun_timeout check.
        core.shared.directory.remove(token);
    }
    Ok(())
}

/// Kicks the client `id` of `/api/v1/clients`: a WebRTC session ends as a
/// DELETE of its resource does (on whichever shard holds it), a live
/// connection (RTMP or HTTP-FLV, on any shard) is closed by its task at once.
pub fn kick(core: &ShardRuntime, id: &str) -> Result<(), ApiError> {
    if let Some(token) = core.shared.directory.token_of_id(id) {
        let owner = core.shared.directory.session(&token).map(|e| e.shard);
        tracing::warn!(
            client = id,
            shard = core.id,
            ?owner,
            "kicked by the HTTP API (WebRTC session)"
        );
        return delete(core, &token).map_err(|_| ApiError::ClientNotFound(id.to_owned()));
    }
    if core.shared.live.kick(id) {
        tracing::warn!(client = id, "kicked by the HTTP API (live connection)");
        return Ok(());
    }
    Err(ApiError::ClientNotFound(id.to_owned()))
}

impl ServerFigures for ShardRuntime {
    fn shard(&self) -> usize {
        self.id
    }

    fn shard_stats(&self) -> Vec<StatsSnapshot> {
        self.shared.stats.iter().map(|s| s.snapshot()).collect()
    }

    fn clients(&self) -> Vec<crate::sfu::snapshot::ClientInfo> {
        let mut clients = self.shared.snapshots.clients();
        // Sessions deleted since the snapshot are gone already.
        self.shared
            .directory
            .retain_registered(&mut clients, |c| c.id.as_str());
        clients
    }

    fn live_clients(&self) -> Vec<crate::server::live::clients::LiveClientInfo> {
        self.shared.live.clients(Instant::now())
    }

    fn live_media(&self, key: &str) -> Option<crate::live::media_info::MediaInfo> {
        self.shared.live.media(key)
    }

    fn counts(&self) -> (usize, usize) {
        self.shared.directory.counts()
    }

    fn is_published(&self, key: &str) -> bool {
        self.shared.directory.stream(key).is_some()
    }

    fn http_connections(&self) -> usize {
        self.shared.http_connections.load(Ordering::Relaxed)
    }

    fn uptime_secs(&self) -> u64 {
        self.shared.started.elapsed().as_secs()
    }

    fn ready(&self) -> bool {
        self.shared.liveness.all_bound()
    }

    fn dvr_file(&self, key: &str) -> Option<String> {
        self.shared.dvr.file(key)
    }
}
