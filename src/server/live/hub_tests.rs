//! Tests of the live hub: publish, play, sweep, budgets.

use super::*;
use crate::live::flv::TagKind;

fn settings() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        hls: None,
        hls_dispose: Duration::from_secs(120),
    }
}

fn key_video(ts: u32) -> FlvTag {
    FlvTag::new(TagKind::Video, ts, vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])
}

#[test]
fn second_publisher_is_refused_until_the_first_leaves() {
    let hub = Arc::new(Hub::default());
    let p = hub.publish("live/a", &settings()).unwrap();
    assert_eq!(
        hub.publish("live/a", &settings()).unwrap_err(),
        HubError::StreamBusy("live/a".into())
    );
    assert!(hub.publish("live/b", &settings()).is_ok());
    drop(p);
    assert!(hub.publish("live/a", &settings()).is_ok());
}

#[test]
fn late_player_gets_the_gop_then_live_tags() {
    let hub = Arc::new(Hub::default());
    let p = hub.publish("live/a", &settings()).unwrap();
    p.push(&key_video(0));
    let rx = hub.subscribe("live/a", false).unwrap();
    p.push(&key_video(40));
    assert_eq!(rx.try_recv().unwrap().timestamp_ms, 0);
    assert_eq!(rx.try_recv().unwrap().timestamp_ms, 40);
    drop(p);
    assert!(matches!(
        rx.try_recv(),
        Err(flume::TryRecvError::Disconnected)
    ));
    assert!(hub.subscribe("live/a", false).is_none());
}

#[test]
fn slow_player_is_dropped_and_publisher_goes_on() {
    let hub = Arc::new(Hub::default());
    let p = hub.publish("live/a", &settings()).unwrap();
    let slow = hub.subscribe("live/a", false).unwrap();
    for i in 0..(PLAYER_QUEUE as u32 + 5) {
        p.push(&key_video(i));
    }
    assert_eq!(p.players(), 0);
    assert_eq!(slow.len(), PLAYER_QUEUE);
}

#[test]
fn waiting_player_gets_tags_once_published() {
    let hub = Arc::new(Hub::default());
    let rx = hub.subscribe("live/w", true).unwrap();
    let p = hub.publish("live/w", &settings()).unwrap();
    p.push(&key_video(7));
    assert_eq!(rx.try_recv().unwrap().timestamp_ms, 7);
}

#[test]
fn plays_of_unpublished_names_are_reclaimed() {
    // The probe: RTMP plays of names nobody publishes left entries forever.
    let hub = Arc::new(Hub::default());
    let t0 = Instant::now();
    let players: Vec<_> = (0..600)
        .map(|i| hub.subscribe(&format!("live/n{i}"), true).unwrap())
        .collect();
    assert_eq!(hub.sweep(t0), 0, "waiting players keep their stream");
    assert_eq!(hub.len(), 600);
    drop(players);
    // A stream someone is about to publish or subscribe to stays.
    let in_flight = hub.stream("live/n0").unwrap();
    assert_eq!(hub.sweep(t0), 599);
    drop(in_flight);
    assert_eq!(hub.sweep(t0), 1);
    assert!(hub.is_empty());
}

#[test]
fn hls_is_disposed_after_hls_dispose() {
    let hub = Arc::new(Hub::default());
    let hls = StreamSettings {
        hls: Some((Duration::from_secs(1), Duration::from_secs(10), 1.0)),
        hls_dispose: Duration::from_secs(120),
        ..settings()
    };
    let t0 = Instant::now();
    drop(hub.publish("live/h", &hls).unwrap());
    assert_eq!(hub.sweep(t0), 0, "HLS outlives the unpublish");
    assert_eq!(hub.sweep(t0 + Duration::from_secs(119)), 0);
    assert_eq!(hub.sweep(t0 + Duration::from_secs(120)), 1);
    assert!(hub.is_empty());
    // A new publish cancels the countdown; zero never disposes (SRS).
    drop(hub.publish("live/h", &hls).unwrap());
    hub.sweep(t0);
    let p = hub.publish("live/h", &hls).unwrap();
    assert_eq!(hub.sweep(t0 + Duration::from_secs(500)), 0);
    drop(p);
    let keep = StreamSettings {
        hls_dispose: Duration::ZERO,
        ..hls
    };
    drop(hub.publish("live/h", &keep).unwrap());
    hub.sweep(t0);
    assert_eq!(hub.sweep(t0 + Duration::from_secs(86_400)), 0);
    assert_eq!(hub.len(), 1);
}

