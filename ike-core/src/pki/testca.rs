//! Test certificates built at test time with the RustCrypto signers.

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString};
use der::{Decode, Encode};
use signature::Signer;
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::PrivateKey;

/// "Now" in the tests: 2027-01-15.
pub const NOW: u64 = 1_800_000_000;

/// A validity window of seconds around [`NOW`].
pub fn validity(from: u64, to: u64) -> Validity {
    let t = |s| {
        Time::GeneralTime(
            GeneralizedTime::from_unix_duration(Duration::from_secs(s)).expect("time"),
        )
    };
    Validity {
        not_before: t(from),
        not_after: t(to),
    }
}

/// The usual window: valid at [`NOW`].
pub fn valid() -> Validity {
    validity(NOW - 86_400 * 300, NOW + 86_400 * 300)
}

/// A deterministic P-256 key.
pub fn p256(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed.max(1); 32]).expect("p256 key")
}

/// A deterministic Ed25519 key.
pub fn ed25519(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// A 2048-bit RSA key, made once per test binary.
pub fn rsa2048() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa key")
    })
    .clone()
}

/// A DN from strongSwan-style text.
pub fn dn(s: &str) -> Name {
    Name::from_der(&super::chain::parse_dn(s).expect("dn")).expect("dn der")
}

/// The SubjectPublicKeyInfo of a [`PrivateKey`].
pub fn spki_of(k: &PrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = match k {
        PrivateKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        PrivateKey::P256(k) => k.verifying_key().to_public_key_der(),
        PrivateKey::P384(k) => k.verifying_key().to_public_key_der(),
        PrivateKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
    }
    .expect("spki");
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).expect("spki")
}

/// Issues a certificate signed by a P-256 CA key.
pub fn issue(
    profile: Profile,
    serial: u32,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    signer: &p256::ecdsa::SigningKey,
    validity: Validity,
    sans: Vec<GeneralName>,
) -> Certificate {
    let mut b = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        dn(subject),
        spki,
        signer,
    )
    .expect("builder");
    if !sans.is_empty() {
        b.add_extension(&SubjectAltName(sans)).expect("san");
    }
    b.build::<p256::ecdsa::DerSignature>().expect("build")
}

/// Re-signs a modified certificate with `key`.
pub fn resign(mut c: Certificate, key: &p256::ecdsa::SigningKey) -> Certificate {
    let sig: p256::ecdsa::DerSignature = key.sign(&c.tbs_certificate.to_der().expect("tbs"));
    c.signature = BitString::from_bytes(sig.as_bytes()).expect("bits");
    c
}

/// A DNS subjectAltName.
pub fn dns(s: &str) -> GeneralName {
    GeneralName::DnsName(Ia5String::new(s).expect("ia5"))
}

/// An email subjectAltName.
pub fn email(s: &str) -> GeneralName {
    GeneralName::Rfc822Name(Ia5String::new(s).expect("ia5"))
}

/// An IP subjectAltName.
pub fn ip(a: std::net::IpAddr) -> GeneralName {
    let b = match a {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    };
    GeneralName::IpAddress(OctetString::new(b).expect("octets"))
}

/// A CRL by `issuer` listing `serials`.
pub fn crl(issuer: &str, key: &p256::ecdsa::SigningKey, serials: &[u32]) -> CertificateList {
    let alg = key.signature_algorithm_identifier().expect("alg");
    let v = valid();
    let revoked = serials
        .iter()
        .map(|s| RevokedCert {
            serial_number: SerialNumber::from(*s),
            revocation_date: v.not_before,
            crl_entry_extensions: None,
        })
        .collect();
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: alg.clone(),
        issuer: dn(issuer),
        this_update: v.not_before,
        next_update: Some(v.not_after),
        revoked_certificates: Some(revoked),
        crl_extensions: None,
    };
    let sig: p256::ecdsa::DerSignature = key.sign(&tbs.to_der().expect("tbs"));
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(sig.as_bytes()).expect("bits"),
    }
}

