//! What an authenticated peer can make us keep (RFC 7296 §1.3, §2.8): the cap
//! on Child SAs per IKE SA, and replaced Child SAs removed once a rekey is done.

use std::time::Duration;

use super::util::{Pair, Side, configs, count, installs};
use crate::config::EndpointConfig;
use crate::error::Error;
use crate::event::Event;
use crate::wire::ExchangeType;

/// Both sides get a second child config "second" (reqid 2) with the same selectors.
fn two_children() -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    for e in [&mut a, &mut b] {
        let mut second = e.connections[0].children[0].clone();
        second.name = "second".into();
        second.reqid = 2;
        e.connections[0].children.push(second);
    }
    (a, b)
}

/// CREATE_CHILD_SA requests `side` put on the wire.
fn create_child_requests(p: &Pair, side: Side) -> usize {
    p.log
        .iter()
        .filter(|(s, t)| {
            *s == side && t.data[18] == ExchangeType::CREATE_CHILD_SA.0 && t.data[19] & 0x20 == 0
        })
        .count()
}

/// Every Child SA an IKE SA still holds, live or not (white-box; ends the pair).
fn held(p: &mut Pair, side: Side, ike: crate::ids::IkeSaId) -> usize {
    p.ep(side).take_sa(ike).expect("sa").children.len()
}

#[test]
fn responder_answers_no_additional_sas_beyond_the_cap_and_rekeys_still_work() {
    let (a, mut b) = two_children();
    b.connections[0].max_child_sas = Some(1);
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    let bike = p.b.established()[0];
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(installs(&eb).len(), 1, "{eb:?}");
    assert_eq!(p.b.child_sas(bike).len(), 1);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed { name, reason: Error::NotifyReceived(35), .. } if name == "second"
        )),
        "A is told NO_ADDITIONAL_SAS: {ea:?}"
    );
    // Rekeys replace an SA: they work at the cap, from either side.
    let (old, _, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, old).expect("rekey");
    p.drive();
    let (bold, _, _) = p.b.child_sas(bike)[0];
    p.b.rekey_child(p.time, bold).expect("rekey");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. })), 2);
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaRekeyed { .. })), 2);
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaFailed { .. })), 0);
    assert_eq!(p.a.child_sas(ike).len(), 1);
    assert_eq!(held(&mut p, Side::B, bike), 1);
}

#[test]
fn initiator_requests_nothing_beyond_its_own_cap() {
    let (mut a, b) = two_children();
    a.connections[0].max_child_sas = Some(1);
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(installs(&ea).len(), 1);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed { name, reason: Error::ChildSaLimit(1), .. } if name == "second"
        )),
        "{ea:?}"
    );
    assert_eq!(create_child_requests(&p, Side::A), 0, "refused locally");
    assert!(
        Error::ChildSaLimit(1).to_string().contains("max_child_sas"),
        "the reason names the knob"
    );
    // An explicit request and an acquire are refused the same way.
    p.a.create_child(p.time, ike, "second", None)
        .expect("create");
    p.acquire(Side::A, 2, None, 7);
    p.drive();
    assert_eq!(create_child_requests(&p, Side::A), 0);
    // A rekey still goes out and replaces the SA.
    let (old, _, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, old).expect("rekey");
    p.drive();
    assert_eq!(create_child_requests(&p, Side::A), 1);
    assert_eq!(p.a.child_sas(ike).len(), 1);
    assert_ne!(p.a.child_sas(ike)[0].0, old);
}

#[test]
fn default_cap_follows_the_child_configs() {
    let (mut a, _) = two_children();
    let c = &mut a.connections[0];
    // Two plain children: 1 + 4 slack each.
    assert_eq!(c.child_sa_limit(4), 10);
    c.children[1].per_cpu = crate::config::PerCpu::Yes;
    // A per-CPU child: its cap (local CPUs) + the fallback + 4.
    assert_eq!(c.child_sa_limit(4), 5 + 9);
    c.children[1].per_cpu_max = Some(16);
    assert_eq!(c.child_sa_limit(4), 5 + 21);
    c.max_child_sas = Some(3);
    assert_eq!(c.child_sa_limit(4), 3);
}

/// RFC 7296 §2.8: after a rekey both ends hold exactly one SA pair, whoever
/// started it.
#[test]
fn rekey_leaves_exactly_one_sa_pair_on_both_ends() {
    for starter in [Side::A, Side::B] {
        let (a, b) = configs();
        let mut p = Pair::new(a, b);
        let ike = p.connect();
        let bike = p.b.established()[0];
        let id = p
            .ep(starter)
            .child_sas(if starter == Side::A { ike } else { bike })[0]
            .0;
        let t0 = p.time;
        p.ep(starter).rekey_child(t0, id).expect("rekey");
        // Well inside the 5 s grace: the initiator's Delete did it.
        p.drive_for(Duration::from_secs(1));
        let (la, lb) = (p.a.child_sas(ike), p.b.child_sas(bike));
        assert_eq!((la.len(), lb.len()), (1, 1), "{starter:?}");
        assert_eq!(held(&mut p, Side::A, ike), 1, "{starter:?}");
        assert_eq!(held(&mut p, Side::B, bike), 1, "{starter:?}");
    }
}

/// The rekey's initiator never deletes the old SA (its Deletes are lost): the
/// other side removes it itself after 5 s instead of keeping it until the hard
/// lifetime.
#[test]
fn rekeyed_sa_the_peer_never_deletes_goes_after_five_seconds() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let bike = p.b.established()[0];
    let (old, old_spi, _) = p.a.child_sas(ike)[0];
    p.take(Side::A);
    p.take(Side::B);
    // Drop A's first two INFORMATIONAL requests (the Delete and its first retransmission).
    let mut dropped = 0;
    p.filter = Some(Box::new(move |from, t| {
        let lost = from == Side::A
            && t.data[18] == ExchangeType::INFORMATIONAL.0
            && t.data[19] & 0x20 == 0
            && dropped < 2;
        dropped += usize::from(lost);
        !lost
    }));
    p.a.rekey_child(p.time, old).expect("rekey");
    p.drive_for(Duration::from_secs(6));
    let eb = p.take(Side::B);
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaRekeyed { .. })), 1);
    assert_eq!(
        count(
            &eb,
            |e| matches!(e, Event::ChildSaDeleted { spi_out, .. } if *spi_out == old_spi)
        ),
        1,
        "B removed the old SA itself: {eb:?}"
    );
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(
        count(
            &ea,
            |e| matches!(e, Event::ChildSaDeleted { child, .. } if *child == old)
        ),
        1,
        "{ea:?}"
    );
    assert!(p.a.is_established(ike) && p.b.is_established(bike));
    assert_eq!(held(&mut p, Side::A, ike), 1);
    assert_eq!(held(&mut p, Side::B, bike), 1);
}
