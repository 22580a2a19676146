//! Scenario tests on a simulated network: shardsfu's SFU shards and
//! sans-IO WebRTC peers, virtual time, seeded loss, delay and jitter.
//! Shared by several test crates, each using part of it.
#![allow(dead_code)]

pub mod net;
pub mod peer;
pub mod world;
