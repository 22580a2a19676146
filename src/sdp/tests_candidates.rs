//! Tests of SRS's candidate rules: eip, the API host, fixed values, discovery.

use super::tests::*;
use super::*;
use std::net::IpAddr;

// ---- candidates ---------------------------------------------------------

fn policy() -> CandidatePolicy {
    CandidatePolicy {
        candidates: vec!["*".into()],
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
            let t = if c.transport == Transport::Udp {
                "udp"
            } else {
                "tcp"
            };
            format!("{t}:{}:{}", c.address, c.port)
        })
        .collect()
}

#[test]
fn candidates_eip_is_the_only_one_and_its_port_wins() {
    let ifs = ips(&["127.0.0.1", "10.0.0.5"]);
    let c = discover_candidates(&policy(), None, Some("1.2.3.4:9000"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:1.2.3.4:9000"]);
    let c = discover_candidates(&policy(), None, Some("1.2.3.4"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:1.2.3.4:8000"]);
    let all = CandidatePolicy {
        protocol: Protocol::All,
        tcp_port: Some(8001),
        ..policy()
    };
    let c = discover_candidates(&all, None, Some("[2001:db8::9]:7000"), &ifs, &no_dns);
    assert_eq!(addrs(&c), ["udp:2001:db8::9:7000", "tcp:2001:db8::9:7000"]);
    // eip alone stops the loopback fallback.
    let c = discover_candidates(
        &policy(),
        None,
        Some("1.2.3.4"),
        &ips(&["127.0.0.1"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:1.2.3.4:8000"]);
}

#[test]
fn candidates_from_the_api_host() {
    let ifs = ips(&["10.0.0.5"]);
    let dns = |h: &str| -> Vec<IpAddr> {
        match h {
            "sfu.example.com" => ips(&["203.0.113.7", "203.0.113.8"]),
            "loop.example.com" => ips(&["127.0.0.1"]),
            _ => Vec::new(),
        }
    };
    let p = policy();
    let c = discover_candidates(&p, Some("192.168.1.10:1985"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:192.168.1.10:8000", "udp:10.0.0.5:8000"]);
    for local in ["localhost:1985", "127.0.0.1", "0.0.0.0:1985", "[::]:1985"] {
        let c = discover_candidates(&p, Some(local), None, &ifs, &dns);
        assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"], "{local}");
    }
    let c = discover_candidates(&p, Some("sfu.example.com:1985"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:203.0.113.7:8000", "udp:10.0.0.5:8000"]);
    let c = discover_candidates(&p, Some("loop.example.com"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
    let keep = CandidatePolicy {
        keep_api_domain: true,
        resolve_api_domain: false,
        ..policy()
    };
    let c = discover_candidates(&keep, Some("sfu.example.com"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:sfu.example.com:8000", "udp:10.0.0.5:8000"]);
    let off = CandidatePolicy {
        api_as_candidates: false,
        ..policy()
    };
    let c = discover_candidates(&off, Some("192.168.1.10"), None, &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
    // The API host and eip are the same: listed once.
    let c = discover_candidates(&p, Some("10.0.0.5"), Some("10.0.0.5"), &ifs, &dns);
    assert_eq!(addrs(&c), ["udp:10.0.0.5:8000"]);
}

#[test]
fn candidates_fixed_value_stops_discovery() {
    let ifs = ips(&["10.0.0.5"]);
    for fixed in ["192.168.1.10", "media.example.com"] {
        let p = CandidatePolicy {
            candidates: vec![fixed.into()],
            ..policy()
        };
        let c = discover_candidates(&p, Some("172.16.0.1"), None, &ifs, &no_dns);
        assert_eq!(
            addrs(&c),
            [
                "udp:172.16.0.1:8000".to_string(),
                format!("udp:{fixed}:8000")
            ]
        );
    }
    let p = CandidatePolicy {
        candidates: vec!["0.0.0.0".into()],
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&p, None, None, &ifs, &no_dns)),
        ["udp:10.0.0.5:8000"]
    );
}

#[test]
fn candidates_star_with_loopback_only_falls_back_to_it() {
    let p = policy();
    let c = discover_candidates(
        &p,
        Some("localhost"),
        None,
        &ips(&["127.0.0.1", "::1"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
    let c = discover_candidates(&p, None, None, &ips(&["::1"]), &no_dns);
    assert_eq!(addrs(&c), ["udp:::1:8000"]);
    assert!(discover_candidates(&p, None, None, &[], &no_dns).is_empty());
    // Auto-detect off: the first IPv4, loopback or not.
    let off = CandidatePolicy {
        use_auto_detect_network_ip: false,
        ..policy()
    };
    let c = discover_candidates(&off, None, None, &ips(&["127.0.0.1", "10.0.0.5"]), &no_dns);
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
}

#[test]
fn candidates_ip_family_filter() {
    let ifs = ips(&["127.0.0.1", "10.0.0.5", "::1", "2001:db8::5", "10.0.0.6"]);
    let fam = |f| CandidatePolicy {
        ip_family: f,
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::V4),
            None,
            None,
            &ifs,
            &no_dns
        )),
        ["udp:10.0.0.5:8000", "udp:10.0.0.6:8000"]
    );
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::V6),
            None,
            None,
            &ifs,
            &no_dns
        )),
        ["udp:2001:db8::5:8000"]
    );
    assert_eq!(
        addrs(&discover_candidates(
            &fam(IpFamily::All),
            None,
            None,
            &ifs,
            &no_dns
        )),
        [
            "udp:10.0.0.5:8000",
            "udp:2001:db8::5:8000",
            "udp:10.0.0.6:8000"
        ]
    );
    // IPv6 wanted but only IPv4 non-loopback: fallback picks the first IPv4.
    let c = discover_candidates(
        &fam(IpFamily::V6),
        None,
        None,
        &ips(&["127.0.0.1", "10.0.0.5"]),
        &no_dns,
    );
    assert_eq!(addrs(&c), ["udp:127.0.0.1:8000"]);
}

#[test]
fn candidates_protocol_choice() {
    let ifs = ips(&["10.0.0.5"]);
    let tcp = CandidatePolicy {
        protocol: Protocol::Tcp,
        tcp_port: Some(8443),
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&tcp, None, None, &ifs, &no_dns)),
        ["tcp:10.0.0.5:8443"]
    );
    let tcp_off = CandidatePolicy {
        protocol: Protocol::All,
        tcp_port: None,
        ..policy()
    };
    assert_eq!(
        addrs(&discover_candidates(&tcp_off, None, None, &ifs, &no_dns)),
        ["udp:10.0.0.5:8000"]
    );
}

#[test]
fn local_interface_ips_lists_up_addresses() {
    let list = local_interface_ips();
    // IPv4 first, no IPv6 link-local.
    let first_v6 = list
        .iter()
        .position(|ip| ip.is_ipv6())
        .unwrap_or(list.len());
    assert!(list[first_v6..].iter().all(|ip| ip.is_ipv6()));
    assert!(!list
        .iter()
        .any(|ip| matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)));
}

/// A deterministic stand-in for the fuzz target: mutated real offers never
/// panic, and every answer is CRLF-only SDP with one m-line per offered one.
#[test]
fn mutated_offers_never_panic_and_answers_stay_clean() {
    let seeds = [
        AIORTC,
        CHROMIUM,
        FFMPEG,
        SRS_DOC,
        SRS_DOC_MIN,
        ANSWER_TO_FFMPEG,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"=: \r\n/;-0123456789aAmvx\t";
    let mut answered = 0;
    for i in 0..3000 {
        let mut bytes = seeds[i % seeds.len()].as_bytes().to_vec();
        for _ in 0..(1 + next() % 6) {
            let pos = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[pos] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let Ok(offer) = parse_offer_with(
            text,
            ParseOptions {
                require_fingerprint: false,
            },
        ) else {
            continue;
        };
        for opts in [publish_opts(), play_opts(None)] {
            if let Ok(a) = answer(&offer, &opts) {
                answered += 1;
                assert_eq!(
                    a.sdp.matches("\r\nm=").count(),
                    offer.media.len(),
                    "{text:?}"
                );
                let stripped = a.sdp.replace("\r\n", "");
                assert!(!stripped.contains(|c: char| c.is_control()), "{:?}", a.sdp);
            }
        }
    }
    assert!(answered > 1000, "only {answered} answers");
}
