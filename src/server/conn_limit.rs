//! `max_connections_per_ip` at every TCP accept loop (HTTP API and server,
//! plain and TLS, RTMP, WebRTC over TCP): one process-wide table for all of
//! them ([`crate::limits::PerIpConnections`]), touched on accept and close
//! only. A refused plain-HTTP connection gets a fixed `429` before it is
//! closed; the others are closed at once.

use std::os::fd::AsRawFd;

use shards::glommio::{self, net::TcpStream};

use crate::http::Response;
use crate::limits::{ConnectionSlot, TooManyConnections, CONNECTION_RETRY_AFTER};
use crate::server::timeouts;
use crate::server::ShardRuntime;
use crate::sfu::ShardStats;

/// Counts a connection just accepted on a `listener` (`http`, `https`,
/// `rtmp`, `rtc tcp`) against its client's `max_connections_per_ip` (read
/// from the running configuration, so a reload applies to new
/// connections). The slot goes back when the returned value is dropped.
/// `Err(Some(_))`: refused, logged (rate-limited) and counted
/// (`connections_refused_per_ip`); `Err(None)`: the peer is already gone.
pub fn admit(
    core: &ShardRuntime,
    stream: &TcpStream,
    listener: &'static str,
) -> Result<ConnectionSlot, Option<TooManyConnections>> {
    let Ok(peer) = stream.peer_addr() else {
        return Err(None);
    };
    let limit = core.shared.current.get().config.max_connections_per_ip;
    core.shared
        .connections_per_ip
        .open(peer.ip(), limit)
        .map_err(|e| {
            ShardStats::inc(&core.stats().connections_refused_per_ip);
            crate::warn_limited!(%peer, listener, "connection refused: {e}");
            Some(e)
        })
}

/// The fixed answer to a plain-HTTP connection over its client's limit.
fn too_many(e: &TooManyConnections) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    Response::error(429, &e.to_string())
        .with_header("Retry-After", CONNECTION_RETRY_AFTER.as_secs().to_string())
        .encode(false, false, &mut out);
    out
}

/// Writes the fixed `429` to a refused plain-HTTP connection and closes it,
/// in a task of its own, without reading the request: what has already
/// arrived is discarded first (without waiting), so that the close is a FIN
/// after the answer and not a reset that could make the client lose it.
pub fn refuse_http(stream: TcpStream, e: TooManyConnections) {
    let answer = too_many(&e);
    glommio::spawn_local(async move {
        let mut stream = stream;
        if timeouts::write_all(&mut stream, &answer).await.is_ok() {
            discard_arrived(&stream);
            let _ = stream.shutdown(std::net::Shutdown::Write).await;
        }
        drop(stream);
    })
    .detach();
}

/// Reads and drops what the socket has already received, up to 64 KiB,
/// without blocking.
fn discard_arrived(stream: &TcpStream) {
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        // SAFETY: recv(2) into a buffer we own, on the stream's open socket.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
    }
}
