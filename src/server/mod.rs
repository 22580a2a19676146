//! Per-shard server state and the run loops that drive the protocol cores.
