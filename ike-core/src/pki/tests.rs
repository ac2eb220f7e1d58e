use std::net::IpAddr;

use der::{Encode, EncodePem, Tagged};
use pkcs8::EncodePrivateKey;
use x509_cert::builder::Profile;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{AsExtension, Extension};

use super::chain::{self, CertChain, parse_dn};
use super::sig::{decode_auth14, encode_auth14};
use super::testca::*;
use super::*;
use crate::config::Identity;

fn fqdn(s: &str) -> Identity {
    Identity::Fqdn(s.into())
}

fn store(h: &Hierarchy) -> TrustStore {
    TrustStore {
        cas: vec![h.root.clone()],
        crls: vec![],
        ..TrustStore::default()
    }
}

fn gw_chain(h: &Hierarchy, v: x509_cert::time::Validity) -> CertChain {
    let k = PrivateKey::P256(p256(9));
    let ee = h.leaf(
        100,
        "C=CH, O=Test, CN=gw-b",
        &k,
        v,
        vec![
            dns("gw-b.example"),
            email("gw@b.example"),
            ip("192.0.2.2".parse().unwrap()),
        ],
    );
    CertChain {
        ee,
        intermediates: vec![h.inter.clone()],
    }
}

fn now() -> UnixTime {
    UnixTime(NOW)
}

#[test]
fn loads_every_key_format() {
    let ec = p256::SecretKey::from_slice(&[3; 32]).unwrap();
    let pkcs8 = ec.to_pkcs8_pem(Default::default()).unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(pkcs8.as_bytes()).unwrap(),
        PrivateKey::P256(_)
    ));
    let sec1 = ec.to_sec1_pem(Default::default()).unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(sec1.as_bytes()).unwrap(),
        PrivateKey::P256(_)
    ));
    let ec384 = p384::SecretKey::from_slice(&[4; 48]).unwrap();
    let der = ec384.to_sec1_der().unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(&der).unwrap(),
        PrivateKey::P384(_)
    ));
    let ed = ed25519(5).to_pkcs8_der().unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(ed.as_bytes()).unwrap(),
        PrivateKey::Ed25519(_)
    ));
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let pkcs1 = rsa2048().to_pkcs1_pem(Default::default()).unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(pkcs1.as_bytes()).unwrap(),
        PrivateKey::Rsa(_)
    ));
    let rsa8 = rsa2048().to_pkcs8_der().unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(rsa8.as_bytes()).unwrap(),
        PrivateKey::Rsa(_)
    ));
    let k = PrivateKey::from_bytes(sec1.as_bytes()).unwrap();
    assert!(!format!("{k:?}").contains("03030303"), "Debug is redacted");
}

#[test]
fn bad_keys_are_clear_errors() {
    let enc = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let e = PrivateKey::from_bytes(enc).unwrap_err();
    assert!(e.to_string().contains("unencrypted"), "{e}");
    assert!(matches!(
        PrivateKey::from_bytes(b"garbage").unwrap_err(),
        CertError::Parse { .. }
    ));
}

#[test]
fn signatures_round_trip_and_tamper_fails() {
    let keys = [
        PrivateKey::P256(p256(7)),
        PrivateKey::P384(p384::ecdsa::SigningKey::from_slice(&[8; 48]).unwrap()),
        PrivateKey::Ed25519(ed25519(9)),
        PrivateKey::Rsa(Box::new(rsa2048())),
    ];
    let msg = b"signed octets";
    for k in &keys {
        let scheme = k
            .scheme_for(&HashAlgorithm::OFFERED, false)
            .expect("scheme");
        let auth = encode_auth14(scheme, &k.sign(scheme, msg, false).unwrap());
        let (got, sig) = decode_auth14(&auth).unwrap();
        assert_eq!(got, scheme);
        assert!(k.public().verify(got, msg, sig, false), "{scheme:?}");
        assert!(
            !k.public().verify(got, b"other octets", sig, false),
            "{scheme:?} tampered"
        );
        if let Some((_, classic)) = k.classic() {
            let raw = k.sign(classic, msg, true).unwrap();
            assert!(
                k.public().verify(classic, msg, &raw, true),
                "classic {classic:?}"
            );
            assert!(!k.public().verify(classic, b"x", &raw, true));
        }
    }
    assert!(!keys[0].public().verify(
        SigScheme::EcdsaSha256,
        msg,
        &keys[1].sign(SigScheme::EcdsaSha384, msg, false).unwrap(),
        false
    ));
}

