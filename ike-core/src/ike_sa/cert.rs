//! AUTH by signature with certificates (RFC 7296 §2.15, §3.6, §3.7; RFC 7427)
//! beside the pre-shared key of `auth.rs`.

use std::time::Instant;

use der::{Decode, Encode};

use super::Ctx;
use crate::config::{ConnectionConfig, Identity};
use crate::crypto::auth::{maced_id, psk_auth_int, signed_octets, verify_psk_auth_int};
use crate::crypto::prf::Prf;
use crate::error::{Error, PeerIncompatible, PeerMisbehaved};
use crate::pki::chain::{identity_text, key_hash, subject};
use crate::pki::sig::{classic_scheme, decode_auth14, encode_auth14};
use crate::pki::{CertChain, CertError, HashAlgorithm, OcspQuery, RevocationCheck, UnixTime};
use crate::wire::{Auth, AuthMethod, Cert, CertEncoding, CertReq, Id, Notify, NotifyType, Payload};

/// What the peer said in IKE_SA_INIT about signatures and certificates.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSig {
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4); `None`: not sent.
    pub(crate) hashes: Option<Vec<HashAlgorithm>>,
    /// CA key hashes from CERTREQ payloads (RFC 7296 §3.7).
    pub(crate) certreq: Vec<[u8; 20]>,
}

impl PeerSig {
    /// Reads the notify and CERTREQs of an IKE_SA_INIT or IKE_AUTH message.
    pub(crate) fn read(payloads: &[Payload]) -> Self {
        let mut s = Self::default();
        s.merge(payloads);
        s
    }

    /// Adds what `payloads` carry.
    pub(crate) fn merge(&mut self, payloads: &[Payload]) {
        for p in payloads {
            match p {
                Payload::Notify(n) if n.ty == NotifyType::SIGNATURE_HASH_ALGORITHMS => {
                    self.hashes = Some(HashAlgorithm::decode_list(&n.data));
                }
                Payload::CertReq(r) if r.encoding == CertEncoding::X509_SIGNATURE => {
                    self.certreq.extend(
                        r.data
                            .chunks_exact(20)
                            .filter_map(|c| <[u8; 20]>::try_from(c).ok()),
                    );
                }
                _ => {}
            }
        }
    }
}

fn uses_certs(conn: &ConnectionConfig) -> bool {
    conn.local_cert.is_some() || conn.remote_ca.is_some()
}

/// CERTREQ with the SHA-1 key hashes of the CAs we trust for this peer.
pub(crate) fn certreq(conn: &ConnectionConfig) -> Option<Payload> {
    let ca = conn.remote_ca.as_ref()?;
    Some(Payload::CertReq(CertReq {
        encoding: CertEncoding::X509_SIGNATURE,
        data: ca.certreq_data(),
    }))
}

/// IKE_SA_INIT additions: SIGNATURE_HASH_ALGORITHMS, and a responder's CERTREQ.
pub(crate) fn init_payloads(conn: &ConnectionConfig, responder: bool) -> Vec<Payload> {
    if !uses_certs(conn) {
        return Vec::new();
    }
    let data = HashAlgorithm::encode_list(&HashAlgorithm::OFFERED);
    let mut v = vec![Payload::Notify(Notify::new(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        data,
    ))];
    if responder {
        v.extend(certreq(conn));
    }
    v
}

/// Our CERT payloads: the end-entity certificate, then intermediates up to the
/// first one whose key the peer named in CERTREQ (it has that one already).
pub(crate) fn our_certs(conn: &ConnectionConfig, peer: &PeerSig) -> Vec<Payload> {
    let Some(lc) = &conn.local_cert else {
        return Vec::new();
    };
    let cert = |c: &x509_cert::Certificate| {
        c.to_der().ok().map(|data| {
            Payload::Cert(Cert {
                encoding: CertEncoding::X509_SIGNATURE,
                data,
            })
        })
    };
    let mut v: Vec<Payload> = cert(&lc.chain.ee).into_iter().collect();
    for i in &lc.chain.intermediates {
        if peer.certreq.contains(&key_hash(i)) {
            break;
        }
        v.extend(cert(i));
    }
    v
}

/// One side's AUTH inputs (RFC 7296 §2.15): its IKE_SA_INIT message, the
/// other side's nonce, its SK_p and ID payload.
pub(crate) struct AuthInput<'a> {
    pub(crate) prf: &'a dyn Prf,
    pub(crate) real_message: &'a [u8],
    pub(crate) peer_nonce: &'a [u8],
    pub(crate) sk_p: &'a [u8],
    pub(crate) id: &'a Id,
    /// IntAuth after IKE_INTERMEDIATE exchanges, empty without them
    /// (RFC 9242 §3.3.2).
    pub(crate) int_auth: &'a [u8],
}

