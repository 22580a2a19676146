//! Tests of the RTMP server connection against bad input: handshakes, protocol errors, names.

use super::amf0::Amf0Value;
use super::chunk::ChunkError;
use super::handshake::{HandshakeError, HANDSHAKE_SIZE};
use super::message::msg_type;
use super::tests::*;
use super::{RtmpConfig, RtmpError, RtmpEvent, RtmpServerConn};

#[test]
fn bad_handshake_version() {
    let mut conn = RtmpServerConn::default();
    let mut c0c1 = vec![6u8];
    c0c1.resize(1 + HANDSHAKE_SIZE, 0);
    assert_eq!(
        conn.handle_input(&c0c1),
        Err(RtmpError::Handshake(HandshakeError::BadVersion(6)))
    );
}

#[test]
fn protocol_errors_end_the_connection() {
    let (c, mut conn) = connected(false);
    assert_eq!(
        c.send(
            &mut conn,
            2,
            0,
            msg_type::SET_CHUNK_SIZE,
            0,
            &70_000u32.to_be_bytes()
        ),
        Err(RtmpError::Chunk(ChunkError::BadChunkSize(70_000)))
    );

    let (c, mut conn) = connected(false);
    assert_eq!(
        c.send(&mut conn, 2, 0, msg_type::SET_CHUNK_SIZE, 0, &[0, 1]),
        Err(RtmpError::BadControlMessage { type_id: 1, len: 2 })
    );

    let (c, mut conn) = connected(false);
    assert_eq!(
        c.command(
            &mut conn,
            0,
            &[s("launchMissiles"), n(2.0), Amf0Value::Null]
        ),
        Err(RtmpError::UnknownCommand("launchMissiles".into()))
    );

    let (c, mut conn) = connected(false);
    assert!(matches!(
        c.send(&mut conn, 3, 0, msg_type::COMMAND_AMF0, 0, &[2, 0, 9, b'x']),
        Err(RtmpError::Amf0 { type_id: 20, .. })
    ));

    let (c, mut conn) = connected(false);
    assert!(matches!(
        c.command(&mut conn, 0, &[n(1.0)]),
        Err(RtmpError::MalformedCommand { .. })
    ));

    let (c, mut conn) = connected(false);
    assert!(matches!(
        c.command(&mut conn, 1, &[s("publish"), n(5.0), Amf0Value::Null]),
        Err(RtmpError::MalformedCommand {
            reason: "no stream name",
            ..
        })
    ));

    let (c, mut conn) = connected(false);
    assert!(matches!(
        c.command(
            &mut conn,
            1,
            &[s("play"), n(5.0), Amf0Value::Null, s("?x=1")]
        ),
        Err(RtmpError::MalformedCommand {
            reason: "empty stream name",
            ..
        })
    ));

    let (c, mut conn) = connected(false);
    assert!(matches!(
        c.command(
            &mut conn,
            0,
            &[s("connect"), n(2.0), Amf0Value::object([("app", s("x"))])]
        ),
        Err(RtmpError::MalformedCommand { .. })
    ));

    let (c, mut conn) = publish_requested(false);
    assert_eq!(
        c.command(
            &mut conn,
            1,
            &[s("play"), n(6.0), Amf0Value::Null, s("other")]
        ),
        Err(RtmpError::StreamBusy("play".into()))
    );

    let (c, mut conn) = connected(false);
    // A message header declaring 9 MiB (the default limit is 4 MiB).
    let mut wire = vec![0x06, 0, 0, 0, 0x90, 0, 0, 9, 1, 0, 0, 0];
    wire.extend_from_slice(&[0; 16]);
    assert!(matches!(
        c.feed(&mut conn, &wire),
        Err(RtmpError::Chunk(ChunkError::MessageTooLarge { .. }))
    ));
}

