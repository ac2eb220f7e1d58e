//! OCSP responses signed here by the issuer, a delegated responder or a
//! stranger, and the revocation policies applied to them.

use std::sync::{Arc, Mutex};

use der::Encode;
use der::asn1::{Ia5String, OctetString};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, ExtendedKeyUsage};
use x509_ocsp::builder::OcspResponseBuilder;
use x509_ocsp::{CertStatus, OcspGeneralizedTime, RevokedInfo, SingleResponse};

use super::chain::CertChain;
use super::ocsp::{OcspCache, OcspQuery, OcspStatus, RevocationPolicy, aia_uris, check_response};
use super::testca::*;
use super::{CertError, PrivateKey, Revocation, RevocationCheck, TrustStore, UnixTime, Verified};
use crate::config::Identity;

const URI: &str = "http://ocsp.test:8080/";

fn now() -> UnixTime {
    UnixTime(NOW)
}

fn ext(oid: &str, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap(oid),
        critical: false,
        extn_value: OctetString::new(value).expect("octets"),
    }
}

/// gw-b's certificate from the intermediate, with an OCSP URI in its AIA.
fn gw(h: &Hierarchy, serial: u32) -> Certificate {
    let mut c = h.leaf(
        serial,
        "C=CH, O=Test, CN=gw-b",
        &PrivateKey::P256(p256(9)),
        valid(),
        vec![dns("gw-b.example")],
    );
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(URI).expect("ia5")),
    }]);
    let v = aia.to_der().expect("aia");
    c.tbs_certificate
        .extensions
        .get_or_insert_with(Vec::new)
        .push(ext("1.3.6.1.5.5.7.1.1", v));
    resign(c, &h.inter_key)
}

/// A responder certificate from the intermediate, with id-kp-OCSPSigning if `eku`.
fn responder(h: &Hierarchy, eku: bool) -> Certificate {
    let mut c = h.leaf(
        300,
        "C=CH, O=Test, CN=OCSP",
        &PrivateKey::P256(p256(40)),
        valid(),
        vec![],
    );
    let oid = if eku {
        "1.3.6.1.5.5.7.3.9"
    } else {
        "1.3.6.1.5.5.7.3.1"
    };
    let v = ExtendedKeyUsage(vec![der::asn1::ObjectIdentifier::new_unwrap(oid)])
        .to_der()
        .expect("eku");
    c.tbs_certificate
        .extensions
        .get_or_insert_with(Vec::new)
        .push(ext("2.5.29.37", v));
    resign(c, &h.inter_key)
}

/// A DER OCSPResponse about `cert` signed with `key`, carrying `certs`.
fn answer(
    h: &Hierarchy,
    cert: &Certificate,
    status: CertStatus,
    key: &p256::ecdsa::SigningKey,
    certs: Option<Vec<Certificate>>,
) -> Vec<u8> {
    let id = super::ocsp::cert_id(cert, &h.inter).expect("certid");
    let v = valid();
    let single = SingleResponse::new(id, status, v.not_before.into())
        .with_next_update(OcspGeneralizedTime::from(v.not_after));
    OcspResponseBuilder::new(dn(INTER))
        .with_single_response(single)
        .sign::<_, p256::ecdsa::DerSignature>(&mut key.clone(), certs, v.not_before.into())
        .expect("sign")
        .to_der()
        .expect("der")
}

fn revoked() -> CertStatus {
    CertStatus::revoked(RevokedInfo {
        revocation_time: valid().not_before.into(),
        revocation_reason: None,
    })
}

/// Answers with a canned response, recording the URIs it was given.
#[derive(Debug)]
struct Canned {
    der: Option<Vec<u8>>,
    asked: Mutex<Vec<String>>,
}

impl Canned {
    fn status(&self, q: &OcspQuery) -> OcspStatus {
        self.asked
            .lock()
            .expect("lock")
            .extend(q.uris.iter().cloned());
        match &self.der {
            Some(d) => q
                .check(d, &q.uris[0], now())
                .unwrap_or_else(|e| OcspStatus::Unknown(e.to_string())),
            None => OcspStatus::Unknown("unreachable".into()),
        }
    }
}

