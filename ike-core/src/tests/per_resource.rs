//! RFC 9611 per-resource Child SA groups: on-demand and precreated
//! groups, the responder cap with TS_MAX_QUEUE, peers without RFC 9611, rekeys,
//! deletes and IKE rekeys, and the exact notify bytes.

use std::collections::BTreeSet;
use std::time::Duration;

use super::util::{Pair, Side, configs, count, installs};
use crate::child_sa::per_resource::resource_info_data;
use crate::config::{EndpointConfig, PerCpu, PerCpuMode};
use crate::error::Error;
use crate::event::Event;
use crate::ids::CpuId;
use crate::wire::{Codec, Notify, NotifyType, Payload};

fn per_cpu_configs() -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    a.connections[0].children[0].per_cpu = PerCpu::Yes;
    b.connections[0].children[0].per_cpu = PerCpu::Yes;
    (a, b)
}

fn cpus_of(events: &[Event]) -> Vec<Option<u32>> {
    installs(events)
        .iter()
        .map(|i| i.resource.map(|c| c.0))
        .collect()
}

#[test]
fn on_demand_group_from_acquires_on_n_cpus() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    // The first acquire (CPU 2) creates the IKE SA and the fallback SA.
    p.acquire(Side::A, 1, Some(2), 1);
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(cpus_of(&ea), vec![None]);
    assert_eq!(cpus_of(&eb), vec![None]);
    assert!(installs(&ea)[0].per_cpu, "fallback is part of the group");
    assert_eq!(installs(&ea)[0].acquire_seq, Some(1));
    // Then one SA per CPU, each from its own acquire.
    for (seq, cpu) in [(2, 0), (3, 1), (4, 2), (5, 3)] {
        p.acquire(Side::A, 1, Some(cpu), seq);
    }
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(cpus_of(&ea), vec![Some(0), Some(1), Some(2), Some(3)]);
    assert_eq!(
        installs(&ea)
            .iter()
            .map(|i| i.acquire_seq)
            .collect::<Vec<_>>(),
        vec![Some(2), Some(3), Some(4), Some(5)]
    );
    // The responder pins its side to CPUs of its own choosing: all distinct (4 CPUs).
    let b_cpus: BTreeSet<_> = cpus_of(&eb).into_iter().collect();
    assert_eq!(b_cpus.len(), 4);
    assert!(b_cpus.iter().all(Option::is_some));
    for (x, y) in installs(&ea).iter().zip(installs(&eb).iter()) {
        assert_eq!(x.spi_in, y.spi_out);
        assert_eq!(
            x.local_ts, y.remote_ts,
            "identical TS for every SA of the group"
        );
        assert!(x.per_cpu && y.per_cpu);
    }
    // Acquires for CPUs that have an SA are ignored: nothing is sent.
    let n = p.log.len();
    p.acquire(Side::A, 1, Some(1), 9);
    p.acquire(Side::A, 1, None, 10);
    p.drive();
    assert_eq!(p.log.len(), n);
    let ike = p.a.established()[0];
    assert_eq!(p.a.child_sas(ike).len(), 5);
}

#[test]
fn one_pending_request_per_cpu() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.take(Side::A);
    // Three acquires for CPU 1 before anything completes: one exchange.
    for seq in 2..5 {
        p.acquire(Side::A, 1, Some(1), seq);
    }
    p.drive();
    assert_eq!(cpus_of(&p.take(Side::A)), vec![Some(1)]);
}

#[test]
fn precreate_for_a_cpu_set() {
    let (mut a, b) = per_cpu_configs();
    a.connections[0].children[0].per_cpu_mode =
        PerCpuMode::Precreate(vec![CpuId(0), CpuId(1), CpuId(2)]);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let ea = p.take(Side::A);
    assert_eq!(cpus_of(&ea), vec![None, Some(0), Some(1), Some(2)]);
    assert_eq!(p.a.child_sas(ike).len(), 4);
    // Paced: never more than one CREATE_CHILD_SA request in flight.
    let mut outstanding = 0i32;
    for (s, t) in &p.log {
        if t.data[18] == 36 {
            let response = t.data[19] & 0x20 != 0;
            outstanding += if response { -1 } else { 1 };
            assert!(outstanding <= 1, "{s:?}");
        }
    }
}

