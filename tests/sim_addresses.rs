//! Scenario tests: a client that changes address after DTLS started, to
//! one whose datagrams the kernel hands to another shard (a second
//! interface, IPv6 next to IPv4, a NAT rebinding). Its session stays on the
//! shard that holds its DTLS state; the receiving shard routes the
//! address's datagrams there (`sfu::routes`).

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use shardsfu::sdp::Role;
use shardsfu::sfu::SfuSettings;
use sim::world::World;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_publisher_that_moves_to_another_shards_address_keeps_publishing() {
    let mut w = World::new(2, 21, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 0, false);
    let created = w.signal(p, 0, "s").unwrap();
    let v = w.add_peer(Role::Play, 0, false);
    w.signal(v, 0, "s").unwrap();
    w.run_for(secs(1.0));
    assert!(w.peers[p].stats.dtls_connected && w.peers[v].stats.dtls_connected);
    let before = w.peers[v].stats.unique_received;
    assert!(before > 60, "{:?}", w.peers[v].stats);

    // The publisher's media now comes from an address shard 1 receives.
    w.rebind(p, addr("[fd00::2]:6000"), 1);
    w.run_for(secs(2.0));
    let vs = &w.peers[v].stats;
    // ~240 packets in 2 s at 120/s: all but the few in flight at the switch.
    assert!(vs.unique_received - before > 220, "{vs:?}");
    assert_eq!(w.holder(&created.token), Some(0), "the session stayed");
    let (s0, s1) = (w.stats[0].snapshot(), w.stats[1].snapshot());
    assert!(
        s1.packets_routed > 220,
        "shard 1 routed {}",
        s1.packets_routed
    );
    // The sim peer sends media from the new address right away, before its
    // check's answer (and the route) exist: those few are dropped.
    assert!(s1.packets_unknown_source < 10, "{s1:?}");
    assert_eq!(s0.packets_routed, 0);

    // Teardown ends the route on shard 1 as well.
    w.delete(1, &created.token);
    w.peers[p].stop();
    w.run_for(secs(0.5));
    let ([sessions, _, addrs, ..], _) = w.tables();
    assert_eq!(
        (sessions, addrs),
        (1, 1),
        "only the player's own address is left"
    );
}

#[test]
fn a_player_that_moves_keeps_receiving_and_its_nacks_arrive() {
    let mut w = World::new(2, 22, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 1, false);
    w.signal(p, 1, "s").unwrap();
    let v = w.add_peer(Role::Play, 0, false);
    let created = w.signal(v, 0, "s").unwrap();
    w.run_for(secs(1.0));
    let before = w.peers[v].stats.unique_received;
    assert!(before > 60);

    w.rebind(v, addr("10.9.9.9:7000"), 1);
    w.run_for(secs(2.0));
    let vs = &w.peers[v].stats;
    assert!(vs.unique_received - before > 220, "{vs:?}");
    assert_eq!(w.holder(&created.token), Some(0));
    // Its RTCP (receiver reports at least) reached the session on shard 0.
    let s1 = w.stats[1].snapshot();
    assert!(s1.packets_routed > 0, "{s1:?}");
    assert!(s1.packets_unknown_source < 10, "{s1:?}");
}

#[test]
fn an_address_is_routed_only_after_its_authentic_check() {
    // The same move without a check at once: until the peer's next consent
    // check (within a second) nothing authenticated the new address, so its
    // datagrams are dropped as unknown; after it they are routed.
    let mut w = World::new(2, 23, SfuSettings::default());
    let p = w.add_peer(Role::Publish, 0, false);
    w.signal(p, 0, "s").unwrap();
    w.run_for(secs(1.0));
    w.shard_of.insert(addr("10.7.7.7:7000"), 1);
    w.peers[p].addr = addr("10.7.7.7:7000");
    w.run_for(secs(1.5));
    let s1 = w.stats[1].snapshot();
    assert!(s1.packets_unknown_source > 0, "{s1:?}");
    assert!(s1.packets_routed > 0, "{s1:?}");
}
