//! OCSP (RFC 6960) without I/O: the request for a certificate, the checks on
//! a response (signature by the issuer or a delegated responder, §4.2.2.2;
//! matching CertID and freshness, §3.2), the responder URIs of a
//! certificate's authorityInfoAccess (RFC 5280 §4.2.2.1) and the queries
//! the caller fetches over HTTP (RFC 6960 appendix A), with a cache.

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use sha1::Sha1;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, ExtendedKeyUsage};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};

use super::chain::{subject, verify_signed};
use super::{CertError, UnixTime};

const ID_AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_PKIX_OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// Clock skew allowed on thisUpdate / nextUpdate (RFC 5019 §4 suggests some).
const SKEW: u64 = 300;

/// What to do when no revocation status is found (swanctl `remote.revocation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RevocationPolicy {
    /// Refuse unless a CRL or OCSP says "good".
    Strict,
    /// Refuse when an OCSP URI exists but gave no answer.
    IfUri,
    /// Refuse only a revoked certificate (strongSwan's default).
    #[default]
    Relaxed,
}

/// An OCSP result for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OcspStatus {
    /// The responder says good; valid until nextUpdate if it gave one.
    Good {
        /// nextUpdate.
        until: Option<UnixTime>,
    },
    /// The responder says revoked.
    Revoked {
        /// Which responder said so.
        responder: String,
        /// nextUpdate.
        until: Option<UnixTime>,
    },
    /// No usable answer; the text says why.
    Unknown(String),
}

/// One certificate whose OCSP status is needed (RFC 6960 §4.1): the caller
/// POSTs [`OcspQuery::request`] to `uris` in turn (appendix A.1) and turns
/// the first usable answer into an [`OcspStatus`] with [`OcspQuery::check`].
#[derive(Clone, Debug)]
pub struct OcspQuery {
    /// The certificate asked about.
    pub cert: Certificate,
    /// Its issuer (signs the answer or delegates, §4.2.2.2).
    pub issuer: Certificate,
    /// Responders, asked in order.
    pub uris: Vec<String>,
    request: Vec<u8>,
}

impl OcspQuery {
    /// The query for `cert` of `issuer` to `uris`.
    pub fn new(
        cert: &Certificate,
        issuer: &Certificate,
        uris: Vec<String>,
    ) -> Result<Self, CertError> {
        Ok(Self {
            request: request(cert, issuer)?,
            cert: cert.clone(),
            issuer: issuer.clone(),
            uris,
        })
    }

    /// The DER OCSPRequest; it holds just the CertID, so it also names the
    /// certificate in caches.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The subject of the certificate asked about, for logs.
    pub fn subject(&self) -> String {
        subject(&self.cert)
    }

    /// Checks a DER OCSPResponse from `responder` (see [`check_response`]).
    pub fn check(
        &self,
        der: &[u8],
        responder: &str,
        now: UnixTime,
    ) -> Result<OcspStatus, CertError> {
        check_response(der, &self.cert, &self.issuer, responder, now)
    }
}

/// How long an answer without nextUpdate is kept (strongSwan's
/// OCSP_DEFAULT_LIFETIME in x509_ocsp_response.c).
const DEFAULT_LIFETIME: u64 = 30;
/// How long a failed lookup is kept, so that peers cannot make every
/// IKE_AUTH wait for an unreachable responder.
const NEGATIVE_SECS: u64 = 60;
/// Answers kept at most.
const MAX_ENTRIES: usize = 4096;

/// OCSP answers by request (CertID), each kept until its nextUpdate
/// (RFC 5019 §6.1), failures for a minute.
#[derive(Debug, Default)]
pub struct OcspCache {
    map: std::collections::HashMap<Vec<u8>, (OcspStatus, u64)>,
}

impl OcspCache {
    /// The answer for `request` still valid at `now`.
    pub fn get(&self, request: &[u8], now: UnixTime) -> Option<&OcspStatus> {
        self.map
            .get(request)
            .filter(|(_, until)| *until >= now.0)
            .map(|(s, _)| s)
    }

    /// Keeps `status` for `request`, learnt at `now`.
    pub fn insert(&mut self, request: Vec<u8>, status: OcspStatus, now: UnixTime) {
        let until = match &status {
            OcspStatus::Good { until } | OcspStatus::Revoked { until, .. } => {
                until.map_or(now.0 + DEFAULT_LIFETIME, |u| u.0.max(now.0))
            }
            OcspStatus::Unknown(_) => now.0 + NEGATIVE_SECS,
        };
        if self.map.len() >= MAX_ENTRIES {
            self.map.retain(|_, (_, u)| *u >= now.0);
        }
        if self.map.len() < MAX_ENTRIES || self.map.contains_key(&request) {
            self.map.insert(request, (status, until));
        }
    }

