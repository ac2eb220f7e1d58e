//! IKE_AUTH with certificates (RFC 7296 §2.15, §3.6, §3.7; RFC 7427) between
//! two endpoints: every key type, classic methods, mixed PSK/pubkey, CERTREQ,
//! and a refusal with AUTHENTICATION_FAILED for every failed check.

use std::sync::Arc;

use super::util::{Pair, Side, configs};
use crate::config::{EndpointConfig, Identity};
use crate::error::{Error, PeerIncompatible, PeerMisbehaved};
use crate::event::Event;
use crate::ike_sa::cert::{AuthInput, PeerSig, our_auth, our_certs};
use crate::pki::HashAlgorithm;
use crate::pki::chain::key_hash;
use crate::pki::sig::classic_scheme;
use crate::pki::testca::{self, Hierarchy, NOW, crl, dns, hierarchy, valid, validity};
use crate::pki::{CertChain, CertError, LocalCert, PrivateKey, TrustStore, UnixTime};
use crate::wire::{AuthMethod, Message, NotifyType, Payload};

fn p256(seed: u8) -> PrivateKey {
    PrivateKey::P256(testca::p256(seed))
}

fn local(
    h: &Hierarchy,
    serial: u32,
    name: &str,
    key: PrivateKey,
    v: x509_cert::time::Validity,
) -> LocalCert {
    let ee = h.leaf(
        serial,
        &format!("C=CH, O=Test, CN={name}"),
        &key,
        v,
        vec![dns(name)],
    );
    LocalCert::new(
        CertChain {
            ee,
            intermediates: vec![h.inter.clone()],
        },
        key,
    )
    .expect("key matches")
}

fn trust(h: &Hierarchy) -> Arc<TrustStore> {
    Arc::new(TrustStore {
        cas: vec![h.root.clone()],
        crls: vec![],
        ..TrustStore::default()
    })
}

/// A and B both authenticate with certificates from one hierarchy.
fn cert_configs(
    h: &Hierarchy,
    a_key: PrivateKey,
    b_key: PrivateKey,
) -> (EndpointConfig, EndpointConfig) {
    let (mut a, mut b) = configs();
    a.connections[0].local_cert = Some(Arc::new(local(h, 10, "a.lanes.test", a_key, valid())));
    b.connections[0].local_cert = Some(Arc::new(local(h, 11, "b.lanes.test", b_key, valid())));
    a.connections[0].remote_ca = Some(trust(h));
    b.connections[0].remote_ca = Some(trust(h));
    (a, b)
}

fn pair(a: EndpointConfig, b: EndpointConfig) -> Pair {
    let mut p = Pair::new(a, b);
    p.a.set_wall_clock(p.time, UnixTime(NOW));
    p.b.set_wall_clock(p.time, UnixTime(NOW));
    p
}

fn up(ev: &[Event]) -> bool {
    ev.iter().any(|e| matches!(e, Event::IkeSaUp { .. }))
        && ev.iter().any(|e| matches!(e, Event::ChildSaReady { .. }))
}

/// The check B refused A's certificate for, and A saw AUTHENTICATION_FAILED.
fn refused_by_b(p: &mut Pair) -> CertError {
    let ea = p.take(Side::A);
    let eb = p.take(Side::B);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::NotifyReceived(24),
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(!up(&ea) && !up(&eb));
    assert_eq!(p.a.ike_sa_count() + p.b.ike_sa_count(), 0);
    eb.into_iter()
        .find_map(|e| match e {
            Event::IkeSaDown {
                reason: Error::PeerMisbehaved(PeerMisbehaved::Certificate(c)),
                ..
            } => Some(c),
            _ => None,
        })
        .expect("B names the failed check")
}

