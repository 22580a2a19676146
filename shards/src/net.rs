//! Sockets shared by every shard through `SO_REUSEPORT`.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

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

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut batch = crate::SendBatch::default();
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
