//! Behind a load balancer (issue 16): a WHIP/WHEP session resource request
//! (`GET`/`HEAD`, `PATCH`, `DELETE`) that reaches a node other than the
//! session's owner is forwarded to the owner, and its answer relayed.
//!
//! With the cluster on, the `Location` of a 201 carries the owner's node id
//! (`&node=<id>`). A node that does not hold the session named by such a
//! request looks the id up in its last read of the directory's node list —
//! never an address from the request, so a stranger cannot aim the node at
//! anything else — and sends the request on with `X-Shardsfu-Forwarded`,
//! which the owner never forwards again. The blocking call (ureq) runs on a
//! short-lived thread while the shard's task awaits it; at most
//! [`MAX_IN_FLIGHT`] at once, each bounded by [`FORWARD_TIMEOUT`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::http::{Method, Request, Response};
use crate::server::cluster::Cluster;
use crate::server::outbound;

/// How long the owner may take to answer a forwarded request.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Forwarded requests in flight, all shards together; beyond it, 503.
pub const MAX_IN_FLIGHT: usize = 64;
/// The header a forwarded request carries (its value: the forwarding node).
pub const FORWARDED_HEADER: &str = "X-Shardsfu-Forwarded";
/// The query parameter of a resource URL that names the owner node.
pub const NODE_PARAM: &str = "node";
/// The largest answer body relayed (an sdpfrag or a JSON description).
const MAX_BODY: u64 = 64 * 1024;
/// Request headers the owner needs.
const REQUEST_HEADERS: [&str; 3] = ["Authorization", "If-Match", "Content-Type"];
/// Answer headers relayed to the client.
const ANSWER_HEADERS: [&str; 7] = [
    "Content-Type",
    "ETag",
    "Accept-Patch",
    "Link",
    "Location",
    "Retry-After",
    "Allow",
];

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Requests forwarded and answered by their owner node.
static FORWARDED: AtomicU64 = AtomicU64::new(0);
/// Requests whose owner node did not answer (or was not in the directory).
static FORWARD_FAILED: AtomicU64 = AtomicU64::new(0);

/// The counters for `/api/v1/cluster`: `(forwarded, forward_failed)`.
pub fn counts() -> (u64, u64) {
    (
        FORWARDED.load(Ordering::Relaxed),
        FORWARD_FAILED.load(Ordering::Relaxed),
    )
}

/// Adds `cluster_forwarded` and `cluster_forward_failed` to the metrics.
pub fn register_metrics(reg: &mut Registry) {
    let rows = [
        (
            "cluster_forwarded",
            "Session requests forwarded to the session's cluster node",
            &FORWARDED,
        ),
        (
            "cluster_forward_failed",
            "Session requests for another cluster node that could not be forwarded",
            &FORWARD_FAILED,
        ),
    ];
    for (name, help, v) in rows {
        let c = Counter::<u64>::default();
        c.inc_by(v.load(Ordering::Relaxed));
        reg.register(name, help, c);
    }
}

