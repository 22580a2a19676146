//! Batched, timestamped receive: many datagrams per `recvmmsg(2)` call,
//! each with the kernel's arrival time (`SO_TIMESTAMPNS`).
//!
//! A shard under load finds its RTC socket never empty; one syscall per
//! datagram was then a large part of its receive cost, and the age of a
//! datagram at the head of the queue (now minus its arrival stamp) is the
//! shard's backlog: what overload control reads.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Datagrams one [`RecvBatch::recv`] call takes at most.
pub const RECV_BATCH: usize = 32;

/// Bytes kept of each datagram; a longer one is marked truncated.
pub const RECV_SLOT: usize = 2048;

/// Room for one `SCM_TIMESTAMPNS` control message (a `timespec`), aligned.
const CMSG_ROOM: usize = 64;

/// One datagram of a batch.
#[derive(Debug)]
pub struct Received<'a> {
    /// Its bytes (at most [`RECV_SLOT`]).
    pub data: &'a [u8],
    /// Who sent it, canonical (an IPv4-mapped address as IPv4).
    pub from: SocketAddr,
    /// How long it waited in the socket's queue (zero when the kernel gave
    /// no arrival stamp, or the clock stepped back).
    pub waited: Duration,
    /// Whether it was longer than [`RECV_SLOT`] and cut.
    pub truncated: bool,
}

/// Buffers for `recvmmsg`, reused across calls so a steady state allocates
/// nothing: [`RECV_BATCH`] slots of [`RECV_SLOT`] bytes (64 KiB).
pub struct RecvBatch {
    data: Box<[u8]>,
    cmsgs: Box<[u64]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
    /// Room for a first datagram taken by another receive
    /// ([`RecvBatch::first_slot`]): a byte more than a slot, to see a cut.
    first: Box<[u8]>,
    /// That first datagram's length and sender, when the batch has one.
    first_from: Option<(usize, SocketAddr)>,
    filled: usize,
    now: SystemTime,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("filled", &self.filled)
            .finish()
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C data for
        // which all-zero bytes are a valid value; pointers are set per call.
        unsafe {
            Self {
                data: vec![0u8; RECV_BATCH * RECV_SLOT].into_boxed_slice(),
                cmsgs: vec![0u64; RECV_BATCH * CMSG_ROOM / 8].into_boxed_slice(),
                addrs: vec![std::mem::zeroed(); RECV_BATCH].into_boxed_slice(),
                iovs: vec![std::mem::zeroed(); RECV_BATCH].into_boxed_slice(),
                msgs: vec![std::mem::zeroed(); RECV_BATCH].into_boxed_slice(),
                first: vec![0u8; RECV_SLOT + 1].into_boxed_slice(),
                first_from: None,
                filled: 0,
                now: UNIX_EPOCH,
            }
        }
    }
}

