//! Batched sends: many datagrams per `sendmmsg(2)` call, and runs of
//! datagrams to one destination sent as one UDP GSO message.
//!
//! A fan-out sends the same packet to many subscribers; one syscall per
//! datagram dominated the server's profile, so each flush of a shard's
//! outputs goes out in batches. When the outputs of several packets of a
//! stream are grouped by destination, a subscriber's run of equal-size
//! datagrams (a video frame's packets; the last may be shorter) becomes one
//! message with `UDP_SEGMENT`: the kernel builds and routes it once and
//! cuts it into datagrams at the end, which costs about half as much per
//! datagram as separate ones (docs/BENCHMARKS.md, "UDP GSO").

use std::net::SocketAddr;
use std::os::fd::RawFd;

use crate::net::v4_mapped;

/// The most datagrams one [`SendBatch::send`] call takes (the kernel's
/// UIO_MAXIOV, which also bounds `sendmmsg`'s messages).
pub const MAX_BATCH: usize = 1024;

/// Datagrams one GSO message carries at most (the kernel's
/// UDP_MAX_SEGMENTS; 64 on the oldest kernels with GSO, 4.18).
pub const MAX_SEGMENTS: usize = 64;

/// Bytes one GSO message carries at most (a UDP payload over IPv4).
const MAX_GSO_BYTES: usize = 65_507;

/// Room for one `UDP_SEGMENT` control message (a u16), 8-byte aligned.
type SegmentCmsg = [u64; 4];

/// Sends many datagrams with one `sendmmsg(2)` call (non-blocking), reusing
/// its buffers across calls so a steady state allocates nothing. Adjacent
/// datagrams to one address go as one GSO message when they can; the first
/// time the kernel refuses GSO, the batch sends without it from then on.
pub struct SendBatch {
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    cmsgs: Vec<SegmentCmsg>,
    msgs: Vec<libc::mmsghdr>,
    /// Datagrams per message of the last call.
    counts: Vec<usize>,
    gso: bool,
    refusal: Option<std::io::Error>,
    /// GSO messages sent, and the datagrams they carried.
    gso_messages: u64,
    gso_datagrams: u64,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self {
            addrs: Vec::new(),
            iovs: Vec::new(),
            cmsgs: Vec::new(),
            msgs: Vec::new(),
            counts: Vec::new(),
            gso: true,
            refusal: None,
            gso_messages: 0,
            gso_datagrams: 0,
        }
    }
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.msgs.capacity())
            .field("gso", &self.gso)
            .finish()
    }
}

