//! Unauthenticated floods (RFC 7296 §2.6): cookies, per-source and total
//! caps on half-open SAs, the datagram size limit, and what a half-open SA
//! costs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::util::{Pair, configs};
use crate::config::EndpointConfig;
use crate::crypto::CryptoProvider;
use crate::endpoint::Endpoint;
use crate::wire::NotifyType;

/// `n` distinct IKE_SA_INIT requests (distinct SPIi) as A would send them.
fn requests(n: usize) -> Vec<Vec<u8>> {
    let mut a = Endpoint::new(configs().0, CryptoProvider::seeded(77));
    let now = Instant::now();
    (0..n)
        .map(|_| {
            a.initiate(now, "net").expect("initiate");
            a.poll_transmit(now).expect("IKE_SA_INIT").data
        })
        .collect()
}

fn responder(f: impl FnOnce(&mut EndpointConfig)) -> Endpoint {
    let mut b = configs().1;
    b.connections[0].remote = None;
    f(&mut b);
    Endpoint::new(b, CryptoProvider::seeded(5))
}

fn src(i: usize) -> SocketAddr {
    let i = u32::try_from(i).expect("i");
    SocketAddr::new(std::net::Ipv4Addr::from(0x0a09_0000 + i).into(), 500)
}

/// Feeds `req` from `from`; returns the notify type of a stateless answer.
fn feed(b: &mut Endpoint, now: Instant, from: SocketAddr, req: &[u8]) -> Option<u16> {
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    b.handle_datagram(now, from, to, req);
    let t = b.poll_transmit(now)?;
    // A stateless answer has SPIr = 0 and one notify payload (type 41).
    (t.data[8..16] == [0; 8] && t.data[16] == 41)
        .then(|| u16::from_be_bytes([t.data[34], t.data[35]]))
}

#[test]
fn a_spoofed_flood_gets_cookies_and_a_real_initiator_still_connects() {
    let (a, mut b) = configs();
    b.connections[0].remote = None;
    let mut p = Pair::new(a, b);
    let now = p.time;
    let reqs = requests(200);
    let mut cookies = 0;
    for (i, r) in reqs.iter().enumerate() {
        if feed(&mut p.b, now, src(i), r) == Some(NotifyType::COOKIE.0) {
            cookies += 1;
        }
    }
    // strongSwan's default: cookies from 30 half-open SAs on.
    assert_eq!(p.b.half_open_count(), 30);
    assert_eq!(cookies, 170);
    assert_eq!(p.b.dos_stats().cookies_sent, 170);
    let ike = p.connect();
    assert!(p.a.is_established(ike), "the initiator answered the cookie");
    // The flood's half-open SAs expire and leave nothing behind.
    p.drive_for(Duration::from_secs(31));
    assert_eq!(p.b.half_open_count(), 0);
    assert_eq!(p.b.ike_sa_count(), 1);
}

#[test]
fn one_source_gets_cookies_after_three_half_open_sas() {
    let mut b = responder(|_| {});
    let now = Instant::now();
    let answers: Vec<_> = requests(5)
        .iter()
        .map(|r| feed(&mut b, now, src(1), r))
        .collect();
    assert_eq!(
        answers[..3],
        [None, None, None],
        "three half-open SAs from one address"
    );
    assert_eq!(answers[3..], [Some(NotifyType::COOKIE.0); 2]);
    assert_eq!(b.half_open_count(), 3);
    // Another address is not affected.
    assert_eq!(feed(&mut b, now, src(2), &requests(1)[0]), None);
}

#[test]
fn per_source_and_total_caps_hold_without_cookies() {
    let mut b = responder(|c| {
        c.cookie_threshold = None;
        c.dos.cookie_threshold_ip = 0;
        c.dos.block_threshold = 5;
        c.dos.max_half_open = 8;
    });
    let now = Instant::now();
    let reqs = requests(20);
    for r in &reqs[..7] {
        assert_eq!(feed(&mut b, now, src(1), r), None);
    }
    assert_eq!(b.half_open_count(), 5, "block_threshold");
    assert_eq!(b.dos_stats().blocked_per_source, 2);
    for (i, r) in reqs[7..].iter().enumerate() {
        feed(&mut b, now, src(100 + i), r);
    }
    assert_eq!(b.half_open_count(), 8, "max_half_open");
    assert_eq!(b.dos_stats().blocked_total, 10);
}

#[test]
fn oversized_datagrams_are_dropped_unread() {
    let mut b = responder(|c| c.dos.max_packet = 300);
    let now = Instant::now();
    let mut r = requests(1).remove(0);
    assert!(r.len() < 300, "x25519 IKE_SA_INIT is small");
    r.resize(301, 0);
    assert_eq!(feed(&mut b, now, src(1), &r), None);
    assert_eq!((b.ike_sa_count(), b.dos_stats().oversized), (0, 1));
}