#[test]
fn rsa_pss_verifies_with_its_parameters() {
    use rsa::pss::BlindedSigningKey;
    use signature::{RandomizedSigner, SignatureEncoding};
    let k = rsa2048();
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    let sig = BlindedSigningKey::<sha2::Sha256>::new(k.clone())
        .sign_with_rng(&mut rng, b"m")
        .to_vec();
    let auth = encode_auth14(SigScheme::RsaPss(HashAlgorithm::SHA2_256), &sig);
    let (scheme, s) = decode_auth14(&auth).unwrap();
    assert_eq!(scheme, SigScheme::RsaPss(HashAlgorithm::SHA2_256));
    assert!(
        PrivateKey::Rsa(Box::new(k))
            .public()
            .verify(scheme, b"m", s, false)
    );
    assert!(
        decode_auth14(&[40, 1, 2]).is_err(),
        "truncated AlgorithmIdentifier"
    );
}
use rand_core::SeedableRng;

#[test]
fn hash_algorithm_notify_round_trips_unknown_values() {
    let data = HashAlgorithm::encode_list(&[HashAlgorithm::SHA2_256, HashAlgorithm(99)]);
    assert_eq!(data, [0, 2, 0, 99]);
    assert_eq!(
        HashAlgorithm::decode_list(&data),
        [HashAlgorithm::SHA2_256, HashAlgorithm(99)]
    );
}

