//! The receive/send loops under comparison. Each runs the same
//! [`Forwarder`] on one UDP socket until `stop` is set (the controller then
//! sends a datagram to wake a loop that waits).

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shards::{RecvBatch, SendBatch, RECV_BATCH};

use crate::forward::{Counters, Forwarder, MAX_OUT};

/// How the forwarder waits, receives and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoopKind {
    /// shardsfu's media loop as measured in the A/B (before `5cb1ce6`): a
    /// glommio (io_uring) executor; glommio's receive takes the first
    /// datagram (a plain `recvmsg` when one is queued, else io_uring waits
    /// and delivers it), `recvmmsg` the rest of a batch, `sendmmsg` the
    /// copies one message each.
    Glommio,
    /// A plain loop: `epoll_wait` (mio), `recvmmsg`, `sendmmsg`.
    Epoll,
    /// `epoll_wait`, `recvmmsg`, and the copies sent as io_uring `SENDMSG`
    /// entries, one submit per batch (mediasoup's shape with liburing).
    EpollUringSend,
    /// As `glommio`, and after io_uring delivered a first datagram,
    /// `recvmmsg` takes what else came (the rest of a burst) into its batch:
    /// the server's receive since `5cb1ce6`.
    GlommioDrain,
    /// As `epoll`, the copies regrouped by destination and each run of
    /// equal-size datagrams to one sent as one UDP GSO (`UDP_SEGMENT`)
    /// message.
    EpollGso,
    /// The glommio executor with one receive and one send per datagram
    /// (glommio's `recv_from` / `send_to`): shardsfu before batching.
    GlommioEach,
}

/// Runs `kind` on `sock` (bound, any blocking mode) until `stop`.
pub fn run(kind: LoopKind, sock: UdpSocket, fwd: Forwarder, stop: &AtomicBool) -> io::Result<()> {
    match kind {
        LoopKind::Epoll => epoll(sock, fwd, stop, &mut Sendmmsg::plain()),
        LoopKind::EpollUringSend => epoll(sock, fwd, stop, &mut UringSend::new()?),
        LoopKind::EpollGso => epoll(sock, fwd, stop, &mut Sendmmsg::gso()),
        LoopKind::Glommio | LoopKind::GlommioDrain | LoopKind::GlommioEach => {
            let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .preempt_timer(Duration::from_millis(10))
                .make()
                .map_err(|e| io::Error::other(format!("glommio executor: {e}")))?;
            ex.run(async move {
                match kind {
                    LoopKind::GlommioEach => glommio_each(sock, fwd, stop).await,
                    _ => glommio_batched(sock, fwd, stop, kind == LoopKind::GlommioDrain).await,
                }
            })
        }
    }
}

/// Sends a forwarder's queued copies.
trait Flush {
    /// Sends what `fwd` has queued on `fd`, then clears it.
    fn flush(&mut self, fd: RawFd, fwd: &mut Forwarder);
}

/// `sendmmsg` with the server's [`SendBatch`]: one message per datagram,
/// or (`gso`) the copies grouped by destination first and each run to one
/// sent as one GSO message, as the server sends.
struct Sendmmsg {
    batch: SendBatch,
    gso: bool,
}

impl Sendmmsg {
    fn plain() -> Self {
        Self {
            batch: SendBatch::without_gso(),
            gso: false,
        }
    }

    fn gso() -> Self {
        Self {
            batch: SendBatch::default(),
            gso: true,
        }
    }
}

impl Flush for Sendmmsg {
    fn flush(&mut self, fd: RawFd, fwd: &mut Forwarder) {
        if self.gso {
            fwd.group_by_destination();
        }
        let out = fwd.pending();
        let mut done = 0;
        while done < out.len() {
            match self.batch.send(fd, &out[done..], false) {
                Ok(n) if n > 0 => done += n,
                _ => break,
            }
        }
        fwd.clear(done);
    }
}

/// Copies sent as io_uring `SENDMSG` entries, submitted together.
struct UringSend {
    ring: io_uring::IoUring,
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::msghdr>,
}

impl UringSend {
    fn new() -> io::Result<Self> {
        Ok(Self {
            ring: io_uring::IoUring::new(MAX_OUT as u32)?,
            addrs: Vec::with_capacity(MAX_OUT),
            iovs: Vec::with_capacity(MAX_OUT),
            hdrs: Vec::with_capacity(MAX_OUT),
        })
    }
}

