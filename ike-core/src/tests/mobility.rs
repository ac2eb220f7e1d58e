//! A peer whose NAT mapping changes keeps its IKE SA (RFC 7296 §2.23), from
//! an authenticated IKE message or the kernel's XFRM_MSG_MAPPING; a
//! connection updated in place applies to the next rekey of running SAs.

use std::net::SocketAddr;
use std::time::Duration;

use super::util::{Pair, Side, configs, count, installs};
use crate::endpoint::KernelEvent;
use crate::event::Event;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn moves(events: &[Event]) -> Vec<(SocketAddr, SocketAddr)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaMoved { old, remote, .. } => Some((*old, *remote)),
            _ => None,
        })
        .collect()
}

/// A behind a NAT at 192.0.2.1 (IKE from port 1025 once on 4500), up.
fn natted() -> Pair {
    let (a, mut b) = configs();
    b.connections[0].remote = None;
    let mut p = Pair::new(a, b);
    p.nat = Some(addr("192.0.2.1:1024"));
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    assert!(p.a.is_established(ike));
    p
}

#[test]
fn an_authenticated_message_from_a_new_nat_port_moves_the_peer_and_later_child_sas() {
    let mut p = natted();
    let ea = p.take(Side::A);
    let eb = p.take(Side::B);
    assert_eq!(installs(&eb)[0].encap.expect("encap").remote_port, 1025);
    // The NAT forgets A's mapping: A's next message comes from port 2001.
    p.nat = Some(addr("192.0.2.1:2000"));
    let child = installs(&ea)[0].child;
    p.a.rekey_child(p.time, child).expect("rekey");
    p.drive_for(Duration::from_secs(1));
    let eb = p.take(Side::B);
    assert_eq!(
        moves(&eb),
        vec![(addr("192.0.2.1:1025"), addr("192.0.2.1:2001"))]
    );
    let rekeyed = eb
        .iter()
        .find_map(|e| match e {
            Event::ChildSaRekeyed { new, .. } => Some(new),
            _ => None,
        })
        .expect("the rekey went through the new mapping");
    assert_eq!(rekeyed.remote, addr("192.0.2.1:2001"));
    assert_eq!(rekeyed.encap.expect("encap").remote_port, 2001);
    // A did not move: B's address is unchanged.
    assert!(moves(&p.take(Side::A)).is_empty());
}

#[test]
fn a_kernel_mapping_event_moves_only_an_ike_sa_over_nat_t() {
    let mut p = natted();
    p.take(Side::A);
    let eb = p.take(Side::B);
    let spi_in = installs(&eb)[0].spi_in;
    p.b.handle_kernel(
        p.time,
        KernelEvent::Mapping {
            spi: spi_in,
            remote: addr("192.0.2.1:3000"),
        },
    );
    p.drive_for(Duration::from_millis(10));
    assert_eq!(
        moves(&p.take(Side::B)),
        vec![(addr("192.0.2.1:1025"), addr("192.0.2.1:3000"))]
    );
    // The same mapping again is no move; an unknown SPI is ignored.
    for spi in [spi_in, crate::ids::Spi(0x1234_5678)] {
        p.b.handle_kernel(
            p.time,
            KernelEvent::Mapping {
                spi,
                remote: addr("192.0.2.1:3000"),
            },
        );
    }
    assert!(moves(&p.take(Side::B)).is_empty());

    // Without NAT-T, a mapping report changes nothing.
    let (a, b) = configs();
    let mut q = Pair::new(a, b);
    q.connect();
    let eb = q.take(Side::B);
    q.b.handle_kernel(
        q.time,
        KernelEvent::Mapping {
            spi: installs(&eb)[0].spi_in,
            remote: addr("10.0.0.1:4501"),
        },
    );
    q.drive_for(Duration::from_millis(10));
    assert!(moves(&q.take(Side::B)).is_empty());
}

/// Child SA rekeys A started within 170 s, with A's child rekeying every
/// 100 s, optionally updated in place to every 30 s right after start.
fn rekeys_with(update: bool) -> usize {
    let (mut a, b) = configs();
    let ch = &mut a.connections[0].children[0];
    (ch.rekey_time, ch.life_time, ch.rekey_jitter) = (
        Duration::from_secs(100),
        Duration::from_secs(110),
        Duration::ZERO,
    );
    let mut p = Pair::new(a.clone(), b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    if update {
        let id = p.a.connection("net").expect("conn");
        let mut new = a.connections[0].clone();
        new.children[0].rekey_time = Duration::from_secs(30);
        new.children[0].life_time = Duration::from_secs(33);
        p.a.update_connection(id, new).expect("update");
    }
    p.take(Side::A);
    p.drive_for(Duration::from_secs(170));
    assert!(p.a.is_established(ike), "the IKE SA stays up");
    let ea = p.take(Side::A);
    assert_eq!(
        count(&ea, |e| matches!(e, Event::ChildSaDeleted { .. }))
            - count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. })),
        0,
        "no Child SA went without a successor"
    );
    count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. }))
}

#[test]
fn an_updated_connection_applies_from_the_next_rekey_of_running_sas() {
    // The running Child SA keeps its 100 s timer; its successor uses 30 s:
    // rekeys at 100, 130 and 160 s instead of only at 100 s.
    assert_eq!(rekeys_with(false), 1);
    assert_eq!(rekeys_with(true), 3);
}

#[test]
fn an_update_that_changes_the_children_is_refused_and_changes_nothing() {
    let (a, b) = configs();
    let mut p = Pair::new(a.clone(), b);
    p.connect();
    let id = p.a.connection("net").expect("conn");
    let mut new = a.connections[0].clone();
    new.children[0].reqid = 9;
    new.dpd_delay = Duration::from_secs(7);
    let e = p.a.update_connection(id, new).expect_err("children differ");
    assert!(e.to_string().contains("replace"), "{e}");
    let cfg = p.a.connection_config(id).expect("still there");
    assert_eq!(cfg.children[0].reqid, 1);
    assert_eq!(cfg.dpd_delay, a.connections[0].dpd_delay);
}
