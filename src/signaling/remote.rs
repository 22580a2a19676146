//! Rooms across nodes: what one node tells the others about its members.
//!
//! With `cluster { enabled on; }`, every node publishes a [`RoomEvent`] on
//! the Redis channel [`CHANNEL`] when one of its members joins, publishes,
//! relays a control call or leaves, and keeps its members in the room's
//! Redis hash (`shardsfu:room:<room>`, display → [`MemberEntry`]) so a
//! member joining anywhere learns who is already there. [`Rooms`] mirrors
//! the members of other nodes, for the rooms that have members here, as
//! remote members: they are listed and notified about like local ones, and
//! are never sent anything (their own node does that).
//!
//! Everything read from Redis is decoded here with bounds; a bad entry or
//! event is refused with the reason, never trusted.
//!
//! [`Rooms`]: super::Rooms

use serde::{Deserialize, Serialize};

use super::message::MAX_DISPLAY_LEN;
use crate::util::is_valid_name;

/// The Redis pub/sub channel of room events.
pub const CHANNEL: &str = "shardsfu:rooms";

/// Longest event accepted from the channel.
pub const MAX_EVENT_LEN: usize = 64 * 1024;

/// Members read from one room's hash; the rest are ignored.
pub const MAX_ENTRIES: usize = 256;

/// The Redis key of `room`'s hash of members.
pub fn room_key(room: &str) -> String {
    format!("{}room:{room}", crate::cluster::KEY_PREFIX)
}

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberEvent {
    /// It entered the room.
    Join,
    /// It now publishes its stream.
    Publish,
    /// It relayed a control call to the others.
    Control,
    /// It left the room.
    Leave,
}

impl MemberEvent {
    /// The notification's `event`.
    pub fn name(self) -> &'static str {
        match self {
            MemberEvent::Join => "join",
            MemberEvent::Publish => "publish",
            MemberEvent::Control => "control",
            MemberEvent::Leave => "leave",
        }
    }
}

/// One member's event, as a node publishes it for the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The node the member is connected to.
    pub node: String,
    /// The room.
    pub room: String,
    /// The member.
    pub display: String,
    /// What happened.
    pub event: MemberEvent,
    /// Whether the member publishes (after the event).
    #[serde(default)]
    pub publishing: bool,
    /// A control's `call`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub call: String,
    /// A control's `data`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
}

/// A member on another node, as a room's hash lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMember {
    /// Its node.
    pub node: String,
    /// Its display.
    pub display: String,
    /// Whether it publishes.
    pub publishing: bool,
}

/// The value of one member in a room's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// The node the member is connected to.
    pub node: String,
    /// Whether it publishes.
    #[serde(default)]
    pub publishing: bool,
}

impl MemberEntry {
    /// The hash value.
    pub fn encode(&self) -> String {
        // Strings and a bool always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why something read from Redis was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// Longer than [`MAX_EVENT_LEN`].
    #[error("a room event of {0} bytes (at most {MAX_EVENT_LEN})")]
    TooLong(usize),
    /// Not the JSON of an event or entry.
    #[error("not a room event or member entry: {0}")]
    Json(String),
    /// A room or display that is not a valid name.
    #[error("invalid {what} {value:?} in a room event or member entry")]
    BadName {
        /// `room`, `display` or `node`.
        what: &'static str,
        /// The value, cut to 64 characters.
        value: String,
    },
}

fn check(what: &'static str, value: &str, max: usize) -> Result<(), RemoteError> {
    if value.len() <= max && is_valid_name(value) {
        return Ok(());
    }
    Err(RemoteError::BadName {
        what,
        value: value.chars().take(64).collect(),
    })
}

/// A node id: the advertised address and a suffix, printable ASCII.
fn check_node(node: &str) -> Result<(), RemoteError> {
    if !node.is_empty() && node.len() <= 128 && node.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(RemoteError::BadName {
        what: "node",
        value: node.chars().take(64).collect(),
    })
}

impl RoomEvent {
    /// The channel message.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A channel message, checked: bounded, valid names.
    pub fn decode(raw: &[u8]) -> Result<RoomEvent, RemoteError> {
        if raw.len() > MAX_EVENT_LEN {
            return Err(RemoteError::TooLong(raw.len()));
        }
        let ev: RoomEvent =
            serde_json::from_slice(raw).map_err(|e| RemoteError::Json(e.to_string()))?;
        check_node(&ev.node)?;
        check("room", &ev.room, 256)?;
        check("display", &ev.display, MAX_DISPLAY_LEN)?;
        Ok(ev)
    }
}

/// The members of a room's hash (`HGETALL`'s field, value pairs) that are
/// on nodes other than `me`, checked; refused entries come back apart.
pub fn remote_members(
    pairs: &[(String, String)],
    me: &str,
) -> (Vec<RemoteMember>, Vec<RemoteError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (display, value) in pairs.iter().take(MAX_ENTRIES) {
        let entry = check("display", display, MAX_DISPLAY_LEN).and_then(|()| {
            let e: MemberEntry =
                serde_json::from_str(value).map_err(|e| RemoteError::Json(e.to_string()))?;
            check_node(&e.node)?;
            Ok(e)
        });
        match entry {
            Ok(e) if e.node == me => {}
            Ok(e) => ok.push(RemoteMember {
                node: e.node,
                display: display.clone(),
                publishing: e.publishing,
            }),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_bad_ones_are_refused() {
        let ev = RoomEvent {
            node: "127.0.0.2:1985-abc".into(),
            room: "call".into(),
            display: "alice".into(),
            event: MemberEvent::Control,
            publishing: true,
            call: "alert".into(),
            data: "hi".into(),
        };
        assert_eq!(RoomEvent::decode(ev.encode().as_bytes()), Ok(ev.clone()));
        let bad_room = ev.encode().replace("\"call\"", "\"../x\"");
        assert!(matches!(
            RoomEvent::decode(bad_room.as_bytes()),
            Err(RemoteError::BadName { what: "room", .. })
        ));
        assert!(matches!(
            RoomEvent::decode(b"{\"node\":\"n\"}"),
            Err(RemoteError::Json(_))
        ));
        let long = vec![b' '; MAX_EVENT_LEN + 1];
        assert_eq!(
            RoomEvent::decode(&long),
            Err(RemoteError::TooLong(MAX_EVENT_LEN + 1))
        );
    }

    #[test]
    fn hash_entries_of_this_node_are_skipped_and_bad_ones_reported() {
        let pairs = vec![
            (
                "alice".to_string(),
                r#"{"node":"a","publishing":true}"#.to_string(),
            ),
            ("bob".to_string(), r#"{"node":"me"}"#.to_string()),
            ("carol".to_string(), "garbage".to_string()),
            ("bad name".to_string(), r#"{"node":"a"}"#.to_string()),
        ];
        let (ok, bad) = remote_members(&pairs, "me");
        assert_eq!(
            ok,
            vec![RemoteMember {
                node: "a".into(),
                display: "alice".into(),
                publishing: true
            }]
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
    }
}
