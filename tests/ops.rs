//! The process under an operator's tools: signals, systemd's notify socket,
//! the unit file, io_uring being unavailable.

mod common;

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn signal(server: &Server, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, sig) }, 0);
}

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
        (
            libc::SIGHUP,
            "reload requested: not applied yet, restart to change the configuration",
        ),
        (libc::SIGUSR1, "SIGUSR1: 0 sessions, 0 streams"),
        (libc::SIGUSR2, "SIGUSR2: logs go to stderr"),
    ] {
        signal(&server, sig);
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