    /// Number of answers kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The OCSP responder URIs of `c`'s authorityInfoAccess.
pub fn aia_uris(c: &Certificate) -> Vec<String> {
    let Ok(Some((_, aia))) = c.tbs_certificate.get::<AuthorityInfoAccessSyntax>() else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|a| a.access_method == ID_AD_OCSP)
        .filter_map(|a| match &a.access_location {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// The CertID of `cert` with SHA-1, as RFC 5019 §2.1.1 and OpenSSL use.
pub fn cert_id(cert: &Certificate, issuer: &Certificate) -> Result<CertId, CertError> {
    CertId::from_cert::<Sha1>(issuer, cert).map_err(|e| CertError::parse("OCSP CertID", e))
}

/// A DER OCSPRequest for `cert` (RFC 6960 §4.1.1), unsigned, without nonce
/// (RFC 5019 §2.1).
pub fn request(cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, CertError> {
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    req.to_der()
        .map_err(|e| CertError::parse("OCSP request", e))
}

/// Checks a DER OCSPResponse from `responder` for `cert` at `now`.
pub fn check_response(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    responder: &str,
    now: UnixTime,
) -> Result<OcspStatus, CertError> {
    let bad = |what: &str| CertError::parse("OCSP response", what.to_string());
    let resp = OcspResponse::from_der(der).map_err(|e| CertError::parse("OCSP response", e))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Ok(OcspStatus::Unknown(format!(
            "{responder} answered {:?}",
            resp.response_status
        )));
    }
    let bytes = resp.response_bytes.ok_or_else(|| bad("no responseBytes"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(bad("not a basic OCSP response"));
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|e| CertError::parse("basic OCSP response", e))?;
    check_signer(&basic, issuer, now)?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|s| same_cert(&s.cert_id, cert, issuer))
        .ok_or_else(|| bad("no answer for this certificate"))?;
    let secs = |t: &x509_ocsp::OcspGeneralizedTime| t.0.to_unix_duration().as_secs();
    let until = single.next_update.as_ref().map(|t| UnixTime(secs(t)));
    if secs(&single.this_update) > now.0 + SKEW || until.is_some_and(|u| u.0 + SKEW < now.0) {
        return Ok(OcspStatus::Unknown(format!(
            "{responder}: stale or future answer for \"{}\"",
            subject(cert)
        )));
    }
    Ok(match single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good { until },
        CertStatus::Revoked(_) => OcspStatus::Revoked {
            responder: responder.to_string(),
            until,
        },
        CertStatus::Unknown(_) => {
            OcspStatus::Unknown(format!("{responder} does not know \"{}\"", subject(cert)))
        }
    })
}

/// The CertID names `cert` of `issuer` (SHA-1 or SHA-256 hashes).
fn same_cert(id: &CertId, cert: &Certificate, issuer: &Certificate) -> bool {
    let ours = if id.hash_algorithm.oid == SHA256 {
        CertId::from_cert::<sha2::Sha256>(issuer, cert)
    } else {
        CertId::from_cert::<Sha1>(issuer, cert)
    };
    ours.is_ok_and(|o| {
        o.hash_algorithm.oid == id.hash_algorithm.oid
            && o.issuer_name_hash == id.issuer_name_hash
            && o.issuer_key_hash == id.issuer_key_hash
            && o.serial_number == id.serial_number
    })
}

/// RFC 6960 §4.2.2.2: signed by the issuer itself, or by a certificate the
/// issuer signed that carries id-kp-OCSPSigning and is valid now.
fn check_signer(
    basic: &BasicOcspResponse,
    issuer: &Certificate,
    now: UnixTime,
) -> Result<(), CertError> {
    let tbs = basic.tbs_response_data.to_der();
    let sig = basic.signature.raw_bytes();
    if verify_signed(issuer, &tbs, &basic.signature_algorithm, sig)? {
        return Ok(());
    }
    for r in basic.certs.iter().flatten() {
        let delegated = r.tbs_certificate.issuer == issuer.tbs_certificate.subject
            && verify_signed(
                issuer,
                &r.tbs_certificate.to_der(),
                &r.signature_algorithm,
                r.signature.raw_bytes(),
            )?
            && has_ocsp_signing(r)
            && super::chain::check_validity(r, now).is_ok();
        if delegated && verify_signed(r, &tbs, &basic.signature_algorithm, sig)? {
            return Ok(());
        }
    }
    Err(CertError::BadSignature(format!(
        "OCSP response for certificates of {} (neither the CA nor a responder it delegated to with id-kp-OCSPSigning)",
        subject(issuer)
    )))
}

fn has_ocsp_signing(c: &Certificate) -> bool {
    matches!(
        c.tbs_certificate.get::<ExtendedKeyUsage>(),
        Ok(Some((_, eku))) if eku.0.contains(&ID_KP_OCSP_SIGNING)
    )
}
