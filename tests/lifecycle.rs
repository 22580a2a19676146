//! The process as an operator sees it: the command line, config errors,
//! shutdown on signals, session timeouts and running as a non-root user.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn version_help_and_config_test() {
    let out = Command::new(binary()).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && help.contains("-c") && help.contains("-t"),
        "{help}"
    );

    let dir = TempDir::new("cli");
    let good = dir.0.join("good.conf");
    std::fs::write(
        &good,
        "listen 1935;\nrtc_server { enabled on; listen 8000; }\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.0.join("bad.conf");
    std::fs::write(
        &bad,
        "listen 1935;\n# a comment\nrtc_server {\n    enabled on;\n    listen eight-thousand;\n}\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf:5"),
        "names the file and line 5: {err}"
    );
    assert!(err.contains("listen"), "names the directive: {err}");

    let unclosed = dir.0.join("unclosed.conf");
    std::fs::write(
        &unclosed,
        "vhost __defaultVhost__ {\n  rtc {\n    enabled on;\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&unclosed)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unclosed.conf:"));

    let missing = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(dir.0.join("nope.conf"))
        .output()
        .unwrap();
    assert!(!missing.status.success());

    for shipped in ["rtc.conf", "rtmp2rtc.conf", "rtc2rtmp.conf", "full.conf"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(shipped);
        let out = Command::new(binary())
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shipped}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn unknown_directives_are_warned_about() {
    let dir = TempDir::new("warn");
    let conf = dir.0.join("w.conf");
    std::fs::write(&conf, "listen 1935;\nfrobnicate yes;\n").unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("frobnicate"),
        "the unknown directive is named: {all}"
    );
    assert!(all.contains("w.conf:2"), "{all}");
}

#[test]
fn directives_without_effect_are_warned_about_with_their_line() {
    let dir = TempDir::new("noeffect");
    let conf = dir.0.join("n.conf");
    std::fs::write(
        &conf,
        "listen 1935;\nvhost __defaultVhost__ {\n    min_latency on;\n    play {\n        \
         mw_latency 100;\n    }\n}\nvhost example.com {\n}\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (line, directive) in [
        (3, "vhost.min_latency"),
        (5, "vhost.play.mw_latency"),
        (8, "vhost"),
    ] {
        let want = format!("n.conf:{line}: directive \"{directive}\"");
        assert!(all.contains(&want), "{want} in: {all}");
    }
    assert!(all.contains("has no effect in shardsfu"), "{all}");
    assert!(all.contains("(3 warnings)"), "{all}");
}

/// The unit's `TimeoutStopSec` (configs/shardsfu.service).
fn unit_stop_timeout() -> Duration {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/shardsfu.service"),
    )
    .unwrap();
    let secs = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("the unit sets TimeoutStopSec");
    Duration::from_secs(secs.trim().parse().unwrap())
}

#[test]
fn sigterm_with_sessions_open_drains_and_exits_0_within_the_units_stop_timeout() {
    let ports = Ports::free();
    let mut srv = Server::start(&config(ports, 2, ""), ports, &[]);
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    for i in 0..10 {
        let r = post(
            &srv.api_url(&format!("/rtc/v1/whip/?app=live&stream=t{i}")),
            "application/sdp",
            &offer,
        );
        assert_eq!(r.status, 201);
    }
    let t0 = Instant::now();
    let limit = unit_stop_timeout();
    let status = srv
        .terminate(limit)
        .unwrap_or_else(|| panic!("still running {limit:?} after SIGTERM"));
    assert!(status.success(), "exit status {status}\n{}", srv.log());
    // The sessions never leave: the drain takes grace_final_wait (3.2 s).
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(3100), "{took:?}");
    assert!(took < limit, "{took:?}");
}

#[test]
fn stun_timeout_ends_sessions_that_stop_checking() {
    let ports = Ports::free();
    let srv = Server::start(&config(ports, 2, "stun_timeout 1;"), ports, &[]);
    let offer = std::fs::read_to_string(fixtures().join("sdp/aiortc_whip_h264.sdp")).unwrap();
    let r = post(
        &srv.api_url("/rtc/v1/whip/?app=live&stream=quiet"),
        "application/sdp",
        &offer,
    );
    assert_eq!(r.status, 201);
    let (ufrag, pwd) = ice_credentials(&r.body);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let out = binding_check(&[3; 12], &ufrag, "n3R2", &pwd);
    // Checks every 300 ms keep it alive past the 1 s timeout...
    for _ in 0..6 {
        sock.send_to(&out, srv.rtc).unwrap();
        let mut buf = [0u8; 512];
        sock.recv_from(&mut buf).expect("answered while alive");
        std::thread::sleep(Duration::from_millis(300));
    }
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(s["data"]["sessions"], 1, "alive while checks come");
    // ...and silence ends it.
    std::thread::sleep(Duration::from_millis(1600));
    let s = get(&srv.api_url("/api/v1/summaries")).json();
    assert_eq!(s["data"]["sessions"], 0, "{}", srv.log());
    assert_eq!(s["data"]["totals"]["sessions_timed_out"], 1);
    assert_eq!(s["data"]["streams"], 0, "the stream was released");
    sock.send_to(&out, srv.rtc).unwrap();
    let mut buf = [0u8; 512];
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "a dead session is not answered"
    );
}

/// Under the default 8 MiB memlock limit, as an unprivileged user, glommio
/// starts without io_uring warnings.
#[test]
fn runs_as_non_root_without_io_uring_warnings() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("not root: this test needs to switch to user nobody; running as is");
    }
    let ports = Ports::free();
    let conf = config(ports, 2, "");
    let dir = TempDir::new("nonroot");
    let path = dir.0.join("n.conf");
    std::fs::write(&path, &conf).unwrap();
    // World-readable config and directory for user nobody.
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let script = format!(
        "ulimit -l 8192 && exec setpriv --reuid=65534 --regid=65534 --clear-groups {} -c {}",
        binary().display(),
        path.display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let api: std::net::SocketAddr = ([127, 0, 0, 1], ports.api).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut up = false;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(api).is_ok() {
            up = true;
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let versions = if up {
        get(&format!("http://{api}/api/v1/versions")).status
    } else {
        0
    };
    // SAFETY: kill(2) on our child (the sh exec'd into setpriv exec'd into shardsfu).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(up, "did not start as nobody:\n{log}");
    assert_eq!(versions, 200);
    assert!(out.status.success(), "{log}");
    let lower = log.to_lowercase();
    for bad in ["registering buffers", "memlock", "io_uring", "panicked"] {
        assert!(!lower.contains(bad), "unexpected {bad:?} in:\n{log}");
    }
}
