//! The HTTP listeners of a shard: accept (and on an `https` listener, finish
//! the TLS handshake), then drive one sans-IO [`ServerConn`] per connection.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use futures_rustls::TlsAcceptor;
use shards::glommio::{self, net::TcpListener};

use crate::http::{ServerConn, Timeouts};
use crate::server::conn_limit;
use crate::server::sig_ws;
use crate::server::signaling::{self, Reply};
use crate::server::timeouts;
use crate::server::tls::{HttpStream, HANDSHAKE_TIMEOUT};
use crate::server::{ShardRuntime, Site};
use crate::sfu::ShardStats;

/// Accepts connections until the task is dropped (shutdown); with `tls`,
/// each connection first completes a TLS handshake.
pub async fn accept_loop(
    core: Rc<ShardRuntime>,
    listener: TcpListener,
    site: Site,
    tls: Option<TlsAcceptor>,
) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let open = core.shared.http_connections.fetch_add(1, Ordering::Relaxed) + 1;
                if open > core.shared.config.max_connections as usize {
                    core.shared.http_connections.fetch_sub(1, Ordering::Relaxed);
                    crate::warn_limited!(
                        open,
                        "max_connections reached, closing a new HTTP connection"
                    );
                    continue;
                }
                let listener_kind = if tls.is_some() { "https" } else { "http" };
                let slot = match conn_limit::admit(&core, &stream, listener_kind) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        core.shared.http_connections.fetch_sub(1, Ordering::Relaxed);
                        // A 429 over TLS would need a handshake first: the
                        // expensive part a refusal is meant to skip.
                        if let (Some(e), None) = (refused, &tls) {
                            conn_limit::refuse_http(stream, e);
                        }
                        continue;
                    }
                };
                let core = core.clone();
                let tls = tls.clone();
                glommio::spawn_local(async move {
                    match tls {
                        None => serve(&core, stream, site, &[]).await,
                        Some(tls) => {
                            if let Some(stream) = handshake(&tls, stream).await {
                                serve(&core, stream, site, &[]).await;
                            }
                        }
                    }
                    drop(slot);
                    core.shared.http_connections.fetch_sub(1, Ordering::Relaxed);
                })
                .detach();
            }
            Err(e) => {
                crate::warn_limited!(shard = core.id, "accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The server side of a TLS handshake, finished within [`HANDSHAKE_TIMEOUT`]
/// of the accept in total (a read timeout alone restarts on every byte, so a
/// client sending one byte a second held the connection far longer); a
/// failure (plain HTTP on the HTTPS port, a stall, no shared cipher) is
/// logged at debug level and the connection dropped.
pub(crate) async fn handshake<S: HttpStream>(
    tls: &TlsAcceptor,
    stream: S,
) -> Option<futures_rustls::server::TlsStream<S>> {
    let peer = stream.peer_addr();
    let accept = async { Some(tls.accept(stream).await) };
    let deadline = async {
        glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
        None
    };
    match futures_lite::future::or(accept, deadline).await {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::debug!(?peer, "https: TLS handshake failed: {e}");
            None
        }
        None => {
            tracing::debug!(
                ?peer,
                "https: TLS handshake not done within {HANDSHAKE_TIMEOUT:?}"
            );
            None
        }
    }
}

/// Writes what the connection has queued, [`timeouts::WRITE_SLICE`] by slice.
async fn transmit<S: HttpStream>(conn: &mut ServerConn, stream: &mut S) -> std::io::Result<()> {
    while let Some(out) = conn.poll_transmit() {
        let n = out.len().min(timeouts::WRITE_SLICE);
        timeouts::write_all(stream, &out[..n]).await?;
        conn.consume_transmit(n);
    }
    Ok(())
}

/// The 101 head for a signaling upgrade, or the response refusing it.
fn upgrade(
    core: &ShardRuntime,
    req: &crate::http::Request,
) -> Result<Vec<u8>, crate::http::Response> {
    if core.shared.drain.is_draining() {
        return Err(crate::http::Response::error(503, "the server is stopping"));
    }
    crate::signaling::accept_upgrade(req).map_err(|e| {
        crate::info_limited!("signaling: upgrade refused: {e}");
        sig_ws::refusal(&e)
    })
}

/// Serves HTTP requests on `stream` until it closes; `prefix` is what was
/// already read from it (by the one-port listener's sniffer).
pub(crate) async fn serve<S: HttpStream + 'static>(
    core: &ShardRuntime,
    mut stream: S,
    site: Site,
    prefix: &[u8],
) {
    let mut conn = ServerConn::new(Instant::now(), Timeouts::default());
    if !prefix.is_empty() {
        conn.handle_input(Instant::now(), prefix);
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(req) = conn.poll_request() {
            // The signaling WebSocket takes over the connection.
            if let Ok(r) = &req {
                let config = core.shared.current.get();
                if sig_ws::wants(r, &config.config) {
                    drop(config);
                    ShardStats::inc(&core.stats().http_requests);
                    match upgrade(core, r) {
                        Ok(head) => {
                            if transmit(&mut conn, &mut stream).await.is_err() {
                                return;
                            }
                            let leftover = conn.into_upgraded();
                            sig_ws::serve(core, stream, head, leftover).await;
                            return;
                        }
                        Err(resp) => {
                            conn.send_response(Instant::now(), &resp);
                            continue;
                        }
                    }
                }
            }
            // Live hook: an HTTP-FLV play takes over the connection.
            if let Ok(r) = &req {
                // Play anywhere: a stream published on another node is
                // pulled first.
                if let Some(resp) = crate::server::live::http::pull_elsewhere(core, r, site).await {
                    ShardStats::inc(&core.stats().http_requests);
                    conn.send_response(Instant::now(), &resp);
                    continue;
                }
                let peer = stream.peer_addr();
                if let Some(play) = crate::server::live::http::flv_request(core, r, site, peer) {
                    ShardStats::inc(&core.stats().http_requests);
                    if transmit(&mut conn, &mut stream).await.is_err() {
                        return;
                    }
                    let ip = stream.peer_addr().map(|a| a.ip());
                    // The shard stopping drops the play (its end line says
                    // `shutdown`).
                    let flv = crate::server::live::http::serve_flv(stream, play, core, ip);
                    futures_lite::future::or(flv, core.stop.stopped()).await;
                    return;
                }
            }
            let reply = match req {
                Ok(req) => {
                    ShardStats::inc(&core.stats().http_requests);
                    signaling::serve(core, &req, site, stream.peer_addr()).await
                }
                Err(e) => {
                    let resp = e.response();
                    crate::info_limited!(
                        peer = ?stream.peer_addr(),
                        "http: bad request, answered {}: {e}",
                        resp.status
                    );
                    Reply::Full(resp)
                }
            };
            match reply {
                Reply::Full(resp) => conn.send_response(Instant::now(), &resp),
                Reply::File(head, file) => {
                    // The head, then the file straight from disk to the socket.
                    if conn.send_response_head(Instant::now(), &head, file.len()) {
                        if transmit(&mut conn, &mut stream).await.is_err()
                            || file.send(&mut stream).await.is_err()
                        {
                            return;
                        }
                    } else {
                        file.close().await;
                    }
                }
            }
            // A DELETE may have queued close_notify or mesh messages.
            core.flush().await;
        }
        if transmit(&mut conn, &mut stream).await.is_err() {
            return;
        }
        // TLS buffers what it encrypts; plain TCP has nothing to flush.
        if timeouts::flush(&mut stream).await.is_err() {
            return;
        }
        if conn.is_closed() {
            let _ = timeouts::close(&mut stream).await;
            return;
        }
        let now = Instant::now();
        let wait = conn
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now));
        if wait == Some(Duration::ZERO) {
            conn.handle_timeout(now);
            continue;
        }
        // glommio rejects a zero timeout; `None` waits for input forever.
        let _ = stream.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))));
        match stream.read(&mut buf).await {
            Ok(0) => conn.handle_eof(Instant::now()),
            Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                conn.handle_timeout(Instant::now())
            }
            Err(_) => return,
        }
    }
}
