//! The messages of ossrs/signaling, decoded and encoded.
//!
//! A request is `{"tid": T, "msg": {"action": A, "room": R, "display": D,
//! "call": C, "data": X}}`; its answer echoes `tid` with `{"msg": ...}`;
//! a notification is `{"msg": {"action": "notify", "event": E, ...}}`.
//! shardsfu adds one answer the Go app does not have: a refused request is
//! answered `{"tid": T, "msg": {"action": "error", "error": "why"}}` (the
//! Go app closes the socket instead).

use serde::{Deserialize, Serialize};

use crate::util::is_valid_name;

/// Longest display name accepted (it becomes a stream name).
pub const MAX_DISPLAY_LEN: usize = 64;

/// A request's transaction id, echoed in its answer: a string (SRS's pages
/// send 7 hex digits) or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tid {
    /// A string id.
    Text(String),
    /// A numeric id, echoed as the client wrote it.
    Number(serde_json::Number),
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Enter `room` as `display`.
    Join {
        /// The room (the `app` of its members' streams).
        room: String,
        /// The member's name (the `stream` of its media).
        display: String,
    },
    /// The member now publishes `webrtc://host/<room>/<display>`.
    Publish {
        /// The room named in the request (must be the member's).
        room: String,
        /// The display named in the request (must be the member's).
        display: String,
    },
    /// Relay `call` and `data` to the other members.
    Control {
        /// The room named in the request (must be the member's).
        room: String,
        /// The display named in the request (must be the member's).
        display: String,
        /// What to do (`refresh`, `alert` in SRS's pages); the notify's `param`.
        call: String,
        /// Its argument; the notify's `data`.
        data: String,
    },
}

impl Action {
    /// The action's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Join { .. } => "join",
            Action::Publish { .. } => "publish",
            Action::Control { .. } => "control",
        }
    }
}

/// A decoded request: its id (when one could be read) and its action or
/// why it cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The `tid`, if the text was a JSON object with a usable one.
    pub tid: Option<Tid>,
    /// The action, or the reason it was refused.
    pub action: Result<Action, DecodeError>,
}

/// Why a request cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or a field of the wrong type.
    #[error("malformed request: {reason}")]
    Json {
        /// serde_json's description (with line and column).
        reason: String,
    },
    /// No `msg` object.
    #[error("the request has no \"msg\" object")]
    NoMsg,
    /// `msg` has no `action`.
    #[error("the request's msg has no \"action\"")]
    NoAction,
    /// An action other than join, publish and control.
    #[error("unknown action {action:?}: expected join, publish or control")]
    UnknownAction {
        /// The action as sent (cut to 64 characters).
        action: String,
    },
    /// A field the action needs is absent.
    #[error("{action} needs msg.{field}")]
    Missing {
        /// The action.
        action: &'static str,
        /// The absent field.
        field: &'static str,
    },
    /// A room or display that cannot name a stream.
    #[error("{field} {value:?} is not usable: {reason}")]
    BadName {
        /// `room` or `display`.
        field: &'static str,
        /// The value as sent (cut to 64 characters).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    tid: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

/// At most 64 characters of `s`, for error messages.
fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::Json {
        reason: cut_reason(&e.to_string()),
    }
}

fn cut_reason(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Decodes one text message. Never panics; every refusal says why.
pub fn decode(text: &str) -> Decoded {
    let env: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            return Decoded {
                tid: None,
                action: Err(json_error(e)),
            }
        }
    };
    let tid = env.tid.and_then(|t| match t {
        serde_json::Value::String(s) => Some(Tid::Text(s)),
        serde_json::Value::Number(n) => Some(Tid::Number(n)),
        _ => None,
    });
    let action = match env.msg {
        Some(m @ serde_json::Value::Object(_)) => serde_json::from_value::<Body>(m)
            .map_err(json_error)
            .and_then(action),
        _ => Err(DecodeError::NoMsg),
    };
    Decoded { tid, action }
}