#[test]
fn ecdsa_rsa_and_ed25519_establish_with_rfc7427() {
    let h = hierarchy();
    let keys = || {
        [
            (p256(20), p256(21)),
            (PrivateKey::Rsa(Box::new(testca::rsa2048())), p256(22)),
            (
                PrivateKey::Ed25519(testca::ed25519(23)),
                PrivateKey::Ed25519(testca::ed25519(24)),
            ),
            (
                PrivateKey::P384(p384::ecdsa::SigningKey::from_slice(&[25; 48]).expect("p384")),
                PrivateKey::Rsa(Box::new(testca::rsa2048())),
            ),
        ]
    };
    for (i, (ka, kb)) in keys().into_iter().enumerate() {
        let (a, b) = cert_configs(&h, ka, kb);
        let mut p = pair(a, b);
        p.connect();
        let (ea, eb) = (p.take(Side::A), p.take(Side::B));
        assert!(up(&ea) && up(&eb), "case {i}: {ea:?} {eb:?}");
        // The IKE_SA_INIT both ways carried SIGNATURE_HASH_ALGORITHMS; B's also CERTREQ.
        let init_b = Message::decode(&p.log[1].1.data).expect("init response");
        assert!(
            init_b
                .notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
                .is_some()
        );
        assert!(
            init_b
                .payloads
                .iter()
                .any(|x| matches!(x, Payload::CertReq(_)))
        );
    }
}

/// With `rsa_pss` an RSA gateway signs AUTH with RSASSA-PSS (RFC 7427 §3 with
/// the RSASSA-PSS AlgorithmIdentifier) and the peer accepts it.
#[test]
fn rsa_pss_auth_establishes() {
    let h = hierarchy();
    let rsa = || PrivateKey::Rsa(Box::new(testca::rsa2048()));
    let (mut a, b) = cert_configs(&h, rsa(), p256(26));
    let mut lc = local(&h, 10, "a.lanes.test", rsa(), valid());
    lc.rsa_pss = true;
    a.connections[0].local_cert = Some(Arc::new(lc));
    let c = a.connections[0].clone();
    let mut p = pair(a, b);
    p.connect();
    let (ea, eb) = (p.take(Side::A), p.take(Side::B));
    assert!(up(&ea) && up(&eb), "{ea:?} {eb:?}");
    // The scheme A's AUTH payload names.
    let c = &c;
    let id = Identity::Fqdn("a.lanes.test".into()).to_wire();
    let prf = crate::crypto::prf::HmacSha256;
    let input = AuthInput {
        prf: &prf,
        real_message: b"init",
        peer_nonce: b"nonce",
        sk_p: b"skp",
        id: &id,
        int_auth: &[],
    };
    let with = PeerSig {
        hashes: Some(HashAlgorithm::OFFERED.to_vec()),
        certreq: vec![],
    };
    let auth = our_auth(c, &input, &with).expect("auth");
    assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
    let (scheme, _) = crate::pki::sig::decode_auth14(&auth.data).expect("auth14");
    assert_eq!(
        scheme,
        crate::pki::SigScheme::RsaPss(HashAlgorithm::SHA2_256)
    );
    // Without SIGNATURE_HASH_ALGORITHMS it is classic RSA (method 1, PKCS#1 v1.5).
    let classic = our_auth(c, &input, &PeerSig::default()).expect("auth");
    assert_eq!(classic.method, AuthMethod::RSA_SIG);
}

/// Without SIGNATURE_HASH_ALGORITHMS from the peer, AUTH uses the key's
/// classic method (RSA 1, ECDSA 9/10; RFC 7296 §3.8, RFC 4754), verified as
/// `verify_peer` does; Ed25519 has none (RFC 8420 needs RFC 7427).
#[test]
fn classic_methods_without_signature_hash_algorithms() {
    let h = hierarchy();
    let prf = crate::crypto::prf::HmacSha256;
    let id = Identity::Fqdn("a.lanes.test".into()).to_wire();
    let input = AuthInput {
        prf: &prf,
        real_message: b"init",
        peer_nonce: b"nonce",
        sk_p: b"skp",
        id: &id,
        int_auth: &[],
    };
    let p384 = PrivateKey::P384(p384::ecdsa::SigningKey::from_slice(&[34; 48]).expect("p384"));
    let cases = [
        (
            PrivateKey::Rsa(Box::new(testca::rsa2048())),
            AuthMethod::RSA_SIG,
        ),
        (p256(31), AuthMethod::ECDSA_SHA256_P256),
        (p384, AuthMethod::ECDSA_SHA384_P384),
    ];
    let none = PeerSig::default();
    for (key, method) in cases {
        let pubkey = key.public();
        let mut c = configs().0.connections.remove(0);
        c.local_cert = Some(Arc::new(local(&h, 30, "a.lanes.test", key, valid())));
        let auth = our_auth(&c, &input, &none).expect("auth");
        assert_eq!(auth.method, method);
        let scheme = classic_scheme(method).expect("classic");
        assert!(
            pubkey.verify(scheme, &input_octets(&input), &auth.data, true),
            "{method}"
        );
        let with = PeerSig {
            hashes: Some(HashAlgorithm::OFFERED.to_vec()),
            certreq: vec![],
        };
        assert_eq!(
            our_auth(&c, &input, &with).expect("auth").method,
            AuthMethod::DIGITAL_SIGNATURE
        );
    }
    let mut c = configs().0.connections.remove(0);
    c.local_cert = Some(Arc::new(local(
        &h,
        32,
        "a.lanes.test",
        PrivateKey::Ed25519(testca::ed25519(32)),
        valid(),
    )));
    assert!(matches!(
        our_auth(&c, &input, &none),
        Err(Error::PeerIncompatible(PeerIncompatible::Signature(_)))
    ));
}

