//! IKE_INTERMEDIATE (RFC 9242) with additional key exchanges (RFC 9370)
//! between two lanes endpoints.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::util::{Pair, Side, configs, installs};
use crate::config::EndpointConfig;
use crate::error::{Error, PeerIncompatible};
use crate::event::Event;
use crate::proposal::Proposal;
use crate::wire::{ExchangeType, Header, KeId};

const PQ: &str = "aes256gcm16-prfsha384-x25519-ke1_mlkem768";

fn with_ike(cfg: &mut EndpointConfig, proposal: &str) {
    cfg.connections[0].ike_proposals = vec![Proposal::parse_ike(proposal).expect("proposal")];
}

fn pair(a: &str, b: &str) -> Pair {
    let (mut ea, mut eb) = configs();
    with_ike(&mut ea, a);
    with_ike(&mut eb, b);
    Pair::new(ea, eb)
}

/// (sender, exchange, message ID, response) of every datagram delivered.
fn exchanges(p: &Pair) -> Vec<(Side, ExchangeType, u32, bool)> {
    p.log
        .iter()
        .map(|(s, t)| {
            let h = Header::peek(&t.data).expect("header");
            (*s, h.exchange, h.message_id, h.flags.response())
        })
        .collect()
}

/// Both sides are up with the same additional key exchanges, and the first
/// Child SA's keys agree (so IKE_AUTH, sealed with the updated keys and
/// signing IntAuth, verified on both sides).
fn assert_up(p: &mut Pair, ake: &[KeId]) {
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    for ev in [&ea, &eb] {
        let algs = ev.iter().find_map(|e| match e {
            Event::IkeSaUp { algorithms, .. } => Some(*algorithms),
            _ => None,
        });
        let algs = algs.unwrap_or_else(|| panic!("no IkeSaUp in {ev:?}"));
        assert_eq!(algs.additional().collect::<Vec<_>>(), ake);
    }
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!(ia.len(), 1, "{ea:?}");
    assert_eq!(ib.len(), 1, "{eb:?}");
    assert_eq!(*ia[0].keys_out.encr, *ib[0].keys_in.encr);
    assert_eq!(*ia[0].keys_in.encr, *ib[0].keys_out.encr);
}

#[test]
fn hybrid_handshake_lanes_initiator() {
    let mut p = pair(PQ, PQ);
    let ike = p.a.initiate(p.time, "net").expect("initiate");
    p.drive();
    assert!(p.a.is_established(ike));
    assert_up(&mut p, &[KeId::ML_KEM_768]);
    use ExchangeType as X;
    assert_eq!(
        exchanges(&p),
        vec![
            (Side::A, X::IKE_SA_INIT, 0, false),
            (Side::B, X::IKE_SA_INIT, 0, true),
            (Side::A, X::IKE_INTERMEDIATE, 1, false),
            (Side::B, X::IKE_INTERMEDIATE, 1, true),
            (Side::A, X::IKE_AUTH, 2, false),
            (Side::B, X::IKE_AUTH, 2, true),
        ]
    );
    // The encapsulation key (1184 bytes) and ciphertext (1088) went inside SK.
    assert!(p.log[2].1.data.len() > 1184 && p.log[3].1.data.len() > 1088);
}

#[test]
fn hybrid_handshake_lanes_responder_with_two_additional_exchanges() {
    let both = "aes128gcm16-prfsha256-x25519-ke1_mlkem768-ke2_mlkem1024";
    let mut p = pair(both, both);
    let ike = p.b.initiate(p.time, "net").expect("initiate");
    p.drive();
    assert!(p.b.is_established(ike));
    assert_up(&mut p, &[KeId::ML_KEM_768, KeId::ML_KEM_1024]);
    let ids: Vec<_> = exchanges(&p)
        .into_iter()
        .filter(|e| e.0 == Side::B)
        .map(|e| (e.1, e.2))
        .collect();
    use ExchangeType as X;
    assert_eq!(
        ids,
        vec![
            (X::IKE_SA_INIT, 0),
            (X::IKE_INTERMEDIATE, 1),
            (X::IKE_INTERMEDIATE, 2),
            (X::IKE_AUTH, 3),
        ]
    );
}

#[test]
fn optional_additional_exchange_with_a_peer_without_it() {
    // ke1_none: a peer without ML-KEM still connects, without IKE_INTERMEDIATE.
    let optional = "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none";
    let plain = "aes256gcm16-prfsha384-x25519";
    for (a, b) in [(optional, plain), (plain, optional)] {
        let mut p = pair(a, b);
        p.connect();
        assert_up(&mut p, &[]);
        assert!(
            exchanges(&p)
                .iter()
                .all(|e| e.1 != ExchangeType::IKE_INTERMEDIATE)
        );
    }
    // Both offer it: it is used.
    let mut p = pair(optional, PQ);
    p.connect();
    assert_up(&mut p, &[KeId::ML_KEM_768]);
}

