//! Scenario tests: SFU shards and sans-IO peers on a simulated network
//! (tests/sim/), in virtual time — each runs in well under a second and
//! gives the same result for the same seed.

mod sim;

use std::sync::Arc;
use std::time::Duration;

use shardsfu::sdp::Role;
use shardsfu::sfu::{SessionSettings, SfuSettings};
use sim::net::Link;
use sim::peer::all_stats;
use sim::world::World;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A publisher on shard `pub_shard` and a player on `play_shard`, both
/// signaled on their own shard; the player joins after `join_after`.
fn pub_and_player(
    w: &mut World,
    pub_shard: usize,
    play_shard: usize,
    join_after: f64,
) -> (usize, usize) {
    let p = w.add_peer(Role::Publish, pub_shard, false);
    w.signal(p, pub_shard, "s").unwrap();
    w.run_for(secs(join_after));
    let v = w.add_peer(Role::Play, play_shard, false);
    w.signal(v, play_shard, "s").unwrap();
    (p, v)
}

#[test]
fn publish_then_play_across_two_shards() {
    let mut w = World::new(2, 1, SfuSettings::default());
    let (p, v) = pub_and_player(&mut w, 0, 1, 0.5);
    w.run_for(secs(3.0));
    let (ps, vs) = (&w.peers[p].stats, &w.peers[v].stats);
    assert!(ps.dtls_connected && vs.dtls_connected);
    assert_eq!(vs.first_is_keyframe, Some(true), "{vs:?}");
    // ~2.9 s of 120 packets/s once connected: the player gets them all.
    assert!(vs.unique_received > 300, "{vs:?}");
    assert_eq!(vs.max_seq_jump, 1, "no gap on a clean network");
    // The media crossed the mesh: shard 0 received, shard 1 sent.
    assert!(w.stats[0].snapshot().rtp_received > 300);
    assert_eq!(w.stats[1].snapshot().rtp_received, 0);
}

#[test]
fn late_joiner_starts_at_a_keyframe() {
    let mut w = World::new(1, 2, SfuSettings::default());
    // The publisher's own keyframes are 2 s apart; the joiner arrives
    // mid-GOP and must start with the keyframe its PLI asks for.
    let (p, v) = pub_and_player(&mut w, 0, 0, 1.3);
    w.run_for(secs(0.5));
    let vs = &w.peers[v].stats;
    assert_eq!(vs.first_is_keyframe, Some(true), "{vs:?}");
    assert!(w.peers[p].stats.plis_received >= 1);
    assert!(
        vs.unique_received > 20,
        "started well before the next GOP: {vs:?}"
    );
}

/// Runs a 1 → 1 stream for 4 s with `loss` on the publisher's or the
/// player's path and returns the share of the publisher's packets the
/// player got, and the world.
fn lossy(seed: u64, loss: f64, player_leg: bool) -> (f64, World) {
    let mut w = World::new(1, seed, SfuSettings::default());
    let (p, v) = pub_and_player(&mut w, 0, 0, 0.0);
    let peer = if player_leg { v } else { p };
    let link = Link {
        loss,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
    };
    let (addr, server) = (w.peers[peer].addr, w.server);
    // Loss starts once both are connected.
    w.run_for(secs(0.5));
    let sent_before = w.peers[p].stats.rtp_sent;
    let got_before = w.peers[v].stats.unique_received;
    w.net.set_path(addr, server, link);
    w.run_for(secs(4.0));
    w.net.set_path(addr, server, Link { loss: 0.0, ..link });
    w.peers[p].stop();
    let sent = w.peers[p].stats.rtp_sent - sent_before;
    w.run_for(secs(0.5));
    let got = w.peers[v].stats.unique_received - got_before;
    (got as f64 / sent as f64, w)
}

#[test]
fn five_percent_loss_on_the_publisher_leg_is_recovered() {
    let (share, w) = lossy(3, 0.05, false);
    assert!(share >= 0.99, "player got {share:.3} of the packets");
    assert!(w.stats[0].snapshot().nacks_sent > 0);
}

#[test]
fn twenty_percent_loss_on_the_publisher_leg_is_recovered() {
    let (share, _) = lossy(4, 0.20, false);
    assert!(share >= 0.97, "player got {share:.3} of the packets");
}

