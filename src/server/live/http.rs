//! HTTP-FLV and HLS on the HTTP server site.
//!
//! - HTTP-FLV (`http_remux`, mount `[vhost]/[app]/[stream].flv`): a GET of a
//!   publishing stream takes over the TCP connection ([`flv_request`] in the
//!   HTTP loop, then [`serve_flv`]): a response head without length, the FLV
//!   header, then the GOP cache and live tags until either side ends.
//!   The player is a client of the HTTP API while it plays (`flv-play`):
//!   its bytes are counted and `DELETE /api/v1/clients/{id}` closes it.
//! - HLS (`hls`): `/[app]/[stream].m3u8` and `/[app]/[stream]-[seq].ts` are
//!   whole responses from the stream's in-memory segmenter ([`hls_response`]).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::AsyncWrite;

use crate::http::{Method, Request, Response};
use crate::live::flv::{FlvMuxer, FlvTag};
use crate::logging::Proto;
use crate::server::live::clients::{ByteCounters, Kick, LiveClientDesc, LiveClientGuard, LiveKind};
use crate::server::live::hub::stream_key;
use crate::server::live::session::LiveSession;
use crate::server::timeouts;
use crate::server::{ShardRuntime, Site};

/// Bytes of FLV gathered before a write to the socket.
const WRITE_BATCH: usize = 64 * 1024;

/// An HTTP-FLV request that was accepted: the player's tag queue.
pub struct FlvPlay {
    /// `app/stream`.
    pub key: String,
    rx: flume::Receiver<FlvTag>,
    /// Its entry in the hub's clients (held until the play ends).
    _client: LiveClientGuard,
    bytes: Arc<ByteCounters>,
    kick: Kick,
}

/// `(app, stream)` of `/app/stream.<ext>` (also `/vhost/app/stream.<ext>`:
/// the last two path segments).
fn app_stream<'a>(path: &'a str, ext: &str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix('/')?.strip_suffix(ext)?;
    let (dir, stream) = rest.rsplit_once('/')?;
    let app = dir.rsplit('/').next()?;
    let ok = |s: &str| !s.is_empty() && s != "." && s != "..";
    (ok(app) && ok(stream)).then_some((app, stream))
}

/// When `req` is an HTTP-FLV play of a publishing stream, its queue (and
/// its client entry for the API, with the address of `peer`): the caller
/// then hands the TCP stream to [`serve_flv`]. `None` leaves the request to
/// the normal router (which answers 404 for unknown streams).
pub fn flv_request(
    core: &ShardRuntime,
    req: &Request,
    site: Site,
    peer: Option<SocketAddr>,
) -> Option<FlvPlay> {
    if req.method != Method::Get
        || !matches!(site, Site::Files | Site::Both)
        || core.shared.drain.is_draining()
    {
        // A stopping server answers 503 (`signaling::serve`).
        return None;
    }
    let remux = &core
        .shared
        .config
        .vhost(crate::config::DEFAULT_VHOST)
        .http_remux;
    if !remux.enabled || !remux.mount.ends_with(".flv") {
        return None;
    }
    let (app, stream) = app_stream(&req.path, ".flv")?;
    let key = stream_key(app, stream);
    let rx = core.shared.live.subscribe(&key, false)?;
    let bytes = Arc::new(ByteCounters::default());
    let kick = Kick::default();
    let host = req.host().unwrap_or("localhost");
    let desc = LiveClientDesc {
        kind: LiveKind::FlvPlay,
        shard: core.id,
        vhost: crate::config::DEFAULT_VHOST.to_owned(),
        app: app.to_owned(),
        stream: stream.to_owned(),
        ip: peer.map_or_else(String::new, |p| p.ip().to_string()),
        tc_url: format!("http://{host}/{app}"),
        page_url: String::new(),
        swf_url: String::new(),
    };
    let client = core.shared.live.add_client(desc, bytes.clone(), &kick);
    Some(FlvPlay {
        key,
        rx,
        _client: client,
        bytes,
        kick,
    })
}

/// Play anywhere for live players: before an HTTP-FLV or HLS request of a
/// stream published on another cluster node is served, this node pulls it
/// (when `rtc_to_rtmp` bridges pulled streams) and waits for the live
/// stream (FLV: up to 3 s) or its first HLS segment (up to two fragments
/// and 2 s, at most 20 s). `Some` is the refusal when the pull fails (502).
pub async fn pull_elsewhere(core: &ShardRuntime, req: &Request, site: Site) -> Option<Response> {
    use crate::server::pull::{ensure_live, LiveWait};
    if core.shared.cluster.is_none()
        || !matches!(req.method, Method::Get | Method::Head)
        || !matches!(site, Site::Files | Site::Both)
    {
        return None;
    }
    let vhost = core.shared.config.vhost(crate::config::DEFAULT_VHOST);
    let hls = vhost.hls.enabled;
    let fragment = vhost.hls.hls_fragment;
    let flv = vhost.http_remux.enabled && vhost.http_remux.mount.ends_with(".flv");
    let (app, stream, wait, limit) =
        if let Some((a, s)) = app_stream(&req.path, ".flv").filter(|_| flv) {
            (a, s, LiveWait::Stream, std::time::Duration::from_secs(3))
        } else if let Some((a, s)) = app_stream(&req.path, ".m3u8").filter(|_| hls) {
            let limit = (fragment * 2 + std::time::Duration::from_secs(2))
                .min(std::time::Duration::from_secs(20));
            (a, s, LiveWait::Playlist, limit)
        } else {
            let (a, name) = app_stream(&req.path, ".ts").filter(|_| hls)?;
            let (s, _) = name.rsplit_once('-')?;
            (a, s, LiveWait::Keep, std::time::Duration::ZERO)
        };
    if !crate::util::is_valid_name(app) || !crate::util::is_valid_name(stream) {
        return None;
    }
    let e = ensure_live(core, app, stream, wait, limit).await.err()?;
    Some(crate::api::error(crate::api::AnswerStyle::Whip, e))
}

