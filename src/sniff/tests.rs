//! The classifier on good and bad first bytes: real shapes (a rustls
//! ClientHello, a framed STUN binding request, HTTP requests) fed whole, in
//! many segments and a byte at a time; garbage; a silent or slow client; an
//! oversized first line; a protocol the port does not serve; a close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::rustls;

use super::*;

const ALL: Protocols = Protocols {
    http: true,
    tls: true,
    rfc4571_stun: true,
};

/// The first flight of a real TLS client (rustls, SNI `localhost`).
fn client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// A STUN binding request with `attrs` bytes of attributes, in one RFC 4571 frame.
fn framed_binding(attrs: usize) -> Vec<u8> {
    let mut stun = vec![0x00, 0x01];
    stun.extend_from_slice(&(attrs as u16).to_be_bytes());
    stun.extend_from_slice(&STUN_COOKIE);
    stun.extend_from_slice(&[7; 12]);
    stun.extend(std::iter::repeat_n(0u8, attrs));
    let mut out = Vec::new();
    assert!(crate::ice::framing::write_frame(&mut out, &stun));
    out
}

const WHIP: &[u8] = b"POST /rtc/v1/whip/?app=live&stream=s HTTP/1.1\r\nHost: x\r\n\r\n";

/// Feeds `data` in pieces of `piece` bytes; returns the verdict and how
/// many bytes had been fed when it was reached.
fn feed(s: &mut Sniffer, data: &[u8], piece: usize) -> (Verdict, usize) {
    let now = Instant::now();
    let mut fed = 0;
    for chunk in data.chunks(piece) {
        fed += chunk.len();
        let v = s.handle_input(now, chunk);
        if v != Verdict::Undecided {
            return (v, fed);
        }
    }
    (s.verdict().clone(), fed)
}

fn sniffer(allowed: Protocols) -> Sniffer {
    Sniffer::new(Instant::now(), allowed, FIRST_BYTES_TIMEOUT)
}

#[test]
fn real_shapes_whole_and_in_pieces() {
    let hello = client_hello();
    assert!(hello.len() > 100, "a ClientHello of {} bytes", hello.len());
    let cases: [(&[u8], Verdict, usize); 5] = [
        (&hello, Verdict::Tls, 6),
        (&framed_binding(0), Verdict::Rfc4571Stun, 10),
        (&framed_binding(88), Verdict::Rfc4571Stun, 10),
        (WHIP, Verdict::Http, 5),
        (b"GET / HTTP/1.1\r\n\r\n", Verdict::Http, 4),
    ];
    for (data, want, needed) in cases {
        // Whole: decided at once, and every byte kept for the protocol.
        let mut s = sniffer(ALL);
        assert_eq!(feed(&mut s, data, data.len()), (want.clone(), data.len()));
        assert_eq!(s.buffered(), data);
        // In many segments (a TLS hello split across 1..7-byte writes) and
        // a byte at a time: decided after the same bytes, the same way.
        for piece in 1..8 {
            let mut s = sniffer(ALL);
            let (v, fed) = feed(&mut s, data, piece);
            assert_eq!(v, want, "pieces of {piece}");
            assert!(
                fed >= needed && fed < needed + piece,
                "decided after {fed} bytes"
            );
            assert_eq!(s.into_buffered(), &data[..fed]);
        }
    }
}

#[test]
fn http_a_byte_at_a_time_is_undecided_until_the_space() {
    let mut s = sniffer(ALL);
    let now = Instant::now();
    for &b in b"POST" {
        assert_eq!(s.handle_input(now, &[b]), Verdict::Undecided);
        assert!(s.poll_timeout().is_some());
    }
    assert_eq!(s.handle_input(now, b" "), Verdict::Http);
    assert_eq!(s.poll_timeout(), None);
    // Decided: later bytes are not kept (they go to the HTTP core).
    assert_eq!(s.handle_input(now, b"/x HTTP/1.1\r\n"), Verdict::Http);
    assert_eq!(s.buffered(), b"POST ");
}

#[test]
fn garbage_is_rejected_at_the_first_byte_that_fits_nothing() {
    let cases: [(&[u8], usize); 8] = [
        (&[0xff; 64], 1),
        (b"\x00\x00\x00\x00\x00\x00", 4),
        (b"get / HTTP/1.1\r\n", 1),
        (b"SSH-2.0-OpenSSH_9.2\r\n", 4),
        (b" GET /", 1),
        // SSLv2-style hello, and TLS records that are not a ClientHello.
        (b"\x80\x2e\x01\x03\x01", 1),
        (b"\x16\x03\x01\x00\x05\x02", 6),
        (b"\x17\x03\x03\x00\x10", 1),
    ];
    for (data, at) in cases {
        let mut s = sniffer(ALL);
        let (v, fed) = feed(&mut s, data, 1);
        assert!(
            matches!(&v, Verdict::Reject(SniffError::Unknown { prefix }) if prefix == &data[..at]),
            "{data:02x?}: {v:?}"
        );
        assert_eq!(fed, at, "{data:02x?}");
        // The error names the bytes.
        if let Verdict::Reject(e) = v {
            assert!(e.to_string().contains(&format!("{:02x}", data[0])), "{e}");
        }
    }
    // A STUN frame whose lengths disagree, or a STUN answer instead of a
    // request, or no magic cookie.
    let mut bad_len = framed_binding(8);
    bad_len[1] += 4;
    let mut answer = framed_binding(8);
    answer[3] = 0x01;
    answer[2] = 0x01;
    let mut no_cookie = framed_binding(8);
    no_cookie[9] ^= 1;
    for data in [bad_len, answer, no_cookie] {
        let mut s = sniffer(ALL);
        let (v, _) = feed(&mut s, &data, 1);
        assert!(
            matches!(v, Verdict::Reject(SniffError::Unknown { .. })),
            "{data:02x?}: {v:?}"
        );
    }
}

