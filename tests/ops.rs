//! The process under an operator's tools: signals, systemd's notify socket,
//! the unit file, io_uring being unavailable.

mod common;

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Waits (at most 3 s) until the server's log contains `needle`.
fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hup_usr1_usr2_are_logged_and_never_kill() {
    let ports = Ports::free();
    let mut server = Server::start(&config(ports, 2, ""), ports, &[]);
    for (sig, line) in [
        (libc::SIGHUP, "configuration reloaded"),
        (libc::SIGUSR1, "SIGUSR1: 0 sessions, 0 streams"),
        (libc::SIGUSR2, "SIGUSR2: logs go to stderr"),
    ] {
        server.signal(sig);
        wait_for_log(&server, line);
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "signal {sig} ended the process:\n{}",
            server.log()
        );
        let r = get(&server.api_url("/api/v1/versions"));
        assert_eq!(r.status, 200, "the API still answers after signal {sig}");
    }
    let st = server.terminate(Duration::from_secs(3)).expect("exits");
    assert!(st.success(), "{st}:\n{}", server.log());
}

/// Datagrams received on a notify socket, with their arrival times.
type Received = Arc<Mutex<Vec<(Instant, String)>>>;

/// Waits (at most `limit`) until some datagram contains `needle`; returns
/// when it arrived.
fn wait_for_notify(got: &Received, needle: &str, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if let Some((t, _)) = got.lock().unwrap().iter().find(|(_, m)| m.contains(needle)) {
            return *t;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} on the notify socket: {:?}",
            got.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn systemd_notify_ready_status_watchdog_stopping() {
    let dir = TempDir::new("notify");
    let path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let ports = Ports::free();
    let api: std::net::SocketAddr = ([127, 0, 0, 1], ports.api).into();
    let got: Received = Default::default();
    // The API's state at the moment READY=1 arrived: one connect, no retry.
    let api_at_ready: Arc<Mutex<Option<bool>>> = Default::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (got, api_at_ready, done) = (got.clone(), api_at_ready.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.contains("READY=1") {
                    let ok = TcpStream::connect_timeout(&api, Duration::from_millis(500)).is_ok();
                    *api_at_ready.lock().unwrap() = Some(ok);
                }
                got.lock().unwrap().push((Instant::now(), msg));
            }
        })
    };
    let started = Instant::now();
    let path_str = path.to_str().unwrap().to_string();
    let mut server = Server::start(
        &config(ports, 2, ""),
        ports,
        &[("NOTIFY_SOCKET", &path_str), ("WATCHDOG_USEC", "400000")],
    );
    let ready = wait_for_notify(&got, "READY=1", Duration::from_secs(5));
    eprintln!("READY=1 after {:?}", ready - started);
    assert_eq!(
        *api_at_ready.lock().unwrap(),
        Some(true),
        "the API port accepts when READY=1 arrives"
    );
    wait_for_notify(&got, "STATUS=0 sessions, 0 streams", Duration::from_secs(1));
    // Half of WATCHDOG_USEC: a ping every 200 ms while the shards tick.
    let deadline = Instant::now() + Duration::from_secs(2);
    while got
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "fewer than 3 WATCHDOG=1 in 2 s: {:?}",
            got.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!got
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.contains("STOPPING=1")));
    let term = Instant::now();
    let st = server.terminate(Duration::from_secs(3)).expect("exits");
    assert!(st.success(), "{st}:\n{}", server.log());
    let stopping = wait_for_notify(&got, "STOPPING=1", Duration::from_secs(1));
    assert!(stopping >= term, "STOPPING=1 only after SIGTERM");
    eprintln!("STOPPING=1 {:?} after SIGTERM", stopping - term);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
}

#[test]
fn without_notify_socket_nothing_is_sent_and_it_runs() {
    // NOTIFY_SOCKET unset (Server::start does not pass the test's own): the
    // notify code stays quiet and the server serves as before.
    let ports = Ports::free();
    let server = Server::start_with(&config(ports, 1, ""), ports, &[], |c| {
        c.env_remove("NOTIFY_SOCKET");
    });
    assert_eq!(get(&server.api_url("/api/v1/versions")).status, 200);
    assert!(!server.log().contains("notify"), "{}", server.log());
}

