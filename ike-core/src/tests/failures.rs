//! Failure cases: each gives the right notify and leaves no half state; hostile
//! or broken input never panics.

use std::net::SocketAddr;
use std::time::Duration;

use super::util::{NetRng, Pair, Side, configs, count, installs};
use crate::config::Psk;
use crate::error::{Error, PeerIncompatible, PeerMisbehaved};
use crate::event::Event;
use crate::proposal::Proposal;
use crate::wire::{NotifyType, Payload};

#[test]
fn wrong_psk_gives_authentication_failed_and_no_state() {
    let (a, mut b) = configs();
    b.connections[0].psk = Psk::new(b"not-the-same-key".to_vec());
    let mut p = Pair::new(a, b);
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    // B rejected A's AUTH and told A so with AUTHENTICATION_FAILED (24).
    assert!(
        matches!(
            eb.as_slice(),
            [Event::IkeSaDown {
                reason: Error::PeerMisbehaved(PeerMisbehaved::AuthenticationFailed),
                ..
            }]
        ),
        "{eb:?}"
    );
    assert!(
        matches!(ea.as_slice(), [Event::IkeSaDown { ike: i, reason: Error::NotifyReceived(24), .. }] if *i == ike),
        "{ea:?}"
    );
    assert_eq!(p.a.ike_sa_count() + p.b.ike_sa_count(), 0);
    // Only the four messages: nobody retransmits into the void.
    assert_eq!(p.log.len(), 4);
}

#[test]
fn responder_refuses_an_idr_that_is_not_its_own() {
    // A asks for another identity in IDr (RFC 7296 §3.5); B has no connection
    // with that local identity, so it refuses as strongSwan does.
    let (mut a, b) = configs();
    a.connections[0].remote_id = Some(crate::config::Identity::Fqdn("someone.else".into()));
    let mut p = Pair::new(a, b);
    p.a.initiate(p.time, "net").expect("init");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(
        matches!(
            ea.as_slice(),
            [Event::IkeSaDown {
                reason: Error::NotifyReceived(24),
                ..
            }]
        ),
        "{ea:?}"
    );
    assert!(
        eb.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::PeerMisbehaved(PeerMisbehaved::UnexpectedIdentity),
                ..
            }
        )),
        "{eb:?}"
    );
    assert_eq!(installs(&ea).len() + installs(&eb).len(), 0);
}

/// RFC 7296 §2.21.1: NO_PROPOSAL_CHOSEN in IKE_SA_INIT is unauthenticated, so
/// A keeps retransmitting and only fails, with that reason, once they run out.
#[test]
fn no_common_ike_proposal() {
    let (a, mut b) = configs();
    b.connections[0].ike_proposals = vec![Proposal::parse_ike("aes256-sha384-ecp384").expect("p")];
    let mut p = Pair::new(a, b);
    let t0 = p.time;
    p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(60));
    assert!(p.take(Side::A).is_empty(), "still trying after 60 s");
    p.drive();
    let ea = p.take(Side::A);
    assert!(
        matches!(
            ea.as_slice(),
            [Event::IkeSaDown {
                reason: Error::PeerIncompatible(PeerIncompatible::NoProposalChosen),
                ..
            }]
        ),
        "{ea:?}"
    );
    assert!(p.time - t0 > Duration::from_secs(160));
    assert_eq!(count_init(&p, Side::A), 6, "1 + 5 retransmissions");
    assert!(p.take(Side::B).is_empty());
    assert_eq!(p.a.ike_sa_count() + p.b.ike_sa_count(), 0);
    // B answered statelessly with exactly N(NO_PROPOSAL_CHOSEN).
    let resp = &p.log[1].1.data;
    assert_eq!(
        u16::from_be_bytes([resp[34], resp[35]]),
        NotifyType::NO_PROPOSAL_CHOSEN.0
    );
}

/// IKE_SA_INIT messages `side` put on the wire.
fn count_init(p: &Pair, side: Side) -> usize {
    p.log
        .iter()
        .filter(|(s, t)| *s == side && t.data[18] == 34)
        .count()
}

