//! Happy paths: IKE_SA_INIT + IKE_AUTH, CREATE_CHILD_SA, rekeys, INFORMATIONAL.

use std::time::Duration;

use super::util::{Pair, Side, configs, count, installs};
use crate::config::Mode;
use crate::error::Error;
use crate::event::Event;
use crate::proposal::Proposal;

/// Both sides' installs of one Child SA pair agree on SPIs and keys.
fn assert_pair_matches(a: &crate::event::ChildSaInstall, b: &crate::event::ChildSaInstall) {
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(*a.keys_out.encr, *b.keys_in.encr);
    assert_eq!(*a.keys_in.encr, *b.keys_out.encr);
    assert_eq!(*a.keys_out.integ, *b.keys_in.integ);
    assert_ne!(*a.keys_out.encr, *a.keys_in.encr);
    assert_eq!(a.esp, b.esp);
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
    assert_eq!(a.mode, b.mode);
}

#[test]
fn handshake_psk_gcm_x25519() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let ea = p.take(Side::A);
    let eb = p.take(Side::B);
    assert_eq!(
        count(&ea, |e| matches!(e, Event::IkeSaUp { .. })),
        1,
        "{ea:?}"
    );
    assert_eq!(
        count(&eb, |e| matches!(e, Event::IkeSaUp { .. })),
        1,
        "{eb:?}"
    );
    let Some(Event::IkeSaUp {
        peer_id,
        spi_i,
        spi_r,
        ..
    }) = ea.iter().find(|e| matches!(e, Event::IkeSaUp { .. }))
    else {
        panic!()
    };
    assert_eq!(
        *peer_id,
        crate::config::Identity::Fqdn("b.lanes.test".into())
    );
    assert_ne!(spi_i.0, 0);
    assert_ne!(spi_r.0, 0);
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!((ia.len(), ib.len()), (1, 1));
    assert_pair_matches(ia[0], ib[0]);
    // AES-128-GCM: 16-byte key + 4-byte salt, no integrity key.
    assert_eq!(ia[0].keys_out.encr.len(), 20);
    assert!(ia[0].keys_out.integ.is_empty());
    assert_eq!(ia[0].mode, Mode::Tunnel);
    assert_eq!(ia[0].resource, None);
    assert!(!ia[0].per_cpu);
    assert!(ia[0].encap.is_none());
    // Four messages in total: no retransmissions.
    assert_eq!(p.log.len(), 4);
    // Key material never shows in Debug output.
    let dbg = format!("{:?}", ia[0]);
    assert!(dbg.contains("20 bytes") && !dbg.contains(&format!("{:?}", &ia[0].keys_out.encr[..4])));
}

#[test]
fn handshake_cbc_hmac_ecp256_and_pfs_child() {
    let (mut a, mut b) = configs();
    for c in [&mut a.connections[0], &mut b.connections[0]] {
        c.ike_proposals = vec![Proposal::parse_ike("aes256-sha256-ecp256").expect("p")];
        c.children[0].esp_proposals =
            vec![Proposal::parse_esp("aes256-sha256-ecp256-esn").expect("p")];
        let mut second = c.children[0].clone();
        second.name = "second".into();
        second.reqid = 2;
        c.children.push(second);
    }
    let mut p = Pair::new(a, b);
    p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!((ia.len(), ib.len()), (2, 2), "{ea:?}");
    for (x, y) in ia.iter().zip(ib.iter()) {
        assert_pair_matches(x, y);
        assert_eq!(x.keys_out.encr.len(), 32);
        assert_eq!(x.keys_out.integ.len(), 32);
        assert!(x.esp.esn);
    }
    // The second child came by CREATE_CHILD_SA with PFS (ecp256), the first in IKE_AUTH without.
    assert_eq!(ia[0].esp.ke, None);
    assert_eq!(ia[1].esp.ke, Some(crate::wire::KeId::ECP_256));
    assert_eq!(ia[1].name, "second");
}

#[test]
fn transport_mode_and_ts_narrowing() {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].mode = Mode::Transport;
    b.connections[0].children[0].mode = Mode::Transport;
    // A asks for all of 192.168.0.0/16 on B's side; B narrows to its /24.
    a.connections[0].children[0].remote_ts = vec![super::util::ts("192.168.0.0/16")];
    let mut p = Pair::new(a, b);
    p.connect();
    let ea = p.take(Side::A);
    let i = installs(&ea);
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].mode, Mode::Transport);
    assert_eq!(i[0].remote_ts, vec![super::util::ts("192.168.2.0/24")]);
}

