//! Fuzz entry point for the signaling message decoder and rooms
//! (fuzz/fuzz_targets/signaling.rs): whatever strangers send, nothing
//! panics, every output is JSON, and the rooms keep their invariants
//! (bounded, unique displays, nothing sent to a closed socket).

use std::collections::HashSet;
use std::time::Instant;

use super::{message, remote, ConnId, Output, RoomEvent, RoomLimits, Rooms, WsConn, WsEvent};

/// Feeds `data` as WebSocket frames, then line by line as text messages
/// from four sockets (a line's first byte picks the socket; `!` closes it);
/// panics only if an invariant breaks.
pub fn messages(data: &[u8]) {
    let mut ws = WsConn::new(&[], 16 * 1024);
    ws.handle_input(data);
    ws.handle_eof();
    let mut n = 0;
    while let Some(ev) = ws.poll_event() {
        n += 1;
        assert!(n <= data.len() + 1, "events must end");
        if let WsEvent::Text(t) = ev {
            assert!(t.len() <= 16 * 1024);
            let _ = message::decode(&t);
        }
    }
    let limits = RoomLimits {
        max_rooms: 2,
        max_members: 3,
    };
    let mut rooms = Rooms::new(limits);
    let mut closed = HashSet::new();
    let now = Instant::now();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else {
            continue;
        };
        let conn = ConnId(u64::from(first % 4));
        if rest.first() == Some(&b'!') {
            rooms.handle_close(conn);
            closed.insert(conn);
        } else if !closed.contains(&conn) {
            let _ = rooms.handle_message(conn, &String::from_utf8_lossy(rest), now);
        }
        while let Some(Output::Send { to, text }) = rooms.poll_output() {
            assert!(!closed.contains(&to), "sent to closed {to:?}: {text}");
            let v: serde_json::Value = serde_json::from_str(&text).expect("output is JSON");
            assert!(v.get("msg").is_some(), "{text}");
        }
        assert!(rooms.room_count() <= limits.max_rooms);
        for room in ["a", "b", "c", "r"] {
            let d = rooms.displays(room);
            assert!(d.len() <= limits.max_members);
            let unique: HashSet<_> = d.iter().collect();
            assert_eq!(unique.len(), d.len(), "duplicate display in {room}: {d:?}");
        }
    }
}

/// Feeds `data` line by line to a clustered node's rooms: a line's first
/// byte picks a local socket's message (`% 3 == 0`, the next byte picks
/// one of four sockets, `!` closes it), another node's event from the
/// channel (`== 1`, decoded as [`RoomEvent::decode`] does), or a room's
/// hash read back (`== 2`, a JSON array of `[display, value]` pairs for
/// room `r`, seeded as before a join); panics only if an invariant breaks.
pub fn cluster_events(data: &[u8]) {
    let limits = RoomLimits {
        max_rooms: 2,
        max_members: 3,
    };
    let mut rooms = Rooms::new(limits);
    rooms.set_node("me".into());
    let mut closed = HashSet::new();
    let now = Instant::now();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else {
            continue;
        };
        match first % 3 {
            0 => {
                let Some((&who, rest)) = rest.split_first() else {
                    continue;
                };
                let conn = ConnId(u64::from(who % 4));
                if rest.first() == Some(&b'!') {
                    rooms.handle_close(conn);
                    closed.insert(conn);
                } else if !closed.contains(&conn) {
                    let _ = rooms.handle_message(conn, &String::from_utf8_lossy(rest), now);
                }
            }
            1 => {
                if let Ok(ev) = RoomEvent::decode(rest) {
                    rooms.handle_remote(&ev, now);
                }
            }
            _ => {
                let pairs: Vec<(String, String)> = serde_json::from_slice(rest).unwrap_or_default();
                let (members, _) = remote::remote_members(&pairs, "me");
                assert!(members.len() <= remote::MAX_ENTRIES);
                rooms.seed_remote("r", &members, now);
            }
        }
        while let Some(out) = rooms.poll_output() {
            match out {
                Output::Send { to, text } => {
                    assert!(!closed.contains(&to), "sent to closed {to:?}: {text}");
                    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                    assert!(v.get("msg").is_some(), "{text}");
                }
                Output::Cluster(ev) => {
                    assert_eq!(ev.node, "me", "only local members' events go out");
                    assert_eq!(RoomEvent::decode(ev.encode().as_bytes()).as_ref(), Ok(&ev));
                }
            }
        }
        assert!(rooms.room_count() <= limits.max_rooms);
        for room in ["a", "b", "r"] {
            let d = rooms.displays(room);
            assert!(d.len() <= remote::MAX_ENTRIES + limits.max_members);
            let unique: HashSet<_> = d.iter().collect();
            assert_eq!(unique.len(), d.len(), "duplicate display in {room}: {d:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_keep_the_invariants() {
        for seed in [
            &b"\x00{\"tid\":\"1\",\"msg\":{\"action\":\"join\",\"room\":\"r\",\"display\":\"a\"}}\n\
               \x01{\"tid\":\"1\",\"msg\":{\"action\":\"join\",\"room\":\"r\",\"display\":\"a\"}}\n\
               \x01{\"tid\":\"1\",\"msg\":{\"action\":\"join\",\"room\":\"r\",\"display\":\"b\"}}\n\
               \x00{\"tid\":\"2\",\"msg\":{\"action\":\"publish\",\"room\":\"r\",\"display\":\"a\"}}\n\
               \x00!\n\x01{\"msg\":{\"action\":\"control\",\"room\":\"r\",\"display\":\"b\",\"call\":\"x\"}}"[..],
            b"\x81\x85\0\0\0\0hello",
            b"",
            b"\n\n{",
        ] {
            super::messages(seed);
        }
    }

    #[test]
    fn cluster_seeds_keep_the_invariants() {
        let seeds: [&[u8]; 3] = [
            b"\x00\x00{\"tid\":\"1\",\"msg\":{\"action\":\"join\",\"room\":\"r\",\"display\":\"a\"}}\n\
              \x01{\"node\":\"n\",\"room\":\"r\",\"display\":\"b\",\"event\":\"publish\"}\n\
              \x02[[\"c\",\"{\\\"node\\\":\\\"n\\\"}\"],[\"a\",\"{\\\"node\\\":\\\"x\\\"}\"]]\n\
              \x00\x00!\n\x01{\"node\":\"n\",\"room\":\"r\",\"display\":\"b\",\"event\":\"leave\"}",
            b"\x02[]\n\x01{}",
            b"",
        ];
        for seed in seeds {
            super::cluster_events(seed);
        }
    }
}