#[test]
fn five_percent_loss_on_the_player_leg_is_recovered() {
    let (share, w) = lossy(5, 0.05, true);
    assert!(share >= 0.99, "player got {share:.3} of the packets");
    assert!(w.stats[0].snapshot().retransmitted > 0);
}

#[test]
fn twenty_percent_loss_on_the_player_leg_is_recovered_within_the_budget() {
    let (share, w) = lossy(6, 0.20, true);
    assert!(share >= 0.97, "player got {share:.3} of the packets");
    let st = w.stats[0].snapshot();
    // Retransmissions stay within the per-player budget (50% of media).
    assert!(st.retransmitted > 0);
    assert!(st.retransmitted * 2 <= w.peers[0].stats.rtp_sent, "{st:?}");
}

#[test]
fn no_nack_means_no_recovery() {
    // The loss tests above can fail: without NACK the loss stays.
    let off = SessionSettings {
        nack: false,
        ..SessionSettings::default()
    };
    let mut w = World::new(
        1,
        7,
        SfuSettings::default().with_vhost("__defaultVhost__", off),
    );
    let (p, v) = pub_and_player(&mut w, 0, 0, 0.0);
    w.run_for(secs(0.5));
    let (addr, server) = (w.peers[v].addr, w.server);
    w.net.set_path(
        addr,
        server,
        Link {
            loss: 0.2,
            ..Link::default()
        },
    );
    let before = (w.peers[p].stats.rtp_sent, w.peers[v].stats.unique_received);
    w.run_for(secs(3.0));
    let sent = w.peers[p].stats.rtp_sent - before.0;
    let got = w.peers[v].stats.unique_received - before.1;
    assert!((got as f64) < sent as f64 * 0.9, "{got} of {sent}");
}

#[test]
fn twcc_feedback_reports_what_was_lost() {
    let mut w = World::new(1, 8, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 0, true);
    w.signal(p, 0, "s").unwrap();
    w.run_for(secs(0.5));
    let (addr, server) = (w.peers[p].addr, w.server);
    w.net.set_link(
        addr,
        server,
        Link {
            loss: 0.1,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
        },
    );
    let lost_before = w.net.lost;
    w.run_for(secs(3.0));
    let ps = &w.peers[p].stats;
    assert!(ps.twcc_feedbacks >= 40, "feedback every 50 ms: {ps:?}");
    // Media packets were the only datagrams lost (checks went out before);
    // the feedback reports about as many lost as the network dropped
    // (NACKed retransmissions carry new TWCC numbers, and the last ones
    // are not yet reported).
    let dropped = w.net.lost - lost_before;
    let reported = ps.twcc_reported_lost;
    assert!(reported > 0 && dropped > 0);
    assert!(
        reported as f64 >= dropped as f64 * 0.7 && reported <= dropped + 20,
        "reported {reported} lost, network dropped {dropped}"
    );
    assert!(ps.twcc_reported_received > ps.rtp_sent / 2);
}

#[test]
fn publisher_reconnect_keeps_the_players_sequence_continuous() {
    let mut w = World::new(2, 9, SfuSettings::default());
    let (p1, v) = pub_and_player(&mut w, 0, 1, 0.3);
    w.run_for(secs(1.5));
    let first = w.directory.stream("live/s").unwrap().publisher;
    w.peers[p1].stop();
    w.delete(1, &first.as_str().into());
    w.run_for(secs(0.5));
    assert!(w.directory.stream("live/s").is_none());
    let before = w.peers[v].stats.unique_received;
    // A new publisher (new SSRC, new sequence numbers) on the other shard.
    let p2 = w.add_peer(Role::Publish, 1, false);
    w.signal(p2, 1, "s").unwrap();
    w.run_for(secs(2.0));
    let vs = &w.peers[v].stats;
    assert!(vs.unique_received > before + 150, "{vs:?}");
    assert_eq!(
        vs.max_seq_jump, 1,
        "the player's sequence continues: {vs:?}"
    );
    assert!(!vs.ts_went_back, "{vs:?}");
}