#[test]
fn valid_chain_and_every_identity_kind() {
    let h = hierarchy();
    let c = gw_chain(&h, valid());
    let v = store(&h).verify(&c, &fqdn("gw-b.example"), now()).unwrap();
    assert_eq!(v.ca, ROOT);
    assert_eq!(v.revocation, Revocation::NoCrl);
    for id in [
        Identity::Email("gw@b.example".into()),
        Identity::Addr("192.0.2.2".parse().unwrap()),
        Identity::Other(9, parse_dn("C=CH, O=Test, CN=gw-b").unwrap()),
    ] {
        store(&h)
            .verify(&c, &id, now())
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
    let crl = crl(INTER, &h.inter_key, &[555]);
    let st = TrustStore {
        crls: vec![crl],
        ..store(&h)
    };
    assert_eq!(
        st.verify(&c, &fqdn("gw-b.example"), now())
            .unwrap()
            .revocation,
        Revocation::Good
    );
    assert_eq!(st.certreq_data().len(), 20);
}

#[test]
fn identity_mismatch() {
    let h = hierarchy();
    let c = gw_chain(&h, valid());
    for id in [
        fqdn("gw-c.example"),
        Identity::Email("x@b.example".into()),
        Identity::Addr(IpAddr::from([192, 0, 2, 3])),
        Identity::Other(9, parse_dn("C=CH, O=Test, CN=gw-c").unwrap()),
    ] {
        let e = store(&h).verify(&c, &id, now()).unwrap_err();
        assert!(
            matches!(e, CertError::IdentityMismatch { .. }),
            "{id:?}: {e}"
        );
    }
    assert!(
        store(&h)
            .verify(&c, &fqdn("gw-c.example"), now())
            .unwrap_err()
            .to_string()
            .contains("gw-c.example")
    );
}

#[test]
fn unknown_ca_and_missing_intermediate() {
    let h = hierarchy();
    let other = TrustStore {
        cas: vec![issue(
            Profile::Root,
            1,
            "CN=Other",
            spki_of(&PrivateKey::P256(p256(30))),
            &p256(30),
            valid(),
            vec![],
        )],
        crls: vec![],
        ..TrustStore::default()
    };
    let c = gw_chain(&h, valid());
    assert!(matches!(
        other.verify(&c, &fqdn("gw-b.example"), now()),
        Err(CertError::UnknownCa { .. })
    ));
    let alone = CertChain {
        ee: c.ee.clone(),
        intermediates: vec![],
    };
    let e = store(&h)
        .verify(&alone, &fqdn("gw-b.example"), now())
        .unwrap_err();
    assert!(e.to_string().contains("Sub CA"), "{e}");
}

#[test]
fn validity_of_leaf_and_intermediate() {
    let h = hierarchy();
    let exp = gw_chain(&h, validity(NOW - 1000, NOW - 1));
    assert!(matches!(
        store(&h).verify(&exp, &fqdn("gw-b.example"), now()),
        Err(CertError::Validity {
            state: "expired",
            ..
        })
    ));
    let fut = gw_chain(&h, validity(NOW + 10, NOW + 1000));
    assert!(matches!(
        store(&h).verify(&fut, &fqdn("gw-b.example"), now()),
        Err(CertError::Validity {
            state: "not yet valid",
            ..
        })
    ));
    let ok = gw_chain(&h, valid());
    assert!(
        store(&h)
            .verify(&ok, &fqdn("gw-b.example"), UnixTime(NOW + 86_400 * 400))
            .is_err(),
        "intermediate and root expire too"
    );
}

#[test]
fn forged_signature() {
    let h = hierarchy();
    let mut c = gw_chain(&h, valid());
    c.ee = resign(c.ee, &p256(66));
    assert!(matches!(
        store(&h).verify(&c, &fqdn("gw-b.example"), now()),
        Err(CertError::BadSignature(_))
    ));
}

#[test]
fn issuer_must_be_a_ca() {
    let h = hierarchy();
    let k = PrivateKey::P256(p256(10));
    let fake_ca = h.leaf(200, "C=CH, O=Test, CN=Leaf CA", &k, valid(), vec![]);
    let PrivateKey::P256(sk) = &k else {
        unreachable!()
    };
    let profile = Profile::Leaf {
        issuer: fake_ca.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
        include_subject_key_identifier: false,
    };
    let ee = issue(
        profile,
        201,
        "CN=victim",
        spki_of(&PrivateKey::P256(p256(11))),
        sk,
        valid(),
        vec![dns("v.example")],
    );
    let c = CertChain {
        ee,
        intermediates: vec![fake_ca, h.inter.clone()],
    };
    assert!(matches!(
        store(&h).verify(&c, &fqdn("v.example"), now()),
        Err(CertError::NotCa(_))
    ));
}

fn with_ext(c: Certificate, ext: Extension, key: &p256::ecdsa::SigningKey) -> Certificate {
    let mut c = c;
    let exts = c.tbs_certificate.extensions.get_or_insert_with(Vec::new);
    exts.retain(|e| e.extn_id != ext.extn_id);
    exts.push(ext);
    resign(c, key)
}

#[test]
fn ca_key_usage_and_path_len_and_critical_extensions() {
    let h = hierarchy();
    let c = gw_chain(&h, valid());
    let subj = h.inter.tbs_certificate.subject.clone();
    let ku = KeyUsage(KeyUsages::DigitalSignature.into())
        .to_extension(&subj, &[])
        .unwrap();
    let bad_inter = with_ext(h.inter.clone(), ku, &h.root_key);
    let chain = CertChain {
        ee: c.ee.clone(),
        intermediates: vec![bad_inter],
    };
    assert!(matches!(
        store(&h).verify(&chain, &fqdn("gw-b.example"), now()),
        Err(CertError::KeyUsage {
            usage: "keyCertSign",
            ..
        })
    ));

    let weird = Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
        critical: true,
        extn_value: der::asn1::OctetString::new(vec![5, 0]).unwrap(),
    };
    let crit = with_ext(c.ee.clone(), weird, &h.inter_key);
    let chain = CertChain {
        ee: crit,
        intermediates: c.intermediates.clone(),
    };
    assert!(matches!(
        store(&h).verify(&chain, &fqdn("gw-b.example"), now()),
        Err(CertError::CriticalExtension(_))
    ));

    // Root → Sub CA (pathLen 0) → Sub-sub CA → leaf: one CA too many below Sub CA.
    let k3 = p256(12);
    let sub2 = issue(
        Profile::SubCA {
            issuer: dn(INTER),
            path_len_constraint: None,
        },
        3,
        "CN=Sub2",
        spki_of(&PrivateKey::P256(k3.clone())),
        &h.inter_key,
        valid(),
        vec![],
    );
    let profile = Profile::Leaf {
        issuer: dn("CN=Sub2"),
        enable_key_agreement: false,
        enable_key_encipherment: false,
        include_subject_key_identifier: false,
    };
    let ee = issue(
        profile,
        4,
        "CN=deep",
        spki_of(&PrivateKey::P256(p256(13))),
        &k3,
        valid(),
        vec![dns("deep.example")],
    );
    let chain = CertChain {
        ee,
        intermediates: vec![sub2, h.inter.clone()],
    };
    assert!(matches!(
        store(&h).verify(&chain, &fqdn("deep.example"), now()),
        Err(CertError::PathLen(_))
    ));
    let bc = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    }
    .to_extension(&subj, &[])
    .unwrap();
    let not_ca = with_ext(h.inter.clone(), bc, &h.root_key);
    let chain = CertChain {
        ee: c.ee.clone(),
        intermediates: vec![not_ca],
    };
    assert!(matches!(
        store(&h).verify(&chain, &fqdn("gw-b.example"), now()),
        Err(CertError::NotCa(_))
    ));
}

