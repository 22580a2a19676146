//! The built-in signaling (`/sig/v1/rtc`, ossrs/signaling's protocol)
//! against the real server with a real WebSocket client (tungstenite): a
//! call across both ports, and every bad input a stranger can send, each
//! answered with an error message or a close, never a crash.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::ws::*;
use common::*;
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn start() -> Server {
    let ports = Ports::free();
    let conf = format!(
        "{}signaling {{ max_members 3; max_message_size 1024; message_rate 5; message_burst 5; idle_timeout 3; }}\n",
        config(ports, 2, "")
    );
    Server::start(&conf, ports, &[])
}

/// Messages until the server's close frame: (texts, close code, reason).
fn until_close(ws: &mut Ws) -> (Vec<Value>, u16, String) {
    let mut texts = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(Some(f))) => return (texts, f.code.into(), f.reason.to_string()),
            Ok(Message::Close(None)) => return (texts, 1005, String::new()),
            Ok(_) => continue,
            Err(e) => panic!("no close frame, but {e} after {texts:?}"),
        }
    }
}

fn error_of(v: &Value) -> &str {
    assert_eq!(v["msg"]["action"], "error", "{v}");
    v["msg"]["error"].as_str().unwrap()
}

#[test]
fn versions_on_both_ports_as_the_go_app() {
    let srv = start();
    for addr in [srv.http, srv.api] {
        let r = get(&format!("http://{addr}/sig/v1/versions"));
        assert_eq!((r.status, r.body.as_str()), (200, "1.0"), "{addr}");
    }
}

