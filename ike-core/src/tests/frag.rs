//! IKE fragmentation (RFC 7383) between two engines: negotiation, messages
//! split and reassembled through loss, reordering and duplication, and the
//! bounds on what a peer's fragments can make the responder keep.

use std::net::SocketAddr;
use std::time::Duration;

use super::util::{Pair, Side, configs, count};
use crate::config::{EndpointConfig, Fragmentation};
use crate::event::{Event, Transmit};
use crate::ids::IkeSaId;
use crate::ike_sa::frag::datagram_limit;
use crate::wire::{ExchangeType, NotifyType, PayloadType};

/// Fragment size of the tests: 300 − 28 bytes of IP and UDP per datagram.
const SIZE: usize = 300;

/// A and B with 20 selectors a side (an IKE_AUTH of about 900 bytes, so
/// several fragments at [`SIZE`]).
fn big(a_mode: Fragmentation, b_mode: Fragmentation) -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    let host = |net: u8, i: u8| super::util::ts(&format!("192.168.{net}.{i}/32"));
    for (e, mode, (l, r)) in [(&mut a, a_mode, (1, 2)), (&mut b, b_mode, (2, 1))] {
        e.fragment_size = SIZE;
        let c = &mut e.connections[0];
        c.fragmentation = mode;
        c.children[0].local_ts = (1..=20).map(|i| host(l, i)).collect();
        c.children[0].remote_ts = (1..=20).map(|i| host(r, i)).collect();
        c.children[0].max_policies = 400;
    }
    (a, b)
}

fn is_fragment(t: &Transmit) -> bool {
    t.data.get(16) == Some(&PayloadType::SKF.0)
}

fn is_response(t: &Transmit) -> bool {
    t.data[19] & 0x20 != 0
}

/// (Fragment Number, Total Fragments) of an SKF datagram.
fn numbers(t: &Transmit) -> (u16, u16) {
    let d = &t.data;
    (
        u16::from_be_bytes([d[32], d[33]]),
        u16::from_be_bytes([d[34], d[35]]),
    )
}

/// Fragments `side` put on the wire, as (response?, number, total).
fn sent_fragments(p: &Pair, side: Side) -> Vec<(bool, u16, u16)> {
    p.log
        .iter()
        .filter(|(s, t)| *s == side && is_fragment(t))
        .map(|(_, t)| {
            let (n, total) = numbers(t);
            (is_response(t), n, total)
        })
        .collect()
}

fn announces_fragmentation(init: &Transmit) -> bool {
    crate::wire::Message::decode(&init.data)
        .expect("IKE_SA_INIT decodes")
        .notify(NotifyType::FRAGMENTATION_SUPPORTED)
        .is_some()
}

/// The first IKE_SA_INIT `side` sent.
fn init_of(p: &Pair, side: Side) -> &Transmit {
    &p.log
        .iter()
        .find(|(s, t)| *s == side && t.data[18] == ExchangeType::IKE_SA_INIT.0)
        .expect("IKE_SA_INIT")
        .1
}

fn up(events: &[Event]) -> usize {
    count(events, |e| matches!(e, Event::IkeSaUp { .. }))
}

fn child_ready(events: &[Event]) -> usize {
    count(events, |e| matches!(e, Event::ChildSaReady(_)))
}

#[test]
fn ike_auth_request_and_response_go_in_fragments_and_are_reassembled() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    p.connect();
    assert!(announces_fragmentation(init_of(&p, Side::A)));
    assert!(announces_fragmentation(init_of(&p, Side::B)));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!((up(&ea), up(&eb)), (1, 1), "{ea:?} {eb:?}");
    assert_eq!((child_ready(&ea), child_ready(&eb)), (1, 1), "{ea:?}");
    let limit = datagram_limit(SIZE, p.b_addr, false);
    assert_eq!(limit, 272);
    for side in [Side::A, Side::B] {
        let frags = sent_fragments(&p, side);
        let total = frags[0].2;
        assert!(total >= 3, "{side:?} sent {frags:?}");
        let numbers: Vec<u16> = frags.iter().map(|f| f.1).collect();
        assert_eq!(numbers, (1..=total).collect::<Vec<_>>(), "{side:?}");
        assert!(frags.iter().all(|f| f.0 == (side == Side::B)));
    }
    assert!(p.log.iter().all(|(_, t)| t.data.len() <= limit));
    for ep in [&p.a, &p.b] {
        let s = ep.frag_stats();
        assert_eq!((s.messages_sent, s.messages_reassembled), (1, 1), "{s:?}");
        assert_eq!(s.fragments_dropped, 0);
    }
}

