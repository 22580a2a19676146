//! Sending with UDP GSO (`UDP_SEGMENT`): a forwarder's copies regrouped by
//! destination, and each run of equal-size datagrams to one destination
//! (its last may be shorter) sent as one message the kernel segments, all
//! in one `sendmmsg`.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use crate::forward::Forwarder;

/// Segments one GSO message carries at most (the kernel's UDP_MAX_SEGMENTS
/// is 64 on older kernels).
const MAX_SEGMENTS: usize = 64;

/// Room for one `UDP_SEGMENT` control message (a u16), aligned.
type Cmsg = [u64; 4];

/// Buffers reused across flushes.
#[derive(Default)]
pub struct GsoSend {
    order: Vec<usize>,
    runs: Vec<(usize, usize, u16)>,
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    cmsgs: Vec<Cmsg>,
    msgs: Vec<libc::mmsghdr>,
    /// Messages sent with more than one segment, and their segments.
    pub gso_messages: u64,
    /// See `gso_messages`.
    pub gso_segments: u64,
}

impl GsoSend {
    /// Sends what `fwd` has queued on `fd`, then clears it.
    pub fn flush(&mut self, fd: RawFd, fwd: &mut Forwarder) {
        let out = fwd.pending();
        let sent = self.send(fd, out);
        fwd.clear(sent);
    }

    fn send(&mut self, fd: RawFd, out: &[(Vec<u8>, SocketAddr)]) -> usize {
        if out.is_empty() {
            return 0;
        }
        self.order.clear();
        self.order.extend(0..out.len());
        // Stable: a destination's datagrams keep their order.
        self.order.sort_by_key(|&i| out[i].1);
        self.runs.clear();
        let mut start = 0;
        while start < self.order.len() {
            let first = &out[self.order[start]];
            let seg = first.0.len();
            let mut end = start + 1;
            while end < self.order.len() && end - start < MAX_SEGMENTS {
                let (data, to) = &out[self.order[end]];
                let prev = out[self.order[end - 1]].0.len();
                if *to != first.1 || data.len() > seg || prev != seg {
                    break;
                }
                end += 1;
            }
            self.runs.push((start, end - start, seg as u16));
            start = end;
        }
        self.addrs.clear();
        self.iovs.clear();
        self.cmsgs.clear();
        self.msgs.clear();
        for &i in &self.order {
            let data = &out[i].0;
            self.iovs.push(libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            });
        }
        for &(start, len, seg) in &self.runs {
            self.addrs
                .push(socket2::SockAddr::from(out[self.order[start]].1));
            let mut c: Cmsg = [0; 4];
            if len > 1 {
                // SAFETY: `c` has room for a cmsghdr and a u16 (CMSG_SPACE(2)
                // is 24 bytes here; `c` is 32), 8-byte aligned.
                unsafe {
                    let h = c.as_mut_ptr().cast::<libc::cmsghdr>();
                    (*h).cmsg_level = libc::SOL_UDP;
                    (*h).cmsg_type = libc::UDP_SEGMENT;
                    (*h).cmsg_len = libc::CMSG_LEN(2) as _;
                    libc::CMSG_DATA(h).cast::<u16>().write_unaligned(seg);
                }
            }
            self.cmsgs.push(c);
        }
        for (k, &(start, len, _)) in self.runs.iter().enumerate() {
            // SAFETY: mmsghdr is plain data; every pointer set below stays
            // valid until sendmmsg returns.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = self.addrs[k].as_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_namelen = self.addrs[k].len();
            m.msg_hdr.msg_iov = &mut self.iovs[start];
            m.msg_hdr.msg_iovlen = len;
            if len > 1 {
                m.msg_hdr.msg_control = self.cmsgs[k].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE has no preconditions.
                m.msg_hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
            }
            self.msgs.push(m);
        }
        let mut done = 0;
        let mut datagrams = 0;
        while done < self.msgs.len() {
            let n = (self.msgs.len() - done).min(shards::MAX_BATCH);
            // SAFETY: `msgs[done..done + n]` are initialised headers pointing
            // into live buffers.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    self.msgs.as_mut_ptr().add(done),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc <= 0 {
                break;
            }
            for &(_, len, _) in &self.runs[done..done + rc as usize] {
                datagrams += len;
                if len > 1 {
                    self.gso_messages += 1;
                    self.gso_segments += len as u64;
                }
            }
            done += rc as usize;
        }
        datagrams
    }
}
