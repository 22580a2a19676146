//! The lease and claim state machine of one node (sans-IO: time is an
//! argument, Redis is reached only through [`Op`]s the caller carries out).
//!
//! Every claim this node holds, or wants, is renewed once a round (a third of
//! the lease) with the same atomic "set if absent or mine" that claimed it,
//! so a Redis that restarted empty gets every live stream back within a
//! round. A stream the node stopped publishing is released at the next
//! round; a claim whose publisher never appeared, after a grace of one lease
//! (the gap between a shard's claim and its session appearing in the local
//! directory). While Redis is unreachable, publishes are answered
//! [`Decision::Unchecked`] (fail open) and claimed when it returns.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::{parse_node, parse_owner, MalformedEntry, NodeEntry, StreamOwner};

/// Names one shard's claim request, so its answer finds it.
pub type RequestId = u64;

/// First wait before retrying an unreachable Redis.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between retries of an unreachable Redis.
pub const BACKOFF_MAX: Duration = Duration::from_secs(4);

/// What a shard is told about a publish it asked to claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The stream is this node's now (or already was).
    Granted,
    /// Redis could not be asked: the publish goes ahead (fail open) and the
    /// claim is made when Redis answers again.
    Unchecked,
    /// Another node holds the stream.
    Refused(StreamOwner),
}

/// A Redis operation for the runtime to carry out, then to hand back with
/// its result to [`DirectoryCore::handle_reply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Atomically: set the claim on `stream` to `value` with the lease when
    /// it is absent, already `value`, or exactly `replace` (a malformed
    /// entry being overwritten). Reply [`Reply::Claim`].
    Claim {
        /// `app/stream`.
        stream: String,
        /// The JSON [`StreamOwner`] to store.
        value: String,
        /// A malformed value that may be overwritten.
        replace: Option<String>,
    },
    /// Atomically: delete the claim on `stream` if it still holds `value`.
    /// Reply [`Reply::Done`].
    Release {
        /// `app/stream`.
        stream: String,
        /// The value this node stored.
        value: String,
    },
    /// Set this node's own entry to `value` with the lease. Reply
    /// [`Reply::Done`].
    Node {
        /// The JSON [`NodeEntry`].
        value: String,
    },
    /// Read every node entry and every claim. Reply [`Reply::Scan`].
    Scan,
}

/// What Redis answered to an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// To [`Op::Claim`]: `None` when the claim was set, else the value that
    /// holds the key.
    Claim(Option<String>),
    /// To [`Op::Release`] and [`Op::Node`].
    Done,
    /// To [`Op::Scan`]: `(key, value)` of every node entry and every claim.
    Scan {
        /// Node entries.
        nodes: Vec<(String, String)>,
        /// Stream claims.
        streams: Vec<(String, String)>,
    },
}

/// What the core tells the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The answer to a claim request.
    Answer {
        /// The request.
        req: RequestId,
        /// `app/stream`.
        stream: String,
        /// The decision.
        decision: Decision,
    },
    /// A value in Redis was not what shardsfu writes; it was ignored.
    Malformed(MalformedEntry),
    /// A stream published here is claimed by another node (found when a
    /// publish went ahead unchecked, or after a split).
    Lost {
        /// `app/stream`.
        stream: String,
        /// Who holds it.
        owner: StreamOwner,
    },
    /// Redis stopped answering (the first failure after it answered).
    RedisDown(String),
    /// Redis answers again (or for the first time).
    RedisUp,
}

/// The cluster as last read from Redis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Every node with a live entry, this one included.
    pub nodes: Vec<NodeEntry>,
    /// Every claimed stream and its owner.
    pub streams: Vec<(String, StreamOwner)>,
}

/// Where one of this node's claims stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimState {
    /// Confirmed in Redis by the last claim or renewal.
    Held,
    /// Not confirmed yet (new, or granted while Redis was unreachable).
    Pending,
    /// Another node holds it.
    Lost(String),
}

#[derive(Debug)]
struct Claim {
    value: String,
    state: ClaimState,
    /// Last time a shard asked for it or the local directory listed it.
    touched: Instant,
    /// Whether the last local listing had it.
    local: bool,
    /// Whether a local listing had it since the last request for it: its
    /// publisher has come, so its absence means it left.
    seen: bool,
}

/// One node's claims and its view of the directory.
#[derive(Debug)]
pub struct DirectoryCore {
    me: NodeEntry,
    node_value: String,
    lease: Duration,
    claims: BTreeMap<String, Claim>,
    waiting: Vec<(RequestId, String)>,
    ops: VecDeque<Op>,
    events: VecDeque<Event>,
    up: bool,
    backoff: Duration,
    next_round: Instant,
    view: View,
}

