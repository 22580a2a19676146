#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::live::rtmp::{RtmpError, RtmpEvent, RtmpServerConn};

// Bytes after a valid handshake (C0/C1/C2) go into the chunk parser and the
// command handling; requests are accepted so the publish/play paths run too.
fuzz_target!(|data: &[u8]| {
    let mut conn = RtmpServerConn::default();
    let mut hs = vec![3u8];
    hs.resize(1 + 2 * 1536, 0);
    conn.handle_input(&hs).expect("a valid handshake");
    // Feed in two pieces to exercise resumption.
    let (a, b) = data.split_at(data.len() / 2);
    for part in [a, b] {
        if conn.handle_input(part).is_err() {
            return;
        }
        while let Some(ev) = conn.poll_event() {
            // A publish or play the client already deleted (`deleteStream`
            // in the same input) has nothing left to accept: the server then
            // drops the publication (rtmp_conn.rs). Any other error is a bug.
            let accepted = match ev {
                RtmpEvent::Publish { .. } => conn.accept_publish(),
                RtmpEvent::Play { .. } => conn.accept_play(),
                _ => Ok(()),
            };
            if let Err(e) = accepted {
                assert!(matches!(e, RtmpError::NothingToAccept(_)), "{e}");
            }
        }
        let _ = conn.poll_transmit();
    }
});
