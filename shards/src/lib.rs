//! The thread-per-core runtime of shardsfu.
//!
//! One pinned glommio [`LocalExecutor`](glommio::LocalExecutor) per shard. Every
//! shard binds the same UDP and TCP ports with `SO_REUSEPORT`, so the kernel
//! spreads clients by 4-tuple hash and a given client address always lands on
//! the same shard. Shards talk only through the lock-free [`Mesh`] of
//! single-producer channels that glommio provides.
//!
//! # Run loop
//!
//! [`run`] starts one executor per shard (pinned to the CPUs this process may
//! run on, so `taskset`, systemd's `CPUAffinity=` and containers are
//! respected), hands each a [`ShardContext`] and waits for all of them. The
//! shard's future owns its sockets and its state; it watches
//! [`Shutdown::is_requested`] on its own timer tick and returns when the
//! process is asked to stop (SIGINT/SIGTERM). [`Signals`] also turns SIGHUP,
//! SIGUSR1 and SIGUSR2 into flags, so they no longer kill the process.
//!
//! ```no_run
//! use shards::{run, RuntimeOptions, Shutdown};
//! let shutdown = Shutdown::install_signal_handlers().unwrap();
//! let opts = RuntimeOptions::new(2, shutdown);
//! let ids = run::<(), _, _, _>(opts, |ctx| async move { ctx.id }).unwrap();
//! assert_eq!(ids, vec![0, 1]);
//! ```
#![warn(missing_docs)]

mod cpus;
mod mesh;
mod net;
mod recv;
mod runtime;
mod send;
mod shutdown;
mod signals;
mod uring;

pub use cpus::{allowed_cpus, thread_cpu_time};
pub use mesh::{Mesh, SendError};
pub use net::{bind_std_tcp, bind_tcp, bind_udp, canonical, v4_mapped, v6_only, SocketOptions};
pub use recv::{
    arrival_stamp, enable_arrival_stamps, socket_addr, Received, RecvBatch, RECV_BATCH, RECV_SLOT,
};
pub use runtime::{run, RuntimeError, RuntimeOptions, ShardContext};
pub use send::{DestinationOrder, SendBatch, MAX_BATCH, MAX_SEGMENTS};
pub use shutdown::Shutdown;
pub use signals::{SignalFlag, Signals};
pub use uring::{probe_io_uring, IoUringUnavailable};

/// Re-exported so the server builds on the same glommio version.
pub use glommio;