#[test]
fn a_session_moves_to_the_shard_of_its_first_check() {
    let mut w = World::new(3, 10, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 2, false);
    // Signaled on shard 0; the kernel delivers its datagrams to shard 2.
    let created = w.signal(p, 0, "s").unwrap();
    assert_eq!(w.holder(&created.token), Some(0));
    w.run_for(secs(1.0));
    assert_eq!(w.holder(&created.token), Some(2));
    assert_eq!(
        w.directory.session(created.token.as_str()).unwrap().shard,
        2
    );
    assert!(w.peers[p].stats.dtls_connected);
    assert_eq!(w.stats[0].snapshot().sessions_moved_out, 1);
    // A player on shard 1 gets its media across the mesh.
    let v = w.add_peer(Role::Play, 1, false);
    w.signal(v, 1, "s").unwrap();
    w.run_for(secs(1.0));
    assert!(w.peers[v].stats.unique_received > 60);
}

#[test]
fn a_forged_check_does_not_move_a_session() {
    let mut w = World::new(2, 11, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 0, false);
    let created = w.signal(p, 0, "s").unwrap();
    // A stranger on shard 1 who read the ufrag sends a check signed with
    // the wrong password, before the real peer checks.
    let stranger = w.add_peer(Role::Play, 1, false);
    let forged = created
        .answer
        .lines()
        .map(|l| {
            if l.starts_with("a=ice-pwd:") {
                "a=ice-pwd:wrongwrongwrongwrongwrong"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let server = w.server;
    let now = w.now;
    w.peers[stranger].handle_answer(&forged, server, now);
    w.run_for(secs(0.2));
    assert_eq!(w.holder(&created.token), Some(0), "the session stayed");
    assert!(w.stats[0].snapshot().stun_rejected > 0);
    // The real peer still connects (and moves nothing: it is on shard 0).
    w.run_for(secs(1.0));
    assert!(w.peers[p].stats.dtls_connected);
}

#[test]
fn teardown_leaves_every_table_empty() {
    let mut w = World::new(2, 12, SfuSettings::default());
    let (p, v1) = pub_and_player(&mut w, 0, 1, 0.2);
    let v2 = w.add_peer(Role::Play, 0, false);
    w.signal(v2, 1, "s").unwrap(); // moves to shard 0 on its first check
    w.run_for(secs(1.5));
    assert!(w.peers[v1].stats.unique_received > 0 && w.peers[v2].stats.unique_received > 0);
    let tokens: Vec<_> = w
        .shards
        .iter()
        .flat_map(|s| s.sessions().map(|x| x.token.clone()).collect::<Vec<_>>())
        .collect();
    assert_eq!(tokens.len(), 3);
    for (i, t) in tokens.iter().enumerate() {
        w.delete(i % 2, t);
    }
    for i in [p, v1, v2] {
        w.peers[i].stop();
    }
    w.run_for(secs(0.5));
    assert_eq!(w.tables(), ([0; 7], (0, 0)));
}

#[test]
fn silent_sessions_end_at_stun_timeout_and_leave_nothing() {
    let short = SessionSettings {
        stun_timeout: Duration::from_secs(2),
        ..SessionSettings::default()
    };
    let mut w = World::new(
        2,
        13,
        SfuSettings::default().with_vhost("__defaultVhost__", short),
    );
    let (p, v) = pub_and_player(&mut w, 0, 1, 0.2);
    w.run_for(secs(1.0));
    w.peers[p].stop();
    w.peers[v].stop();
    w.run_for(secs(3.0));
    assert_eq!(w.tables(), ([0; 7], (0, 0)));
    let timed_out: u64 = w
        .stats
        .iter()
        .map(|s| s.snapshot().sessions_timed_out)
        .sum();
    assert_eq!(timed_out, 2);
}

#[test]
fn new_settings_apply_to_new_sessions_only() {
    let mut w = World::new(1, 14, SfuSettings::default());
    let (_, v1) = pub_and_player(&mut w, 0, 0, 0.2);
    // Reload: NACK off for sessions made from now on.
    let off = SessionSettings {
        nack: false,
        ..SessionSettings::default()
    };
    let reloaded = Arc::new(SfuSettings::default().with_vhost("__defaultVhost__", off));
    w.shards[0].handle_settings(reloaded);
    let v2 = w.add_peer(Role::Play, 0, false);
    let created = w.signal(v2, 0, "s").unwrap();
    assert!(
        !created.answer.contains("a=rtcp-fb:102 nack\r\n"),
        "{}",
        created.answer
    );
    // The player made before the reload keeps NACK: its losses are repaired.
    let (a1, a2, server) = (w.peers[v1].addr, w.peers[v2].addr, w.server);
    let lossy = Link {
        loss: 0.1,
        ..Link::default()
    };
    w.run_for(secs(0.5));
    w.net.set_link(server, a1, lossy);
    w.net.set_link(server, a2, lossy);
    let before = w.stats[0].snapshot().retransmitted;
    w.run_for(secs(2.0));
    assert!(w.stats[0].snapshot().retransmitted > before);
    assert!(w.peers[v1].stats.nacks_sent > 0);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let (share, w) = lossy(seed, 0.1, true);
        (share, all_stats(&w.peers), w.net.lost)
    };
    assert_eq!(run(42), run(42));
}

#[test]
fn a_player_that_comes_first_gets_the_publisher_that_follows() {
    let mut w = World::new(2, 15, SfuSettings::default());
    let v = w.add_peer(Role::Play, 1, false);
    w.signal(v, 1, "s")
        .expect("WHEP before publish is admitted");
    w.run_for(secs(3.0));
    assert!(w.peers[v].stats.dtls_connected);
    assert_eq!(w.peers[v].stats.rtp_received, 0);
    let p = w.add_peer(Role::Publish, 0, false);
    w.signal(p, 0, "s").unwrap();
    w.run_for(secs(3.0));
    let (sent, got) = (w.peers[p].stats.rtp_sent, w.peers[v].stats.unique_received);
    assert!(got as f64 >= sent as f64 * 0.9, "{got} of {sent}");
    assert_eq!(w.peers[v].stats.first_is_keyframe, Some(true));
    let st = w.stats[1].snapshot();
    assert_eq!(
        (st.players_waiting, st.players_wait_served),
        (1, 1),
        "{st:?}"
    );
}

#[test]
fn a_player_waits_for_a_publisher_only_until_stun_timeout() {
    let short = SessionSettings {
        stun_timeout: Duration::from_secs(2),
        ..SessionSettings::default()
    };
    let mut w = World::new(
        1,
        16,
        SfuSettings::default().with_vhost("__defaultVhost__", short),
    );
    let v = w.add_peer(Role::Play, 0, false);
    let created = w.signal(v, 0, "s").unwrap();
    w.run_for(secs(1.5));
    assert_eq!(w.holder(&created.token), Some(0), "still waiting");
    w.run_for(secs(1.0));
    // The peer kept its consent checks going: only the wait ended it.
    assert_eq!(w.holder(&created.token), None);
    let st = w.stats[0].snapshot();
    assert_eq!(
        (st.players_wait_expired, st.sessions_timed_out),
        (1, 0),
        "{st:?}"
    );
    assert_eq!(w.tables(), ([0; 7], (0, 0)));
}

#[test]
fn sessions_without_a_check_end_and_one_ip_cannot_hold_many() {
    let mut settings = SfuSettings::default();
    settings.max_pending_per_ip = 3;
    let mut w = World::new(2, 17, settings);
    let flood: std::net::IpAddr = [10, 9, 9, 9].into();
    // Three sessions from one address that never check (peers stopped).
    for port in 1..=3 {
        let i = w.add_peer_at((flood, port).into(), Role::Publish, 0, false);
        w.signal(i, 0, &format!("squat{port}")).unwrap();
        w.peers[i].stop();
    }
    let fourth = w.add_peer_at((flood, 4).into(), Role::Publish, 0, false);
    let refused = w.signal(fourth, 0, "squat4").unwrap_err();
    assert!(refused.contains("waiting for ICE"), "{refused}");
    // Another address is served, and passes ICE.
    let (p, v) = pub_and_player(&mut w, 1, 0, 0.2);
    w.run_for(secs(1.0));
    assert!(
        w.peers[v].stats.unique_received > 50,
        "{:?}",
        w.peers[p].stats
    );
    assert_eq!(w.directory.pending_of(w.peers[p].addr.ip()), 0);
    // first_check_timeout (10 s) ends the squatters and frees the address.
    w.run_for(secs(10.0));
    let no_check: u64 = w.stats.iter().map(|s| s.snapshot().sessions_no_check).sum();
    assert_eq!(no_check, 3);
    assert_eq!(w.directory.pending_of(flood), 0);
    assert!(
        w.directory.stream("live/squat1").is_none(),
        "the names are free again"
    );
    w.signal(fourth, 0, "squat4")
        .expect("the address may try again");
}
