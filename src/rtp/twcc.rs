//! The receive side of transport-wide congestion control: record when each
//! transport-wide sequence number arrived, and send transport-cc feedback
//! ([`super::rtcp::TwccFeedback`]) every `interval`.
//!
//! The session keeps one [`TwccReceiver`] per publisher transport, calls
//! [`TwccReceiver::on_packet`] with the transport-cc header extension's
//! value of every RTP packet (RTX and padding included), and when
//! [`TwccReceiver::poll_timeout`] comes due calls
//! [`TwccReceiver::poll_feedback`], which writes one or more feedback
//! packets (a new one when a delta exceeds ±8 s or a packet grows large).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::id::{SeqNo, Ssrc};
use super::rtcp::{TwccFeedback, TwccStatus};

/// The default time between feedbacks.
pub const DEFAULT_TWCC_INTERVAL: Duration = Duration::from_millis(50);
/// Statuses per feedback packet at most (keeps a packet under ~1 KB).
const MAX_STATUSES: usize = 400;
/// Sequence numbers pending at most; older ones are dropped unreported.
const MAX_WINDOW: u64 = 8192;
/// Microseconds per delta and reference-time unit.
const DELTA_US: u128 = 250;
const REF_DELTAS: i64 = 256;

/// Counters of a [`TwccReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TwccStats {
    /// Packets recorded.
    pub received: u64,
    /// Packets that arrived after their sequence number was reported.
    pub late: u64,
    /// Feedback packets written.
    pub feedbacks: u64,
}

/// Arrival times by transport-wide sequence number, and the feedback clock.
#[derive(Debug, Clone)]
pub struct TwccReceiver {
    interval: Duration,
    /// Origin of the reference time.
    epoch: Option<Instant>,
    /// Extended sequence number of `window[0]`.
    start: SeqNo,
    window: VecDeque<Option<Instant>>,
    pending: usize,
    max: Option<SeqNo>,
    last_feedback: Option<Instant>,
    first_pending_at: Option<Instant>,
    fb_count: u8,
    stats: TwccStats,
}

impl TwccReceiver {
    /// A receiver sending feedback every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            epoch: None,
            start: SeqNo(0),
            window: VecDeque::new(),
            pending: 0,
            max: None,
            last_feedback: None,
            first_pending_at: None,
            fb_count: 0,
            stats: TwccStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> TwccStats {
        self.stats
    }