impl Flush for UringSend {
    fn flush(&mut self, fd: RawFd, fwd: &mut Forwarder) {
        let out = fwd.pending();
        let n = out.len().min(MAX_OUT);
        if n == 0 {
            return;
        }
        self.addrs.clear();
        self.iovs.clear();
        self.hdrs.clear();
        for (data, to) in &out[..n] {
            self.addrs.push(socket2::SockAddr::from(*to));
            self.iovs.push(libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            });
        }
        for i in 0..n {
            // SAFETY: msghdr is plain data; its pointers (set here) stay
            // valid until every entry has completed (submit_and_wait below).
            let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
            h.msg_name = self.addrs[i].as_ptr() as *mut libc::c_void;
            h.msg_namelen = self.addrs[i].len();
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            self.hdrs.push(h);
        }
        let mut pushed = 0;
        for (i, h) in self.hdrs.iter().enumerate() {
            let sqe = io_uring::opcode::SendMsg::new(io_uring::types::Fd(fd), h)
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(i as u64);
            // SAFETY: the entry's buffers outlive its completion (all are
            // reaped below); the ring has MAX_OUT slots and n <= MAX_OUT.
            if unsafe { self.ring.submission().push(&sqe) }.is_err() {
                break;
            }
            pushed += 1;
        }
        // Every entry points at our buffers until it completes: reap them all
        // (MSG_DONTWAIT: a full socket buffer completes at once, as EAGAIN).
        let (mut reaped, mut sent) = (0, 0);
        while reaped < pushed {
            match self.ring.submit_and_wait(pushed - reaped) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("io_uring submit: {e}"),
            }
            for c in self.ring.completion() {
                reaped += 1;
                sent += usize::from(c.result() >= 0);
            }
        }
        fwd.clear(sent);
    }
}

/// `epoll_wait` (edge-triggered, through mio), then `recvmmsg` until a
/// batch comes back short (the queue was empty: a new arrival is a new edge).
fn epoll(
    sock: UdpSocket,
    mut fwd: Forwarder,
    stop: &AtomicBool,
    send: &mut dyn Flush,
) -> io::Result<()> {
    sock.set_nonblocking(true)?;
    let mut sock = mio::net::UdpSocket::from_std(sock);
    let fd = sock.as_raw_fd();
    let mut poll = mio::Poll::new()?;
    poll.registry()
        .register(&mut sock, mio::Token(0), mio::Interest::READABLE)?;
    let mut events = mio::Events::with_capacity(4);
    let mut batch = RecvBatch::default();
    let counters = fwd.counters.clone();
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        Counters::add(&counters.waits, 1);
        loop {
            let n = batch.recv(fd)?;
            forward_batch(&batch, fd, &mut fwd, send);
            if n < RECV_BATCH {
                break;
            }
        }
    }
    Ok(())
}

/// Every datagram of `batch` forwarded, then one flush.
fn forward_batch(batch: &RecvBatch, fd: RawFd, fwd: &mut Forwarder, send: &mut dyn Flush) {
    for i in 0..batch.len() {
        if let Some(r) = batch.get(i) {
            fwd.handle(r.data, r.from, &mut |f| send.flush(fd, f));
        }
    }
    send.flush(fd, fwd);
}

/// The server's `udp_loop` (src/server/mod.rs), without its SFU; `drain`:
/// a datagram io_uring delivered is followed by a `recvmmsg` too.
async fn glommio_batched(
    sock: UdpSocket,
    mut fwd: Forwarder,
    stop: &AtomicBool,
    drain: bool,
) -> io::Result<()> {
    use std::os::fd::FromRawFd;
    sock.set_nonblocking(true)?;
    // SAFETY: the descriptor is a UDP socket we own and hand over.
    let sock = unsafe { glommio::net::UdpSocket::from_raw_fd(sock.into_raw_fd()) };
    let fd = sock.as_raw_fd();
    let mut batch = RecvBatch::default();
    let mut send = Sendmmsg::plain();
    let counters = fwd.counters.clone();
    while !stop.load(Ordering::Relaxed) {
        let (first, queued) = {
            let mut recv = std::pin::pin!(sock.recv_from(batch.first_slot()));
            match futures_lite::future::poll_once(&mut recv).await {
                Some(r) => (r, true),
                None => {
                    Counters::add(&counters.waits, 1);
                    (recv.await, false)
                }
            }
        };
        let (len, from) = first.map_err(|e| io::Error::other(e.to_string()))?;
        batch.set_first(len, from);
        let mut n = if queued || drain {
            batch.recv_more(fd)? + 1
        } else {
            1
        };
        loop {
            forward_batch(&batch, fd, &mut fwd, &mut send);
            glommio::yield_if_needed().await;
            if n < RECV_BATCH {
                break;
            }
            n = batch.recv(fd)?;
            if n == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// One glommio receive and one glommio send per datagram.
async fn glommio_each(sock: UdpSocket, mut fwd: Forwarder, stop: &AtomicBool) -> io::Result<()> {
    use std::os::fd::FromRawFd;
    sock.set_nonblocking(true)?;
    // SAFETY: the descriptor is a UDP socket we own and hand over.
    let sock = unsafe { glommio::net::UdpSocket::from_raw_fd(sock.into_raw_fd()) };
    let mut buf = vec![0u8; shards::RECV_SLOT];
    let counters = fwd.counters.clone();
    while !stop.load(Ordering::Relaxed) {
        let got = {
            let mut recv = std::pin::pin!(sock.recv_from(&mut buf));
            match futures_lite::future::poll_once(&mut recv).await {
                Some(r) => r,
                None => {
                    Counters::add(&counters.waits, 1);
                    recv.await
                }
            }
        };
        let (len, from) = got.map_err(|e| io::Error::other(e.to_string()))?;
        // Copies past MAX_OUT simply queue: this loop sends one at a time.
        fwd.handle(&buf[..len], from, &mut |_| {});
        let mut sent = 0;
        for (data, to) in fwd.pending() {
            if sock.send_to(data, *to).await.is_ok() {
                sent += 1;
            }
        }
        fwd.clear(sent);
    }
    Ok(())
}
