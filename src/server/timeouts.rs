//! Deadlines every socket of the runtime shares.
//!
//! - Writes: a peer that stops reading must not hold a task, its queues and
//!   its buffers forever. Every socket write goes through [`write_all`],
//!   [`flush`] or [`close`] here, which fail with `TimedOut` when the peer
//!   does not take a [`WRITE_SLICE`] (64 KiB) within [`WRITE_TIMEOUT`]
//!   (10 s); the caller then closes the connection. A reader slower than
//!   that (6.4 KB/s) is cut too.
//! - Handshakes and request heads have fixed total deadlines (measured from
//!   the accept or the first byte), not timeouts that restart on every byte:
//!   TLS ([`crate::server::tls::HANDSHAKE_TIMEOUT`]), RTMP handshake, connect
//!   and publish/play ([`RTMP_SETUP_DEADLINE`]), and HTTP heads (the sans-IO
//!   core's `Timeouts::header`).

use std::future::Future;
use std::io;
use std::time::Duration;

use futures_lite::{AsyncWrite, AsyncWriteExt};
use shards::glommio;

/// How long the peer may take to accept one [`WRITE_SLICE`] of output
/// before the connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Output is written in slices of at most this many bytes, each with its
/// own [`WRITE_TIMEOUT`]: a peer must take at least 64 KiB per 10 s.
pub const WRITE_SLICE: usize = 64 * 1024;

/// From the accept of an RTMP connection (or the end of its last stream)
/// until it publishes or plays: handshake, `connect`, `createStream` and
/// `publish`/`play` together.
pub const RTMP_SETUP_DEADLINE: Duration = Duration::from_secs(10);

/// `op` (a socket write, flush or close), failed with `TimedOut` if it is
/// not done within [`WRITE_TIMEOUT`].
///
/// The deadline is polled first: a write that is still pending when it
/// passes fails even if the kernel would now take a few more bytes. (A
/// socket whose peer never reads still accepts a little now and then, when
/// polled; preferring the write let such a peer hold a player forever.)
async fn bounded<T>(op: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let deadline = async {
        glommio::timer::sleep(WRITE_TIMEOUT).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the peer took less than {WRITE_SLICE} bytes in {WRITE_TIMEOUT:?}"),
        ))
    };
    futures_lite::future::or(deadline, op).await
}

/// All of `buf`, [`WRITE_SLICE`] by [`WRITE_SLICE`], each within [`WRITE_TIMEOUT`].
pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, buf: &[u8]) -> io::Result<()> {
    for slice in buf.chunks(WRITE_SLICE) {
        bounded(w.write_all(slice)).await?;
    }
    Ok(())
}

/// Flush (TLS writes its buffered records here), bounded by [`WRITE_TIMEOUT`].
pub async fn flush<W: AsyncWrite + Unpin + ?Sized>(w: &mut W) -> io::Result<()> {
    bounded(w.flush()).await
}

/// Close (TLS sends close_notify here), bounded by [`WRITE_TIMEOUT`].
pub async fn close<W: AsyncWrite + Unpin + ?Sized>(w: &mut W) -> io::Result<()> {
    bounded(w.close()).await
}