fn action(b: Body) -> Result<Action, DecodeError> {
    let name = b.action.ok_or(DecodeError::NoAction)?;
    let action: &'static str = match name.as_str() {
        "join" => "join",
        "publish" => "publish",
        "control" => "control",
        _ => return Err(DecodeError::UnknownAction { action: cut(&name) }),
    };
    let room = b.room.ok_or(DecodeError::Missing {
        action,
        field: "room",
    })?;
    let display = b.display.ok_or(DecodeError::Missing {
        action,
        field: "display",
    })?;
    check_name("room", &room, crate::util::MAX_NAME_LEN)?;
    check_name("display", &display, MAX_DISPLAY_LEN)?;
    Ok(match action {
        "join" => Action::Join { room, display },
        "publish" => Action::Publish { room, display },
        _ => Action::Control {
            room,
            display,
            call: b.call.unwrap_or_default(),
            data: b.data.unwrap_or_default(),
        },
    })
}

fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), DecodeError> {
    let reason = if value.is_empty() {
        "it is empty".to_owned()
    } else if value.len() > max {
        format!("it is longer than {max} bytes")
    } else if !is_valid_name(value) {
        "only A-Z a-z 0-9 - _ . ~ are allowed (it names a stream)".to_owned()
    } else {
        return Ok(());
    };
    Err(DecodeError::BadName {
        field,
        value: cut(value),
        reason,
    })
}

/// A member as the protocol shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Participant<'a> {
    /// Its display name.
    pub display: &'a str,
    /// Whether it has said `publish`.
    pub publishing: bool,
}

/// The answer to a join: `{"tid", "msg": {action, room, self, participants}}`.
pub fn join_answer(tid: Option<&Tid>, room: &str, me: Participant, all: &[Participant]) -> String {
    #[derive(Serialize)]
    struct Msg<'a> {
        action: &'static str,
        room: &'a str,
        #[serde(rename = "self")]
        me: Participant<'a>,
        participants: &'a [Participant<'a>],
    }
    answer(
        tid,
        Msg {
            action: "join",
            room,
            me,
            participants: all,
        },
    )
}

/// The answer to a publish or control: `{"tid", "msg": null}`, as the Go app.
pub fn empty_answer(tid: Option<&Tid>) -> String {
    answer(tid, serde_json::Value::Null)
}

/// A refusal: `{"tid", "msg": {"action": "error", "error": why}}` (no
/// `tid` when the request had none).
pub fn error_answer(tid: Option<&Tid>, why: &str) -> String {
    answer(
        tid,
        serde_json::json!({
            "action": "error",
            "error": why,
        }),
    )
}

fn answer(tid: Option<&Tid>, msg: impl Serialize) -> String {
    #[derive(Serialize)]
    struct Answer<'a, M> {
        #[serde(skip_serializing_if = "Option::is_none")]
        tid: Option<&'a Tid>,
        msg: M,
    }
    // Serializing strings, numbers and bools into a String cannot fail.
    serde_json::to_string(&Answer { tid, msg }).unwrap_or_default()
}

/// What a notification tells a member.
#[derive(Debug, Clone, Copy)]
pub struct Notify<'a> {
    /// `join`, `publish`, `control` or `leave`.
    pub event: &'static str,
    /// The control's `call` (left out when empty, as the Go app).
    pub param: &'a str,
    /// The control's `data` (left out when empty).
    pub data: &'a str,
    /// The room.
    pub room: &'a str,
    /// The member it is sent to.
    pub me: Participant<'a>,
    /// The member the event is about.
    pub peer: Participant<'a>,
    /// The room's members after the event.
    pub participants: &'a [Participant<'a>],
}

/// `{"msg": {"action": "notify", event, param, data, room, self, peer, participants}}`.
pub fn notify(n: &Notify) -> String {
    #[derive(Serialize)]
    struct Msg<'a> {
        action: &'static str,
        event: &'static str,
        #[serde(skip_serializing_if = "str::is_empty")]
        param: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        data: &'a str,
        room: &'a str,
        #[serde(rename = "self")]
        me: &'a Participant<'a>,
        peer: &'a Participant<'a>,
        participants: &'a [Participant<'a>],
    }
    #[derive(Serialize)]
    struct Out<'a> {
        msg: Msg<'a>,
    }
    let out = Out {
        msg: Msg {
            action: "notify",
            event: n.event,
            param: n.param,
            data: n.data,
            room: n.room,
            me: &n.me,
            peer: &n.peer,
            participants: n.participants,
        },
    };
    serde_json::to_string(&out).unwrap_or_default()
}
