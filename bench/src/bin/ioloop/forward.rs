//! The forwarder's work, the same under every loop: each datagram from a
//! publisher is copied once per subscriber of its stream, 4 bytes of the
//! copy rewritten (as an SFU rewrites SSRC and sequence numbers), and the
//! copies queued for one batched send.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The most copies queued before a flush (`sendmmsg`'s limit).
pub const MAX_OUT: usize = shards::MAX_BATCH;

/// Counters the forwarding thread keeps and the traffic thread reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams received from publishers.
    pub received: AtomicU64,
    /// Copies the kernel took.
    pub sent: AtomicU64,
    /// Copies the kernel refused (a full send buffer): dropped.
    pub dropped: AtomicU64,
    /// Times the loop waited for the socket (epoll, or io_uring).
    pub waits: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter (relaxed: read once a second at most).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Routes and out buffers of one forwarding thread.
#[derive(Debug)]
pub struct Forwarder {
    streams: HashMap<SocketAddr, usize>,
    subscribers: Vec<Vec<SocketAddr>>,
    out: Vec<(Vec<u8>, SocketAddr)>,
    grouped: Vec<(Vec<u8>, SocketAddr)>,
    grouping: shards::DestinationOrder,
    spare: Vec<Vec<u8>>,
    max_out: usize,
    /// What this thread counted.
    pub counters: Arc<Counters>,
}

impl Forwarder {
    /// A forwarder that sends what a publisher at each key of `routes`
    /// sends to every address of its value, flushing every `max_out`
    /// copies (at least one).
    pub fn new(
        routes: HashMap<SocketAddr, Vec<SocketAddr>>,
        counters: Arc<Counters>,
        max_out: usize,
    ) -> Self {
        let max_out = max_out.max(1);
        let (streams, subscribers) = routes
            .into_iter()
            .enumerate()
            .map(|(i, (publisher, subs))| ((publisher, i), subs))
            .unzip();
        Self {
            streams,
            subscribers,
            out: Vec::with_capacity(max_out),
            grouped: Vec::with_capacity(max_out),
            grouping: shards::DestinationOrder::default(),
            spare: Vec::with_capacity(max_out),
            max_out,
            counters,
        }
    }

    /// Queues the copies of `data` from `from`; calls `flush` whenever
    /// `max_out` copies are queued. Datagrams from unknown senders (the
    /// controller's wake-up) are ignored.
    pub fn handle(&mut self, data: &[u8], from: SocketAddr, flush: &mut impl FnMut(&mut Self)) {
        Counters::add(&self.counters.received, 1);
        let Some(&stream) = self.streams.get(&from) else {
            return;
        };
        // Taken out for the loop, so a flush can borrow the forwarder.
        let subscribers = std::mem::take(&mut self.subscribers[stream]);
        for (i, &to) in subscribers.iter().enumerate() {
            if self.out.len() == self.max_out {
                flush(self);
            }
            let mut buf = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(2048));
            buf.clear();
            buf.extend_from_slice(data);
            if buf.len() >= 8 {
                buf[4..8].copy_from_slice(&(i as u32).to_be_bytes());
            }
            self.out.push((buf, to));
        }
        self.subscribers[stream] = subscribers;
    }

    /// The copies queued, in order.
    pub fn pending(&self) -> &[(Vec<u8>, SocketAddr)] {
        &self.out
    }

    /// Puts the queued copies in the server's order for GSO: each
    /// destination's together ([`shards::DestinationOrder`]).
    pub fn group_by_destination(&mut self) {
        self.grouping.group(&mut self.out, &mut self.grouped);
        std::mem::swap(&mut self.out, &mut self.grouped);
    }

    /// Forgets the queued copies (sent or dropped), keeping their buffers.
    pub fn clear(&mut self, sent: usize) {
        let n = self.out.len();
        Counters::add(&self.counters.sent, sent as u64);
        Counters::add(&self.counters.dropped, (n - sent) as u64);
        self.spare.extend(self.out.drain(..).map(|(b, _)| b));
    }
}