/// An IKE_SA_INIT response to `req` with these payloads, as anyone who saw
/// the request can forge it (RFC 7296 §2.21.1: nothing authenticates it).
fn forged_response(req: &[u8], payloads: Vec<Payload>) -> Vec<u8> {
    let spi_i = u64::from_be_bytes(req[0..8].try_into().expect("SPIi"));
    crate::wire::Message {
        header: crate::wire::Header::new(
            spi_i,
            0,
            crate::wire::ExchangeType::IKE_SA_INIT,
            crate::wire::Flags::new(false, true),
            0,
        ),
        payloads,
    }
    .to_bytes()
}

fn notify(ty: NotifyType, data: &[u8]) -> Vec<Payload> {
    vec![Payload::Notify(crate::wire::Notify::new(ty, data.to_vec()))]
}

/// A initiates; each forgery reaches A before B has even seen the request.
/// Returns A's first request (not yet delivered to B).
fn initiate_under_forgeries(p: &mut Pair, forgeries: &[Vec<Payload>]) -> Vec<u8> {
    p.a.initiate(p.time, "net").expect("init");
    let req = p.a.poll_transmit(p.time).expect("IKE_SA_INIT").data;
    for f in forgeries {
        let forged = forged_response(&req, f.clone());
        p.a.handle_datagram(p.time, p.b_addr, p.a_addr, &forged);
    }
    req
}

fn assert_established(p: &mut Pair) {
    let ea = p.take(Side::A);
    assert!(
        matches!(ea.first(), Some(Event::IkeSaUp { .. })),
        "the real answer completed the exchange: {ea:?}"
    );
    assert_eq!(installs(&ea).len(), 1);
    assert_eq!(p.a.established().len(), 1);
}

/// RFC 7296 §2.21.1: forged error notifies and a forged malformed answer do not
/// abort the initiation; the real response, arriving later, completes it.
#[test]
fn forged_init_errors_are_ignored_until_the_real_answer() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let forgeries = [
        notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]),
        notify(NotifyType::INVALID_SYNTAX, &[]),
        notify(NotifyType(24), &[]),
        vec![Payload::Nonce(crate::wire::Nonce(vec![7; 32]))],
    ];
    let req = initiate_under_forgeries(&mut p, &forgeries);
    assert!(p.take(Side::A).is_empty());
    assert!(p.a.poll_transmit(p.time).is_none(), "no restart, no answer");
    p.b.handle_datagram(p.time, p.a_addr, p.b_addr, &req);
    p.drive();
    assert_established(&mut p);
}

/// RFC 7296 §1.3: INVALID_KE_PAYLOAD naming a group we did not offer (or the
/// one we sent, or no group at all) is ignored, not obeyed and not fatal.
#[test]
fn invalid_ke_for_a_group_not_offered_is_ignored() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let forgeries = [
        notify(NotifyType::INVALID_KE_PAYLOAD, &14u16.to_be_bytes()),
        notify(NotifyType::INVALID_KE_PAYLOAD, &31u16.to_be_bytes()),
        notify(NotifyType::INVALID_KE_PAYLOAD, &[]),
    ];
    let req = initiate_under_forgeries(&mut p, &forgeries);
    assert!(p.a.poll_transmit(p.time).is_none(), "no restart");
    p.b.handle_datagram(p.time, p.a_addr, p.b_addr, &req);
    p.drive();
    assert_established(&mut p);
}

/// RFC 7296 §3.10.1: COOKIE data is 1 to 64 bytes; others are ignored.
#[test]
fn cookie_of_bad_length_is_ignored() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let forgeries = [
        notify(NotifyType::COOKIE, &[0x5a; 65]),
        notify(NotifyType::COOKIE, &[]),
    ];
    let req = initiate_under_forgeries(&mut p, &forgeries);
    assert!(p.a.poll_transmit(p.time).is_none(), "no restart");
    p.b.handle_datagram(p.time, p.a_addr, p.b_addr, &req);
    p.drive();
    assert_established(&mut p);
}

/// RFC 7296 §2.6: A follows at most 3 COOKIEs for one initiation. More do not
/// abort it (a forger could otherwise end it while the real answer is on its
/// way): they are ignored, and the answer to A's last request completes it.
#[test]
fn cookie_beyond_three_is_ignored_not_fatal() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let forgeries: Vec<_> = (1..=5u8)
        .map(|i| notify(NotifyType::COOKIE, &[i; 16]))
        .collect();
    initiate_under_forgeries(&mut p, &forgeries);
    assert!(p.take(Side::A).is_empty(), "not aborted");
    assert_eq!(p.a.ike_sa_count(), 1);
    // Three restarts went out; the last carries the third cookie.
    let restarts: Vec<_> = std::iter::from_fn(|| p.a.poll_transmit(p.time))
        .map(|t| t.data)
        .collect();
    assert_eq!(restarts.len(), 3);
    let last = &restarts[2];
    assert_eq!(last[16], 41, "COOKIE first");
    assert_eq!(&last[36..52], &[3u8; 16]);
    p.b.handle_datagram(p.time, p.a_addr, p.b_addr, last);
    p.drive();
    assert_established(&mut p);
}

