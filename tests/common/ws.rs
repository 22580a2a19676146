//! A signaling WebSocket client (tungstenite) for `/sig/v1/rtc`.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// A client's WebSocket.
pub type Ws = WebSocket<TcpStream>;

/// Opens `/sig/v1/rtc` at `addr` (reads time out after 5 s).
pub fn connect(addr: SocketAddr) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (ws, resp) = tungstenite::client(format!("ws://{addr}/sig/v1/rtc"), stream)
        .unwrap_or_else(|e| panic!("upgrade at {addr}: {e}"));
    assert_eq!(resp.status(), 101);
    ws
}

/// Sends `v` as a text message.
pub fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// The next text message, as JSON (pings are skipped).
pub fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).unwrap(),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// A request of ossrs/signaling's protocol.
pub fn req(tid: &str, action: &str, room: &str, display: &str) -> Value {
    json!({"tid": tid, "msg": {"action": action, "room": room, "display": display}})
}
