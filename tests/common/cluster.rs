//! What a cluster node says of the cluster (`/api/v1/cluster`).

use super::{get, Server};

/// The `data` of `srv`'s `/api/v1/cluster` (asserts a 200).
pub fn cluster(srv: &Server) -> serde_json::Value {
    let r = get(&srv.api_url("/api/v1/cluster"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"].clone()
}

/// The node id that owns `stream` in `srv`'s view, if any.
pub fn owner(srv: &Server, stream: &str) -> Option<String> {
    cluster(srv)["streams"]
        .as_array()?
        .iter()
        .find(|s| s["stream"] == stream)
        .and_then(|s| s["node"].as_str().map(str::to_owned))
}

/// `srv`'s own node id.
pub fn node_id(srv: &Server) -> String {
    cluster(srv)["self"]["id"].as_str().unwrap().to_owned()
}