#[test]
fn tunnel_when_peer_does_not_want_transport() {
    let (mut a, b) = configs();
    a.connections[0].children[0].mode = Mode::Transport;
    let mut p = Pair::new(a, b);
    p.connect();
    let ea = p.take(Side::A);
    assert_eq!(installs(&ea)[0].mode, Mode::Tunnel);
}

#[test]
fn create_child_rekey_child_and_delete() {
    let (mut a, mut b) = configs();
    for c in [&mut a.connections[0], &mut b.connections[0]] {
        let mut second = c.children[0].clone();
        second.name = "second".into();
        second.reqid = 2;
        c.children.push(second);
    }
    a.connections[0].children.truncate(1);
    a.connections[0]
        .children
        .push(b.connections[0].children[1].clone());
    // A's "second" has A's selectors.
    a.connections[0].children[1].local_ts = a.connections[0].children[0].local_ts.clone();
    a.connections[0].children[1].remote_ts = a.connections[0].children[0].remote_ts.clone();
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    assert_eq!(p.a.child_sas(ike).len(), 2);
    p.take(Side::A);
    p.take(Side::B);
    // Another one on request.
    p.a.create_child(p.time, ike, "net", None).expect("create");
    p.drive();
    // "net" already has an SA: a plain (non-RFC 9611) child is not duplicated.
    assert_eq!(p.a.child_sas(ike).len(), 2);

    // Rekey the first child.
    let (old, old_spi, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, old).expect("rekey");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let ra: Vec<_> = ea
        .iter()
        .filter_map(|e| {
            if let Event::ChildSaRekeyed { old, new } = e {
                Some((*old, new))
            } else {
                None
            }
        })
        .collect();
    let rb: Vec<_> = eb
        .iter()
        .filter_map(|e| {
            if let Event::ChildSaRekeyed { old, new } = e {
                Some((*old, new))
            } else {
                None
            }
        })
        .collect();
    assert_eq!((ra.len(), rb.len()), (1, 1), "{ea:?}");
    assert_eq!(ra[0].0, old);
    assert_pair_matches(ra[0].1, rb[0].1);
    assert_ne!(ra[0].1.spi_in, old_spi);
    assert_eq!(
        count(
            &ea,
            |e| matches!(e, Event::ChildSaDeleted { child, .. } if *child == old)
        ),
        1
    );
    assert_eq!(
        count(
            &eb,
            |e| matches!(e, Event::ChildSaDeleted { spi_out, .. } if *spi_out == old_spi)
        ),
        1
    );
    assert_eq!(p.a.child_sas(ike).len(), 2);

    // Delete the second child from B's side.
    let bike = p.b.established()[0];
    let (victim, _, _) = p.b.child_sas(bike)[0];
    p.b.delete_child(p.time, victim).expect("delete");
    p.drive();
    assert_eq!(p.a.child_sas(ike).len(), 1);
    assert_eq!(p.b.child_sas(bike).len(), 1);
    assert_eq!(
        count(&p.take(Side::A), |e| matches!(
            e,
            Event::ChildSaDeleted { .. }
        )),
        1
    );
}

#[test]
fn simultaneous_child_rekey_lowest_nonce_loses() {
    for seed in 1..6 {
        let (a, b) = configs();
        let mut p = Pair::with_seed(a, b, seed);
        let ike = p.connect();
        let bike = p.b.established()[0];
        p.take(Side::A);
        p.take(Side::B);
        let (ca, _, _) = p.a.child_sas(ike)[0];
        let (cb, _, _) = p.b.child_sas(bike)[0];
        p.a.rekey_child(p.time, ca).expect("rekey");
        p.b.rekey_child(p.time, cb).expect("rekey");
        p.drive();
        // Exactly one SA pair survives, the same on both sides.
        let la = p.a.child_sas(ike);
        let lb = p.b.child_sas(bike);
        assert_eq!((la.len(), lb.len()), (1, 1), "seed {seed}: {la:?} {lb:?}");
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        let ia = installs(&ea);
        let ib = installs(&eb);
        let a_new = ia
            .iter()
            .find(|i| i.spi_in == la[0].1)
            .expect("survivor installed on A");
        let b_new = ib
            .iter()
            .find(|i| i.spi_in == lb[0].1)
            .expect("survivor installed on B");
        assert_pair_matches(a_new, b_new);
        // Everything else A installed or had was deleted.
        let deleted_a = count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. }));
        assert_eq!(deleted_a, ia.len() + 1 - 1, "seed {seed}: {ea:?}");
    }
}

