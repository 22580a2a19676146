//! `/sig/v1/rtc`: an HTTP connection upgraded to a WebSocket, on the shard
//! that accepted it, driving the sans-IO [`WsConn`] and [`Guard`] and
//! handing messages to the process-wide [`RoomHub`]. A reader task forwards
//! the socket's bytes; the connection's own task waits for them, for its
//! mailbox, for its guard's next deadline, or for the shard to stop.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use shards::glommio;

use crate::config::Config;
use crate::http::{Method, Request, Response};
use crate::server::rooms::RoomHub;
use crate::server::timeouts;
use crate::server::tls::HttpStream;
use crate::server::ShardRuntime;
use crate::signaling::message::Action;
use crate::signaling::{
    self, message, Guard, GuardLimits, MemberEvent, RoomEvent, RoomLimits, Tick, WsConn, WsEvent,
};

/// Whether `req` is for the signaling WebSocket (when it is enabled).
pub fn wants(req: &Request, config: &Config) -> bool {
    config.signaling.enabled
        && req.method != Method::Options
        && req.path.trim_end_matches('/') == signaling::PATH
}

/// The refusal of an upgrade request that cannot be served.
pub fn refusal(e: &signaling::UpgradeError) -> Response {
    let mut r = Response::error(e.status(), &e.to_string());
    if e.status() == 426 {
        r.set_header("Sec-WebSocket-Version", "13");
    }
    r
}

/// The limits of the running configuration.
fn limits(config: &Config) -> (RoomLimits, GuardLimits, usize) {
    let s = &config.signaling;
    let idle = s.idle_timeout;
    (
        RoomLimits {
            max_rooms: s.max_rooms as usize,
            max_members: s.max_members as usize,
        },
        GuardLimits {
            rate: f64::from(s.message_rate),
            burst: f64::from(s.message_burst),
            idle,
            join_within: idle,
        },
        s.max_message_size as usize,
    )
}

/// What woke the connection.
enum Wake {
    Input(Option<Vec<u8>>),
    Mail(Option<String>),
    Timer,
    Stop,
}

/// Serves an upgraded connection until it closes: `head` (the 101) is
/// written first; `leftover` is what the client sent after its request.
pub async fn serve<S: HttpStream + 'static>(
    core: &ShardRuntime,
    stream: S,
    head: Vec<u8>,
    leftover: Vec<u8>,
) {
    let peer = stream.peer_addr();
    let _ = stream.set_read_timeout(None);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    if timeouts::write_all(&mut wr, &head).await.is_err() || timeouts::flush(&mut wr).await.is_err()
    {
        return;
    }
    let hub: &RoomHub = &core.shared.rooms;
    let (conn, mailbox) = hub.open();
    let current = core.shared.current.get();
    let (room_limits, guard_limits, max_message) = limits(&current.config);
    drop(current);
    let mut ws = WsConn::new(&leftover, max_message);
    let mut guard = Guard::new(guard_limits, Instant::now());
    let (in_tx, in_rx) = flume::bounded::<Option<Vec<u8>>>(4);
    let _reader = glommio::spawn_local(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            let msg = (n > 0).then(|| buf[..n].to_vec());
            if in_tx.send_async(msg).await.is_err() || n == 0 {
                return;
            }
        }
    });
    tracing::debug!(
        ?peer,
        conn = conn.0,
        shard = core.id,
        "signaling: WebSocket open"
    );
    let mut why = "closed by the client".to_owned();
    loop {
        let now = Instant::now();
        // Each message's answer goes out before anything a later one says.
        while let Some(ev) = ws.poll_event() {
            on_event(
                core,
                conn,
                &mut ws,
                &mut guard,
                ev,
                room_limits,
                now,
                &mut why,
                peer,
            )
            .await;
            while let Ok(text) = mailbox.try_recv() {
                ws.send_text(&text);
            }
        }
        while let Ok(text) = mailbox.try_recv() {
            ws.send_text(&text);
        }
        while let Some(out) = ws.poll_transmit() {
            let n = out.len().min(timeouts::WRITE_SLICE);
            if timeouts::write_all(&mut wr, &out[..n]).await.is_err() {
                why = "a write failed or timed out".into();
                ws.close(1001, "");
                ws.consume_transmit(usize::MAX);
                break;
            }
            ws.consume_transmit(n);
        }
        if ws.is_closed() || timeouts::flush(&mut wr).await.is_err() {
            break;
        }
        let wait = guard
            .poll_timeout()
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let input = async { Wake::Input(in_rx.recv_async().await.ok().flatten()) };
        let mail = async { Wake::Mail(mailbox.recv_async().await.ok()) };
        let timer = async {
            glommio::timer::sleep(wait).await;
            Wake::Timer
        };
        let stop = async {
            core.stop.stopped().await;
            Wake::Stop
        };
        let wake = futures_lite::future::or(
            futures_lite::future::or(input, mail),
            futures_lite::future::or(timer, stop),
        )
        .await;
        match wake {
            Wake::Input(Some(bytes)) => {
                guard.on_input(Instant::now());
                ws.handle_input(&bytes);
            }
            Wake::Input(None) => ws.handle_eof(),
            Wake::Mail(Some(text)) => ws.send_text(&text),
            Wake::Mail(None) => {
                why = format!(
                    "more than {} messages waited for it",
                    crate::server::rooms::MAILBOX
                );
                ws.close(1008, &why);
            }
            Wake::Timer => match guard.handle_timeout(Instant::now()) {
                Some(Tick::Ping) => ws.ping(),
                Some(Tick::Close(e)) => {
                    why = e.to_string();
                    ws.send_text(&message::error_answer(None, &why));
                    ws.close(1000, &why);
                }
                None => {}
            },
            Wake::Stop => {
                why = "the server is stopping".into();
                ws.close(1001, &why);
            }
        }
    }
    let events = hub.close(conn);
    if let Some(c) = &core.shared.cluster {
        c.room_events(events);
    }
    let _ = timeouts::close(&mut wr).await;
    tracing::debug!(?peer, conn = conn.0, "signaling: WebSocket closed: {why}");
}