/// A COOKIE loop is bounded: with no real answer, A gives up after one
/// retransmission budget (restarts do not reset it), naming the COOKIEs.
#[test]
fn cookie_loop_gives_up_with_a_clear_reason() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let sent = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = sent.clone();
    p.filter = Some(Box::new(move |from, _| {
        seen.set(seen.get() + usize::from(from == Side::A));
        false
    }));
    let t0 = p.time;
    let req = initiate_under_forgeries(&mut p, &[]);
    for i in 1..=10u8 {
        let forged = forged_response(&req, notify(NotifyType::COOKIE, &[i; 8]));
        p.a.handle_datagram(p.time, p.b_addr, p.a_addr, &forged);
        p.drive_for(Duration::from_secs(1));
    }
    let budget = crate::timer::RetransmitConfig::default().give_up_after();
    while p.a_events.is_empty() && p.time - t0 < 2 * budget {
        p.drive_for(Duration::from_secs(1));
    }
    // The restarts went out at 0, 1 and 2 s; the budget runs on from there.
    assert!(
        p.time - t0 < budget + Duration::from_secs(4),
        "one budget: {:?}",
        p.time - t0
    );
    let ea = p.take(Side::A);
    let [Event::IkeSaDown { reason, .. }] = ea.as_slice() else {
        panic!("{ea:?}")
    };
    assert!(reason.to_string().contains("COOKIE"), "{reason}");
    assert_eq!(sent.get(), 3 + 5, "3 restarts, then 5 retransmissions");
    assert_eq!(p.a.ike_sa_count(), 0);
}

#[test]
fn no_common_esp_proposal_keeps_ike_sa() {
    let (a, mut b) = configs();
    b.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes256-sha512").expect("p")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
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
    assert_eq!(installs(&ea).len() + installs(&eb).len(), 0);
    assert!(p.a.child_sas(ike).is_empty());
    assert!(p.b.child_sas(p.b.established()[0]).is_empty());
}

#[test]
fn ts_mismatch_gives_ts_unacceptable() {
    let (a, mut b) = configs();
    b.connections[0].children[0].remote_ts = vec![super::util::ts("10.99.0.0/16")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                reason: Error::PeerIncompatible(PeerIncompatible::TsUnacceptable),
                ..
            }
        )),
        "{ea:?}"
    );
    assert_eq!(installs(&ea).len() + installs(&eb).len(), 0);
    assert!(p.a.is_established(ike));
}

#[test]
fn bad_icv_is_dropped_silently() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let mut corrupted = false;
    p.filter = Some(Box::new(move |from, t| {
        if from == Side::A && t.data.get(18) == Some(&35) && !corrupted {
            corrupted = true;
            let n = t.data.len();
            t.data[n - 1] ^= 0x55;
        }
        true
    }));
    let t0 = p.time;
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive();
    assert!(p.a.is_established(ike));
    // The corrupted copy got no answer: B's first IKE_AUTH response follows the retransmission.
    let order: Vec<(Side, u8)> = p.log.iter().map(|(s, t)| (*s, t.data[18])).collect();
    assert_eq!(
        order,
        vec![
            (Side::A, 34),
            (Side::B, 34),
            (Side::A, 35),
            (Side::A, 35),
            (Side::B, 35)
        ]
    );
    assert!(p.time - t0 >= Duration::from_secs(4));
    assert_eq!(
        count(&p.take(Side::B), |e| matches!(e, Event::ChildSaReady(_))),
        1
    );
}

