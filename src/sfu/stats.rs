//! Per-shard counters. Each shard writes only its own; readers (the HTTP API
//! on any shard) load them with relaxed ordering.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counters of one shard.
        #[derive(Debug, Default)]
        pub struct ShardStats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A plain copy of [`ShardStats`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl ShardStats {
            /// Reads every counter.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl std::ops::AddAssign for StatsSnapshot {
            fn add_assign(&mut self, o: Self) {
                $(self.$name += o.$name;)*
            }
        }
    };
}

counters! {
    /// Sessions held by the shard now.
    sessions,
    /// Sessions ever created on or moved to the shard.
    sessions_created,
    /// Sessions that moved away to the shard that received their first check.
    sessions_moved_out,
    /// Sessions ended by `stun_timeout`.
    sessions_timed_out,
    /// Sessions ended because no valid STUN check came within `first_check_timeout`.
    sessions_no_check,
    /// Players created before their stream had a publisher (WHEP first).
    players_waiting,
    /// Of those, players whose publisher arrived in time (media started).
    players_wait_served,
    /// Of those, players closed because no publisher came within `stun_timeout`.
    players_wait_expired,
    /// UDP datagrams received on the RTC port.
    udp_packets_in,
    /// UDP datagrams sent from the RTC port.
    udp_packets_out,
    /// UDP bytes received.
    udp_bytes_in,
    /// UDP bytes sent.
    udp_bytes_out,
    /// UDP GSO messages sent: runs of equal-size datagrams to one address
    /// (a player's copies of a received batch) handed to the kernel as one.
    udp_gso_messages,
    /// Datagrams sent inside those GSO messages (also in `udp_packets_out`).
    udp_gso_datagrams,
    /// RTP datagrams that waited in the receive queue longer than
    /// `max_queue_delay` (forwarded; the shard counts as overloaded).
    rtp_late,
    /// Datagrams dropped because they were longer than the receive slot.
    udp_truncated,
    /// Gauge: the longest a datagram waited in the receive queue during the
    /// last tick, in milliseconds.
    queue_delay_ms,
    /// Gauge: percent of the last second the shard's executor was busy
    /// (running tasks or polling I/O).
    busy_percent,
    /// New sessions refused (503) because a shard was overloaded.
    sessions_refused_overload,
    /// Packets received in RFC 4571 frames on WebRTC-over-TCP connections.
    tcp_frames_in,
    /// Packets queued to WebRTC-over-TCP connections.
    tcp_frames_out,
    /// Bytes of the packets received over TCP (without framing).
    tcp_bytes_in,
    /// Bytes of the packets queued to TCP connections (without framing).
    tcp_bytes_out,
    /// Packets dropped because a TCP connection's send queue was full.
    tcp_dropped,
    /// WebRTC-over-TCP connections accepted.
    tcp_connections,
    /// Connections on a shared port (HTTP, HTTPS and WebRTC over TCP on one
    /// listener) closed because their first bytes fit no protocol it serves.
    port_sniff_rejected,
    /// Connections on a shared port closed because their first bytes did not
    /// decide a protocol within `sniff::FIRST_BYTES_TIMEOUT` (or the client
    /// closed first).
    port_sniff_timeouts,
    /// STUN binding requests answered.
    stun_answered,
    /// STUN messages dropped: unparsable.
    stun_malformed,
    /// STUN messages dropped: no session with that ufrag.
    stun_unknown_ufrag,
    /// STUN messages dropped: the ICE agent refused them (integrity, fingerprint...).
    stun_rejected,
    /// ICE restarts (WHIP/WHEP `PATCH` with new credentials).
    ice_restarts,
    /// STUN checks handed to the shard that holds their session.
    stun_forwarded,
    /// Datagrams dropped because their source address never passed ICE.
    packets_unknown_source,
    /// Datagrams handed to the shard that holds their session: the client
    /// moved to an address another shard's socket receives after DTLS
    /// started (`sfu::routes`).
    packets_routed,
    /// Datagrams dropped because their first byte fits no protocol.
    packets_unclassified,
    /// HTTP requests served.
    http_requests,
    /// TCP connections (HTTP, HTTPS, RTMP, WebRTC over TCP) closed at the
    /// accept because their address had `max_connections_per_ip` open.
    connections_refused_per_ip,
    /// Signaling requests answered 429 by `signaling_rate_per_ip`.
    signaling_rate_limited,
    /// DTLS handshakes completed (SRTP keys exported).
    dtls_connected,
    /// DTLS handshakes or associations that failed (wrong fingerprint, timeout, alert).
    dtls_failures,
    /// DTLS datagrams dropped (garbled records, or before the handshake could start).
    dtls_dropped,
    /// SRTP/SRTCP packets dropped: authentication or replay check failed.
    srtp_errors,
    /// RTP packets received from publishers and forwarded.
    rtp_received,
    /// RTP packets dropped: from a player, before SRTP, or with an unknown payload type.
    rtp_dropped,
    /// Keyframe requests (PLI) sent to publishers.
    plis_sent,
    /// PLI/FIR received from players.
    plis_received,
    /// Messages to other shards dropped because a channel was full.
    mesh_dropped,
    /// Sequence numbers players asked for in NACKs.
    nacks_received,
    /// Packets retransmitted to players.
    retransmitted,
    /// NACKed packets not retransmitted (unknown, evicted, too soon, over a player's budget).
    retransmit_refused,
    /// Sequence numbers asked of publishers in NACKs.
    nacks_sent,
    /// Transport-cc feedback packets sent to publishers.
    twcc_feedback_sent,
    /// Receiver/Sender Reports sent.
    reports_sent,
    /// Gauge: entries in the shard's ufrag index.
    table_ufrags,
    /// Gauge: entries in the shard's peer-address index, and addresses
    /// routed to or from another shard.
    table_addrs,
    /// Gauge: streams with local players in the shard's router.
    table_subscribed,
    /// Gauge: streams with a local publisher in the shard's router.
    table_published,
    /// Gauge: streams other shards want from this shard.
    table_interest,
    /// Gauge: per-stream packet histories and Sender Reports kept for local players.
    table_history,
}

impl ShardStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(counter: &AtomicU64, v: u64) {
        counter.store(v, Ordering::Relaxed);
    }

    /// Subtracts one from a gauge.
    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}