#[test]
fn a_silent_or_slow_client_times_out_and_time_going_back_changes_nothing() {
    let t0 = Instant::now();
    let timeout = Duration::from_secs(10);
    let mut silent = Sniffer::new(
        t0,
        Protocols {
            http: true,
            ..Default::default()
        },
        timeout,
    );
    assert_eq!(silent.poll_timeout(), Some(t0 + timeout));
    assert_eq!(
        silent.handle_timeout(t0 + Duration::from_secs(9)),
        Verdict::Undecided
    );
    assert_eq!(silent.handle_timeout(t0), Verdict::Undecided);
    assert_eq!(
        silent.handle_timeout(t0 + timeout),
        Verdict::Reject(SniffError::Timeout {
            waited: timeout,
            got: 0
        })
    );
    // A slow first line: "GE", then nothing more by the deadline. The
    // deadline counts from the accept, not from the last byte.
    let mut slow = Sniffer::new(t0, ALL, timeout);
    assert_eq!(
        slow.handle_input(t0 + Duration::from_secs(9), b"GE"),
        Verdict::Undecided
    );
    assert_eq!(slow.poll_timeout(), Some(t0 + timeout));
    let v = slow.handle_timeout(t0 + timeout + Duration::from_millis(1));
    assert_eq!(
        v,
        Verdict::Reject(SniffError::Timeout {
            waited: timeout,
            got: 2
        })
    );
    assert!(v != Verdict::Undecided && slow.poll_timeout().is_none());
    // A decided connection does not time out here (its protocol has its own).
    let mut decided = Sniffer::new(t0, ALL, timeout);
    decided.handle_input(t0, b"GET ");
    assert_eq!(decided.handle_timeout(t0 + timeout * 2), Verdict::Http);
}

#[test]
fn an_oversized_first_line_is_bounded() {
    // A "method" longer than any: rejected at its 17th letter, never buffered further.
    let long = vec![b'A'; 100_000];
    let mut s = sniffer(ALL);
    let (v, fed) = feed(&mut s, &long, 1);
    assert!(
        matches!(v, Verdict::Reject(SniffError::Unknown { .. })),
        "{v:?}"
    );
    assert_eq!(fed, MAX_METHOD + 1);
    // The longest method is fine.
    let mut s = sniffer(ALL);
    let mut line = vec![b'M'; MAX_METHOD];
    line.extend_from_slice(b" / HTTP/1.1\r\n");
    assert_eq!(feed(&mut s, &line, 1).0, Verdict::Http);
    // A huge request target: HTTP after "GET ", so the sniffer holds 4
    // bytes and the HTTP core's own limits (414/431) apply to the rest.
    let mut huge = b"GET /".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    let mut s = sniffer(ALL);
    let (v, fed) = feed(&mut s, &huge, 1);
    assert_eq!((v, fed, s.buffered().len()), (Verdict::Http, 4, 4));
    // Undecided never holds MAX_DECIDE bytes.
    let mut s = sniffer(ALL);
    for _ in 0..MAX_METHOD {
        assert_eq!(s.handle_input(Instant::now(), b"Z"), Verdict::Undecided);
        assert!(s.buffered().len() < MAX_DECIDE);
    }
}

#[test]
fn a_protocol_the_port_does_not_serve_is_rejected_by_name() {
    let plain_and_rtc = Protocols {
        http: true,
        tls: false,
        rfc4571_stun: true,
    };
    let mut s = sniffer(plain_and_rtc);
    let (v, fed) = feed(&mut s, &client_hello(), 1);
    assert_eq!(
        v,
        Verdict::Reject(SniffError::NotServed {
            protocol: Protocol::Tls
        })
    );
    assert_eq!(fed, 6);
    assert_eq!(
        SniffError::NotServed {
            protocol: Protocol::Tls
        }
        .to_string(),
        "TLS is not served on this port"
    );
    // Inside TLS: HTTP and RFC 4571 only.
    let inner = Protocols {
        http: true,
        tls: false,
        rfc4571_stun: true,
    };
    assert_eq!(classify(&framed_binding(4), inner), Verdict::Rfc4571Stun);
    let http_only = Protocols {
        http: true,
        ..Default::default()
    };
    assert_eq!(
        classify(&framed_binding(4), http_only),
        Verdict::Reject(SniffError::NotServed {
            protocol: Protocol::Rfc4571Stun
        })
    );
}

#[test]
fn a_close_before_the_verdict_is_a_rejection() {
    let mut s = sniffer(ALL);
    assert_eq!(
        s.handle_input(Instant::now(), b"\x00\x64\x00"),
        Verdict::Undecided
    );
    assert_eq!(
        s.handle_eof(),
        Verdict::Reject(SniffError::Closed { got: 3 })
    );
    // Empty input (a zero-length read is the caller's EOF) changes nothing.
    let mut s = sniffer(ALL);
    assert_eq!(s.handle_input(Instant::now(), b""), Verdict::Undecided);
    assert!(s.buffered().is_empty());
}

#[test]
fn the_fuzz_entry_holds_on_samples() {
    let hello = client_hello();
    let samples: Vec<Vec<u8>> = vec![
        vec![],
        vec![7],
        [&[7u8][..], WHIP].concat(),
        [&[0x0f][..], &hello].concat(),
        [&[0xff][..], &framed_binding(20)].concat(),
        [&[0x01][..], &hello].concat(),
        [&[0x13][..], &[0x41; 40][..]].concat(),
        [&[0x06][..], b"\x16\x03"].concat(),
    ];
    for s in samples {
        fuzz_sniff(&s);
    }
}