/// Streams FLV to the HTTP client at `ip` (on shard `core`) until the
/// stream ends, the client goes away or it reads too slowly (its queue
/// overflows and the hub drops it, or it takes less than 64 KiB in 10 s:
/// [`timeouts::write_all`]), or the HTTP API kicks it. The caller drops it
/// when the shard stops.
pub async fn serve_flv(
    mut stream: impl AsyncWrite + Unpin,
    play: FlvPlay,
    core: &ShardRuntime,
    ip: Option<std::net::IpAddr>,
) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nServer: {}\r\n\
         Access-Control-Allow-Origin: *\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        crate::http::response::SERVER
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&FlvMuxer::header(true, true));
    let mut session = LiveSession::start(Proto::Flv, false, &play.key, ip, core.id);
    let end;
    loop {
        if !out.is_empty() {
            let write = async {
                timeouts::write_all(&mut stream, &out).await?;
                timeouts::flush(&mut stream).await
            };
            match play.kick.or(write).await {
                Some(Ok(())) => play.bytes.add_sent(out.len()),
                Some(Err(e)) => {
                    crate::info_limited!(stream = play.key, "http-flv: closing: {e}");
                    end = "write_failed";
                    break;
                }
                None => {
                    end = "kicked";
                    break;
                }
            }
            session.counts.bytes_out += out.len() as u64;
            out.clear();
        }
        let tag = match play.kick.or(play.rx.recv_async()).await {
            Some(Ok(tag)) => tag,
            Some(Err(_)) => {
                end = if core.shared.live.is_publishing(&play.key) {
                    // The hub dropped this too slow player.
                    "too_slow"
                } else {
                    "stream_ended"
                };
                break;
            }
            None => {
                end = "kicked";
                break;
            }
        };
        let mut next = Some(tag);
        while let Some(tag) = next.take() {
            match FlvMuxer::write_tag(&tag, &mut out) {
                Ok(()) => session.counts.packets_out += 1,
                Err(e) => tracing::debug!(stream = play.key, "http-flv: tag skipped: {e}"),
            }
            if out.len() < WRITE_BATCH {
                next = play.rx.try_recv().ok();
            }
        }
    }
    session.end(end);
    if end == "kicked" {
        // Not waited for: dropping the socket closes it.
        return;
    }
    let _ = play.kick.or(timeouts::close(&mut stream)).await;
}

/// The HLS playlist or segment `req` asks for, when HLS serves that path.
pub fn hls_response(core: &ShardRuntime, req: &Request) -> Option<Response> {
    if !matches!(req.method, Method::Get | Method::Head) {
        return None;
    }
    if !core
        .shared
        .config
        .vhost(crate::config::DEFAULT_VHOST)
        .hls
        .enabled
    {
        return None;
    }
    let hub = &core.shared.live;
    if let Some((app, stream)) = app_stream(&req.path, ".m3u8") {
        let key = stream_key(app, stream);
        let body = hub.hls_playlist(&key, &format!("{stream}-[seq].ts"))?;
        return Some(
            Response::bytes(200, "application/vnd.apple.mpegurl", body)
                .with_header("Cache-Control", "no-cache"),
        );
    }
    let (app, name) = app_stream(&req.path, ".ts")?;
    let (stream, seq) = name.rsplit_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    let data: Bytes = hub.hls_segment(&stream_key(app, stream), seq)?;
    Some(Response::bytes(200, "video/MP2T", data))
}

#[cfg(test)]
mod tests {
    use super::app_stream;

    #[test]
    fn paths_name_app_and_stream() {
        assert_eq!(
            app_stream("/live/livestream.flv", ".flv"),
            Some(("live", "livestream"))
        );
        assert_eq!(app_stream("/vh/live/s.m3u8", ".m3u8"), Some(("live", "s")));
        assert_eq!(app_stream("/s.flv", ".flv"), None);
        assert_eq!(app_stream("/live/.flv", ".flv"), None);
        assert_eq!(app_stream("/live/s.mp4", ".flv"), None);
    }
}