    /// A packet with transport-wide sequence number `seq` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16) {
        let ext = match self.max {
            Some(m) => SeqNo::extend(m, seq),
            None => {
                self.start = SeqNo(u64::from(seq));
                SeqNo(u64::from(seq))
            }
        };
        self.epoch.get_or_insert(now);
        if ext < self.start {
            self.stats.late += 1;
            return;
        }
        if self.max.is_none_or(|m| ext > m) {
            self.max = Some(ext);
        }
        let mut idx = ext.0 - self.start.0;
        if idx >= MAX_WINDOW {
            // Drop the oldest, unreported; after a jump, start afresh here.
            let needed = idx - MAX_WINDOW + 1;
            let shift = needed.min(self.window.len() as u64) as usize;
            for slot in self.window.drain(..shift) {
                self.pending -= usize::from(slot.is_some());
            }
            self.start = if self.window.is_empty() {
                ext
            } else {
                SeqNo(self.start.0 + needed)
            };
            idx = ext.0 - self.start.0;
        }
        let idx = idx as usize;
        if self.window.len() <= idx {
            self.window.resize(idx + 1, None);
        }
        if self.window[idx].is_none() {
            self.window[idx] = Some(now);
            self.pending += 1;
            self.stats.received += 1;
            self.first_pending_at.get_or_insert(now);
        }
    }

    /// When feedback is due; `None` while nothing is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = self.first_pending_at?;
        Some(match self.last_feedback {
            Some(last) => (last + self.interval).max(first),
            None => first + self.interval,
        })
    }

    /// Writes the due feedback into `out` (appended, as a compound of one or
    /// more transport-cc packets from `sender` about `media`); returns the
    /// bytes written, 0 when nothing is due at `now`.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        sender: Ssrc,
        media: Ssrc,
        out: &mut Vec<u8>,
    ) -> usize {
        if self.poll_timeout().is_none_or(|t| now < t) {
            return 0;
        }
        self.last_feedback = Some(now);
        self.first_pending_at = None;
        let before = out.len();
        let mut fb = TwccFeedback {
            sender,
            media,
            ..TwccFeedback::default()
        };
        while self.pending > 0 {
            self.build(&mut fb);
            fb.write(out);
            self.stats.feedbacks += 1;
        }
        out.len() - before
    }

    /// Fills `fb` with the oldest pending statuses and removes them.
    fn build(&mut self, fb: &mut TwccFeedback) {
        // `epoch` is set by the first packet, and `pending > 0` implies one.
        let Some(epoch) = self.epoch else { return };
        let ticks = |t: Instant| (t.saturating_duration_since(epoch).as_micros() / DELTA_US) as i64;
        fb.statuses.clear();
        fb.base_seq = self.start.wire();
        fb.fb_count = self.fb_count;
        self.fb_count = self.fb_count.wrapping_add(1);
        let mut last: Option<i64> = None;
        let (mut taken, mut received) = (0, 0);
        for slot in self.window.iter() {
            if fb.statuses.len() == MAX_STATUSES {
                break;
            }
            let status = match *slot {
                None => TwccStatus::NotReceived,
                Some(t) => {
                    let tick = ticks(t);
                    let prev = *last.get_or_insert_with(|| {
                        let reference = tick / REF_DELTAS;
                        fb.reference_time = (reference as u32) & 0xff_ffff;
                        reference * REF_DELTAS
                    });
                    match TwccStatus::received(tick - prev) {
                        Some(s) => {
                            last = Some(tick);
                            received += 1;
                            s
                        }
                        None => break, // out of range: the next packet starts here
                    }
                }
            };
            fb.statuses.push(status);
            taken += 1;
        }
        self.window.drain(..taken);
        self.pending -= received;
        self.start = SeqNo(self.start.0 + taken as u64);
    }
}

