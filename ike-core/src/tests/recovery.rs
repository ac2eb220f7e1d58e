//! Dead peers and revival: `dpd_timeout` ends a liveness check early, and the
//! [`crate::recovery`] scheduler brings a rebooted peer's tunnel back with
//! every per-CPU child (RFC 7296 §2.4, RFC 9611).

use std::time::Duration;

use super::util::{Pair, Side, child, configs, installs};
use crate::config::{EndpointConfig, PerCpu, PerCpuMode};
use crate::crypto::CryptoProvider;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::event::Event;
use crate::ids::{CpuId, IkeSaId};
use crate::recovery::{Action, Cause, ChildActions, Decision, Policy, Recovery, split};
use crate::timer::RetransmitConfig;

fn per_cpu_precreate() -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    for c in [&mut a, &mut b] {
        c.connections[0].children[0].per_cpu = PerCpu::Yes;
    }
    a.connections[0].children[0].per_cpu_mode = PerCpuMode::Precreate(vec![CpuId(0), CpuId(1)]);
    a.connections[0].dpd_delay = Duration::from_secs(5);
    a.connections[0].dpd_timeout = Duration::from_secs(6);
    (a, b)
}

/// Runs in 100 ms steps until A reports its IKE SA down; returns the reason
/// and the time it took.
fn until_down(p: &mut Pair, limit: Duration) -> Option<(Error, Duration)> {
    let t0 = p.time;
    while p.time - t0 < limit {
        p.drive_for(Duration::from_millis(100));
        for e in p.take(Side::A) {
            if let Event::IkeSaDown { reason, .. } = e {
                return Some((reason, p.time - t0));
            }
        }
    }
    None
}

/// `Pair::connect` waits for silence, which DPD never gives: run 2 s instead.
fn connect(p: &mut Pair) -> IkeSaId {
    let ike = p.a.initiate(p.time, "net").expect("initiate");
    p.drive_for(Duration::from_secs(2));
    assert!(p.a.is_established(ike));
    ike
}

fn cpus(events: &[Event]) -> Vec<Option<u32>> {
    installs(events)
        .iter()
        .map(|i| i.resource.map(|c| c.0))
        .collect()
}

#[test]
fn dpd_timeout_declares_the_peer_dead_before_the_retransmission_budget() {
    let (a, b) = per_cpu_precreate();
    let mut p = Pair::new(a, b);
    let ike = connect(&mut p);
    p.take(Side::A);
    p.filter = Some(Box::new(|from, _| from == Side::A));
    let (reason, took) = until_down(&mut p, Duration::from_secs(60)).expect("declared dead");
    assert_eq!(reason, Error::Timeout);
    // At most 5 s idle, then one check unanswered for 6 s (the budget would be 165 s).
    assert!(took >= Duration::from_secs(6), "{took:?}");
    assert!(took <= Duration::from_secs(12), "{took:?}");
    assert!(!p.a.is_established(ike));
}

