//! Outbound HTTP calls of the server (HTTP hooks, cluster pulls, forwarded
//! session requests): the blocking client (ureq) they share, and the
//! short-lived thread a call runs on while a shard's task awaits it, so no
//! shard ever blocks on another server.

use std::time::Duration;

/// A ureq agent that returns every status as an answer (the caller decides),
/// follows no redirect and gives up after `timeout` in all.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .build()
        .new_agent()
}

/// Runs the blocking `call` on a thread named `name` and awaits its result
/// without blocking the shard. `what` names the call in the errors for a
/// thread that cannot start or ends without an answer.
pub async fn on_thread<T: Send + 'static>(
    name: &str,
    what: &str,
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = flume::bounded(1);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    rx.recv_async()
        .await
        .unwrap_or_else(|_| Err(format!("{what} ended without an answer")))
}
