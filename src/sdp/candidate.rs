//! The server's ICE candidates, chosen by SRS's rules
//! (`discover_candidates` and `api_server_as_candidates` in
//! srs_app_rtc_server.cpp, and the candidate loop of the connection's
//! `generate_local_sdp`).
//!
//! In order: the client's `eip` (an `ip:port` eip also replaces the ports);
//! the API host when `api_as_candidates` is on (an IP literal unless it is
//! 127.0.0.1, 0.0.0.0 or `::`, `localhost` never; a domain kept as is with
//! `keep_api_domain`, resolved with `resolve_api_domain`); then each fixed
//! `candidate` value that is not `*` or `0.0.0.0` (and nothing else after
//! them unless a value is `*`); else the interface IPs (no loopback,
//! filtered by `ip_family`) when `use_auto_detect_network_ip` is on; and
//! when all that found nothing, the first IPv4 interface address (loopback
//! included), else the first address; with `ip_family ipv6`, the first
//! IPv6 address (so a host whose only IPv6 address is `::1` offers `::1`).
//!
//! SRS takes one `candidate` and treats an IPv6 API host as a domain it
//! resolves (to itself); shardsfu takes several `candidate` values (SRS 7's
//! IPv6 guide writes `candidate 192.168.1.100 [2001:db8::1];`) and takes an
//! IPv6 API host as the literal it is, with the same outcome. Addresses are
//! kept without brackets: an `a=candidate` line carries a bare IPv6.
//!
//! SRS keeps the addresses in a `std::set`, which sorts them as strings; we
//! keep the order above (so the eip comes first and gives the c= line),
//! removing duplicates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which transports to offer (`rtc_server.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// UDP only (`udp`, SRS's default).
    Udp,
    /// ICE-TCP only (`tcp`).
    Tcp,
    /// Both (`all`): a UDP then a TCP candidate per address.
    All,
}

/// Which interface addresses to use (`rtc_server.ip_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    /// `ipv4` (SRS's default).
    V4,
    /// `ipv6`.
    V6,
    /// `all`.
    All,
}

/// The candidate settings, from `rtc_server` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidatePolicy {
    /// `rtc_server.candidate` values: `*`, `0.0.0.0`, an IP (IPv6 without
    /// brackets) or a host name (any `$CANDIDATE` already expanded by the
    /// config).
    pub candidates: Vec<String>,
    /// The UDP port (`rtc_server.listen`).
    pub udp_port: u16,
    /// The ICE-TCP port (`rtc_server.tcp.listen`), if TCP is enabled.
    pub tcp_port: Option<u16>,
    /// `rtc_server.protocol`.
    pub protocol: Protocol,
    /// `rtc_server.api_as_candidates` (default on).
    pub api_as_candidates: bool,
    /// `rtc_server.resolve_api_domain` (default on).
    pub resolve_api_domain: bool,
    /// `rtc_server.keep_api_domain` (default off).
    pub keep_api_domain: bool,
    /// `rtc_server.use_auto_detect_network_ip` (default on).
    pub use_auto_detect_network_ip: bool,
    /// `rtc_server.ip_family`.
    pub ip_family: IpFamily,
}

/// The candidate's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP host candidate.
    Udp,
    /// ICE-TCP passive host candidate.
    Tcp,
}

/// One server candidate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// An IP literal or a host name.
    pub address: String,
    /// The port.
    pub port: u16,
    /// UDP or TCP.
    pub transport: Transport,
}

/// SRS's names for the addresses that never serve as candidates.
const LOCALHOST_NAME: &str = "localhost";
const LOCALHOST: &str = "127.0.0.1";
const ANY_V4: &str = "0.0.0.0";
const ANY_V6: &str = "::";

