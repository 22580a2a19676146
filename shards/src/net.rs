//! Sockets shared by every shard through `SO_REUSEPORT`.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};

use glommio::net::{TcpListener, UdpSocket};
use socket2::{Domain, Protocol, Socket, Type};

/// Kernel buffer sizes for the media sockets.
#[derive(Clone, Copy, Debug)]
pub struct SocketOptions {
    /// `SO_RCVBUF` in bytes (the kernel may cap it at `net.core.rmem_max`).
    pub recv_buffer: usize,
    /// `SO_SNDBUF` in bytes (capped at `net.core.wmem_max`).
    pub send_buffer: usize,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            recv_buffer: 4 << 20,
            send_buffer: 4 << 20,
        }
    }
}

/// Whether the socket for `addr`, one of the endpoints `all` of a protocol,
/// is to be IPv6-only.
///
/// Only `[::]:port` can serve both families (IPv4 clients then appear as
/// `::ffff:a.b.c.d`, see [`canonical`]). It does, unless `all` also lists an
/// IPv4 address with the same port (`listen 8000 [::]:8000;`): then that
/// address takes IPv4 and `[::]` only IPv6. Two dual-stack-capable groups of
/// `SO_REUSEPORT` sockets on one port would both match IPv4 datagrams, and
/// which one gets them would rest on the kernel's socket scoring; v6-only
/// leaves one owner per family, as SRS's separate listeners have.
pub fn v6_only(addr: SocketAddr, all: &[SocketAddr]) -> bool {
    let SocketAddr::V6(a) = addr else {
        return false;
    };
    if !a.ip().is_unspecified() {
        return true;
    }
    all.iter().any(|o| o.is_ipv4() && o.port() == addr.port())
}

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack socket reports for an IPv4 peer) turned back into IPv4, so a
/// peer has one address whichever socket it came through.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// `addr` as a dual-stack IPv6 socket takes it: IPv4 becomes `::ffff:a.b.c.d`.
pub fn v4_mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) => SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port()),
        v6 => v6,
    }
}

fn reuseport_socket(
    addr: SocketAddr,
    only_v6: bool,
    ty: Type,
    proto: Protocol,
) -> std::io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    sock.set_reuse_port(true)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Set either way: the system default (`bindv6only`) may be either.
        sock.set_only_v6(only_v6)?;
    }
    Ok(sock)
}

/// Binds a UDP socket on `addr` with `SO_REUSEPORT`, for one shard;
/// `only_v6` as [`v6_only`] says.
pub fn bind_udp(
    addr: SocketAddr,
    opts: SocketOptions,
    only_v6: bool,
) -> std::io::Result<UdpSocket> {
    let sock = reuseport_socket(addr, only_v6, Type::DGRAM, Protocol::UDP)?;
    // Best effort: an unprivileged process gets at most the sysctl maximum.
    let _ = sock.set_recv_buffer_size(opts.recv_buffer);
    let _ = sock.set_send_buffer_size(opts.send_buffer);
    sock.bind(&addr.into())?;
    // glommio 0.9 converts from socket2 0.4 only; go through the raw fd.
    // SAFETY: the fd is a bound UDP socket we own and hand over exactly once.
    Ok(unsafe { UdpSocket::from_raw_fd(sock.into_raw_fd()) })
}

/// Binds a listening TCP socket on `addr` with `SO_REUSEPORT`, for one
/// shard; `only_v6` as [`v6_only`] says.
pub fn bind_tcp(addr: SocketAddr, only_v6: bool) -> std::io::Result<TcpListener> {
    let sock = reuseport_socket(addr, only_v6, Type::STREAM, Protocol::TCP)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    // SAFETY: the fd is a listening TCP socket we own and hand over exactly once.
    Ok(unsafe { TcpListener::from_raw_fd(sock.into_raw_fd()) })
}

/// Binds a plain (blocking, one-owner) listening TCP socket on `addr`, for
/// a thread off the shards; `only_v6` as [`v6_only`] says.
pub fn bind_std_tcp(addr: SocketAddr, only_v6: bool) -> std::io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(only_v6)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(128)?;
    Ok(sock.into())
}

