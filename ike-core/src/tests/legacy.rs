//! AES-CCM protecting the IKE SA (RFC 5282) and the legacy algorithms
//! (HMAC-SHA1, MODP-1024) end to end, and that neither side ever picks a
//! legacy transform its configuration does not list.

use super::util::{Pair, Side, configs, installs};
use crate::error::{Error, PeerIncompatible};
use crate::event::Event;
use crate::proposal::Proposal;
use crate::wire::{EncrId, IntegId, KeId, PrfId};

fn set(
    p: &mut (crate::config::EndpointConfig, crate::config::EndpointConfig),
    ike: &str,
    esp: &str,
) {
    for e in [&mut p.0, &mut p.1] {
        let c = &mut e.connections[0];
        c.ike_proposals = vec![Proposal::parse_ike(ike).expect("ike")];
        c.children[0].esp_proposals = vec![Proposal::parse_esp(esp).expect("esp")];
    }
}

/// The IKE algorithms of the SA that came up on `side`.
fn ike_algorithms(events: &[Event]) -> crate::Selected {
    events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp { algorithms, .. } => Some(*algorithms),
            _ => None,
        })
        .expect("IkeSaUp")
}

#[test]
fn handshake_aes128ccm16_prfsha256_x25519() {
    let mut cfg = configs();
    set(&mut cfg, "aes128ccm16-prfsha256-x25519", "aes128ccm16");
    let mut p = Pair::new(cfg.0, cfg.1);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    for ev in [&ea, &eb] {
        let s = ike_algorithms(ev);
        assert_eq!(
            (s.encr.id, s.encr.key_bits),
            (EncrId::AES_CCM_16, Some(128))
        );
        assert_eq!(s.prf, Some(PrfId::HMAC_SHA2_256));
        assert_eq!(s.integ, None);
        assert_eq!(s.ke, Some(KeId::CURVE25519));
    }
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!((ia.len(), ib.len()), (1, 1), "{ea:?}");
    assert_eq!(ia[0].esp.encr.id, EncrId::AES_CCM_16);
    // ESP CCM keying: 16-byte key + 3-byte salt (RFC 4309 §7.1).
    assert_eq!(ia[0].keys_out.encr.len(), 19);
    assert_eq!(*ia[0].keys_out.encr, *ib[0].keys_in.encr);
    // CREATE_CHILD_SA under CCM: the IKE SA rekeys (and keeps CCM).
    p.a.rekey_ike(p.time, ike).expect("rekey");
    p.drive();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    for ev in [&ea, &eb] {
        assert_eq!(ike_algorithms(ev).encr.id, EncrId::AES_CCM_16, "{ev:?}");
    }
    assert_eq!(p.a.established().len(), 1);
    assert_ne!(p.a.established()[0], ike);
}

#[test]
fn handshake_aes128_sha1_modp1024() {
    let mut cfg = configs();
    set(&mut cfg, "aes128-sha1-modp1024", "aes128-sha1");
    let mut p = Pair::new(cfg.0, cfg.1);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    for ev in [&ea, &eb] {
        let s = ike_algorithms(ev);
        assert_eq!(s.encr.id, EncrId::AES_CBC);
        assert_eq!(s.prf, Some(PrfId::HMAC_SHA1));
        assert_eq!(s.integ, Some(IntegId::HMAC_SHA1_96));
        assert_eq!(s.ke, Some(KeId::MODP_1024));
    }
    let (ia, ib) = (installs(&ea), installs(&eb));
    assert_eq!((ia.len(), ib.len()), (1, 1), "{ea:?}");
    assert_eq!(ia[0].esp.integ, Some(IntegId::HMAC_SHA1_96));
    // AUTH_HMAC_SHA1_96 keys are 20 bytes (RFC 2404 §3).
    assert_eq!(ia[0].keys_out.integ.len(), 20);
    assert_eq!(*ia[0].keys_out.integ, *ib[0].keys_in.integ);
    assert_eq!(ia[0].keys_out.encr.len(), 16);
}

/// A responder whose configuration lists no legacy algorithm refuses an
/// initiator that offers only them, in IKE and in ESP.
#[test]
fn a_modern_responder_never_selects_legacy() {
    let (mut a, b) = configs();
    a.connections[0].ike_proposals = vec![Proposal::parse_ike("aes128-sha1-modp1024").expect("p")];
    let mut p = Pair::new(a, b);
    p.a.initiate(p.time, "net").expect("init");
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
        "{ea:?}"
    );
    assert!(
        p.take(Side::B)
            .iter()
            .all(|e| !matches!(e, Event::IkeSaUp { .. }))
    );

    let (mut a, b) = configs();
    a.connections[0].children[0].esp_proposals =
        vec![Proposal::parse_esp("aes128-sha1").expect("p")];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert_eq!(installs(&ea).len() + installs(&eb).len(), 0);
    assert!(ea.iter().any(|e| matches!(e, Event::ChildSaFailed { .. })));
}

/// Offered next to a modern proposal, the legacy one loses to the modern
/// one a responder lists, even when the initiator prefers it.
#[test]
fn legacy_offered_first_is_not_picked_by_a_modern_responder() {
    let (mut a, b) = configs();
    a.connections[0].ike_proposals = vec![
        Proposal::parse_ike("aes128-sha1-modp1024").expect("p"),
        Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("p"),
    ];
    let mut p = Pair::new(a, b);
    let ike = p.connect();
    assert!(p.a.is_established(ike));
    let s = ike_algorithms(&p.take(Side::A));
    assert_eq!(s.prf, Some(PrfId::HMAC_SHA2_256));
    assert_eq!(s.ke, Some(KeId::CURVE25519));
}
