//! The claim and lease machine against a fake Redis (a map with expiry on
//! virtual time), two nodes sharing it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::*;

const LEASE: Duration = Duration::from_secs(3);

/// A map of key -> (value, expiry) answering the core's ops as the Lua
/// scripts of the runtime do.
#[derive(Default)]
struct FakeRedis {
    kv: BTreeMap<String, (String, Instant)>,
    down: bool,
}

impl FakeRedis {
    fn live(&mut self, now: Instant) {
        self.kv.retain(|_, (_, until)| *until > now);
    }

    fn run(&mut self, op: &Op, now: Instant) -> Result<Reply, String> {
        if self.down {
            return Err("connection refused".into());
        }
        self.live(now);
        Ok(match op {
            Op::Claim {
                stream,
                value,
                replace,
            } => {
                let k = stream_key(stream);
                match self.kv.get(&k) {
                    Some((v, _)) if v != value && Some(v) != replace.as_ref() => {
                        Reply::Claim(Some(v.clone()))
                    }
                    _ => {
                        self.kv.insert(k, (value.clone(), now + LEASE));
                        Reply::Claim(None)
                    }
                }
            }
            Op::Release { stream, value } => {
                let k = stream_key(stream);
                if self.kv.get(&k).is_some_and(|(v, _)| v == value) {
                    self.kv.remove(&k);
                }
                Reply::Done
            }
            Op::Node { value } => {
                let id = parse_node("", value).unwrap().id;
                self.kv.insert(node_key(&id), (value.clone(), now + LEASE));
                Reply::Done
            }
            Op::Scan => {
                let pick = |p: &str| {
                    self.kv
                        .iter()
                        .filter(|(k, _)| k.starts_with(p))
                        .map(|(k, (v, _))| (k.clone(), v.clone()))
                        .collect()
                };
                Reply::Scan {
                    nodes: pick("shardsfu:node:"),
                    streams: pick("shardsfu:stream:"),
                }
            }
        })
    }
}

fn node(id: &str, t0: Instant) -> DirectoryCore {
    let me = NodeEntry {
        id: id.into(),
        api: format!("{id}:1985"),
        candidate: id.into(),
        since: 1,
    };
    DirectoryCore::new(me, LEASE, t0)
}

/// Carries out every op and returns the events.
fn drive(core: &mut DirectoryCore, redis: &mut FakeRedis, now: Instant) -> Vec<Event> {
    core.handle_timeout(now);
    while let Some(op) = core.poll_op() {
        let r = redis.run(&op, now);
        core.handle_reply(op, r, now);
    }
    std::iter::from_fn(|| core.poll_event()).collect()
}

fn claim(core: &mut DirectoryCore, redis: &mut FakeRedis, s: &str, now: Instant) -> Decision {
    core.handle_claim(7, s, now, 100);
    drive(core, redis, now)
        .into_iter()
        .find_map(|e| match e {
            Event::Answer {
                req: 7, decision, ..
            } => Some(decision),
            _ => None,
        })
        .expect("an answer")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_stream_has_one_owner_cluster_wide() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let (mut a, mut b) = (node("a", t0), node("b", t0));
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    match claim(&mut b, &mut r, "live/s", t0) {
        Decision::Refused(o) => assert_eq!((o.node.as_str(), o.api.as_str()), ("a", "a:1985")),
        d => panic!("{d:?}"),
    }
    assert_eq!(b.claims().count(), 0, "a refused claim is not kept");
    drive(&mut b, &mut r, t0 + LEASE / 3);
    assert_eq!(b.view().nodes.len(), 2);
    assert_eq!(b.view().streams[0].0, "live/s");
    assert_eq!(b.owner_elsewhere("live/s").unwrap().node, "a");
}

#[test]
fn renewals_keep_a_claim_and_a_dead_node_loses_it_within_the_lease() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let (mut a, mut b) = (node("a", t0), node("b", t0));
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    let mut t = t0;
    for _ in 0..10 {
        t += LEASE / 3;
        a.handle_local(&set(&["live/s"]), t, 0);
        drive(&mut a, &mut r, t);
    }
    assert!(matches!(
        claim(&mut b, &mut r, "live/s", t),
        Decision::Refused(_)
    ));
    // `a` stops (kill -9): nothing renews; the claim ends with the lease.
    t += LEASE;
    assert_eq!(claim(&mut b, &mut r, "live/s", t), Decision::Granted);
}

#[test]
fn an_unpublished_stream_is_released_at_once() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let (mut a, mut b) = (node("a", t0), node("b", t0));
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    a.handle_local(&set(&["live/s"]), t0, 0);
    // The publisher leaves: the next listing releases the claim.
    let t1 = t0 + LEASE / 3;
    a.handle_local(&set(&[]), t1, 0);
    drive(&mut a, &mut r, t1);
    assert_eq!(a.claims().count(), 0);
    assert!(!r.kv.contains_key(&stream_key("live/s")), "released");
    assert_eq!(claim(&mut b, &mut r, "live/s", t1), Decision::Granted);
}

