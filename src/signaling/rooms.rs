//! The rooms of the whole process, as a sans-IO state machine.
//!
//! Each WebSocket is a [`ConnId`]. The runtime feeds every text message with
//! [`Rooms::handle_message`] and every closed socket with
//! [`Rooms::handle_close`], then drains [`Rooms::poll_output`]: answers to
//! the sender and notifications to the other members, each for one socket.
//! Nothing here reads a clock or touches a socket; `now` is when the input
//! arrived.
//!
//! In a cluster ([`Rooms::set_node`]), a room's members on other nodes are
//! mirrored as remote members (see [`super::remote`]): fed in with
//! [`Rooms::handle_remote`] (their events) and [`Rooms::sync_remote`] (the
//! room's Redis hash), they are listed and notified about like local ones;
//! what local members do comes out as [`Output::Cluster`] for the others.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::message::{self, Action, DecodeError, Notify, Participant, Tid};
use super::remote::{MemberEvent, RemoteMember, RoomEvent};

/// One WebSocket, as the runtime numbers them (unique in the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Bounds on what strangers can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    /// Rooms at once in the process.
    pub max_rooms: usize,
    /// Members at once in one room.
    pub max_members: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            max_rooms: 1000,
            max_members: 16,
        }
    }
}

/// Why a well-formed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The request could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// This socket already joined a room.
    #[error("this socket already joined room {room:?} as {display:?}; open another socket to join again")]
    AlreadyJoined {
        /// Its room.
        room: String,
        /// Its display.
        display: String,
    },
    /// Another member of the room has this display.
    #[error("display {display:?} is already in room {room:?}")]
    DisplayTaken {
        /// The room.
        room: String,
        /// The display asked for.
        display: String,
    },
    /// The room has `max_members` members.
    #[error("room {room:?} is full ({max} members, signaling.max_members)")]
    RoomFull {
        /// The room.
        room: String,
        /// The limit.
        max: usize,
    },
    /// The process has `max_rooms` rooms.
    #[error("too many rooms ({max}, signaling.max_rooms): cannot open room {room:?}")]
    TooManyRooms {
        /// The room asked for.
        room: String,
        /// The limit.
        max: usize,
    },
    /// publish or control before join.
    #[error("{action} before join: join a room first")]
    NotJoined {
        /// The action.
        action: &'static str,
    },
    /// publish or control naming another member than the socket's.
    #[error("{action} for {display:?} in room {room:?}, but this socket is {own_display:?} in room {own_room:?}")]
    NotYours {
        /// The action.
        action: &'static str,
        /// The room named.
        room: String,
        /// The display named.
        display: String,
        /// The socket's room.
        own_room: String,
        /// The socket's display.
        own_display: String,
    },
}

/// Something for the runtime to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this text message on the socket.
    Send {
        /// The socket.
        to: ConnId,
        /// The JSON text.
        text: String,
    },
    /// Tell the other nodes (only with [`Rooms::set_node`]).
    Cluster(RoomEvent),
}

/// Where a member is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    /// A socket of this process.
    Local(ConnId),
    /// Another node (by id).
    Remote(String),
}

#[derive(Debug)]
struct Member {
    at: At,
    display: String,
    publishing: bool,
    joined: Instant,
}

#[derive(Debug, Default)]
struct Room {
    members: Vec<Member>,
}

impl Room {
    fn participants(&self) -> Vec<Participant<'_>> {
        self.members.iter().map(Member::participant).collect()
    }
}

impl Member {
    fn conn(&self) -> Option<ConnId> {
        match self.at {
            At::Local(c) => Some(c),
            At::Remote(_) => None,
        }
    }

    fn is_from(&self, node: &str) -> bool {
        matches!(&self.at, At::Remote(n) if n == node)
    }

    fn participant(&self) -> Participant<'_> {
        Participant {
            display: &self.display,
            publishing: self.publishing,
        }
    }
}

/// Every room of the process (see the module docs for the run loop).
#[derive(Debug, Default)]
pub struct Rooms {
    limits: RoomLimits,
    rooms: HashMap<String, Room>,
    /// The room each joined socket is in.
    joined: HashMap<ConnId, String>,
    out: VecDeque<Output>,
    /// This node's id in a cluster.
    node: Option<String>,
}

impl Rooms {
    /// No rooms, these limits.
    pub fn new(limits: RoomLimits) -> Rooms {
        Rooms {
            limits,
            ..Rooms::default()
        }
    }

