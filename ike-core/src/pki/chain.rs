//! Path validation to configured CAs (RFC 5280 §6.1, the subset IKE peers
//! use: validity, basicConstraints, keyUsage, pathLenConstraint, critical
//! extensions), CRLs (RFC 5280 §5, §6.3) and identity matching (RFC 4945 §3.1).

use std::net::IpAddr;

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode, Tagged};
use sha1::{Digest, Sha1};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectAltName};

use super::key::PublicKey;
use super::ocsp::{OcspQuery, OcspStatus, RevocationPolicy, aia_uris};
use super::sig::SigScheme;
use super::{CertError, UnixTime};
use crate::config::Identity;
use crate::wire::IdType;

/// Maximum intermediates followed (strongSwan's default `max_path_len` is 7).
const MAX_PATH: usize = 7;

/// Extensions lanes processes (RFC 5280 §4.2); any other critical one is refused.
const KNOWN_CRITICAL: [Oid; 6] = [
    Oid::new_unwrap("2.5.29.19"), // basicConstraints
    Oid::new_unwrap("2.5.29.15"), // keyUsage
    Oid::new_unwrap("2.5.29.17"), // subjectAltName
    Oid::new_unwrap("2.5.29.37"), // extKeyUsage (not restricted for IKE, RFC 4945 §5.1.3.12)
    Oid::new_unwrap("2.5.29.32"), // certificatePolicies
    Oid::new_unwrap("2.5.29.14"), // subjectKeyIdentifier
];

/// Parses one certificate from PEM or DER.
pub fn parse_cert(bytes: &[u8]) -> Result<Certificate, CertError> {
    parse_certs(bytes)?
        .into_iter()
        .next()
        .ok_or_else(|| CertError::parse("certificate", "no CERTIFICATE block"))
}

/// Parses every `CERTIFICATE` block of a PEM file, or one DER certificate.
pub fn parse_certs(bytes: &[u8]) -> Result<Vec<Certificate>, CertError> {
    let err = |e| CertError::parse("certificate", e);
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        Certificate::load_pem_chain(bytes).map_err(err)
    } else {
        Certificate::from_der(bytes).map(|c| vec![c]).map_err(err)
    }
}

/// Parses a CRL from PEM (`X509 CRL`) or DER.
pub fn parse_crl(bytes: &[u8]) -> Result<CertificateList, CertError> {
    let err = |e| CertError::parse("CRL", e);
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let (_, der) = der::pem::decode_vec(bytes.trim_ascii_start())
            .map_err(|e| CertError::parse("CRL", e))?;
        CertificateList::from_der(&der).map_err(err)
    } else {
        CertificateList::from_der(bytes).map_err(err)
    }
}

/// A certificate's subject as text (RFC 4514 order reversed back to the
/// encoded order, as strongSwan prints it).
pub fn subject(c: &Certificate) -> String {
    name_text(&c.tbs_certificate.subject)
}

fn name_text(n: &x509_cert::name::Name) -> String {
    n.0.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// SHA-1 of the SubjectPublicKeyInfo: the CA key hash of CERTREQ (RFC 7296 §3.7).
pub fn key_hash(c: &Certificate) -> [u8; 20] {
    let spki = c
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap_or_default();
    Sha1::digest(spki).into()
}

/// A certificate's public key.
pub fn public_key(c: &Certificate) -> Result<PublicKey, CertError> {
    PublicKey::from_spki(&c.tbs_certificate.subject_public_key_info)
}

/// An end-entity certificate and the intermediates that go with it, as sent
/// in CERT payloads (RFC 7296 §3.6).
#[derive(Clone, Debug)]
pub struct CertChain {
    /// The end-entity certificate.
    pub ee: Certificate,
    /// Intermediates, issuer of `ee` first.
    pub intermediates: Vec<Certificate>,
}

/// Trusted CAs and the CRLs to check against.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    /// Trust anchors.
    pub cas: Vec<Certificate>,
    /// CRLs of any CA in a chain.
    pub crls: Vec<CertificateList>,
    /// What an unknown revocation status means (swanctl `remote.revocation`).
    pub revocation: RevocationPolicy,
    /// OCSP responders asked for the end-entity certificate instead of its
    /// authorityInfoAccess URIs (swanctl `ocsp_uris`).
    pub ocsp_uris: Vec<String>,
    /// Ask OCSP responders; false: CRLs only.
    pub ocsp: bool,
}