#[test]
fn replayed_request_gets_cached_response_and_old_ids_are_ignored() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::B);
    let auth_req = p
        .log
        .iter()
        .find(|(s, t)| *s == Side::A && t.data[18] == 35)
        .expect("auth")
        .1
        .clone();
    let auth_resp = p
        .log
        .iter()
        .find(|(s, t)| *s == Side::B && t.data[18] == 35)
        .expect("auth")
        .1
        .clone();
    // Replay: B resends the identical cached response, nothing else happens.
    p.b.handle_datagram(p.time, auth_req.local, auth_req.remote, &auth_req.data);
    let t = p.b.poll_transmit(p.time).expect("cached response");
    assert_eq!(t.data, auth_resp.data);
    assert!(p.b.poll_transmit(p.time).is_none());
    assert!(p.b.poll_event().is_none());
    // Two more exchanges move B's window past message ID 1.
    let (c, _, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, c).expect("rekey");
    p.drive();
    p.take(Side::B);
    p.b.handle_datagram(p.time, auth_req.local, auth_req.remote, &auth_req.data);
    assert!(
        p.b.poll_transmit(p.time).is_none(),
        "out-of-window request must be ignored"
    );
    assert!(p.b.poll_event().is_none());
    // A replayed response is ignored by A as well.
    p.a.handle_datagram(p.time, auth_resp.local, auth_resp.remote, &auth_resp.data);
    assert!(p.a.poll_transmit(p.time).is_none());
    assert!(p.a.poll_event().is_none());
    assert_eq!(p.a.child_sas(ike).len(), 1);
}

#[test]
fn invalid_ke_payload_retry_with_requested_group() {
    let (mut a, mut b) = configs();
    a.connections[0].ike_proposals =
        vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519-ecp256").expect("p")];
    b.connections[0].ike_proposals =
        vec![Proposal::parse_ike("aes128gcm16-prfsha256-ecp256").expect("p")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let init: Vec<&Vec<u8>> = p
        .log
        .iter()
        .filter(|(_, t)| t.data[18] == 34)
        .map(|(_, t)| &t.data)
        .collect();
    assert_eq!(init.len(), 4);
    // B's first answer: N(INVALID_KE_PAYLOAD) carrying group 19.
    let r = init[1];
    assert_eq!(
        u16::from_be_bytes([r[34], r[35]]),
        NotifyType::INVALID_KE_PAYLOAD.0
    );
    assert_eq!(&r[36..38], &19u16.to_be_bytes());
    let ea = p.take(Side::A);
    let Some(Event::IkeSaUp { algorithms, .. }) = ea.first() else {
        panic!("{ea:?}")
    };
    assert_eq!(algorithms.ke, Some(crate::wire::KeId::ECP_256));
}

#[test]
fn cookie_round_trip_and_rotation() {
    let (a, mut b) = configs();
    b.cookie_threshold = Some(0);
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let init: Vec<&Vec<u8>> = p
        .log
        .iter()
        .filter(|(_, t)| t.data[18] == 34)
        .map(|(_, t)| &t.data)
        .collect();
    assert_eq!(init.len(), 4);
    // B's first response is only N(COOKIE) with SPIr = 0 ...
    assert_eq!(
        u16::from_be_bytes([init[1][34], init[1][35]]),
        NotifyType::COOKIE.0
    );
    assert_eq!(&init[1][8..16], &[0u8; 8]);
    // ... and A repeats IKE_SA_INIT with the cookie as the first payload.
    assert_eq!(init[2][16], 41);
    assert_eq!(&init[2][0..8], &init[0][0..8], "same SPIi");
    // A stateless cookie answer created nothing on B.
    assert_eq!(p.b.ike_sa_count(), 1);

    // A cookie from the previous secret stays valid for one rotation.
    let req = init[0].clone();
    let from: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    let mut b_cfg = configs().1;
    b_cfg.cookie_threshold = Some(0);
    let mut b2 = crate::endpoint::Endpoint::new(b_cfg, crate::crypto::CryptoProvider::seeded(5));
    b2.handle_datagram(p.time, from, to, &req);
    let cookie_resp = b2.poll_transmit(p.time).expect("cookie").data;
    b2.set_cookie_secret([9; 32]);
    let cookie = cookie_resp[36..].to_vec();
    let with = with_cookie(&req, &cookie);
    b2.handle_datagram(p.time, from, to, &with);
    assert_eq!(b2.ike_sa_count(), 1, "previous-secret cookie accepted");
    b2.set_cookie_secret([10; 32]);
    let mut b3 = b2;
    let req2 = {
        let mut r = with.clone();
        r[0] ^= 1; // another SPIi: a fresh request
        r
    };
    b3.handle_datagram(p.time, from, to, &req2);
    assert_eq!(b3.ike_sa_count(), 1, "cookie two rotations old is refused");
}

#[test]
fn nat_detected_moves_to_4500_with_marker_and_udp_encap() {
    let (a, mut b) = configs();
    // Behind a NAT the peer's address is unknown: B accepts any.
    b.connections[0].remote = None;
    let mut p = Pair::new(a, b);
    p.nat = Some("192.0.2.1:1024".parse().expect("addr"));
    let ike = p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    assert!(p.a.is_established(ike));
    // IKE_AUTH and later go over 4500 with the non-ESP marker.
    let (_, auth) = p
        .log
        .iter()
        .find(|(s, t)| *s == Side::A && t.data.len() > 22 && t.data[22] == 35)
        .expect("auth on 4500");
    assert_eq!(&auth.data[..4], &[0, 0, 0, 0]);
    assert_eq!(auth.local.port(), 4500);
    assert_eq!(auth.remote.port(), 4500);
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    let (ia, ib) = (installs(&ea), installs(&eb));
    let ea_encap = ia[0].encap.expect("A encap");
    let eb_encap = ib[0].encap.expect("B encap");
    assert_eq!((ea_encap.local_port, ea_encap.remote_port), (4500, 4500));
    // B sees A's NAT mapping of port 4500.
    assert_eq!((eb_encap.local_port, eb_encap.remote_port), (4500, 1025));
    // The initiator behind the NAT sends keepalives.
    let n = p.log.len();
    p.drive_for(Duration::from_secs(21));
    assert!(
        p.log[n..]
            .iter()
            .any(|(s, t)| *s == Side::A && t.data == [0xff])
    );
    assert!(
        !p.log[n..]
            .iter()
            .any(|(s, t)| *s == Side::B && t.data == [0xff]),
        "B is not behind a NAT"
    );
    // Later exchanges still work through the mapping.
    let (c, _, _) = p.a.child_sas(ike)[0];
    p.a.rekey_child(p.time, c).expect("rekey");
    p.drive_for(Duration::from_secs(2));
    assert_eq!(
        count(&p.take(Side::B), |e| matches!(
            e,
            Event::ChildSaRekeyed { .. }
        )),
        1
    );
}

#[test]
fn forced_encapsulation() {
    let (mut a, b) = configs();
    a.connections[0].force_encap = true;
    let mut p = Pair::new(a, b);
    p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(1));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(installs(&ea)[0].encap.is_some());
    assert!(installs(&eb)[0].encap.is_some(), "B sees the faked NAT too");
}