    /// Replaces the limits (a reload); rooms over a new limit keep their
    /// members, new joins are refused.
    pub fn set_limits(&mut self, limits: RoomLimits) {
        self.limits = limits;
    }

    /// In a cluster, this node's id: local members' events come out as
    /// [`Output::Cluster`] from now on.
    pub fn set_node(&mut self, node: String) {
        self.node = Some(node);
    }

    /// Rooms open now.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Local members of every room together.
    pub fn member_count(&self) -> usize {
        self.joined.len()
    }

    /// The displays in `room`, in joining order (empty if there is no such room).
    pub fn displays(&self, room: &str) -> Vec<String> {
        self.rooms.get(room).map_or_else(Vec::new, |r| {
            r.members.iter().map(|m| m.display.clone()).collect()
        })
    }

    /// The room and display of `conn`, if it joined.
    pub fn member(&self, conn: ConnId) -> Option<(&str, &str)> {
        let room = self.joined.get(&conn)?;
        let m = self
            .rooms
            .get(room)?
            .members
            .iter()
            .find(|m| m.at == At::Local(conn))?;
        Some((room, &m.display))
    }

    /// How long `conn` has been a member at `now`.
    pub fn member_for(&self, conn: ConnId, now: Instant) -> Option<std::time::Duration> {
        let room = self.joined.get(&conn)?;
        let m = self
            .rooms
            .get(room)?
            .members
            .iter()
            .find(|m| m.at == At::Local(conn))?;
        Some(now.saturating_duration_since(m.joined))
    }

    /// One text message from `conn`, arrived at `now`. Its answer (or
    /// refusal) and any notifications are queued for [`Rooms::poll_output`];
    /// the refusal is also returned, for the runtime's log.
    pub fn handle_message(
        &mut self,
        conn: ConnId,
        text: &str,
        now: Instant,
    ) -> Result<(), RoomError> {
        let decoded = message::decode(text);
        let tid = decoded.tid;
        let joining = match &decoded.action {
            Ok(Action::Join { room, .. }) => Some(room.clone()),
            _ => None,
        };
        let result = decoded
            .action
            .map_err(RoomError::from)
            .and_then(|a| self.act(conn, tid.as_ref(), a, now));
        if let Err(e) = &result {
            self.send(conn, message::error_answer(tid.as_ref(), &e.to_string()));
            // A room seeded for this join and refused: nobody here is in it.
            if let Some(room) = joining {
                self.drop_if_unattended(&room);
            }
        }
        result
    }

    /// `conn` is closed: a member leaves its room (the others are told);
    /// the room goes when its last member does.
    pub fn handle_close(&mut self, conn: ConnId) {
        let Some(name) = self.joined.remove(&conn) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        let Some(at) = room.members.iter().position(|m| m.at == At::Local(conn)) else {
            return;
        };
        let gone = room.members.remove(at);
        let texts = notifications(&name, room, &gone, "leave", "", "");
        self.out.extend(texts);
        self.tell_cluster(&name, &gone, MemberEvent::Leave, "", "");
        self.drop_if_unattended(&name);
    }

    /// A member on another node did something (an event from the channel):
    /// the mirror follows and the local members are told. Events about
    /// rooms with no member here, or displays held here, change nothing.
    /// Any event but a leave shows the member is there, so a member missed
    /// so far is added (and its join told) first.
    pub fn handle_remote(&mut self, ev: &RoomEvent, now: Instant) {
        if self.node.as_deref() == Some(ev.node.as_str()) {
            return;
        }
        let Some(r) = self.rooms.get_mut(&ev.room) else {
            return;
        };
        let at = r.members.iter().position(|m| m.display == ev.display);
        if at.is_some_and(|i| !r.members[i].is_from(&ev.node)) {
            return;
        }
        if ev.event == MemberEvent::Leave {
            if let Some(i) = at {
                let gone = r.members.remove(i);
                let texts = notifications(&ev.room, r, &gone, "leave", "", "");
                self.out.extend(texts);
            }
            return;
        }
        let at = match at {
            Some(i) => i,
            // Bounded whatever other nodes (or whoever writes to Redis) say.
            None if r.members.len() >= super::remote::MAX_ENTRIES => return,
            None => {
                r.members.push(Member {
                    at: At::Remote(ev.node.clone()),
                    display: ev.display.clone(),
                    publishing: false,
                    joined: now,
                });
                let i = r.members.len() - 1;
                self.notify_member(&ev.room, i, "join", "", "");
                i
            }
        };
        match ev.event {
            MemberEvent::Publish => self.set_publishing(&ev.room, at),
            MemberEvent::Control => self.notify_member(&ev.room, at, "control", &ev.call, &ev.data),
            MemberEvent::Join | MemberEvent::Leave => {}
        }
    }

