//! Starting the real `shardsfu` binary for a test, and talking to it.
#![allow(dead_code)]

pub mod cluster;
pub mod ffmpeg;
pub mod peer;
pub mod redis;
pub mod rtmp;
pub mod sfu;
pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A port that is free for both TCP and UDP on 127.0.0.1 right now, from
/// below the kernel's ephemeral range: a port the kernel may hand to some
/// client's socket (this test's own, bound to port 0) between the probe
/// and the server's bind could not be served, so none is used.
pub fn free_port() -> u16 {
    // Never give this process the same port twice (a server's RTMP and
    // HTTP ports once came out equal, and its config was refused).
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let below = ephemeral_low().max(LOWEST + 1_000);
    let span = below - LOWEST;
    // Processes start at different places, so two test binaries seldom probe
    // the same ports; the probe settles the rest.
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..span {
        let step = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (LOWEST + seed.wrapping_add(step) % span) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains(&port) {
            continue;
        }
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if tcp.is_ok() && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port in {LOWEST}..{below}");
}

/// The first port of the kernel's ephemeral range (32768 by default).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The ports a test server listens on (all on 127.0.0.1).
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub rtmp: u16,
    pub api: u16,
    pub http: u16,
    pub rtc: u16,
}

impl Ports {
    pub fn free() -> Self {
        Self {
            rtmp: free_port(),
            api: free_port(),
            http: free_port(),
            rtc: free_port(),
        }
    }
}

/// A config for tests: everything on 127.0.0.1, candidate 127.0.0.1.
pub fn config(ports: Ports, workers: usize, extra_vhost_rtc: &str) -> String {
    format!(
        "listen 127.0.0.1:{rtmp};\nmax_connections 1000;\ndaemon off;\nsrs_log_tank console;\nworkers {workers};\n\
         http_server {{ enabled on; listen 127.0.0.1:{http}; dir {dir}; }}\n\
         http_api {{ enabled on; listen 127.0.0.1:{api}; }}\n\
         rtc_server {{ enabled on; listen 127.0.0.1:{rtc}; candidate 127.0.0.1; }}\n\
         vhost __defaultVhost__ {{ rtc {{ enabled on; {extra_vhost_rtc} }} }}\n",
        rtmp = ports.rtmp,
        http = ports.http,
        api = ports.api,
        rtc = ports.rtc,
        dir = fixtures().join("www").display(),
    )
}

/// `base` (from [`config`]) with its default-vhost line replaced by `vhost`.
pub fn with_vhost(base: &str, vhost: &str) -> String {
    let mut out: String = base
        .lines()
        .filter(|l| !l.starts_with("vhost "))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(vhost);
    out
}

/// Waits until `cond` holds (polling every 100 ms), up to `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shardsfu"))
}

/// A running server; stopped with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub api: SocketAddr,
    pub http: SocketAddr,
    pub rtc: SocketAddr,
    /// stdout and stderr, line by line as they come.
    pub log: Arc<Mutex<String>>,
    /// stderr alone (where the logs go).
    pub stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Server {
    /// The configuration file the server was started with (rewrite it and
    /// send SIGHUP to reload).
    pub fn conf_path(&self) -> PathBuf {
        self._dir.0.join("test.conf")
    }
}

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "shardsfu-test-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (rand_u64() & 0xffff_ffff) as u128
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u64::from_le_bytes(b)
}

impl Server {
    /// Starts the binary with `conf` and extra environment; waits until the
    /// API port accepts connections.
    pub fn start(conf: &str, ports: Ports, env: &[(&str, &str)]) -> Server {
        Self::start_with(conf, ports, env, |_| {})
    }

    pub fn start_with(
        conf: &str,
        ports: Ports,
        env: &[(&str, &str)],
        tweak: impl FnOnce(&mut Command),
    ) -> Server {
        Self::start_on([127, 0, 0, 1], conf, ports, env, tweak)
    }

