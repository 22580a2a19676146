//! Counters, histograms, the per-second progress line, the final report and
//! its JSON form, and the server's CPU time and memory read from /proc.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// Everything the harness counts (one instance, owned by the event loop).
pub struct Stats {
    /// RTP packets received by subscribers (SRTP verified).
    pub pkts_in: u64,
    /// Bytes received by subscribers.
    pub bytes_in: u64,
    /// RTP packets sent by publishers (retransmissions included).
    pub pkts_out: u64,
    /// Bytes sent by publishers.
    pub bytes_out: u64,
    /// NACK packets sent by subscribers.
    pub nacks_sent: u64,
    /// Sequence numbers NACKed to publishers by the server.
    pub nacks_recv: u64,
    /// PLIs sent by subscribers.
    pub plis_sent: u64,
    /// PLIs received by publishers.
    pub plis_recv: u64,
    /// Retransmissions answered by publishers.
    pub retransmits: u64,
    /// SRTP/SRTCP packets that failed to unprotect.
    pub srtp_errors: u64,
    /// Packets without the harness trailer (no latency sample).
    pub no_trailer: u64,
    /// With `--gro`: reads that carried a UDP GSO message of several
    /// datagrams, and the datagrams in them.
    pub gro_reads: (u64, u64),
    /// One-way forwarding latency, µs.
    pub latency: Histogram<u64>,
    /// POST → first media packet, ms.
    pub connect_ms: Histogram<u64>,
    /// Kernel arrival → the harness reading the datagram, µs.
    pub recv_delay: Histogram<u64>,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Self {
        Stats {
            pkts_in: 0,
            bytes_in: 0,
            pkts_out: 0,
            bytes_out: 0,
            nacks_sent: 0,
            nacks_recv: 0,
            plis_sent: 0,
            plis_recv: 0,
            retransmits: 0,
            srtp_errors: 0,
            no_trailer: 0,
            gro_reads: (0, 0),
            // 1 µs .. 100 s, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 100_000_000, 3)
                .expect("static bounds are valid"),
            connect_ms: Histogram::new_with_bounds(1, 3_600_000, 3)
                .expect("static bounds are valid"),
            recv_delay: Histogram::new_with_bounds(1, 100_000_000, 3)
                .expect("static bounds are valid"),
            failures: BTreeMap::new(),
        }
    }

    /// Counts one failure.
    pub fn fail(&mut self, reason: &str) {
        *self.failures.entry(reason.to_string()).or_default() += 1;
    }
}

/// Counters at one progress tick, to print per-second rates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Packets in.
    pub pkts_in: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Packets out.
    pub pkts_out: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Expected packets over all subscriber tracks.
    pub expected: u64,
    /// Received packets over all subscriber tracks.
    pub received: u64,
    /// NACKs sent.
    pub nacks: u64,
    /// PLIs sent + received.
    pub plis: u64,
}

/// The per-second line.
#[allow(clippy::too_many_arguments)] // One line, many columns.
pub fn progress_line(
    t: Duration,
    pubs: usize,
    subs: usize,
    pending: usize,
    failed: u64,
    a: &Snapshot,
    b: &Snapshot,
    dt: f64,
) -> String {
    let rate = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / dt;
    let exp = b.expected.saturating_sub(a.expected);
    let got = b.received.saturating_sub(a.received);
    let loss = if exp > 0 {
        exp.saturating_sub(got) as f64 / exp as f64 * 100.0
    } else {
        0.0
    };
    format!(
        "[{:5.1}s] pub {pubs} sub {subs} (pending {pending}, failed {failed}) | in {:.0} pkt/s {:.2} Mbps | out {:.0} pkt/s {:.2} Mbps | loss {loss:.2}% | nack {} pli {}",
        t.as_secs_f64(),
        rate(a.pkts_in, b.pkts_in),
        rate(a.bytes_in, b.bytes_in) * 8.0 / 1e6,
        rate(a.pkts_out, b.pkts_out),
        rate(a.bytes_out, b.bytes_out) * 8.0 / 1e6,
        b.nacks - a.nacks,
        b.plis - a.plis,
    )
}

/// CPU time and memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime, seconds.
    pub cpu_seconds: f64,
    /// Current resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set since start (VmHWM), KiB.
    pub hwm_kib: u64,
}

