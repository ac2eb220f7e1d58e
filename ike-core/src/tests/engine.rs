//! One endpoint for every connection: routing by address and identity,
//! connections added, replaced and removed at run time, half-open expiry,
//! unique inbound SPIs and a non-standard NAT-T port.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::util::{Pair, Side, child, configs, installs};
use crate::config::{ConnectionConfig, EndpointConfig, Identity, Psk};
use crate::error::Error;
use crate::event::Event;
use crate::ids::Spi;

fn conn(
    name: &str,
    local: &str,
    remote: &str,
    ids: (&str, &str),
    psk: &[u8],
    reqid: u32,
    ts: (&str, &str),
) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(
        name,
        local.parse().expect("addr"),
        Identity::Fqdn(ids.0.into()),
        Psk::new(psk.to_vec()),
    );
    c.remote = Some(remote.parse().expect("addr"));
    c.remote_id = Some(Identity::Fqdn(ids.1.into()));
    c.ike_proposals = configs().0.connections[0].ike_proposals.clone();
    c.children = vec![child(name, reqid, ts.0, ts.1, "aes128gcm16")];
    c
}

fn empty(sizes: &[(&'static str, usize)]) -> bool {
    sizes.iter().all(|(_, n)| *n == 0)
}

fn ups(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaUp { connection, .. } => Some(connection.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn two_connections_to_one_peer_address_are_told_apart_by_identity() {
    let (a_addr, b_addr) = ("10.0.0.1:500", "10.0.0.2:500");
    let a = EndpointConfig {
        connections: vec![
            conn(
                "alice",
                a_addr,
                b_addr,
                ("alice", "b"),
                b"k-alice",
                1,
                ("192.168.1.0/24", "192.168.2.0/24"),
            ),
            conn(
                "bob",
                a_addr,
                b_addr,
                ("bob", "b"),
                b"k-bob",
                2,
                ("192.168.3.0/24", "192.168.2.0/24"),
            ),
        ],
        ..EndpointConfig::default()
    };
    let b = EndpointConfig {
        connections: vec![
            conn(
                "from-alice",
                b_addr,
                a_addr,
                ("b", "alice"),
                b"k-alice",
                1,
                ("192.168.2.0/24", "192.168.1.0/24"),
            ),
            conn(
                "from-bob",
                b_addr,
                a_addr,
                ("b", "bob"),
                b"k-bob",
                2,
                ("192.168.2.0/24", "192.168.3.0/24"),
            ),
        ],
        ..EndpointConfig::default()
    };
    let mut p = Pair::new(a, b);
    let now = p.time;
    p.a.initiate(now, "alice").expect("alice");
    p.a.initiate(now, "bob").expect("bob");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let mut got = ups(&eb);
    got.sort();
    assert_eq!(got, ["from-alice", "from-bob"], "{eb:?}");
    assert_eq!(ups(&ea).len(), 2, "{ea:?}");
    let mut remote_ts: Vec<String> = installs(&eb)
        .iter()
        .map(|i| format!("{:?}", i.remote_ts[0].start))
        .collect();
    remote_ts.sort();
    assert_eq!(remote_ts, ["192.168.1.0", "192.168.3.0"]);
}

#[test]
fn removing_a_connection_closes_its_sas_and_leaves_nothing_behind() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    p.connect();
    p.take(Side::A);
    p.take(Side::B);
    let id = p.a.connection("net").expect("conn");
    let now = p.time;
    p.a.remove_connection(now, id).expect("remove");
    assert!(p.a.remove_connection(now, id).is_err(), "already gone");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    for ev in [&ea, &eb] {
        assert!(
            ev.iter().any(|e| matches!(e, Event::ChildSaDeleted { .. })),
            "{ev:?}"
        );
        assert!(
            ev.iter().any(|e| matches!(e, Event::IkeSaDown { .. })),
            "{ev:?}"
        );
    }
    assert!(empty(&p.a.table_sizes()), "{:?}", p.a.table_sizes());
    assert!(empty(&p.b.table_sizes()), "{:?}", p.b.table_sizes());
    // Its traps are gone with it: an acquire for its reqid starts nothing.
    p.acquire(Side::A, 1, None, 7);
    assert!(p.a.poll_transmit(p.time).is_none());
    assert!(p.a.initiate(p.time, "net").is_err());
}

#[test]
fn a_replaced_connection_keeps_its_running_sa_and_applies_to_new_ones() {
    let (a, b) = configs();
    let mut p = Pair::new(a.clone(), b);
    let ike = p.connect();
    p.take(Side::A);
    let id = p.a.connection("net").expect("conn");
    let mut changed = a.connections[0].clone();
    changed.remote = Some("10.0.0.9:500".parse().expect("addr"));
    p.a.replace_connection(id, changed).expect("replace");
    assert_eq!(p.a.connection("net"), Some(id), "same id");
    assert!(p.a.is_established(ike), "the running SA stays");
    p.drive_for(Duration::from_secs(5));
    assert!(p.take(Side::A).is_empty());
    let now = p.time;
    p.a.initiate(now, "net").expect("initiate");
    let t = p.a.poll_transmit(now).expect("IKE_SA_INIT");
    assert_eq!(
        t.remote,
        "10.0.0.9:500".parse::<SocketAddr>().expect("addr")
    );
}

#[test]
fn an_expired_half_open_sa_is_reported_and_forgotten() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    // B's answers never arrive: B keeps a half-open SA until it expires.
    p.filter = Some(Box::new(|from, _| from == Side::A));
    p.a.initiate(p.time, "net").expect("initiate");
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.b.ike_sa_count(), 1);
    assert!(!empty(&p.b.table_sizes()));
    p.drive_for(Duration::from_secs(25));
    let eb = p.take(Side::B);
    assert!(
        matches!(eb.as_slice(), [Event::HalfOpenClosed { remote, .. }] if remote.ip() == p.a_addr.ip()),
        "{eb:?}"
    );
    assert!(empty(&p.b.table_sizes()), "{:?}", p.b.table_sizes());
}

/// Tracks what A has installed: no inbound SPI is installed twice while live.
fn check_unique(events: &[Event], live: &mut HashSet<Spi>) {
    for e in events {
        match e {
            Event::ChildSaReady(i) | Event::ChildSaRekeyed { new: i, .. } => {
                assert!(live.insert(i.spi_in), "SPI {} installed twice", i.spi_in);
                assert!((0xc000_0000..=0xc000_0003).contains(&i.spi_in.0));
            }
            Event::ChildSaDeleted { spi_in, .. } => {
                live.remove(spi_in);
            }
            _ => {}
        }
    }
}

#[test]
fn inbound_spis_stay_unique_in_a_tiny_range() {
    let (mut a, mut b) = configs();
    a.esp_spis = 0xc000_0000..=0xc000_0003;
    b.esp_spis = 0xc000_0000..=0xc000_0003;
    for (i, (l, r)) in [
        ("192.168.5.0/24", "192.168.6.0/24"),
        ("192.168.7.0/24", "192.168.8.0/24"),
    ]
    .into_iter()
    .enumerate()
    {
        let reqid = u32::try_from(i).expect("i") + 2;
        a.connections[0]
            .children
            .push(child(&format!("c{reqid}"), reqid, l, r, "aes128gcm16"));
        b.connections[0]
            .children
            .push(child(&format!("c{reqid}"), reqid, r, l, "aes128gcm16"));
    }
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let mut live = HashSet::new();
    let ea = p.take(Side::A);
    check_unique(&ea, &mut live);
    assert_eq!(live.len(), 3, "{ea:?}");
    for _ in 0..6 {
        for (child, _, _) in p.a.child_sas(ike) {
            let now = p.time;
            p.a.rekey_child(now, child).expect("rekey");
            p.drive();
            check_unique(&p.take(Side::A), &mut live);
            assert_eq!(live.len(), 3);
        }
    }
}

#[test]
fn a_full_spi_range_fails_the_child_cleanly() {
    let (mut a, b) = configs();
    a.esp_spis = 0xc000_0000..=0xc000_0000;
    a.connections[0].children.push(child(
        "more",
        2,
        "192.168.5.0/24",
        "192.168.2.0/24",
        "aes128gcm16",
    ));
    let mut p = Pair::new(a, b);
    p.connect();
    let ea = p.take(Side::A);
    assert_eq!(installs(&ea).len(), 1, "{ea:?}");
    assert!(
        ea.iter().any(|e| matches!(e, Event::ChildSaFailed { name, reason: Error::LocalLimit(_), .. } if name == "more")),
        "{ea:?}"
    );
}

#[test]
fn a_non_standard_nat_port_works_both_ways() {
    let (mut a, mut b) = configs();
    a.nat_port = 14500;
    b.nat_port = 14500;
    a.connections[0].force_encap = true;
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    assert!(p.a.is_established(ike));
    let auth: Vec<_> = p
        .log
        .iter()
        .filter(|(_, t)| t.data.len() > 22 && t.data[22] == 35)
        .collect();
    assert!(!auth.is_empty(), "IKE_AUTH went with the non-ESP marker");
    for (_, t) in &auth {
        assert_eq!((t.local.port(), t.remote.port()), (14500, 14500));
        assert_eq!(&t.data[..4], &[0, 0, 0, 0]);
    }
    let ea = p.take(Side::A);
    let encap = installs(&ea)[0].encap.expect("ESP-in-UDP");
    assert_eq!((encap.local_port, encap.remote_port), (14500, 14500));
}
