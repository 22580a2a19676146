//! End-to-end sans-IO tests: a small RTMP client written here drives
//! [`RtmpServerConn`] through connect, createStream, publish/play and media.

use super::amf0::{self, Amf0Value};
use super::chunk::{write_message, ChunkDecoder, RtmpMessage};
use super::handshake::HANDSHAKE_SIZE;
use super::message::msg_type;
use super::{RtmpConfig, RtmpError, RtmpEvent, RtmpServerConn};
use crate::live::flv::{FlvDemuxer, FlvTag, TagKind};

/// The client half: chunks what it sends, parses what the server sends.
pub(super) struct Client {
    dec: ChunkDecoder,
    out_chunk: usize,
    /// Server handshake bytes (S0+S1+S2) still to skip.
    hs_left: usize,
    /// Send byte by byte instead of in one piece.
    trickle: bool,
}

impl Client {
    pub(super) fn new() -> Self {
        Self {
            dec: ChunkDecoder::new(16 << 20),
            out_chunk: 128,
            hs_left: 1 + 2 * HANDSHAKE_SIZE,
            trickle: false,
        }
    }

    pub(super) fn feed(&self, conn: &mut RtmpServerConn, bytes: &[u8]) -> Result<(), RtmpError> {
        if self.trickle {
            for b in bytes {
                conn.handle_input(std::slice::from_ref(b))?;
            }
            Ok(())
        } else {
            conn.handle_input(bytes)
        }
    }

    /// C0+C1 with a non-zero version field (as a digest-handshake client sends), then C2.
    pub(super) fn handshake(&mut self, conn: &mut RtmpServerConn) {
        let mut c0c1 = vec![3u8, 0, 0, 0, 0, 9, 0, 124, 2];
        c0c1.resize(1 + HANDSHAKE_SIZE, 0x5A);
        self.feed(conn, &c0c1).unwrap();
        let s = conn.poll_transmit().unwrap();
        assert_eq!(s.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(&s[1 + HANDSHAKE_SIZE..], &c0c1[1..]);
        self.hs_left = 0;
        self.feed(conn, &s[1..1 + HANDSHAKE_SIZE]).unwrap();
        assert!(conn.poll_transmit().is_none());
    }

    pub(super) fn send(
        &self,
        conn: &mut RtmpServerConn,
        csid: u32,
        ts: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        let mut wire = Vec::new();
        write_message(
            &mut wire,
            csid,
            ts,
            type_id,
            stream_id,
            payload,
            self.out_chunk,
        );
        self.feed(conn, &wire)
    }

    pub(super) fn command(
        &self,
        conn: &mut RtmpServerConn,
        stream_id: u32,
        values: &[Amf0Value],
    ) -> Result<(), RtmpError> {
        let body = amf0::encode_all(values);
        self.send(conn, 3, 0, msg_type::COMMAND_AMF0, stream_id, &body)
    }

    pub(super) fn set_chunk_size(&mut self, conn: &mut RtmpServerConn, size: u32) {
        self.send(conn, 2, 0, msg_type::SET_CHUNK_SIZE, 0, &size.to_be_bytes())
            .unwrap();
        self.out_chunk = size as usize;
    }

    /// Everything the server sent since the last call, as messages.
    pub(super) fn receive(&mut self, conn: &mut RtmpServerConn) -> Vec<RtmpMessage> {
        let mut msgs = Vec::new();
        while let Some(bytes) = conn.poll_transmit() {
            self.dec.push(&bytes);
        }
        while let Some(m) = self.dec.next_message().unwrap() {
            if m.type_id == msg_type::SET_CHUNK_SIZE {
                let v = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                self.dec.set_chunk_size(v).unwrap();
            }
            msgs.push(m);
        }
        msgs
    }
}

pub(super) fn events(conn: &mut RtmpServerConn) -> Vec<RtmpEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Decoded AMF0 values of each command/data message.
pub(super) fn commands(msgs: &[RtmpMessage]) -> Vec<Vec<Amf0Value>> {
    msgs.iter()
        .filter(|m| matches!(m.type_id, msg_type::COMMAND_AMF0 | msg_type::DATA_AMF0))
        .map(|m| amf0::decode_all(&m.payload).unwrap())
        .collect()
}

pub(super) fn code_of(values: &[Amf0Value]) -> Option<&str> {
    values
        .get(3)
        .and_then(|o| o.get("code"))
        .and_then(Amf0Value::as_str)
}

pub(super) fn s(v: &str) -> Amf0Value {
    Amf0Value::string(v)
}

pub(super) fn n(v: f64) -> Amf0Value {
    Amf0Value::Number(v)
}

pub(super) fn fixture_tags() -> Vec<FlvTag> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/live/testsrc_2s.flv"
    );
    let mut d = FlvDemuxer::new();
    d.push(&std::fs::read(path).unwrap());
    std::iter::from_fn(|| d.next_tag().unwrap()).collect()
}