/// Whether `tool` runs here; prints why a test is skipped when it does not.
fn have(tool: &str, test: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("{test}: skipped: `{tool}` is not installed (Debian package systemd)");
    }
    ok
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn the_unit_file_verifies() {
    if !have("systemd-analyze", "the_unit_file_verifies") {
        return;
    }
    // `verify` wants ExecStart's binary to exist: point it at the built one.
    let unit = std::fs::read_to_string(repo_file("configs/shardsfu.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/shardsfu "), "{unit}");
    let unit = unit.replace(
        "\nExecStart=/usr/bin/shardsfu ",
        &format!("\nExecStart={} ", binary().display()),
    );
    let dir = TempDir::new("unit");
    let path = dir.0.join("shardsfu.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    // It exits 0 on unknown keys and unparsable values; any output is a finding.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    // io_uring must pass the unit's SystemCallFilter=.
    let filter = std::process::Command::new("systemd-analyze")
        .args(["syscall-filter", "@aio"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&filter.stdout).contains("io_uring_setup"));
}

#[test]
fn the_sysusers_file_creates_the_user() {
    if !have("systemd-sysusers", "the_sysusers_file_creates_the_user") {
        return;
    }
    let root = TempDir::new("sysusers");
    let d = root.0.join("usr/lib/sysusers.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(root.0.join("etc")).unwrap();
    std::fs::copy(
        repo_file("configs/shardsfu.sysusers"),
        d.join("shardsfu.conf"),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.0.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(root.0.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("shardsfu:x:") && passwd.contains(":/var/lib/shardsfu:"),
        "{passwd}"
    );
}

/// A seccomp filter that makes io_uring_setup fail with EPERM, as Docker's
/// default profile does, and allows everything else.
fn deny_io_uring_filter() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    vec![
        // A = seccomp_data.nr (offset 0)
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

#[test]
fn without_io_uring_it_exits_with_one_line_saying_how_to_fix_it() {
    use std::os::unix::process::CommandExt;
    let ports = Ports::free();
    let dir = TempDir::new("uring");
    let conf = dir.0.join("c.conf");
    std::fs::write(&conf, config(ports, 1, "")).unwrap();
    let filter = deny_io_uring_filter();
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("-c").arg(&conf).env("RUST_LOG", "info");
    // SAFETY: between fork and exec only two prctl(2) calls, on memory
    // allocated before the fork; no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let out = cmd.output().expect("run under the seccomp filter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "exit {} after {:?}: {stderr}",
        out.status,
        started.elapsed()
    );
    assert!(!out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    for want in [
        "io_uring is unavailable",
        "Operation not permitted",
        "--security-opt seccomp=unconfined",
        "kernel.io_uring_disabled=0",
    ] {
        assert!(lines[0].contains(want), "{want:?} in {stderr}");
    }
}

/// The first candidate line of an SDP answer.
fn candidate(answer: &str) -> String {
    answer
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .unwrap_or_else(|| panic!("no candidate in\n{answer}"))
        .to_string()
}

#[test]
fn sighup_applies_a_new_configuration_and_refuses_a_broken_one() {
    let ports = Ports::free();
    let conf = config(ports, 2, "");
    let server = Server::start(&conf, ports, &[]);
    let offer =
        std::fs::read_to_string(fixtures().join("sdp").join("aiortc_whip_h264.sdp")).unwrap();
    let whip = |stream: &str| {
        let url = server.api_url(&format!("/rtc/v1/whip/?app=live&stream={stream}"));
        let r = post(&url, "application/sdp", &offer);
        assert_eq!(r.status, 201, "{}", r.body);
        r
    };
    let before = whip("before");
    assert!(candidate(&before.body).contains(" 127.0.0.1 "));
    assert!(before.body.contains(" nack\r\n"));
    // A new candidate and NACK off: applied to new sessions.
    let changed = conf
        .replace("candidate 127.0.0.1;", "candidate 127.0.0.9;")
        .replace("rtc { enabled on;", "rtc { enabled on; nack off;");
    std::fs::write(server.conf_path(), &changed).unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "configuration reloaded");
    let after = whip("after");
    assert!(
        candidate(&after.body).contains(" 127.0.0.9 "),
        "{}",
        after.body
    );
    assert!(!after.body.contains(" nack\r\n"), "{}", after.body);
    // The session made before the reload is still there, and ends with DELETE.
    let loc = before.header("location").unwrap().to_string();
    assert_eq!(delete(&server.api_url(&loc)).status, 200);
    // A broken file is refused with its line; the running configuration stays.
    std::fs::write(
        server.conf_path(),
        format!("{changed}\nvhost broken {{ rtc {{ enabled on; }}\n"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "reload refused");
    assert!(
        server.log().contains("test.conf:"),
        "names the line:\n{}",
        server.log()
    );
    let still = whip("still");
    assert!(
        candidate(&still.body).contains(" 127.0.0.9 "),
        "{}",
        still.body
    );
    // A directive that needs a restart is named.
    std::fs::write(
        server.conf_path(),
        changed.replace("workers 2;", "workers 1;"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "need a restart to apply: workers");
}
