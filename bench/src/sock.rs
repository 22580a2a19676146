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
    // SAFETY: setsockopt on a socket we own with a pointer to a live c_int.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// One datagram: length, source, and the kernel's arrival time (realtime
/// ns) when timestamps are on.
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u64>)> {
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
    let stamp = shards::arrival_stamp(&msg)
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64);
    let from =
        shards::socket_addr(&addr).ok_or_else(|| io::Error::other("unknown address family"))?;
    Ok((n as usize, from, stamp))
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
        let (n, from, stamp) = got.expect("datagram arrives");
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, a.local_addr().unwrap());
        let stamp = stamp.expect("timestamp");
        assert!(stamp >= before.saturating_sub(1_000_000) && stamp <= realtime_ns());
        let err = recv(&b, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
