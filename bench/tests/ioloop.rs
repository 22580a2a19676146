//! A short run of every loop of `shardsfu-ioloop` (the io_uring-against-
//! epoll A/B): each forwards every datagram to every subscriber, measures
//! its CPU time and reports it. The figures themselves are benchmarks
//! (`scripts/bench ioloop`, docs/BENCHMARKS.md); this checks the tool
//! forwards what it is sent, so its figures are about the same work.

use std::process::Command;

#[test]
fn every_loop_forwards_every_datagram_to_every_subscriber() {
    let dir = std::env::temp_dir().join(format!("shardsfu-ioloop-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for kind in [
        "glommio",
        "glommio-drain",
        "epoll",
        "epoll-uring-send",
        "epoll-gso",
        "glommio-each",
    ] {
        let json = dir.join(format!("{kind}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_shardsfu-ioloop"))
            .args(["--loop", kind, "-p", "2", "-n", "20", "--rate", "200"])
            .args(["--warmup", "0.3", "-d", "1.5", "--json"])
            .arg(&json)
            .output()
            .expect("run shardsfu-ioloop");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kind}: {stderr}");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
        let forwarded = r["forwarded_pps"].as_f64().expect("forwarded_pps");
        // 2 publishers x 200 datagrams/s x 20 subscribers.
        assert!(
            (6_400.0..=9_600.0).contains(&forwarded),
            "{kind}: forwarded {forwarded}/s, expected ~8000"
        );
        assert_eq!(r["dropped"], 0, "{kind}: {r}");
        let loss = r["loss_ratio"].as_f64().expect("loss_ratio");
        assert!(loss < 0.01, "{kind}: loss {loss}: {r}");
        let per = r["us_per_forwarded"].as_f64().expect("us_per_forwarded");
        assert!(per > 0.0, "{kind}: no CPU time measured: {r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
