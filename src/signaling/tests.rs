use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// Drains the outputs: (socket, parsed JSON) in order.
fn drain(rooms: &mut Rooms) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    while let Some(Output::Send { to, text }) = rooms.poll_output() {
        out.push((to.0, serde_json::from_str(&text).expect("valid JSON out")));
    }
    out
}

fn req(tid: &str, action: &str, room: &str, display: &str) -> String {
    json!({"tid": tid, "msg": {"action": action, "room": room, "display": display}}).to_string()
}

fn join(rooms: &mut Rooms, conn: u64, room: &str, display: &str) -> Vec<(u64, Value)> {
    rooms
        .handle_message(
            ConnId(conn),
            &req("t", "join", room, display),
            Instant::now(),
        )
        .unwrap();
    drain(rooms)
}

fn displays(v: &Value) -> Vec<&str> {
    v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display"].as_str().unwrap())
        .collect()
}

#[test]
fn join_answers_the_room_and_notifies_the_others() {
    let mut rooms = Rooms::default();
    let out = join(&mut rooms, 1, "r1", "alice");
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].1,
        json!({"tid": "t", "msg": {"action": "join", "room": "r1",
            "self": {"display": "alice", "publishing": false},
            "participants": [{"display": "alice", "publishing": false}]}})
    );
    let out = join(&mut rooms, 2, "r1", "bob");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, 2);
    assert_eq!(displays(&out[0].1["msg"]), ["alice", "bob"]);
    let (to, n) = &out[1];
    assert_eq!(*to, 1);
    assert_eq!(n.get("tid"), None);
    let m = &n["msg"];
    assert_eq!(m["action"], "notify");
    assert_eq!(m["event"], "join");
    assert_eq!(m["room"], "r1");
    assert_eq!(m["self"]["display"], "alice");
    assert_eq!(m["peer"]["display"], "bob");
    assert_eq!(displays(m), ["alice", "bob"]);
    assert_eq!(
        m.get("param"),
        None,
        "empty param left out as the Go app does"
    );
}

#[test]
fn publish_and_control_are_answered_and_relayed() {
    let mut rooms = Rooms::default();
    join(&mut rooms, 1, "r", "a");
    join(&mut rooms, 2, "r", "b");
    join(&mut rooms, 3, "r", "c");
    rooms
        .handle_message(ConnId(1), &req("p1", "publish", "r", "a"), Instant::now())
        .unwrap();
    let out = drain(&mut rooms);
    assert_eq!(out[0], (1, json!({"tid": "p1", "msg": null})));
    let notified: Vec<u64> = out[1..].iter().map(|o| o.0).collect();
    assert_eq!(notified, [2, 3]);
    for (_, n) in &out[1..] {
        assert_eq!(n["msg"]["event"], "publish");
        assert_eq!(
            n["msg"]["peer"],
            json!({"display": "a", "publishing": true})
        );
    }
    let control = json!({"tid": 7, "msg": {"action": "control", "room": "r", "display": "b",
        "call": "alert", "data": "hello"}});
    rooms
        .handle_message(ConnId(2), &control.to_string(), Instant::now())
        .unwrap();
    let out = drain(&mut rooms);
    assert_eq!(
        out[0],
        (2, json!({"tid": 7, "msg": null})),
        "a numeric tid is echoed as sent"
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[1].1["msg"]["param"], "alert");
    assert_eq!(out[1].1["msg"]["data"], "hello");
}

#[test]
fn close_is_a_leave_and_the_last_one_out_removes_the_room() {
    let mut rooms = Rooms::default();
    join(&mut rooms, 1, "r", "a");
    join(&mut rooms, 2, "r", "b");
    rooms.handle_close(ConnId(1));
    let out = drain(&mut rooms);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 2);
    let m = &out[0].1["msg"];
    assert_eq!(m["event"], "leave");
    assert_eq!(m["peer"]["display"], "a");
    // room.html drops the players of members no longer listed.
    assert_eq!(displays(m), ["b"]);
    rooms.handle_close(ConnId(2));
    assert!(drain(&mut rooms).is_empty());
    assert_eq!(rooms.room_count(), 0);
    assert_eq!(rooms.member_count(), 0);
    rooms.handle_close(ConnId(2));
    // The display is free again.
    join(&mut rooms, 3, "r", "a");
}