#[test]
fn peer_gone_during_handshake_times_out() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    p.filter = Some(Box::new(|from, _| from == Side::B));
    let t0 = p.time;
    p.a.initiate(p.time, "net").expect("init");
    p.drive_for(Duration::from_secs(170));
    let ea = p.take(Side::A);
    assert!(
        matches!(
            ea.as_slice(),
            [Event::IkeSaDown {
                reason: Error::Timeout,
                ..
            }]
        ),
        "{ea:?}"
    );
    assert!(p.time - t0 > Duration::from_secs(160));
    // 1 + 5 retransmissions, all identical.
    let sent: Vec<_> = p.log.iter().filter(|(s, _)| *s == Side::A).collect();
    assert_eq!(sent.len(), 0, "filter dropped them before the wire");
    assert_eq!(p.a.ike_sa_count(), 0);
}

#[test]
fn hostile_datagrams_never_panic() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    p.connect();
    let samples: Vec<Vec<u8>> = p.log.iter().map(|(_, t)| t.data.clone()).collect();
    let mut rng = NetRng::new(42);
    let from: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    for i in 0..3000 {
        let mut d = samples[i % samples.len()].clone();
        match rng.next() % 4 {
            0 => {
                let n = (rng.next() as usize) % d.len();
                d.truncate(n);
            }
            1 => {
                for _ in 0..(1 + rng.next() % 4) {
                    let k = (rng.next() as usize) % d.len();
                    d[k] ^= 1 << (rng.next() % 8);
                }
            }
            2 => d = (0..(rng.next() % 300)).map(|_| rng.next() as u8).collect(),
            _ => {
                // Keep the header, randomize a length byte.
                if d.len() > 30 {
                    d[30] = rng.next() as u8;
                    d[31] = rng.next() as u8;
                }
            }
        }
        p.b.handle_datagram(p.time, from, to, &d);
        p.a.handle_datagram(p.time, to, from, &d);
        p.b.handle_datagram(p.time, from, "10.0.0.2:4500".parse().expect("addr"), &d);
    }
    // The established SAs survived.
    assert_eq!(p.a.established().len(), 1);
    assert_eq!(p.b.established().len(), 1);
}

