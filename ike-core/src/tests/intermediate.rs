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
use crate::wire::{ExchangeType, Header, KeId, PayloadType};

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
/// One entry per message: an RFC 7383 fragment other than the first (an SKF
/// payload right after the header, Fragment Number at offset 32) is skipped.
fn exchanges(p: &Pair) -> Vec<(Side, ExchangeType, u32, bool)> {
    let later_fragment =
        |d: &[u8]| d.get(16) == Some(&PayloadType::SKF.0) && d.get(32..34) != Some(&[0, 1][..]);
    p.log
        .iter()
        .filter(|(_, t)| !later_fragment(&t.data))
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
fn curve448_with_ml_kem_and_an_ike_rekey() {
    // Group 32 (RFC 8031) as the first key exchange, ML-KEM after it.
    let x448 = "aes256gcm16-prfsha512-x448-ke1_mlkem1024";
    let mut p = pair(x448, x448);
    let ike = p.connect();
    let ev = p.take(Side::A);
    let algs = ev.iter().find_map(|e| match e {
        Event::IkeSaUp { algorithms, .. } => Some(*algorithms),
        _ => None,
    });
    let algs = algs.unwrap_or_else(|| panic!("no IkeSaUp in {ev:?}"));
    assert_eq!(algs.ke, Some(KeId::CURVE448));
    assert_eq!(algs.additional().collect::<Vec<_>>(), [KeId::ML_KEM_1024]);
    p.take(Side::B);
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive();
    assert!(!p.a.is_established(ike));
    assert_eq!((p.a.established().len(), p.b.established().len()), (1, 1));
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
    // The ML-KEM-1024 shares do not fit one datagram: RFC 7383 fragments,
    // with IntAuth computed as if unfragmented (RFC 9242 §3.3.2).
    let fragmented = p.log.iter().any(|(_, t)| {
        Header::peek(&t.data).is_ok_and(|h| h.exchange == X::IKE_INTERMEDIATE)
            && t.data.get(16) == Some(&PayloadType::SKF.0)
    });
    assert!(fragmented, "IKE_INTERMEDIATE went unfragmented");
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
fn timed_rekeys_of_a_hybrid_sa_run_the_ike_follow_up_only() {
    // The IKE SA rekey runs its IKE_FOLLOWUP_KE (RFC 9370 §2.2.4); the
    // child's proposal has no additional key exchange, so its rekey has none.
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
    let follow = exchanges(&p)
        .iter()
        .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE && !e.3)
        .count();
    assert_eq!(
        follow, 1,
        "one IKE rekey follow-up, none for the Child SA rekeys"
    );
}

/// Pairs where the child's ESP proposal is `esp` on both sides (per-CPU).
fn child_pair(esp: &str, per_cpu: crate::config::PerCpu) -> Pair {
    child_pair_with(esp, per_cpu, |_| {})
}

/// [`child_pair`] with A's child config changed by `f` first.
fn child_pair_with(
    esp: &str,
    per_cpu: crate::config::PerCpu,
    f: impl FnOnce(&mut crate::config::ChildConfig),
) -> Pair {
    let (mut ea, mut eb) = configs();
    for (cfg, ike) in [(&mut ea, PQ), (&mut eb, PQ)] {
        with_ike(cfg, ike);
        let c = &mut cfg.connections[0].children[0];
        c.esp_proposals = vec![Proposal::parse_esp(esp).expect("esp")];
        c.per_cpu = per_cpu;
    }
    f(&mut ea.connections[0].children[0]);
    Pair::new(ea, eb)
}

/// Installs of A and B agree pairwise on SPIs and keys.
fn assert_pairs(ea: &[Event], eb: &[Event], n: usize) {
    let (ia, ib) = (installs(ea), installs(eb));
    assert_eq!(ia.len(), n, "{ea:?}");
    assert_eq!(ib.len(), n, "{eb:?}");
    for x in &ia {
        let y = ib
            .iter()
            .find(|y| y.spi_in == x.spi_out)
            .expect("peer half");
        assert_eq!(*x.keys_out.encr, *y.keys_in.encr);
        assert_eq!(*x.keys_in.encr, *y.keys_out.encr);
        assert_eq!(
            x.esp.additional().collect::<Vec<_>>(),
            vec![KeId::ML_KEM_768]
        );
    }
}

#[test]
fn per_cpu_child_sas_each_run_their_own_followup_exchange() {
    use crate::config::PerCpu;
    let mut p = child_pair("aes128gcm16-x25519-ke1_mlkem768", PerCpu::Yes);
    // The first acquire makes the IKE SA and the fallback SA (in IKE_AUTH:
    // no key exchange there, RFC 9370 §2.2.3).
    p.acquire(Side::A, 1, Some(0), 1);
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(installs(&ea).len(), 1);
    assert_eq!(installs(&ea)[0].esp.additional().count(), 0);
    assert_eq!(installs(&eb).len(), 1);
    let n = p.log.len();
    for (seq, cpu) in [(2, 0), (3, 1), (4, 2)] {
        p.acquire(Side::A, 1, Some(cpu), seq);
    }
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_pairs(&ea, &eb, 3);
    let followups = exchanges(&p)[n..]
        .iter()
        .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE && !e.3)
        .count();
    assert_eq!(followups, 3, "one IKE_FOLLOWUP_KE per per-CPU SA");
    assert!(p.b.established().iter().all(|i| p.b.is_established(*i)));
}