/// The revocation status found for one certificate of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// A CRL of its issuer was found and does not list it.
    Good,
    /// No CRL of its issuer is configured and no OCSP URI known (strongSwan
    /// accepts this too unless `revocation = strict`).
    NoCrl,
    /// An OCSP responder said good.
    OcspGood,
    /// OCSP gave no answer; accepted under `revocation = relaxed`.
    Unknown,
}

/// What a successful validation found.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The end-entity subject.
    pub subject: String,
    /// The trust anchor's subject.
    pub ca: String,
    /// The end-entity's public key.
    pub key: PublicKey,
    /// The end-entity revocation status.
    pub revocation: Revocation,
    /// Every checked certificate's subject and status, end entity first,
    /// then the intermediates (the trust anchor is not checked).
    pub chain: Vec<(String, Revocation)>,
}

/// A chain that passed path validation (RFC 5280 §6.1) but not yet the
/// revocation check.
#[derive(Clone, Debug)]
pub struct ValidPath {
    /// The end entity first, the trust anchor last (never empty).
    certs: Vec<Certificate>,
}

impl ValidPath {
    /// The certificates, end entity first, trust anchor last.
    pub fn certs(&self) -> &[Certificate] {
        &self.certs
    }

    /// The end-entity certificate.
    pub fn ee(&self) -> &Certificate {
        &self.certs[0]
    }

    /// The end-entity public key.
    pub fn key(&self) -> Result<PublicKey, CertError> {
        public_key(self.ee())
    }

    /// The result, given each certificate's revocation status.
    pub fn verified(&self, chain: Vec<(String, Revocation)>) -> Result<Verified, CertError> {
        let anchor = self.certs.last().unwrap_or(self.ee());
        Ok(Verified {
            subject: subject(self.ee()),
            ca: subject(anchor),
            key: self.key()?,
            revocation: chain.first().map_or(Revocation::NoCrl, |c| c.1),
            chain,
        })
    }
}

/// The outcome of [`TrustStore::revocation`].
#[derive(Clone, Debug)]
pub enum RevocationCheck {
    /// Every certificate's subject and status, end entity first.
    Done(Vec<(String, Revocation)>),
    /// OCSP answers to fetch before the chain can be judged.
    Need(Vec<OcspQuery>),
}

impl TrustStore {
    /// SHA-1 key hashes of every CA, for CERTREQ (RFC 7296 §3.7).
    pub fn certreq_data(&self) -> Vec<u8> {
        self.cas.iter().flat_map(key_hash).collect()
    }

    /// Validates `chain` to one of the CAs at time `now`, checks that `id`
    /// is the subject or a subjectAltName of the end-entity certificate and
    /// the revocation of every certificate, without OCSP answers (an OCSP
    /// check counts as unknown).
    pub fn verify(
        &self,
        chain: &CertChain,
        id: &Identity,
        now: UnixTime,
    ) -> Result<Verified, CertError> {
        let path = self.validate(chain, id, now)?;
        let none = |_: &OcspQuery| Some(OcspStatus::Unknown("no OCSP answer fetched".into()));
        match self.revocation(&path, now, &none)? {
            RevocationCheck::Done(v) => path.verified(v),
            RevocationCheck::Need(_) => Err(CertError::Unsupported("OCSP without answers".into())),
        }
    }

    /// Path validation (RFC 5280 §6.1, the subset IKE peers use) and the
    /// identity check, without revocation.
    pub fn validate(
        &self,
        chain: &CertChain,
        id: &Identity,
        now: UnixTime,
    ) -> Result<ValidPath, CertError> {
        let ee = &chain.ee;
        check_validity(ee, now)?;
        check_critical(ee)?;
        if key_usage(ee)?.is_some_and(|ku| {
            !ku.contains(KeyUsages::DigitalSignature) && !ku.contains(KeyUsages::NonRepudiation)
        }) {
            return Err(CertError::KeyUsage {
                subject: subject(ee),
                usage: "digitalSignature",
            });
        }
        check_identity(ee, id)?;
        let mut path: Vec<&Certificate> = vec![ee];
        let ca = loop {
            let cur = path.last().copied().unwrap_or(ee);
            if let Some(ca) = self.issuer_among(&self.cas, cur)? {
                break ca;
            }
            let next = self.issuer_among(&chain.intermediates, cur)?;
            match next {
                Some(i) if path.len() <= MAX_PATH && !path.contains(&i) => path.push(i),
                _ => {
                    return Err(CertError::UnknownCa {
                        subject: subject(cur),
                        issuer: name_text(&cur.tbs_certificate.issuer),
                    });
                }
            }
        };
        path.push(ca);
        for (depth, c) in path.iter().enumerate().skip(1) {
            check_ca(c, depth - 1, now)?;
        }
        Ok(ValidPath {
            certs: path.into_iter().cloned().collect(),
        })
    }

