//! IKE SA rekeys with additional key exchanges (RFC 9370 §2.2.4) and the
//! responder's timeout for IKE_FOLLOWUP_KE that never comes.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use super::util::{Pair, Side, configs, count};
use crate::error::Error;
use crate::event::{Event, Transmit};
use crate::ids::IkeSaId;
use crate::proposal::Proposal;
use crate::wire::{ExchangeType, Header, KeId, PayloadType};

const PQ: &str = "aes256gcm16-prfsha384-x25519-ke1_mlkem768";

fn pq_pair(seed: u64) -> Pair {
    let (mut a, mut b) = configs();
    for c in [&mut a, &mut b] {
        c.connections[0].ike_proposals = vec![Proposal::parse_ike(PQ).expect("proposal")];
    }
    Pair::with_seed(a, b, seed)
}

/// (sender, exchange, response) of every message delivered from `from` on;
/// an RFC 7383 fragment other than the first (SKF right after the header,
/// Fragment Number at offset 32) is skipped.
fn exchanges(p: &Pair, from: usize) -> Vec<(Side, ExchangeType, bool)> {
    let later_fragment =
        |d: &[u8]| d.get(16) == Some(&PayloadType::SKF.0) && d.get(32..34) != Some(&[0, 1][..]);
    p.log[from..]
        .iter()
        .filter(|(_, t)| !later_fragment(&t.data))
        .filter_map(|(s, t)| {
            let h = Header::peek(&t.data).ok()?;
            Some((*s, h.exchange, h.flags.response()))
        })
        .collect()
}

fn is_followup_request(t: &Transmit) -> bool {
    Header::peek(&t.data)
        .is_ok_and(|h| h.exchange == ExchangeType::IKE_FOLLOWUP_KE && !h.flags.response())
}

/// The SPIs and additional key exchanges of the one IkeSaUp in `ev`.
fn up(ev: &[Event]) -> (u64, u64, Vec<KeId>) {
    let ups: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaUp {
                spi_i,
                spi_r,
                algorithms,
                ..
            } => Some((spi_i.0, spi_r.0, algorithms.additional().collect())),
            _ => None,
        })
        .collect();
    assert_eq!(ups.len(), 1, "{ev:?}");
    ups.into_iter().next().expect("up")
}

/// The new IKE SA works on both sides: a Child SA rekey over it succeeds.
fn assert_new_sa_works(p: &mut Pair) -> (IkeSaId, IkeSaId) {
    let (na, nb) = (p.a.established(), p.b.established());
    assert_eq!((na.len(), nb.len()), (1, 1));
    let c = p.a.child_sas(na[0])[0].0;
    p.a.rekey_child(p.time, c).expect("rekey child");
    p.drive();
    let rekeyed = |e: &Event| matches!(e, Event::ChildSaRekeyed { .. });
    assert_eq!(count(&p.take(Side::A), rekeyed), 1);
    assert_eq!(count(&p.take(Side::B), rekeyed), 1);
    (na[0], nb[0])
}

#[test]
fn ike_rekey_runs_the_additional_exchange_in_both_roles() {
    for side in [Side::A, Side::B] {
        let mut p = pq_pair(1);
        p.connect();
        p.take(Side::A);
        p.take(Side::B);
        let now = p.time;
        let ep = p.ep(side);
        let old = ep.established()[0];
        ep.rekey_ike(now, old).expect("rekey");
        let n = p.log.len();
        p.drive();
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        let (ua, ub) = (up(&ea), up(&eb));
        assert_eq!(ua, ub, "both sides derived the same successor");
        assert_eq!(ua.2, vec![KeId::ML_KEM_768]);
        for ev in [&ea, &eb] {
            let down = |e: &Event| {
                matches!(
                    e,
                    Event::IkeSaDown {
                        reason: Error::Rekeyed,
                        ..
                    }
                )
            };
            assert_eq!(count(ev, down), 1, "{ev:?}");
            assert_eq!(count(ev, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
        }
        let other = if side == Side::A { Side::B } else { Side::A };
        let ex = exchanges(&p, n);
        let follow: Vec<_> = ex
            .iter()
            .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE)
            .map(|e| (e.0, e.2))
            .collect();
        assert_eq!(follow, vec![(side, false), (other, true)]);
        // CREATE_CHILD_SA, IKE_FOLLOWUP_KE, then the Delete of the old SA.
        let order: Vec<_> = ex.iter().filter(|e| !e.2).map(|e| e.1).collect();
        assert_eq!(
            order,
            [
                ExchangeType::CREATE_CHILD_SA,
                ExchangeType::IKE_FOLLOWUP_KE,
                ExchangeType::INFORMATIONAL
            ]
        );
        assert_new_sa_works(&mut p);
    }
}

#[test]
fn crossing_ike_rekeys_with_additional_exchanges_converge_on_one_sa() {
    let mut outcomes = BTreeSet::new();
    for seed in 1..=12 {
        let mut p = pq_pair(seed);
        // Some seeds reorder messages, so a peer's follow-ups may overtake
        // our CREATE_CHILD_SA response.
        p.reorder = if seed % 2 == 0 { 0.5 } else { 0.0 };
        let ike = p.connect();
        let bike = p.b.established()[0];
        let children = p.a.child_sas(ike);
        p.take(Side::A);
        p.take(Side::B);
        let t0 = p.time;
        p.a.rekey_ike(p.time, ike).expect("rekey");
        p.b.rekey_ike(p.time, bike).expect("rekey");
        let n = p.log.len();
        p.drive();
        assert!(
            p.time - t0 < Duration::from_secs(3),
            "seed {seed}: no retry needed"
        );
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        assert_eq!(up(&ea), up(&eb), "seed {seed}");
        assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
        assert_eq!(
            (p.a.ike_sa_count(), p.b.ike_sa_count()),
            (1, 1),
            "seed {seed}"
        );
        // Only the winner ran its follow-up.
        let follow = exchanges(&p, n)
            .iter()
            .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE && !e.2)
            .count();
        assert_eq!(follow, 1, "seed {seed}");
        let (na, nb) = assert_new_sa_works(&mut p);
        assert_eq!(p.a.child_sas(na).len(), children.len());
        let a_won = p.a.take_sa(na).expect("sa").initiator;
        assert_ne!(a_won, p.b.take_sa(nb).expect("sa").initiator);
        outcomes.insert(a_won);
    }
    assert_eq!(outcomes.len(), 2, "each side won for some seed");
}