fn input_octets(i: &AuthInput<'_>) -> Vec<u8> {
    let mid = crate::crypto::auth::maced_id(i.prf, i.sk_p, i.id);
    crate::crypto::auth::signed_octets(i.real_message, i.peer_nonce, &mid)
}

#[test]
fn mixed_psk_one_way_certificate_the_other() {
    let h = hierarchy();
    let (mut a, mut b) = configs();
    // A proves itself with the PSK; B with its certificate.
    b.connections[0].local_cert = Some(Arc::new(local(&h, 12, "b.lanes.test", p256(40), valid())));
    a.connections[0].remote_ca = Some(trust(&h));
    let mut p = pair(a, b);
    p.connect();
    assert!(up(&p.take(Side::A)) && up(&p.take(Side::B)));
    // The other way round.
    let (mut a, mut b) = configs();
    a.connections[0].local_cert = Some(Arc::new(local(&h, 13, "a.lanes.test", p256(41), valid())));
    b.connections[0].remote_ca = Some(trust(&h));
    let mut p = pair(a, b);
    p.connect();
    assert!(up(&p.take(Side::A)) && up(&p.take(Side::B)));
}

#[test]
fn certreq_for_an_intermediate_leaves_it_out() {
    let h = hierarchy();
    let lc = local(&h, 14, "a.lanes.test", p256(42), valid());
    let mut c = configs().0.connections.remove(0);
    c.local_cert = Some(Arc::new(lc));
    assert_eq!(
        our_certs(&c, &PeerSig::default()).len(),
        2,
        "end entity and intermediate"
    );
    let asked = PeerSig {
        hashes: None,
        certreq: vec![key_hash(&h.inter)],
    };
    assert_eq!(
        our_certs(&c, &asked).len(),
        1,
        "the peer has the intermediate"
    );
    // End to end: B trusts the intermediate itself and asks for it.
    let (a, mut b) = cert_configs(&h, p256(43), p256(44));
    b.connections[0].remote_ca = Some(Arc::new(TrustStore {
        cas: vec![h.inter.clone()],
        crls: vec![],
        ..TrustStore::default()
    }));
    let mut p = pair(a, b);
    p.connect();
    assert!(up(&p.take(Side::A)) && up(&p.take(Side::B)));
}

#[test]
fn unknown_ca_is_refused() {
    let h = hierarchy();
    let other = testca::issue(
        x509_cert::builder::Profile::Root,
        1,
        "CN=Other CA",
        testca::spki_of(&p256(50)),
        &testca::p256(50),
        valid(),
        vec![],
    );
    let (a, mut b) = cert_configs(&h, p256(51), p256(52));
    b.connections[0].remote_ca = Some(Arc::new(TrustStore {
        cas: vec![other],
        crls: vec![],
        ..TrustStore::default()
    }));
    let mut p = pair(a, b);
    p.connect();
    assert!(matches!(refused_by_b(&mut p), CertError::UnknownCa { .. }));
}

#[test]
fn expired_certificate_is_refused() {
    let h = hierarchy();
    let (mut a, b) = cert_configs(&h, p256(53), p256(54));
    a.connections[0].local_cert = Some(Arc::new(local(
        &h,
        15,
        "a.lanes.test",
        p256(53),
        validity(NOW - 100, NOW - 1),
    )));
    let mut p = pair(a, b);
    p.connect();
    assert!(matches!(
        refused_by_b(&mut p),
        CertError::Validity {
            state: "expired",
            ..
        }
    ));
}