/// Choose the candidates for one session. `api_host` is the Host of the API
/// request (a port is stripped); `eip` the client's `eip` query value;
/// `interfaces` the local addresses in interface order
/// ([`local_interface_ips`]); `resolve` a name lookup (only called when
/// `resolve_api_domain` is on and the API host is not an IPv4 literal).
pub fn discover_candidates(
    policy: &CandidatePolicy,
    api_host: Option<&str>,
    eip: Option<&str>,
    interfaces: &[IpAddr],
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Vec<Candidate> {
    let hosts = discover_hosts(policy, api_host, eip, interfaces, resolve);
    let mut out = Vec::new();
    for h in hosts {
        let (address, port) = split_host_port(&h);
        let address = address.to_string();
        let udp = port.unwrap_or(policy.udp_port);
        let tcp = port.or(policy.tcp_port);
        let want_udp = matches!(policy.protocol, Protocol::Udp | Protocol::All);
        let want_tcp = matches!(policy.protocol, Protocol::Tcp | Protocol::All);
        if want_udp {
            push_unique(
                &mut out,
                Candidate {
                    address: address.clone(),
                    port: udp,
                    transport: Transport::Udp,
                },
            );
        }
        if let (true, Some(port)) = (want_tcp, tcp) {
            push_unique(
                &mut out,
                Candidate {
                    address,
                    port,
                    transport: Transport::Tcp,
                },
            );
        }
    }
    out
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The candidate hosts (maybe `ip:port` for an eip), in discovery order.
fn discover_hosts(
    policy: &CandidatePolicy,
    api_host: Option<&str>,
    eip: Option<&str>,
    interfaces: &[IpAddr],
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    if let Some(eip) = eip.map(str::trim).filter(|e| !e.is_empty()) {
        // `eip` forces the candidate: the answer carries exactly that one
        // (SRS adds it to the others; a client may then pick another path,
        // which defeats a relay or NAT mapping the caller chose on purpose).
        hosts.push(eip.to_string());
        return hosts;
    }
    if policy.api_as_candidates {
        if let Some(host) = api_host
            .map(|h| split_host_port(h.trim()).0)
            .filter(|h| !h.is_empty())
        {
            api_host_candidates(policy, host, resolve, &mut hosts);
        }
    }

    let is_auto = |c: &str| c == "*" || c == ANY_V4;
    let mut auto = false;
    for c in policy.candidates.iter().map(|c| c.trim()) {
        if is_auto(c) {
            auto = true;
        } else if !c.is_empty() {
            push_unique(&mut hosts, c.to_string());
        }
    }
    if !auto {
        return hosts;
    }

    if interfaces.is_empty() {
        return hosts;
    }
    if policy.use_auto_detect_network_ip {
        for ip in interfaces {
            let family_ok = match policy.ip_family {
                IpFamily::V4 => ip.is_ipv4(),
                IpFamily::V6 => ip.is_ipv6(),
                IpFamily::All => true,
            };
            if !ip.is_loopback() && family_ok {
                push_unique(&mut hosts, ip.to_string());
            }
        }
    }
    if !hosts.is_empty() {
        return hosts;
    }
    // Nothing better: the first address of the family asked for (loopback
    // included), else the first IPv4, else the first.
    let ip = interfaces
        .iter()
        .find(|ip| policy.ip_family == IpFamily::V6 && ip.is_ipv6())
        .or_else(|| interfaces.iter().find(|ip| ip.is_ipv4()))
        .unwrap_or(&interfaces[0]);
    hosts.push(ip.to_string());
    hosts
}

/// SRS's `api_server_as_candidates`: an IP literal is used as it is (SRS
/// resolves an IPv6 literal as a domain, which gives it back, so `::1`
/// counts where `127.0.0.1` does not); any other host is a domain.
fn api_host_candidates(
    policy: &CandidatePolicy,
    host: &str,
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
    hosts: &mut Vec<String>,
) {
    if [LOCALHOST_NAME, LOCALHOST, ANY_V4, ANY_V6].contains(&host) {
        return;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => return,
        Ok(ip) => {
            push_unique(hosts, ip.to_string());
            return;
        }
        Err(_) => {}
    }
    if policy.keep_api_domain {
        push_unique(hosts, host.to_string());
    }
    if policy.resolve_api_domain {
        let Some(ip) = resolve(host).into_iter().next() else {
            return;
        };
        let never = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ];
        if !never.contains(&ip) {
            push_unique(hosts, ip.to_string());
        }
    }
}

/// Split `host[:port]`, `[v6]:port` or a bare IPv6 literal.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 literal.
        Some((host, _)) if host.contains(':') => (s, None),
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) => (host, Some(p)),
            Err(_) => (host, None),
        },
        None => (s, None),
    }
}

/// The addresses of the interfaces that are up, IPv4 first then IPv6 (as
/// SRS lists them), without IPv6 link-local addresses (unusable without a
/// scope). Empty if getifaddrs fails.
pub fn local_interface_ips() -> Vec<IpAddr> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `ifap` with a list we free below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Vec::new();
    }
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_UP as libc::c_uint == 0 {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family
        // tells which larger struct it is.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int;
        if family == libc::AF_INET {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            v4.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))));
        } else if family == libc::AF_INET6 {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            if ip.segments()[0] & 0xffc0 != 0xfe80 {
                v6.push(IpAddr::V6(ip));
            }
        }
    }
    // SAFETY: `ifap` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    v4.extend(v6);
    v4
}

#[cfg(test)]
#[path = "candidate_tests.rs"]
mod tests;