/// Adds `&node=<this node>` to the `Location` of a 201 that has one.
pub fn tag_location(resp: &mut Response, cluster: &Cluster) {
    if resp.status != 201 {
        return;
    }
    if let Some(loc) = resp.header("Location").map(str::to_owned) {
        let id = encode(&cluster.me.id);
        resp.set_header("Location", format!("{loc}&{NODE_PARAM}={id}"));
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a request for a session this node does not hold should go.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// Not for forwarding: no `node`, this node, or already forwarded.
    Local,
    /// The named node is not in the directory (gone, or never was).
    UnknownNode(String),
    /// The owner's API address.
    Node {
        /// Its id.
        id: String,
        /// Its `ip:port`.
        api: String,
    },
}

/// A request for a session this node does not hold that names a node the
/// directory does not list: counted with the failed forwards.
pub fn count_unknown_node() {
    FORWARD_FAILED.fetch_add(1, Ordering::Relaxed);
}

/// Decides where `req` (for a session unknown here) goes.
pub fn target(cluster: &Cluster, req: &Request) -> Target {
    if req.header(FORWARDED_HEADER).is_some() {
        return Target::Local;
    }
    let Some(id) = req.query_param(NODE_PARAM).filter(|id| !id.is_empty()) else {
        return Target::Local;
    };
    if id == cluster.me.id {
        return Target::Local;
    }
    match cluster.node_api(id) {
        Some(api) => Target::Node {
            id: id.to_owned(),
            api,
        },
        None => Target::UnknownNode(id.to_owned()),
    }
}

/// Forwards `req` to the node at `api` and returns its answer; 502 when it
/// cannot be reached in time, 503 when too many are in flight. Counted in
/// `forwarded` / `forward_failed`.
pub async fn forward(cluster: &Cluster, api: &str, req: &Request) -> Response {
    if IN_FLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return Response::error(503, "too many requests forwarded to other cluster nodes")
            .with_header("Retry-After", "1");
    }
    let call = Call {
        url: format!("http://{api}{}", req.raw_target),
        method: req.method.clone(),
        headers: REQUEST_HEADERS
            .iter()
            .filter_map(|h| req.header(h).map(|v| (*h, v.to_owned())))
            .collect(),
        from: cluster.me.id.clone(),
        body: req.body.to_vec(),
    };
    let result = outbound::on_thread("cluster-forward", "the forward", move || call.run()).await;
    IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    match result {
        Ok(resp) => {
            FORWARDED.fetch_add(1, Ordering::Relaxed);
            resp
        }
        Err(why) => {
            FORWARD_FAILED.fetch_add(1, Ordering::Relaxed);
            crate::warn_limited!(%api, "cluster: forwarding a session request failed: {why}");
            Response::error(
                502,
                &format!("the session's cluster node ({api}) did not answer: {why}"),
            )
        }
    }
}

/// Other nodes a kick is asked of, at most.
pub const MAX_KICK_NODES: usize = 16;

/// `DELETE /api/v1/clients/{id}` of a client not on this node: asked of
/// the other nodes of the directory (at most [`MAX_KICK_NODES`], one after
/// another, within two [`FORWARD_TIMEOUT`]s) until one has it. `None` when
/// this is not for forwarding (no cluster, already forwarded).
pub async fn kick_elsewhere(cluster: &Cluster, req: &Request) -> Option<Response> {
    if req.header(FORWARDED_HEADER).is_some() {
        return None;
    }
    let deadline = std::time::Instant::now() + FORWARD_TIMEOUT * 2;
    for api in cluster.other_nodes().into_iter().take(MAX_KICK_NODES) {
        if std::time::Instant::now() >= deadline {
            break;
        }
        let resp = forward(cluster, &api, req).await;
        if resp.status < 300 {
            return Some(resp);
        }
    }
    None
}

/// One forwarded request, made on its own thread.
struct Call {
    url: String,
    method: Method,
    headers: Vec<(&'static str, String)>,
    from: String,
    body: Vec<u8>,
}

impl Call {
    fn headers_on<B>(&self, mut b: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        b = b.header(FORWARDED_HEADER, &self.from);
        for (name, value) in &self.headers {
            b = b.header(*name, value);
        }
        b
    }

    fn run(self) -> Result<Response, String> {
        let agent = outbound::agent(FORWARD_TIMEOUT);
        let sent = match self.method {
            Method::Get => self.headers_on(agent.get(&self.url)).call(),
            Method::Head => self.headers_on(agent.head(&self.url)).call(),
            Method::Delete => self.headers_on(agent.delete(&self.url)).call(),
            Method::Patch => self.headers_on(agent.patch(&self.url)).send(&self.body[..]),
            other => return Err(format!("method {other:?} is not forwarded")),
        };
        let mut answer = sent.map_err(|e| e.to_string())?;
        let mut resp = Response::new(answer.status().as_u16());
        for name in ANSWER_HEADERS {
            if let Some(v) = answer.headers().get(name).and_then(|v| v.to_str().ok()) {
                resp.set_header(name, v);
            }
        }
        if self.method != Method::Head {
            let body = answer
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| e.to_string())?;
            resp.body = body.into();
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_percent_encoded_for_the_query() {
        assert_eq!(encode("127.0.0.2:1985-k3f9ab"), "127.0.0.2%3A1985-k3f9ab");
        assert_eq!(encode("[::1]:1985-x"), "%5B%3A%3A1%5D%3A1985-x");
    }
}
