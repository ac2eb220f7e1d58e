//! A peer deletes one Child SA on its own (RFC 7296 §1.4.1): the child's
//! `close_action` applies as in charon's child_delete.c; a rekey's Delete of
//! the old SA takes none. Per-CPU SAs (RFC 9611) come back for their own CPU.

use super::util::{Pair, Side, configs, count, installs};
use crate::config::{EndpointConfig, PerCpu};
use crate::event::Event;
use crate::ids::{ChildSaId, CpuId};
use crate::recovery::Action;

/// Configs whose B side has `close_action` set; `per_cpu` on both sides.
fn close_configs(b_close: Action, per_cpu: bool) -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    b.connections[0].children[0].close_action = b_close;
    if per_cpu {
        a.connections[0].children[0].per_cpu = PerCpu::Yes;
        b.connections[0].children[0].per_cpu = PerCpu::Yes;
    }
    (a, b)
}

/// The `closed_by_peer` of every ChildSaDeleted among `events`.
fn closes(events: &[Event]) -> Vec<Option<Action>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDeleted { closed_by_peer, .. } => Some(*closed_by_peer),
            _ => None,
        })
        .collect()
}

/// A deletes its only Child SA; returns B's events.
fn a_deletes_the_child(p: &mut Pair) -> Vec<Event> {
    let ike = p.a.established()[0];
    let (child, _, _) = p.a.child_sas(ike)[0];
    p.a.delete_child(p.time, child).expect("delete child");
    p.drive();
    assert_eq!(closes(&p.take(Side::A)), vec![None], "A's own delete");
    p.take(Side::B)
}

#[test]
fn close_action_none_leaves_the_child_gone() {
    let (a, b) = close_configs(Action::None, false);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let eb = a_deletes_the_child(&mut p);
    assert_eq!(closes(&eb), vec![Some(Action::None)]);
    assert!(installs(&eb).is_empty());
    assert!(p.a.child_sas(ike).is_empty());
    assert!(p.b.child_sas(p.b.established()[0]).is_empty());
    assert!(p.a.is_established(ike), "the IKE SA stays");
}

#[test]
fn close_action_trap_is_reported_and_creates_nothing() {
    let (a, b) = close_configs(Action::Trap, false);
    let mut p = Pair::new(a, b);
    p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let sent = p.log.len();
    let eb = a_deletes_the_child(&mut p);
    assert_eq!(closes(&eb), vec![Some(Action::Trap)]);
    assert!(installs(&eb).is_empty());
    assert_eq!(p.log.len(), sent + 2, "only the Delete and its response");
    // The trap's acquire brings it back on the same IKE SA.
    let bike = p.b.established()[0];
    p.acquire(Side::B, 1, None, 7);
    p.drive();
    let eb = p.take(Side::B);
    assert_eq!(installs(&eb).len(), 1);
    assert_eq!(installs(&eb)[0].ike, bike);
    assert_eq!(installs(&eb)[0].acquire_seq, Some(7));
}

#[test]
fn close_action_start_creates_it_again_on_the_same_ike_sa() {
    let (a, b) = close_configs(Action::Restart, false);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let bike = p.b.established()[0];
    let old_spi = p.b.child_sas(bike)[0].1;
    let eb = a_deletes_the_child(&mut p);
    assert_eq!(closes(&eb), vec![Some(Action::Restart)]);
    let new = installs(&eb);
    assert_eq!(new.len(), 1, "{eb:?}");
    assert_eq!((new[0].ike, new[0].name.as_str()), (bike, "net"));
    assert_ne!(new[0].spi_in, old_spi);
    assert_eq!(p.b.child_sas(bike).len(), 1);
    assert_eq!(p.a.child_sas(ike).len(), 1);
    assert_eq!((p.a.ike_sa_count(), p.b.ike_sa_count()), (1, 1));
}

#[test]
fn a_rekey_delete_takes_no_close_action() {
    let (a, b) = close_configs(Action::Restart, false);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let (child, _, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, child).expect("rekey");
    p.drive();
    let eb = p.take(Side::B);
    assert_eq!(
        closes(&eb),
        vec![None],
        "the old SA's delete ends the rekey"
    );
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaRekeyed { .. })), 1);
    assert_eq!(count(&eb, |e| matches!(e, Event::ChildSaReady(_))), 0);
    assert_eq!(p.b.child_sas(p.b.established()[0]).len(), 1);
}

/// One SA pair of a group: each side's Child SA and CPU.
#[derive(Clone, Copy, Debug)]
struct PairSa {
    a: ChildSaId,
    a_cpu: Option<CpuId>,
    b: ChildSaId,
    b_cpu: Option<CpuId>,
}

