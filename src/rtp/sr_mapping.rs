//! Sender reports toward a subscriber, mapped from the publisher's.
//!
//! A subscriber's RTP timestamps are the publisher's plus the Rewriter's
//! offset, so the publisher's last SR pair (NTP, RTP) maps to the
//! subscriber's by adding the same offset. An [`SrMapper`] per subscriber
//! track learns that offset from the packets it forwards
//! ([`SrMapper::on_forwarded`], which also counts packets and octets) and,
//! about once a second, produces the [`SenderInfo`] of the subscriber's SR:
//! NTP is our clock at `now` (so the subscriber's RR gives us the RTT),
//! and the RTP time is the publisher's SR time carried forward by the time
//! elapsed since that SR arrived, plus the offset. Audio and video of one
//! publisher are mapped the same way, so their lip-sync holds up to the
//! difference in their SRs' transit delays.
//!
//! When the subscriber's source changes (a publisher reconnect), the old
//! SR no longer applies: no SR is produced until one of the new source
//! arrives.

use std::time::Instant;

use super::id::Ssrc;
use super::receiver_stats::NtpClock;
use super::rtcp::{SenderInfo, SenderReport};

/// The newest sender report of a publisher SSRC, and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherSr {
    /// The publisher's media SSRC.
    pub ssrc: Ssrc,
    /// The SR's NTP time (the publisher's clock).
    pub ntp: u64,
    /// The SR's RTP time.
    pub rtp_ts: u32,
    /// When it arrived.
    pub received_at: Instant,
}

impl PublisherSr {
    /// The SR `sr` that arrived at `now`.
    pub fn from_report(sr: &SenderReport<'_>, now: Instant) -> Self {
        Self {
            ssrc: sr.ssrc(),
            ntp: sr.ntp_time(),
            rtp_ts: sr.rtp_time(),
            received_at: now,
        }
    }
}

/// SR state of one subscriber track.
#[derive(Debug, Clone)]
pub struct SrMapper {
    clock_rate: u32,
    /// The publisher SSRC forwarded last and its timestamp offset.
    source: Option<(Ssrc, u32)>,
    packets: u32,
    octets: u32,
}