fn store(
    h: &Hierarchy,
    der: Option<Vec<u8>>,
    policy: RevocationPolicy,
) -> (TrustStore, Arc<Canned>) {
    let src = Arc::new(Canned {
        der,
        asked: Mutex::new(Vec::new()),
    });
    // The root's CRL vouches for the intermediate (strict checks it too).
    let s = TrustStore {
        cas: vec![h.root.clone()],
        crls: vec![crl(ROOT, &h.root_key, &[])],
        revocation: policy,
        ocsp: true,
        ..TrustStore::default()
    };
    (s, src)
}

fn verify_chain(s: &TrustStore, src: &Canned, chain: &CertChain) -> Result<Verified, CertError> {
    let path = s.validate(chain, &Identity::Fqdn("gw-b.example".into()), now())?;
    match s.revocation(&path, now(), &|q| Some(src.status(q)))? {
        RevocationCheck::Done(v) => path.verified(v),
        RevocationCheck::Need(q) => panic!("answers given, yet {} asked", q.len()),
    }
}

fn verify(
    (s, src): &(TrustStore, Arc<Canned>),
    h: &Hierarchy,
    ee: Certificate,
) -> Result<Revocation, CertError> {
    let chain = CertChain {
        ee,
        intermediates: vec![h.inter.clone()],
    };
    verify_chain(s, src, &chain).map(|v| v.revocation)
}

#[test]
fn good_answer_from_the_issuer_is_accepted_and_uses_the_aia_uri() {
    let h = hierarchy();
    let c = gw(&h, 100);
    assert_eq!(aia_uris(&c), vec![URI.to_string()]);
    let der = answer(&h, &c, CertStatus::good(), &h.inter_key, None);
    let st = check_response(&der, &c, &h.inter, URI, now()).expect("checks");
    let until = valid().not_after.to_unix_duration().as_secs();
    assert_eq!(
        st,
        OcspStatus::Good {
            until: Some(UnixTime(until))
        }
    );
    let s = store(&h, Some(der), RevocationPolicy::Strict);
    assert_eq!(verify(&s, &h, c.clone()), Ok(Revocation::OcspGood));
    assert_eq!(*s.1.asked.lock().unwrap(), vec![URI.to_string()]);
    // Configured ocsp_uris replace the certificate's.
    let mut s = store(
        &h,
        answer(&h, &c, CertStatus::good(), &h.inter_key, None).into(),
        RevocationPolicy::Relaxed,
    );
    s.0.ocsp_uris = vec!["http://10.0.0.9/".into()];
    assert_eq!(verify(&s, &h, c), Ok(Revocation::OcspGood));
    assert_eq!(
        *s.1.asked.lock().unwrap(),
        vec!["http://10.0.0.9/".to_string()]
    );
}