    /// As [`Server::start_with`] for a server whose API, HTTP and RTC
    /// listen on loopback address `ip` (e.g. 127.0.0.2 for a cluster node).
    pub fn start_on(
        ip: [u8; 4],
        conf: &str,
        ports: Ports,
        env: &[(&str, &str)],
        tweak: impl FnOnce(&mut Command),
    ) -> Server {
        let dir = TempDir::new("srv");
        let mut cmd = Command::new(binary());
        // An empty `conf` runs the embedded default configuration.
        if !conf.is_empty() {
            let path = dir.0.join("test.conf");
            std::fs::write(&path, conf).unwrap();
            cmd.arg("-c").arg(&path);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        // Keep the environment the test gives, not the developer's SRS_* overrides.
        for (k, _) in std::env::vars() {
            if k.starts_with("SRS_") || k == "CANDIDATE" {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "info,rtc_dtls=error");
        for (k, v) in env {
            cmd.env(k, v);
        }
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("spawn shardsfu");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        for (pipe, only) in [
            (
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                None,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                Some(stderr.clone()),
            ),
        ] {
            let Some(pipe) = pipe else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if std::env::var_os("SHARDSFU_TEST_LOG").is_some() {
                        eprintln!("[server] {line}");
                    }
                    if let Some(only) = &only {
                        let mut l = only.lock().unwrap();
                        l.push_str(&line);
                        l.push('\n');
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let api: SocketAddr = (ip, ports.api).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        // The API answering is not enough: one shard's port answers before
        // the other shards have bound theirs, so wait for `ready` too (a
        // server whose API port is not a plain HTTP API answers no
        // summaries and is taken as it is).
        loop {
            if TcpStream::connect_timeout(&api, Duration::from_millis(100)).is_ok_and(answers)
                && summaries_ready(api) != Some(false)
            {
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("shardsfu exited early ({st}):\n{}", log.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "shardsfu did not listen on {api} with every shard bound:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            api,
            http: (ip, ports.http).into(),
            rtc: (ip, ports.rtc).into(),
            log,
            stderr,
            _dir: dir,
        }
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    /// `data.totals` of `/api/v1/summaries`: every shard's counters added up.
    pub fn totals(&self) -> serde_json::Value {
        get(&self.api_url("/api/v1/summaries")).json()["data"]["totals"].clone()
    }

    /// Waits (at most 10 s: CI machines run other jobs) until the counter
    /// `key` reaches `at_least`; returns its value.
    pub fn wait_for_counter(&self, key: &str, at_least: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.totals()[key]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {key}"));
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.signal_and_wait(libc::SIGTERM, limit)
    }

    /// Sends `sig` to the server.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Sends `sig` and waits up to `limit` for the server to exit.
    pub fn signal_and_wait(
        &mut self,
        sig: i32,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        self.signal(sig);
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the server to exit (no signal sent).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test shows what the server said (the test harness
        // captures this with the test's own output).
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "--- the server's last {} log lines (of {}) ---\n{}",
                tail.len(),
                lines.len(),
                tail.join("\n")
            );
        }
        // SIGINT stops at once (SIGTERM would drain, up to grace_final_wait).
        if self
            .signal_and_wait(libc::SIGINT, Duration::from_secs(3))
            .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `data.ready` of the summaries at `api`, `None` when no JSON with it
/// comes back (an HTTPS or non-API port).
fn summaries_ready(api: SocketAddr) -> Option<bool> {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /api/v1/summaries HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    let (_, body) = reply.split_once("\r\n\r\n")?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"]["ready"].as_bool()
}

/// Whether the server behind `s` answers a request (any answer, or a close:
/// an HTTPS port refuses plain text) rather than leaving it unread: a port
/// listens before its shard's accept loop runs, which on a loaded machine
/// can be seconds later.
fn answers(mut s: TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = s.write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        // Any byte or a close (0) is an answer.
        Ok(_n) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// An HTTP agent that reports 4xx/5xx as responses, not errors, and opens a
/// new connection per request (so requests spread over the shards).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// A plain response: status, headers (lowercased names), body.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn into_resp(r: ureq::http::Response<ureq::Body>) -> Resp {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r.into_body().read_to_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

pub fn post(url: &str, content_type: &str, body: &str) -> Resp {
    let r = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("POST");
    into_resp(r)
}

pub fn get(url: &str) -> Resp {
    into_resp(agent().get(url).call().expect("GET"))
}

pub fn delete(url: &str) -> Resp {
    into_resp(agent().delete(url).call().expect("DELETE"))
}

/// A raw HTTP/1.1 exchange on its own connection: method, target, extra
/// headers, body. Returns status, headers and body.
pub fn exchange(
    api: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Sends raw bytes on a new connection and reads the whole reply (until close or timeout).
pub fn raw_http(addr: SocketAddr, request: &[u8], timeout: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A USE-CANDIDATE Binding request from the controlling client
/// `client_ufrag` to the server `server_ufrag`, signed with the server's
/// `pwd` (what a WebRTC client sends to the answer's candidate).
pub fn binding_check(
    txid: &[u8; 12],
    server_ufrag: &str,
    client_ufrag: &str,
    pwd: &str,
) -> Vec<u8> {
    let username = format!("{server_ufrag}:{client_ufrag}");
    let req = shardsfu::ice::BindingRequest {
        username: &username,
        priority: 1,
        ice_controlling: Some(7),
        use_candidate: true,
    };
    let mut out = Vec::new();
    shardsfu::ice::write_binding_request(txid, &req, pwd.as_bytes(), &mut out);
    out
}

/// The `a=ice-ufrag` / `a=ice-pwd` of an SDP.
pub fn ice_credentials(sdp: &str) -> (String, String) {
    let find = |k: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(k).map(str::to_string))
            .unwrap_or_else(|| panic!("no {k} in\n{sdp}"))
    };
    (find("a=ice-ufrag:"), find("a=ice-pwd:"))
}

/// Connects to `addr` and sends `bytes` one byte every `gap` (a slowloris)
/// until the server closes the connection or `limit` passes. Returns how
/// long after the connect the server closed it, `None` if it never did.
pub fn trickle_until_closed(
    addr: SocketAddr,
    bytes: &[u8],
    gap: Duration,
    limit: Duration,
) -> Option<Duration> {
    let mut s = TcpStream::connect(addr).expect("connect");
    let start = Instant::now();
    s.set_read_timeout(Some(gap)).unwrap();
    let mut buf = [0u8; 4096];
    for b in bytes.iter().cycle() {
        if start.elapsed() > limit {
            return None;
        }
        if s.write_all(std::slice::from_ref(b)).is_err() {
            return Some(start.elapsed());
        }
        // Waits `gap` for an answer; EOF or a reset means closed.
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// A TCP connection to `addr` from `from`, an address of the loopback
/// range (127.0.0.0/8: the test namespace's `lo` accepts any of them).
pub fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `request` from `from` on a connection of its own and reads the
/// reply until the server closes (or resets) the connection, or 5 s pass.
pub fn request_from(from: [u8; 4], addr: SocketAddr, request: &[u8]) -> String {
    let mut s = connect_from(from, addr);
    let _ = s.write_all(request);
    read_until_closed(&mut s).0
}

/// Reads until the peer closes or resets (`true`), or the read timeout
/// passes (`false`); returns what arrived.
pub fn read_until_closed(s: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// An HTTP/1.1 request with a body, `Connection: close`.
pub fn http_post(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
