//! A DNS server that never answers must not stall a shard (issue 14: a WHIP
//! POST whose `Host` is a name used to run getaddrinfo on the shard thread,
//! freezing its signaling, media and timers for as long as the resolver
//! took: ~10 s with glibc's defaults).
//!
//! The test re-runs itself in fresh mount and network namespaces
//! (`unshare -m -n`, plus `-r` when not root): only `lo` exists, and
//! `/etc/resolv.conf`, `/etc/hosts` and `/etc/nsswitch.conf` are
//! bind-mounted so that every name goes to 127.0.0.1:53, where a UDP socket
//! reads the queries, counts them and never answers. The real server runs
//! there with two workers and a configured candidate host name; the test
//! pins keep-alive API connections to each shard (`served_by_shard`) and
//! checks that a POST needing a lookup waits no longer than the resolver's
//! deadline, that meanwhile both shards answer other signaling at once and
//! keep ticking, and that SIGTERM still stops the process quickly.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Ports, Server, TempDir};
use shardsfu::server::resolver::LOOKUP_TIMEOUT;

/// Set in the environment of the re-run inside the namespaces.
const INSIDE: &str = "SHARDSFU_DNS_TEST_INSIDE";
/// The test's own name, for the re-run.
const NAME: &str = "a_silent_dns_server_stalls_no_shard";
/// Signaling that needs no lookup must be answered within this, stall or not.
const PROMPT: Duration = Duration::from_millis(200);
/// What a POST needing a fresh lookup may take: the deadline and a margin.
const BOUNDED: Duration = Duration::from_millis(LOOKUP_TIMEOUT.as_millis() as u64 + 700);

#[test]
fn a_silent_dns_server_stalls_no_shard() {
    if std::env::var_os(INSIDE).is_some() {
        inside_the_namespaces();
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = Command::new("unshare");
    if !root {
        cmd.arg("-r");
    }
    let out = cmd
        .args(["-m", "-n", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: cannot run unshare: {e}");
            return;
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && text.contains("unshare failed") {
        eprintln!("skipped: no mount and network namespaces here:\n{text}");
        return;
    }
    assert!(out.status.success(), "inside the namespaces:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the test did not run inside:\n{text}"
    );
    eprintln!("{text}");
}

/// A UDP "DNS server" on 127.0.0.1:53 that never answers: the names it was
/// asked for, in order.
struct SilentDns {
    names: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl SilentDns {
    fn start() -> SilentDns {
        let sock = UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let names = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, st) = (names.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                if let Ok((len, _)) = sock.recv_from(&mut buf) {
                    n.lock().unwrap().push(qname(&buf[..len]));
                }
            }
        });
        SilentDns { names, stop }
    }

    fn names(&self) -> Vec<String> {
        self.names.lock().unwrap().clone()
    }
}

impl Drop for SilentDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The question name of a DNS query ("?" if it does not parse).
fn qname(q: &[u8]) -> String {
    let mut labels = Vec::new();
    let mut i = 12;
    while let Some(&len) = q.get(i) {
        if len == 0 || len & 0xc0 != 0 {
            break;
        }
        let Some(l) = q.get(i + 1..i + 1 + usize::from(len)) else {
            return "?".into();
        };
        labels.push(String::from_utf8_lossy(l).into_owned());
        i += 1 + usize::from(len);
    }
    labels.join(".")
}

/// Bind-mounts a file holding `text` over `target` (in this mount
/// namespace only: unshare makes its mounts private).
fn mount_over(dir: &TempDir, target: &str, text: &str) {
    let src = dir.0.join(target.rsplit('/').next().unwrap());
    std::fs::write(&src, text).unwrap();
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let (src, dst) = (c(src.to_str().unwrap()), c(target));
    // SAFETY: mount(2) with valid NUL-terminated paths and no data.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(
        rc,
        0,
        "bind-mount over {target}: {}",
        std::io::Error::last_os_error()
    );
}