    /// The revocation status of every certificate of `path` but the anchor,
    /// as strongSwan's revocation plugin decides it: OCSP first where the
    /// certificate names a responder (or, for the end entity, `ocsp_uris`
    /// are set), answers taken from `known`; the issuer's CRLs when OCSP
    /// gives none (RFC 5280 §6.3); then `revocation` judges what is still
    /// unknown. Answers `known` lacks are returned to be fetched, unless a
    /// certificate is refused already.
    pub fn revocation(
        &self,
        path: &ValidPath,
        now: UnixTime,
        known: &dyn Fn(&OcspQuery) -> Option<OcspStatus>,
    ) -> Result<RevocationCheck, CertError> {
        let mut done = Vec::new();
        let mut need = Vec::new();
        for (i, pair) in path.certs.windows(2).enumerate() {
            let (c, issuer) = (&pair[0], &pair[1]);
            let uris = if i == 0 && !self.ocsp_uris.is_empty() {
                self.ocsp_uris.clone()
            } else {
                aia_uris(c)
            };
            let ocsp = match (uris.is_empty(), self.ocsp) {
                (true, _) => None,
                (false, false) => Some(OcspStatus::Unknown("OCSP is not enabled".into())),
                (false, true) => {
                    let q = OcspQuery::new(c, issuer, uris)?;
                    match known(&q) {
                        Some(s) => Some(s),
                        None => {
                            need.push(q);
                            continue;
                        }
                    }
                }
            };
            let status = self.status_of(c, issuer, ocsp, now)?;
            done.push((subject(c), status));
        }
        Ok(if need.is_empty() {
            RevocationCheck::Done(done)
        } else {
            RevocationCheck::Need(need)
        })
    }

    /// One certificate's status from its OCSP answer (`None`: no responder
    /// known) and its issuer's CRLs.
    fn status_of(
        &self,
        c: &Certificate,
        issuer: &Certificate,
        ocsp: Option<OcspStatus>,
        now: UnixTime,
    ) -> Result<Revocation, CertError> {
        let why = match ocsp {
            Some(OcspStatus::Good { .. }) => return Ok(Revocation::OcspGood),
            Some(OcspStatus::Revoked { responder, .. }) => {
                return Err(CertError::RevokedOcsp {
                    subject: subject(c),
                    serial: hex(c.tbs_certificate.serial_number.as_bytes()),
                    responder,
                });
            }
            Some(OcspStatus::Unknown(why)) => Some(why),
            None => None,
        };
        if self.check_crl(c, issuer, now)? {
            return Ok(Revocation::Good);
        }
        let unknown = |why: String| match self.revocation {
            RevocationPolicy::Relaxed => Ok(Revocation::Unknown),
            p => Err(CertError::RevocationUnknown {
                subject: subject(c),
                why,
                policy: if p == RevocationPolicy::Strict {
                    "strict"
                } else {
                    "ifuri"
                },
            }),
        };
        match why {
            Some(why) => unknown(why),
            None if self.revocation == RevocationPolicy::Strict => {
                unknown("no CRL of its issuer and no OCSP URI".into())
            }
            None => Ok(Revocation::NoCrl),
        }
    }