#[test]
fn a_claim_whose_publisher_never_appears_is_released_after_a_grace() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let mut a = node("a", t0);
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    // Not listed yet (the session is being created): kept, and renewed.
    let t1 = t0 + Duration::from_secs(2);
    a.handle_local(&set(&[]), t1, 0);
    drive(&mut a, &mut r, t1);
    assert_eq!(a.claims().count(), 1);
    assert!(r.kv.contains_key(&stream_key("live/s")));
    // Never came: released after a lease, not left to expire.
    let t2 = t0 + LEASE + Duration::from_millis(1);
    a.handle_local(&set(&[]), t2, 0);
    drive(&mut a, &mut r, t2);
    assert_eq!(a.claims().count(), 0);
    assert!(!r.kv.contains_key(&stream_key("live/s")), "released");
}

#[test]
fn redis_down_fails_open_and_the_claim_is_made_when_it_returns() {
    let t0 = Instant::now();
    let mut r = FakeRedis {
        down: true,
        ..Default::default()
    };
    let mut a = node("a", t0);
    a.handle_claim(1, "live/s", t0, 0);
    let ev = drive(&mut a, &mut r, t0);
    assert!(matches!(ev[0], Event::RedisDown(_)), "{ev:?}");
    assert!(ev.contains(&Event::Answer {
        req: 1,
        stream: "live/s".into(),
        decision: Decision::Unchecked
    }));
    // While down, answers come at once, without an op.
    a.handle_claim(2, "live/t", t0, 0);
    assert!(a.poll_op().is_none());
    // Retries back off.
    let first = a.poll_timeout();
    drive(&mut a, &mut r, first);
    assert!(a.poll_timeout() - first >= BACKOFF_MIN * 2);
    // Back: both claims are made (a restarted, empty Redis gets them again).
    r.down = false;
    let back = a.poll_timeout();
    a.handle_local(&set(&["live/s", "live/t"]), back, 0);
    let ev = drive(&mut a, &mut r, back);
    assert!(ev.contains(&Event::RedisUp));
    assert!(a.claims().all(|(_, s)| *s == ClaimState::Held));
    assert_eq!(r.kv.len(), 3, "node entry and two claims");
}

#[test]
fn an_unchecked_publish_that_lost_the_race_is_reported() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let (mut a, mut b) = (node("a", t0), node("b", t0));
    assert_eq!(claim(&mut b, &mut r, "live/s", t0), Decision::Granted);
    // `a` let a publisher in while Redis was unreachable to it.
    a.handle_local(&set(&["live/s"]), t0, 0);
    let ev = drive(&mut a, &mut r, t0);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Lost { owner, .. } if owner.node == "b")));
    // Reported once, not every round.
    let ev = drive(&mut a, &mut r, t0 + LEASE / 3);
    assert!(!ev.iter().any(|e| matches!(e, Event::Lost { .. })));
}

#[test]
fn malformed_entries_are_counted_and_ignored() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let mut a = node("a", t0);
    for (k, v) in [
        (stream_key("live/s"), "not json"),
        (
            stream_key("live/e"),
            r#"{"node":"","api":"","candidate":"","since":0}"#,
        ),
        (node_key("x"), "{\"id\": 5}"),
    ] {
        r.kv.insert(k, (v.into(), t0 + LEASE * 10));
    }
    let ev = drive(&mut a, &mut r, t0);
    let bad = ev
        .iter()
        .filter(|e| matches!(e, Event::Malformed(_)))
        .count();
    assert_eq!(bad, 3, "{ev:?}");
    assert!(a.view().streams.is_empty());
    assert_eq!(a.view().nodes.len(), 1, "only a itself");
    // A claim over a malformed entry wins.
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    let stored = &r.kv[&stream_key("live/s")].0;
    assert_eq!(parse_owner("k", stored).unwrap().node, "a");
}

#[test]
fn a_claim_made_by_an_earlier_value_of_this_node_is_adopted() {
    let t0 = Instant::now();
    let mut r = FakeRedis::default();
    let mut a = node("a", t0);
    let old = r#"{"node":"a","api":"a:1985","candidate":"a","since":5}"#;
    r.kv.insert(stream_key("live/s"), (old.into(), t0 + LEASE));
    assert_eq!(claim(&mut a, &mut r, "live/s", t0), Decision::Granted);
    a.handle_local(&set(&["live/s"]), t0, 0);
    drive(&mut a, &mut r, t0 + LEASE / 3);
    assert_eq!(r.kv[&stream_key("live/s")].0, old);
    assert!(r.kv[&stream_key("live/s")].1 > t0 + LEASE, "renewed");
}

#[test]
fn parsing_names_the_key_and_the_value() {
    let e = parse_owner("shardsfu:stream:live/x", "[1,2]").unwrap_err();
    assert_eq!(e.key, "shardsfu:stream:live/x");
    assert!(e.to_string().contains("[1,2]"), "{e}");
}