/// The rekey's initiator deletes the old IKE SA (RFC 7296 §1.3.2); while that
/// Delete is in flight the old SA is still the replaced one, not merely closing.
#[test]
fn replaced_ike_sa_stays_replaced_while_its_delete_is_in_flight() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.a.rekey_ike(p.time, ike).expect("rekey");
    let closing = |p: &Pair| {
        p.a.ike_sa_info(ike)
            .is_some_and(|i| i.state == crate::event::IkeSaState::Closing)
    };
    while !closing(&p) {
        assert!(p.step(), "the rekey never completed");
    }
    let old = p.a_sa(ike);
    assert!(old.is_replaced(), "state after the rekey: not Replaced");
    assert!(
        matches!(
            old.outstanding.as_deref().map(|o| &o.pending),
            Some(crate::ike_sa::Pending::DeleteIke)
        ),
        "the old SA's Delete is not in flight"
    );
}

#[test]
fn ike_rekey_moves_children() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let before = p.a.child_sas(ike);
    p.take(Side::A);
    p.take(Side::B);
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(
        count(&ea, |e| matches!(e, Event::IkeSaUp { .. })),
        1,
        "{ea:?}"
    );
    assert_eq!(
        count(&eb, |e| matches!(e, Event::IkeSaUp { .. })),
        1,
        "{eb:?}"
    );
    assert_eq!(
        count(&ea, |e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::Rekeyed,
                ..
            }
        )),
        1,
        "{ea:?}"
    );
    assert_eq!(
        count(&eb, |e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::Rekeyed,
                ..
            }
        )),
        1,
        "{eb:?}"
    );
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
    assert!(!p.a.is_established(ike));
    let new = p.a.established();
    assert_eq!(new.len(), 1);
    assert_eq!(p.a.child_sas(new[0]), before);
    assert_eq!(p.a.ike_sa_count(), 1);
    assert_eq!(p.b.ike_sa_count(), 1);
    // The new IKE SA works: rekey the child over it.
    let (c, _, _) = before[0];
    p.a.rekey_child(p.time, c).expect("rekey child");
    p.drive();
    assert_eq!(
        count(&p.take(Side::B), |e| matches!(
            e,
            Event::ChildSaRekeyed { .. }
        )),
        1
    );
    // And B can rekey the IKE SA in turn (roles swap).
    let bike = p.b.established()[0];
    p.b.rekey_ike(p.time, bike).expect("rekey");
    p.drive();
    assert_eq!(p.a.established().len(), 1);
    assert_eq!(p.b.established().len(), 1);
    assert_eq!(p.a.child_sas(p.a.established()[0]).len(), 1);
}

#[test]
fn close_deletes_everything_on_both_sides() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    p.a.close(p.time, ike).expect("close");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })), 1);
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaDeleted { .. })), 1);
    assert!(matches!(
        ea.last(),
        Some(Event::IkeSaDown {
            reason: Error::ClosedLocally,
            ..
        })
    ));
    assert!(matches!(
        eb.last(),
        Some(Event::IkeSaDown {
            reason: Error::DeletedByPeer,
            ..
        })
    ));
    assert_eq!(p.a.ike_sa_count() + p.b.ike_sa_count(), 0);
}

#[test]
fn dpd_keeps_alive_and_detects_dead_peer() {
    let (mut a, b) = configs();
    a.connections[0].dpd_delay = Duration::from_secs(30);
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    let n = p.log.len();
    p.drive_for(Duration::from_secs(65));
    assert!(p.log.len() >= n + 4, "two DPD exchanges expected");
    assert!(p.a.is_established(ike));
    // The peer vanishes: A gives up after the retransmission budget.
    p.filter = Some(Box::new(|from, _| from == Side::A));
    p.drive_for(Duration::from_secs(30 + 170));
    assert!(!p.a.is_established(ike));
    assert!(p.take(Side::A).iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Error::Timeout,
            ..
        }
    )));
}

#[test]
fn lifetime_driven_rekey_with_jitter() {
    let (mut a, b) = configs();
    a.connections[0].children[0].rekey_time = Duration::from_secs(300);
    a.connections[0].children[0].rekey_jitter = Duration::from_secs(30);
    a.connections[0].rekey_time = Duration::from_secs(1000);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.drive_for(Duration::from_secs(269));
    assert_eq!(
        count(&p.take(Side::A), |e| matches!(
            e,
            Event::ChildSaRekeyed { .. }
        )),
        0
    );
    p.drive_for(Duration::from_secs(32));
    assert_eq!(
        count(&p.take(Side::A), |e| matches!(
            e,
            Event::ChildSaRekeyed { .. }
        )),
        1
    );
    p.drive_for(Duration::from_secs(750));
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(
            |e| matches!(e, Event::IkeSaDown { ike: i, reason: Error::Rekeyed, .. } if *i == ike)
        ),
        "{ea:?}"
    );
    assert_eq!(p.a.established().len(), 1);
}

