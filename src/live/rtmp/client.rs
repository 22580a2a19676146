//! The client side's first bytes, for the tests and the load harness (no
//! IO here): the simple handshake (C0 + C1, then C2 once S0 S1 S2 arrived)
//! and the commands that open a stream (`connect`, `createStream`, then
//! `publish` or `play`), as encoders and players send them.

use super::amf0::{encode_all, Amf0Value as V};
use super::chunk::write_message;
use super::handshake::{HANDSHAKE_SIZE, RTMP_VERSION};

/// Bytes of S0 + S1 + S2, which the client reads before sending C2.
pub const SERVER_HELLO_LEN: usize = 1 + 2 * HANDSHAKE_SIZE;

/// C0 + C1 (a plain handshake: version 3, time 0, filler).
pub fn hello() -> Vec<u8> {
    let mut c0c1 = vec![RTMP_VERSION];
    c0c1.extend(std::iter::repeat_n(0x5a, HANDSHAKE_SIZE));
    c0c1
}

/// C2, sent once S0 S1 S2 arrived.
pub fn ack() -> Vec<u8> {
    vec![0u8; HANDSHAKE_SIZE]
}

/// `connect` to `app` (with `tc_url`), `createStream`, then `command`
/// (`publish` or `play`) of `stream`, in 128-byte chunks.
pub fn commands(app: &str, tc_url: &str, command: &str, stream: &str) -> Vec<u8> {
    let list = [
        (
            0,
            vec![
                V::string("connect"),
                V::Number(1.0),
                V::object([("app", V::string(app)), ("tcUrl", V::string(tc_url))]),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rtmp::chunk::ChunkDecoder;

    #[test]
    fn commands_decode_to_connect_create_stream_and_publish() {
        let mut dec = ChunkDecoder::new(1 << 20);
        dec.push(&commands("live", "rtmp://h/live", "publish", "s"));
        let mut names = Vec::new();
        while let Some(m) = dec.next_message().unwrap() {
            let values = crate::live::rtmp::amf0::decode_all(&m.payload).unwrap();
            names.push(values[0].as_str().unwrap().to_string());
        }
        assert_eq!(names, ["connect", "createStream", "publish"]);
        assert_eq!(hello().len() + ack().len(), 1 + 2 * HANDSHAKE_SIZE);
    }
}
