//! Timers: DTLS retransmissions, RTCP toward publishers (NACK, Receiver
//! Reports, TWCC feedback) and players (Sender Reports), keyframe retries,
//! and `stun_timeout`.

use std::time::Instant;

use crate::ice::IceEvent;
use crate::sfu::feedback::queue_rtcp;
use crate::sfu::{EndReason, Media, SessionToken, Sfu, ShardStats};

impl Sfu {
    /// The soonest deadline of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ice = self
            .sessions
            .values()
            .flat_map(|s| {
                let (a, b) = match &s.media {
                    Media::Publisher(p) if s.is_connected() => (p.poll_timeout(), None),
                    Media::Player(p) if s.is_connected() => (
                        p.keyframe_retry_due(),
                        Some(p.sr_due().unwrap_or(s.created)),
                    ),
                    _ => (None, None),
                };
                s.ice
                    .poll_timeout()
                    .into_iter()
                    .chain(a)
                    .chain(b)
                    .chain(s.wait_for_publisher)
                    .chain(s.check_deadline)
                    .chain(s.upstream.as_ref().and_then(|u| u.poll_timeout()))
            })
            .min();
        let dtls = self
            .handshaking
            .iter()
            .filter_map(|t| self.sessions.get(t)?.dtls.as_ref()?.poll_timeout())
            .min();
        ice.into_iter().chain(dtls).min()
    }

    /// Runs due timers: DTLS retransmissions and `stun_timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SessionToken> = self
            .handshaking
            .iter()
            .filter(|t| {
                self.sessions
                    .get(*t)
                    .and_then(|s| s.dtls.as_ref()?.poll_timeout())
                    .is_some_and(|at| at <= now)
            })
            .cloned()
            .collect();
        for token in due {
            if let Some(d) = self.sessions.get_mut(&token).and_then(|s| s.dtls.as_mut()) {
                d.handle_timeout(now);
            }
            self.drive_dtls(now, &token);
        }
        self.poll_upstream_checks(now);
        let mut plis = Vec::new();
        let mut retries = Vec::new();
        let Self {
            sessions,
            out,
            stats,
            ntp,
            scratch,
            publisher_srs,
            ..
        } = self;
        for s in sessions.values_mut() {
            let (Some(srtp), Some(peer)) = (s.srtp.as_mut(), s.ice.selected()) else {
                continue;
            };
            match &mut s.media {
                Media::Publisher(p) => {
                    if p.poll_timeout().is_none_or(|t| t > now) {
                        continue;
                    }
                    let (nacks, fbs) = (p.counters.nacks_sent, p.counters.twcc_feedback);
                    let keyframe = p.poll_rtcp(now, scratch);
                    ShardStats::add(&stats.nacks_sent, p.counters.nacks_sent - nacks);
                    ShardStats::add(&stats.twcc_feedback_sent, p.counters.twcc_feedback - fbs);
                    if queue_rtcp(out, srtp, &mut s.counters, peer, scratch) {
                        ShardStats::inc(&stats.reports_sent);
                    }
                    if keyframe || p.pli_due().is_some_and(|t| t <= now) {
                        plis.push(s.token.clone());
                    }
                }
                Media::Player(p) => {
                    if p.keyframe_retry_due().is_some_and(|t| t <= now) {
                        p.keyframe_requested(now);
                        retries.push(s.stream_key.clone());
                    }
                    if p.sr_due().is_some_and(|t| t > now) {
                        continue;
                    }
                    let srs = publisher_srs
                        .get(s.stream_key.as_str())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    p.poll_sender_reports(now, ntp, srs, scratch);
                    if queue_rtcp(out, srtp, &mut s.counters, peer, scratch) {
                        ShardStats::inc(&stats.reports_sent);
                    }
                }
            }
        }
        for token in plis {
            self.send_pli(now, &token);
        }
        retries.sort();
        retries.dedup();
        for stream in retries {
            self.request_keyframe(now, &stream);
        }
        let mut ended = Vec::new();
        for s in self.sessions.values_mut() {
            if s.ice.poll_timeout().is_some_and(|t| t <= now) {
                s.ice.handle_timeout(now);
            }
            while let Some(ev) = s.ice.poll_event() {
                if ev == IceEvent::TimedOut {
                    ended.push((s.token.clone(), EndReason::StunTimeout));
                }
            }
            if s.check_deadline.is_some_and(|t| t <= now) {
                ended.push((s.token.clone(), EndReason::NoCheck));
            }
            if s.wait_for_publisher.is_some_and(|t| t <= now) {
                ended.push((s.token.clone(), EndReason::NoPublisher));
            }
        }
        for (token, reason) in ended {
            self.close(now, token.as_str(), reason);
        }
    }
}