    /// The certificate among `pool` whose subject is `c`'s issuer and whose
    /// key verifies `c`'s signature.
    fn issuer_among<'a>(
        &self,
        pool: &'a [Certificate],
        c: &Certificate,
    ) -> Result<Option<&'a Certificate>, CertError> {
        let mut bad_sig = false;
        for cand in pool
            .iter()
            .filter(|p| p.tbs_certificate.subject == c.tbs_certificate.issuer)
        {
            if verify_signed(
                cand,
                &c.tbs_certificate.to_der(),
                &c.signature_algorithm,
                c.signature.raw_bytes(),
            )? {
                return Ok(Some(cand));
            }
            bad_sig = true;
        }
        if bad_sig {
            return Err(CertError::BadSignature(subject(c)));
        }
        Ok(None)
    }

    /// RFC 5280 §6.3: every CRL issued by `issuer` must verify with its key
    /// and must not list `c`; true if there was one.
    fn check_crl(
        &self,
        c: &Certificate,
        issuer: &Certificate,
        _now: UnixTime,
    ) -> Result<bool, CertError> {
        let mut found = false;
        for crl in self
            .crls
            .iter()
            .filter(|l| l.tbs_cert_list.issuer == issuer.tbs_certificate.subject)
        {
            found = true;
            let tbs = crl.tbs_cert_list.to_der();
            if !verify_signed(
                issuer,
                &tbs,
                &crl.signature_algorithm,
                crl.signature.raw_bytes(),
            )? {
                return Err(CertError::BadSignature(format!(
                    "CRL of {}",
                    subject(issuer)
                )));
            }
            let listed = crl
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .any(|r| r.serial_number == c.tbs_certificate.serial_number);
            if listed {
                return Err(CertError::Revoked {
                    subject: subject(c),
                    serial: hex(c.tbs_certificate.serial_number.as_bytes()),
                    issuer: subject(issuer),
                });
            }
        }
        Ok(found)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Verifies a certificate or CRL signature with `issuer`'s key.
pub(crate) fn verify_signed(
    issuer: &Certificate,
    tbs: &der::Result<Vec<u8>>,
    alg: &spki::AlgorithmIdentifierOwned,
    sig: &[u8],
) -> Result<bool, CertError> {
    let tbs = tbs
        .as_ref()
        .map_err(|e| CertError::parse("certificate", e))?;
    let scheme = SigScheme::from_algorithm(alg)?;
    Ok(public_key(issuer)?.verify(scheme, tbs, sig, false))
}

pub(crate) fn check_validity(c: &Certificate, now: UnixTime) -> Result<(), CertError> {
    let v = &c.tbs_certificate.validity;
    let (nb, na) = (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    );
    let state = if now.0 < nb {
        "not yet valid"
    } else if now.0 > na {
        "expired"
    } else {
        return Ok(());
    };
    Err(CertError::Validity {
        subject: subject(c),
        state,
        not_before: nb,
        not_after: na,
    })
}

fn check_critical(c: &Certificate) -> Result<(), CertError> {
    let unknown = c
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .any(|e| e.critical && !KNOWN_CRITICAL.contains(&e.extn_id));
    if unknown {
        return Err(CertError::CriticalExtension(subject(c)));
    }
    Ok(())
}

fn key_usage(c: &Certificate) -> Result<Option<der::flagset::FlagSet<KeyUsages>>, CertError> {
    let ku = c
        .tbs_certificate
        .get::<KeyUsage>()
        .map_err(|e| CertError::parse("keyUsage", e))?;
    Ok(ku.map(|(_, k)| k.0))
}

/// An issuer at `below` intermediates above the end entity must be a valid CA
/// allowed to sign certificates and chains this long (RFC 5280 §6.1.4).
fn check_ca(c: &Certificate, below: usize, now: UnixTime) -> Result<(), CertError> {
    check_validity(c, now)?;
    check_critical(c)?;
    let bc = c
        .tbs_certificate
        .get::<BasicConstraints>()
        .map_err(|e| CertError::parse("basicConstraints", e))?;
    let Some((_, bc)) = bc.filter(|(_, b)| b.ca) else {
        return Err(CertError::NotCa(subject(c)));
    };
    if key_usage(c)?.is_some_and(|ku| !ku.contains(KeyUsages::KeyCertSign)) {
        return Err(CertError::KeyUsage {
            subject: subject(c),
            usage: "keyCertSign",
        });
    }
    if bc
        .path_len_constraint
        .is_some_and(|n| usize::from(n) < below)
    {
        return Err(CertError::PathLen(subject(c)));
    }
    Ok(())
}

/// RFC 4945 §3.1: the ID must be the subject DN or a subjectAltName of the
/// same kind (FQDN = dNSName, RFC822 = rfc822Name, IP = iPAddress).
pub fn check_identity(c: &Certificate, id: &Identity) -> Result<(), CertError> {
    if matches_identity(c, id)? {
        return Ok(());
    }
    Err(CertError::IdentityMismatch {
        id: format!("ID {}", identity_text(id)),
        subject: subject(c),
        carries: alt_names_text(c),
    })
}

/// The subjectAltNames of `c` for logs ("dNSName a.example, iPAddress
/// 10.0.0.1"), or "no subjectAltName".
pub fn alt_names_text(c: &Certificate) -> String {
    let Ok(Some((_, san))) = c.tbs_certificate.get::<SubjectAltName>() else {
        return "no subjectAltName".into();
    };
    let names: Vec<String> = san
        .0
        .iter()
        .map(|n| match n {
            GeneralName::DnsName(d) => format!("dNSName {}", d.as_str()),
            GeneralName::Rfc822Name(d) => format!("rfc822Name {}", d.as_str()),
            GeneralName::IpAddress(o) => match <[u8; 4]>::try_from(o.as_bytes()) {
                Ok(v4) => format!("iPAddress {}", std::net::Ipv4Addr::from(v4)),
                Err(_) => <[u8; 16]>::try_from(o.as_bytes()).map_or_else(
                    |_| "iPAddress ?".into(),
                    |v6| format!("iPAddress {}", std::net::Ipv6Addr::from(v6)),
                ),
            },
            GeneralName::DirectoryName(d) => format!("directoryName {}", name_text(d)),
            _ => "other name".into(),
        })
        .collect();
    if names.is_empty() {
        "no subjectAltName".into()
    } else {
        names.join(", ")
    }
}

fn matches_identity(c: &Certificate, id: &Identity) -> Result<bool, CertError> {
    if let Identity::Other(t, der) = id
        && IdType(*t) == IdType::DER_ASN1_DN
    {
        return Ok(c.tbs_certificate.subject.to_der().is_ok_and(|s| &s == der));
    }
    let san = c
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| CertError::parse("subjectAltName", e))?;
    let names = san.map(|(_, s)| s.0).unwrap_or_default();
    Ok(names.iter().any(|n| match (n, id) {
        (GeneralName::DnsName(d), Identity::Fqdn(f)) => d.as_str().eq_ignore_ascii_case(f),
        (GeneralName::Rfc822Name(d), Identity::Email(e)) => d.as_str().eq_ignore_ascii_case(e),
        (GeneralName::IpAddress(o), Identity::Addr(a)) => match a {
            IpAddr::V4(v) => o.as_bytes() == v.octets(),
            IpAddr::V6(v) => o.as_bytes() == v.octets(),
        },
        _ => false,
    }))
}