#[test]
fn required_additional_exchange_and_a_peer_without_it() {
    for (a, b) in [
        (PQ, "aes256gcm16-prfsha384-x25519"),
        ("aes256gcm16-prfsha384-x25519", PQ),
    ] {
        let mut p = pair(a, b);
        p.a.initiate(p.time, "net").expect("initiate");
        p.drive();
        let ea = p.take(Side::A);
        assert!(
            ea.iter().any(|e| matches!(
                e,
                Event::IkeSaDown {
                    reason: Error::PeerIncompatible(PeerIncompatible::NoProposalChosen),
                    ..
                }
            )),
            "NO_PROPOSAL_CHOSEN expected: {ea:?}"
        );
        assert!(!ea.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    }
}

/// Corrupts (or drops) the first IKE_INTERMEDIATE message from `side`.
fn spoil_first_intermediate(p: &mut Pair, side: Side, drop: bool) -> Rc<Cell<bool>> {
    let done = Rc::new(Cell::new(false));
    let seen = done.clone();
    p.filter = Some(Box::new(move |from, t| {
        if from == side && !seen.get() && t.data.get(18) == Some(&43) {
            seen.set(true);
            if drop {
                return false;
            }
            let n = t.data.len();
            t.data[n - 20] ^= 0x80;
        }
        true
    }));
    done
}

#[test]
fn corrupted_intermediate_request_is_dropped_and_retransmission_completes() {
    let mut p = pair(PQ, PQ);
    let hit = spoil_first_intermediate(&mut p, Side::A, false);
    let ike = p.a.initiate(p.time, "net").expect("initiate");
    p.drive();
    assert!(hit.get());
    assert!(p.a.is_established(ike));
    assert_up(&mut p, &[KeId::ML_KEM_768]);
    // B answered only the intact retransmission.
    let inter: Vec<_> = exchanges(&p)
        .into_iter()
        .filter(|e| e.1 == ExchangeType::IKE_INTERMEDIATE)
        .map(|e| (e.0, e.3))
        .collect();
    assert_eq!(
        inter,
        vec![(Side::A, false), (Side::A, false), (Side::B, true)]
    );
}

#[test]
fn corrupted_intermediate_response_is_dropped_and_retransmission_completes() {
    let mut p = pair(PQ, PQ);
    let hit = spoil_first_intermediate(&mut p, Side::B, false);
    let ike = p.a.initiate(p.time, "net").expect("initiate");
    p.drive();
    assert!(hit.get());
    assert!(p.a.is_established(ike));
    assert_up(&mut p, &[KeId::ML_KEM_768]);
}

#[test]
fn lost_intermediate_response_is_resent_after_the_key_update() {
    // B has already moved to the new keys when A's retransmission (under the
    // old ones) arrives: B must still recognise it and resend its answer.
    let mut p = pair(PQ, PQ);
    let hit = spoil_first_intermediate(&mut p, Side::B, true);
    let ike = p.a.initiate(p.time, "net").expect("initiate");
    p.drive();
    assert!(hit.get());
    assert!(p.a.is_established(ike));
    assert_up(&mut p, &[KeId::ML_KEM_768]);
}

#[test]
fn ike_and_child_rekeys_of_a_hybrid_sa_use_no_additional_exchange() {
    // IKE_FOLLOWUP_KE is not run: rekeys must neither offer nor accept
    // additional key exchanges, so both sides derive the same keys.
    let (mut ea, mut eb) = configs();
    with_ike(&mut ea, PQ);
    with_ike(&mut eb, PQ);
    ea.connections[0].rekey_time = Duration::from_secs(600);
    ea.connections[0].children[0].rekey_time = Duration::from_secs(300);
    let mut p = Pair::new(ea, eb);
    let ike = p.connect();
    assert_up(&mut p, &[KeId::ML_KEM_768]);
    p.drive_for(Duration::from_secs(700));
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(|e| matches!(e, Event::ChildSaRekeyed { .. })),
        "{ea:?}"
    );
    assert!(
        ea.iter().any(
            |e| matches!(e, Event::IkeSaDown { ike: i, reason: Error::Rekeyed, .. } if *i == ike)
        ),
        "{ea:?}"
    );
    let new = p.a.established();
    assert_eq!(new.len(), 1);
    assert!(p.a.is_established(new[0]));
    assert!(
        !exchanges(&p)
            .iter()
            .any(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE)
    );
}