#[test]
fn revoked_certificate_is_refused() {
    let h = hierarchy();
    let (a, mut b) = cert_configs(&h, p256(55), p256(56));
    let crl = crl(testca::INTER, &h.inter_key, &[10]);
    b.connections[0].remote_ca = Some(Arc::new(TrustStore {
        cas: vec![h.root.clone()],
        crls: vec![crl],
        ..TrustStore::default()
    }));
    let mut p = pair(a, b);
    p.connect();
    assert!(matches!(refused_by_b(&mut p), CertError::Revoked { .. }));
}

#[test]
fn identity_not_in_certificate_is_refused() {
    let h = hierarchy();
    let (mut a, b) = cert_configs(&h, p256(57), p256(58));
    a.connections[0].local_cert = Some(Arc::new(local(
        &h,
        16,
        "mallory.lanes.test",
        p256(57),
        valid(),
    )));
    let mut p = pair(a, b);
    p.connect();
    let e = refused_by_b(&mut p).to_string();
    assert!(
        e.contains("\"C=CH, O=Test, CN=mallory.lanes.test\" carries no subjectAltName or subject DN matching ID a.lanes.test")
            && e.contains("it carries dNSName mallory.lanes.test"),
        "{e}"
    );
}

/// A peer that also claims the ID its certificate carries is refused because
/// that ID is not the remote id; the reason names the certificate's names.
#[test]
fn identity_other_than_remote_id_names_the_certificate() {
    let h = hierarchy();
    let (mut a, b) = cert_configs(&h, p256(55), p256(56));
    let mallory = local(&h, 18, "mallory.lanes.test", p256(55), valid());
    a.connections[0].local_cert = Some(Arc::new(mallory));
    a.connections[0].local_id = Identity::Fqdn("mallory.lanes.test".into());
    let mut p = pair(a, b);
    p.connect();
    let e = refused_by_b(&mut p).to_string();
    assert!(
        e.contains("matching remote id a.lanes.test (peer sent ID mallory.lanes.test)")
            && e.contains("it carries dNSName mallory.lanes.test"),
        "{e}"
    );
    // The initiator names the check too (B's ID is b.lanes.test, its
    // certificate mallory's).
    let (a, mut b) = cert_configs(&h, p256(53), p256(54));
    let m = local(&h, 19, "mallory.lanes.test", p256(54), valid());
    b.connections[0].local_cert = Some(Arc::new(m));
    let mut p = pair(a, b);
    p.connect();
    let ea = p.take(Side::A);
    let e = ea
        .iter()
        .find_map(|e| match e {
            Event::IkeSaDown {
                reason: Error::PeerMisbehaved(PeerMisbehaved::Certificate(c)),
                ..
            } => Some(c.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("A names the check: {ea:?}"));
    assert!(
        e.contains("matching ID b.lanes.test (it carries dNSName mallory.lanes.test)"),
        "{e}"
    );
    assert_eq!(p.a.ike_sa_count(), 0);
}

#[test]
fn wrong_private_key_is_refused() {
    let h = hierarchy();
    let (mut a, b) = cert_configs(&h, p256(59), p256(60));
    let good = local(&h, 17, "a.lanes.test", p256(59), valid());
    assert!(matches!(
        LocalCert::new(good.chain.clone(), p256(61)),
        Err(CertError::KeyMismatch(_))
    ));
    // A config that skipped that check signs with a key that is not the certificate's.
    a.connections[0].local_cert = Some(Arc::new(LocalCert {
        chain: good.chain,
        key: p256(61),
        rsa_pss: false,
    }));
    let mut p = pair(a, b);
    p.connect();
    assert!(matches!(refused_by_b(&mut p), CertError::AuthSignature(_)));
}

#[test]
fn missing_certificate_and_missing_clock_are_refused() {
    let h = hierarchy();
    // A authenticates with the PSK where B wants a certificate.
    let (a, mut b) = configs();
    b.connections[0].remote_ca = Some(trust(&h));
    let mut p = pair(a, b);
    p.connect();
    assert!(matches!(refused_by_b(&mut p), CertError::NoCertificate));
    let (a, b) = cert_configs(&h, p256(62), p256(63));
    let mut p = Pair::new(a, b);
    p.connect();
    let e = refused_by_b(&mut p);
    assert!(e.to_string().contains("set_wall_clock"), "{e}");
}

#[test]
fn initiator_refuses_a_responder_certificate() {
    let h = hierarchy();
    let (a, mut b) = cert_configs(&h, p256(64), p256(65));
    b.connections[0].local_cert = Some(Arc::new(local(
        &h,
        18,
        "b.lanes.test",
        p256(65),
        validity(NOW - 100, NOW - 1),
    )));
    let mut p = pair(a, b);
    p.connect();
    let ea = p.take(Side::A);
    assert!(
        ea.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: Error::PeerMisbehaved(PeerMisbehaved::Certificate(
                    CertError::Validity { .. }
                )),
                ..
            }
        )),
        "{ea:?}"
    );
    assert_eq!(p.a.ike_sa_count(), 0);
}