    /// `room`'s members on other nodes by its Redis hash, read now: new
    /// ones join, ones that began publishing publish, and (with
    /// `drop_missing`) remote members missing from `remote` leave, each
    /// told to the local members. Displays held here are left alone.
    /// Nothing happens to a room without members here. A hash being
    /// rebuilt (Redis restarted empty) is read without `drop_missing`.
    pub fn sync_remote(
        &mut self,
        room: &str,
        remote: &[RemoteMember],
        drop_missing: bool,
        now: Instant,
    ) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let listed = |m: &Member| {
            remote
                .iter()
                .any(|x| m.is_from(&x.node) && m.display == x.display)
        };
        while let Some(i) = r
            .members
            .iter()
            .position(|m| drop_missing && matches!(m.at, At::Remote(_)) && !listed(m))
        {
            let gone = r.members.remove(i);
            let texts = notifications(room, r, &gone, "leave", "", "");
            self.out.extend(texts);
        }
        for x in remote {
            let ev = RoomEvent {
                node: x.node.clone(),
                room: room.to_owned(),
                display: x.display.clone(),
                event: if x.publishing {
                    MemberEvent::Publish
                } else {
                    MemberEvent::Join
                },
                publishing: x.publishing,
                call: String::new(),
                data: String::new(),
            };
            let known = self.rooms.get(room).and_then(|r| {
                r.members
                    .iter()
                    .find(|m| m.display == x.display)
                    .map(|m| m.publishing)
            });
            // Publish only when it changes; a join only when it is new.
            if known.is_none() || (x.publishing && known == Some(false)) {
                self.handle_remote(&ev, now);
            }
        }
    }

    /// Before a local member joins `room`: opens it (when the room limit
    /// allows) with its members on other nodes, so the join's answer lists
    /// them. A room that stays without local members is dropped again.
    /// Members missing from `remote` stay until the next resync.
    pub fn seed_remote(&mut self, room: &str, remote: &[RemoteMember], now: Instant) {
        if !self.rooms.contains_key(room) && self.rooms.len() < self.limits.max_rooms {
            self.rooms.insert(room.to_owned(), Room::default());
        }
        self.sync_remote(room, remote, false, now);
    }

    /// Every room with local members, with its local members' displays and
    /// whether each publishes (for the cluster's periodic resync).
    pub fn local_members(&self) -> Vec<(String, Vec<(String, bool)>)> {
        self.rooms
            .iter()
            .map(|(name, r)| {
                let local = r
                    .members
                    .iter()
                    .filter(|m| m.conn().is_some())
                    .map(|m| (m.display.clone(), m.publishing))
                    .collect();
                (name.clone(), local)
            })
            .collect()
    }

    fn drop_if_unattended(&mut self, room: &str) {
        if self
            .rooms
            .get(room)
            .is_some_and(|r| r.members.iter().all(|m| m.conn().is_none()))
        {
            self.rooms.remove(room);
        }
    }

    fn set_publishing(&mut self, room: &str, at: usize) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.members[at].publishing = true;
        }
        self.notify_member(room, at, "publish", "", "");
    }

    /// Tells the other nodes about local member `m` of `room`.
    fn tell_cluster(&mut self, room: &str, m: &Member, event: MemberEvent, call: &str, data: &str) {
        let ev = cluster_event(self.node.as_deref(), room, m, event, call, data);
        self.out.extend(ev.map(Output::Cluster));
    }

    /// [`Self::tell_cluster`] about member `at` of `room`.
    fn tell_cluster_at(
        &mut self,
        room: &str,
        at: usize,
        event: MemberEvent,
        call: &str,
        data: &str,
    ) {
        let ev = self.rooms.get(room).and_then(|r| {
            cluster_event(
                self.node.as_deref(),
                room,
                &r.members[at],
                event,
                call,
                data,
            )
        });
        self.out.extend(ev.map(Output::Cluster));
    }

    /// The next thing to send, in the order it was queued.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn send(&mut self, to: ConnId, text: String) {
        self.out.push_back(Output::Send { to, text });
    }

    fn act(
        &mut self,
        conn: ConnId,
        tid: Option<&Tid>,
        action: Action,
        now: Instant,
    ) -> Result<(), RoomError> {
        match action {
            Action::Join { room, display } => self.join(conn, tid, room, display, now),
            Action::Publish { room, display } => {
                let at = self.own(conn, "publish", &room, &display)?;
                self.send(conn, message::empty_answer(tid));
                self.set_publishing(&room, at);
                self.tell_cluster_at(&room, at, MemberEvent::Publish, "", "");
                Ok(())
            }
            Action::Control {
                room,
                display,
                call,
                data,
            } => {
                let at = self.own(conn, "control", &room, &display)?;
                self.send(conn, message::empty_answer(tid));
                self.notify_member(&room, at, "control", &call, &data);
                self.tell_cluster_at(&room, at, MemberEvent::Control, &call, &data);
                Ok(())
            }
        }
    }

    fn join(
        &mut self,
        conn: ConnId,
        tid: Option<&Tid>,
        room: String,
        display: String,
        now: Instant,
    ) -> Result<(), RoomError> {
        if let Some((r, d)) = self.member(conn) {
            return Err(RoomError::AlreadyJoined {
                room: r.to_owned(),
                display: d.to_owned(),
            });
        }
        match self.rooms.get(&room) {
            Some(r) if r.members.iter().any(|m| m.display == display) => {
                return Err(RoomError::DisplayTaken { room, display })
            }
            Some(r) if r.members.len() >= self.limits.max_members => {
                return Err(RoomError::RoomFull {
                    room,
                    max: self.limits.max_members,
                })
            }
            None if self.rooms.len() >= self.limits.max_rooms => {
                return Err(RoomError::TooManyRooms {
                    room,
                    max: self.limits.max_rooms,
                })
            }
            _ => {}
        }
        let r = self.rooms.entry(room.clone()).or_default();
        r.members.push(Member {
            at: At::Local(conn),
            display,
            publishing: false,
            joined: now,
        });
        self.joined.insert(conn, room.clone());
        let at = r.members.len() - 1;
        let text = {
            let all = r.participants();
            message::join_answer(tid, &room, r.members[at].participant(), &all)
        };
        self.send(conn, text);
        self.notify_member(&room, at, "join", "", "");
        self.tell_cluster_at(&room, at, MemberEvent::Join, "", "");
        Ok(())
    }

    /// The index of `conn`'s member in `room`, which must be its own.
    fn own(
        &self,
        conn: ConnId,
        action: &'static str,
        room: &str,
        display: &str,
    ) -> Result<usize, RoomError> {
        let (own_room, own_display) = self.member(conn).ok_or(RoomError::NotJoined { action })?;
        if own_room != room || own_display != display {
            return Err(RoomError::NotYours {
                action,
                room: room.to_owned(),
                display: display.to_owned(),
                own_room: own_room.to_owned(),
                own_display: own_display.to_owned(),
            });
        }
        self.rooms
            .get(room)
            .and_then(|r| r.members.iter().position(|m| m.at == At::Local(conn)))
            .ok_or(RoomError::NotJoined { action })
    }

    /// Tells every other member of `room` about its member `at`.
    fn notify_member(
        &mut self,
        room: &str,
        at: usize,
        event: &'static str,
        param: &str,
        data: &str,
    ) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let peer = &r.members[at];
        let texts = notifications(room, r, peer, event, param, data);
        self.out.extend(texts);
    }
}

/// The event of `m` for the other nodes, when this one is in a cluster.
fn cluster_event(
    node: Option<&str>,
    room: &str,
    m: &Member,
    event: MemberEvent,
    call: &str,
    data: &str,
) -> Option<RoomEvent> {
    Some(RoomEvent {
        node: node?.to_owned(),
        room: room.to_owned(),
        display: m.display.clone(),
        event,
        publishing: m.publishing,
        call: call.to_owned(),
        data: data.to_owned(),
    })
}

/// One notification per local member of `r` other than `peer`.
fn notifications(
    room: &str,
    r: &Room,
    peer: &Member,
    event: &'static str,
    param: &str,
    data: &str,
) -> Vec<Output> {
    let all = r.participants();
    r.members
        .iter()
        .filter(|m| m.at != peer.at)
        .filter_map(|m| Some((m, m.conn()?)))
        .map(|(m, to)| Output::Send {
            to,
            text: message::notify(&Notify {
                event,
                param,
                data,
                room,
                me: m.participant(),
                peer: peer.participant(),
                participants: &all,
            }),
        })
        .collect()
}
