//! Receive statistics of one publisher SSRC for receiver reports (RFC 3550
//! §6.4.1, A.3, A.8), the NTP clock they are stamped with, and the round
//! trip time a report block tells its sender.
//!
//! The session keeps one [`ReceiverStats`] per publisher media SSRC, feeds
//! it every original packet ([`ReceiverStats::on_packet`]; not RTX) and
//! every SR of that SSRC ([`ReceiverStats::on_sender_report`]), and about
//! once a second puts [`ReceiverStats::report_block`] into an RR.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::id::{SeqNo, Ssrc};
use super::rtcp::ReportBlock;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The 64-bit NTP timestamp (32.32 fixed point seconds since 1900) of `t`.
pub fn ntp_from_system_time(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (the LSR / compact form).
pub fn ntp_compact(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in 32.32 NTP units.
fn ntp_units(d: Duration) -> u64 {
    (d.as_secs() << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// A mapping from monotonic [`Instant`]s to NTP wall-clock time, fixed
/// once (so it never jumps when the system clock is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpClock {
    base: Instant,
    base_ntp: u64,
}

impl NtpClock {
    /// A clock on which `at` is wall-clock time `wall` (read both once, at start).
    pub fn new(at: Instant, wall: SystemTime) -> Self {
        Self::from_ntp(at, ntp_from_system_time(wall))
    }

    /// A clock on which `at` is NTP time `ntp`.
    pub fn from_ntp(at: Instant, ntp: u64) -> Self {
        Self {
            base: at,
            base_ntp: ntp,
        }
    }

    /// The NTP time of `now` (an instant before the base counts backwards).
    pub fn ntp(&self, now: Instant) -> u64 {
        match now.checked_duration_since(self.base) {
            Some(d) => self.base_ntp.wrapping_add(ntp_units(d)),
            None => self
                .base_ntp
                .wrapping_sub(ntp_units(self.base.duration_since(now))),
        }
    }
}

/// The round trip time a report block shows: arrival time `now_ntp` less
/// the SR's time `lsr` less the receiver's delay `dlsr` (compact NTP
/// units). `None` when no SR was reported (`lsr == 0`) or the result is
/// negative (clocks or reports out of order).
pub fn rtt_from_report(now_ntp: u64, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = ntp_compact(now_ntp).wrapping_sub(lsr).wrapping_sub(dlsr);
    if rtt > u32::MAX / 2 {
        return None;
    }
    Some(Duration::from_micros((u64::from(rtt) * 1_000_000) >> 16))
}

/// A sequence jump larger than this starts re-synchronisation (RFC 3550 A.1).
const MAX_DROPOUT: u64 = 3000;
/// A packet this much older than the newest is "late", not a restart.
const MAX_MISORDER: u64 = 100;

/// Receive statistics of one SSRC.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: Ssrc,
    clock_rate: u32,
    /// First extended sequence number, and the newest.
    base: Option<(SeqNo, SeqNo)>,
    /// A suspected restart: the sequence number expected next to confirm it.
    bad_seq: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Relative transit time of the last in-order packet, in RTP ticks.
    transit: Option<u32>,
    /// Jitter times 16 (RFC 3550 A.8's integer form).
    jitter_q4: u32,
    /// Start of the arrival clock in RTP ticks.
    epoch: Option<Instant>,
    /// Compact NTP of the last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceiverStats {
    /// Statistics of `ssrc`, whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: Ssrc, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate: clock_rate.max(1),
            base: None,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            epoch: None,
            last_sr: None,
        }
    }

    /// The SSRC reported on.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Packets received (duplicates included, as RFC 3550 counts).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Interarrival jitter, in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// The extended highest sequence number received.
    pub fn max_seq(&self) -> Option<SeqNo> {
        self.base.map(|(_, max)| max)
    }

    /// An original packet `seq` with timestamp `rtp_ts` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16, rtp_ts: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let Some((base, max)) = self.base else {
            self.restart(seq);
            self.update_jitter(now, epoch, rtp_ts);
            return;
        };
        let udelta = u64::from(seq.wrapping_sub(max.wire()));
        if udelta < MAX_DROPOUT {
            // In order (or a duplicate of the newest), with a permissible gap.
            self.received += 1;
            if udelta > 0 {
                self.base = Some((base, SeqNo(max.0 + udelta)));
                self.update_jitter(now, epoch, rtp_ts);
            }
        } else if udelta <= (1 << 16) - MAX_MISORDER {
            // A big jump: believe it when the next packet follows it.
            if self.bad_seq == Some(seq) {
                self.restart(seq);
                self.transit = None;
                self.update_jitter(now, epoch, rtp_ts);
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
            }
            return;
        } else {
            // Reordered or duplicate: counted, no jitter sample.
            self.received += 1;
        }
        self.bad_seq = None;
    }

    /// A sender report of this SSRC with NTP time `ntp` arrived at `now`.
    pub fn on_sender_report(&mut self, now: Instant, ntp: u64) {
        self.last_sr = Some((ntp_compact(ntp), now));
    }

    /// The report block for an RR sent at `now`; starts the next interval
    /// for the fraction lost. `None` before the first packet.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let (base, max) = self.base?;
        let expected = max.0 - base.0 + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // 256 when nothing arrived in the interval: the 8-bit field saturates.
            ((lost_interval as u64 * 256) / expected_interval).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_duration_since(at);
                let dlsr = (ntp_units(d) >> 16).min(u64::from(u32::MAX)) as u32;
                (lsr, dlsr)
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: max.0 as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }

    fn restart(&mut self, seq: u16) {
        let s = SeqNo(u64::from(seq));
        self.base = Some((s, s));
        self.bad_seq = None;
        self.received = 1;
        self.expected_prior = 0;
        self.received_prior = 0;
    }

    fn update_jitter(&mut self, now: Instant, epoch: Instant, rtp_ts: u32) {
        let d = now.saturating_duration_since(epoch);
        let arrival = (d.as_micros() * u128::from(self.clock_rate) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(rtp_ts);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J += (|D| - J) / 16, kept times 16.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ntp_clock() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let c = NtpClock::new(t0, wall);
        let n = c.ntp(t0);
        assert_eq!(n >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(n & 0xffff_ffff, 1 << 31, "half a second");
        assert_eq!(c.ntp(t0 + Duration::from_millis(1500)) - n, 3 << 31);
        let later = NtpClock::new(t0 + Duration::from_secs(1), wall);
        assert_eq!(n - later.ntp(t0), 1 << 32, "instants before the base");
        assert_eq!(ntp_compact(0x1234_5678_9abc_def0), 0x5678_9abc);
    }

    #[test]
    fn rtt_from_a_report_block() {
        // SR sent at NTP 100.0 s, answered after 50 ms, arriving at 100.2 s.
        let lsr = ntp_compact(100 << 32);
        let dlsr = (ntp_units(50 * MS) >> 16) as u32;
        let now = (100 << 32) + ntp_units(200 * MS);
        let rtt = rtt_from_report(now, lsr, dlsr).unwrap();
        assert!(
            rtt.abs_diff(150 * MS) < Duration::from_micros(50),
            "{rtt:?}"
        );
        assert_eq!(rtt_from_report(now, 0, dlsr), None, "no SR reported");
        assert_eq!(rtt_from_report(100 << 32, lsr, dlsr), None, "negative");
    }

    #[test]
    fn fraction_and_cumulative_loss() {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new(Ssrc(5), 90_000);
        assert_eq!(s.report_block(t0), None);
        // 100 packets sent across the wrap, every 4th lost: 25 lost.
        for i in 0..100u16 {
            if i % 4 != 3 {
                s.on_packet(t0, 65_500u16.wrapping_add(i), 0);
            }
        }
        let b = s.report_block(t0).unwrap();
        assert_eq!(b.ssrc, Ssrc(5));
        assert_eq!(b.highest_seq, 65_500 + 98, "the last sent (99) was lost");
        assert_eq!(b.cumulative_lost, 24);
        assert_eq!(b.fraction_lost, (24 * 256 / 99) as u8);
        // Next interval: 10 packets, none lost, plus a duplicate.
        for i in 100..110u16 {
            s.on_packet(t0, 65_500u16.wrapping_add(i), 0);
        }
        s.on_packet(t0, 65_500u16.wrapping_add(105), 0);
        let b = s.report_block(t0).unwrap();
        assert_eq!(b.fraction_lost, 0);
        assert_eq!(b.cumulative_lost, 24, "25 lost, one duplicate offsets one");
        assert_eq!(b.highest_seq, 65_500 + 109);
    }

    #[test]
    fn jitter_of_known_arrivals() {
        let t0 = Instant::now();
        // 8 kHz clock, packets every 20 ms (160 ticks) arriving with a steady
        // alternation of +0 / +5 ms: |D| is always 40 ticks, so J tends to 40.
        let mut s = ReceiverStats::new(Ssrc(1), 8000);
        for i in 0..400u32 {
            let extra = if i % 2 == 1 { 5 * MS } else { Duration::ZERO };
            s.on_packet(t0 + 20 * MS * i + extra, i as u16, 160 * i);
        }
        assert!((38..=40).contains(&s.jitter()), "{}", s.jitter());
        // Perfectly paced packets: jitter decays towards 0.
        let mut p = ReceiverStats::new(Ssrc(1), 8000);
        for i in 0..100u32 {
            p.on_packet(t0 + 20 * MS * i, i as u16, 1000 + 160 * i);
        }
        assert_eq!(p.jitter(), 0);
        // One packet 16 ms late: J = 128 / 16 = 8, then it decays.
        p.on_packet(t0 + 20 * MS * 100 + 16 * MS, 100, 1000 + 160 * 100);
        assert_eq!(p.jitter(), 8);
    }

    #[test]
    fn lsr_and_dlsr() {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new(Ssrc(1), 90_000);
        s.on_packet(t0, 1, 0);
        let b = s.report_block(t0).unwrap();
        assert_eq!((b.last_sr, b.delay_since_last_sr), (0, 0));
        s.on_sender_report(t0, 0x0000_1111_2222_0000);
        let b = s.report_block(t0 + Duration::from_millis(500)).unwrap();
        assert_eq!(b.last_sr, 0x1111_2222);
        assert_eq!(b.delay_since_last_sr, 32768, "0.5 s in 1/65536 s");
    }

    #[test]
    fn a_restart_resynchronises_after_two_packets() {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new(Ssrc(1), 90_000);
        for i in 0..10 {
            s.on_packet(t0, i, 0);
        }
        s.on_packet(t0, 30_000, 0); // one stray packet: ignored
        assert_eq!(s.max_seq(), Some(SeqNo(9)));
        s.on_packet(t0, 10, 0);
        s.on_packet(t0, 40_000, 0);
        s.on_packet(t0, 40_001, 0);
        let b = s.report_block(t0).unwrap();
        assert_eq!(b.highest_seq, 40_001, "cycles restart too (RFC 3550 A.1)");
        assert_eq!(b.cumulative_lost, 0, "counting starts afresh");
        assert_eq!(s.received(), 1, "the packet that confirmed the restart");
    }
}