#[test]
fn lossy_reordering_duplicating_network() {
    for seed in 1..=8 {
        let (a, b) = configs();
        let mut p = Pair::with_seed(a, b, seed);
        p.loss = 0.15;
        p.dup = 0.2;
        p.reorder = 0.3;
        let ike = p.a.initiate(p.time, "net").expect("init");
        p.drive_for(Duration::from_secs(170));
        assert!(p.a.is_established(ike), "seed {seed}");
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        let (ia, ib) = (installs(&ea), installs(&eb));
        assert_eq!(
            (ia.len(), ib.len()),
            (1, 1),
            "seed {seed}: duplicates must not create SAs"
        );
        assert_eq!(ia[0].spi_in, ib[0].spi_out);
    }
}

#[test]
fn retransmits_with_strongswan_backoff() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    // Drop the first two IKE_AUTH requests.
    let mut dropped = 0;
    p.filter = Some(Box::new(move |from, t| {
        let exch = t.data.get(18).copied();
        if from == Side::A && exch == Some(35) && dropped < 2 {
            dropped += 1;
            return false;
        }
        true
    }));
    let t0 = p.time;
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    assert!(p.a.is_established(ike));
    // 4 s + 7.2 s of back-off before the third copy got through.
    let up = p.time - t0;
    assert!(
        up >= Duration::from_millis(11_200) && up < Duration::from_millis(11_400),
        "{up:?}"
    );
}

#[test]
fn initial_contact_replaces_old_sa() {
    let (a, b) = configs();
    let mut p = Pair::new(a.clone(), b);
    p.connect();
    assert_eq!(p.b.ike_sa_count(), 1);
    p.take(Side::B);
    // A restarts (new endpoint, same config) and connects again.
    p.a = crate::endpoint::Endpoint::new(a, crate::crypto::CryptoProvider::seeded(77));
    p.connect();
    let eb = p.take(Side::B);
    assert_eq!(p.b.ike_sa_count(), 1);
    assert!(
        eb.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::InitialContact,
                ..
            }
        )),
        "{eb:?}"
    );
}

#[test]
fn established_sa_memory_under_2kib() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let bike = p.b.established()[0];
    let ma = p.a.memory_of(ike).expect("sa");
    let mb = p.b.memory_of(bike).expect("sa");
    eprintln!(
        "per-IKE-SA memory beyond keys: initiator {ma} B, responder {mb} B (IkeSa {} B, ChildSa {} B)",
        size_of::<crate::ike_sa::IkeSa>(),
        size_of::<crate::child_sa::ChildSa>()
    );
    assert!(ma < 2048, "{ma}");
    assert!(mb < 2048, "{mb}");
}

#[test]
fn simultaneous_ike_rekey_lowest_nonce_loses() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 1..=8 {
        let (a, b) = configs();
        let mut p = Pair::with_seed(a, b, seed);
        let ike = p.connect();
        let bike = p.b.established()[0];
        let children = p.a.child_sas(ike);
        p.take(Side::A);
        p.take(Side::B);
        let t0 = p.time;
        p.a.rekey_ike(p.time, ike).expect("rekey");
        p.b.rekey_ike(p.time, bike).expect("rekey");
        p.drive();
        // Resolved at once by the nonce rule (RFC 7296 §2.8.2), no retry needed.
        assert!(p.time - t0 < Duration::from_secs(2), "seed {seed}");
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        assert_eq!(
            count(&ea, |e| matches!(e, Event::IkeSaUp { .. })),
            1,
            "seed {seed}: {ea:?}"
        );
        assert_eq!(
            count(&eb, |e| matches!(e, Event::IkeSaUp { .. })),
            1,
            "seed {seed}: {eb:?}"
        );
        assert_eq!(
            count(&ea, |e| matches!(e, Event::IkeSaDown { .. })),
            1,
            "seed {seed}: {ea:?}"
        );
        assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
        assert_eq!(
            (p.a.ike_sa_count(), p.b.ike_sa_count()),
            (1, 1),
            "seed {seed}"
        );
        let (na, nb) = (p.a.established()[0], p.b.established()[0]);
        assert_eq!(p.a.child_sas(na), children);
        // Both sides kept the same successor.
        let up = |ev: &[Event]| {
            ev.iter()
                .find_map(|e| {
                    if let Event::IkeSaUp { spi_i, spi_r, .. } = e {
                        Some((*spi_i, *spi_r))
                    } else {
                        None
                    }
                })
                .expect("up")
        };
        assert_eq!(up(&ea), up(&eb), "seed {seed}");
        // The new SA works.
        let (c, _, _) = p.a.child_sas(na)[0];
        p.a.rekey_child(p.time, c).expect("rekey child");
        p.drive();
        assert_eq!(
            count(&p.take(Side::B), |e| matches!(
                e,
                Event::ChildSaRekeyed { .. }
            )),
            1,
            "seed {seed}"
        );
        // Whose exchange won: its initiator is the new SA's original initiator.
        let a_won = p.a.take_sa(na).expect("sa").initiator;
        assert_ne!(a_won, p.b.take_sa(nb).expect("sa").initiator);
        outcomes.insert(a_won);
    }
    assert_eq!(
        outcomes.len(),
        2,
        "both the winning and the losing path ran"
    );
}

