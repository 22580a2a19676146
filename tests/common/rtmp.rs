//! A raw RTMP client's first steps, for tests that send what encoders send
//! (or what they never would).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shardsfu::live::rtmp::client;

/// C0 + C1, then S0 S1 S2 back, then C2.
pub fn handshake(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect rtmp");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&client::hello()).unwrap();
    let mut s012 = vec![0u8; client::SERVER_HELLO_LEN];
    s.read_exact(&mut s012).expect("S0 S1 S2");
    assert_eq!(s012[0], 3);
    s.write_all(&client::ack()).unwrap();
    s
}

/// `connect` (app live), `createStream`, then `command` (`play`/`publish`) of `stream`.
pub fn commands(command: &str, stream: &str) -> Vec<u8> {
    client::commands("live", "rtmp://127.0.0.1/live", command, stream)
}
