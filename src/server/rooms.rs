//! The process-wide rooms of `/sig/v1/rtc`: one sans-IO [`Rooms`] behind a
//! lock, and a mailbox per WebSocket. A socket on any shard hands its
//! messages in ([`RoomHub::message`]); what the rooms answer or notify goes
//! to the mailboxes of the sockets concerned, on whatever shard they live,
//! and wakes their tasks there. The lock is control plane only: it is held
//! while one message is handled, never on the media path.
//!
//! In a cluster, what local members do comes back to the caller as
//! [`RoomEvent`]s for the cluster thread to publish, and the members of
//! other nodes come in through [`RoomHub::remote`], [`RoomHub::sync`] and
//! [`RoomHub::seed`] (see `server::cluster_rooms`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::signaling::{ConnId, Output, RemoteMember, RoomError, RoomEvent, RoomLimits, Rooms};

/// Messages that may wait for one socket; a socket further behind is
/// dropped from its room and closed (it is not reading).
pub const MAILBOX: usize = 256;

#[derive(Default)]
struct Inner {
    rooms: Rooms,
    mailboxes: HashMap<ConnId, flume::Sender<String>>,
}

/// Every room of the process and the mailbox of every signaling socket.
#[derive(Default)]
pub struct RoomHub {
    inner: Mutex<Inner>,
    next: AtomicU64,
}

/// What a handled message left behind.
#[derive(Debug)]
pub struct Handled {
    /// Whether the socket is now a member of a room.
    pub joined: bool,
    /// The room and display after the message, for the log.
    pub member: Option<(String, String)>,
    /// The refusal, if the message was refused (its answer is in the mailbox).
    pub refused: Option<RoomError>,
    /// What to tell the other nodes (in a cluster).
    pub cluster: Vec<RoomEvent>,
}

impl RoomHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Rooms hold no invariant a panic elsewhere could break half-way.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// In a cluster: this node's id; local members' events are returned
    /// for the other nodes from now on.
    pub fn set_node(&self, node: &str) {
        self.lock().rooms.set_node(node.to_owned());
    }

    /// Whether `conn` is a member of a room.
    pub fn is_member(&self, conn: ConnId) -> bool {
        self.lock().rooms.member(conn).is_some()
    }

    /// Before a local join of `room`: its members on other nodes.
    pub fn seed(&self, room: &str, remote: &[RemoteMember], limits: RoomLimits) {
        let mut inner = self.lock();
        inner.rooms.set_limits(limits);
        inner.rooms.seed_remote(room, remote, Instant::now());
        deliver(&mut inner);
    }

    /// An event of a member on another node.
    pub fn remote(&self, ev: &RoomEvent) {
        let mut inner = self.lock();
        inner.rooms.handle_remote(ev, Instant::now());
        deliver(&mut inner);
    }

    /// `room`'s members on other nodes, as Redis lists them now (members
    /// missing from it leave unless the directory is `settling`).
    pub fn sync(&self, room: &str, remote: &[RemoteMember], settling: bool) {
        let mut inner = self.lock();
        inner
            .rooms
            .sync_remote(room, remote, !settling, Instant::now());
        deliver(&mut inner);
    }

    /// Every room with members here, with theirs (display, publishing).
    pub fn local_members(&self) -> Vec<(String, Vec<(String, bool)>)> {
        self.lock().rooms.local_members()
    }

    /// A new socket: its id and the mailbox it reads.
    pub fn open(&self) -> (ConnId, flume::Receiver<String>) {
        let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = flume::bounded(MAILBOX);
        self.lock().mailboxes.insert(id, tx);
        (id, rx)
    }

    /// One text message from `conn`, handled under `limits`.
    pub fn message(&self, conn: ConnId, text: &str, limits: RoomLimits, now: Instant) -> Handled {
        let mut inner = self.lock();
        inner.rooms.set_limits(limits);
        let before = inner.rooms.member(conn).is_some();
        let refused = inner.rooms.handle_message(conn, text, now).err();
        let member = inner
            .rooms
            .member(conn)
            .map(|(r, d)| (r.to_owned(), d.to_owned()));
        if !before {
            if let Some((room, name)) = &member {
                tracing::info!(
                    room,
                    member = name.as_str(),
                    conn = conn.0,
                    "signaling: joined"
                );
            }
        }
        let cluster = deliver(&mut inner);
        Handled {
            joined: member.is_some(),
            member,
            refused,
            cluster,
        }
    }

    /// `conn` is closed: it leaves its room (the others are told); what to
    /// tell the other nodes is returned.
    pub fn close(&self, conn: ConnId) -> Vec<RoomEvent> {
        let mut inner = self.lock();
        inner.mailboxes.remove(&conn);
        if let Some((room, name)) = inner.rooms.member(conn) {
            tracing::info!(room, member = name, conn = conn.0, "signaling: left");
        }
        inner.rooms.handle_close(conn);
        deliver(&mut inner)
    }

    /// Rooms and members now, for the log and tests.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.rooms.room_count(), inner.rooms.member_count())
    }
}

/// Hands every output to its mailbox, and returns the events for the
/// other nodes. A full mailbox is dropped: its socket sees it closed,
/// closes, and leaves its room.
fn deliver(inner: &mut Inner) -> Vec<RoomEvent> {
    let mut cluster = Vec::new();
    while let Some(out) = inner.rooms.poll_output() {
        let (to, text) = match out {
            Output::Send { to, text } => (to, text),
            Output::Cluster(ev) => {
                cluster.push(ev);
                continue;
            }
        };
        let full = match inner.mailboxes.get(&to) {
            Some(tx) => tx.try_send(text).is_err(),
            None => false,
        };
        if full {
            crate::warn_limited!(
                conn = to.0,
                "signaling: {MAILBOX} messages wait for a socket that is not reading; closing it"
            );
            inner.mailboxes.remove(&to);
        }
    }
    cluster
}
