//! Traffic selector safety: `dynamic` selectors resolve to the IKE SA's own
//! addresses (RFC 7296 §2.9), and selectors needing more kernel policies than a
//! child's `max_policies` are refused on both sides.

use super::util::{Pair, Side, configs, installs, ts};
use crate::config::TrafficSelector;
use crate::error::{Error, PeerIncompatible};
use crate::event::Event;

fn host(s: &str) -> TrafficSelector {
    TrafficSelector::host(s.parse().expect("addr"))
}

fn odd() -> TrafficSelector {
    TrafficSelector::range(
        "10.0.0.1".parse().expect("a"),
        "10.255.255.254".parse().expect("b"),
    )
}

#[test]
fn responder_dynamic_remote_ts_narrows_to_the_peer_address() {
    let (mut a, mut b) = configs();
    // A PSK holder asks for all traffic on its side.
    a.connections[0].children[0].local_ts = vec![ts("0.0.0.0/0")];
    // B accepts any peer, its remote_ts left dynamic.
    b.connections[0].remote = None;
    b.connections[0].children[0].remote_ts = Vec::new();
    let mut p = Pair::new(a, b);
    p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!(ib.len(), 1, "{eb:?}");
    assert_eq!(
        ib[0].remote_ts,
        vec![host("10.0.0.1")],
        "the peer's /32 only"
    );
    assert_eq!(ib[0].local_ts, vec![ts("192.168.2.0/24")]);
    assert_eq!(ia.len(), 1, "{ea:?}");
    assert_eq!(ia[0].local_ts, vec![host("10.0.0.1")]);
}

#[test]
fn initiator_dynamic_local_ts_proposes_its_own_address() {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].local_ts = Vec::new();
    a.connections[0].children[0].remote_ts = Vec::new();
    b.connections[0].children[0].local_ts = vec![ts("0.0.0.0/0")];
    b.connections[0].children[0].remote_ts = vec![ts("0.0.0.0/0")];
    let mut p = Pair::new(a, b);
    p.connect();
    let eb = p.take(Side::B);
    let ib = installs(&eb);
    assert_eq!(ib.len(), 1, "{eb:?}");
    assert_eq!(ib[0].remote_ts, vec![host("10.0.0.1")]);
    assert_eq!(ib[0].local_ts, vec![host("10.0.0.2")]);
}

#[test]
fn odd_ranges_over_the_cap_get_ts_unacceptable() {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].local_ts = vec![odd()];
    a.connections[0].children[0].remote_ts = vec![odd()];
    b.connections[0].children[0].local_ts = vec![ts("0.0.0.0/0")];
    b.connections[0].children[0].remote_ts = vec![ts("0.0.0.0/0")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::PeerIncompatible(PeerIncompatible::TsUnacceptable),
                ..
            }
        )),
        "{ea:?}"
    );
    assert_eq!(installs(&ea).len() + installs(&eb).len(), 0);
    assert!(p.a.is_established(ike));
}

#[test]
fn initiator_deletes_a_child_whose_answer_is_over_the_cap() {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].local_ts = vec![ts("0.0.0.0/0")];
    a.connections[0].children[0].remote_ts = vec![ts("0.0.0.0/0")];
    b.connections[0].children[0].local_ts = vec![odd()];
    b.connections[0].children[0].remote_ts = vec![odd()];
    b.connections[0].children[0].max_policies = 46 * 46;
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::PeerIncompatible(PeerIncompatible::TooManyPolicies {
                    needed: 2116,
                    cap: 64
                }),
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(installs(&ea).is_empty(), "{ea:?}");
    // B installed its half and removes it on A's Delete (RFC 7296 §1.4.1).
    assert_eq!(installs(&eb).len(), 1);
    assert!(
        eb.iter().any(|e| matches!(e, Event::ChildSaDeleted { .. })),
        "{eb:?}"
    );
    assert!(p.a.child_sas(ike).is_empty());
}