#[test]
fn revoked_answer_is_refused_naming_ocsp() {
    let h = hierarchy();
    let c = gw(&h, 101);
    let der = answer(&h, &c, revoked(), &h.inter_key, None);
    let s = store(&h, Some(der), RevocationPolicy::Relaxed);
    let e = verify(&s, &h, c).unwrap_err();
    assert!(matches!(e, CertError::RevokedOcsp { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("revoked by OCSP responder http://ocsp.test:8080/"),
        "{text}"
    );
}

#[test]
fn responder_must_be_the_ca_or_delegated_with_ocsp_signing() {
    let h = hierarchy();
    let c = gw(&h, 102);
    // A stranger's signature.
    let der = answer(&h, &c, revoked(), &p256(66), None);
    let e = check_response(&der, &c, &h.inter, URI, now()).unwrap_err();
    assert!(matches!(e, CertError::BadSignature(_)), "{e:?}");
    // A delegated responder with id-kp-OCSPSigning.
    let der = answer(
        &h,
        &c,
        CertStatus::good(),
        &p256(40),
        Some(vec![responder(&h, true)]),
    );
    let ok = check_response(&der, &c, &h.inter, URI, now()).expect("delegated");
    assert!(matches!(ok, OcspStatus::Good { .. }));
    // The same without the extended key usage.
    let der = answer(
        &h,
        &c,
        CertStatus::good(),
        &p256(40),
        Some(vec![responder(&h, false)]),
    );
    assert!(check_response(&der, &c, &h.inter, URI, now()).is_err());
    // An answer about another certificate.
    let other = gw(&h, 103);
    let der = answer(&h, &other, CertStatus::good(), &h.inter_key, None);
    let e = check_response(&der, &c, &h.inter, URI, now()).unwrap_err();
    assert!(
        e.to_string().contains("no answer for this certificate"),
        "{e}"
    );
    // Stale: after nextUpdate.
    let der = answer(&h, &c, CertStatus::good(), &h.inter_key, None);
    let late = UnixTime(valid().not_after.to_unix_duration().as_secs() + 3600);
    assert!(matches!(
        check_response(&der, &c, &h.inter, URI, late),
        Ok(OcspStatus::Unknown(_))
    ));
}

#[test]
fn unknown_status_follows_the_revocation_policy() {
    let h = hierarchy();
    let c = gw(&h, 104);
    let relaxed = store(&h, None, RevocationPolicy::Relaxed);
    assert_eq!(verify(&relaxed, &h, c.clone()), Ok(Revocation::Unknown));
    for p in [RevocationPolicy::IfUri, RevocationPolicy::Strict] {
        let s = store(&h, None, p);
        let e = verify(&s, &h, c.clone()).unwrap_err();
        assert!(
            matches!(e, CertError::RevocationUnknown { .. }),
            "{p:?}: {e:?}"
        );
        assert!(e.to_string().contains("unreachable"), "{e}");
    }
    // Without any URI: ifuri and relaxed accept, strict refuses.
    let plain = h.leaf(
        105,
        "C=CH, O=Test, CN=gw-b",
        &PrivateKey::P256(p256(9)),
        valid(),
        vec![dns("gw-b.example")],
    );
    let s = store(&h, None, RevocationPolicy::IfUri);
    assert_eq!(verify(&s, &h, plain.clone()), Ok(Revocation::NoCrl));
    assert!(s.1.asked.lock().unwrap().is_empty());
    let s = store(&h, None, RevocationPolicy::Strict);
    let e = verify(&s, &h, plain.clone()).unwrap_err().to_string();
    assert!(
        e.contains("no CRL of its issuer and no OCSP URI") && e.contains("strict"),
        "{e}"
    );
    // OCSP is asked first; without an answer the issuer's CRL decides.
    let mut s = store(&h, None, RevocationPolicy::Strict);
    s.0.crls.push(crl(INTER, &h.inter_key, &[]));
    assert_eq!(verify(&s, &h, c.clone()), Ok(Revocation::Good));
    assert_eq!(*s.1.asked.lock().unwrap(), vec![URI.to_string()]);
    s.0.crls[1] = crl(INTER, &h.inter_key, &[104]);
    let e = verify(&s, &h, c).unwrap_err();
    assert!(matches!(e, CertError::Revoked { .. }), "{e:?}");
}

/// Without answers the check names every certificate with a responder; with
/// them each gets its status, and a revoked intermediate is refused by name.
#[test]
fn every_certificate_of_the_chain_is_checked() {
    let h = hierarchy();
    let inter = with_aia(h.inter.clone(), "http://ocsp.root:2560/", &h.root_key);
    let ee = gw(&h, 110);
    let chain = CertChain {
        ee: ee.clone(),
        intermediates: vec![inter.clone()],
    };
    let (s, _) = store(&h, None, RevocationPolicy::Strict);
    let path = s
        .validate(&chain, &Identity::Fqdn("gw-b.example".into()), now())
        .expect("valid path");
    let RevocationCheck::Need(q) = s.revocation(&path, now(), &|_| None).expect("check") else {
        panic!("nothing asked");
    };
    let asked: Vec<_> = q.iter().map(|q| (q.subject(), q.uris.clone())).collect();
    assert_eq!(
        asked,
        vec![
            ("C=CH, O=Test, CN=gw-b".to_string(), vec![URI.to_string()]),
            (
                "C=CH, O=Test, CN=Sub CA".to_string(),
                vec!["http://ocsp.root:2560/".to_string()]
            ),
        ]
    );
    let answers = |inter_revoked: bool| {
        let ee_der = ocsp_answer(&ee, &inter, &h.inter_key, false);
        let inter_der = ocsp_answer(&inter, &h.root, &h.root_key, inter_revoked);
        let inter = inter.clone();
        move |q: &OcspQuery| {
            let der = if q.cert == inter { &inter_der } else { &ee_der };
            Some(q.check(der, &q.uris[0], now()).expect("checks"))
        }
    };
    let good = answers(false);
    let RevocationCheck::Done(v) = s.revocation(&path, now(), &good).expect("good") else {
        panic!("answers given");
    };
    assert_eq!(
        v,
        vec![
            ("C=CH, O=Test, CN=gw-b".to_string(), Revocation::OcspGood),
            ("C=CH, O=Test, CN=Sub CA".to_string(), Revocation::OcspGood),
        ]
    );
    let e = s.revocation(&path, now(), &answers(true)).unwrap_err();
    assert!(
        e.to_string()
            .contains("certificate \"C=CH, O=Test, CN=Sub CA\" (serial 02) is revoked by OCSP responder http://ocsp.root:2560/"),
        "{e}"
    );
    // A CRL that revokes the intermediate refuses without asking anything.
    let (mut by_crl, _) = store(&h, None, RevocationPolicy::Relaxed);
    by_crl.crls = vec![crl(ROOT, &h.root_key, &[2])];
    let plain = CertChain {
        ee: gw(&h, 111),
        intermediates: vec![h.inter.clone()],
    };
    let path = by_crl
        .validate(&plain, &Identity::Fqdn("gw-b.example".into()), now())
        .expect("valid path");
    let e = by_crl.revocation(&path, now(), &|_| None).unwrap_err();
    assert!(
        matches!(e, CertError::Revoked { ref subject, .. } if subject.contains("Sub CA")),
        "{e:?}"
    );
    // Strict wants a status for the intermediate too.
    let (mut strict, _) = store(&h, None, RevocationPolicy::Strict);
    strict.crls = vec![crl(INTER, &h.inter_key, &[])];
    let e = strict.revocation(&path, now(), &|_| None).unwrap_err();
    assert!(
        matches!(&e, CertError::RevocationUnknown { subject, policy: "strict", .. } if subject.contains("Sub CA")),
        "{e:?}"
    );
}

#[test]
fn cache_keeps_answers_until_next_update_and_failures_a_minute() {
    let mut c = OcspCache::default();
    let t = UnixTime(1000);
    c.insert(
        b"a".to_vec(),
        OcspStatus::Good {
            until: Some(UnixTime(5000)),
        },
        t,
    );
    c.insert(b"b".to_vec(), OcspStatus::Unknown("down".into()), t);
    c.insert(b"c".to_vec(), OcspStatus::Good { until: None }, t);
    assert!(matches!(
        c.get(b"a", UnixTime(5000)),
        Some(OcspStatus::Good { .. })
    ));
    assert!(c.get(b"a", UnixTime(5001)).is_none());
    assert!(c.get(b"b", UnixTime(1060)).is_some());
    assert!(c.get(b"b", UnixTime(1061)).is_none());
    assert!(c.get(b"c", UnixTime(1030)).is_some() && c.get(b"c", UnixTime(1031)).is_none());
    // A nextUpdate just past still serves the check that fetched it.
    c.insert(
        b"d".to_vec(),
        OcspStatus::Good {
            until: Some(UnixTime(900)),
        },
        t,
    );
    assert!(c.get(b"d", t).is_some());
    assert_eq!(c.len(), 4);
    assert!(c.get(b"z", t).is_none());
}