impl Default for TwccReceiver {
    fn default() -> Self {
        Self::new(DEFAULT_TWCC_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{parse_compound, RtcpPacket};

    const MS: Duration = Duration::from_millis(1);

    /// Every feedback in `out`, parsed.
    fn feedbacks(out: &[u8]) -> Vec<TwccFeedback> {
        parse_compound(out)
            .map(|p| match p {
                Ok(RtcpPacket::TransportCc(v)) => TwccFeedback::from_view(&v).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// (seq, arrival in µs since the reference origin) of all feedbacks.
    fn arrivals(fbs: &[TwccFeedback]) -> Vec<(u16, Option<i64>)> {
        fbs.iter().flat_map(|f| f.arrivals()).collect()
    }

    #[test]
    fn reports_arrivals_losses_and_reordering() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::default();
        assert_eq!(r.poll_timeout(), None);
        // 65_534, 65_535, (0 lost), 2, 1 (reordered, arrives after 2).
        r.on_packet(t0, 65_534);
        r.on_packet(t0 + MS, 65_535);
        r.on_packet(t0 + 3 * MS, 2);
        r.on_packet(t0 + 4 * MS, 1);
        r.on_packet(t0 + 4 * MS, 1); // duplicate: ignored
        assert_eq!(r.poll_timeout(), Some(t0 + 50 * MS));
        let mut out = Vec::new();
        assert_eq!(r.poll_feedback(t0 + 49 * MS, Ssrc(1), Ssrc(2), &mut out), 0);
        let n = r.poll_feedback(t0 + 50 * MS, Ssrc(1), Ssrc(2), &mut out);
        assert_eq!(n, out.len());
        let fbs = feedbacks(&out);
        assert_eq!(fbs.len(), 1);
        let f = &fbs[0];
        assert_eq!(
            (f.sender, f.media, f.base_seq, f.fb_count),
            (Ssrc(1), Ssrc(2), 65_534, 0)
        );
        assert_eq!(
            f.statuses,
            vec![
                TwccStatus::Small(0),
                TwccStatus::Small(4),
                TwccStatus::NotReceived,
                TwccStatus::Small(12), // seq 1 at 4 ms
                TwccStatus::Large(-4), // seq 2 arrived first, at 3 ms
            ]
        );
        assert_eq!(r.poll_timeout(), None);
        // 1 was reported; a late 0 now is too late.
        r.on_packet(t0 + 60 * MS, 0);
        assert_eq!(r.stats().late, 1);
        r.on_packet(t0 + 70 * MS, 3);
        assert_eq!(r.poll_timeout(), Some(t0 + 100 * MS));
        out.clear();
        r.poll_feedback(t0 + 100 * MS, Ssrc(1), Ssrc(2), &mut out);
        let f = &feedbacks(&out)[0];
        assert_eq!((f.base_seq, f.fb_count), (3, 1));
        assert_eq!(f.reference_time, 1, "70 ms is in the second 64 ms unit");
        assert_eq!(f.arrivals().collect::<Vec<_>>(), vec![(3, Some(70_000))]);
        assert_eq!(
            r.stats(),
            TwccStats {
                received: 5,
                late: 1,
                feedbacks: 2
            }
        );
    }

    #[test]
    fn arrival_times_survive_encoding() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::default();
        let mut want = Vec::new();
        for i in 0..1000u16 {
            if i % 10 == 3 {
                want.push((i, None));
                continue;
            }
            let at = Duration::from_micros(u64::from(i) * 1_250 + u64::from(i % 7) * 333);
            r.on_packet(t0 + at, i);
            want.push((i, Some((at.as_micros() / 250 * 250) as i64)));
        }
        let mut out = Vec::new();
        r.poll_feedback(t0 + Duration::from_secs(2), Ssrc(1), Ssrc(2), &mut out);
        let fbs = feedbacks(&out);
        assert_eq!(fbs.len(), 3, "400 statuses per packet at most");
        assert_eq!(
            fbs.iter().map(|f| f.fb_count).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(arrivals(&fbs), want);
    }

    #[test]
    fn a_delta_beyond_8_s_starts_a_new_packet() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::default();
        r.on_packet(t0, 10);
        r.on_packet(t0 + Duration::from_secs(9), 11);
        let mut out = Vec::new();
        r.poll_feedback(t0 + Duration::from_secs(10), Ssrc(1), Ssrc(2), &mut out);
        let fbs = feedbacks(&out);
        assert_eq!(fbs.len(), 2);
        assert_eq!(arrivals(&fbs), vec![(10, Some(0)), (11, Some(9_000_000))]);
    }

    #[test]
    fn the_window_is_bounded() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::default();
        r.on_packet(t0, 0);
        r.on_packet(t0, 10_000); // more than 8192 ahead: 0 is dropped
        let mut out = Vec::new();
        r.poll_feedback(t0 + Duration::from_secs(1), Ssrc(1), Ssrc(2), &mut out);
        let fbs = feedbacks(&out);
        assert_eq!(fbs.len(), 1);
        assert_eq!(fbs[0].base_seq, 10_000);
        assert_eq!(fbs[0].statuses.len(), 1);
        // A window that is only partly dropped keeps its tail.
        let mut r = TwccReceiver::default();
        for s in 0..5000u16 {
            r.on_packet(t0, s);
        }
        r.on_packet(t0, 9000);
        out.clear();
        r.poll_feedback(t0 + Duration::from_secs(1), Ssrc(1), Ssrc(2), &mut out);
        let a = arrivals(&feedbacks(&out));
        assert_eq!(a.first().unwrap().0, 9000 - 8191);
        assert_eq!(a.last().unwrap(), &(9000, Some(0)));
        assert_eq!(a.iter().filter(|x| x.1.is_some()).count(), 5000 - 809 + 1);
    }
}