#[test]
fn distinguished_name_identities_match_the_subject() {
    let h = hierarchy();
    let (mut a, mut b) = cert_configs(&h, p256(70), p256(71));
    let dn = |cn: &str| {
        let der = crate::pki::chain::parse_dn(&format!("C=CH, O=Test, CN={cn}")).expect("dn");
        Identity::Other(crate::wire::IdType::DER_ASN1_DN.0, der)
    };
    a.connections[0].local_id = dn("a.lanes.test");
    a.connections[0].remote_id = Some(dn("b.lanes.test"));
    b.connections[0].local_id = dn("b.lanes.test");
    b.connections[0].remote_id = None;
    let mut p = pair(a, b);
    p.connect();
    let eb = p.take(Side::B);
    assert!(up(&p.take(Side::A)) && up(&eb));
    assert!(
        eb.iter()
            .any(|e| matches!(e, Event::IkeSaUp { peer_id, .. } if *peer_id == dn("a.lanes.test"))),
        "{eb:?}"
    );
}

const OCSP_EE: &str = "http://ocsp.sub.test/";
const OCSP_SUB: &str = "http://ocsp.root.test/";

/// Both sides with certificates naming OCSP responders (the end entity and
/// the intermediate), and trust stores that ask them.
fn ocsp_configs(h: &Hierarchy) -> (EndpointConfig, EndpointConfig) {
    let inter = testca::with_aia(h.inter.clone(), OCSP_SUB, &h.root_key);
    let with_ocsp = |serial, name: &str, key: PrivateKey| {
        let ee = h.leaf(
            serial,
            &format!("C=CH, O=Test, CN={name}"),
            &key,
            valid(),
            vec![dns(name)],
        );
        let ee = testca::with_aia(ee, OCSP_EE, &h.inter_key);
        let chain = CertChain {
            ee,
            intermediates: vec![inter.clone()],
        };
        Some(Arc::new(LocalCert::new(chain, key).expect("key matches")))
    };
    let (mut a, mut b) = configs();
    a.connections[0].local_cert = with_ocsp(30, "a.lanes.test", p256(70));
    b.connections[0].local_cert = with_ocsp(31, "b.lanes.test", p256(71));
    let store = Arc::new(TrustStore {
        cas: vec![h.root.clone()],
        ocsp: true,
        ..TrustStore::default()
    });
    a.connections[0].remote_ca = Some(Arc::clone(&store));
    b.connections[0].remote_ca = Some(store);
    (a, b)
}

/// Answers every OCSP lookup `side` handed out, as its issuer would; the
/// certificate named `revoked` is revoked. Returns the subjects asked about.
fn answer_ocsp(p: &mut Pair, h: &Hierarchy, side: Side, revoked: &str) -> Vec<String> {
    let mut asked = Vec::new();
    let queries: Vec<_> = std::iter::from_fn(|| p.ep(side).poll_ocsp_query()).collect();
    for q in queries {
        let key = if q.issuer == h.root {
            &h.root_key
        } else {
            &h.inter_key
        };
        let der = testca::ocsp_answer(&q.cert, &q.issuer, key, q.subject().contains(revoked));
        let status = q
            .check(&der, &q.uris[0], UnixTime(NOW))
            .expect("answer checks");
        asked.push(q.subject());
        let now = p.time;
        p.ep(side).handle_ocsp_status(now, &q, status);
    }
    asked
}

