//! Scenario tests on a simulated network: shardsfu's SFU shards and
//! sans-IO WebRTC peers, virtual time, seeded loss, delay and jitter.

pub mod net;
pub mod peer;
pub mod world;