#[test]
fn leaf_key_usage_must_allow_signatures() {
    let h = hierarchy();
    let c = gw_chain(&h, valid());
    let ku = KeyUsage(KeyUsages::KeyEncipherment.into())
        .to_extension(&c.ee.tbs_certificate.subject, &[])
        .unwrap();
    let ee = with_ext(c.ee.clone(), ku, &h.inter_key);
    let chain = CertChain {
        ee,
        intermediates: c.intermediates,
    };
    assert!(matches!(
        store(&h).verify(&chain, &fqdn("gw-b.example"), now()),
        Err(CertError::KeyUsage {
            usage: "digitalSignature",
            ..
        })
    ));
}

#[test]
fn revoked_by_crl_and_forged_crl() {
    let h = hierarchy();
    let c = gw_chain(&h, valid());
    let st = TrustStore {
        crls: vec![crl(INTER, &h.inter_key, &[7, 100])],
        ..store(&h)
    };
    let e = st.verify(&c, &fqdn("gw-b.example"), now()).unwrap_err();
    assert!(matches!(e, CertError::Revoked { .. }), "{e}");
    assert!(e.to_string().contains("serial 64"), "{e}");
    let forged = TrustStore {
        crls: vec![crl(INTER, &p256(77), &[])],
        ..store(&h)
    };
    assert!(matches!(
        forged.verify(&c, &fqdn("gw-b.example"), now()),
        Err(CertError::BadSignature(_))
    ));
    let revoked_inter = TrustStore {
        crls: vec![crl(ROOT, &h.root_key, &[2])],
        ..store(&h)
    };
    assert!(matches!(
        revoked_inter.verify(&c, &fqdn("gw-b.example"), now()),
        Err(CertError::Revoked { .. })
    ));
}

#[test]
fn pem_and_der_certificates_and_crls_load() {
    let h = hierarchy();
    let pem =
        h.root.to_pem(Default::default()).unwrap() + &h.inter.to_pem(Default::default()).unwrap();
    assert_eq!(chain::parse_certs(pem.as_bytes()).unwrap().len(), 2);
    assert_eq!(
        chain::parse_cert(&h.inter.to_der().unwrap()).unwrap(),
        h.inter
    );
    let l = crl(ROOT, &h.root_key, &[1]);
    let crl_pem =
        der::pem::encode_string("X509 CRL", Default::default(), &l.to_der().unwrap()).unwrap();
    assert_eq!(chain::parse_crl(crl_pem.as_bytes()).unwrap(), l);
    assert!(chain::parse_cert(b"nope").is_err());
}