/// Root CA (key seed 1) → intermediate (seed 2) → end entity with `ee_key`.
pub struct Hierarchy {
    /// Root CA certificate.
    pub root: Certificate,
    /// Root CA key.
    pub root_key: p256::ecdsa::SigningKey,
    /// Intermediate CA certificate.
    pub inter: Certificate,
    /// Intermediate CA key.
    pub inter_key: p256::ecdsa::SigningKey,
}

/// Root "C=CH, O=Test, CN=Root CA" and "C=CH, O=Test, CN=Sub CA".
pub fn hierarchy() -> Hierarchy {
    let root_key = p256(1);
    let inter_key = p256(2);
    let rk = PrivateKey::P256(root_key.clone());
    let ik = PrivateKey::P256(inter_key.clone());
    let root = issue(
        Profile::Root,
        1,
        ROOT,
        spki_of(&rk),
        &root_key,
        valid(),
        vec![],
    );
    let inter = issue(
        Profile::SubCA {
            issuer: dn(ROOT),
            path_len_constraint: Some(0),
        },
        2,
        INTER,
        spki_of(&ik),
        &root_key,
        valid(),
        vec![],
    );
    Hierarchy {
        root,
        root_key,
        inter,
        inter_key,
    }
}

/// Root CA subject.
pub const ROOT: &str = "C=CH, O=Test, CN=Root CA";
/// Intermediate CA subject.
pub const INTER: &str = "C=CH, O=Test, CN=Sub CA";

impl Hierarchy {
    /// An end-entity certificate for `key` from the intermediate.
    pub fn leaf(
        &self,
        serial: u32,
        subject: &str,
        key: &PrivateKey,
        v: Validity,
        sans: Vec<GeneralName>,
    ) -> Certificate {
        let profile = Profile::Leaf {
            issuer: dn(INTER),
            enable_key_agreement: false,
            enable_key_encipherment: false,
            include_subject_key_identifier: true,
        };
        issue(
            profile,
            serial,
            subject,
            spki_of(key),
            &self.inter_key,
            v,
            sans,
        )
    }
}

/// `c` with an OCSP responder `uri` in its authorityInfoAccess, re-signed by `key`.
pub fn with_aia(mut c: Certificate, uri: &str, key: &p256::ecdsa::SigningKey) -> Certificate {
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(uri).expect("ia5")),
    }]);
    c.tbs_certificate
        .extensions
        .get_or_insert_with(Vec::new)
        .push(Extension {
            extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1"),
            critical: false,
            extn_value: OctetString::new(aia.to_der().expect("aia")).expect("octets"),
        });
    resign(c, key)
}

/// A DER OCSPResponse about `cert` of `issuer`, signed by the issuer's `key`,
/// valid over [`valid`]; revoked if `revoked`.
pub fn ocsp_answer(
    cert: &Certificate,
    issuer: &Certificate,
    key: &p256::ecdsa::SigningKey,
    revoked: bool,
) -> Vec<u8> {
    use x509_ocsp::builder::OcspResponseBuilder;
    use x509_ocsp::{CertStatus, OcspGeneralizedTime, RevokedInfo, SingleResponse};
    let id = super::ocsp::cert_id(cert, issuer).expect("certid");
    let v = valid();
    let status = if revoked {
        CertStatus::revoked(RevokedInfo {
            revocation_time: v.not_before.into(),
            revocation_reason: None,
        })
    } else {
        CertStatus::good()
    };
    let single = SingleResponse::new(id, status, v.not_before.into())
        .with_next_update(OcspGeneralizedTime::from(v.not_after));
    OcspResponseBuilder::new(issuer.tbs_certificate.subject.clone())
        .with_single_response(single)
        .sign::<_, p256::ecdsa::DerSignature>(&mut key.clone(), None, v.not_before.into())
        .expect("sign")
        .to_der()
        .expect("der")
}