#[test]
fn a_call_across_both_ports() {
    let srv = start();
    let mut a = connect(srv.http);
    let mut b = connect(srv.api);
    send(&mut a, req("t1", "join", "room1", "alice"));
    let ans = recv(&mut a);
    assert_eq!(ans["tid"], "t1");
    assert_eq!(
        ans["msg"]["participants"],
        json!([{"display": "alice", "publishing": false}])
    );
    send(&mut b, req("t2", "join", "room1", "bob"));
    assert_eq!(
        recv(&mut b)["msg"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let n = recv(&mut a);
    assert_eq!(n["msg"]["action"], "notify");
    assert_eq!(n["msg"]["event"], "join");
    assert_eq!(n["msg"]["peer"]["display"], "bob");
    assert_eq!(n["msg"]["self"]["display"], "alice");

    send(&mut a, req("t3", "publish", "room1", "alice"));
    assert_eq!(recv(&mut a), json!({"tid": "t3", "msg": null}));
    let n = recv(&mut b);
    assert_eq!(n["msg"]["event"], "publish");
    assert_eq!(
        n["msg"]["peer"],
        json!({"display": "alice", "publishing": true})
    );

    send(
        &mut b,
        json!({"tid": "t4", "msg": {"action": "control", "room": "room1", "display": "bob", "call": "alert", "data": "hi"}}),
    );
    assert_eq!(recv(&mut b)["tid"], "t4");
    let n = recv(&mut a);
    assert_eq!(
        (n["msg"]["param"].as_str(), n["msg"]["data"].as_str()),
        (Some("alert"), Some("hi"))
    );

    drop(b);
    let n = recv(&mut a);
    assert_eq!(n["msg"]["event"], "leave");
    assert_eq!(n["msg"]["peer"]["display"], "bob");
    assert_eq!(
        n["msg"]["participants"],
        json!([{"display": "alice", "publishing": true}])
    );
}

#[test]
fn bad_input_is_answered_never_a_crash() {
    let mut srv = start();
    let mut ws = connect(srv.http);
    ws.send(Message::text("{not json")).unwrap();
    assert!(error_of(&recv(&mut ws)).starts_with("malformed request"));
    send(&mut ws, req("u", "dance", "r", "x"));
    let v = recv(&mut ws);
    assert_eq!(v["tid"], "u");
    assert!(error_of(&v).contains("\"dance\""), "{v}");
    send(&mut ws, req("p", "publish", "r", "x"));
    assert!(error_of(&recv(&mut ws)).contains("before join"));
    ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert!(error_of(&recv(&mut ws)).contains("binary"));
    // The socket still works after all that.
    send(&mut ws, req("j", "join", "r", "x"));
    assert_eq!(recv(&mut ws)["msg"]["self"]["display"], "x");

    // A duplicate display is refused; the socket may try another.
    let mut dup = connect(srv.api);
    send(&mut dup, req("d", "join", "r", "x"));
    let v = recv(&mut dup);
    assert_eq!(error_of(&v), "display \"x\" is already in room \"r\"");
    send(&mut dup, req("d2", "join", "r", "y"));
    assert_eq!(recv(&mut dup)["msg"]["self"]["display"], "y");
    // Room full at max_members 3.
    let mut third = connect(srv.http);
    send(&mut third, req("z", "join", "r", "z"));
    recv(&mut third);
    let mut fourth = connect(srv.http);
    send(&mut fourth, req("w", "join", "r", "w"));
    assert!(error_of(&recv(&mut fourth)).contains("is full (3 members"));

    // Oversized: closed with 1009 and the sizes.
    let mut big = connect(srv.http);
    big.send(Message::text("x".repeat(2000))).unwrap();
    let (texts, code, reason) = until_close(&mut big);
    assert_eq!(code, 1009, "{reason} {texts:?}");
    assert!(reason.contains("limit of 1024"), "{reason}");

    // Flood: the sixth message at once gets an error and a close (1008).
    let mut flood = connect(srv.api);
    for i in 0..50 {
        if flood
            .send(Message::text(format!("{{\"tid\":\"{i}\"}}")))
            .is_err()
        {
            break;
        }
    }
    let (texts, code, reason) = until_close(&mut flood);
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("more than 5 messages at once"), "{reason}");
    // Five answers (one more per 200 ms the reads were spread over), then
    // the refusal.
    let (last, answers) = texts.split_last().unwrap();
    assert!((5..10).contains(&answers.len()), "{texts:?}");
    assert!(
        answers.iter().all(|a| error_of(a).contains("no \"msg\"")),
        "{texts:?}"
    );
    assert!(error_of(last).contains("more than 5"));

    // Nothing of it hurt the server or the room.
    assert_eq!(get(&srv.api_url("/sig/v1/versions")).status, 200);
    send(&mut third, req("c", "control", "r", "z"));
    assert_eq!(recv(&mut third)["tid"], "c");
    assert!(srv.child.try_wait().unwrap().is_none(), "{}", srv.log());
}

#[test]
fn upgrade_mistakes_get_http_errors() {
    let srv = start();
    let r = get(&format!("http://{}/sig/v1/rtc", srv.http));
    assert_eq!(r.status, 426, "{}", r.body);
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
    let head = raw_http(
        srv.api,
        b"GET /sig/v1/rtc HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Key \"short\" is not 16 bytes"),
        "{head}"
    );
}

#[test]
fn a_socket_that_never_joins_is_closed_after_idle_timeout() {
    let srv = start();
    let mut ws = connect(srv.http);
    let t0 = Instant::now();
    let (texts, code, reason) = until_close(&mut ws);
    let after = t0.elapsed();
    assert!(
        after >= Duration::from_millis(2500) && after < Duration::from_secs(5),
        "{after:?}"
    );
    assert_eq!(code, u16::from(CloseCode::Normal));
    assert!(reason.contains("no join within 3s"), "{reason}");
    assert!(error_of(&texts[0]).contains("no join"));
}

#[test]
fn enabled_off_turns_both_endpoints_off() {
    let ports = Ports::free();
    let conf = format!("{}signaling {{ enabled off; }}\n", config(ports, 1, ""));
    let srv = Server::start(&conf, ports, &[]);
    assert_eq!(get(&srv.api_url("/sig/v1/versions")).status, 404);
    let stream = TcpStream::connect(srv.http).unwrap();
    let refused = tungstenite::client(format!("ws://{}/sig/v1/rtc", srv.http), stream);
    match refused {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 404)
        }
        other => panic!("expected a 404, got {:?}", other.map(|(_, r)| r)),
    }
}
