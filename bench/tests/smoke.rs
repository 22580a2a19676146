//! A small version of the acceptance run: a `workers 1` shardsfu,
//! one publisher and 20 subscribers for 5 s. Every peer connects, loss stays
//! under 1%, latency percentiles and the server's CPU time are reported; the
//! same with subscribers reading the server's GSO messages whole (`--gro`).
//! Runs in `./scripts/test` inside the loopback-only namespace.

use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free for TCP and UDP on 127.0.0.1 right now, never one this
/// process was handed before (the kernel may reuse a just-closed probe's).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("local addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
}

/// The root package's server binary (cargo test --workspace builds it).
fn server_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/shardsfu");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "shardsfu", "--bin", "shardsfu"])
            .status()
            .expect("cargo build");
        assert!(st.success(), "building the server failed");
    }
    bin
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn one_publisher_twenty_subscribers() {
    let (r, text, _) = run_harness("plain", &[]);
    assert_eq!(r["gro_reads"], 0, "no --gro, no whole reads: {text}");
}

#[test]
fn one_publisher_twenty_subscribers_reading_gso_messages_whole() {
    let (r, text, log) = run_harness("gro", &["--gro"]);
    // Each keyframe (~13 packets) goes to each player as one GSO message.
    let (reads, datagrams) = (r["gro_reads"].as_u64(), r["gro_datagrams"].as_u64());
    assert!(reads.unwrap() >= 20, "{text}\n{log}");
    assert!(datagrams.unwrap() >= 2 * reads.unwrap(), "{text}");
    assert!(text.contains("read whole in"), "{text}");
}

/// Runs the server and one harness run with `extra` arguments; asserts what
/// every run must show and returns its JSON report, text and log.
fn run_harness(name: &str, extra: &[&str]) -> (serde_json::Value, String, String) {
    let (api, rtc, rtmp) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!(
        "shardsfu-bench-smoke-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("w1.conf");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:{rtmp};\nmax_connections 1000;\ndaemon off;\nsrs_log_tank console;\nworkers 1;\n\
             http_api {{ enabled on; listen 127.0.0.1:{api}; }}\n\
             rtc_server {{ enabled on; listen 127.0.0.1:{rtc}; candidate 127.0.0.1; }}\n\
             vhost __defaultVhost__ {{ rtc {{ enabled on; }} }}\n"
        ),
    )
    .unwrap();
    let child = Command::new(server_binary())
        .arg("-c")
        .arg(&conf)
        .env("RUST_LOG", "warn,rtc_dtls=error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn shardsfu");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", api)).is_err() {
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }

    let json = dir.join("report.json");
    let base = format!("http://127.0.0.1:{api}/rtc/v1");
    let out = Command::new(env!("CARGO_BIN_EXE_shardsfu-bench"))
        .args(["--whip", &format!("{base}/whip/?app=live&stream=smoke%d")])
        .args(["--whep", &format!("{base}/whep/?app=live&stream=smoke%d")])
        .args(["-p", "1", "-n", "20", "-d", "5", "--ramp", "100"])
        .args(extra)
        .arg("--server-pid")
        .arg(server.0.id().to_string())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run shardsfu-bench");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "harness failed:\n{text}\n{log}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(r["publishers_connected"], 1, "{text}\n{log}");
    assert_eq!(r["subscribers_connected"], 20, "{text}\n{log}");
    assert!(r["failures"].as_object().unwrap().is_empty(), "{text}");
    assert!(
        r["packets_received"].as_u64().unwrap() > 20 * 200,
        "about 110 packets/s per subscriber: {text}"
    );
    assert!(r["loss_ratio"].as_f64().unwrap() < 0.01, "{text}");
    let lat = &r["latency_us"];
    let p99 = lat["p99"].as_u64().unwrap();
    assert!(p99 > 0 && p99 <= lat["max"].as_u64().unwrap(), "{text}");
    assert!(lat["p50"].as_u64().unwrap() <= p99);
    assert!(r["connect_ms"]["max"].as_u64().unwrap() > 0);
    assert!(r["server"]["cpu_seconds"].as_f64().unwrap() > 0.0, "{text}");
    assert!(r["server"]["rss_kib"].as_u64().unwrap() > 0);
    assert!(
        text.contains("latency:") && log.contains("pub 1 sub 20"),
        "{text}\n{log}"
    );
    (r, text, log)
}