/// An identity as text for logs: DNs decoded, others as configured.
pub fn identity_text(id: &Identity) -> String {
    match id {
        Identity::Addr(a) => a.to_string(),
        Identity::Fqdn(s) | Identity::Email(s) => s.clone(),
        Identity::Other(t, d) if IdType(*t) == IdType::DER_ASN1_DN => {
            x509_cert::name::Name::from_der(d).map_or_else(|_| "<bad DN>".into(), |n| name_text(&n))
        }
        other => format!("{other:?}"),
    }
}

/// Parses a DN in strongSwan's notation ("C=CH, O=Example, CN=gw"), first
/// RDN first, into its DER encoding for an ID_DER_ASN1_DN identity.
pub fn parse_dn(text: &str) -> Result<Vec<u8>, CertError> {
    use std::str::FromStr;
    let mut n = x509_cert::name::RdnSequence::from_str(&trim_rdns(text))
        .map_err(|e| CertError::parse("distinguished name", e))?;
    // RFC 4514 strings list the last RDN first; strongSwan writes them in order.
    n.0.reverse();
    let mut rdns = Vec::with_capacity(n.0.len());
    for rdn in n.0 {
        let atvs: Vec<_> = rdn.0.into_vec().into_iter().map(printable).collect();
        rdns.push(
            x509_cert::name::RelativeDistinguishedName::try_from(atvs)
                .map_err(|e| CertError::parse("distinguished name", e))?,
        );
    }
    x509_cert::name::RdnSequence(rdns)
        .to_der()
        .map_err(|e| CertError::parse("distinguished name", e))
}

/// A UTF8String value that is also a PrintableString (X.680 §41.4) is encoded
/// as one, as strongSwan's `pki --dn` and ID parser do, so the DER of a
/// configured DN equals the peer's.
fn printable(
    mut atv: x509_cert::attr::AttributeTypeAndValue,
) -> x509_cert::attr::AttributeTypeAndValue {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(b);
    if atv.value.tag() == der::Tag::Utf8String
        && atv.value.value().iter().all(ok)
        && let Ok(v) = der::Any::new(der::Tag::PrintableString, atv.value.value())
    {
        atv.value = v;
    }
    atv
}

/// Drops the blanks around unescaped commas ("C=CH, O=X" → "C=CH,O=X").
fn trim_rdns(text: &str) -> String {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for ch in text.chars() {
        match (escaped, ch) {
            (false, ',') => parts.push(String::new()),
            (e, c) => {
                escaped = !e && c == '\\';
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts.iter().map(|p| p.trim()).collect::<Vec<_>>().join(",")
}