#[test]
fn cap_gives_ts_max_queue_and_nothing_is_lost() {
    let (a, mut b) = per_cpu_configs();
    b.connections[0].children[0].per_cpu_max = Some(2);
    let child_name = a.connections[0].children[0].name.clone();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    for (seq, cpu) in [(2, 0), (3, 1), (4, 2)] {
        p.acquire(Side::A, 1, Some(cpu), seq);
    }
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(cpus_of(&ea), vec![None, Some(0), Some(1)]);
    assert_eq!(installs(&eb).len(), 3);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                resource: Some(CpuId(2)),
                reason: Error::NotifyReceived(48),
                ..
            }
        )),
        "{ea:?}"
    );
    assert_eq!(
        count(&ea, |e| matches!(
            e,
            Event::PerCpuGroupFull { full: true, .. }
        )),
        1,
        "A reports the group full once: {ea:?}"
    );
    assert_eq!(
        count(&eb, |e| matches!(e, Event::ChildSaDeleted { .. })),
        0,
        "existing SAs untouched"
    );
    let ike = p.a.established()[0];
    let bike = p.b.established()[0];
    assert_eq!(p.a.child_sas(ike).len(), 3);
    assert_eq!(p.b.child_sas(bike).len(), 3);
    // The initiator stops asking for this group ...
    let n = p.log.len();
    p.acquire(Side::A, 1, Some(3), 5);
    p.acquire(Side::A, 1, Some(2), 6);
    p.drive();
    assert_eq!(p.log.len(), n);
    // ... until one of its SAs goes away.
    let (victim, _, _) =
        *p.a.child_sas(ike)
            .iter()
            .find(|(_, _, c)| *c == Some(CpuId(0)))
            .expect("cpu0");
    p.a.delete_child(p.time, victim).expect("delete");
    p.drive();
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::PerCpuGroupFull { full: false, name, .. } if *name == child_name
        )),
        "the group opens again: {ea:?}"
    );
    p.acquire(Side::A, 1, Some(3), 7);
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(cpus_of(&ea), vec![Some(3)]);
}

/// RFC 9611 §4.2: `per_cpu_max` bounds the group whoever asks. Our own acquires
/// stop at it: the other CPUs use the fallback SA and the daemon is told to
/// stop CPU acquires, with no CREATE_CHILD_SA on the wire.
#[test]
fn per_cpu_max_bounds_our_own_acquires() {
    let (mut a, b) = per_cpu_configs();
    a.local_cpus = 2;
    a.connections[0].children[0].per_cpu_max = Some(1);
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, Some(0), 1);
    p.drive();
    p.acquire(Side::A, 1, Some(0), 2);
    p.acquire(Side::A, 1, Some(1), 3);
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(cpus_of(&ea), vec![None, Some(0)], "{ea:?}");
    assert_eq!(
        count(&ea, |e| matches!(
            e,
            Event::PerCpuGroupFull { full: true, .. }
        )),
        1,
        "{ea:?}"
    );
    let creates = |p: &Pair| {
        p.log
            .iter()
            .filter(|(s, t)| *s == Side::A && t.data[18] == 36 && t.data[19] & 0x20 == 0)
            .count()
    };
    assert_eq!(creates(&p), 1, "only CPU 0's SA was asked for");
    // Further acquires stay quiet, and a rekey at the cap neither reopens nor
    // refills the group.
    let ike = p.a.established()[0];
    let (cpu0, _, _) =
        *p.a.child_sas(ike)
            .iter()
            .find(|c| c.2.is_some())
            .expect("cpu0");
    p.a.rekey_child(p.time, cpu0).expect("rekey");
    p.drive();
    p.acquire(Side::A, 1, Some(1), 4);
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(creates(&p), 2, "the rekey only");
    assert_eq!(
        count(&ea, |e| matches!(e, Event::PerCpuGroupFull { .. })),
        0,
        "{ea:?}"
    );
    assert_eq!(p.a.child_sas(ike).len(), 2);
}