impl DirectoryCore {
    /// A node `me` whose claims live `lease`; its first round is due at `now`.
    pub fn new(me: NodeEntry, lease: Duration, now: Instant) -> Self {
        let node_value = serde_json::to_string(&me).unwrap_or_default();
        DirectoryCore {
            me,
            node_value,
            lease,
            claims: BTreeMap::new(),
            waiting: Vec::new(),
            ops: VecDeque::new(),
            events: VecDeque::new(),
            // Optimistic until the first failure: the first claim asks Redis.
            up: true,
            backoff: BACKOFF_MIN,
            next_round: now,
            view: View::default(),
        }
    }

    /// This node.
    pub fn me(&self) -> &NodeEntry {
        &self.me
    }

    /// How long a claim lives without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Whether the last operation reached Redis.
    pub fn redis_up(&self) -> bool {
        self.up
    }

    /// The cluster as last read.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// This node's claims and where each stands.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &ClaimState)> {
        self.claims.iter().map(|(k, c)| (k.as_str(), &c.state))
    }

    fn owner_value(&self, since: u64) -> String {
        let o = StreamOwner {
            node: self.me.id.clone(),
            api: self.me.api.clone(),
            candidate: self.me.candidate.clone(),
            since,
        };
        serde_json::to_string(&o).unwrap_or_default()
    }

    fn new_claim(&self, now: Instant, unix_ms: u64) -> Claim {
        Claim {
            value: self.owner_value(unix_ms),
            state: ClaimState::Pending,
            touched: now,
            local: false,
            seen: false,
        }
    }

    /// A shard asks to publish `stream` (request `req`); `unix_ms` is the
    /// wall clock, stored as the claim's `since`. The answer comes as an
    /// [`Event::Answer`], at once when no Redis round trip is needed.
    pub fn handle_claim(&mut self, req: RequestId, stream: &str, now: Instant, unix_ms: u64) {
        if !self.claims.contains_key(stream) {
            let c = self.new_claim(now, unix_ms);
            self.claims.insert(stream.to_string(), c);
        }
        let Some(c) = self.claims.get_mut(stream) else {
            return; // Inserted just above.
        };
        c.touched = now;
        // A new publisher is on its way: the grace applies again.
        c.seen = false;
        let answer = match c.state {
            ClaimState::Held => Some(Decision::Granted),
            _ if !self.up => Some(Decision::Unchecked),
            _ => None,
        };
        match answer {
            Some(decision) => self.events.push_back(Event::Answer {
                req,
                stream: stream.to_string(),
                decision,
            }),
            None => {
                self.waiting.push((req, stream.to_string()));
                self.ops.push_back(Op::Claim {
                    stream: stream.to_string(),
                    value: c.value.clone(),
                    replace: None,
                });
            }
        }
    }

    /// The streams published on this node now (WebRTC and RTMP publishers).
    /// Each gets a claim. A claim whose stream was listed and no longer is
    /// gets released at once (another node may publish it right away); one
    /// granted but never listed (a session that failed before it existed)
    /// is released once untouched for a lease.
    pub fn handle_local(&mut self, streams: &BTreeSet<String>, now: Instant, unix_ms: u64) {
        for s in streams {
            if !self.claims.contains_key(s) {
                let c = self.new_claim(now, unix_ms);
                self.claims.insert(s.clone(), c);
            }
        }
        let lease = self.lease;
        let mut released = Vec::new();
        self.claims.retain(|s, c| {
            c.local = streams.contains(s);
            if c.local {
                c.touched = now;
                c.seen = true;
                return true;
            }
            let keep = !c.seen && now.saturating_duration_since(c.touched) < lease;
            if !keep && c.state == ClaimState::Held {
                released.push(Op::Release {
                    stream: s.clone(),
                    value: c.value.clone(),
                });
            }
            keep
        });
        self.ops.extend(released);
    }

    /// Runs a round when one is due: this node's entry, every claim
    /// renewed (or made), and a fresh read of the directory.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_round {
            return;
        }
        self.next_round = now + self.lease / 3;
        self.ops.push_back(Op::Node {
            value: self.node_value.clone(),
        });
        for (s, c) in &self.claims {
            self.ops.push_back(Op::Claim {
                stream: s.clone(),
                value: c.value.clone(),
                replace: None,
            });
        }
        self.ops.push_back(Op::Scan);
    }

    /// The node is leaving: every claim it holds is released (best
    /// effort: what is not released ends with its lease).
    pub fn handle_shutdown(&mut self) {
        self.ops.clear();
        for (stream, c) in std::mem::take(&mut self.claims) {
            if c.state == ClaimState::Held {
                self.ops.push_back(Op::Release {
                    stream,
                    value: c.value,
                });
            }
        }
    }

    /// When [`DirectoryCore::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Instant {
        self.next_round
    }

    /// The next Redis operation to carry out.
    pub fn poll_op(&mut self) -> Option<Op> {
        self.ops.pop_front()
    }

    /// The next event for the runtime.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The result of carrying out `op` (an `Err` names why Redis could not
    /// be reached or refused the command).
    pub fn handle_reply(&mut self, op: Op, reply: Result<Reply, String>, now: Instant) {
        let reply = match reply {
            Ok(r) => r,
            Err(why) => return self.redis_failed(why, now),
        };
        if !self.up {
            self.up = true;
            self.events.push_back(Event::RedisUp);
        }
        self.backoff = BACKOFF_MIN;
        match (op, reply) {
            (
                Op::Claim {
                    stream,
                    value,
                    replace,
                },
                Reply::Claim(held),
            ) => self.claim_reply(stream, value, replace, held),
            (Op::Scan, Reply::Scan { nodes, streams }) => self.scan_reply(nodes, streams),
            _ => {}
        }
    }

    fn redis_failed(&mut self, why: String, now: Instant) {
        if self.up {
            self.up = false;
            self.events.push_back(Event::RedisDown(why));
        }
        // The rest of this round would fail the same way.
        self.ops.clear();
        for (req, stream) in std::mem::take(&mut self.waiting) {
            self.events.push_back(Event::Answer {
                req,
                stream,
                decision: Decision::Unchecked,
            });
        }
        self.next_round = now + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn answer(&mut self, stream: &str, decision: &Decision) {
        let events = &mut self.events;
        self.waiting.retain(|(req, s)| {
            if s != stream {
                return true;
            }
            events.push_back(Event::Answer {
                req: *req,
                stream: s.clone(),
                decision: decision.clone(),
            });
            false
        });
    }

    fn claim_reply(
        &mut self,
        stream: String,
        value: String,
        replace: Option<String>,
        held: Option<String>,
    ) {
        let Some(c) = self.claims.get_mut(&stream) else {
            // Released meanwhile: nothing to keep (a set claim expires).
            return self.answer(&stream, &Decision::Unchecked);
        };
        let current = match held {
            None => {
                c.value = value;
                c.state = ClaimState::Held;
                return self.answer(&stream, &Decision::Granted);
            }
            Some(v) => v,
        };
        match parse_owner(&super::stream_key(&stream), &current) {
            Ok(o) if o.node == self.me.id => {
                // Our own earlier claim (made with another `since`): adopt it.
                c.value = current;
                c.state = ClaimState::Held;
                self.answer(&stream, &Decision::Granted);
            }
            Ok(o) => {
                if c.local {
                    if c.state != ClaimState::Lost(o.node.clone()) {
                        self.events.push_back(Event::Lost {
                            stream: stream.clone(),
                            owner: o.clone(),
                        });
                    }
                    c.state = ClaimState::Lost(o.node.clone());
                } else {
                    self.claims.remove(&stream);
                }
                self.answer(&stream, &Decision::Refused(o));
            }
            Err(bad) => {
                self.events.push_back(Event::Malformed(bad));
                if replace.is_none() {
                    // Ignore it: claim over exactly that value.
                    self.ops.push_front(Op::Claim {
                        stream,
                        value: c.value.clone(),
                        replace: Some(current),
                    });
                } else {
                    // Changed again under us: let the next round decide.
                    self.answer(&stream, &Decision::Unchecked);
                }
            }
        }
    }

    fn scan_reply(&mut self, nodes: Vec<(String, String)>, streams: Vec<(String, String)>) {
        let mut view = View::default();
        for (k, v) in nodes {
            match parse_node(&k, &v) {
                Ok(n) => view.nodes.push(n),
                Err(bad) => self.events.push_back(Event::Malformed(bad)),
            }
        }
        let prefix = super::stream_key("");
        for (k, v) in streams {
            match parse_owner(&k, &v) {
                Ok(o) => view
                    .streams
                    .push((k.strip_prefix(&prefix).unwrap_or(&k).to_string(), o)),
                Err(bad) => self.events.push_back(Event::Malformed(bad)),
            }
        }
        view.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        view.streams.sort_by(|a, b| a.0.cmp(&b.0));
        self.view = view;
    }

    /// The owner of `stream` by the last read, when it is another node.
    pub fn owner_elsewhere(&self, stream: &str) -> Option<&StreamOwner> {
        self.view
            .streams
            .iter()
            .find(|(s, o)| s == stream && o.node != self.me.id)
            .map(|(_, o)| o)
    }
}