fn desc(kind: crate::server::live::clients::LiveKind, stream: &str) -> LiveClientDesc {
    LiveClientDesc {
        kind,
        shard: 1,
        vhost: "__defaultVhost__".into(),
        app: "live".into(),
        stream: stream.into(),
        ip: "10.0.0.1".into(),
        tc_url: "x".repeat(5000),
        page_url: String::new(),
        swf_url: String::new(),
    }
}

#[test]
fn live_clients_are_listed_counted_and_kicked() {
    use crate::server::live::clients::LiveKind;
    let hub = Arc::new(Hub::default());
    let bytes = Arc::new(ByteCounters::default());
    let (kick_a, kick_b) = (Kick::default(), Kick::default());
    let a = hub.add_client(desc(LiveKind::FmlePublish, "a"), bytes.clone(), &kick_a);
    let b = hub.add_client(desc(LiveKind::FlvPlay, "a"), Arc::default(), &kick_b);
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id().len(), 8);
    let t0 = Instant::now();
    hub.sweep(t0);
    bytes.add_recv(125_000);
    bytes.add_sent(10);
    hub.sweep(t0 + Duration::from_secs(1));
    let listed = hub.clients(t0);
    assert_eq!(listed.len(), 2);
    let mine = listed.iter().find(|c| c.id == a.id()).unwrap();
    assert_eq!((mine.recv_bytes, mine.send_bytes), (125_000, 10));
    assert_eq!(mine.kbps.recv_30s, 1000, "125 kB in 1 s");
    assert_eq!(
        mine.desc.tc_url.len(),
        crate::server::live::clients::MAX_URL_LEN
    );

    // A kick wakes the connection's wait (from any thread) and hides it.
    assert!(hub.kick(b.id()));
    assert!(!hub.kick(b.id()), "already kicked");
    assert!(!hub.kick("nobody"));
    let woke = futures_lite::future::block_on(kick_b.or(std::future::pending::<()>()));
    assert_eq!(woke, None, "the kicked wait ends");
    assert_eq!(
        futures_lite::future::block_on(kick_b.or(async { 1 })),
        None,
        "and stays kicked"
    );
    assert_eq!(
        futures_lite::future::block_on(kick_a.or(async { 1 })),
        Some(1),
        "the other one is not"
    );
    assert_eq!(hub.clients(t0).len(), 1);
    drop(b);
    drop(a);
    assert!(hub.clients(t0).is_empty());
}

#[test]
fn a_publication_says_what_it_carries() {
    let hub = Arc::new(Hub::default());
    assert_eq!(hub.media("live/m"), None);
    let p = hub.publish("live/m", &settings()).unwrap();
    p.push(&FlvTag::new(TagKind::Audio, 0, vec![0xaf, 0, 0x12, 0x10]));
    let m = hub.media("live/m").unwrap();
    assert_eq!(m.audio.unwrap().codec, "AAC");
    assert!(m.video.is_none());
    drop(p);
    assert_eq!(hub.media("live/m"), None);
}

#[test]
fn rtmp_buffers_share_one_budget() {
    let hub = Arc::new(Hub::with_rtmp_budget(1000));
    let mut a = hub.rtmp_charge();
    let mut b = hub.rtmp_charge();
    a.set(600).unwrap();
    assert_eq!(
        b.set(500),
        Err(HubError::BufferBudget {
            held: 1100,
            budget: 1000
        })
    );
    assert_eq!(hub.rtmp_buffered(), 600);
    a.set(100).unwrap();
    b.set(500).unwrap();
    assert_eq!(hub.rtmp_buffered(), 600);
    drop(a);
    drop(b);
    assert_eq!(hub.rtmp_buffered(), 0);
}

#[test]
fn hls_players_keep_their_place_across_a_republish() {
    let tags = crate::live::hls::tests::fixture_tags();
    let hub = Arc::new(Hub::default());
    let hls = StreamSettings {
        hls: Some((Duration::from_millis(500), Duration::from_secs(60), 1.0)),
        ..settings()
    };
    for _ in 0..2 {
        let p = hub.publish("live/h", &hls).unwrap();
        for t in &tags {
            p.push(t);
        }
    }
    let pl = hub.hls_playlist("live/h", "[seq].ts").unwrap();
    assert!(pl.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{pl}");
    assert!(pl.contains("1.ts\n#EXT-X-DISCONTINUITY\n"), "{pl}");
    assert!(pl.trim_end().ends_with("3.ts"), "{pl}");
}
