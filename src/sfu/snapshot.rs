//! What each shard publishes about itself once a second for the HTTP API
//! (`/api/v1/clients`, `/api/v1/streams`): a plain copy, so an API request on
//! any shard reads it without touching the owning shard's state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sdp::{Codec, Role};
use crate::sfu::session::{Media, Session, SessionCounters};

/// How often a shard refreshes its snapshot.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// One session as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientInfo {
    /// SRS-style session id.
    pub id: String,
    /// The shard that holds it.
    pub shard: usize,
    /// The vhost it was created for.
    pub vhost: String,
    /// `rtc-publish` or `rtc-play` (SRS's client types).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether it publishes.
    pub publish: bool,
    /// The app.
    pub app: String,
    /// The stream name.
    pub name: String,
    /// The peer's address, once ICE selected one.
    pub ip: Option<String>,
    /// Seconds since the session was created.
    pub alive: f64,
    /// Whether DTLS/SRTP are up.
    pub connected: bool,
    /// Video codec negotiated.
    pub video: Option<&'static str>,
    /// Audio codec negotiated.
    pub audio: Option<&'static str>,
    /// Counters.
    #[serde(flatten)]
    pub counters: SessionCounters,
    /// Publisher-side quality counters (NACKs sent, recovered, loss, jitter, TWCC).
    pub publisher: Option<crate::sfu::publisher::PublisherCounters>,
    /// Player-side quality counters (NACKs received, retransmissions, PLIs, RTT, loss, jitter).
    pub player: Option<crate::sfu::player::PlayerCounters>,
    /// Receive and send rates over the last interval, kbit/s.
    pub kbps: Kbps,
}

/// A pair of rates in kbit/s.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Kbps {
    /// Receive rate.
    pub recv_30s: u64,
    /// Send rate.
    pub send_30s: u64,
}

/// One shard's published view.
#[derive(Clone, Debug, Default)]
pub struct ShardSnapshot {
    /// Its sessions.
    pub clients: Vec<ClientInfo>,
}

/// Turns byte counters into rates between two snapshots.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateMeter {
    at: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
    kbps: Kbps,
}

impl RateMeter {
    /// The rates of the last update.
    pub fn kbps(&self) -> Kbps {
        self.kbps
    }

    /// Updates the rates from the counters at `now` and returns them.
    pub fn update(&mut self, now: Instant, c: &SessionCounters) -> Kbps {
        if let Some(at) = self.at {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            if secs >= 0.5 {
                let rate = |d: u64| ((d as f64) * 8.0 / 1000.0 / secs) as u64;
                self.kbps = Kbps {
                    recv_30s: rate(c.bytes_in.saturating_sub(self.bytes_in)),
                    send_30s: rate(c.bytes_out.saturating_sub(self.bytes_out)),
                };
            } else {
                return self.kbps;
            }
        }
        self.at = Some(now);
        self.bytes_in = c.bytes_in;
        self.bytes_out = c.bytes_out;
        self.kbps
    }
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Opus => "opus",
        Codec::H264 => "H264",
        Codec::Vp8 => "VP8",
    }
}

/// The API's view of `s` on shard `shard`.
pub fn client_info(shard: usize, now: Instant, s: &mut Session) -> ClientInfo {
    let ((audio, video), publisher, player) = match &s.media {
        Media::Publisher(p) => (p.codecs(), Some(p.counters), None),
        Media::Player(p) => (p.codecs(), None, Some(p.counters)),
    };
    let kbps = s.rate.update(now, &s.counters);
    let publish = s.role == Role::Publish;
    ClientInfo {
        id: s.id.clone(),
        shard,
        vhost: s.vhost.clone(),
        kind: if publish { "rtc-publish" } else { "rtc-play" },
        publish,
        app: s.app.clone(),
        name: s.stream.clone(),
        ip: s.peer().map(|a: SocketAddr| a.to_string()),
        alive: now.saturating_duration_since(s.created).as_secs_f64(),
        connected: s.is_connected(),
        video: video.map(codec_name),
        audio: audio.map(codec_name),
        counters: s.counters,
        publisher,
        player,
        kbps,
    }
}
