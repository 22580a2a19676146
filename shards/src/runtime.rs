//! Starting one pinned executor per shard and waiting for them.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};

use crate::{allowed_cpus, Mesh, Shutdown};

/// Why the runtime could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// `shards` was zero.
    #[error("the number of shards must be at least 1, got {0}")]
    NoShards(usize),
    /// glommio refused to create an executor (for example the memlock limit).
    #[error("cannot start shard {shard} on cpu {cpu:?}: {reason}")]
    Spawn {
        /// The shard that failed.
        shard: usize,
        /// The CPU it was to be pinned to.
        cpu: Option<usize>,
        /// glommio's message.
        reason: String,
    },
    /// A shard's thread panicked.
    #[error("shard {0} panicked")]
    Panicked(usize),
}

/// How to start the shards.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Number of shards (executors).
    pub shards: usize,
    /// Capacity of each channel of the mesh, in messages.
    pub mesh_capacity: usize,
    /// io_uring registered-buffer memory per shard, in bytes. Registered
    /// buffers count against `RLIMIT_MEMLOCK`; the default keeps all shards
    /// together well under the common 8 MiB limit.
    pub io_memory: usize,
    /// Busy-poll this long before parking an idle executor (0 = park at once).
    /// Waking a parked executor costs ~50-100 µs; spinning trades CPU for it.
    pub spin_before_park: Duration,
    /// Pin shard `i` to the `i`-th allowed CPU (wrapping) when true.
    pub pin: bool,
    /// The longest a busy task queue runs before the executor looks at its
    /// I/O and timers and lets its other queues run (tasks that call
    /// `glommio::yield_if_needed`). glommio's default is 100 ms: a shard
    /// saturated by media would then answer an API request only that late.
    pub preempt_timer: Duration,
    /// Asks the shards to stop.
    pub shutdown: Shutdown,
}

impl RuntimeOptions {
    /// Defaults for `shards` shards.
    pub fn new(shards: usize, shutdown: Shutdown) -> Self {
        Self {
            shards,
            mesh_capacity: 1024,
            io_memory: default_io_memory(shards),
            spin_before_park: Duration::ZERO,
            pin: true,
            preempt_timer: Duration::from_millis(10),
            shutdown,
        }
    }
}

/// Registered-buffer memory per shard: a quarter of the memlock limit split
/// between shards, between glommio's 64 KiB floor and 1 MiB. Network I/O does
/// not use these buffers; they only serve file I/O.
fn default_io_memory(shards: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit into a local struct.
    let limit = if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        8 << 20
    };
    (limit / 4 / shards.max(1)).clamp(64 << 10, 1 << 20)
}

/// What a shard's future gets.
pub struct ShardContext<M: Send> {
    /// This shard's id, `0..count`.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
    /// The CPU this shard is pinned to, if pinned.
    pub cpu: Option<usize>,
    /// Channels to and from every other shard.
    pub mesh: Mesh<M>,
    /// The process-wide stop request.
    pub shutdown: Shutdown,
}

/// Runs `shard_main` on `opts.shards` pinned executors and returns each one's
/// output, in shard order, once all have returned.
pub fn run<M, G, F, T>(opts: RuntimeOptions, shard_main: G) -> Result<Vec<T>, RuntimeError>
where
    M: Send + 'static,
    G: Fn(ShardContext<M>) -> F + Clone + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if opts.shards == 0 {
        return Err(RuntimeError::NoShards(0));
    }
    let cpus = allowed_cpus();
    let mesh = MeshBuilder::<M, _>::full(opts.shards, opts.mesh_capacity);
    let mut handles = Vec::with_capacity(opts.shards);
    for id in 0..opts.shards {
        let cpu = opts.pin.then(|| cpus[id % cpus.len()]);
        let placement = match cpu {
            Some(c) => Placement::Fixed(c),
            None => Placement::Unbound,
        };
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(opts.io_memory)
            .preempt_timer(opts.preempt_timer)
            .ring_depth(256);
        if !opts.spin_before_park.is_zero() {
            builder = builder.spin_before_park(opts.spin_before_park);
        }
        let (mesh, shutdown, main, count) = (
            mesh.clone(),
            opts.shutdown.clone(),
            shard_main.clone(),
            opts.shards,
        );
        let guard = PanicGuard {
            shard: id,
            shutdown: opts.shutdown.clone(),
        };
        let handle = builder
            .spawn(move || async move {
                // A shard that panics stops every shard (and so the process,
                // which the service manager restarts): never half alive.
                let _guard = guard;
                // Joining waits for every peer, so all shards start together.
                let (senders, receivers) = join_mesh(mesh).await;
                let ctx = ShardContext {
                    id: senders.peer_id(),
                    count,
                    cpu,
                    mesh: Mesh::new(senders, receivers),
                    shutdown,
                };
                main(ctx).await
            })
            .map_err(|e| RuntimeError::Spawn {
                shard: id,
                cpu,
                reason: e.to_string(),
            })?;
        handles.push(handle);
    }
    let mut outputs = Vec::with_capacity(handles.len());
    for (id, h) in handles.into_iter().enumerate() {
        outputs.push(h.join().map_err(|_| RuntimeError::Panicked(id))?);
    }
    Ok(outputs)
}

