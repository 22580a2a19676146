//! The process under an operator's tools: signals, systemd's notify socket,
//! the unit file, io_uring being unavailable.

mod common;

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
