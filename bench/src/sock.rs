//! Receiving with the kernel's arrival timestamp (`SO_TIMESTAMPNS`), so the
//! latency the harness reports ends when the datagram reached the socket, not
//! when the (single-threaded) harness got round to reading it.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use mio::net::UdpSocket;

/// `CLOCK_REALTIME` in ns: the clock `SO_TIMESTAMPNS` uses.
pub fn realtime_ns() -> u64 {
    // SAFETY: clock_gettime writes into the timespec we own.
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Asks the kernel to timestamp arrivals on `sock`; false if it refused.
pub fn enable_timestamps(sock: &UdpSocket) -> bool {
    shards::enable_arrival_stamps(sock.as_raw_fd()).is_ok()
}

/// Sets `SO_RCVBUF` (the kernel caps it at `net.core.rmem_max`).
pub fn set_rcvbuf(sock: &UdpSocket, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    set_int_option(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, v);
}

/// Sets an integer socket option; false if the kernel refused it.
fn set_int_option(sock: &UdpSocket, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> bool {
    // SAFETY: setsockopt on a socket we own with a pointer to a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Asks the kernel to hand a UDP GSO message to `sock` whole (`UDP_GRO`),
/// its segment size in a control message, instead of splitting it into
/// datagrams and delivering each; false if it refused.
///
/// On loopback the delivery to the harness's sockets runs on the sending
/// CPU, the server's: taken whole, a sender's run of equal datagrams costs
/// it one delivery, as a NIC with UDP segmentation offload would leave it.
pub fn enable_gro(sock: &UdpSocket) -> bool {
    set_int_option(sock, libc::SOL_UDP, libc::UDP_GRO, 1)
}

/// What one `recvmsg` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes read.
    pub len: usize,
    /// The sender.
    pub from: SocketAddr,
    /// The kernel's arrival time (realtime ns), when timestamps are on.
    pub kernel_ns: Option<u64>,
    /// With [`enable_gro`], the size of each datagram of a GSO message read
    /// whole (the last may be shorter); `None` for a single datagram.
    pub segment: Option<usize>,
}

impl Received {
    /// The datagrams in `buf[..len]`, each as its sender sent it.
    pub fn datagrams<'a>(&self, buf: &'a [u8]) -> std::slice::Chunks<'a, u8> {
        let data = &buf[..self.len];
        data.chunks(self.segment.filter(|&s| s > 0).unwrap_or(data.len().max(1)))
    }
}

/// One datagram, or with [`enable_gro`] a GSO message of several, and its
/// source and arrival time.
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: all-zero is a valid sockaddr_storage / msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: every pointer in `msg` points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let kernel_ns = shards::arrival_stamp(&msg)
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64);
    let from =
        shards::socket_addr(&addr).ok_or_else(|| io::Error::other("unknown address family"))?;
    Ok(Received {
        len: n as usize,
        from,
        kernel_ns,
        segment: gro_segment(&msg),
    })
}

/// The segment size of a GSO message read whole (`UDP_GRO` control message).
fn gro_segment(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: walking the control messages the kernel wrote into this
    // header's control buffer (bounded by msg_controllen), with the libc
    // macros meant for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let size: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return usize::try_from(size).ok();
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_stamps_arrivals_and_source_is_decoded() {
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(enable_timestamps(&b));
        let before = realtime_ns();
        a.send_to(b"hello", b.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..1000 {
            match recv(&b, &mut buf) {
                Ok(r) => {
                    got = Some(r);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        let r = got.expect("datagram arrives");
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.from, a.local_addr().unwrap());
        assert_eq!(r.segment, None);
        let stamp = r.kernel_ns.expect("timestamp");
        assert!(stamp >= before.saturating_sub(1_000_000) && stamp <= realtime_ns());
        let err = recv(&b, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn with_gro_a_gso_message_is_read_whole_and_split_back_into_its_datagrams() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(enable_gro(&b));
        let to = b.local_addr().unwrap();
        let sent: Vec<(Vec<u8>, SocketAddr)> = [(1, 1200), (2, 1200), (3, 1200), (4, 700)]
            .map(|(k, n)| (vec![k; n], to))
            .into();
        let mut batch = shards::SendBatch::default();
        assert_eq!(batch.send(a.as_raw_fd(), &sent, false).unwrap(), 4);
        assert_eq!(batch.gso_sent(), (1, 4), "one message of four segments");
        let mut buf = vec![0u8; 65_536];
        let mut got = Vec::new();
        for _ in 0..1000 {
            match recv(&b, &mut buf) {
                Ok(r) => {
                    assert_eq!(r.from, a.local_addr().unwrap());
                    got.extend(r.datagrams(&buf).map(<[u8]>::to_vec));
                    if got.len() >= sent.len() {
                        assert_eq!(r.segment, Some(1200), "read whole, with its segment size");
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, sent.into_iter().map(|(d, _)| d).collect::<Vec<_>>());
    }

    #[test]
    fn a_read_without_a_segment_size_is_one_datagram() {
        let r = Received {
            len: 5,
            from: "127.0.0.1:1".parse().unwrap(),
            kernel_ns: None,
            segment: None,
        };
        assert_eq!(r.datagrams(b"helloXX").collect::<Vec<_>>(), vec![b"hello"]);
        let empty = Received { len: 0, ..r };
        assert_eq!(empty.datagrams(b"").count(), 0);
        let odd = Received {
            segment: Some(0),
            ..r
        };
        assert_eq!(
            odd.datagrams(b"hello").count(),
            1,
            "a zero segment size is one datagram"
        );
    }
}