#[test]
fn rebooted_peer_comes_back_with_every_per_cpu_child() {
    let (a, b) = per_cpu_precreate();
    let b_cfg = b.clone();
    let mut p = Pair::new(a, b);
    let first = connect(&mut p);
    assert_eq!(cpus(&p.take(Side::A)), vec![None, Some(0), Some(1)]);
    let conn = p.a.conn_of(first).expect("conn");
    // The peer reboots: same config, no state.
    p.b = Endpoint::new(b_cfg, CryptoProvider::seeded(77));
    let (reason, _) = until_down(&mut p, Duration::from_secs(30)).expect("declared dead");
    let policy = Policy {
        dpd_action: Action::Restart,
        keyingtries: 0,
        ..Policy::default()
    };
    let mut rec = Recovery::default();
    let cause = Cause::of(&reason, true);
    assert_eq!(cause, Cause::Dead);
    assert_eq!(
        rec.on_down(&conn, p.time, cause, &policy),
        Decision::Restart { at: p.time }
    );
    let due = rec.poll_due(p.time).expect("due now");
    let again = p.a.initiate_conn(p.time, due).expect("initiate");
    p.drive_for(Duration::from_secs(2));
    assert!(p.a.is_established(again));
    rec.on_up(&conn);
    let ea = p.take(Side::A);
    assert!(ea.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    assert_eq!(
        cpus(&ea),
        vec![None, Some(0), Some(1)],
        "each CPU's SA again"
    );
    assert_eq!(p.a.child_sas(again).len(), 3);
}

#[test]
fn unreachable_peer_is_retried_keyingtries_times_with_backoff() {
    let (mut a, b) = configs();
    a.retransmit = RetransmitConfig {
        timeout: Duration::from_secs(1),
        base: 2.0,
        tries: 1,
    };
    let mut p = Pair::new(a, b);
    p.filter = Some(Box::new(|_, _| false));
    let policy = Policy {
        keyingtries: 3,
        ..Policy::default()
    };
    let mut rec = Recovery::default();
    let mut ike = p.a.initiate(p.time, "net").expect("initiate");
    let conn = p.a.conn_of(ike).expect("conn");
    let mut decisions = Vec::new();
    for _ in 0..3 {
        let (reason, took) = until_down(&mut p, Duration::from_secs(10)).expect("fails");
        assert_eq!(reason, Error::Timeout);
        assert!(took <= Duration::from_millis(3100), "1 s + 2 s: {took:?}");
        let d = rec.on_down(&conn, p.time, Cause::of(&reason, false), &policy);
        decisions.push(d);
        if let Decision::Restart { at } = d {
            p.drive_for(at - p.time);
            let due = rec.poll_due(p.time).expect("due after the backoff");
            ike = p.a.initiate_conn(p.time, due).expect("initiate");
        }
    }
    assert!(matches!(decisions[0], Decision::Restart { .. }));
    assert!(matches!(decisions[1], Decision::Restart { .. }));
    assert_eq!(decisions[2], Decision::GaveUp { attempts: 3 });
    assert!(!p.a.is_established(ike));
}

#[test]
fn initiation_uses_the_routed_source_and_the_chosen_peer_address() {
    let (mut a, b) = configs();
    a.connections[0].local = "0.0.0.0:500".parse().expect("addr");
    a.connections[0].remote = Some("10.9.9.9:500".parse().expect("addr"));
    let mut p = Pair::new(a, b);
    p.a_addr = "10.0.0.1:500".parse().expect("addr");
    let conn = p.a.connection("net").expect("conn");
    let from = "10.0.0.1".parse().ok();
    let to = "10.0.0.2:500".parse().ok();
    let ike =
        p.a.initiate_conn_to(p.time, conn, from, to)
            .expect("initiate");
    p.drive();
    assert!(p.a.is_established(ike));
    let info = p.a.ike_sa_info(ike).expect("info");
    assert_eq!(info.local, "10.0.0.1:500".parse().expect("addr"));
    assert_eq!(info.remote, "10.0.0.2:500".parse().expect("addr"));
    let ea = p.take(Side::A);
    let i = installs(&ea);
    assert_eq!(i.len(), 1);
    assert!(i[0].encap.is_none(), "NAT detection saw our real address");
    assert_eq!(i[0].local, "10.0.0.1:500".parse().expect("addr"));
}

/// Two children of one connection: `web` (dpd_action restart, close_action
/// none) and `db` (dpd_action trap, close_action restart).
fn two_children() -> (EndpointConfig, EndpointConfig, [ChildActions; 2]) {
    let (mut a, mut b) = configs();
    a.connections[0].children.push(child(
        "db",
        2,
        "192.168.11.0/24",
        "192.168.12.0/24",
        "aes128gcm16",
    ));
    b.connections[0].children.push(child(
        "db",
        2,
        "192.168.12.0/24",
        "192.168.11.0/24",
        "aes128gcm16",
    ));
    a.connections[0].dpd_delay = Duration::from_secs(5);
    a.connections[0].dpd_timeout = Duration::from_secs(6);
    let actions = [
        ChildActions {
            dpd: Action::Restart,
            close: Action::None,
        },
        ChildActions {
            dpd: Action::Trap,
            close: Action::Restart,
        },
    ];
    (a, b, actions)
}

fn names(events: &[Event]) -> Vec<String> {
    installs(events).iter().map(|i| i.name.clone()).collect()
}

#[test]
fn after_a_dead_peer_only_the_restart_child_comes_back() {
    let (a, b, actions) = two_children();
    let b_cfg = b.clone();
    let mut p = Pair::new(a, b);
    let first = connect(&mut p);
    assert_eq!(names(&p.take(Side::A)), ["net", "db"]);
    let conn = p.a.conn_of(first).expect("conn");
    p.b = Endpoint::new(b_cfg, CryptoProvider::seeded(78));
    let (reason, _) = until_down(&mut p, Duration::from_secs(30)).expect("declared dead");
    let cause = Cause::of(&reason, true);
    let s = split(cause, &actions);
    assert_eq!(
        (s.restart.as_slice(), s.trap.as_slice()),
        (&[0][..], &[1][..])
    );
    let policy = Policy::of_children(&actions, 0);
    let mut rec = Recovery::default();
    assert_eq!(
        rec.on_down(&conn, p.time, cause, &policy),
        Decision::Restart { at: p.time }
    );
    let due = rec.poll_due(p.time).expect("due now");
    let again =
        p.a.initiate_children_to(p.time, due, &s.restart, None, None)
            .expect("initiate");
    p.drive_for(Duration::from_secs(2));
    assert!(p.a.is_established(again));
    assert_eq!(names(&p.take(Side::A)), ["net"], "db waits for its trap");
    assert_eq!(p.a.child_sas(again).len(), 1);
}

#[test]
fn after_a_peer_delete_only_the_close_start_child_comes_back() {
    let (a, b, actions) = two_children();
    let mut p = Pair::new(a, b);
    let first = connect(&mut p);
    p.take(Side::A);
    let conn = p.a.conn_of(first).expect("conn");
    let peer = p.b.established().into_iter().next().expect("B's IKE SA");
    p.b.close(p.time, peer).expect("close");
    let (reason, _) = until_down(&mut p, Duration::from_secs(5)).expect("closed");
    let cause = Cause::of(&reason, true);
    assert_eq!(cause, Cause::ClosedByPeer);
    let s = split(cause, &actions);
    assert_eq!(
        (s.restart.as_slice(), s.trap.as_slice()),
        (&[1][..], &[][..])
    );
    let mut rec = Recovery::default();
    let d = rec.on_down(&conn, p.time, cause, &Policy::of_children(&actions, 1));
    assert_eq!(d, Decision::Restart { at: p.time });
    let again =
        p.a.initiate_children_to(p.time, conn, &s.restart, None, None)
            .expect("initiate");
    p.drive_for(Duration::from_secs(2));
    assert!(p.a.is_established(again));
    assert_eq!(names(&p.take(Side::A)), ["db"], "net stays cleared");
}
