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

fn reuseport_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    sock.set_reuse_port(true)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `[::]:port` serves IPv6 only; IPv4 gets its own listener, as in SRS.
        sock.set_only_v6(true)?;
    }
    Ok(sock)
}

/// Binds a UDP socket on `addr` with `SO_REUSEPORT`, for one shard.
pub fn bind_udp(addr: SocketAddr, opts: SocketOptions) -> std::io::Result<UdpSocket> {
    let sock = reuseport_socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Best effort: an unprivileged process gets at most the sysctl maximum.
    let _ = sock.set_recv_buffer_size(opts.recv_buffer);
    let _ = sock.set_send_buffer_size(opts.send_buffer);
    sock.bind(&addr.into())?;
    // glommio 0.9 converts from socket2 0.4 only; go through the raw fd.
    // SAFETY: the fd is a bound UDP socket we own and hand over exactly once.
    Ok(unsafe { UdpSocket::from_raw_fd(sock.into_raw_fd()) })
}

/// Binds a listening TCP socket on `addr` with `SO_REUSEPORT`, for one shard.
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = reuseport_socket(addr, Type::STREAM, Protocol::TCP)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    // SAFETY: the fd is a listening TCP socket we own and hand over exactly once.
    Ok(unsafe { TcpListener::from_raw_fd(sock.into_raw_fd()) })
}
