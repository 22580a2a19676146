//! WebRTC over TCP (`rtc_server { tcp { enabled on; } protocol tcp|all; }`):
//! the answer carries `tcptype passive` candidates (RFC 6544), the client
//! connects, and every STUN, DTLS, RTP and RTCP packet travels in RFC 4571
//! frames. Each connection's packets go through the same [`ShardState`] as
//! UDP datagrams, with the connection's peer address as their source; the
//! shard sends packets for that address to the connection's queue instead
//! of its UDP socket. A session moves to the shard that accepted its TCP
//! connection on the first check, as it does for UDP.
//!
//! [`ShardState`]: crate::server::shard::ShardState

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::AsyncReadExt;
use shards::glommio::{self, net::TcpListener, net::TcpStream};

use crate::ice::framing::{write_frame, Deframer};
use crate::server::conn_limit;
use crate::server::timeouts;
use crate::server::tls::HttpStream;
use crate::server::ShardRuntime;
use crate::sfu::ShardStats;

/// Packets waiting to be written to one connection; more are dropped and
/// counted (`tcp_dropped`), as a full UDP buffer would drop them.
const SEND_QUEUE: usize = 1024;

/// Bytes of frames gathered into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Accepts WebRTC-over-TCP connections until the task is dropped (shutdown).
pub async fn accept_loop(core: Rc<ShardRuntime>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shared = core.shared.clone();
                let open = shared.rtc_tcp_connections.fetch_add(1, Ordering::Relaxed) + 1;
                if open > shared.config.max_connections as usize {
                    shared.rtc_tcp_connections.fetch_sub(1, Ordering::Relaxed);
                    crate::warn_limited!(
                        open,
                        "max_connections reached, closing a new WebRTC-over-TCP connection"
                    );
                    continue;
                }
                let Ok(slot) = conn_limit::admit(&core, &stream, "rtc tcp") else {
                    shared.rtc_tcp_connections.fetch_sub(1, Ordering::Relaxed);
                    continue;
                };
                ShardStats::inc(&core.stats().tcp_connections);
                let core = core.clone();
                glommio::spawn_local(async move {
                    serve(&core, stream).await;
                    drop(slot);
                    shared.rtc_tcp_connections.fetch_sub(1, Ordering::Relaxed);
                })
                .detach();
            }
            Err(e) => {
                crate::warn_limited!(shard = core.id, "rtc tcp accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection accepted on the WebRTC-over-TCP port.
async fn serve(core: &Rc<ShardRuntime>, stream: TcpStream) {
    // An IPv4 client of a dual-stack `[::]` listener has one address, as over UDP.
    let Ok(peer) = stream.peer_addr().map(shards::canonical) else {
        return;
    };
    serve_stream(core, stream, peer, &[]).await;
}

/// Reads frames into the shard until the peer closes, sends nothing for
/// `stun_timeout` (ICE consent checks come every few seconds), or the
/// connection fails, then ends the session that used it; a writer task
/// drains the connection's send queue. `stream` is plain TCP, or TLS on the
/// one-port listener; `prefix` is what that listener already read from it.
pub(crate) async fn serve_stream<S: HttpStream + 'static>(
    core: &Rc<ShardRuntime>,
    stream: S,
    peer: SocketAddr,
    prefix: &[u8],
) {
    let _ = stream.socket().set_nodelay(true);
    let idle = core
        .shared
        .config
        .vhost(crate::config::DEFAULT_VHOST)
        .rtc
        .stun_timeout
        .max(Duration::from_secs(1));
    let _ = stream.set_read_timeout(Some(idle));
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let (tx, rx) = flume::bounded::<Bytes>(SEND_QUEUE);
    core.tcp_peers.borrow_mut().insert(peer, tx);
    let writer = glommio::spawn_local(async move {
        let mut out = Vec::with_capacity(WRITE_BATCH);
        while let Ok(first) = rx.recv_async().await {
            out.clear();
            let mut next = Some(first);
            while let Some(packet) = next.take() {
                write_frame(&mut out, &packet);
                if out.len() < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if timeouts::write_all(&mut wr, &out).await.is_err() {
                break;
            }
        }
        let _ = timeouts::close(&mut wr).await;
    });
    tracing::debug!(%peer, shard = core.id, "rtc tcp connection");
    let reading = async {
        let mut deframer = Deframer::default();
        deframer.push(prefix);
        while let Some(packet) = deframer.next_frame() {
            core.on_tcp_frame(peer, packet).await;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(%peer, "rtc tcp connection ends: {e}");
                    break;
                }
            };
            deframer.push(&buf[..n]);
            while let Some(packet) = deframer.next_frame() {
                core.on_tcp_frame(peer, packet).await;
            }
        }
    };
    // A peer that stops reading fails the writer (write timeout): that ends
    // the connection too, however busily the peer keeps sending.
    let writing = async {
        writer.await;
        tracing::debug!(%peer, "rtc tcp connection ends: a write failed or timed out");
    };
    futures_lite::future::or(reading, writing).await;
    core.on_tcp_closed(peer).await;
    tracing::debug!(%peer, shard = core.id, "rtc tcp connection closed");
}
