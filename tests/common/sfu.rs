//! A shard's SFU in process, with players made from a real WHEP offer and
//! given SRTP keys directly: for tests of the forward path without sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shardsfu::dtls::DtlsCert;
use shardsfu::ice::{self, BindingRequest};
use shardsfu::rtp::receiver_stats::NtpClock;
use shardsfu::sdp::{Codec, ExtIds, MediaKind, Role};
use shardsfu::sfu::create::SourceCodecs;
use shardsfu::sfu::{CreateSession, MediaPacket, Session, SessionToken, Sfu, SfuConfig};
use shardsfu::srtp::{SrtpKeys, SrtpProfile, SrtpSession};

/// A shard's SFU (shard 0, no configuration).
pub fn new_sfu(now: Instant) -> Sfu {
    Sfu::new(SfuConfig {
        id: 0,
        local_addr: "127.0.0.1:8000".parse().unwrap(),
        cert: Arc::new(DtlsCert::generate().unwrap()),
        ntp: NtpClock::new(now, std::time::SystemTime::now()),
        stats: Arc::default(),
        settings: Arc::default(),
    })
}

/// Adds `count` connected players of [`STREAM`], numbered from 0; returns
/// their tokens.
pub fn add_players(sfu: &mut Sfu, count: usize, now: Instant) -> Vec<SessionToken> {
    (0..count).map(|i| add_player(sfu, i, now)).collect()
}

/// Adds connected player `i` of [`STREAM`] (at [`player_addr`]); returns its token.
pub fn add_player(sfu: &mut Sfu, i: usize, now: Instant) -> SessionToken {
    let s = player(sfu, i, now);
    let token = s.token.clone();
    sfu.insert(s);
    sfu.on_connected(now, &token);
    token
}

/// The address of player `i`.
pub fn player_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20000 + i as u16))
}

pub const STREAM: &str = "live/bench";

/// A connected player of STREAM, made by the SFU from a real WHEP offer.
pub fn player(sfu: &Sfu, i: usize, now: Instant) -> Session {
    let offer = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sdp/aiortc_whep_recvonly.sdp"),
    )
    .unwrap();
    let ufrag = format!("u{i:07}");
    let pwd = "0123456789012345678901";
    let req = CreateSession {
        role: Role::Play,
        vhost: "__defaultVhost__".into(),
        app: "live".into(),
        stream: "bench".into(),
        offer,
        ice_ufrag: Some(ufrag.clone()),
        ice_pwd: Some(pwd.into()),
        client_ip: None,
    };
    let source = SourceCodecs {
        video: Some(Codec::H264),
        audio: Some(Codec::Opus),
    };
    let mut s = sfu.new_session(now, &req, vec![], Some(source)).unwrap();
    let peer = player_addr(i);
    let mut check = Vec::new();
    let username = format!("{ufrag}:{}", s.answer.remote_ufrag);
    let b = BindingRequest {
        username: &username,
        priority: 1,
        ice_controlling: Some(1),
        use_candidate: true,
    };
    ice::write_binding_request(&[1; 12], &b, pwd.as_bytes(), &mut check);
    let msg = ice::parse(&check).unwrap();
    s.ice
        .handle_binding_request(now, peer, &msg, &mut Vec::new())
        .unwrap();
    let keys = SrtpKeys {
        profile: SrtpProfile::AeadAes128Gcm,
        keying_material: vec![7; SrtpProfile::AeadAes128Gcm.keying_material_len()],
        is_client: false,
    };
    s.srtp = Some(SrtpSession::new(&keys).unwrap());
    s
}

/// A video packet (H.264, 1,113 bytes), an IDR slice when `keyframe`.
pub fn packet(seq: u16, keyframe: bool) -> MediaPacket {
    let mut rtp = vec![0x80, 101, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
    rtp[2..4].copy_from_slice(&seq.to_be_bytes());
    rtp[4..8].copy_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    // An IDR NAL (type 5) so the first packet starts the players' video.
    rtp.push(if keyframe { 0x65 } else { 0x41 });
    rtp.extend_from_slice(&[0xab; 1100]);
    MediaPacket {
        kind: MediaKind::Video,
        codec: Codec::H264,
        keyframe,
        ext: ExtIds::default(),
        rtp: Bytes::from(rtp),
    }
}