/// The peer's request beyond the cap gets TS_MAX_QUEUE even when our own
/// per-CPU SAs are what fills the group.
#[test]
fn per_cpu_max_counts_sas_we_asked_for_when_answering() {
    let (a, mut b) = per_cpu_configs();
    b.connections[0].children[0].per_cpu_max = Some(1);
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.acquire(Side::B, 1, Some(0), 1);
    p.drive();
    p.acquire(Side::A, 1, Some(1), 2);
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(cpus_of(&eb), vec![None, Some(0)], "{eb:?}");
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::NotifyReceived(48),
                ..
            }
        )),
        "{ea:?}"
    );
}

#[test]
fn peer_without_rfc9611_gives_single_sa() {
    let (mut a, b) = configs();
    a.connections[0].children[0].per_cpu = PerCpu::Yes;
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, Some(0), 1);
    p.drive();
    let ea = p.take(Side::A);
    let i = installs(&ea);
    assert_eq!(i.len(), 1);
    assert!(!i[0].per_cpu, "a regular SA");
    assert_eq!(i[0].resource, None);
    let n = p.log.len();
    for cpu in 0..4 {
        p.acquire(Side::A, 1, Some(cpu), 2 + cpu);
    }
    p.drive();
    assert_eq!(p.log.len(), n, "no more SAs are requested");
}

#[test]
fn responder_ignores_notify_when_not_configured_and_initiator_without_notify() {
    // B wants per-CPU SAs, A does not: A never sends the notify, B makes a plain SA.
    let (a, mut b) = configs();
    b.connections[0].children[0].per_cpu = PerCpu::Yes;
    let mut p = Pair::new(a, b);
    p.connect();
    let eb = p.take(Side::B);
    assert!(!installs(&eb)[0].per_cpu);
}

#[test]
fn rekey_keeps_cpu() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.acquire(Side::A, 1, Some(3), 2);
    p.drive();
    let ike = p.a.established()[0];
    let bike = p.b.established()[0];
    let b_cpu_before: Vec<_> = p.b.child_sas(bike).iter().map(|c| c.2).collect();
    p.take(Side::A);
    p.take(Side::B);
    for (id, _, _) in p.a.child_sas(ike) {
        p.a.rekey_child(p.time, id).expect("rekey");
    }
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let mut a_new = cpus_of(&ea);
    a_new.sort();
    assert_eq!(a_new, vec![None, Some(3)]);
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. })), 2);
    let mut b_after: Vec<_> = p.b.child_sas(bike).iter().map(|c| c.2).collect();
    let mut b_before = b_cpu_before;
    b_after.sort();
    b_before.sort();
    assert_eq!(b_after, b_before, "responder side keeps its CPUs too");
    assert!(installs(&eb).iter().all(|i| i.per_cpu));
}

#[test]
fn rekey_request_carries_no_sa_resource_info() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.acquire(Side::A, 1, Some(1), 2);
    p.drive();
    let ike = p.a.established()[0];
    let (old, _, _) =
        *p.a.child_sas(ike)
            .iter()
            .find(|c| c.2.is_some())
            .expect("cpu SA");
    let sa = p.a_sa(ike);
    let mut ctx_out = crate::ike_sa::Outputs::default();
    let crypto = crate::crypto::CryptoProvider::seeded(3);
    let cfg = p.a.config().clone();
    let conns = crate::connections::Connections::default();
    let mut ctx = crate::ike_sa::Ctx {
        cfg: &cfg,
        conns: &conns,
        crypto: &crypto,
        out: &mut ctx_out,
        wall: None,
    };
    let mut sa = sa;
    let (rekey, _) = sa
        .build_child_request(&mut ctx, 0, Some(CpuId(1)), None, Some(old), false)
        .expect("rekey");
    let (create, _) = sa
        .build_child_request(&mut ctx, 0, Some(CpuId(1)), None, None, false)
        .expect("create");
    let has = |v: &[Payload]| {
        v.iter()
            .any(|x| matches!(x, Payload::Notify(n) if n.ty == NotifyType::SA_RESOURCE_INFO))
    };
    assert!(!has(&rekey));
    assert!(
        rekey
            .iter()
            .any(|x| matches!(x, Payload::Notify(n) if n.ty == NotifyType::REKEY_SA))
    );
    assert!(has(&create));
}