#[test]
fn unknown_critical_payload_in_ike_sa_init_is_rejected() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    p.connect();
    let req = p.log[0].1.data.clone();
    // Prepend an unknown payload type 200 with the critical bit.
    let mut m = req[..28].to_vec();
    m[16] = 200;
    m.extend_from_slice(&[req[16], 0x80, 0, 8, 1, 2, 3, 4]);
    m.extend_from_slice(&req[28..]);
    m[0] ^= 0x42; // a fresh SPIi
    let len = u32::try_from(m.len()).expect("len");
    m[24..28].copy_from_slice(&len.to_be_bytes());
    let from: SocketAddr = "10.0.0.1:500".parse().expect("addr");
    let to: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    let before = p.b.ike_sa_count();
    p.b.handle_datagram(p.time, from, to, &m);
    let t = p.b.poll_transmit(p.time).expect("notify");
    assert_eq!(
        u16::from_be_bytes([t.data[34], t.data[35]]),
        NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD.0
    );
    assert_eq!(t.data[36], 200);
    assert_eq!(p.b.ike_sa_count(), before);
}

#[test]
fn api_errors_name_the_fix() {
    use crate::error::ApiError;
    let (a, mut b) = configs();
    b.connections[0].remote = None;
    let mut p = Pair::new(a, b);
    assert_eq!(
        p.a.initiate(p.time, "nope"),
        Err(ApiError::UnknownConnection("nope".into()))
    );
    let e = p.b.initiate(p.time, "net").expect_err("no remote");
    assert!(e.to_string().contains("set one"), "{e}");
    let ike = p.connect();
    assert_eq!(
        p.a.create_child(p.time, ike, "other", None),
        Err(ApiError::UnknownChild("other".into()))
    );
    let gone = crate::ids::IkeSaId(999);
    assert_eq!(p.a.close(p.time, gone), Err(ApiError::UnknownIkeSa(gone)));
    assert!(p.a.rekey_child(p.time, crate::ids::ChildSaId(999)).is_err());
}

#[test]
fn rejected_child_is_deleted_at_the_peer() {
    use crate::ike_sa::{Ctx, Outputs, Task};
    use crate::wire::{Nonce, Sa, Ts};
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    let cfg = p.a.config().clone();
    let mut sa = p.a.take_sa(ike).expect("sa");
    let crypto = crate::crypto::CryptoProvider::seeded(3);
    let mut out = Outputs::default();
    let conns = crate::connections::Connections::from_list(&cfg.connections);
    let mut ctx = Ctx {
        cfg: &cfg,
        conns: &conns,
        crypto: &crypto,
        out: &mut out,
        wall: None,
    };
    let (_, req) = sa
        .build_child_request(&mut ctx, 0, None, None, None, false)
        .expect("req");
    let spi_in = req.spi_in;
    let ni = req.ni.clone();
    // A misbehaving peer picks AES-256-GCM, which A never offered.
    let bogus = Proposal::parse_esp("aes256gcm16")
        .expect("p")
        .to_wire(1, vec![0xc1, 2, 3, 4]);
    let ts = |s: &str| Ts {
        selectors: vec![super::util::ts(s).to_wire()],
    };
    let inner = vec![
        Payload::Sa(Sa {
            proposals: vec![bogus],
        }),
        Payload::Nonce(Nonce(vec![7; 32])),
        Payload::Tsi(ts("192.168.1.0/24")),
        Payload::Tsr(ts("192.168.2.0/24")),
    ];
    sa.finish_child(&mut ctx, p.time, req, &inner, &ni, &[7; 32]);
    let ev: Vec<Event> = out.events.drain(..).collect();
    assert!(
        matches!(
            ev.as_slice(),
            [Event::ChildSaFailed {
                reason: Error::PeerMisbehaved(PeerMisbehaved::ProposalNotOffered),
                ..
            }]
        ),
        "{ev:?}"
    );
    assert_eq!(sa.queue.front(), Some(&Task::DeleteSpi(spi_in)));
    assert_eq!(sa.children.len(), 1, "only the IKE_AUTH child");
}