#[test]
fn no_fragments_to_a_peer_that_did_not_announce_them_unless_forced() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::No);
    let mut p = Pair::new(a, b);
    p.connect();
    assert!(!announces_fragmentation(init_of(&p, Side::B)));
    assert!(sent_fragments(&p, Side::A).is_empty());
    assert!(sent_fragments(&p, Side::B).is_empty());
    assert_eq!(up(&p.take(Side::A)), 1);

    // Forced: A fragments anyway and B (set to "no") still reassembles, as
    // strongSwan does; B itself never fragments.
    let (a, b) = big(Fragmentation::Force, Fragmentation::No);
    let mut p = Pair::new(a, b);
    p.connect();
    assert!(!sent_fragments(&p, Side::A).is_empty());
    assert!(sent_fragments(&p, Side::B).is_empty());
    assert_eq!((up(&p.take(Side::A)), up(&p.take(Side::B))), (1, 1));
    assert_eq!(p.b.frag_stats().messages_reassembled, 1);
}

#[test]
fn accept_announces_support_but_sends_whole_messages() {
    let (a, b) = big(Fragmentation::Accept, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    p.connect();
    assert!(announces_fragmentation(init_of(&p, Side::A)));
    assert!(sent_fragments(&p, Side::A).is_empty());
    assert!(
        !sent_fragments(&p, Side::B).is_empty(),
        "B answers in fragments"
    );
    assert_eq!(up(&p.take(Side::A)), 1);

    let (a, b) = big(Fragmentation::No, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    p.connect();
    assert!(!announces_fragmentation(init_of(&p, Side::A)));
    assert!(!announces_fragmentation(init_of(&p, Side::B)));
    assert!(sent_fragments(&p, Side::B).is_empty());
}

#[test]
fn reordered_and_duplicated_fragments_give_one_message() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::with_seed(a, b, 7);
    p.reorder = 1.0;
    p.dup = 1.0;
    p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!((up(&ea), up(&eb)), (1, 1), "{ea:?} {eb:?}");
    assert_eq!((child_ready(&ea), child_ready(&eb)), (1, 1));
    let sa = p.b.frag_stats();
    assert_eq!(sa.messages_reassembled, 1, "{sa:?}");
    assert!(sa.fragments_dropped > 0, "duplicates were dropped: {sa:?}");
    let delivered = p
        .log
        .iter()
        .filter(|(s, t)| *s == Side::A && is_fragment(t))
        .map(|(_, t)| numbers(t))
        .collect::<Vec<_>>();
    assert!(
        delivered.windows(2).any(|w| w[1].0 < w[0].0),
        "fragments arrived out of order: {delivered:?}"
    );
}

/// Drops the first `side` fragment numbered `n` (response or request per `resp`).
fn drop_once(side: Side, resp: bool, n: u16) -> super::util::Filter {
    let mut dropped = false;
    Box::new(move |s, t| {
        let hit =
            s == side && is_fragment(t) && is_response(t) == resp && numbers(t).0 == n && !dropped;
        dropped |= hit;
        !hit
    })
}

#[test]
fn a_lost_request_fragment_is_recovered_by_retransmitting_all() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    p.filter = Some(drop_once(Side::A, false, 2));
    p.connect();
    assert_eq!(up(&p.take(Side::B)), 1);
    let frags = sent_fragments(&p, Side::A);
    let total = frags[0].2;
    // The whole set went twice (the log holds what was delivered).
    assert_eq!(
        frags.iter().filter(|f| !f.0).count(),
        2 * usize::from(total) - 1
    );
    assert_eq!(p.b.frag_stats().messages_reassembled, 1);
}

#[test]
fn a_lost_response_fragment_resends_the_response_once_per_retransmission() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    p.filter = Some(drop_once(Side::B, true, 2));
    p.connect();
    assert_eq!(up(&p.take(Side::A)), 1);
    let resp = sent_fragments(&p, Side::B);
    let total = usize::from(resp[0].2);
    // Answered once, then resent whole for fragment 1 of the retransmitted
    // request only (not once per fragment).
    assert_eq!(resp.len(), 2 * total - 1, "{resp:?}");
    assert_eq!(p.b.frag_stats().messages_reassembled, 1);
}

/// Runs the pair until B holds a half-open SA and A's IKE_AUTH fragments are
/// captured instead of delivered; returns them and B's SA.
fn capture_auth(p: &mut Pair) -> (Vec<Transmit>, IkeSaId) {
    let caught = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = std::rc::Rc::clone(&caught);
    p.filter = Some(Box::new(move |s, t| {
        if s == Side::A && is_fragment(t) {
            sink.borrow_mut().push(t.clone());
            return false;
        }
        true
    }));
    p.a.initiate(p.time, "net").expect("initiate");
    for _ in 0..50 {
        if !caught.borrow().is_empty() {
            break;
        }
        p.step();
    }
    p.filter = None;
    let conn = p.b.connection("net").expect("conn");
    let id = p.b.ike_sas_of(conn)[0];
    let frags = caught.borrow().clone();
    (frags, id)
}

fn feed(p: &mut Pair, t: &Transmit) {
    let src: SocketAddr = t.local;
    p.b.handle_datagram(p.time, src, t.remote, &t.data);
}