#[test]
fn delete_then_reacquire_recreates() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.acquire(Side::A, 1, Some(2), 2);
    p.drive();
    let ike = p.a.established()[0];
    let (cpu2, _, _) =
        *p.a.child_sas(ike)
            .iter()
            .find(|c| c.2 == Some(CpuId(2)))
            .expect("cpu2");
    p.take(Side::A);
    p.a.delete_child(p.time, cpu2).expect("delete");
    p.drive();
    let ea = p.take(Side::A);
    assert!(ea.iter().any(|e| matches!(
        e,
        Event::ChildSaDeleted {
            resource: Some(CpuId(2)),
            ..
        }
    )));
    p.acquire(Side::A, 1, Some(2), 3);
    p.drive();
    assert_eq!(cpus_of(&p.take(Side::A)), vec![Some(2)]);
    // The peer deletes the fallback: the next acquire recreates it first.
    let bike = p.b.established()[0];
    let (fb, _, _) =
        *p.b.child_sas(bike)
            .iter()
            .find(|c| c.2.is_none())
            .expect("fallback");
    p.b.delete_child(p.time, fb).expect("delete");
    p.drive();
    assert!(p.a.child_sas(ike).iter().all(|c| c.2.is_some()));
    p.take(Side::A);
    p.take(Side::B);
    p.acquire(Side::A, 1, Some(0), 4);
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(cpus_of(&ea), vec![None]);
    assert_eq!(
        cpus_of(&eb),
        vec![None],
        "responder makes it its fallback again"
    );
}

#[test]
fn simultaneous_acquires_on_both_sides() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    p.take(Side::A);
    p.take(Side::B);
    // Both peers see traffic on two CPUs at the same instant.
    p.acquire(Side::A, 1, Some(0), 2);
    p.acquire(Side::A, 1, Some(1), 3);
    p.acquire(Side::B, 1, Some(0), 2);
    p.acquire(Side::B, 1, Some(1), 3);
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    // Four new SAs on each side: two requested by A, two by B, never treated as duplicates.
    assert_eq!(installs(&ea).len(), 4, "{ea:?}");
    assert_eq!(installs(&eb).len(), 4);
    assert_eq!(count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. })), 0);
    let ike = p.a.established()[0];
    assert_eq!(p.a.child_sas(ike).len(), 5);
}

#[test]
fn ike_rekey_keeps_the_group() {
    let (a, b) = per_cpu_configs();
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive();
    for (seq, cpu) in [(2, 0), (3, 1)] {
        p.acquire(Side::A, 1, Some(cpu), seq);
    }
    p.drive();
    let ike = p.a.established()[0];
    let before = p.a.child_sas(ike);
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive();
    let new = p.a.established()[0];
    assert_ne!(new, ike);
    assert_eq!(p.a.child_sas(new), before);
    // The group state moved too: existing CPUs are ignored, new ones are created.
    let n = p.log.len();
    p.acquire(Side::A, 1, Some(1), 4);
    p.drive();
    assert_eq!(p.log.len(), n);
    p.take(Side::A);
    p.acquire(Side::A, 1, Some(2), 5);
    p.drive();
    assert_eq!(cpus_of(&p.take(Side::A)), vec![Some(2)]);
    // Per-CPU SAs rekey fine over the new IKE SA and keep their CPU.
    let (c, _, cpu) = p.a.child_sas(new)[1];
    p.a.rekey_child(p.time, c).expect("rekey");
    p.drive();
    assert_eq!(cpus_of(&p.take(Side::A)), vec![cpu.map(|c| c.0)]);
}