/// Reads /proc/PID/stat and /proc/PID/status; `None` if the process is gone.
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after ')'.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_seconds: ticks as f64 / hz,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// The server figures of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFigures {
    /// CPU seconds used during the run.
    pub cpu_seconds: f64,
    /// Peak RSS seen during the run (max of samples and VmHWM), KiB.
    pub rss_kib: u64,
    /// RSS before the first peer connected, KiB.
    pub rss_start_kib: u64,
    /// The kernel's peak RSS of the process (VmHWM, since it started), KiB.
    pub hwm_kib: u64,
}

/// Totals for the final report.
pub struct Final<'a> {
    /// Seconds run.
    pub duration_s: f64,
    /// Publishers that sent media.
    pub publishers_connected: usize,
    /// Subscribers that received media.
    pub subscribers_connected: usize,
    /// Publishers asked for.
    pub publishers: usize,
    /// Subscribers asked for.
    pub subscribers: usize,
    /// Expected packets over all subscriber tracks.
    pub expected: u64,
    /// Distinct-or-not packets received (RFC 3550 cumulative loss uses these).
    pub received: u64,
    /// The counters.
    pub stats: &'a Stats,
    /// Server figures, if `--server-pid` was given.
    pub server: Option<ServerFigures>,
    /// The harness's own CPU seconds (all threads) during the run.
    pub harness_cpu_seconds: f64,
}