/// A per-CPU group from A's acquires: the fallback, then CPUs 0..=3.
fn per_cpu_group(p: &mut Pair) -> Vec<PairSa> {
    p.acquire(Side::A, 1, Some(0), 1);
    p.drive();
    for (seq, cpu) in [(2, 0), (3, 1), (4, 2), (5, 3)] {
        p.acquire(Side::A, 1, Some(cpu), seq);
    }
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let out: Vec<PairSa> = installs(&ea)
        .iter()
        .map(|x| {
            let y = installs(&eb)
                .into_iter()
                .find(|y| y.spi_in == x.spi_out)
                .expect("B's side of the pair");
            PairSa {
                a: x.child,
                a_cpu: x.resource,
                b: y.child,
                b_cpu: y.resource,
            }
        })
        .collect();
    assert_eq!(out.len(), 5);
    out
}

/// B's CPUs of its live Child SAs, sorted.
fn b_cpus(p: &Pair) -> Vec<Option<CpuId>> {
    let mut v: Vec<_> =
        p.b.child_sas(p.b.established()[0])
            .iter()
            .map(|c| c.2)
            .collect();
    v.sort();
    v
}

#[test]
fn start_brings_back_only_the_deleted_per_cpu_sa_for_its_cpu() {
    let (a, b) = close_configs(Action::Restart, true);
    let mut p = Pair::new(a, b);
    let group = per_cpu_group(&mut p);
    let before = b_cpus(&p);
    let victim = group
        .iter()
        .find(|s| s.b_cpu.is_some())
        .copied()
        .expect("a per-CPU SA");
    p.a.delete_child(p.time, victim.a).expect("delete");
    p.drive();
    let eb = p.take(Side::B);
    assert_eq!(closes(&eb), vec![Some(Action::Restart)]);
    let new = installs(&eb);
    assert_eq!(new.len(), 1, "only the deleted CPU's SA: {eb:?}");
    assert_eq!(new[0].resource, victim.b_cpu);
    assert!(new[0].per_cpu);
    assert_ne!(new[0].child, victim.b);
    assert_eq!(b_cpus(&p), before, "the group is whole again");
    assert_eq!(p.a.child_sas(p.a.established()[0]).len(), 5);
}

#[test]
fn the_fallback_sa_comes_back_as_the_fallback() {
    let (a, b) = close_configs(Action::Restart, true);
    let mut p = Pair::new(a, b);
    let group = per_cpu_group(&mut p);
    let fallback = group
        .iter()
        .find(|s| s.b_cpu.is_none())
        .copied()
        .expect("the fallback");
    assert_eq!(fallback.a_cpu, None);
    p.a.delete_child(p.time, fallback.a).expect("delete");
    p.drive();
    let eb = p.take(Side::B);
    assert_eq!(closes(&eb), vec![Some(Action::Restart)]);
    let new = installs(&eb);
    assert_eq!(new.len(), 1, "{eb:?}");
    assert_eq!((new[0].resource, new[0].per_cpu), (None, true));
    assert_eq!(p.b.child_sas(p.b.established()[0]).len(), 5);
}

#[test]
fn trap_leaves_a_per_cpu_sa_to_its_cpu_acquire() {
    let (mut a, b) = close_configs(Action::None, true);
    a.connections[0].children[0].close_action = Action::Trap;
    let mut p = Pair::new(a, b);
    let group = per_cpu_group(&mut p);
    let ike = p.a.established()[0];
    let victim = group
        .iter()
        .find(|s| s.a_cpu == Some(CpuId(1)))
        .copied()
        .expect("A's CPU 1 SA");
    p.b.delete_child(p.time, victim.b).expect("delete");
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(closes(&ea), vec![Some(Action::Trap)]);
    assert!(installs(&ea).is_empty(), "nothing until traffic");
    assert_eq!(p.a.child_sas(ike).len(), 4);
    // The kernel's per-CPU acquire for CPU 1 brings it back.
    p.acquire(Side::A, 1, Some(1), 9);
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(installs(&ea).len(), 1);
    assert_eq!(installs(&ea)[0].resource, Some(CpuId(1)));
    assert_eq!(p.a.child_sas(ike).len(), 5);
}

#[test]
fn start_on_the_initiator_brings_back_its_cpu() {
    let (mut a, b) = close_configs(Action::None, true);
    a.connections[0].children[0].close_action = Action::Restart;
    let mut p = Pair::new(a, b);
    let group = per_cpu_group(&mut p);
    let ike = p.a.established()[0];
    let victim = group
        .iter()
        .find(|s| s.a_cpu == Some(CpuId(3)))
        .copied()
        .expect("A's CPU 3 SA");
    p.b.delete_child(p.time, victim.b).expect("delete");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(closes(&ea), vec![Some(Action::Restart)]);
    assert_eq!(closes(&eb), vec![None], "B deleted it itself");
    let new = installs(&ea);
    assert_eq!(new.len(), 1, "{ea:?}");
    assert_eq!((new[0].resource, new[0].ike), (Some(CpuId(3)), ike));
    assert_eq!(installs(&eb).len(), 1);
}