/// An IKE_AUTH that needs OCSP answers waits for them on either side
/// (nothing is answered meanwhile, nothing is asked twice), resumes when the
/// last one comes, and the next IKE SA is served from the cache.
#[test]
fn ocsp_lookups_park_ike_auth_until_answered_then_come_from_the_cache() {
    let h = hierarchy();
    let (a, b) = ocsp_configs(&h);
    let mut p = pair(a, b);
    p.a.initiate(p.time, "net").expect("initiate");
    // B has A's IKE_AUTH (and its retransmissions) but no answers.
    p.drive_for(std::time::Duration::from_secs(5));
    let q1 = p.b.poll_ocsp_query().expect("lookup for A's certificate");
    let q2 = p.b.poll_ocsp_query().expect("lookup for the intermediate");
    assert!(
        p.b.poll_ocsp_query().is_none(),
        "each lookup handed out once"
    );
    assert_eq!(
        (q1.subject(), q1.uris.clone(), q2.subject(), q2.uris.clone()),
        (
            "C=CH, O=Test, CN=a.lanes.test".to_string(),
            vec![OCSP_EE.to_string()],
            "C=CH, O=Test, CN=Sub CA".to_string(),
            vec![OCSP_SUB.to_string()]
        )
    );
    assert_eq!(p.b.ocsp_in_flight(), 2);
    assert!(!up(&p.take(Side::A)) && !up(&p.take(Side::B)));
    let b_sent = p.log.iter().filter(|(from, _)| *from == Side::B).count();
    assert_eq!(b_sent, 1, "B answered IKE_SA_INIT only");
    // One answer: B still waits, and asks nothing new.
    let good = |q: &crate::pki::OcspQuery, key| {
        let der = testca::ocsp_answer(&q.cert, &q.issuer, key, false);
        q.check(&der, &q.uris[0], UnixTime(NOW)).expect("checks")
    };
    let now = p.time;
    p.b.handle_ocsp_status(now, &q1, good(&q1, &h.inter_key));
    assert!(p.b.poll_ocsp_query().is_none() && p.b.ocsp_in_flight() == 1);
    p.drive_for(std::time::Duration::from_millis(100));
    assert!(!up(&p.take(Side::B)));
    // The last answer: B authenticates A and answers; now A waits for its own.
    p.b.handle_ocsp_status(now, &q2, good(&q2, &h.root_key));
    p.drive_for(std::time::Duration::from_millis(100));
    assert!(
        p.take(Side::B)
            .iter()
            .any(|e| matches!(e, Event::IkeSaUp { .. }))
    );
    assert!(!up(&p.take(Side::A)));
    assert_eq!(
        answer_ocsp(&mut p, &h, Side::A, "nothing"),
        vec![
            "C=CH, O=Test, CN=b.lanes.test".to_string(),
            "C=CH, O=Test, CN=Sub CA".to_string()
        ]
    );
    p.drive();
    assert!(up(&p.take(Side::A)));
    // A second IKE SA: both sides have the answers cached (the pair answers
    // no lookup, so one would leave it hanging).
    p.a.initiate(p.time, "net").expect("initiate");
    p.drive_for(std::time::Duration::from_secs(2));
    assert!(p.a.poll_ocsp_query().is_none() && p.b.poll_ocsp_query().is_none());
    assert_eq!(p.a.established().len(), 2, "{:?}", p.take(Side::A));
}

/// A revoked intermediate refuses the peer, naming the certificate and the
/// responder; the initiator sees AUTHENTICATION_FAILED.
#[test]
fn revoked_intermediate_by_ocsp_is_refused() {
    let h = hierarchy();
    let (a, b) = ocsp_configs(&h);
    let mut p = pair(a, b);
    p.a.initiate(p.time, "net").expect("initiate");
    p.drive_for(std::time::Duration::from_secs(1));
    let asked = answer_ocsp(&mut p, &h, Side::B, "Sub CA");
    assert_eq!(asked.len(), 2, "{asked:?}");
    p.drive();
    let e = refused_by_b(&mut p);
    assert!(
        matches!(&e, CertError::RevokedOcsp { subject, responder, .. }
            if subject == "C=CH, O=Test, CN=Sub CA" && responder == OCSP_SUB),
        "{e:?}"
    );
}
