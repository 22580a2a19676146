//! Rooms across nodes, on a simulated Redis: two or three [`Rooms`], a
//! map standing for the rooms' hashes and a queue standing for the
//! channel, driven the way `server::cluster_rooms` drives them.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

use super::remote::{MemberEntry, RemoteMember};
use super::*;

/// Nodes sharing one simulated Redis.
struct Net {
    nodes: Vec<Rooms>,
    /// (room, display) → entry, like the rooms' hashes.
    hash: BTreeMap<(String, String), MemberEntry>,
    /// Per node: what its sockets were sent, (conn, JSON).
    sent: Vec<Vec<(u64, Value)>>,
    /// Whether the channel delivers (false: events are lost).
    channel_up: bool,
    /// Whether resyncs drop members missing from the hash.
    drop_missing: bool,
}

fn node_id(i: usize) -> String {
    format!("n{i}")
}

impl Net {
    fn new(n: usize) -> Net {
        let nodes = (0..n)
            .map(|i| {
                let mut r = Rooms::default();
                r.set_node(node_id(i));
                r
            })
            .collect();
        Net {
            nodes,
            hash: BTreeMap::new(),
            sent: vec![Vec::new(); n],
            channel_up: true,
            drop_missing: true,
        }
    }

    fn members(&self, room: &str, me: usize) -> Vec<RemoteMember> {
        self.hash
            .iter()
            .filter(|((r, _), e)| r == room && e.node != node_id(me))
            .map(|((_, d), e)| RemoteMember {
                node: e.node.clone(),
                display: d.clone(),
                publishing: e.publishing,
            })
            .collect()
    }

    /// A request from socket `conn` of node `i`; joins reserve the display
    /// in the hash first (as the runtime's join script does).
    fn request(&mut self, i: usize, conn: u64, action: &str, room: &str, display: &str) {
        let text = json!({"tid": "t", "msg": {"action": action, "room": room, "display": display,
            "call": "alert", "data": "hi"}})
        .to_string();
        let mut fresh = false;
        if action == "join" {
            let key = (room.to_string(), display.to_string());
            if let std::collections::btree_map::Entry::Vacant(slot) = self.hash.entry(key) {
                slot.insert(MemberEntry {
                    node: node_id(i),
                    publishing: false,
                });
                fresh = true;
            }
            let remote = self.members(room, i);
            self.nodes[i].seed_remote(room, &remote, Instant::now());
        }
        let refused = self.nodes[i]
            .handle_message(ConnId(conn), &text, Instant::now())
            .is_err();
        if refused && fresh {
            self.hash.remove(&(room.to_string(), display.to_string()));
        }
        self.flush(i);
    }

    fn close(&mut self, i: usize, conn: u64) {
        self.nodes[i].handle_close(ConnId(conn));
        self.flush(i);
    }