fn refusal(rooms: &mut Rooms, conn: u64, text: &str) -> (RoomError, Value) {
    let e = rooms
        .handle_message(ConnId(conn), text, Instant::now())
        .unwrap_err();
    let out = drain(rooms);
    assert_eq!(out.len(), 1, "only the refusal: {out:?}");
    assert_eq!(out[0].0, conn);
    assert_eq!(out[0].1["msg"]["action"], "error");
    assert_eq!(out[0].1["msg"]["error"], e.to_string());
    (e, out[0].1.clone())
}

#[test]
fn duplicate_display_full_room_and_too_many_rooms_are_refused() {
    let mut rooms = Rooms::new(RoomLimits {
        max_rooms: 2,
        max_members: 2,
    });
    join(&mut rooms, 1, "r", "a");
    let (e, v) = refusal(&mut rooms, 2, &req("x", "join", "r", "a"));
    assert!(matches!(e, RoomError::DisplayTaken { .. }), "{e}");
    assert_eq!(v["tid"], "x");
    assert!(e.to_string().contains("\"a\""), "{e}");
    join(&mut rooms, 2, "r", "b");
    let (e, _) = refusal(&mut rooms, 3, &req("x", "join", "r", "c"));
    assert_eq!(
        e,
        RoomError::RoomFull {
            room: "r".into(),
            max: 2
        }
    );
    join(&mut rooms, 3, "r2", "c");
    let (e, _) = refusal(&mut rooms, 4, &req("x", "join", "r3", "d"));
    assert!(matches!(e, RoomError::TooManyRooms { max: 2, .. }), "{e}");
    let (e, _) = refusal(&mut rooms, 1, &req("x", "join", "r2", "z"));
    assert!(matches!(e, RoomError::AlreadyJoined { .. }), "{e}");
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let mut rooms = Rooms::default();
    let (e, v) = refusal(&mut rooms, 1, "{not json");
    assert!(e.to_string().starts_with("malformed request"), "{e}");
    assert_eq!(v.get("tid"), None);
    let (e, _) = refusal(
        &mut rooms,
        1,
        r#"{"tid":"1","msg":{"action":"dance","room":"r"}}"#,
    );
    assert!(e.to_string().contains("\"dance\""), "{e}");
    let (e, _) = refusal(&mut rooms, 1, r#"{"tid":"1"}"#);
    assert!(
        matches!(e, RoomError::Decode(message::DecodeError::NoMsg)),
        "{e}"
    );
    let (e, _) = refusal(
        &mut rooms,
        1,
        r#"{"tid":"1","msg":{"action":"join","room":"r"}}"#,
    );
    assert_eq!(e.to_string(), "join needs msg.display");
    let (e, _) = refusal(&mut rooms, 1, &req("1", "join", "r", "../x"));
    assert!(e.to_string().contains("\"../x\""), "{e}");
    let (e, _) = refusal(&mut rooms, 1, &req("1", "join", "", "x"));
    assert!(e.to_string().contains("empty"), "{e}");
    let (e, _) = refusal(&mut rooms, 1, &req("1", "join", "r", &"d".repeat(65)));
    assert!(e.to_string().contains("64 bytes"), "{e}");
    let (e, _) = refusal(
        &mut rooms,
        1,
        r#"{"tid":"1","msg":{"action":"control","room":"r","display":"d","data":{}}}"#,
    );
    assert!(e.to_string().contains("expected a string"), "{e}");
    let (e, _) = refusal(&mut rooms, 1, &req("1", "publish", "r", "d"));
    assert_eq!(e, RoomError::NotJoined { action: "publish" });
    join(&mut rooms, 1, "r", "d");
    let (e, _) = refusal(&mut rooms, 1, &req("1", "control", "r", "other"));
    assert!(matches!(e, RoomError::NotYours { .. }), "{e}");
    // Nothing of these reached another socket or left a room behind.
    assert_eq!(rooms.room_count(), 1);
}

#[test]
fn guard_limits_rate_pings_and_closes_idle_sockets() {
    let t0 = Instant::now();
    let limits = GuardLimits {
        rate: 2.0,
        burst: 3.0,
        idle: Duration::from_secs(30),
        join_within: Duration::from_secs(30),
    };
    let mut g = Guard::new(limits, t0);
    for _ in 0..3 {
        g.on_message(t0).unwrap();
    }
    assert!(matches!(g.on_message(t0), Err(GuardError::Flood { .. })));
    // Half a second brings one token back.
    g.on_message(t0 + Duration::from_millis(500)).unwrap();
    g.on_joined();
    assert_eq!(g.poll_timeout(), t0 + Duration::from_secs(10));
    assert_eq!(
        g.handle_timeout(t0 + Duration::from_secs(10)),
        Some(Tick::Ping)
    );
    assert_eq!(g.handle_timeout(t0 + Duration::from_secs(11)), None);
    // The pong counts as life.
    g.on_input(t0 + Duration::from_secs(12));
    assert_eq!(g.poll_timeout(), t0 + Duration::from_secs(22));
    assert_eq!(
        g.handle_timeout(t0 + Duration::from_secs(22)),
        Some(Tick::Ping)
    );
    assert_eq!(
        g.handle_timeout(t0 + Duration::from_secs(32)),
        Some(Tick::Ping)
    );
    let closed = g.handle_timeout(t0 + Duration::from_secs(42));
    assert!(
        matches!(closed, Some(Tick::Close(GuardError::Idle { .. }))),
        "{closed:?}"
    );
}

#[test]
fn guard_closes_a_socket_that_never_joins() {
    let t0 = Instant::now();
    let mut g = Guard::new(GuardLimits::default(), t0);
    let mut t;
    loop {
        t = g.poll_timeout();
        g.on_input(t);
        match g.handle_timeout(t) {
            Some(Tick::Close(e)) => {
                assert!(matches!(e, GuardError::NoJoin { .. }), "{e}");
                break;
            }
            _ => assert!(t < t0 + Duration::from_secs(120)),
        }
    }
    assert_eq!(t, t0 + Duration::from_secs(60));
}

#[test]
fn accept_key_matches_rfc6455() {
    assert_eq!(
        ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// A masked client text frame (RFC 6455 §5.2), zero mask.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn ws_conn_reads_texts_answers_pings_and_limits_size() {
    let mut first = client_frame(1, b"hello");
    first.extend(client_frame(9, b"p"));
    let mut ws = WsConn::new(&first[..3], 100);
    assert_eq!(ws.poll_event(), None);
    ws.handle_input(&first[3..]);
    assert_eq!(ws.poll_event(), Some(WsEvent::Text("hello".into())));
    assert_eq!(ws.poll_event(), None);
    // The pong (opcode 10, unmasked from the server) is queued.
    assert_eq!(ws.poll_transmit(), Some(&[0x8a, 1, b'p'][..]));
    ws.consume_transmit(3);
    ws.send_text("hi");
    assert_eq!(ws.poll_transmit(), Some(&[0x81, 2, b'h', b'i'][..]));
    ws.consume_transmit(4);
    ws.handle_input(&client_frame(1, &[b'x'; 101]));
    match ws.poll_event() {
        Some(WsEvent::Failed(e)) => {
            assert_eq!(e.close_code(), 1009);
            assert!(e.to_string().contains("limit of 100"), "{e}");
            ws.close(e.close_code(), &e.to_string());
        }
        other => panic!("{other:?}"),
    }
    let out = ws.poll_transmit().unwrap();
    assert_eq!(out[0], 0x88);
    assert_eq!(&out[2..4], &1009u16.to_be_bytes());
    assert!(ws.is_closed());
}

#[test]
fn ws_conn_answers_a_close_and_ends() {
    let mut ws = WsConn::new(&[], 1000);
    ws.handle_input(&client_frame(8, &1000u16.to_be_bytes()));
    assert_eq!(ws.poll_event(), Some(WsEvent::Closed));
    assert_eq!(ws.poll_transmit(), Some(&[0x88, 2, 0x03, 0xe8][..]));
    assert!(ws.is_closed());
    let mut ws = WsConn::new(&[], 1000);
    ws.handle_input(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    assert!(matches!(
        ws.poll_event(),
        Some(WsEvent::Failed(WsError::Protocol(_)))
    ));
    let mut ws = WsConn::new(&[], 1000);
    ws.handle_eof();
    assert_eq!(ws.poll_event(), Some(WsEvent::Closed));
}