/// Asks the kernel to stamp each datagram `fd` receives with its arrival
/// time (`SO_TIMESTAMPNS`), which [`RecvBatch`] reads as [`Received::waited`].
/// The kernel switches stamping on lazily (deferred work after the first
/// socket asks, usually within milliseconds): a datagram that arrives
/// before is stamped when it is read, so it shows as not having waited.
pub fn enable_arrival_stamps(fd: RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid option pointer and length for an int option.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl RecvBatch {
    /// Receives what `fd` has queued, up to [`RECV_BATCH`] datagrams,
    /// without blocking. Returns how many (0: the queue was empty).
    pub fn recv(&mut self, fd: RawFd) -> std::io::Result<usize> {
        self.first_from = None;
        self.filled = 0;
        let n = self.recvmmsg(fd, 0)?;
        self.filled = n;
        Ok(n)
    }

    /// Where another receive (an io_uring one that waited for the socket)
    /// puts the batch's first datagram; then [`Self::set_first`].
    pub fn first_slot(&mut self) -> &mut [u8] {
        &mut self.first
    }

    /// The batch is the datagram of `len` bytes from `from` put in
    /// [`Self::first_slot`]. It comes without its arrival stamp, so it
    /// counts as not having waited. (`SIOCGSTAMPNS` cannot tell: with
    /// `SO_TIMESTAMPNS` on, the kernel passes stamps only as control
    /// messages and keeps none for the ioctl.)
    pub fn set_first(&mut self, len: usize, from: SocketAddr) {
        self.first_from = Some((len, crate::canonical(from)));
        self.filled = 1;
        self.now = SystemTime::now();
    }

    /// After [`Self::set_first`]: adds what `fd` has queued, up to
    /// [`RECV_BATCH`] in all, without blocking. Returns how many it added.
    pub fn recv_more(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let n = self.recvmmsg(fd, self.filled)?;
        self.filled += n;
        Ok(n)
    }

    /// One `recvmmsg` into slots `from..`; returns how many it filled.
    fn recvmmsg(&mut self, fd: RawFd, from: usize) -> std::io::Result<usize> {
        if from >= RECV_BATCH {
            return Ok(0);
        }
        for i in from..RECV_BATCH {
            self.iovs[i] = libc::iovec {
                // SAFETY: slot i lies inside `data` (RECV_BATCH slots).
                iov_base: unsafe { self.data.as_mut_ptr().add(i * RECV_SLOT) }.cast(),
                iov_len: RECV_SLOT,
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            // SAFETY: slot i's control room lies inside `cmsgs`.
            h.msg_control = unsafe { self.cmsgs.as_mut_ptr().add(i * CMSG_ROOM / 8) }.cast();
            h.msg_controllen = CMSG_ROOM as _;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every header from `from` on points into buffers owned by
        // `self`, alive and not otherwise borrowed until recvmmsg returns.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr().add(from),
                (RECV_BATCH - from) as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        self.now = SystemTime::now();
        Ok(n as usize)
    }

    /// How many datagrams the last [`recv`](Self::recv) took.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether the last [`recv`](Self::recv) took none.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Datagram `i` of the last [`recv`](Self::recv); `None` past its count
    /// or for a datagram whose source address is not IP.
    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.filled {
            return None;
        }
        if let (0, Some((len, from))) = (i, self.first_from) {
            return Some(Received {
                data: &self.first[..len.min(RECV_SLOT)],
                from,
                waited: Duration::ZERO,
                truncated: len > RECV_SLOT,
            });
        }
        let m = &self.msgs[i];
        let len = (m.msg_len as usize).min(RECV_SLOT);
        let data = &self.data[i * RECV_SLOT..i * RECV_SLOT + len];
        let from = crate::canonical(socket_addr(&self.addrs[i])?);
        Some(Received {
            data,
            from,
            waited: self.waited(&m.msg_hdr),
            truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }

    /// The time between the datagram's kernel stamp and the receive.
    fn waited(&self, h: &libc::msghdr) -> Duration {
        arrival_stamp(h)
            .and_then(|at| self.now.duration_since(at).ok())
            .unwrap_or_default()
    }
}

/// The kernel's arrival stamp (`SCM_TIMESTAMPNS`, [`enable_arrival_stamps`])
/// among the control messages of `h`, filled by `recvmsg`/`recvmmsg`.
pub fn arrival_stamp(h: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: walking the control messages the kernel wrote into this
    // header's control buffer (bounded by msg_controllen), with the libc
    // macros meant for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// The IP address and port in `a`, as the kernel wrote it (not made
/// canonical: see [`crate::canonical`]); `None` for other families.
pub fn socket_addr(a: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match a.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4: &libc::sockaddr_in = unsafe { &*(a as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6: &libc::sockaddr_in6 = unsafe { &*(a as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_takes_every_queued_datagram_with_its_sender_and_wait() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_arrival_stamps(rx.as_raw_fd()).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "empty queue");
        // The kernel switches arrival stamping on lazily (deferred work
        // after the first socket asks); until then a datagram is stamped
        // when it is read. Wait for the switch.
        let stamped = (0..100).any(|_| {
            tx.send_to(b"probe", rx.local_addr().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            batch.recv(rx.as_raw_fd()).unwrap() == 1
                && batch.get(0).unwrap().waited >= Duration::from_millis(4)
        });
        assert!(stamped, "the kernel never stamped an arrival");

        for i in 0..(RECV_BATCH + 3) as u8 {
            tx.send_to(&vec![i; 10 + i as usize], rx.local_addr().unwrap())
                .unwrap();
        }
        tx.send_to(&[7u8; RECV_SLOT + 100], rx.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), RECV_BATCH);
        for i in 0..RECV_BATCH {
            let d = batch.get(i).unwrap();
            assert_eq!(d.data, vec![i as u8; 10 + i].as_slice());
            assert_eq!(d.from, tx.local_addr().unwrap());
            assert!(d.waited >= Duration::from_millis(25), "{:?}", d.waited);
            assert!(d.waited < Duration::from_secs(5), "{:?}", d.waited);
            assert!(!d.truncated);
        }
        assert!(batch.get(RECV_BATCH).is_none());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 4);
        let long = batch.get(3).unwrap();
        assert!(long.truncated);
        assert_eq!(long.data.len(), RECV_SLOT);
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn a_first_datagram_from_elsewhere_leads_the_batch() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::default();
        for i in 0..RECV_BATCH as u8 + 2 {
            tx.send_to(&[i; 3], rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        // What glommio's recv_from would do: take one datagram.
        let (len, from) = rx.recv_from(batch.first_slot()).unwrap();
        batch.set_first(len, from);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.recv_more(rx.as_raw_fd()).unwrap(), RECV_BATCH - 1);
        assert_eq!(batch.len(), RECV_BATCH);
        for i in 0..RECV_BATCH {
            let d = batch.get(i).unwrap();
            assert_eq!(d.data, &[i as u8; 3]);
            assert_eq!(d.from, tx.local_addr().unwrap());
        }
        assert_eq!(batch.get(0).unwrap().waited, Duration::ZERO);
        // A full batch takes no more; a plain recv starts afresh.
        assert_eq!(batch.recv_more(rx.as_raw_fd()).unwrap(), 0);
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 2);
        assert_eq!(batch.get(0).unwrap().data, &[RECV_BATCH as u8; 3]);
        // A first datagram past a slot is cut and marked.
        tx.send_to(&[9u8; RECV_SLOT + 50], rx.local_addr().unwrap())
            .unwrap();
        let (len, from) = rx.recv_from(batch.first_slot()).unwrap();
        batch.set_first(len, from);
        let d = batch.get(0).unwrap();
        assert!(d.truncated);
        assert_eq!(d.data.len(), RECV_SLOT);
        assert_eq!(batch.recv_more(rx.as_raw_fd()).unwrap(), 0);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn without_stamps_the_wait_is_zero() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let mut batch = RecvBatch::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 1);
        assert_eq!(batch.get(0).unwrap().waited, Duration::ZERO);
    }
}