/// Handshake and connect to `live`; checks the server's answer.
pub(super) fn connected(trickle: bool) -> (Client, RtmpServerConn) {
    let mut conn = RtmpServerConn::new(RtmpConfig::default());
    let mut c = Client::new();
    c.trickle = trickle;
    c.handshake(&mut conn);
    c.command(
        &mut conn,
        0,
        &[
            s("connect"),
            n(1.0),
            Amf0Value::object([
                ("app", s("live")),
                ("type", s("nonprivate")),
                ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
                ("tcUrl", s("rtmp://127.0.0.1:1935/live")),
            ]),
        ],
    )
    .unwrap();
    let msgs = c.receive(&mut conn);
    let types: Vec<u8> = msgs.iter().map(|m| m.type_id).collect();
    assert_eq!(types, vec![5, 6, 1, 20, 20]);
    assert_eq!(&msgs[2].payload, &60_000u32.to_be_bytes());
    let cmds = commands(&msgs);
    assert_eq!(cmds[0][0], s("_result"));
    assert_eq!(cmds[0][1], n(1.0));
    assert_eq!(code_of(&cmds[0]), Some("NetConnection.Connect.Success"));
    assert_eq!(cmds[1][0], s("onBWDone"));
    assert_eq!(
        events(&mut conn),
        vec![RtmpEvent::Connect {
            app: "live".into(),
            tc_url: "rtmp://127.0.0.1:1935/live".into(),
            param: String::new(),
            page_url: String::new(),
            swf_url: String::new(),
        }]
    );
    assert!(!conn.is_fmle_publish());
    (c, conn)
}

/// connect + releaseStream/FCPublish/createStream + publish, as FFmpeg does.
pub(super) fn publish_requested(trickle: bool) -> (Client, RtmpServerConn) {
    let (c, mut conn) = connected(trickle);
    c.command(
        &mut conn,
        0,
        &[s("releaseStream"), n(2.0), Amf0Value::Null, s("livestream")],
    )
    .unwrap();
    c.command(
        &mut conn,
        0,
        &[s("FCPublish"), n(3.0), Amf0Value::Null, s("livestream")],
    )
    .unwrap();
    c.command(&mut conn, 0, &[s("createStream"), n(4.0), Amf0Value::Null])
        .unwrap();
    let (mut c, mut conn) = (c, conn);
    assert!(
        conn.is_fmle_publish(),
        "releaseStream/FCPublish: SRS's fmle-publish"
    );
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(cmds.len(), 3);
    assert!(cmds.iter().all(|v| v[0] == s("_result")));
    assert_eq!(cmds[2], vec![s("_result"), n(4.0), Amf0Value::Null, n(1.0)]);
    c.command(
        &mut conn,
        1,
        &[
            s("publish"),
            n(5.0),
            Amf0Value::Null,
            s("livestream?token=abc"),
            s("live"),
        ],
    )
    .unwrap();
    assert_eq!(
        events(&mut conn),
        vec![RtmpEvent::Publish {
            app: "live".into(),
            stream: "livestream".into(),
            param: "?token=abc".into(),
            tc_url: "rtmp://127.0.0.1:1935/live".into(),
        }]
    );
    (c, conn)
}