#[test]
fn a_half_open_sa_accounts_for_the_messages_it_keeps() {
    let mut b = responder(|_| {});
    let now = Instant::now();
    let r = requests(1).remove(0);
    feed(&mut b, now, src(1), &r);
    let conn = b.connection("net").expect("conn");
    let ike = *b.ike_sas_of(conn).first().expect("half-open SA");
    let mem = b.memory_of(ike).expect("mem");
    assert!(
        mem > 2 * r.len(),
        "request and response are counted: {mem} bytes"
    );
}

#[test]
fn the_cookie_secret_rotates_by_itself() {
    let mut b = responder(|c| c.cookie_threshold = Some(0));
    let t0 = Instant::now();
    let r = requests(1).remove(0);
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    b.handle_datagram(t0, src(1), to, &r);
    let cookie = b.poll_transmit(t0).expect("cookie").data[36..].to_vec();
    let with = super::failures::with_cookie(&r, &cookie);
    // One lifetime on the cookie still works (previous secret) ...
    let t1 = t0 + Duration::from_secs(121);
    assert_eq!(feed(&mut b, t1, src(1), &with), None);
    assert_eq!(b.half_open_count(), 1);
    // ... two lifetimes on it does not (once the first SA has expired).
    let t2 = t1 + Duration::from_secs(121);
    b.handle_timeout(t2);
    assert_eq!(b.half_open_count(), 0);
    assert_eq!(feed(&mut b, t2, src(1), &with), Some(NotifyType::COOKIE.0));
}

#[test]
fn a_deferred_key_exchange_answers_only_when_its_result_comes_back() {
    let mut b = responder(|c| c.defer_ke = true);
    let now = Instant::now();
    let r = requests(1).remove(0);
    assert_eq!(feed(&mut b, now, src(1), &r), None);
    assert!(
        b.poll_transmit(now).is_none(),
        "no answer before the key exchange"
    );
    assert_eq!(b.half_open_count(), 1, "the waiting SA counts as half-open");
    let job = b.poll_ke_job().expect("a job for the pool");
    assert!(b.poll_ke_job().is_none());
    // A retransmission while the job runs starts nothing new.
    feed(&mut b, now, src(1), &r);
    assert!(b.poll_ke_job().is_none() && b.poll_transmit(now).is_none());
    let res = std::thread::spawn(move || job.run(&CryptoProvider::rust_crypto()))
        .join()
        .expect("worker");
    b.handle_ke_result(now, res);
    let t = b.poll_transmit(now).expect("IKE_SA_INIT response");
    let m = crate::wire::Message::decode(&t.data).expect("decode");
    assert!(m.header.flags.response() && m.header.spi_r != 0);
    assert!(m.ke().is_some(), "with our key share");
}

#[test]
fn a_deferred_key_exchange_for_a_gone_or_bad_request_leaves_nothing() {
    let mut b = responder(|c| c.defer_ke = true);
    let now = Instant::now();
    let reqs = requests(2);
    feed(&mut b, now, src(1), &reqs[0]);
    let late = b.poll_ke_job().expect("job");
    // The SA expires before its job is done: the result is dropped.
    b.handle_timeout(now + Duration::from_secs(31));
    assert_eq!(b.half_open_count(), 0);
    b.handle_ke_result(now, late.run(&CryptoProvider::rust_crypto()));
    assert!(b.poll_transmit(now).is_none());
    assert_eq!(b.ike_sa_count(), 0);
    // A malformed key share fails in the worker: an error answer, no state.
    let mut bad = reqs[1].clone();
    let ke = crate::wire::Message::decode(&bad).expect("decode");
    let share = ke.ke().expect("KE").data.clone();
    let at = bad
        .windows(share.len())
        .position(|w| w == share.as_slice())
        .expect("share in the datagram");
    bad[at..at + share.len()].fill(0);
    feed(&mut b, now, src(2), &bad);
    let job = b.poll_ke_job().expect("job");
    b.handle_ke_result(now, job.run(&CryptoProvider::rust_crypto()));
    let t = b.poll_transmit(now).expect("error answer");
    assert_eq!(
        u16::from_be_bytes([t.data[34], t.data[35]]),
        NotifyType::INVALID_SYNTAX.0
    );
    assert_eq!((b.ike_sa_count(), b.half_open_count()), (0, 0));
}

#[test]
fn a_handshake_through_the_worker_pool_path_completes() {
    let (a, mut b) = configs();
    b.defer_ke = true;
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    assert_eq!(
        super::util::installs(&p.take(super::util::Side::B)).len(),
        1
    );
}