impl AuthInput<'_> {
    fn octets(&self) -> Vec<u8> {
        let mid = maced_id(self.prf, self.sk_p, self.id);
        let mut v = signed_octets(self.real_message, self.peer_nonce, &mid);
        v.extend_from_slice(self.int_auth);
        v
    }
}

/// Our AUTH payload: PSK, or a signature (method 14 when the peer sent
/// SIGNATURE_HASH_ALGORITHMS, else the key's classic method).
pub(crate) fn our_auth(
    conn: &ConnectionConfig,
    input: &AuthInput<'_>,
    peer: &PeerSig,
) -> Result<Auth, Error> {
    let Some(lc) = &conn.local_cert else {
        let data = psk_auth_int(
            input.prf,
            &conn.psk.0,
            input.real_message,
            input.peer_nonce,
            input.sk_p,
            input.id,
            input.int_auth,
        );
        return Ok(Auth {
            method: AuthMethod::PSK,
            data,
        });
    };
    let octets = input.octets();
    let sign_err =
        |e: CertError| Error::PeerIncompatible(PeerIncompatible::Signature(e.to_string()));
    if let Some(scheme) = peer
        .hashes
        .as_deref()
        .and_then(|h| lc.key.scheme_for(h, lc.rsa_pss))
    {
        let sig = lc.key.sign(scheme, &octets, false).map_err(sign_err)?;
        return Ok(Auth {
            method: AuthMethod::DIGITAL_SIGNATURE,
            data: encode_auth14(scheme, &sig),
        });
    }
    let (method, scheme) = lc.key.classic().ok_or_else(|| {
        sign_err(CertError::Unsupported(
            "Ed25519 without SIGNATURE_HASH_ALGORITHMS Identity (RFC 8420)".into(),
        ))
    })?;
    let data = lc.key.sign(scheme, &octets, true).map_err(sign_err)?;
    Ok(Auth { method, data })
}

/// The wall-clock time at `now` as the daemon last set it.
pub(crate) fn unix_at(ctx: &Ctx<'_>, now: Instant) -> Option<UnixTime> {
    let (at, unix) = ctx.wall?;
    let secs = now.saturating_duration_since(at).as_secs();
    Some(UnixTime(unix.0.saturating_add(secs)))
}

/// What checking the peer's AUTH found, unless it failed.
pub(crate) enum PeerAuth {
    /// Authenticated.
    Verified,
    /// The AUTH and the chain check out so far, but these OCSP answers are
    /// needed first (RFC 6960).
    Pending(Vec<OcspQuery>),
}