#[test]
fn encap_mode_gives_random_source_ports_for_per_cpu_sas() {
    let (mut a, mut b) = per_cpu_configs();
    a.connections[0].children[0].per_cpu = PerCpu::Encap;
    a.connections[0].force_encap = true;
    b.connections[0].remote = None;
    let mut p = Pair::new(a, b);
    p.acquire(Side::A, 1, None, 1);
    p.drive_for(Duration::from_secs(1));
    p.acquire(Side::A, 1, Some(0), 2);
    p.drive_for(Duration::from_secs(1));
    let ea = p.take(Side::A);
    let i = installs(&ea);
    assert_eq!(
        i[0].encap.expect("encap").local_port,
        4500,
        "fallback keeps 4500"
    );
    let port = i[1].encap.expect("encap").local_port;
    assert!(
        port >= 0xc000,
        "per-CPU SA gets a port in 49152..=65535, got {port}"
    );
}

/// RFC 9611 §4.1 / SPEC.md §1.2: protocol 0, SPI size 0, type 16444, data = CPU id
/// (4 bytes, network order) or nothing; TS_MAX_QUEUE (48) has no data.
#[test]
fn notify_bytes_match_strongswan() {
    let enc = |n: Notify| {
        let mut v = Vec::new();
        n.encode(&mut v);
        v
    };
    assert_eq!(
        enc(Notify::new(
            NotifyType::SA_RESOURCE_INFO,
            resource_info_data(Some(CpuId(1)))
        )),
        vec![0x00, 0x00, 0x40, 0x3c, 0x00, 0x00, 0x00, 0x01]
    );
    assert_eq!(
        enc(Notify::new(
            NotifyType::SA_RESOURCE_INFO,
            resource_info_data(None)
        )),
        vec![0x00, 0x00, 0x40, 0x3c]
    );
    assert_eq!(
        enc(Notify::new(NotifyType::TS_MAX_QUEUE, Vec::new())),
        vec![0x00, 0x00, 0x00, 0x30]
    );
    // As a payload in a chain: generic header with length 12 / 8.
    let mut chain = Vec::new();
    crate::wire::payload::encode_chain(
        &[Payload::Notify(Notify::new(
            NotifyType::SA_RESOURCE_INFO,
            resource_info_data(Some(CpuId(1))),
        ))],
        &mut chain,
    );
    assert_eq!(
        chain,
        vec![
            0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x40, 0x3c, 0x00, 0x00, 0x00, 0x01
        ]
    );
}

/// The responder's IKE SAs, from its `IkeSaUp` events.
fn b_ike_sas(events: &[Event]) -> Vec<crate::ids::IkeSaId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaUp { ike, .. } => Some(*ike),
            _ => None,
        })
        .collect()
}

#[test]
fn an_acquire_naming_its_ike_sa_is_negotiated_there() {
    let (mut a, b) = per_cpu_configs();
    // Two IKE SAs of one connection: no INITIAL_CONTACT to close the first.
    a.connections[0].initial_contact = false;
    let mut p = Pair::new(a, b);
    p.connect();
    p.connect();
    let eb = p.take(Side::B);
    let sas = b_ike_sas(&eb);
    assert_eq!(sas.len(), 2, "two IKE SAs of one connection on B");
    p.take(Side::A);
    // A per-CPU acquire of the older IKE SA's selectors goes there, not to
    // the newest IKE SA of the connection.
    let now = p.time;
    p.b.handle_kernel(
        now,
        crate::endpoint::KernelEvent::Acquire {
            reqid: 1,
            cpu: Some(1),
            seq: 3,
            ike: Some(sas[0]),
        },
    );
    p.drive();
    let eb = p.take(Side::B);
    let new = installs(&eb);
    assert_eq!(new.len(), 1, "one per-CPU Child SA");
    assert_eq!((new[0].ike, new[0].resource), (sas[0], Some(CpuId(1))));
    // Without the hint, the newest established IKE SA of the connection.
    p.acquire(Side::B, 1, Some(0), 4);
    p.drive();
    let eb = p.take(Side::B);
    assert_eq!(installs(&eb)[0].ike, sas[1]);
}