#[test]
fn command_before_connect() {
    let mut conn = RtmpServerConn::default();
    let mut c = Client::new();
    c.handshake(&mut conn);
    assert_eq!(
        c.command(&mut conn, 0, &[s("createStream"), n(1.0), Amf0Value::Null]),
        Err(RtmpError::CommandBeforeConnect("createStream".into()))
    );
    let mut conn = RtmpServerConn::default();
    c.handshake(&mut conn);
    assert!(matches!(
        c.command(&mut conn, 0, &[s("connect"), n(1.0), Amf0Value::Null]),
        Err(RtmpError::MalformedCommand {
            reason: "no app",
            ..
        })
    ));
}

#[test]
fn media_from_a_player_or_other_stream_is_ignored() {
    let (c, mut conn) = publish_requested(false);
    conn.accept_publish().unwrap();
    c.send(&mut conn, 6, 0, msg_type::VIDEO, 2, &[0x17, 1, 0, 0, 0])
        .unwrap();
    c.send(&mut conn, 6, 0, msg_type::VIDEO, 1, &[]).unwrap();
    assert!(events(&mut conn).is_empty());
}

#[test]
fn fuzz_seeds_reach_publish_and_play() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/rtmp_chunk");
    for (seed, want_media) in [("seed-publish", true), ("seed-play", false)] {
        let data = std::fs::read(format!("{dir}/{seed}")).unwrap();
        let mut conn = RtmpServerConn::default();
        let mut hs = vec![3u8];
        hs.resize(1 + 2 * HANDSHAKE_SIZE, 0);
        conn.handle_input(&hs).unwrap();
        conn.handle_input(&data).unwrap();
        let mut media = 0;
        let mut requests = 0;
        while let Some(ev) = conn.poll_event() {
            match ev {
                RtmpEvent::Publish { .. } => {
                    requests += 1;
                    conn.accept_publish().unwrap();
                }
                RtmpEvent::Play { .. } => {
                    requests += 1;
                    conn.accept_play().unwrap();
                }
                RtmpEvent::Media(_) => media += 1,
                _ => {}
            }
        }
        assert_eq!(requests, 1, "{seed}");
        assert_eq!(media > 0, want_media, "{seed}: {media} media events");
    }
}

#[test]
fn bad_names_are_refused_with_an_error_status() {
    use super::session::check_name;
    assert!(check_name("stream", "cam-1_a.b~c").is_ok());
    assert!(check_name("stream", &"a".repeat(256)).is_ok());
    for bad in ["", "a/b", "a b", "ü", "a%2F", "a\0"] {
        assert!(check_name("stream", bad).is_err(), "{bad:?}");
    }
    // A 60 KB stream name (the probe's) on play and on publish.
    let long = "x".repeat(60_000);
    for cmd in ["play", "publish"] {
        let (mut c, mut conn) = connected(false);
        let r = c.command(&mut conn, 1, &[s(cmd), n(4.0), Amf0Value::Null, s(&long)]);
        let Err(RtmpError::BadName(e)) = r else {
            panic!("{cmd}: {r:?}");
        };
        assert_eq!((e.what, e.len), ("stream", 60_000));
        assert_eq!(e.head.len(), 32);
        let cmds = commands(&c.receive(&mut conn));
        let code = if cmd == "play" {
            "NetStream.Play.StreamNotFound"
        } else {
            "NetStream.Publish.BadName"
        };
        assert_eq!(code_of(&cmds[0]), Some(code), "{cmd}");
        // No Play/Publish event reaches the runtime.
        assert_eq!(events(&mut conn), vec![RtmpEvent::Closed]);
    }
    // A bad app on connect: Connect.Rejected, no Connect event.
    let mut conn = RtmpServerConn::new(RtmpConfig::default());
    let mut c = Client::new();
    c.handshake(&mut conn);
    let r = c.command(
        &mut conn,
        0,
        &[
            s("connect"),
            n(1.0),
            Amf0Value::object([("app", s("../etc"))]),
        ],
    );
    assert!(matches!(r, Err(RtmpError::BadName(_))), "{r:?}");
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(code_of(&cmds[0]), Some("NetConnection.Connect.Rejected"));
    assert_eq!(events(&mut conn), vec![RtmpEvent::Closed]);
}
