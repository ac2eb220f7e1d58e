//! IKE SA rekeys that cross (RFC 7296 §2.8.2) where only one succeeds: both
//! peers must end on the successor of the one that did, with every Child SA.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::util::{Pair, Side, configs, count};
use crate::event::{Event, Transmit};
use crate::wire::ExchangeType;

/// Exchange type, response flag, message ID and initiator SPI of an IKE
/// message (RFC 7296 §3.1), after the non-ESP marker if any (RFC 3948 §2.2).
fn header(t: &Transmit) -> Option<(ExchangeType, bool, u32, u64)> {
    let d = t.data.strip_prefix(&[0u8; 4][..]).unwrap_or(&t.data);
    let h = d.get(..28)?;
    let spi_i = u64::from_be_bytes(h[0..8].try_into().ok()?);
    let msg_id = u32::from_be_bytes(h[20..24].try_into().ok()?);
    Some((ExchangeType(h[18]), h[19] & 0x20 != 0, msg_id, spi_i))
}

/// A rekeys a Child SA while B rekeys the IKE SA, so A refuses B's rekey with
/// TEMPORARY_FAILURE (RFC 7296 §2.25). That answer is held back (once, or
/// for good with `refusal_lost`) until B has answered A's own IKE rekey, and
/// A's Delete of the old IKE SA never arrives. A saw no collision, so its
/// rekey stands; B must adopt A's successor rather than keep a bare one that
/// refuses every CREATE_CHILD_SA.
fn refused_rekey_crosses_the_peers(refusal_lost: bool) {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let old_spi = p.a.sas().find(|s| s.id == ike).expect("sa").spi_i.0;
    let held = Rc::new(Cell::new(false));
    let rekeying = Rc::new(Cell::new(false));
    let (h, r) = (Rc::clone(&held), Rc::clone(&rekeying));
    p.filter = Some(Box::new(move |from, t| {
        let Some((ex, response, msg_id, spi_i)) = header(t) else {
            return true;
        };
        if from != Side::A || spi_i != old_spi {
            return true;
        }
        if ex == ExchangeType::CREATE_CHILD_SA && response && msg_id == 0 {
            let drop = refusal_lost || !h.get();
            h.set(true);
            return !drop;
        }
        // Once A rekeys, its Delete of the old IKE SA is lost for good.
        !(r.get() && ex == ExchangeType::INFORMATIONAL && !response)
    }));
    let child = p.a.child_sas(ike)[0].0;
    p.a.rekey_child(p.time, child).expect("rekey child");
    let bike = p.b.established()[0];
    p.b.rekey_ike(p.time, bike).expect("rekey");
    p.drive_for(Duration::from_millis(100));
    assert!(held.get(), "A answered B's rekey");
    rekeying.set(true);
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive();
    let (a_ike, b_ike) = (p.a.established(), p.b.established());
    assert_eq!((a_ike.len(), b_ike.len()), (1, 1));
    let spis = |s: &crate::ike_sa::IkeSa| (s.spi_i, s.spi_r);
    let a_sa = p.a.sas().find(|s| s.id == a_ike[0]).expect("a");
    let b_sa = p.b.sas().find(|s| s.id == b_ike[0]).expect("b");
    assert_eq!(spis(a_sa), spis(b_sa));
    assert_ne!(a_sa.spi_i.0, old_spi);
    let a_children = p.a.child_sas(a_ike[0]);
    assert_eq!(a_children.len(), 1);
    assert_eq!(p.b.child_sas(b_ike[0]).len(), 1);
    // The surviving IKE SA answers CREATE_CHILD_SA instead of TEMPORARY_FAILURE.
    p.take(Side::A);
    p.take(Side::B);
    p.a.rekey_child(p.time, a_children[0].0)
        .expect("rekey child");
    p.drive();
    let rekeyed = |e: &Event| matches!(e, Event::ChildSaRekeyed { .. });
    assert_eq!(count(&p.take(Side::A), rekeyed), 1);
    assert_eq!(count(&p.take(Side::B), rekeyed), 1);
}

/// The refusal of B's rekey arrives late: B yields when it reads it.
#[test]
fn refused_ike_rekey_yields_to_the_peers() {
    refused_rekey_crosses_the_peers(false);
}

/// The refusal never arrives: B yields when it gives up retransmitting.
#[test]
fn unanswered_ike_rekey_yields_to_the_peers() {
    refused_rekey_crosses_the_peers(true);
}

/// Both peers rekey the IKE SA; A answers B's rekey while its own request is
/// held back, so A's successor stays bare (RFC 7296 §2.8.2) while B's owns
/// the Child SA. B deletes that Child SA on its successor before A learns
/// that B's rekey stands: when the Child SA moves to A's successor it must
/// go too (§1.4.1), or only A keeps it.
#[test]
fn child_deleted_on_bare_collision_successor_goes_when_it_takes_over() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let old_spi = p.a.sas().find(|s| s.id == ike).expect("sa").spi_i.0;
    let hold = Rc::new(Cell::new(true));
    let h = Rc::clone(&hold);
    p.filter = Some(Box::new(move |from, t| {
        let Some((ex, response, _, spi_i)) = header(t) else {
            return true;
        };
        // A's rekey request and B's Delete of the old IKE SA wait.
        let held = match from {
            Side::A => ex == ExchangeType::CREATE_CHILD_SA,
            Side::B => ex == ExchangeType::INFORMATIONAL,
        };
        !(h.get() && spi_i == old_spi && !response && held)
    }));
    p.a.rekey_ike(p.time, ike).expect("rekey A");
    let bike = p.b.established()[0];
    p.b.rekey_ike(p.time, bike).expect("rekey B");
    p.drive_for(Duration::from_millis(100));
    let b_new = p.b.established();
    assert_eq!(b_new.len(), 1, "B moved to its successor");
    assert_ne!(b_new[0], bike);
    let child = p.b.child_sas(b_new[0])[0].0;
    p.take(Side::A);
    p.b.delete_child(p.time, child).expect("delete");
    p.drive_for(Duration::from_millis(100));
    assert!(p.b.child_sas(b_new[0]).is_empty(), "B deleted it");
    assert_eq!(
        p.a.child_sas(ike).len(),
        1,
        "A still holds it on the old SA"
    );
    hold.set(false);
    p.drive();
    let (a_ike, b_ike) = (p.a.established(), p.b.established());
    assert_eq!((a_ike.len(), b_ike.len()), (1, 1));
    assert!(p.a.child_sas(a_ike[0]).is_empty(), "A removed it too");
    let deleted = |e: &Event| matches!(e, Event::ChildSaDeleted { .. });
    assert_eq!(count(&p.take(Side::A), deleted), 1);
}