#[test]
fn fragments_that_fail_their_icv_or_bounds_are_not_kept() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    let (frags, id) = capture_auth(&mut p);
    assert!(frags.len() >= 3, "{}", frags.len());
    let base = p.b.memory_of(id).expect("half-open SA");

    // A flipped ICV byte: dropped, nothing kept.
    let mut bad = frags[0].clone();
    *bad.data.last_mut().expect("bytes") ^= 1;
    feed(&mut p, &bad);
    assert_eq!(p.b.memory_of(id), Some(base));
    // A forged Total Fragments (in the authenticated header): dropped before
    // decryption when over max_fragments, at the ICV otherwise.
    for total in [u16::MAX, 9] {
        let mut forged = frags[1].clone();
        forged.data[34..36].copy_from_slice(&total.to_be_bytes());
        feed(&mut p, &forged);
        assert_eq!(p.b.memory_of(id), Some(base), "total {total}");
    }
    // Another message ID: not the request B waits for.
    let mut other = frags[0].clone();
    other.data[20..24].copy_from_slice(&5u32.to_be_bytes());
    feed(&mut p, &other);
    assert_eq!(p.b.memory_of(id), Some(base));
    let s = p.b.frag_stats();
    assert_eq!((s.fragments_dropped, s.fragments_received), (4, 0), "{s:?}");

    // The real fragment is kept, a duplicate of it is not.
    feed(&mut p, &frags[0]);
    let one = p.b.memory_of(id).expect("sa");
    assert!(one > base);
    feed(&mut p, &frags[0]);
    assert_eq!(p.b.memory_of(id), Some(one));
    assert_eq!(p.b.frag_stats().fragments_dropped, 5);
    // The rest, last first: the message completes and is handled once.
    for f in frags[1..].iter().rev() {
        feed(&mut p, f);
    }
    p.drive();
    assert_eq!(up(&p.take(Side::A)), 1);
    assert_eq!(up(&p.take(Side::B)), 1);
}

#[test]
fn a_message_over_max_packet_or_max_fragments_is_dropped_and_bounded() {
    for (max_packet, max_fragments) in [(600, 64), (10_000, 2)] {
        let (a, mut b) = big(Fragmentation::Yes, Fragmentation::Yes);
        b.dos.max_packet = max_packet;
        b.dos.max_fragments = max_fragments;
        let mut p = Pair::new(a, b);
        let (frags, id) = capture_auth(&mut p);
        let base = p.b.memory_of(id).expect("sa");
        for f in &frags {
            feed(&mut p, f);
            let held = p.b.memory_of(id).expect("sa") - base;
            assert!(held <= max_packet + 64 * 32, "{held} bytes held");
        }
        assert_eq!(p.b.memory_of(id), Some(base), "the set was given up");
        assert!(p.b.frag_stats().fragments_dropped > 0);
        assert_eq!(p.b.frag_stats().messages_reassembled, 0);
        assert!(p.b.established().is_empty());
    }
}

#[test]
fn an_incomplete_set_is_freed_after_fragment_timeout() {
    let (a, mut b) = big(Fragmentation::Yes, Fragmentation::Yes);
    b.dos.fragment_timeout = Duration::from_secs(1);
    let mut p = Pair::new(a, b);
    let (frags, id) = capture_auth(&mut p);
    let base = p.b.memory_of(id).expect("sa");
    feed(&mut p, &frags[0]);
    assert!(p.b.memory_of(id).expect("sa") > base);
    let deadline = p.b.poll_timeout().expect("a timer");
    assert!(deadline <= p.time + Duration::from_secs(1));
    p.time += Duration::from_secs(1);
    p.b.handle_timeout(p.time);
    assert_eq!(p.b.memory_of(id), Some(base));
}

#[test]
fn fragment_limit_follows_strongswan_accounting() {
    let v4: SocketAddr = "10.0.0.2:500".parse().expect("v4");
    let v6: SocketAddr = "[2001:db8::2]:500".parse().expect("v6");
    assert_eq!(datagram_limit(1280, v4, false), 1252);
    assert_eq!(datagram_limit(1280, v4, true), 1248);
    assert_eq!(datagram_limit(1280, v6, false), 1232);
    assert_eq!(datagram_limit(0, v4, false), 548);
    assert_eq!(datagram_limit(0, v6, false), 1232);
}

#[test]
fn create_child_sa_requests_and_responses_are_fragmented_too() {
    let (a, b) = big(Fragmentation::Yes, Fragmentation::Yes);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let (old, _, _) = p.a.child_sas(ike)[0];
    p.take(Side::A);
    p.a.rekey_child(p.time, old).expect("rekey");
    p.drive();
    let ea = p.take(Side::A);
    assert_eq!(
        count(&ea, |e| matches!(e, Event::ChildSaRekeyed { .. })),
        1,
        "{ea:?}"
    );
    let create = |side| {
        p.log
            .iter()
            .filter(|(s, t)| {
                *s == side && is_fragment(t) && t.data[18] == ExchangeType::CREATE_CHILD_SA.0
            })
            .count()
    };
    assert!(create(Side::A) >= 2 && create(Side::B) >= 2);
    for ep in [&p.a, &p.b] {
        assert_eq!(
            ep.frag_stats().messages_reassembled,
            2,
            "{:?}",
            ep.frag_stats()
        );
    }
}