#[test]
fn precreated_per_cpu_child_sas_each_run_their_own_followup_exchange() {
    use crate::config::{PerCpu, PerCpuMode};
    use crate::ids::CpuId;
    let mut p = child_pair_with("aes128gcm16-x25519-ke1_mlkem768", PerCpu::Yes, |c| {
        c.per_cpu_mode = PerCpuMode::Precreate(vec![CpuId(0), CpuId(1)]);
    });
    p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    // The fallback SA in IKE_AUTH (no key exchange), then one SA per CPU,
    // each by CREATE_CHILD_SA with its own IKE_FOLLOWUP_KE.
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!(ia.len(), 3, "{ea:?}");
    assert_eq!(ib.len(), 3, "{eb:?}");
    let per_cpu: Vec<_> = ia.iter().filter(|i| i.resource.is_some()).collect();
    assert_eq!(per_cpu.len(), 2);
    for x in per_cpu {
        let y = ib
            .iter()
            .find(|y| y.spi_in == x.spi_out)
            .expect("peer half");
        assert_eq!(*x.keys_out.encr, *y.keys_in.encr);
        assert_eq!(
            x.esp.additional().collect::<Vec<_>>(),
            vec![KeId::ML_KEM_768]
        );
    }
    let followups = exchanges(&p)
        .iter()
        .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE && !e.3)
        .count();
    assert_eq!(followups, 2, "one IKE_FOLLOWUP_KE per precreated SA");
}

#[test]
fn child_rekey_runs_the_additional_exchange_in_both_directions() {
    use crate::config::PerCpu;
    for side in [Side::A, Side::B] {
        let mut p = child_pair("aes256gcm16-x25519-ke1_mlkem768", PerCpu::No);
        p.connect();
        p.take(Side::A);
        p.take(Side::B);
        // The IKE_AUTH child has no key exchange; its rekey runs KE and ke1.
        let now = p.time;
        let ep = p.ep(side);
        let ike = ep.established()[0];
        let child = ep.child_sas(ike)[0].0;
        ep.rekey_child(now, child).expect("rekey");
        let n = p.log.len();
        p.drive();
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        let rekeyed = |ev: &[Event]| ev.iter().any(|e| matches!(e, Event::ChildSaRekeyed { .. }));
        assert!(rekeyed(&ea) && rekeyed(&eb), "{ea:?} {eb:?}");
        assert_pairs(&ea, &eb, 1);
        let ex = exchanges(&p);
        let follow: Vec<_> = ex[n..]
            .iter()
            .filter(|e| e.1 == ExchangeType::IKE_FOLLOWUP_KE)
            .map(|e| (e.0, e.3))
            .collect();
        let other = if side == Side::A { Side::B } else { Side::A };
        assert_eq!(follow, vec![(side, false), (other, true)]);
    }
}

#[test]
fn child_without_the_peers_additional_exchange_is_refused_keeping_the_ike_sa() {
    let (mut ea, mut eb) = configs();
    with_ike(&mut ea, PQ);
    with_ike(&mut eb, PQ);
    ea.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes128gcm16-x25519-ke1_mlkem768").expect("esp")];
    eb.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes128gcm16-x25519").expect("esp")];
    let mut p = Pair::new(ea, eb);
    let ike = p.connect();
    p.take(Side::A);
    let child = p.a.child_sas(ike)[0].0;
    let now = p.time;
    p.a.rekey_child(now, child).expect("rekey");
    // (A refused rekey is retried every 30 s, so run a bounded time.)
    p.drive_for(Duration::from_secs(5));
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::PeerIncompatible(PeerIncompatible::NoProposalChosen),
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(p.a.is_established(ike));
}
