//! The one-port listener: where `rtc_server.tcp.listen` is also an HTTP or
//! HTTPS address of the API or the HTTP server (or plain and HTTPS share an
//! address), one listener serves them all. Each connection's first bytes go
//! through a [`Sniffer`] (within [`FIRST_BYTES_TIMEOUT`] of the accept):
//! HTTP goes to [`http_conn`], an RFC 4571 STUN binding request to
//! [`rtc_tcp`], a TLS ClientHello to the TLS handshake, after which the
//! decrypted bytes are sniffed again (HTTP or RFC 4571). The bytes read to
//! decide are handed to the chosen protocol. Anything else, or nothing by
//! the deadline, is closed and counted (`port_sniff_rejected`,
//! `port_sniff_timeouts`).
//!
//! Only the accept path changes: once a connection is WebRTC over TCP it
//! runs the same loop as on a port of its own, with no per-packet cost.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use futures_rustls::TlsAcceptor;
use shards::glommio::{self, net::TcpListener, net::TcpStream};

use crate::server::tls::HttpStream;
use crate::server::{conn_limit, http_conn, rtc_tcp, ShardRuntime, Shared, Site};
use crate::sfu::ShardStats;
use crate::sniff::{Protocols, SniffError, Sniffer, Verdict, FIRST_BYTES_TIMEOUT};

/// What one shared listener serves.
pub struct Roles {
    /// Plain HTTP, and for which site.
    pub plain: Option<Site>,
    /// HTTPS: its site and certificate.
    pub tls: Option<(Site, TlsAcceptor)>,
    /// WebRTC over TCP (plain, or inside the TLS of `tls`).
    pub rtc: bool,
}

impl Roles {
    /// The protocols a new connection may speak.
    fn outer(&self) -> Protocols {
        Protocols {
            http: self.plain.is_some(),
            tls: self.tls.is_some(),
            rfc4571_stun: self.rtc,
        }
    }

    /// The protocols the decrypted bytes of a TLS connection may speak.
    fn inner(&self) -> Protocols {
        Protocols {
            http: true,
            tls: false,
            rfc4571_stun: self.rtc,
        }
    }
}

/// How these listeners are named in logs and per-address refusals.
const LABEL: &str = "shared port";

