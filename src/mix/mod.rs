//! Room to live: a room's published streams composed into one live stream
//! (`<room>/<room>-mix`), sans-IO — the grid and the FFmpeg command
//! ([`layout`]) and when to (re)start or stop the compositor ([`plan`]).
//! The runtime that runs FFmpeg is `server::mix`.

pub mod layout;
pub mod plan;