/// Sends many datagrams with one `sendmmsg(2)` call (non-blocking), reusing
/// its buffers across calls so a steady state allocates nothing.
///
/// A fan-out sends the same packet to many subscribers; one syscall per
/// datagram dominated the server's profile, so each flush of a shard's
/// outputs goes out in batches.
#[derive(Default)]
pub struct SendBatch {
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.msgs.capacity())
            .finish()
    }
}

/// The most datagrams one `sendmmsg` call takes (the kernel's UIO_MAXIOV).
pub const MAX_BATCH: usize = 1024;

impl SendBatch {
    /// Sends `datagrams` on the socket `fd` without blocking. Returns how
    /// many the kernel took, in order (0 when its buffer is full: the caller
    /// sends the rest the slow way). `map_v4`: `fd` is a dual-stack IPv6
    /// socket, so IPv4 destinations go as [`v4_mapped`] addresses.
    pub fn send<T: AsRef<[u8]>>(
        &mut self,
        fd: RawFd,
        datagrams: &[(T, SocketAddr)],
        map_v4: bool,
    ) -> std::io::Result<usize> {
        let n = datagrams.len().min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        self.addrs.clear();
        self.iovs.clear();
        self.msgs.clear();
        for (data, addr) in &datagrams[..n] {
            let data = data.as_ref();
            let addr = if map_v4 { v4_mapped(*addr) } else { *addr };
            self.addrs.push(socket2::SockAddr::from(addr));
            self.iovs.push(libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            });
        }
        for i in 0..n {
            // SAFETY: mmsghdr is plain data; every pointer set below stays
            // valid until sendmmsg returns (the vectors are not touched again).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = self.addrs[i].as_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_namelen = self.addrs[i].len();
            m.msg_hdr.msg_iov = &mut self.iovs[i];
            m.msg_hdr.msg_iovlen = 1;
            self.msgs.push(m);
        }
        // SAFETY: `msgs` holds `n` initialised headers pointing into live buffers.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        Ok(sent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_every_destination_in_order() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + i as usize]).collect();
        let datagrams: Vec<(&[u8], SocketAddr)> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_slice(), rx[i % 3].local_addr().unwrap()))
            .collect();
        let mut batch = SendBatch::default();
        use std::os::fd::AsRawFd;
        assert_eq!(batch.send(tx.as_raw_fd(), &datagrams, false).unwrap(), 6);
        let mut buf = [0u8; 64];
        for (i, sock) in rx.iter().enumerate() {
            sock.set_read_timeout(Some(std::time::Duration::from_secs(1)))
                .unwrap();
            for k in [i, i + 3] {
                let (n, from) = sock.recv_from(&mut buf).unwrap();
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(&buf[..n], payloads[k].as_slice());
            }
        }
        let none: [(&[u8], SocketAddr); 0] = [];
        assert_eq!(batch.send(tx.as_raw_fd(), &none, false).unwrap(), 0);
    }

    #[test]
    fn only_a_wildcard_v6_alone_on_its_port_is_dual_stack() {
        let any6: SocketAddr = "[::]:8000".parse().unwrap();
        let any4: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let other4: SocketAddr = "0.0.0.0:8001".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8000".parse().unwrap();
        assert!(!v6_only(any6, &[any6]));
        assert!(!v6_only(any6, &[any6, other4]));
        assert!(v6_only(any6, &[any4, any6]));
        assert!(v6_only(lo6, &[lo6]));
        assert!(!v6_only(any4, &[any4, any6]));
    }

    /// A dual-stack socket takes an IPv4 peer (seen as `::ffff:127.0.0.1`,
    /// made canonical) and a batch answers it through a mapped address.
    #[test]
    fn a_dual_stack_socket_serves_ipv4_peers() {
        use std::os::fd::AsRawFd;
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        let server = bind_std_udp_for_test(any6);
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert!(from.is_ipv6(), "{from}");
        let from = canonical(from);
        assert_eq!(from, client.local_addr().unwrap());
        let mut batch = SendBatch::default();
        let out = [(b"pong".as_slice(), from)];
        assert_eq!(batch.send(server.as_raw_fd(), &out, true).unwrap(), 1);
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
    }

    /// The socket `bind_udp` makes, as a std socket (no executor here).
    fn bind_std_udp_for_test(addr: SocketAddr) -> std::net::UdpSocket {
        let sock = reuseport_socket(addr, false, Type::DGRAM, Protocol::UDP).unwrap();
        sock.bind(&addr.into()).unwrap();
        sock.into()
    }
}