    /// Node `i`'s outputs: sends recorded, events applied to the hash and
    /// delivered to the other nodes (whose outputs are flushed in turn).
    fn flush(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].poll_output() {
            match out {
                Output::Send { to, text } => {
                    self.sent[i].push((to.0, serde_json::from_str(&text).unwrap()))
                }
                Output::Cluster(ev) => {
                    let key = (ev.room.clone(), ev.display.clone());
                    match ev.event {
                        MemberEvent::Leave => {
                            self.hash.remove(&key);
                        }
                        _ => {
                            self.hash.insert(
                                key,
                                MemberEntry {
                                    node: ev.node.clone(),
                                    publishing: ev.publishing,
                                },
                            );
                        }
                    }
                    if !self.channel_up {
                        continue;
                    }
                    let wire = RoomEvent::decode(ev.encode().as_bytes()).unwrap();
                    for j in 0..self.nodes.len() {
                        self.nodes[j].handle_remote(&wire, Instant::now());
                        if j != i {
                            self.flush(j);
                        }
                    }
                }
            }
        }
    }

    /// A periodic resync of every node's rooms from the hash.
    fn resync(&mut self) {
        for i in 0..self.nodes.len() {
            for (room, _) in self.nodes[i].local_members() {
                let remote = self.members(&room, i);
                self.nodes[i].sync_remote(&room, &remote, self.drop_missing, Instant::now());
            }
            self.flush(i);
        }
    }

    /// The notifications node `i`'s socket `conn` got: (event, peer).
    fn notifies(&self, i: usize, conn: u64) -> Vec<(String, String)> {
        self.sent[i]
            .iter()
            .filter(|(c, v)| *c == conn && v["msg"]["action"] == "notify")
            .map(|(_, v)| {
                (
                    v["msg"]["event"].as_str().unwrap().to_string(),
                    v["msg"]["peer"]["display"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn last_answer(&self, i: usize, conn: u64) -> Value {
        self.sent[i]
            .iter()
            .rev()
            .find(|(c, v)| *c == conn && v.get("tid").is_some())
            .map(|(_, v)| v["msg"].clone())
            .unwrap()
    }
}

fn pairs(events: &[(String, String)]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|(e, p)| (e.as_str(), p.as_str()))
        .collect()
}

#[test]
fn a_call_across_two_nodes_sees_joins_publishes_controls_and_leaves() {
    let mut net = Net::new(2);
    net.request(0, 1, "join", "call", "alice");
    net.request(1, 7, "join", "call", "bob");
    // Bob's answer lists alice, who is on the other node.
    let answer = net.last_answer(1, 7);
    let listed: Vec<&str> = answer["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["alice", "bob"]);
    assert_eq!(pairs(&net.notifies(0, 1)), [("join", "bob")]);

    net.request(0, 1, "publish", "call", "alice");
    net.request(1, 7, "control", "call", "bob");
    assert_eq!(pairs(&net.notifies(1, 7)), [("publish", "alice")]);
    assert_eq!(
        pairs(&net.notifies(0, 1)),
        [("join", "bob"), ("control", "bob")]
    );
    let control = net.sent[0].last().unwrap();
    assert_eq!(control.1["msg"]["param"], "alert");
    assert_eq!(control.1["msg"]["data"], "hi");

    // The same display on the other node is taken.
    net.request(1, 8, "join", "call", "alice");
    assert_eq!(net.last_answer(1, 8)["action"], "error");
    assert!(net.last_answer(1, 8)["error"]
        .as_str()
        .unwrap()
        .contains("already in room"));

    net.close(0, 1);
    assert_eq!(
        pairs(&net.notifies(1, 7)),
        [("publish", "alice"), ("leave", "alice")]
    );
    assert_eq!(net.nodes[0].room_count(), 0, "no local member, no room");
    assert_eq!(net.nodes[1].displays("call"), ["bob"]);
    net.close(1, 7);
    assert!(net.hash.is_empty(), "{:?}", net.hash);
    assert_eq!(net.nodes[1].room_count(), 0);
}

#[test]
fn events_lost_on_the_channel_are_made_up_by_the_resync() {
    let mut net = Net::new(3);
    net.request(0, 1, "join", "r", "a");
    net.channel_up = false;
    net.request(1, 1, "join", "r", "b");
    net.request(1, 1, "publish", "r", "b");
    net.request(2, 1, "join", "r", "c");
    assert_eq!(net.notifies(0, 1), [], "the channel lost every event");
    net.resync();
    let seen = net.notifies(0, 1);
    assert!(seen.contains(&("join".into(), "b".into())), "{seen:?}");
    assert!(seen.contains(&("publish".into(), "b".into())), "{seen:?}");
    assert!(seen.contains(&("join".into(), "c".into())), "{seen:?}");
    // A resync with nothing new tells nothing again.
    let before = net.sent[0].len();
    net.resync();
    assert_eq!(net.sent[0].len(), before);
    // Redis restarted empty and partly rebuilt: while it settles, nobody
    // missing from it is said to have left.
    let saved = std::mem::take(&mut net.hash);
    net.hash = saved
        .iter()
        .filter(|(_, e)| e.node == node_id(0))
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    net.drop_missing = false;
    let before = net.sent[0].len();
    net.resync();
    assert_eq!(net.sent[0].len(), before, "{:?}", &net.sent[0][before..]);
    net.hash = saved;
    net.drop_missing = true;
    // c's node dies: its entry goes from the hash (the script drops
    // members of nodes without a live entry), and the next resync says so.
    net.hash.retain(|_, e| e.node != node_id(2));
    net.resync();
    assert_eq!(
        net.notifies(0, 1).last().unwrap(),
        &("leave".into(), "c".into())
    );
    assert_eq!(net.nodes[0].displays("r"), ["a", "b"]);
}

#[test]
fn a_refused_join_leaves_no_room_and_no_reservation() {
    let mut net = Net::new(2);
    let limits = RoomLimits {
        max_rooms: 1000,
        max_members: 2,
    };
    for n in &mut net.nodes {
        n.set_limits(limits);
    }
    net.request(0, 1, "join", "r", "a");
    net.request(0, 2, "join", "r", "b");
    // Full across the nodes: node 1 mirrors a and b.
    net.request(1, 1, "join", "r", "c");
    assert!(net.last_answer(1, 1)["error"]
        .as_str()
        .unwrap()
        .contains("full"));
    assert_eq!(net.nodes[1].room_count(), 0);
    assert!(!net.hash.contains_key(&("r".to_string(), "c".to_string())));
}

#[test]
fn remote_events_for_rooms_without_local_members_or_about_local_displays_change_nothing() {
    let mut rooms = Rooms::default();
    rooms.set_node("me".into());
    let ev = |node: &str, display: &str, event| RoomEvent {
        node: node.into(),
        room: "r".into(),
        display: display.into(),
        event,
        publishing: false,
        call: String::new(),
        data: String::new(),
    };
    rooms.handle_remote(&ev("n1", "x", MemberEvent::Join), Instant::now());
    assert_eq!(rooms.room_count(), 0);
    rooms
        .handle_message(
            ConnId(1),
            &json!({"msg": {"action": "join", "room": "r", "display": "a"}}).to_string(),
            Instant::now(),
        )
        .unwrap();
    while rooms.poll_output().is_some() {}
    // Another node cannot make a local member leave, nor our own echo act.
    rooms.handle_remote(&ev("n1", "a", MemberEvent::Leave), Instant::now());
    rooms.handle_remote(&ev("me", "z", MemberEvent::Join), Instant::now());
    assert_eq!(rooms.displays("r"), ["a"]);
    assert!(rooms.poll_output().is_none());
    // A control from a member not seen yet adds it first.
    rooms.handle_remote(&ev("n1", "y", MemberEvent::Control), Instant::now());
    assert_eq!(rooms.displays("r"), ["a", "y"]);
    let mut events = Vec::new();
    while let Some(Output::Send { text, .. }) = rooms.poll_output() {
        let v: Value = serde_json::from_str(&text).unwrap();
        events.push(v["msg"]["event"].as_str().unwrap().to_string());
    }
    assert_eq!(events, ["join", "control"]);
}