impl SrMapper {
    /// A mapper for a track whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            source: None,
            packets: 0,
            octets: 0,
        }
    }

    /// Packets sent to the subscriber on this track (wrapping, as in the SR).
    pub fn packets(&self) -> u32 {
        self.packets
    }

    /// Payload octets sent (wrapping).
    pub fn octets(&self) -> u32 {
        self.octets
    }

    /// A packet of publisher SSRC `source` with timestamp `in_ts` went out
    /// with timestamp `out_ts` and `payload_len` payload bytes. Call for
    /// every media packet sent, not for retransmissions.
    pub fn on_forwarded(&mut self, source: Ssrc, in_ts: u32, out_ts: u32, payload_len: usize) {
        self.source = Some((source, out_ts.wrapping_sub(in_ts)));
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
    }

    /// The sender info of an SR sent at `now`, from the publisher's newest
    /// SR `sr`; `None` before the first packet or when `sr` is of another
    /// source than the one forwarded now.
    pub fn sender_info(
        &self,
        now: Instant,
        clock: &NtpClock,
        sr: &PublisherSr,
    ) -> Option<SenderInfo> {
        let (ssrc, offset) = self.source?;
        if ssrc != sr.ssrc {
            return None;
        }
        let elapsed = now.saturating_duration_since(sr.received_at);
        let ticks = elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000;
        // RTP time wraps; keeping the low 32 bits is the intent.
        let rtp_ts = sr.rtp_ts.wrapping_add(offset).wrapping_add(ticks as u32);
        Some(SenderInfo {
            ntp: clock.ntp(now),
            rtp_ts,
            packets: self.packets,
            octets: self.octets,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::rtp::{ExtIdMap, Pt, Rewriter, RtpHeader};

    const RATE: u32 = 90_000;

    /// A publisher source: its SSRC, timestamp base and NTP clock base.
    struct Source {
        ssrc: Ssrc,
        ts0: u32,
        ntp0: u64,
        seq0: u16,
    }

    impl Source {
        fn ts(&self, at: Duration) -> u32 {
            self.ts0
                .wrapping_add((at.as_micros() * u128::from(RATE) / 1_000_000) as u32)
        }
        fn packet(&self, at: Duration, n: u16) -> Vec<u8> {
            let mut p = vec![0x80, 96];
            p.extend_from_slice(&self.seq0.wrapping_add(n).to_be_bytes());
            p.extend_from_slice(&self.ts(at).to_be_bytes());
            p.extend_from_slice(&self.ssrc.0.to_be_bytes());
            p.extend_from_slice(&[0; 100]);
            p
        }
        fn sr(&self, t0: Instant, at: Duration) -> PublisherSr {
            PublisherSr {
                ssrc: self.ssrc,
                ntp: self.ntp0 + (at.as_secs_f64() * 4_294_967_296.0) as u64,
                rtp_ts: self.ts(at),
                received_at: t0 + at,
            }
        }
    }

    /// Forwards a packet captured at `at` and returns its output timestamp.
    fn forward(
        rw: &mut Rewriter,
        m: &mut SrMapper,
        t0: Instant,
        src: &Source,
        at: Duration,
        n: u16,
    ) -> u32 {
        let pkt = src.packet(at, n);
        let mut out = Vec::new();
        rw.rewrite_into(
            t0 + at,
            &pkt,
            &mut out,
            Ssrc(1),
            Pt(100),
            &ExtIdMap::drop_all(),
        )
        .unwrap();
        let h = RtpHeader::parse(&out).unwrap();
        m.on_forwarded(src.ssrc, src.ts(at), h.timestamp(), h.payload().len());
        h.timestamp()
    }

    #[test]
    fn keeps_ntp_and_rtp_consistent_across_a_source_switch() {
        let t0 = Instant::now();
        let clock = NtpClock::new(t0, SystemTime::now());
        let mut rw = Rewriter::new(RATE);
        let mut m = SrMapper::new(RATE);
        let ms = Duration::from_millis;
        let a = Source {
            ssrc: Ssrc(0xA),
            ts0: 4_000_000_000,
            ntp0: 5 << 32,
            seq0: 100,
        };
        let b = Source {
            ssrc: Ssrc(0xB),
            ts0: 1234,
            ntp0: 9 << 32,
            seq0: 60_000,
        };

        let sr_a = a.sr(t0, ms(0));
        assert_eq!(
            m.sender_info(t0, &clock, &sr_a),
            None,
            "nothing forwarded yet"
        );
        for i in 0..50u16 {
            forward(&mut rw, &mut m, t0, &a, ms(20 * u64::from(i)), i);
        }
        // At 1 s: the SR's RTP time is what a packet captured then gets.
        let want = forward(&mut rw, &mut m, t0, &a, ms(1000), 50);
        let info = m.sender_info(t0 + ms(1000), &clock, &sr_a).unwrap();
        assert_eq!(info.rtp_ts, want);
        assert_eq!(info.ntp, clock.ntp(t0 + ms(1000)));
        assert_eq!((info.packets, info.octets), (51, 51 * 100));

        // The publisher reconnects as B at 2 s.
        forward(&mut rw, &mut m, t0, &b, ms(2000), 0);
        assert_eq!(
            m.sender_info(t0 + ms(2000), &clock, &sr_a),
            None,
            "A's SR is stale"
        );
        let sr_b = b.sr(t0, ms(2100));
        let want = forward(&mut rw, &mut m, t0, &b, ms(2500), 1);
        let info = m.sender_info(t0 + ms(2500), &clock, &sr_b).unwrap();
        assert_eq!(info.rtp_ts, want, "B's SR maps through B's offset");
        assert_eq!(info.ntp, clock.ntp(t0 + ms(2500)));
        assert_eq!(m.packets(), 53);
    }

    #[test]
    fn from_a_parsed_report() {
        let mut buf = Vec::new();
        let info = SenderInfo {
            ntp: 77 << 32,
            rtp_ts: 555,
            packets: 1,
            octets: 2,
        };
        crate::rtp::rtcp::write_sr(&mut buf, Ssrc(3), &info, &[]);
        let Some(Ok(crate::rtp::rtcp::RtcpPacket::SenderReport(sr))) =
            crate::rtp::rtcp::parse_compound(&buf).next()
        else {
            panic!("not an SR");
        };
        let now = Instant::now();
        let p = PublisherSr::from_report(&sr, now);
        assert_eq!(
            p,
            PublisherSr {
                ssrc: Ssrc(3),
                ntp: 77 << 32,
                rtp_ts: 555,
                received_at: now
            }
        );
    }
}