impl Final<'_> {
    /// Packets lost: expected − received, never negative.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Loss ratio in 0..=1.
    pub fn loss_ratio(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost() as f64 / self.expected as f64
        }
    }

    /// The JSON report.
    pub fn json(&self) -> serde_json::Value {
        let s = self.stats;
        let l = &s.latency;
        let c = &s.connect_ms;
        let server = self.server.map(|f| {
            json!({
                "cpu_seconds": f.cpu_seconds,
                "rss_kib": f.rss_kib,
                "rss_start_kib": f.rss_start_kib,
                "rss_hwm_kib": f.hwm_kib,
                "cpu_us_per_packet": if s.pkts_in > 0 { f.cpu_seconds * 1e6 / s.pkts_in as f64 } else { 0.0 },
                "rss_kib_per_subscriber": if self.subscribers_connected > 0 {
                    f.rss_kib.saturating_sub(f.rss_start_kib) as f64 / self.subscribers_connected as f64 } else { 0.0 },
            })
        });
        json!({
            "duration_s": self.duration_s,
            "publishers": self.publishers,
            "subscribers": self.subscribers,
            "publishers_connected": self.publishers_connected,
            "subscribers_connected": self.subscribers_connected,
            "packets_sent": s.pkts_out,
            "packets_received": self.received,
            "packets_expected": self.expected,
            "packets_lost": self.lost(),
            "loss_ratio": self.loss_ratio(),
            "packets_per_second_in": s.pkts_in as f64 / self.duration_s.max(1e-9),
            "mbps_in": s.bytes_in as f64 * 8.0 / 1e6 / self.duration_s.max(1e-9),
            "latency_us": {
                "samples": l.len(), "p50": l.value_at_quantile(0.5), "p90": l.value_at_quantile(0.9),
                "p99": l.value_at_quantile(0.99), "p999": l.value_at_quantile(0.999), "max": l.max(),
            },
            "connect_ms": {
                "samples": c.len(), "p50": c.value_at_quantile(0.5), "p90": c.value_at_quantile(0.9),
                "p99": c.value_at_quantile(0.99), "max": c.max(),
            },
            "failures": s.failures,
            "nacks_sent": s.nacks_sent, "nacks_received": s.nacks_recv, "retransmits": s.retransmits,
            "plis_sent": s.plis_sent, "plis_received": s.plis_recv,
            "srtp_errors": s.srtp_errors, "packets_without_trailer": s.no_trailer,
            "gro_reads": s.gro_reads.0, "gro_datagrams": s.gro_reads.1,
            "server": server,
            "harness": {
                "cpu_seconds": self.harness_cpu_seconds,
                "recv_delay_us": {
                    "p50": s.recv_delay.value_at_quantile(0.5), "p99": s.recv_delay.value_at_quantile(0.99),
                    "max": s.recv_delay.max(),
                },
            },
        })
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let s = self.stats;
        let l = &s.latency;
        let c = &s.connect_ms;
        let mut t = format!(
            "== shardsfu-bench report ({:.1} s)\n\
             peers:     publishers {}/{} subscribers {}/{} connected\n\
             packets:   sent {} received {} expected {} lost {} (loss {:.3}%)\n\
             rates:     {:.0} pkt/s in, {:.2} Mbps in\n\
             latency:   p50 {} µs  p90 {} µs  p99 {} µs  p99.9 {} µs  max {} µs  ({} samples)\n\
             connect:   p50 {} ms  p90 {} ms  p99 {} ms  max {} ms\n\
             rtcp:      NACKs sent {} (seqs asked of publishers {}, retransmitted {}), PLIs sent {} received {}\n\
             errors:    srtp {} no-trailer {}\n",
            self.duration_s,
            self.publishers_connected,
            self.publishers,
            self.subscribers_connected,
            self.subscribers,
            s.pkts_out,
            self.received,
            self.expected,
            self.lost(),
            self.loss_ratio() * 100.0,
            s.pkts_in as f64 / self.duration_s.max(1e-9),
            s.bytes_in as f64 * 8.0 / 1e6 / self.duration_s.max(1e-9),
            l.value_at_quantile(0.5),
            l.value_at_quantile(0.9),
            l.value_at_quantile(0.99),
            l.value_at_quantile(0.999),
            l.max(),
            l.len(),
            c.value_at_quantile(0.5),
            c.value_at_quantile(0.9),
            c.value_at_quantile(0.99),
            c.max(),
            s.nacks_sent,
            s.nacks_recv,
            s.retransmits,
            s.plis_sent,
            s.plis_recv,
            s.srtp_errors,
            s.no_trailer,
        );
        if s.gro_reads.0 > 0 {
            t.push_str(&format!(
                "gro:       {} datagrams read whole in {} GSO messages\n",
                s.gro_reads.1, s.gro_reads.0
            ));
        }
        if s.failures.is_empty() {
            t.push_str("failures:  none\n");
        } else {
            for (k, v) in &s.failures {
                t.push_str(&format!("failures:  {k}: {v}\n"));
            }
        }
        t.push_str(&format!(
            "harness:   cpu {:.2} s ({:.0}% of one core); socket → harness delay p50 {} µs p99 {} µs max {} µs (not in latency)\n",
            self.harness_cpu_seconds,
            self.harness_cpu_seconds / self.duration_s.max(1e-9) * 100.0,
            s.recv_delay.value_at_quantile(0.5),
            s.recv_delay.value_at_quantile(0.99),
            s.recv_delay.max(),
        ));
        if let Some(f) = self.server {
            let per_pkt = if s.pkts_in > 0 {
                f.cpu_seconds * 1e6 / s.pkts_in as f64
            } else {
                0.0
            };
            t.push_str(&format!(
                "server:    cpu {:.2} s ({:.0}% of one core, {:.2} µs per forwarded packet), peak rss {} KiB (start {} KiB)\n",
                f.cpu_seconds,
                f.cpu_seconds / self.duration_s.max(1e-9) * 100.0,
                per_pkt,
                f.rss_kib,
                f.rss_start_kib
            ));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_issue_keys() {
        let mut s = Stats::new();
        s.latency.record(250).unwrap();
        s.connect_ms.record(40).unwrap();
        s.fail("http_503");
        let f = Final {
            duration_s: 1.0,
            publishers_connected: 1,
            subscribers_connected: 2,
            publishers: 1,
            subscribers: 2,
            expected: 100,
            received: 99,
            stats: &s,
            server: Some(ServerFigures {
                cpu_seconds: 0.5,
                rss_kib: 2000,
                rss_start_kib: 1000,
                hwm_kib: 2100,
            }),
            harness_cpu_seconds: 0.1,
        };
        let j = f.json();
        for k in [
            "duration_s",
            "publishers_connected",
            "subscribers_connected",
            "packets_received",
            "packets_lost",
            "loss_ratio",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert_eq!(j["packets_lost"], 1);
        assert!((j["loss_ratio"].as_f64().unwrap() - 0.01).abs() < 1e-9);
        assert!(j["latency_us"]["p999"].as_u64().unwrap() >= 250);
        assert_eq!(j["failures"]["http_503"], 1);
        assert_eq!(j["server"]["rss_kib"], 2000);
        assert!(f.text().contains("http_503: 1"));
    }

    #[test]
    fn proc_of_self_is_readable() {
        let p = proc_sample(std::process::id()).unwrap();
        assert!(p.rss_kib > 0 && p.hwm_kib >= p.rss_kib);
        assert!(proc_sample(u32::MAX).is_none());
    }
}
