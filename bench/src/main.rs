//! shardsfu-bench: a WHIP/WHEP load generator whose every virtual peer is a
//! real WebRTC endpoint (ICE controlling, DTLS, SRTP, RTCP), all on one thread.
//!
//! - `media`: the H.264 + Opus clip (made with ffmpeg, cached) and RTP packetizing;
//! - `signal`: offers/answers and the signaling thread pool (blocking HTTP);
//! - `peer`: one virtual peer's ICE → DTLS → SRTP → media state machine;
//! - `engine`: the single-threaded mio loop driving all peers, with a timer heap;
//! - `sock`: `recvmsg` with kernel arrival timestamps, and (`--gro`) a UDP
//!   GSO message read whole and split back into its datagrams;
//! - `report`: counters, histograms, progress lines, the final text and JSON;
//! - `soak`: churn for soak runs (peers that end by DELETE, by vanishing, or
//!   never do ICE, replaced at once); `live`: RTMP and HTTP-FLV churn beside it.
//!
//! Latency: each payload ends with a 12-byte trailer (`SFB1` + send time,
//! CLOCK_REALTIME ns); the subscriber subtracts it from the kernel's arrival
//! timestamp (`SO_TIMESTAMPNS`). The server forwards payloads untouched
//! inside SRTP, so a subscriber decrypts the packet and subtracts — robust to
//! any seq/timestamp/SSRC rewriting, with no side table.

mod engine;
mod live;
mod media;
mod peer;
mod recv;
mod report;
mod signal;
mod soak;
mod sock;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Load-test a WHIP/WHEP server with real WebRTC peers.
#[derive(Parser, Debug)]
#[command(name = "shardsfu-bench", version)]
struct Args {
    /// WHIP URL; `%d` in it is replaced by the stream number.
    #[arg(
        long,
        default_value = "http://127.0.0.1:1985/rtc/v1/whip/?app=live&stream=bench%d"
    )]
    whip: String,
    /// WHEP URL; `%d` in it is replaced by the stream number. Given more
    /// than once, subscribers take the URLs in turn, a round over the
    /// streams each (e.g. the edge nodes of a cluster, `--whip` at the
    /// origin: `-p 10 -n 20` with two URLs plays every stream on both).
    #[arg(
        long,
        default_value = "http://127.0.0.1:1985/rtc/v1/whep/?app=live&stream=bench%d"
    )]
    whep: Vec<String>,
    /// Publishers (publisher i publishes stream i).
    #[arg(long, short = 'p', default_value_t = 1)]
    publishers: usize,
    /// Subscribers (subscriber i plays stream i mod --streams).
    #[arg(long, short = 'n', default_value_t = 1)]
    subscribers: usize,
    /// Run length in seconds (from the first POST); the run ends then, whatever happens.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Streams the subscribers are spread over (default: the number of publishers).
    #[arg(long)]
    streams: Option<usize>,
    /// Peers started per second (0 = as fast as signaling allows).
    #[arg(long, default_value_t = 200.0)]
    ramp: f64,
    /// Measure this server process's CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Threads doing blocking HTTP signaling.
    #[arg(long, default_value_t = 8)]
    signal_threads: usize,
    /// Video bit rate of the generated clip, kbps.
    #[arg(long, default_value_t = 600)]
    video_kbps: u32,
    /// Where the generated clip is cached (default $SHARDSFU_BENCH_MEDIA or /tmp/shardsfu-bench-media).
    #[arg(long)]
    media_dir: Option<PathBuf>,
    /// UDP receive buffer per peer socket, bytes (the kernel caps it at net.core.rmem_max).
    #[arg(long, default_value_t = 1 << 20)]
    rcvbuf: usize,
    /// Subscribers read a UDP GSO message from the server whole (UDP_GRO)
    /// instead of the kernel splitting and delivering each datagram: on
    /// loopback that delivery runs on the server's CPU.
    #[arg(long)]
    gro: bool,
    /// No progress lines.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Soak: every peer lives --life-min..--life-max seconds, then ends
    /// (DELETE, vanishing, or never doing ICE) and a new one takes its slot;
    /// -p and -n are then the slots.
    #[arg(long)]
    soak: bool,
    /// Soak: shortest peer life, seconds.
    #[arg(long, default_value_t = 1.0)]
    life_min: f64,
    /// Soak: longest peer life, seconds.
    #[arg(long, default_value_t = 6.0)]
    life_max: f64,
    /// Soak: share of peers ending with a DELETE (the others vanish).
    #[arg(long, default_value_t = 0.5)]
    delete_share: f64,
    /// Soak: share of peers that never do ICE.
    #[arg(long, default_value_t = 0.1)]
    silent_share: f64,
    /// Soak: peers started in all, at most (0: as many as the time allows).
    #[arg(long, default_value_t = 0)]
    max_sessions: u64,
    /// Soak: RTMP URL (`%d` = stream number) for live publishers and players.
    #[arg(long)]
    rtmp: Option<String>,
    /// Soak: HTTP-FLV URL (`%d` = stream number); half the live plays use it.
    #[arg(long)]
    flv: Option<String>,
    /// Soak: RTMP publisher threads.
    #[arg(long, default_value_t = 4)]
    live_publishers: usize,
    /// Soak: RTMP / HTTP-FLV player threads.
    #[arg(long, default_value_t = 8)]
    live_players: usize,
    /// Soak: the FLV clip (H.264 + AAC) live publishers stream.
    #[arg(long, default_value = "tests/fixtures/live/testsrc_2s.flv")]
    flv_clip: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.duration > 0.0 && a.duration < 86_400.0,
        "--duration must be in (0, 86400)"
    );
    anyhow::ensure!(
        a.life_min > 0.0 && a.life_max >= a.life_min,
        "--life-min must be > 0 and <= --life-max"
    );
    let life = (
        Duration::from_secs_f64(a.life_min),
        Duration::from_secs_f64(a.life_max),
    );
    let churn = a.soak.then_some(soak::ChurnConfig {
        life,
        delete_share: a.delete_share,
        silent_share: a.silent_share,
        max_sessions: a.max_sessions,
    });
    let live = a.rtmp.filter(|_| a.soak).map(|rtmp| live::LiveConfig {
        rtmp,
        flv: a.flv,
        publishers: a.live_publishers,
        players: a.live_players,
        clip: a.flv_clip,
        life,
    });
    let cfg = engine::Config {
        whip: a.whip,
        whep: a.whep,
        publishers: a.publishers,
        subscribers: a.subscribers,
        streams: a.streams.unwrap_or(a.publishers).max(1),
        duration: Duration::from_secs_f64(a.duration),
        ramp: a.ramp,
        server_pid: a.server_pid,
        signal_threads: a.signal_threads.max(1),
        progress: !a.quiet,
        media_dir: a.media_dir.unwrap_or_else(media::default_dir),
        video_kbps: a.video_kbps,
        rcvbuf: a.rcvbuf,
        gro: a.gro,
        churn,
        live,
    };
    let (text, json) = engine::run(&cfg)?;
    print!("{text}");
    if let Some(path) = a.json {
        std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")?;
    }
    Ok(())
}