#[test]
fn dn_text_keeps_strongswan_order() {
    let der = parse_dn("C=CH, O=Example, CN=gw-b").unwrap();
    let n = <x509_cert::name::Name as der::Decode>::from_der(&der).unwrap();
    assert_eq!(n.0[0].to_string(), "C=CH");
    // Printable values are PrintableStrings (tag 0x13), as strongSwan encodes them.
    let cn = n.0[2].0.iter().next().unwrap();
    assert_eq!(cn.value.tag(), der::Tag::PrintableString);
    let utf8 = parse_dn("CN=Zürich").unwrap();
    let n = <x509_cert::name::Name as der::Decode>::from_der(&utf8).unwrap();
    assert_eq!(
        n.0[0].0.iter().next().unwrap().value.tag(),
        der::Tag::Utf8String
    );
    assert_eq!(
        chain::identity_text(&Identity::Other(9, der)),
        "C=CH, O=Example, CN=gw-b"
    );
}

#[test]
fn rsa_pss_signs_with_the_first_offered_hash_and_verifies() {
    let k = PrivateKey::Rsa(Box::new(rsa2048()));
    let msg = b"signed octets";
    assert_eq!(
        k.scheme_for(&HashAlgorithm::OFFERED, true),
        Some(SigScheme::RsaPss(HashAlgorithm::SHA2_256))
    );
    // Only PKCS#1 v1.5 without the setting; the setting leaves other keys alone.
    assert_eq!(
        k.scheme_for(&HashAlgorithm::OFFERED, false),
        Some(SigScheme::RsaPkcs1Sha256)
    );
    assert_eq!(
        PrivateKey::P256(p256(7)).scheme_for(&HashAlgorithm::OFFERED, true),
        Some(SigScheme::EcdsaSha256)
    );
    for h in [
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
    ] {
        let scheme = k.scheme_for(&[h], true).expect("pss");
        assert_eq!(scheme, SigScheme::RsaPss(h));
        let auth = encode_auth14(scheme, &k.sign(scheme, msg, false).unwrap());
        // The AlgorithmIdentifier carries the RSASSA-PSS parameters back.
        let (got, sig) = decode_auth14(&auth).unwrap();
        assert_eq!(got, scheme);
        assert!(k.public().verify(got, msg, sig, false), "{h:?}");
        assert!(!k.public().verify(got, b"other", sig, false), "{h:?}");
        // A PSS signature is no PKCS#1 v1.5 signature.
        assert!(
            !k.public()
                .verify(SigScheme::RsaPkcs1Sha256, msg, sig, false)
        );
    }
    // Randomised salt: two signatures differ, both verify.
    let s = SigScheme::RsaPss(HashAlgorithm::SHA2_256);
    assert_ne!(
        k.sign(s, msg, false).unwrap(),
        k.sign(s, msg, false).unwrap()
    );
    assert!(k.scheme_for(&[HashAlgorithm::IDENTITY], true).is_none());
}

/// The RSASSA-PSS SHA-256 AlgorithmIdentifier of RFC 7427 AUTH data, with
/// NULL hash parameters, MGF1-SHA-256, salt 32 and no trailerField, as
/// peers that compare it byte for byte (libreswan) expect.
#[test]
fn rsa_pss_sha256_algorithm_identifier_bytes() {
    let want = "30410609 2a864886f70d01010a 3034 a00f 300d0609 608648016503040201 0500 \
                a11c 301a0609 2a864886f70d010108 300d0609 608648016503040201 0500 a203020120";
    let want = crate::tests::util::unhex(&want.split_whitespace().collect::<String>());
    let auth = encode_auth14(SigScheme::RsaPss(HashAlgorithm::SHA2_256), b"sig");
    assert_eq!(usize::from(auth[0]), want.len());
    assert_eq!(&auth[1..=want.len()], &want[..]);
    assert_eq!(&auth[1 + want.len()..], b"sig");
}