/// How often a shard waiting to join the mesh looks again for itself.
const JOIN_REPOLL: Duration = Duration::from_millis(5);

/// Joins the channel mesh, waiting for every peer.
///
/// glommio's join can lose the cross-thread wake-up from the last peer to
/// arrive: then every shard sleeps in `io_uring_enter` with nothing left to
/// wake it, and the process never binds a socket (seen once in ~50 starts
/// on a loaded 2-core machine). A timer wakes the shard every
/// [`JOIN_REPOLL`] while it waits, and the join is polled again each time.
async fn join_mesh<M: Send + 'static>(
    mesh: MeshBuilder<M, glommio::channels::channel_mesh::Full>,
) -> (
    glommio::channels::channel_mesh::Senders<M>,
    glommio::channels::channel_mesh::Receivers<M>,
) {
    let mut join = std::pin::pin!(mesh.join());
    loop {
        let mut tick = std::pin::pin!(glommio::timer::sleep(JOIN_REPOLL));
        let joined = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = join.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            tick.as_mut().poll(cx).map(|_| None)
        })
        .await;
        if let Some(r) = joined {
            return r.expect("channel mesh join");
        }
    }
}

/// Lives as long as a shard's main future: when it is dropped while its
/// thread unwinds from a panic, it logs and asks every shard to stop.
struct PanicGuard {
    shard: usize,
    shutdown: Shutdown,
}

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                shard = self.shard,
                "shard panicked: stopping every shard so the process exits (and is restarted)"
            );
            self.shutdown.request();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_that_panics_stops_every_shard() {
        let shutdown = Shutdown::new();
        let opts = RuntimeOptions {
            pin: false,
            ..RuntimeOptions::new(2, shutdown.clone())
        };
        let started = std::time::Instant::now();
        let result = run::<usize, _, _, _>(opts, |ctx| async move {
            if ctx.id == 1 {
                panic!("planted panic in shard 1");
            }
            // Shard 0 runs until asked to stop (at most 10 s).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !ctx.shutdown.is_requested() && std::time::Instant::now() < deadline {
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
            ctx.id
        });
        assert!(
            matches!(result, Err(RuntimeError::Panicked(1))),
            "{result:?}"
        );
        assert!(shutdown.is_requested());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn shards_exchange_messages_over_the_mesh() {
        let opts = RuntimeOptions {
            pin: false,
            ..RuntimeOptions::new(3, Shutdown::new())
        };
        let got = run::<usize, _, _, _>(opts, |mut ctx| async move {
            let receivers = ctx.mesh.take_receivers();
            for to in 0..ctx.count {
                if to != ctx.id {
                    ctx.mesh.send(to, ctx.id * 10 + to).await.expect("send");
                }
            }
            let mut sum = 0;
            for (_, rx) in receivers {
                sum += rx.recv().await.expect("one message from each peer");
            }
            (ctx.id, sum)
        })
        .expect("runtime");
        // Shard i receives j*10+i from every j != i.
        for (id, sum) in got {
            let want: usize = (0..3).filter(|&j| j != id).map(|j| j * 10 + id).sum();
            assert_eq!(sum, want, "shard {id}");
        }
    }

    #[test]
    fn sending_to_self_is_refused() {
        let opts = RuntimeOptions {
            pin: false,
            ..RuntimeOptions::new(2, Shutdown::new())
        };
        let out = run::<u8, _, _, _>(opts, |ctx| async move {
            matches!(
                ctx.mesh.try_send(ctx.id, 1),
                Err(crate::SendError::InvalidShard(_))
            ) && matches!(
                ctx.mesh.try_send(7, 1),
                Err(crate::SendError::InvalidShard(7))
            )
        })
        .expect("runtime");
        assert_eq!(out, vec![true, true]);
    }

    #[test]
    fn zero_shards_is_an_error() {
        let err = run::<(), _, _, _>(RuntimeOptions::new(0, Shutdown::new()), |_| async {});
        assert!(matches!(err, Err(RuntimeError::NoShards(0))));
    }

    #[test]
    fn io_memory_fits_the_memlock_limit() {
        assert!(default_io_memory(1) <= 1 << 20);
        assert!(default_io_memory(64) >= 64 << 10);
    }
}
