//! Tests of the parent module.
use super::*;

#[test]
fn gaps_are_nacked_and_loss_is_expected_minus_received() {
    let mut t = RecvTrack::default();
    let mut missing = Vec::new();
    assert!(!t.on_packet(7, 65_533, &mut missing));
    assert!(!t.on_packet(7, 65_534, &mut missing));
    // 65535 and 0 are lost across the wrap.
    assert!(t.on_packet(7, 1, &mut missing));
    assert_eq!(missing, vec![65_535, 0]);
    assert_eq!((t.expected(), t.received), (5, 3));
    // A retransmission arrives late: counted, no NACK, expected unchanged.
    assert!(!t.on_packet(7, 0, &mut missing));
    assert_eq!((t.expected(), t.received), (5, 4));
    // A jump of 300 is not NACKed (a new source), but counts as expected.
    assert!(!t.on_packet(7, 302, &mut missing));
    assert!(missing.is_empty());
    assert_eq!(t.expected(), 306);
    assert_eq!(t.expected() - t.received, 301);
}

#[test]
fn seeds_give_distinct_credentials_and_ssrcs() {
    let a = splitmix(1);
    let b = splitmix(2);
    assert_ne!(a, b);
    assert_eq!(splitmix(1), a, "deterministic");
}
