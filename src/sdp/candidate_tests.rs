//! IPv6 and several `candidate` values (SRS 7's dual-stack guide). The
//! IPv4 rules are tested in `sdp/tests_candidates.rs`.

use std::cell::Cell;
use std::net::IpAddr;

use super::*;

fn policy(candidates: &[&str]) -> CandidatePolicy {
    CandidatePolicy {
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        udp_port: 8000,
        tcp_port: Some(8000),
        protocol: Protocol::Udp,
        api_as_candidates: true,
        resolve_api_domain: true,
        keep_api_domain: false,
        use_auto_detect_network_ip: true,
        ip_family: IpFamily::V4,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn no_dns(_: &str) -> Vec<IpAddr> {
    Vec::new()
}

fn addrs(c: &[Candidate]) -> Vec<String> {
    c.iter()
        .map(|c| {
            let t = match c.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            format!("{t} {} {}", c.address, c.port)
        })
        .collect()
}

#[test]
fn the_guides_two_candidates_give_one_host_candidate_each_per_protocol() {
    // `candidate 192.168.1.100 [2001:db8::1];` (the config drops the brackets).
    let mut p = policy(&["192.168.1.100", "2001:db8::1"]);
    let ifs = ips(&["10.0.0.5", "2001:db8::5"]);
    let c = discover_candidates(&p, None, None, &ifs, &no_dns);
    assert_eq!(
        addrs(&c),
        ["udp 192.168.1.100 8000", "udp 2001:db8::1 8000"]
    );
    p.protocol = Protocol::All;
    p.tcp_port = Some(8443);
    let c = discover_candidates(&p, None, None, &ifs, &no_dns);
    assert_eq!(
        addrs(&c),
        [
            "udp 192.168.1.100 8000",
            "tcp 192.168.1.100 8443",
            "udp 2001:db8::1 8000",
            "tcp 2001:db8::1 8443"
        ]
    );
}

#[test]
fn a_star_among_fixed_values_adds_the_detected_addresses() {
    let mut p = policy(&["::1", "*"]);
    p.ip_family = IpFamily::All;
    let ifs = ips(&["127.0.0.1", "10.0.0.5", "::1", "2001:db8::5"]);
    let c = discover_candidates(&p, None, None, &ifs, &no_dns);
    assert_eq!(
        addrs(&c),
        ["udp ::1 8000", "udp 10.0.0.5 8000", "udp 2001:db8::5 8000"]
    );
}

#[test]
fn ipv6_detection_skips_loopback_unless_it_is_all_there_is() {
    let mut p = policy(&["*"]);
    p.ip_family = IpFamily::V6;
    // (`local_interface_ips` already leaves out link-local fe80::/10.)
    let ifs = ips(&["127.0.0.1", "10.0.0.5", "::1", "2001:db8::5"]);
    let c = discover_candidates(&p, None, None, &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp 2001:db8::5 8000"]);
    // A loopback-only namespace: `::1` is the IPv6 there is.
    let c = discover_candidates(&p, None, None, &ips(&["127.0.0.1", "::1"]), &no_dns);
    assert_eq!(addrs(&c), ["udp ::1 8000"]);
    // ipv4 keeps SRS's fallback, the first IPv4.
    p.ip_family = IpFamily::V4;
    let c = discover_candidates(&p, None, None, &ips(&["127.0.0.1", "::1"]), &no_dns);
    assert_eq!(addrs(&c), ["udp 127.0.0.1 8000"]);
}

#[test]
fn an_ipv6_eip_in_every_spelling() {
    let p = policy(&["127.0.0.1"]);
    for (eip, want) in [
        ("2001:db8::1", "udp 2001:db8::1 8000"),
        ("[2001:db8::1]", "udp 2001:db8::1 8000"),
        ("[2001:db8::1]:9000", "udp 2001:db8::1 9000"),
    ] {
        let c = discover_candidates(&p, None, Some(eip), &[], &no_dns);
        assert_eq!(addrs(&c), [want], "eip={eip}");
    }
}

#[test]
fn an_ipv6_api_host_is_a_candidate_without_a_lookup() {
    let p = policy(&["127.0.0.1"]);
    let looked_up = Cell::new(0);
    let dns = |_: &str| {
        looked_up.set(looked_up.get() + 1);
        Vec::new()
    };
    // SRS skips 127.0.0.1 and `::` but not `::1` (its literal resolves to itself).
    let c = discover_candidates(&p, Some("[::1]:1985"), None, &[], &dns);
    assert_eq!(addrs(&c), ["udp ::1 8000", "udp 127.0.0.1 8000"]);
    let c = discover_candidates(&p, Some("[2001:db8::7]"), None, &[], &dns);
    assert_eq!(addrs(&c), ["udp 2001:db8::7 8000", "udp 127.0.0.1 8000"]);
    let c = discover_candidates(&p, Some("[::]:1985"), None, &[], &dns);
    assert_eq!(addrs(&c), ["udp 127.0.0.1 8000"]);
    assert_eq!(looked_up.get(), 0);
}