/// Seals `inner` (raw bytes of an inner payload chain starting with `first`)
/// under `key` as the SK payload of `header`, bypassing the encoder so that
/// the plaintext can be malformed.
fn seal_raw(
    header: crate::wire::Header,
    first: crate::wire::PayloadType,
    inner: &[u8],
    key: &mut dyn crate::crypto::SkKey,
) -> Vec<u8> {
    use crate::wire::codec::{patch_u16, patch_u32};
    use crate::wire::{Codec, Header, PayloadType};
    let mut h = header;
    h.next_payload = PayloadType::SK;
    let mut buf = Vec::new();
    h.encode(&mut buf);
    let sk_off = buf.len();
    buf.extend_from_slice(&[first.0, 0, 0, 0]);
    let iv_off = buf.len();
    buf.resize(iv_off + key.iv_len(), 0);
    buf.extend_from_slice(inner);
    let block = key.block_len().max(1);
    let pad = (block - (inner.len() + 1) % block) % block;
    buf.resize(buf.len() + pad, 0);
    buf.push(u8::try_from(pad).expect("pad"));
    buf.resize(buf.len() + key.icv_len(), 0);
    let sk_len = buf.len() - sk_off;
    patch_u16(&mut buf, sk_off + 2, sk_len);
    let total = buf.len();
    patch_u32(&mut buf, Header::LENGTH_OFFSET, total);
    key.seal(&mut buf, iv_off, &crate::crypto::SeededRandom::new(7))
        .expect("seal");
    buf
}

#[test]
fn authentic_malformed_request_gets_invalid_syntax_and_keeps_the_sa() {
    use crate::wire::{ExchangeType, PayloadType};
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    p.take(Side::B);
    let mut sa = p.a_sa(ike);
    let msg_id = sa.next_msg_id;
    let header = sa.header(ExchangeType::INFORMATIONAL, false, msg_id);
    let keys = sa.keys.as_mut().expect("keys");
    // An inner Notify whose generic header claims 2 bytes (RFC 7296 §3.2: at least 4).
    let req = seal_raw(header, PayloadType::NOTIFY, &[0, 0, 0, 2], &mut *keys.out);
    let now = p.time;
    p.b.handle_datagram(now, sa.local, sa.remote, &req);
    let t =
        p.b.poll_transmit(now)
            .expect("B answers an authentic request");
    let resp = crate::crypto::sk::open(&t.data, &*keys.inb).expect("B's response opens");
    assert!(resp.header.flags.response());
    assert_eq!(resp.header.message_id, msg_id);
    assert!(
        resp.payloads
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.ty == NotifyType::INVALID_SYNTAX)),
        "{resp:?}"
    );
    assert!(p.b.poll_transmit(now).is_none());
    assert_eq!(p.b.ike_sa_count(), 1, "B keeps the IKE SA");
    // A retransmission of it gets the cached INVALID_SYNTAX response.
    p.b.handle_datagram(now, sa.local, sa.remote, &req);
    let again = p.b.poll_transmit(now).expect("cached response resent");
    assert_eq!(again.data, t.data);
    // The same bytes with a broken ICV get no answer at all (§2.21.2).
    let mut bad = req.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    p.b.handle_datagram(now, sa.local, sa.remote, &bad);
    assert!(p.b.poll_transmit(now).is_none());
}

/// `req` (an IKE_SA_INIT request) with N(COOKIE) as its first payload (RFC 7296 §2.6).
pub(crate) fn with_cookie(req: &[u8], cookie: &[u8]) -> Vec<u8> {
    let mut with = req[..28].to_vec();
    with[16] = 41;
    let n_len = 8 + cookie.len();
    with.extend_from_slice(&[req[16], 0]);
    with.extend_from_slice(&u16::try_from(n_len).expect("len").to_be_bytes());
    with.extend_from_slice(&[0, 0]);
    with.extend_from_slice(&NotifyType::COOKIE.0.to_be_bytes());
    with.extend_from_slice(cookie);
    with.extend_from_slice(&req[28..]);
    let total = u32::try_from(with.len()).expect("len");
    with[24..28].copy_from_slice(&total.to_be_bytes());
    with
}