/// Verifies the peer's AUTH (PSK or certificate and signature). The error
/// names the failed check; it is logged here.
pub(crate) fn verify_peer(
    ctx: &Ctx<'_>,
    now: Instant,
    conn: &ConnectionConfig,
    input: &AuthInput<'_>,
    auth: &Auth,
    inner: &[Payload],
) -> Result<PeerAuth, Error> {
    let Some(store) = &conn.remote_ca else {
        let ok = auth.method == AuthMethod::PSK
            && verify_psk_auth_int(
                input.prf,
                &conn.psk.0,
                input.real_message,
                input.peer_nonce,
                input.sk_p,
                input.id,
                input.int_auth,
                &auth.data,
            );
        return if ok {
            Ok(PeerAuth::Verified)
        } else {
            Err(Error::PeerMisbehaved(PeerMisbehaved::AuthenticationFailed))
        };
    };
    let peer = Identity::from_wire(input.id);
    let res = verify_cert_auth(ctx, now, store, input, auth, inner, &peer);
    match &res {
        Ok(CertAuth::Verified(v)) => {
            let chain = v
                .chain
                .iter()
                .map(|(s, r)| format!("\"{s}\" {r:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!(conn = %conn.name, peer = %identity_text(&peer), subject = %v.subject, ca = %v.ca,
            revocation = ?v.revocation, %chain, key = %v.key.kind(), "peer certificate verified")
        }
        Ok(CertAuth::Pending(q)) => {
            let certs = q
                .iter()
                .map(|q| format!("\"{}\" at {}", q.subject(), q.uris.join(" ")))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!(conn = %conn.name, peer = %identity_text(&peer), %certs, "peer certificate waits for OCSP answers")
        }
        Err(e) => {
            tracing::warn!(conn = %conn.name, peer = %identity_text(&peer), check = %e, "peer authentication failed")
        }
    }
    match res {
        Ok(CertAuth::Verified(_)) => Ok(PeerAuth::Verified),
        Ok(CertAuth::Pending(q)) => Ok(PeerAuth::Pending(q)),
        Err(e) => Err(Error::PeerMisbehaved(PeerMisbehaved::Certificate(e))),
    }
}

enum CertAuth {
    Verified(Box<crate::pki::Verified>),
    Pending(Vec<OcspQuery>),
}

/// Path validation, then the AUTH signature, then revocation: a peer whose
/// signature fails never makes us fetch anything.
fn verify_cert_auth(
    ctx: &Ctx<'_>,
    now: Instant,
    store: &crate::pki::TrustStore,
    input: &AuthInput<'_>,
    auth: &Auth,
    inner: &[Payload],
    peer: &Identity,
) -> Result<CertAuth, CertError> {
    let chain = peer_chain(inner)?;
    let unix = unix_at(ctx, now).ok_or_else(|| {
        CertError::Unsupported(
            "certificate check without wall-clock time (Endpoint::set_wall_clock)".into(),
        )
    })?;
    let path = store.validate(&chain, peer, unix)?;
    let (scheme, sig, raw) = match auth.method {
        AuthMethod::DIGITAL_SIGNATURE => {
            let (s, sig) = decode_auth14(&auth.data)?;
            (s, sig, false)
        }
        m => match classic_scheme(m) {
            Some(s) => (s, auth.data.as_slice(), true),
            None => {
                return Err(CertError::Unsupported(format!(
                    "AUTH method {m} where remote auth is pubkey"
                )));
            }
        },
    };
    if !path.key()?.verify(scheme, &input.octets(), sig, raw) {
        return Err(CertError::AuthSignature(subject(path.ee())));
    }
    let known = |q: &OcspQuery| ctx.out.ocsp.cache.get(q.request(), unix).cloned();
    match store.revocation(&path, unix, &known)? {
        RevocationCheck::Done(v) => Ok(CertAuth::Verified(Box::new(path.verified(v)?))),
        RevocationCheck::Need(q) => Ok(CertAuth::Pending(q)),
    }
}

/// The refusal of a peer whose ID is not `conn`'s remote id. For a pubkey
/// peer it names the certificate check that failed (RFC 4945 §3.1: the
/// certificate must carry the identity); either way the reason is logged.
pub(crate) fn identity_refusal(
    conn: &ConnectionConfig,
    peer: &Identity,
    inner: &[Payload],
) -> Error {
    let unexpected = Error::PeerMisbehaved(PeerMisbehaved::UnexpectedIdentity);
    let Some(want) = conn.remote_id.as_ref() else {
        return unexpected;
    };
    let want_text = identity_text(want);
    let cert = conn.remote_ca.as_ref().and_then(|_| peer_chain(inner).ok());
    let Some(chain) = cert else {
        tracing::warn!(conn = %conn.name, peer = %identity_text(peer),
            check = %format!("peer ID is not remote id {want_text}"), "peer authentication failed");
        return unexpected;
    };
    match crate::pki::chain::check_identity(&chain.ee, want) {
        Err(CertError::IdentityMismatch {
            subject, carries, ..
        }) => {
            let e = CertError::IdentityMismatch {
                id: format!(
                    "remote id {want_text} (peer sent ID {})",
                    identity_text(peer)
                ),
                subject,
                carries,
            };
            tracing::warn!(conn = %conn.name, peer = %identity_text(peer), check = %e, "peer authentication failed");
            Error::PeerMisbehaved(PeerMisbehaved::Certificate(e))
        }
        _ => {
            tracing::warn!(conn = %conn.name, peer = %identity_text(peer),
                check = %format!("peer ID is not remote id {want_text}, which its certificate carries"),
                "peer authentication failed");
            unexpected
        }
    }
}

/// The certificates of CERT payloads: the end entity first (RFC 7296 §3.6).
fn peer_chain(inner: &[Payload]) -> Result<CertChain, CertError> {
    let mut certs = inner.iter().filter_map(|p| match p {
        Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE => Some(&c.data),
        _ => None,
    });
    let parse = |d: &Vec<u8>| {
        x509_cert::Certificate::from_der(d).map_err(|e| CertError::parse("CERT payload", e))
    };
    let ee = parse(certs.next().ok_or(CertError::NoCertificate)?)?;
    let intermediates = certs.map(parse).collect::<Result<_, _>>()?;
    Ok(CertChain { ee, intermediates })
}