impl SendBatch {
    /// A batch that never uses GSO (as after a refusal).
    pub fn without_gso() -> Self {
        Self {
            gso: false,
            ..Self::default()
        }
    }

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
        self.prepare(&datagrams[..n], map_v4);
        // SAFETY: `msgs` holds initialised headers pointing into `addrs`,
        // `iovs` and `cmsgs` (not touched again before this returns) and
        // into the caller's datagrams.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(0);
            }
            if self.counts[0] > 1 {
                // The kernel refuses GSO (too old, no checksum offload path,
                // IPsec, a segment over the route's MTU): never again.
                self.gso = false;
                self.refusal = Some(e);
                return self.send(fd, datagrams, map_v4);
            }
            return Err(e);
        }
        let messages = &self.counts[..sent as usize];
        for &c in messages.iter().filter(|&&c| c > 1) {
            self.gso_messages += 1;
            self.gso_datagrams += c as u64;
        }
        Ok(messages.iter().sum())
    }

    /// The error with which the kernel refused GSO, once: GSO is off since.
    pub fn take_gso_refusal(&mut self) -> Option<std::io::Error> {
        self.refusal.take()
    }

    /// GSO messages sent so far, and the datagrams they carried.
    pub fn gso_sent(&self) -> (u64, u64) {
        (self.gso_messages, self.gso_datagrams)
    }

    /// Fills the headers for `datagrams`: one message per run of adjacent
    /// datagrams to one address, of one size but the last (GSO), or one per
    /// datagram without GSO.
    fn prepare<T: AsRef<[u8]>>(&mut self, datagrams: &[(T, SocketAddr)], map_v4: bool) {
        self.addrs.clear();
        self.iovs.clear();
        self.cmsgs.clear();
        self.msgs.clear();
        self.counts.clear();
        let mut i = 0;
        while i < datagrams.len() {
            let (first, to) = (datagrams[i].0.as_ref(), datagrams[i].1);
            let seg = first.len();
            let mut end = i + 1;
            if self.gso && seg > 0 {
                while end < datagrams.len()
                    && end - i < MAX_SEGMENTS
                    && (end - i + 1) * seg <= MAX_GSO_BYTES
                    && datagrams[end].1 == to
                    && datagrams[end - 1].0.as_ref().len() == seg
                    && (1..=seg).contains(&datagrams[end].0.as_ref().len())
                {
                    end += 1;
                }
            }
            let to = if map_v4 { v4_mapped(to) } else { to };
            self.addrs.push(socket2::SockAddr::from(to));
            let mut cmsg: SegmentCmsg = [0; 4];
            if end - i > 1 {
                // SAFETY: `cmsg` is 32 bytes, 8-byte aligned: room for a
                // cmsghdr and a u16 (CMSG_SPACE(2) is 24 on 64-bit Linux).
                unsafe {
                    let h = cmsg.as_mut_ptr().cast::<libc::cmsghdr>();
                    (*h).cmsg_level = libc::SOL_UDP;
                    (*h).cmsg_type = libc::UDP_SEGMENT;
                    (*h).cmsg_len = libc::CMSG_LEN(2) as _;
                    libc::CMSG_DATA(h).cast::<u16>().write_unaligned(seg as u16);
                }
            }
            self.cmsgs.push(cmsg);
            self.counts.push(end - i);
            for (data, _) in &datagrams[i..end] {
                let data = data.as_ref();
                self.iovs.push(libc::iovec {
                    iov_base: data.as_ptr() as *mut libc::c_void,
                    iov_len: data.len(),
                });
            }
            i = end;
        }
        let mut first_iov = 0;
        for k in 0..self.counts.len() {
            // SAFETY: mmsghdr is plain data; every pointer set below stays
            // valid until sendmmsg returns (the vectors are not touched again).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = self.addrs[k].as_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_namelen = self.addrs[k].len();
            m.msg_hdr.msg_iov = &mut self.iovs[first_iov];
            m.msg_hdr.msg_iovlen = self.counts[k];
            if self.counts[k] > 1 {
                m.msg_hdr.msg_control = self.cmsgs[k].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE has no preconditions.
                m.msg_hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
            }
            first_iov += self.counts[k];
            self.msgs.push(m);
        }
    }
}

/// Puts a flush's datagrams in the order [`SendBatch`] can make GSO runs
/// of: each destination's together, each destination's in their order (a
/// fan-out of several packets becomes one run per subscriber).
#[derive(Debug, Default)]
pub struct DestinationOrder {
    order: Vec<(SocketAddr, u32)>,
}