#[test]
fn pfs_invalid_ke_retry_in_create_child_sa() {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes128gcm16-x25519-ecp256").expect("p")];
    b.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes128gcm16-ecp256").expect("p")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let (c, _, _) = p.a.child_sas(ike)[0];
    p.take(Side::A);
    p.a.rekey_child(p.time, c).expect("rekey");
    p.drive();
    let ea = p.take(Side::A);
    let i = installs(&ea);
    assert_eq!(i.len(), 1, "{ea:?}");
    assert_eq!(i[0].esp.ke, Some(crate::wire::KeId::ECP_256));
    // Two CREATE_CHILD_SA round trips: INVALID_KE_PAYLOAD, then success.
    assert_eq!(
        p.log
            .iter()
            .filter(|(s, t)| *s == Side::A && t.data[18] == 36)
            .count(),
        2
    );
}

#[test]
fn kernel_expires_rekey_and_delete() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let (_, spi, _) = p.a.child_sas(ike)[0];
    p.take(Side::A);
    p.a.handle_kernel(
        p.time,
        crate::endpoint::KernelEvent::Expire { spi, hard: false },
    );
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. })), 1);
    let (_, spi, _) = p.a.child_sas(ike)[0];
    p.a.handle_kernel(
        p.time,
        crate::endpoint::KernelEvent::Expire { spi, hard: true },
    );
    p.drive();
    assert!(p.a.child_sas(ike).is_empty());
    assert!(p.b.child_sas(p.b.established()[0]).is_empty());
    // Unknown SPIs and reqids are ignored.
    p.a.handle_kernel(
        p.time,
        crate::endpoint::KernelEvent::Expire {
            spi: crate::ids::Spi(1),
            hard: true,
        },
    );
    p.a.handle_kernel(
        p.time,
        crate::endpoint::KernelEvent::Acquire {
            reqid: 99,
            cpu: None,
            seq: 1,
            ike: None,
        },
    );
    assert!(p.a.poll_transmit(p.time).is_none());
}

#[test]
fn ike_rekey_with_lost_delete_cleans_up_old_sa() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    // Every INFORMATIONAL from A is lost: B never hears the old SA's Delete.
    p.filter = Some(Box::new(|from, t| !(from == Side::A && t.data[18] == 37)));
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive_for(Duration::from_secs(200));
    assert_eq!(p.a.ike_sa_count(), 1);
    assert_eq!(p.b.ike_sa_count(), 1);
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(ea.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Error::Rekeyed,
            ..
        }
    )));
    assert!(eb.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Error::Rekeyed,
            ..
        }
    )));
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
}

#[test]
fn simultaneous_child_delete() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let bike = p.b.established()[0];
    p.take(Side::A);
    p.take(Side::B);
    let (ca, _, _) = p.a.child_sas(ike)[0];
    let (cb, _, _) = p.b.child_sas(bike)[0];
    p.a.delete_child(p.time, ca).expect("delete");
    p.b.delete_child(p.time, cb).expect("delete");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(
        count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })),
        1,
        "{ea:?}"
    );
    assert_eq!(
        count(&eb, |e| matches!(e, Event::ChildSaDeleted { .. })),
        1,
        "{eb:?}"
    );
    assert!(p.a.child_sas(ike).is_empty() && p.b.child_sas(bike).is_empty());
    assert!(p.a.is_established(ike), "the IKE SA stays");
}
