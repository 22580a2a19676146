//! Scenario tests for the HTTP core: a `ServerConn` driven with virtual time.

use std::time::{Duration, Instant};

use super::*;

const GET: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";

/// Drains everything the connection wants to write, as text.
pub(super) fn drain(conn: &mut ServerConn) -> String {
    let mut out = Vec::new();
    while let Some(b) = conn.poll_transmit() {
        out.extend_from_slice(b);
        let n = b.len();
        conn.consume_transmit(n);
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn conn(now: Instant) -> ServerConn {
    ServerConn::new(now, Timeouts::default())
}

/// Feeds `input` in one call and returns the first poll_request result.
pub(super) fn parse_one(input: &[u8]) -> Result<Request, HttpError> {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, input);
    c.poll_request().expect("a request or an error")
}

pub(super) fn parse_err(input: &[u8]) -> HttpError {
    match parse_one(input) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

/// Feeds `input` and answers the error; returns the wire output and whether
/// the connection closed.
pub(super) fn error_exchange(input: &[u8]) -> (HttpError, String, bool) {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, input);
    let err = c.poll_request().expect("result").expect_err("an error");
    assert!(c.poll_request().is_none(), "the error is returned once");
    c.send_response(now, &err.response());
    let out = drain(&mut c);
    (err, out, c.is_closed())
}

#[test]
pub(super) fn get_keep_alive_then_second_request() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, GET);
    let req = c.poll_request().unwrap().unwrap();
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.path, "/a");
    assert_eq!(req.raw_target, "/a?x=1");
    assert_eq!(req.query_param("x"), Some("1"));
    assert_eq!(req.version, 1);
    assert!(req.keep_alive());
    assert!(req.body.is_empty());
    assert!(c.poll_request().is_none());
    c.send_response(now, &Response::text(200, "hello"));
    let out = drain(&mut c);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Connection: keep-alive\r\n"));
    assert!(out.contains(&format!(
        "Server: shardsfu/{}\r\n",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(out.contains("Content-Length: 5\r\n"));
    assert!(out.ends_with("\r\n\r\nhello"));
    assert!(!c.is_closed());

    c.handle_input(
        now,
        b"DELETE /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let req = c.poll_request().unwrap().unwrap();
    assert_eq!(req.method, Method::Delete);
    assert!(!req.keep_alive());
    c.send_response(now, &Response::new(200));
    let out = drain(&mut c);
    assert!(out.contains("Connection: close\r\n"));
    assert!(c.is_closed());
}

#[test]
pub(super) fn http10_keep_alive_rules() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    let req = c.poll_request().unwrap().unwrap();
    assert_eq!(req.version, 0);
    assert!(req.keep_alive());
    c.send_response(now, &Response::new(200));
    assert!(drain(&mut c).contains("Connection: keep-alive"));
    assert!(!c.is_closed());

    c.handle_input(now, b"GET / HTTP/1.0\r\n\r\n");
    let req = c.poll_request().unwrap().unwrap();
    assert!(!req.keep_alive(), "HTTP/1.0 closes by default");
    c.send_response(now, &Response::new(200));
    assert!(drain(&mut c).contains("Connection: close"));
    assert!(c.is_closed());
}

#[test]
pub(super) fn pipelined_requests_in_order() {
    let now = Instant::now();
    let mut c = conn(now);
    let mut input = Vec::new();
    input.extend_from_slice(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    input.extend_from_slice(b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    input.extend_from_slice(b"\r\nHEAD /3 HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HTTP/1.1\r\nHo");
    c.handle_input(now, &input);
    let mut seen = Vec::new();
    while let Some(req) = c.poll_request() {
        let req = req.unwrap();
        seen.push((req.path.clone(), req.body.clone()));
        let body = format!("resp{}", req.path);
        c.send_response(now, &Response::text(200, body));
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, "/1");
    assert_eq!(seen[1].0, "/2");
    assert_eq!(&seen[1].1[..], b"abc");
    assert_eq!(seen[2].0, "/3");
    let out = drain(&mut c);
    let p1 = out.find("resp/1").unwrap();
    let p2 = out.find("resp/2").unwrap();
    assert!(p1 < p2);
    assert!(!out.contains("resp/3"), "HEAD has no body");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3);
    // The 4th completes later.
    c.handle_input(now, b"st: h\r\n\r\n");
    assert_eq!(c.poll_request().unwrap().unwrap().path, "/4");
}

#[test]
pub(super) fn byte_by_byte_post() {
    let wire = b"POST /rtc/v1/whip/?app=live&stream=s1 HTTP/1.1\r\nHost: localhost:1985\r\nContent-Type: Application/SDP; charset=UTF-8\r\nContent-Length: 12\r\n\r\nv=0\r\no=- 1\r\n";
    let now = Instant::now();
    let mut c = conn(now);
    let mut got = None;
    for (i, b) in wire.iter().enumerate() {
        c.handle_input(now, std::slice::from_ref(b));
        if let Some(r) = c.poll_request() {
            assert_eq!(i, wire.len() - 1, "complete only at the last byte");
            got = Some(r.unwrap());
        }
    }
    let req = got.unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.path, "/rtc/v1/whip/");
    assert_eq!(req.query_param("app"), Some("live"));
    assert_eq!(req.query_param("stream"), Some("s1"));
    assert_eq!(req.content_type(), Some("application/sdp"));
    assert_eq!(
        req.header("content-type"),
        Some("application/sdp; charset=UTF-8")
    );
    assert_eq!(req.host(), Some("localhost:1985"));
    assert_eq!(&req.body[..], b"v=0\r\no=- 1\r\n");
}

#[test]
pub(super) fn chunked_post_bytewise_then_next() {
    let wire = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n";
    let now = Instant::now();
    let mut c = conn(now);
    let mut reqs = Vec::new();
    for b in wire {
        c.handle_input(now, std::slice::from_ref(b));
        while let Some(r) = c.poll_request() {
            reqs.push(r.unwrap());
            c.send_response(now, &Response::new(200));
        }
    }
    assert_eq!(reqs.len(), 2);
    assert_eq!(&reqs[0].body[..], b"abcde");
    assert_eq!(reqs[1].path, "/n");
}

#[test]
pub(super) fn head_and_204_framing() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.poll_request().unwrap().unwrap();
    c.send_response(now, &Response::text(200, "abcdef"));
    let out = drain(&mut c);
    assert!(out.contains("Content-Length: 6\r\n"));
    assert!(out.ends_with("\r\n\r\n"));

    let mut out = Vec::new();
    Response::new(204)
        .with_header("X", "1")
        .encode(false, true, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"));
    assert!(!out.contains("Content-Length"));
}

#[test]
pub(super) fn response_encoding_is_safe() {
    let resp = Response::text(201, "x")
        .with_header("Location", "/a\r\nSet-Cookie: evil")
        .with_header("Content-Length", "999")
        .with_header("Bad Name", "v")
        .with_header("Connection", "close");
    let mut out = Vec::new();
    resp.encode(false, true, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201 Created\r\n"));
    assert!(out.contains("Location: /a  Set-Cookie: evil\r\n"));
    assert!(!out.contains("999"));
    assert!(!out.contains("Bad Name"));
    assert!(
        out.contains("Connection: close\r\n"),
        "a close header wins over keep_alive"
    );
    assert_eq!(out.matches("Connection:").count(), 1);

    let j = Response::json(200, &serde_json::json!({"code": 0, "sdp": "v=0"}));
    assert_eq!(j.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&j.body).unwrap();
    assert_eq!(v["code"], 0);
    let e = Response::error(404, "no such stream");
    assert_eq!(e.status, 404);
    assert_eq!(&e.body[..], b"no such stream\n");
    let b = Response::bytes(200, "application/sdp", b"v=0".to_vec());
    assert_eq!(b.header("Content-Type"), Some("application/sdp"));
    let mut out = Vec::new();
    Response::new(599).encode(false, false, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 599 \r\n"));
}

#[test]
pub(super) fn error_400_cases() {
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /%ff HTTP/1.1\r\nHost: h\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET / FOO/1.1\r\nHost: h\r\n\r\n",
    ];
    for case in cases {
        let (err, out, closed) = error_exchange(case);
        assert_eq!(
            err.status(),
            400,
            "{:?} gave {err:?}",
            String::from_utf8_lossy(case)
        );
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"));
        assert!(out.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(out.ends_with(&format!("{}\n", err.reason())));
        assert!(closed);
    }
    // Same Content-Length repeated is accepted.
    let req = parse_one(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab",
    )
    .unwrap();
    assert_eq!(&req.body[..], b"ab");
}

#[test]
pub(super) fn error_variants_name_values() {
    assert_eq!(
        parse_err(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        HttpError::BadContentLength {
            value: "3, 4".into()
        }
    );
    assert_eq!(
        parse_err(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
        HttpError::LengthAndTransferEncoding { content_length: "3".into(), transfer_encoding: "chunked".into() }
    );
    assert_eq!(
        parse_err(b"GET / HTTP/1.1\r\n\r\n"),
        HttpError::BadHost {
            why: "HTTP/1.1 request without Host"
        }
    );
    let e = parse_err(b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        matches!(e, HttpError::BadTarget { ref target, .. } if target == "foo"),
        "{e:?}"
    );
}

#[test]
pub(super) fn error_413_cases() {
    let (err, out, closed) =
        error_exchange(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n");
    assert_eq!(
        err,
        HttpError::BodyTooLarge {
            length: 65537,
            limit: 65536
        }
    );
    assert!(out.starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    assert!(closed);
    // Exactly the limit is fine.
    let body = vec![b'x'; 65536];
    let mut wire = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n".to_vec();
    wire.extend_from_slice(&body);
    assert_eq!(parse_one(&wire).unwrap().body.len(), 65536);
    // Chunked total over the limit, in small chunks.
    let mut wire = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..65 {
        wire.extend_from_slice(b"400\r\n");
        wire.extend_from_slice(&[b'y'; 1024]);
        wire.extend_from_slice(b"\r\n");
    }
    let (err, _, _) = error_exchange(&wire);
    assert_eq!(err.status(), 413);
    assert!(
        matches!(err, HttpError::BodyTooLarge { length: 66560, .. }),
        "{err:?}"
    );
}

#[test]
pub(super) fn error_431_cases() {
    let mut wire = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    wire.extend(std::iter::repeat_n(b'a', 17 * 1024));
    let (err, out, closed) = error_exchange(&wire);
    assert_eq!(err, HttpError::HeadersTooLarge { limit: 16384 });
    assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(closed);
    // Also when the head is complete but too large.
    wire.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_err(&wire).status(), 431);
    // A long request line fed byte by byte.
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET /");
    for _ in 0..17000 {
        c.handle_input(now, b"a");
    }
    assert_eq!(c.poll_request().unwrap().unwrap_err().status(), 431);

    let mut wire = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..100 {
        wire.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    assert_eq!(parse_err(&wire), HttpError::TooManyHeaders { limit: 100 });
}

#[test]
pub(super) fn error_505_cases() {
    let (err, out, closed) = error_exchange(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(err, HttpError::Http2Preface);
    assert!(out.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    assert!(closed);
    assert_eq!(
        parse_err(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        HttpError::UnsupportedVersion {
            version: "HTTP/2.0".into()
        }
    );
    assert_eq!(parse_err(b"GET / HTTP/3\r\nHost: h\r\n\r\n").status(), 505);
    assert_eq!(
        parse_err(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n").status(),
        505
    );
    // Detected before the head ends.
    assert_eq!(parse_err(b"GET / HTTP/2").status(), 505);
}

#[test]
pub(super) fn error_501_and_417() {
    let e = parse_err(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(
        e,
        HttpError::UnsupportedTransferEncoding {
            value: "gzip, chunked".into()
        }
    );
    assert_eq!(e.status(), 501);
    let e = parse_err(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n");
    assert_eq!(e.status(), 417);
}

#[test]
pub(super) fn expect_100_continue() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    assert!(c.poll_request().is_none());
    assert_eq!(drain(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    c.handle_input(now, b"abcd");
    assert_eq!(&c.poll_request().unwrap().unwrap().body[..], b"abcd");
    // Not sent when the body came along with the head.
    let mut c = conn(now);
    c.handle_input(
        now,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
    );
    assert!(c.poll_request().unwrap().is_ok());
    assert!(c.poll_transmit().is_none());
}

#[test]
pub(super) fn error_closes_and_ignores_further_input() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let e = c.poll_request().unwrap().unwrap_err();
    c.handle_input(now, GET);
    assert!(c.poll_request().is_none());
    assert!(
        !c.is_closed(),
        "not closed until the error response is written"
    );
    c.send_response(now, &e.response());
    assert!(!c.is_closed());
    let out = drain(&mut c);
    assert_eq!(out.matches("HTTP/1.1").count(), 1);
    assert!(c.is_closed());
    assert!(c.poll_request().is_none());
}

#[test]
pub(super) fn idle_timeout_closes_quietly() {
    let t0 = Instant::now();
    let mut c = conn(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    c.handle_timeout(t0 + Duration::from_secs(29));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + Duration::from_secs(30));
    assert!(c.is_closed());
    assert!(c.poll_transmit().is_none());

    // The idle clock restarts after each response.
    let mut c = conn(t0);
    let t1 = t0 + Duration::from_secs(20);
    c.handle_input(t1, GET);
    c.poll_request().unwrap().unwrap();
    assert_eq!(c.poll_timeout(), None, "no timer while the handler works");
    let t2 = t0 + Duration::from_secs(100);
    c.send_response(t2, &Response::new(200));
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(t2 + Duration::from_secs(30)));
    c.handle_timeout(t2 + Duration::from_secs(31));
    assert!(c.is_closed());
}

#[test]
pub(super) fn slowloris_header_timeout_408() {
    let t0 = Instant::now();
    let mut c = conn(t0);
    let t1 = t0 + Duration::from_secs(5);
    c.handle_input(t1, b"GET / HTTP/1.1\r\n");
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(10)));
    // Trickling more bytes does not extend the deadline.
    for i in 1..10 {
        c.handle_input(t1 + Duration::from_secs(i), b"X");
    }
    c.handle_timeout(t1 + Duration::from_secs(9));
    assert!(c.poll_transmit().is_none());
    c.handle_timeout(t1 + Duration::from_secs(10));
    assert!(c.poll_request().is_none());
    let out = drain(&mut c);
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(out.contains("Connection: close"));
    assert!(out.contains("Access-Control-Allow-Origin: *"));
    assert!(c.is_closed());
}

#[test]
pub(super) fn slow_body_timeout_408() {
    let t0 = Instant::now();
    let mut c = conn(t0);
    let t1 = t0 + Duration::from_secs(8);
    c.handle_input(t0, b"POST / HTTP/1.1\r\nHost: h\r\n");
    c.handle_input(t1, b"Content-Length: 10\r\n\r\nabc");
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    c.handle_timeout(t1 + Duration::from_secs(30));
    let out = drain(&mut c);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    assert!(out.contains("request body not received within 30s"));
    assert!(c.is_closed());
}

#[test]
pub(super) fn closing_with_unwritten_output_gives_up() {
    let t0 = Instant::now();
    let mut c = conn(t0);
    c.handle_input(
        t0,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    c.poll_request().unwrap().unwrap();
    c.send_response(t0, &Response::text(200, "x"));
    assert!(!c.is_closed());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    c.handle_timeout(t0 + Duration::from_secs(30));
    assert!(c.is_closed());
}

#[test]
pub(super) fn eof_handling() {
    let now = Instant::now();
    // EOF while idle closes.
    let mut c = conn(now);
    c.handle_eof(now);
    assert!(c.is_closed());
    // EOF after a complete request: answered with close, then closed.
    let mut c = conn(now);
    c.handle_input(now, GET);
    c.handle_eof(now);
    c.poll_request().unwrap().unwrap();
    c.send_response(now, &Response::new(200));
    assert!(drain(&mut c).contains("Connection: close"));
    assert!(c.is_closed());
    // EOF mid-request drops it.
    let mut c = conn(now);
    c.handle_input(now, b"GET / HT");
    c.handle_eof(now);
    assert!(c.poll_request().is_none());
    assert!(c.is_closed());
}

#[test]
pub(super) fn take_transmit_and_partial_consume() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, GET);
    c.poll_request().unwrap().unwrap();
    c.send_response(now, &Response::text(200, "abc"));
    let all = c.poll_transmit().unwrap().to_vec();
    c.consume_transmit(5);
    assert_eq!(c.poll_transmit().unwrap(), &all[5..]);
    assert_eq!(c.take_transmit(), &all[5..]);
    assert!(c.poll_transmit().is_none());
    c.consume_transmit(100);
}

#[test]
pub(super) fn input_flood_while_handling_closes_after_response() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, GET);
    c.poll_request().unwrap().unwrap();
    let junk = vec![b'G'; 64 * 1024];
    for _ in 0..3 {
        c.handle_input(now, &junk);
    }
    assert!(!c.wants_input());
    c.send_response(now, &Response::new(200));
    assert!(drain(&mut c).contains("Connection: close"));
    assert!(c.is_closed());
}

#[test]
pub(super) fn request_helpers() {
    let req = parse_one(
        b"OPTIONS http://example.com:8080/rtc/v1/whep/?app=live&stream=a+b%21 HTTP/1.1\r\nhost: example.com\r\nCONNECTION: keep-alive, Upgrade\r\nContent-Type: text/plain\r\n\r\n",
    )
    .unwrap();
    assert_eq!(req.method, Method::Options);
    assert_eq!(req.path, "/rtc/v1/whep/");
    assert_eq!(req.query_param("stream"), Some("a b!"));
    assert_eq!(req.host(), Some("example.com"));
    assert_eq!(req.header("Connection"), Some("keep-alive, Upgrade"));
    assert!(req.keep_alive());
    assert_eq!(req.content_type(), Some("text/plain"));
    assert_eq!(
        parse_one(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .path,
        "*"
    );
    assert_eq!(
        parse_one(b"GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .query_param("x"),
        Some("1")
    );
    let r = parse_one(b"get /%2e%2E/a%20b HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.method, Method::Other("get".into()));
    assert_eq!(r.path, "/../a b");
    assert_eq!(Method::parse("PATCH"), Method::Patch);
    assert_eq!(Method::Other("MKCOL".into()).to_string(), "MKCOL");
    let r = Request::from_parts(Method::Post, "/rtc/v1/whip/?app=live", vec![], "v=0").unwrap();
    assert_eq!(r.query_param("app"), Some("live"));
    assert!(r.content_type().is_none());
    assert!(Request::from_parts(Method::Get, "nope", vec![], "").is_err());
}