impl DestinationOrder {
    /// Moves `datagrams` into `into` (cleared first) grouped by destination,
    /// leaving `datagrams` empty. Allocates nothing once the buffers have
    /// grown.
    pub fn group<T: Default>(
        &mut self,
        datagrams: &mut Vec<(T, SocketAddr)>,
        into: &mut Vec<(T, SocketAddr)>,
    ) {
        into.clear();
        if datagrams.len() < 3 {
            into.append(datagrams);
            return;
        }
        self.order.clear();
        self.order.extend(
            datagrams
                .iter()
                .enumerate()
                .map(|(i, (_, to))| (*to, i as u32)),
        );
        // (address, index) pairs are distinct: unstable is stable here.
        self.order.sort_unstable();
        into.extend(
            self.order
                .iter()
                .map(|&(to, i)| (std::mem::take(&mut datagrams[i as usize].0), to)),
        );
        datagrams.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn receivers(n: usize) -> Vec<std::net::UdpSocket> {
        (0..n)
            .map(|_| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(1)))
                    .unwrap();
                s
            })
            .collect()
    }

    fn read_all(sock: &std::net::UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        (0..count)
            .map(|_| {
                let (n, _) = sock.recv_from(&mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect()
    }

    /// A subscriber's run of a frame's packets (two full, one shorter),
    /// then one to another subscriber, then one of another size: the run
    /// goes as one GSO message and every datagram arrives whole, in order.
    #[test]
    fn a_run_to_one_address_goes_as_one_gso_message_and_arrives_as_datagrams() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receivers(2);
        let (a, b) = (rx[0].local_addr().unwrap(), rx[1].local_addr().unwrap());
        let sizes = [
            (1200, a),
            (1200, a),
            (300, a),
            (1200, b),
            (900, a),
            (900, a),
        ];
        let payloads: Vec<(Vec<u8>, SocketAddr)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(len, to))| (vec![i as u8; len], to))
            .collect();
        let mut batch = SendBatch::default();
        assert_eq!(batch.send(tx.as_raw_fd(), &payloads, false).unwrap(), 6);
        if let Some(e) = batch.take_gso_refusal() {
            panic!("this kernel refused UDP GSO: {e}");
        }
        assert_eq!(batch.gso_sent(), (2, 5), "runs: 3 to a, 1 to b, 2 to a");
        let at_a = read_all(&rx[0], 5);
        let want_a: Vec<Vec<u8>> = [0, 1, 2, 4, 5]
            .iter()
            .map(|&i| payloads[i].0.clone())
            .collect();
        assert_eq!(at_a, want_a);
        assert_eq!(read_all(&rx[1], 1), vec![payloads[3].0.clone()]);
    }

    /// Without GSO every datagram is its own message.
    #[test]
    fn without_gso_each_datagram_is_a_message() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receivers(1);
        let to = rx[0].local_addr().unwrap();
        let payloads: Vec<(Vec<u8>, SocketAddr)> = (0..4u8).map(|i| (vec![i; 500], to)).collect();
        let mut batch = SendBatch::without_gso();
        assert_eq!(batch.send(tx.as_raw_fd(), &payloads, false).unwrap(), 4);
        assert_eq!(batch.gso_sent(), (0, 0));
        let got = read_all(&rx[0], 4);
        assert_eq!(
            got,
            payloads.into_iter().map(|(d, _)| d).collect::<Vec<_>>()
        );
    }

    /// A run longer than one UDP payload can carry is cut into messages
    /// that fit, and every datagram still arrives.
    #[test]
    fn a_run_past_the_gso_size_limit_is_cut() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receivers(1);
        let to = rx[0].local_addr().unwrap();
        let payloads: Vec<(Vec<u8>, SocketAddr)> =
            (0..3u8).map(|i| (vec![i; 30_000], to)).collect();
        let mut batch = SendBatch::default();
        assert_eq!(batch.send(tx.as_raw_fd(), &payloads, false).unwrap(), 3);
        // 2 x 30000 fits in one message, the third does not.
        assert_eq!(batch.gso_sent(), (1, 2));
        let mut buf = vec![0u8; 65_536];
        for (i, sock) in std::iter::repeat_n(&rx[0], 3).enumerate() {
            let (n, _) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(n, 30_000);
            assert!(buf[..n].iter().all(|&b| b == i as u8));
        }
    }

    /// Two packets fanned out to three subscribers come out as one run per
    /// subscriber, each in the packets' order.
    #[test]
    fn grouping_keeps_each_destinations_order() {
        let to = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut datagrams: Vec<(u32, SocketAddr)> = vec![
            (10, to(3)),
            (11, to(1)),
            (12, to(2)),
            (20, to(3)),
            (21, to(1)),
            (22, to(2)),
        ];
        let mut grouped = Vec::new();
        DestinationOrder::default().group(&mut datagrams, &mut grouped);
        assert!(datagrams.is_empty());
        let got: Vec<(u32, u16)> = grouped.iter().map(|(d, a)| (*d, a.port())).collect();
        assert_eq!(got, [(11, 1), (21, 1), (12, 2), (22, 2), (10, 3), (20, 3)]);
    }

    #[test]
    fn a_batch_reaches_every_destination_in_order() {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receivers(3);
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + i as usize]).collect();
        let datagrams: Vec<(&[u8], SocketAddr)> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_slice(), rx[i % 3].local_addr().unwrap()))
            .collect();
        let mut batch = SendBatch::default();
        assert_eq!(batch.send(tx.as_raw_fd(), &datagrams, false).unwrap(), 6);
        let mut buf = [0u8; 64];
        for (i, sock) in rx.iter().enumerate() {
            for k in [i, i + 3] {
                let (n, from) = sock.recv_from(&mut buf).unwrap();
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(&buf[..n], payloads[k].as_slice());
            }
        }
        let none: [(&[u8], SocketAddr); 0] = [];
        assert_eq!(batch.send(tx.as_raw_fd(), &none, false).unwrap(), 0);
    }
}
