//! Fuzz entry points, kept in the library so they compile (and run on seed
//! inputs in the unit tests) with every build and cannot rot.

use std::time::{Duration, Instant};

use crate::http::conn::{ServerConn, Timeouts};
use crate::http::request::Limits;
use crate::http::response::Response;

/// Feeds arbitrary bytes into a [`ServerConn`] in two pieces split at a
/// point taken from the data, answering every request, then ends input and
/// fires the timers. Panics only if an invariant breaks: a request body
/// above the limit, output that is not HTTP/1.1, or a connection that does
/// not close after a parse error or end of input.
pub fn server_conn(data: &[u8]) {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    // Small limits on odd control bytes, so 413/431 paths are reachable.
    let limits = if control & 1 == 1 {
        Limits {
            max_head: 256,
            max_body: 64,
            max_headers: 8,
        }
    } else {
        Limits::default()
    };
    let split = if data.is_empty() {
        0
    } else {
        (control as usize * 7919) % (data.len() + 1)
    };
    let t0 = Instant::now();
    let mut conn = ServerConn::with_limits(t0, Timeouts::default(), limits);
    let mut out = Vec::new();
    let mut saw_error = false;
    for (i, piece) in [&data[..split], &data[split..]].into_iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        conn.handle_input(now, piece);
        saw_error |= answer_all(&mut conn, now, &limits, &mut out);
    }
    let end = t0 + Duration::from_secs(1);
    conn.handle_eof(end);
    saw_error |= answer_all(&mut conn, end, &limits, &mut out);
    out.extend_from_slice(&conn.take_transmit());
    if saw_error {
        assert!(conn.is_closed(), "a parse error must close the connection");
    }
    assert!(
        conn.is_closed(),
        "end of input with nothing pending must close"
    );
    conn.handle_timeout(end + Duration::from_secs(3600));
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 "),
        "output must be HTTP/1.1"
    );
}

/// Answers every ready request; returns whether one was an error.
fn answer_all(conn: &mut ServerConn, now: Instant, limits: &Limits, out: &mut Vec<u8>) -> bool {
    let mut saw_error = false;
    while let Some(result) = conn.poll_request() {
        let resp = match result {
            Ok(req) => {
                assert!(
                    req.body.len() <= limits.max_body,
                    "body of {} above the limit",
                    req.body.len()
                );
                Response::text(200, req.path)
            }
            Err(e) => {
                saw_error = true;
                e.response()
            }
        };
        conn.send_response(now, &resp);
    }
    out.extend_from_slice(&conn.take_transmit());
    saw_error
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_do_not_panic() {
        let seeds: &[&[u8]] = &[
            b"\x00GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"\x01POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n",
            b"\x05POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
            b"\x02PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"",
            b"\x07",
            b"\x00\r\n\r\n\r\n",
        ];
        for s in seeds {
            super::server_conn(s);
        }
        // Every split point of a pipelined pair.
        let wire = b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        for c in 0..=255u8 {
            let mut v = vec![c];
            v.extend_from_slice(wire);
            super::server_conn(&v);
        }
    }

    /// A deterministic mutation run over the seed corpus (a poor man's
    /// fuzzer that runs with the unit tests).
    #[test]
    fn mutated_seeds_do_not_panic() {
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/corpus/http_request"
        ))
        .map(|rd| {
            rd.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
        assert!(!seeds.is_empty(), "seed corpus missing");
        let iterations: usize = std::env::var("HTTP_MUTATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000);
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const TOKENS: &[&[u8]] = &[
            b"\r\n",
            b"\r\n\r\n",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
            b"Host: h\r\n",
            b"HTTP/1.1",
            b"HTTP/2.0",
            b"Expect: 100-continue\r\n",
            b"%2e%2e",
            b"ffffffff\r\n",
            b";",
            b"\n",
        ];
        for i in 0..iterations {
            let mut v = seeds[i % seeds.len()].clone();
            for _ in 0..(rnd() % 6 + 1) {
                let pos = if v.is_empty() {
                    0
                } else {
                    (rnd() as usize) % (v.len() + 1)
                };
                match rnd() % 5 {
                    0 if pos < v.len() => v[pos] = rnd() as u8,
                    1 if pos < v.len() => {
                        v.remove(pos);
                    }
                    2 => v
                        .splice(
                            pos..pos,
                            TOKENS[(rnd() as usize) % TOKENS.len()].iter().copied(),
                        )
                        .for_each(drop),
                    3 => {
                        let n = (rnd() % 300) as usize;
                        v.splice(pos..pos, std::iter::repeat_n(rnd() as u8, n))
                            .for_each(drop);
                    }
                    _ => v.truncate(pos),
                }
            }
            super::server_conn(&v);
        }
    }
}
