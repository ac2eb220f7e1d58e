use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use x509_cert::builder::Profile;

use super::*;
use crate::crypto::{OsRandom, SecureRandom};
use crate::pki::testca::{self, dn, dns, issue, spki_of, valid};
use crate::wire::{EncrId, IntegId};

fn suite() -> (IkeSuite, ChildSuite) {
    let s = IkeSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        ke: KeId::CURVE25519,
    };
    let c = ChildSuite {
        encr: EncrId::AES_GCM_16,
        encr_key_bits: Some(128),
        integ: IntegId::NONE,
        esn: false,
        ke: None,
    };
    (s, c)
}

fn hs<'a>(additional: &'a [KeId], certs: Option<[CertSide<'a>; 2]>) -> Handshake<'a> {
    let (suite, child) = suite();
    Handshake {
        suite,
        child,
        additional,
        auth_msg_lens: [300, 280],
        certs,
    }
}

/// Counts the random bytes drawn: key pairs, encapsulations and nonces.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl SecureRandom for Counting {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fetch_add(dest.len(), Ordering::Relaxed);
        OsRandom.fill(dest)
    }
}

fn drawn(additional: &[KeId]) -> usize {
    let rng = Arc::new(Counting::default());
    let p = CryptoProvider::with_random(rng.clone());
    handshake_crypto_with(&p, &hs(additional, None)).expect("floor");
    rng.0.load(Ordering::Relaxed)
}

#[test]
fn hybrid_floor_runs_the_additional_exchange() {
    // Per exchange: a 64-byte ML-KEM key-pair seed, a 32-byte encapsulation
    // message and the 8-byte AES-GCM IVs of the request and the response.
    assert_eq!(drawn(&[KeId::ML_KEM_768]) - drawn(&[]), 64 + 32 + 16);
    assert_eq!(
        drawn(&[KeId::ML_KEM_768, KeId::ML_KEM_512]) - drawn(&[]),
        2 * (64 + 32 + 16)
    );
    let mut p = CryptoProvider::seeded(3);
    p.ke_groups.retain(|g| g.id() != KeId::ML_KEM_768);
    assert_eq!(
        handshake_crypto_with(&p, &hs(&[KeId::ML_KEM_768], None)),
        Err(FloorError::Crypto(CryptoError::UnsupportedKe(
            KeId::ML_KEM_768
        )))
    );
}

struct Pki {
    ca: Certificate,
    other_ca: Certificate,
    keys: [PrivateKey; 2],
    certs: [Certificate; 2],
}

const CA: &str = "C=CH, O=Test, CN=Bench CA";

fn pki(rsa: bool) -> Pki {
    let ca_key = testca::p256(1);
    let other_key = testca::p256(9);
    let root = |k: &p256::ecdsa::SigningKey| {
        let spki = spki_of(&PrivateKey::P256(k.clone()));
        issue(Profile::Root, 1, CA, spki, k, valid(), vec![])
    };
    let keys = if rsa {
        [
            PrivateKey::Rsa(Box::new(testca::rsa2048())),
            PrivateKey::P256(testca::p256(3)),
        ]
    } else {
        [
            PrivateKey::P256(testca::p256(2)),
            PrivateKey::P256(testca::p256(3)),
        ]
    };
    let leaf = |serial, name: &str, k: &PrivateKey| {
        let profile = Profile::Leaf {
            issuer: dn(CA),
            enable_key_agreement: false,
            enable_key_encipherment: false,
            include_subject_key_identifier: true,
        };
        let subject = format!("C=CH, O=Test, CN={name}");
        issue(
            profile,
            serial,
            &subject,
            spki_of(k),
            &ca_key,
            valid(),
            vec![dns(name)],
        )
    };
    let certs = [
        leaf(10, "a.lanes.test", &keys[0]),
        leaf(11, "b.lanes.test", &keys[1]),
    ];
    Pki {
        ca: root(&ca_key),
        other_ca: root(&other_key),
        keys,
        certs,
    }
}

fn sides<'a>(p: &'a Pki, ca: [&'a Certificate; 2], keys: [&'a PrivateKey; 2]) -> [CertSide<'a>; 2] {
    [0, 1].map(|k| CertSide {
        key: keys[k],
        cert: &p.certs[k],
        ca: ca[k],
    })
}

#[test]
fn pubkey_floor_checks_the_ca_and_the_auth_signatures() {
    let provider = CryptoProvider::seeded(4);
    for rsa in [false, true] {
        let p = pki(rsa);
        let keys = [&p.keys[0], &p.keys[1]];
        let good = sides(&p, [&p.ca, &p.ca], keys);
        handshake_crypto_with(&provider, &hs(&[], Some(good))).expect("good chain");
        handshake_crypto_with(&provider, &hs(&[KeId::ML_KEM_768], Some(good))).expect("hybrid");
        // A CA with the same name but another key: its signature check fails.
        let wrong_ca = sides(&p, [&p.ca, &p.other_ca], keys);
        assert_eq!(
            handshake_crypto_with(&provider, &hs(&[], Some(wrong_ca))),
            Err(FloorError::Disagree("AUTH")),
            "rsa {rsa}"
        );
        // A key that is not the certificate's: the AUTH check fails.
        let wrong_key = sides(&p, [&p.ca, &p.ca], [keys[0], keys[0]]);
        assert_eq!(
            handshake_crypto_with(&provider, &hs(&[], Some(wrong_key))),
            Err(FloorError::Disagree("AUTH")),
            "rsa {rsa}"
        );
    }
}

#[test]
fn psk_floor_still_agrees() {
    let (s, c) = suite();
    let p = CryptoProvider::seeded(5);
    handshake_crypto(&p, s, c, 200).expect("psk floor");
    handshake_crypto_with(&p, &hs(&[], None)).expect("psk floor");
}
