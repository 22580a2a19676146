//! Addresses routed to another shard.
//!
//! A session lives on the shard that received its first check and, once
//! DTLS has started there, stays (its DTLS and SRTP state do not move). A
//! client may later use another address — a second interface, IPv6 next to
//! IPv4, a NAT rebinding — that the kernel's `SO_REUSEPORT` hash hands to
//! another shard's socket. Its authentic checks already reach the owner
//! ([`ShardMsg::Stun`]); without more, its DTLS, RTP and RTCP from the new
//! address would be dropped as `packets_unknown_source`.
//!
//! So when the owner answers an authentic check from an address another
//! shard receives, it tells that shard ([`ShardMsg::Route`]); that shard
//! then hands the address's datagrams to the owner
//! ([`ShardMsg::Routed`]), one mesh hop per packet for that client only.
//! Every other packet pays nothing: the table is looked up only for a
//! source this shard knows no session for. The owner ends the route
//! ([`ShardMsg::Unroute`]) when the session closes, or when the session
//! has more routed addresses than its ICE agent keeps validated.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::ice::MAX_VALIDATED;
use crate::sfu::ids::SessionToken;

/// Routed addresses a shard keeps at most, in each direction (inbound:
/// another shard's clients; outbound: its own). Each needs an authentic
/// check, so the bound is a backstop: `MAX_VALIDATED` per session applies
/// first.
pub const MAX_ROUTES: usize = 65_536;

/// One shard's routes, both ways.
#[derive(Debug, Default)]
pub struct Routes {
    /// Addresses this shard receives whose sessions live elsewhere:
    /// address → owner shard.
    inbound: HashMap<SocketAddr, usize>,
    /// Addresses of this shard's sessions that another shard receives:
    /// address → (session, the receiving shard).
    outbound: HashMap<SocketAddr, (SessionToken, usize)>,
}

/// What the owner must tell other shards after [`Routes::add_outbound`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChange {
    /// Tell this shard to route the address here (new route).
    pub route: Option<(SocketAddr, usize)>,
    /// Tell this shard to stop routing the address (evicted route).
    pub unroute: Option<(SocketAddr, usize)>,
}

impl Routes {
    /// The owner shard of datagrams from `from`, if another shard asked
    /// for them.
    pub fn owner_of(&self, from: &SocketAddr) -> Option<usize> {
        self.inbound.get(from).copied()
    }

    /// Shard `owner` asked for `from`'s datagrams. Returns false when the
    /// table is full (the datagrams stay unknown-source).
    pub fn add_inbound(&mut self, from: SocketAddr, owner: usize) -> bool {
        if self.inbound.len() >= MAX_ROUTES && !self.inbound.contains_key(&from) {
            return false;
        }
        self.inbound.insert(from, owner);
        true
    }

    /// Shard `owner` no longer wants `from`'s datagrams.
    pub fn remove_inbound(&mut self, from: SocketAddr, owner: usize) {
        if self.inbound.get(&from) == Some(&owner) {
            self.inbound.remove(&from);
        }
    }

    /// Session `token` of this shard answered an authentic check from
    /// `from`, which shard `via` receives. Records the route and says whom
    /// to tell: nothing if it was known; the new route; and, past
    /// `MAX_VALIDATED` routes for the session, one of its older routes to
    /// end (one it no longer has `validated`, else any other).
    pub fn add_outbound(
        &mut self,
        token: &SessionToken,
        from: SocketAddr,
        via: usize,
        validated: impl Fn(SocketAddr) -> bool,
    ) -> RouteChange {
        let mut change = RouteChange::default();
        match self.outbound.get(&from) {
            Some((t, s)) if t == token && *s == via => return change,
            _ => {}
        }
        if self.outbound.len() >= MAX_ROUTES && !self.outbound.contains_key(&from) {
            return change;
        }
        let mine: Vec<SocketAddr> = self
            .outbound
            .iter()
            .filter(|(a, (t, _))| t == token && **a != from)
            .map(|(a, _)| *a)
            .collect();
        if mine.len() >= MAX_VALIDATED {
            let evict = mine
                .iter()
                .copied()
                .find(|a| !validated(*a))
                .unwrap_or(mine[0]);
            if let Some((_, s)) = self.outbound.remove(&evict) {
                change.unroute = Some((evict, s));
            }
        }
        self.outbound.insert(from, (token.clone(), via));
        change.route = Some((from, via));
        change
    }

    /// Session `token` ended: its routes, for [`ShardMsg::Unroute`].
    pub fn remove_session(&mut self, token: &str) -> Vec<(SocketAddr, usize)> {
        let mut ended = Vec::new();
        self.outbound.retain(|a, (t, s)| {
            let keep = t.as_str() != token;
            if !keep {
                ended.push((*a, *s));
            }
            keep
        });
        ended
    }

    /// Entries in both directions (a gauge; zero when no client moved).
    pub fn len(&self) -> usize {
        self.inbound.len() + self.outbound.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    #[test]
    fn a_route_is_announced_once_and_ended_with_its_session() {
        let mut r = Routes::default();
        let t = SessionToken::random();
        let c = r.add_outbound(&t, addr(1), 1, |_| true);
        assert_eq!(c.route, Some((addr(1), 1)));
        assert_eq!(
            r.add_outbound(&t, addr(1), 1, |_| true),
            RouteChange::default()
        );
        assert_eq!(r.remove_session(t.as_str()), vec![(addr(1), 1)]);
        assert!(r.is_empty());
    }

    #[test]
    fn a_session_keeps_at_most_max_validated_routes_evicting_an_unvalidated_one() {
        let mut r = Routes::default();
        let t = SessionToken::random();
        for p in 0..MAX_VALIDATED as u16 {
            r.add_outbound(&t, addr(p), 1, |_| true);
        }
        let c = r.add_outbound(&t, addr(100), 1, |a| a != addr(3));
        assert_eq!(c.unroute, Some((addr(3), 1)));
        assert_eq!(r.len(), MAX_VALIDATED);
    }

    #[test]
    fn inbound_is_bounded_and_only_its_owner_removes_it() {
        let mut r = Routes::default();
        assert!(r.add_inbound(addr(1), 0));
        r.remove_inbound(addr(1), 1);
        assert_eq!(r.owner_of(&addr(1)), Some(0));
        r.remove_inbound(addr(1), 0);
        assert_eq!(r.owner_of(&addr(1)), None);
        for i in 0..MAX_ROUTES as u32 {
            let a = SocketAddr::from((std::net::Ipv4Addr::from(i), 9));
            assert!(r.add_inbound(a, 0));
        }
        assert!(!r.add_inbound(addr(2), 0));
    }
}