/// Drops `from`'s IKE_FOLLOWUP_KE requests while the returned flag is set.
fn hold_followups(p: &mut Pair, from: Side) -> Rc<Cell<bool>> {
    let hold = Rc::new(Cell::new(true));
    let h = Rc::clone(&hold);
    p.filter = Some(Box::new(move |s, t| {
        !(h.get() && s == from && is_followup_request(t))
    }));
    hold
}

#[test]
fn ike_rekey_follow_up_that_never_comes_is_dropped_and_the_old_sa_stays() {
    let mut p = pq_pair(3);
    let ike = p.connect();
    let bike = p.b.established()[0];
    p.take(Side::A);
    p.take(Side::B);
    let hold = hold_followups(&mut p, Side::A);
    p.a.rekey_ike(p.time, ike).expect("rekey");
    // B's state goes after 30 s; A's retransmission at about 47 s gets through.
    p.drive_for(Duration::from_secs(35));
    hold.set(false);
    assert!(
        p.b.sas().all(|s| s.ike_rekey_ke.is_none()),
        "B dropped the unfinished rekey"
    );
    p.drive_for(Duration::from_secs(15));
    // B refused it (STATE_NOT_FOUND): the rekey failed, both old SAs stay.
    assert!(p.a.is_established(ike) && p.b.is_established(bike));
    assert_eq!((p.a.ike_sa_count(), p.b.ike_sa_count()), (1, 1));
    for ev in [p.take(Side::A), p.take(Side::B)] {
        assert_eq!(
            count(&ev, |e| matches!(e, Event::IkeSaDown { .. })),
            0,
            "{ev:?}"
        );
        assert_eq!(count(&ev, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
    }
    // A retries later, and that rekey completes.
    p.drive_for(Duration::from_secs(30));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(up(&ea), up(&eb));
    assert!(!p.a.is_established(ike) && !p.b.is_established(bike));
    assert_new_sa_works(&mut p);
}

#[test]
fn child_follow_up_that_never_comes_releases_the_pending_child_sa() {
    let (mut a, mut b) = configs();
    for c in [&mut a, &mut b] {
        c.connections[0].ike_proposals = vec![Proposal::parse_ike(PQ).expect("proposal")];
        c.connections[0].children[0].esp_proposals =
            vec![Proposal::parse_esp("aes128gcm16-x25519-ke1_mlkem768").expect("esp")];
    }
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let held = |p: &Pair| {
        p.b.table_sizes()
            .into_iter()
            .find(|(k, _)| *k == "held_spis")
            .map(|(_, v)| v)
    };
    let before = held(&p);
    let hold = hold_followups(&mut p, Side::A);
    let child = p.a.child_sas(ike)[0].0;
    p.a.rekey_child(p.time, child).expect("rekey");
    p.drive_for(Duration::from_secs(1));
    assert_eq!(
        held(&p).map(|n| n - 1),
        before,
        "B holds the new inbound SPI"
    );
    p.drive_for(Duration::from_secs(30));
    let eb = p.take(Side::B);
    let failed = |e: &Event| matches!(e, Event::ChildSaFailed { reason: Error::Timeout, name, .. } if name == "net");
    assert_eq!(count(&eb, failed), 1, "{eb:?}");
    assert_eq!(held(&p), before, "the pending SA's SPI is free again");
    assert!(p.b.sas().all(|s| s.followups.is_empty()));
    hold.set(false);
    // A's retransmission finds no state: its rekey fails, the old Child SA stays.
    p.drive_for(Duration::from_secs(20));
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(|e| matches!(e, Event::ChildSaFailed { .. })),
        "{ea:?}"
    );
    assert!(p.a.is_established(ike));
    assert_eq!(p.a.child_sas(ike).len(), 1);
}
