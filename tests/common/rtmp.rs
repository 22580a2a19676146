//! A raw RTMP client's first steps, for tests that send what encoders send
//! (or what they never would).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shardsfu::live::rtmp::amf0::{encode_all, Amf0Value as V};
use shardsfu::live::rtmp::chunk::write_message;

/// C0 + C1, then S0 S1 S2 back, then C2.
pub fn handshake(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect rtmp");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0x5a, 1536));
    s.write_all(&c0c1).unwrap();
    let mut s012 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s012).expect("S0 S1 S2");
    assert_eq!(s012[0], 3);
    s.write_all(&[0u8; 1536]).unwrap();
    s
}

/// `connect` (app live), `createStream`, then `command` (`play`/`publish`) of `stream`.
pub fn commands(command: &str, stream: &str) -> Vec<u8> {
    let tc_url = "rtmp://127.0.0.1/live";
    let list = [
        (
            0,
            vec![
                V::string("connect"),
                V::Number(1.0),
                V::object([("app", V::string("live")), ("tcUrl", V::string(tc_url))]),
            ],
        ),
        (0, vec![V::string("createStream"), V::Number(2.0), V::Null]),
        (
            1,
            vec![
                V::string(command),
                V::Number(3.0),
                V::Null,
                V::string(stream),
                V::string("live"),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (stream_id, values) in list {
        write_message(&mut out, 3, 0, 20, stream_id, &encode_all(&values), 128);
    }
    out
}