/// Carries out one event of the WebSocket. In a cluster, a join first
/// reserves its display cluster-wide (awaited with a deadline: this
/// socket's later messages wait, nobody else's).
#[allow(clippy::too_many_arguments)]
async fn on_event(
    core: &ShardRuntime,
    conn: signaling::ConnId,
    ws: &mut WsConn,
    guard: &mut Guard,
    ev: WsEvent,
    limits: RoomLimits,
    now: Instant,
    why: &mut String,
    peer: Option<SocketAddr>,
) {
    let refuse = |ws: &mut WsConn, why: &mut String, code: u16, reason: String| {
        crate::info_limited!(?peer, "signaling: closing a WebSocket: {reason}");
        ws.send_text(&message::error_answer(None, &reason));
        ws.close(code, &reason);
        *why = reason;
    };
    match ev {
        WsEvent::Text(text) => {
            if let Err(e) = guard.on_message(now) {
                return refuse(ws, why, 1008, e.to_string());
            }
            let hub = &core.shared.rooms;
            let cluster = core.shared.cluster.as_ref();
            let mut reserved = None;
            if let (Some(c), Ok(Action::Join { room, display })) =
                (cluster, message::decode(&text).action)
            {
                if !hub.is_member(conn) {
                    if let Some(grant) = c.room_join(&room, &display).await {
                        hub.seed(&room, &grant.members, limits);
                        reserved = grant.fresh.then_some((room, display));
                    }
                }
            }
            let handled = hub.message(conn, &text, limits, now);
            if let Some(c) = cluster {
                let mut events = handled.cluster;
                // A display reserved for a join refused here is given back.
                if let (Some((room, display)), Some(_)) = (reserved, &handled.refused) {
                    events.push(RoomEvent {
                        node: c.me.id.clone(),
                        room,
                        display,
                        event: MemberEvent::Leave,
                        publishing: false,
                        call: String::new(),
                        data: String::new(),
                    });
                }
                c.room_events(events);
            }
            if handled.joined {
                guard.on_joined();
            }
            if let Some(e) = handled.refused {
                crate::info_limited!(?peer, "signaling: refused: {e}");
            }
        }
        WsEvent::Binary(len) => {
            if let Err(e) = guard.on_message(now) {
                return refuse(ws, why, 1008, e.to_string());
            }
            ws.send_text(&message::error_answer(
                None,
                &format!("a binary message of {len} bytes: signaling messages are JSON text"),
            ));
        }
        WsEvent::Failed(e) => refuse(ws, why, e.close_code(), e.to_string()),
        WsEvent::Closed => {}
    }
}
