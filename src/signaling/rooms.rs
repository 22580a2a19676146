//! The rooms of the whole process, as a sans-IO state machine.
//!
//! Each WebSocket is a [`ConnId`]. The runtime feeds every text message with
//! [`Rooms::handle_message`] and every closed socket with
//! [`Rooms::handle_close`], then drains [`Rooms::poll_output`]: answers to
//! the sender and notifications to the other members, each for one socket.
//! Nothing here reads a clock or touches a socket; `now` is when the input
//! arrived.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::message::{self, Action, DecodeError, Notify, Participant, Tid};

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
}

#[derive(Debug)]
struct Member {
    conn: ConnId,
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

    /// Rooms open now.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Members of every room together.
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
            .find(|m| m.conn == conn)?;
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
            .find(|m| m.conn == conn)?;
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
        let result = decoded
            .action
            .map_err(RoomError::from)
            .and_then(|a| self.act(conn, tid.as_ref(), a, now));
        if let Err(e) = &result {
            self.send(conn, message::error_answer(tid.as_ref(), &e.to_string()));
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
        let Some(at) = room.members.iter().position(|m| m.conn == conn) else {
            return;
        };
        let gone = room.members.remove(at);
        if room.members.is_empty() {
            self.rooms.remove(&name);
            return;
        }
        let texts = notifications(&name, room, &gone, "leave", "", "");
        self.out.extend(texts);
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
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.members[at].publishing = true;
                }
                self.send(conn, message::empty_answer(tid));
                self.notify_member(&room, at, "publish", "", "");
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
            conn,
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
            .and_then(|r| r.members.iter().position(|m| m.conn == conn))
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

/// One notification per member of `r` other than `peer`.
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
        .filter(|m| m.conn != peer.conn)
        .map(|m| Output::Send {
            to: m.conn,
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