/// Accepts connections until the task is dropped (shutdown). Each counts
/// against `max_connections` as an HTTP connection until it turns out to
/// be WebRTC over TCP, and against `max_connections_per_ip` from the accept.
pub async fn accept_loop(core: Rc<ShardRuntime>, listener: TcpListener, roles: Rc<Roles>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let Some(counted) = Counted::open(&core, Gauge::Http) else {
                    crate::warn_limited!(
                        "max_connections reached, closing a new connection on a shared port"
                    );
                    continue;
                };
                let Ok(slot) = conn_limit::admit(&core, &stream, LABEL) else {
                    continue;
                };
                let core = core.clone();
                let roles = roles.clone();
                glommio::spawn_local(async move {
                    serve(&core, stream, &roles, counted).await;
                    drop(slot);
                })
                .detach();
            }
            Err(e) => {
                crate::warn_limited!(shard = core.id, "shared port accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One connection: sniff, then hand it (and the bytes read) over.
async fn serve(core: &Rc<ShardRuntime>, mut stream: TcpStream, roles: &Roles, counted: Counted) {
    let Some(peer) = HttpStream::peer_addr(&stream) else {
        return;
    };
    let (verdict, prefix) = sniff(core, &mut stream, roles.outer(), peer).await;
    match verdict {
        Verdict::Http => {
            if let Some(site) = roles.plain {
                http_conn::serve(core, stream, site, &prefix).await;
            }
        }
        Verdict::Rfc4571Stun => rtc(core, stream, peer, &prefix, counted).await,
        Verdict::Tls => {
            let Some((site, tls)) = &roles.tls else {
                return;
            };
            let stream = Prefixed::new(prefix, stream);
            let Some(mut stream) = http_conn::handshake(tls, stream).await else {
                return;
            };
            let (verdict, prefix) = sniff(core, &mut stream, roles.inner(), peer).await;
            match verdict {
                Verdict::Http => http_conn::serve(core, stream, *site, &prefix).await,
                Verdict::Rfc4571Stun => rtc(core, stream, peer, &prefix, counted).await,
                _ => {}
            }
        }
        Verdict::Reject(_) | Verdict::Undecided => {}
    }
}

/// Hands a connection to WebRTC over TCP: it now counts as one of those.
async fn rtc<S: HttpStream + 'static>(
    core: &Rc<ShardRuntime>,
    stream: S,
    peer: SocketAddr,
    prefix: &[u8],
    counted: Counted,
) {
    drop(counted);
    let Some(_counted) = Counted::open(core, Gauge::RtcTcp) else {
        crate::warn_limited!(
            %peer,
            "max_connections reached, closing a new WebRTC-over-TCP connection"
        );
        return;
    };
    ShardStats::inc(&core.stats().tcp_connections);
    tracing::debug!(%peer, shard = core.id, "shared port: WebRTC over TCP");
    rtc_tcp::serve_stream(core, stream, peer, prefix).await;
}

/// Reads from `stream` until the sniffer decides (or rejects: counted and
/// logged); returns the verdict and the bytes read. Reads are bounded by
/// the sniffer's deadline and leave the read timeout unset.
async fn sniff<S: HttpStream>(
    core: &ShardRuntime,
    stream: &mut S,
    allowed: Protocols,
    peer: SocketAddr,
) -> (Verdict, Vec<u8>) {
    let mut sniffer = Sniffer::new(Instant::now(), allowed, FIRST_BYTES_TIMEOUT);
    let mut buf = [0u8; 4096];
    let verdict = loop {
        let now = Instant::now();
        let Some(deadline) = sniffer.poll_timeout() else {
            break sniffer.verdict().clone();
        };
        let wait = deadline.saturating_duration_since(now);
        if wait.is_zero() {
            break sniffer.handle_timeout(now);
        }
        // glommio rejects a zero timeout.
        let _ = stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match stream.read(&mut buf).await {
            Ok(0) => break sniffer.handle_eof(),
            Ok(n) => {
                let v = sniffer.handle_input(Instant::now(), &buf[..n]);
                if v != Verdict::Undecided {
                    break v;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                sniffer.handle_timeout(Instant::now());
            }
            Err(_) => break sniffer.handle_eof(),
        }
    };
    let _ = stream.set_read_timeout(None);
    if let Verdict::Reject(e) = &verdict {
        let stats = core.stats();
        match e {
            SniffError::Timeout { .. } | SniffError::Closed { .. } => {
                ShardStats::inc(&stats.port_sniff_timeouts)
            }
            SniffError::Unknown { .. } | SniffError::NotServed { .. } => {
                ShardStats::inc(&stats.port_sniff_rejected)
            }
        }
        crate::info_limited!(%peer, "shared port: connection closed: {e}");
    }
    (verdict, sniffer.into_buffered())
}

/// The process-wide gauges a connection counts in.
#[derive(Clone, Copy)]
enum Gauge {
    /// `http_connections`.
    Http,
    /// `rtc_tcp_connections`.
    RtcTcp,
}

/// One connection counted in a process-wide gauge against
/// `max_connections`; the count goes back on drop.
struct Counted {
    shared: Arc<Shared>,
    gauge: Gauge,
}

impl Counted {
    /// Counts one more in `gauge`, or `None` (counted back) if that makes
    /// more than `max_connections`.
    fn open(core: &ShardRuntime, gauge: Gauge) -> Option<Counted> {
        let c = Counted {
            shared: core.shared.clone(),
            gauge,
        };
        let open = c.counter().fetch_add(1, Ordering::Relaxed) + 1;
        // Dropping `c` counts it back.
        (open <= c.shared.config.max_connections as usize).then_some(c)
    }

    fn counter(&self) -> &AtomicUsize {
        match self.gauge {
            Gauge::Http => &self.shared.http_connections,
            Gauge::RtcTcp => &self.shared.rtc_tcp_connections,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counter().fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream whose first reads return bytes already read from it (by the
/// sniffer), then read from the stream itself. Writes go straight through.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, with `prefix` to be read again first.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let rest = &this.prefix[this.pos..];
        if rest.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        this.pos += n;
        if this.pos == this.prefix.len() {
            this.prefix = Vec::new();
            this.pos = 0;
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

impl<S: HttpStream> HttpStream for Prefixed<S> {
    fn socket(&self) -> &TcpStream {
        self.inner.socket()
    }
}