pub(super) fn publish_flow(trickle: bool) {
    let (mut c, mut conn) = publish_requested(trickle);
    let tags = fixture_tags();
    // The first video tag arrives before the answer: it is held.
    c.set_chunk_size(&mut conn, 4096);
    let first = &tags[1];
    c.send(
        &mut conn,
        6,
        first.timestamp_ms,
        first.kind.type_id(),
        1,
        &first.data,
    )
    .unwrap();
    assert!(events(&mut conn).is_empty());
    conn.accept_publish().unwrap();
    assert!(conn.is_publishing());
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(cmds[0][0], s("onFCPublish"));
    assert_eq!(cmds[1][0], s("onStatus"));
    assert_eq!(code_of(&cmds[1]), Some("NetStream.Publish.Start"));
    assert_eq!(events(&mut conn), vec![RtmpEvent::Media(first.clone())]);

    // Metadata as @setDataFrame: delivered as a bare onMetaData tag.
    let meta = &tags[0];
    let mut body = amf0::encode_all(&[s("@setDataFrame")]);
    body.extend_from_slice(&meta.data);
    c.send(&mut conn, 4, 0, msg_type::DATA_AMF0, 1, &body)
        .unwrap();
    let ev = events(&mut conn);
    assert_eq!(ev, vec![RtmpEvent::Media(meta.clone())]);

    for t in &tags[2..] {
        let cs = if t.kind == TagKind::Audio { 4 } else { 6 };
        c.send(&mut conn, cs, t.timestamp_ms, t.kind.type_id(), 1, &t.data)
            .unwrap();
    }
    let media: Vec<FlvTag> = events(&mut conn)
        .into_iter()
        .map(|e| match e {
            RtmpEvent::Media(t) => t,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(media, tags[2..].to_vec());

    c.command(
        &mut conn,
        0,
        &[s("FCUnpublish"), n(6.0), Amf0Value::Null, s("livestream")],
    )
    .unwrap();
    assert_eq!(events(&mut conn), vec![RtmpEvent::Unpublish]);
    c.command(
        &mut conn,
        0,
        &[s("deleteStream"), n(7.0), Amf0Value::Null, n(1.0)],
    )
    .unwrap();
    assert!(events(&mut conn).is_empty(), "unpublish is reported once");
    conn.handle_eof();
    assert_eq!(events(&mut conn), vec![RtmpEvent::Closed]);
}

#[test]
pub(super) fn publish_end_to_end() {
    publish_flow(false);
}

#[test]
pub(super) fn publish_end_to_end_byte_by_byte() {
    publish_flow(true);
}

#[test]
pub(super) fn eof_while_publishing_unpublishes() {
    let (_c, mut conn) = publish_requested(false);
    conn.accept_publish().unwrap();
    conn.handle_eof();
    assert_eq!(
        events(&mut conn),
        vec![RtmpEvent::Unpublish, RtmpEvent::Closed]
    );
    // Input after close is ignored.
    assert!(conn.handle_input(&[0xff; 10]).is_ok());
}

#[test]
pub(super) fn reject_publish() {
    let (mut c, mut conn) = publish_requested(false);
    conn.reject("stream busy");
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(code_of(&cmds[0]), Some("NetStream.Publish.BadName"));
    assert_eq!(
        cmds[0][3].get("description").and_then(Amf0Value::as_str),
        Some("stream busy")
    );
    assert_eq!(events(&mut conn), vec![RtmpEvent::Closed]);
    assert_eq!(
        conn.accept_publish(),
        Err(RtmpError::NothingToAccept("publish"))
    );
}

#[test]
pub(super) fn play_end_to_end() {
    let (mut c, mut conn) = connected(false);
    c.command(&mut conn, 0, &[s("createStream"), n(2.0), Amf0Value::Null])
        .unwrap();
    c.command(
        &mut conn,
        0,
        &[
            s("getStreamLength"),
            n(3.0),
            Amf0Value::Null,
            s("livestream"),
        ],
    )
    .unwrap();
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(cmds[1], vec![s("_result"), n(3.0), Amf0Value::Null, n(0.0)]);
    // FFmpeg sets the buffer length before play; ignored.
    c.send(
        &mut conn,
        2,
        0,
        msg_type::USER_CONTROL,
        0,
        &[0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8],
    )
    .unwrap();
    c.command(
        &mut conn,
        1,
        &[
            s("play"),
            n(4.0),
            Amf0Value::Null,
            s("livestream"),
            n(-2000.0),
        ],
    )
    .unwrap();
    assert_eq!(
        events(&mut conn),
        vec![RtmpEvent::Play {
            app: "live".into(),
            stream: "livestream".into(),
            param: String::new(),
            tc_url: "rtmp://127.0.0.1:1935/live".into(),
        }]
    );
    let tags = fixture_tags();
    assert_eq!(conn.send_tag(&tags[0]), Err(RtmpError::NotPlaying));
    conn.accept_play().unwrap();
    let msgs = c.receive(&mut conn);
    assert_eq!(msgs[0].type_id, msg_type::USER_CONTROL);
    assert_eq!(msgs[0].payload, vec![0, 0, 0, 0, 0, 1], "StreamBegin 1");
    let cmds = commands(&msgs);
    assert_eq!(code_of(&cmds[0]), Some("NetStream.Play.Reset"));
    assert_eq!(code_of(&cmds[1]), Some("NetStream.Play.Start"));
    assert_eq!(cmds[2][0], s("|RtmpSampleAccess"));

    let mut sent = tags.clone();
    sent.push(FlvTag::new(
        TagKind::Video,
        0x0123_4567,
        tags[5].data.clone(),
    ));
    for t in &sent {
        conn.send_tag(t).unwrap();
    }
    let got: Vec<FlvTag> = c
        .receive(&mut conn)
        .into_iter()
        .map(|m| {
            assert_eq!(m.stream_id, 1);
            let kind = TagKind::from_type_id(m.type_id).unwrap();
            assert_eq!(m.csid, [7, 6, 5][kind as usize], "chunk stream by kind");
            FlvTag::new(kind, m.timestamp, m.payload)
        })
        .collect();
    assert_eq!(got, sent);

    c.command(&mut conn, 1, &[s("closeStream"), n(0.0), Amf0Value::Null])
        .unwrap();
    assert_eq!(events(&mut conn), vec![RtmpEvent::PlayStop]);
    assert!(!conn.is_playing());
}

#[test]
pub(super) fn reject_play() {
    let (mut c, mut conn) = connected(false);
    c.command(
        &mut conn,
        1,
        &[s("play"), n(4.0), Amf0Value::Null, s("nosuch")],
    )
    .unwrap();
    events(&mut conn);
    conn.reject("no such stream");
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(code_of(&cmds[0]), Some("NetStream.Play.StreamNotFound"));
    assert_eq!(events(&mut conn), vec![RtmpEvent::Closed]);
}

#[test]
pub(super) fn ping_and_acknowledgement() {
    let (mut c, mut conn) = connected(false);
    c.send(
        &mut conn,
        2,
        0,
        msg_type::USER_CONTROL,
        0,
        &[0, 6, 0, 0, 0x30, 0x39],
    )
    .unwrap();
    let msgs = c.receive(&mut conn);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].payload,
        vec![0, 7, 0, 0, 0x30, 0x39],
        "PingResponse"
    );
    // Window of 1000 bytes: the next input over it gets an Acknowledgement.
    c.send(
        &mut conn,
        2,
        0,
        msg_type::WINDOW_ACK_SIZE,
        0,
        &1000u32.to_be_bytes(),
    )
    .unwrap();
    c.send(&mut conn, 2, 0, msg_type::ACK, 0, &0u32.to_be_bytes())
        .unwrap();
    let msgs = c.receive(&mut conn);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].type_id, msg_type::ACK);
    let acked = u32::from_be_bytes(msgs[0].payload[..4].try_into().unwrap());
    assert!(
        acked > 3072,
        "counts the handshake and every chunk: {acked}"
    );
}

#[test]
pub(super) fn amf3_command_envelope_is_accepted() {
    let (mut c, mut conn) = connected(false);
    let mut body = vec![0u8];
    body.extend(amf0::encode_all(&[
        s("createStream"),
        n(2.0),
        Amf0Value::Null,
    ]));
    c.send(&mut conn, 3, 0, msg_type::COMMAND_AMF3, 0, &body)
        .unwrap();
    let cmds = commands(&c.receive(&mut conn));
    assert_eq!(cmds[0], vec![s("_result"), n(2.0), Amf0Value::Null, n(1.0)]);
}