/// One keep-alive API connection and the shard that accepted it.
struct Conn {
    s: TcpStream,
    shard: u64,
}

impl Conn {
    /// Sends a request; the answer is read by [`Conn::read`].
    fn send(&mut self, method: &str, target: &str, host: &str, body: &str) {
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.s.write_all(req.as_bytes()).unwrap();
    }

    /// One response: status and body (read by Content-Length); status 0
    /// if none came within the read timeout.
    fn read(&mut self) -> (u16, String) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]);
                    return (status, body.into_owned());
                }
            }
            let n = match self.s.read(&mut chunk) {
                Ok(n) => n,
                // The read timeout: what a stalled shard gives.
                Err(e) => return (0, format!("no response: {e}")),
            };
            assert!(n > 0, "closed mid-response");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A request and its answer, timed.
    fn exchange(
        &mut self,
        method: &str,
        target: &str,
        host: &str,
        body: &str,
    ) -> (u16, String, Duration) {
        let t0 = Instant::now();
        self.send(method, target, host, body);
        let (status, body) = self.read();
        (status, body, t0.elapsed())
    }
}

/// Connections until there are `per_shard` on each of the two shards.
fn pinned(api: SocketAddr, per_shard: usize) -> [Vec<Conn>; 2] {
    let mut by_shard: [Vec<Conn>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..400 {
        if by_shard.iter().all(|v| v.len() >= per_shard) {
            return by_shard;
        }
        let s = TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Conn { s, shard: 0 };
        let (status, body, _) = c.exchange("GET", "/api/v1/summaries", &api.to_string(), "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        c.shard = v["data"]["served_by_shard"]
            .as_u64()
            .expect("served_by_shard");
        let list = &mut by_shard[c.shard as usize];
        if list.len() < per_shard {
            list.push(c);
        }
    }
    panic!("could not get {per_shard} connections on each shard");
}

fn whip(stream: &str) -> String {
    format!("/rtc/v1/whip/?app=live&stream={stream}")
}

/// (id, shard, `alive` seconds) of every client in `/api/v1/clients`.
fn alive(conn: &mut Conn, host: &str) -> Vec<(String, u64, f64)> {
    let (status, body, _) = conn.exchange("GET", "/api/v1/clients", host, "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["shard"].as_u64().unwrap_or(u64::MAX),
                c["alive"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect()
}

fn inside_the_namespaces() {
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("run ip");
    assert!(up.success(), "ip link set lo up");
    let etc = TempDir::new("dns-etc");
    // glibc's defaults, written out: a silent server costs 2 x 5 s per name.
    mount_over(
        &etc,
        "/etc/resolv.conf",
        "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n",
    );
    mount_over(&etc, "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
    mount_over(
        &etc,
        "/etc/nsswitch.conf",
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
    );
    let dns = SilentDns::start();

    let ports = Ports::free();
    // SIGTERM drains for grace_final_wait while sessions stay (tests/drain.rs):
    // keep it short, so the 2 s below is about DNS, not the drain.
    let conf = format!("grace_final_wait 300;\n{}", common::config(ports, 2, ""))
        .replace("candidate 127.0.0.1;", "candidate cand.stalled.test;");
    let mut server = Server::start(&conf, ports, &[]);
    let api = server.api;
    let ip_host = api.to_string();
    let offer =
        std::fs::read_to_string(common::fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let [mut on0, mut on1] = pinned(api, 5);
    let (probe0, probe1) = (on0.remove(0), on1.remove(0));
    let mut probes = [probe0, probe1];

    // A session per shard with an IP Host (no lookup): the configured
    // candidate name is in the answer as it is, at once.
    for (i, p) in probes.iter_mut().enumerate() {
        let (status, answer, took) =
            p.exchange("POST", &whip(&format!("probe{i}")), &ip_host, &offer);
        assert_eq!(status, 201, "{answer}");
        assert!(
            answer.contains(" cand.stalled.test "),
            "the configured candidate name is missing:\n{answer}"
        );
        assert!(took < PROMPT, "an IP-Host POST took {took:?}");
    }

    // One POST whose Host is a name: it waits for the lookup, never past
    // the deadline; the same name again is answered from the cache.
    let first = &mut on0[0];
    let (status, answer, took) =
        first.exchange("POST", &whip("named0"), "n0.stalled.test:1985", &offer);
    assert_eq!(status, 201, "{answer}");
    assert!(took < BOUNDED, "a POST needing a lookup took {took:?}");
    let (status, _, again) =
        first.exchange("POST", &whip("named1"), "n0.stalled.test:1985", &offer);
    assert_eq!(status, 201);
    assert!(again < PROMPT, "a cached failure took {again:?}");

    // Eight such POSTs at once, four on each shard, each a fresh name.
    let t0 = Instant::now();
    let mut named: Vec<Conn> = on0.into_iter().chain(on1).collect();
    for (i, c) in named.iter_mut().enumerate() {
        c.send(
            "POST",
            &whip(&format!("par{i}")),
            &format!("p{i}.stalled.test"),
            &offer,
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    // Meanwhile each shard answers other signaling at once and ticks
    // (its clients' snapshot, refreshed every second by the tick, moves on).
    for (i, p) in probes.iter_mut().enumerate() {
        p.s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let (status, body, took) =
            p.exchange("POST", &whip(&format!("during{i}")), &ip_host, &offer);
        assert!(
            status == 201 && took < PROMPT,
            "shard {}: an IP-Host POST took {took:?} while lookups hung: {status} {body}",
            p.shard
        );
        let (status, _, took) = p.exchange("GET", "/api/v1/versions", &ip_host, "");
        assert_eq!(status, 200);
        assert!(took < PROMPT, "shard {}: GET took {took:?}", p.shard);
    }
    let before = alive(&mut probes[0], &ip_host);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        t0.elapsed() < LOOKUP_TIMEOUT,
        "the checks took too long to show anything"
    );
    let after = alive(&mut probes[1], &ip_host);
    for shard in 0..2 {
        let ticked = before
            .iter()
            .filter(|(_, s, _)| *s == shard)
            .all(|(id, _, a)| after.iter().any(|(id2, _, b)| id2 == id && *b >= a + 0.5));
        assert!(
            before.iter().any(|(_, s, _)| *s == shard) && ticked,
            "shard {shard} stopped ticking while lookups hung: before {before:?}, after {after:?}"
        );
    }
    for c in named.iter_mut() {
        let (status, body) = c.read();
        assert_eq!(status, 201, "{body}");
    }
    let all = t0.elapsed();
    assert!(all < BOUNDED, "eight parallel POSTs took {all:?}");

    let asked = dns.names();
    for i in 0..8 {
        let name = format!("p{i}.stalled.test");
        assert!(
            asked.contains(&name),
            "the resolver was never asked for {name}: {asked:?}"
        );
    }
    eprintln!(
        "silent resolver: {} queries ({:?}); one lookup POST {took:?}, cached {again:?}, 8 parallel {all:?}",
        asked.len(),
        {
            let mut u = asked.clone();
            u.sort();
            u.dedup();
            u
        }
    );

    // Lookups in flight (fresh names) do not hold up SIGTERM.
    for (i, c) in named.iter_mut().enumerate() {
        c.send(
            "POST",
            &whip(&format!("end{i}")),
            &format!("e{i}.stalled.test"),
            &offer,
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let status = server
        .terminate(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running 2 s after SIGTERM:\n{}", server.log()));
    assert!(status.success(), "exit status {status}\n{}", server.log());
    eprintln!(
        "SIGTERM with lookups in flight: stopped in {:?}",
        t.elapsed()
    );
}
