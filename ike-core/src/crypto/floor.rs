//! The crypto "physical floor" of a handshake: exactly the key exchange,
//! PRF, AEAD and public-key work of IKE_SA_INIT [+ IKE_INTERMEDIATE] +
//! IKE_AUTH for both peers, without the state machine. Benchmarks time
//! [`handshake_crypto_with`] next to a full in-process handshake (PSK,
//! certificates, additional key exchanges) to see the engine's overhead;
//! the other functions time single operations. Nothing here reads a
//! clock: callers measure.

use super::auth::{maced_id, psk_auth_int, signed_octets, verify_psk_auth_int};
use super::keymat::{IkeKeyLengths, IkeKeys, skeyseed};
use super::prf::prf;
use super::prf::prf_plus;
use super::suite::{ChildSuite, IkeSuite};
use super::{CryptoError, CryptoProvider, IkeSaCrypto};
use crate::pki::chain::{public_key, verify_signed};
use crate::pki::{CertError, Certificate, HashAlgorithm, PrivateKey};
use crate::wire::payload::encode_chain;
use crate::wire::{ExchangeType, Flags, Header, Id, IdType, Ke, KeId, Payload, PrfId, VendorId};
use der::Encode;

/// One DH of `group` as a responder does it: generate a key pair (or, for
/// ML-KEM, encapsulate) and complete it with a peer value. Returns the
/// secret's first byte (to keep the optimiser honest).
pub fn dh_once(
    provider: &CryptoProvider,
    group: KeId,
    peer_public: &[u8],
) -> Result<u8, CryptoError> {
    let (_, secret) = provider
        .ke(group)?
        .respond(provider.random.as_ref(), peer_public)?;
    Ok(secret.first().copied().unwrap_or(0))
}

/// A valid public value of `group` to use as `peer_public` in [`dh_once`].
pub fn sample_public(provider: &CryptoProvider, group: KeId) -> Result<Vec<u8>, CryptoError> {
    Ok(provider
        .ke(group)?
        .start(provider.random.as_ref())?
        .public()
        .to_vec())
}

/// SKEYSEED plus all SK_* for `suite` (one side's IKE_SA_INIT key work).
pub fn ike_keys_once(
    provider: &CryptoProvider,
    suite: IkeSuite,
    g_ir: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Result<u8, CryptoError> {
    let r = suite.resolve(provider)?;
    let prf = provider.prf(suite.prf)?;
    let seed = skeyseed(prf, ni, nr, g_ir);
    let lens = IkeKeyLengths {
        prf: prf.key_len(),
        integ: r.integ_len,
        encr: r.encr_len,
    };
    let k = IkeKeys::derive(prf, &seed, ni, nr, 1, 2, lens)?;
    Ok(k.sk_d[0])
}

/// prf+ producing `len` bytes.
pub fn prf_plus_once(provider: &CryptoProvider, prf: PrfId, len: usize) -> Result<u8, CryptoError> {
    let p = provider.prf(prf)?;
    Ok(prf_plus(p, &[7u8; 32], &[&[1u8; 64]], len)?[0])
}

/// Does the crypto of one complete IKE_SA_INIT + IKE_AUTH handshake with
/// one Child SA, for both peers: two key pairs and two shared secrets,
/// SKEYSEED/SK_* twice, PSK AUTH computed and verified by each side
/// (4 AUTH computations), two IKE_AUTH messages of `auth_msg_len` inner
/// bytes sealed and opened, Child KEYMAT twice. Fails if the two sides
/// disagree (AUTH, SK or Child keys).
pub fn handshake_crypto(
    provider: &CryptoProvider,
    suite: IkeSuite,
    child: ChildSuite,
    auth_msg_len: usize,
) -> Result<(), CryptoError> {
    let hs = Handshake {
        suite,
        child,
        additional: &[],
        auth_msg_lens: [auth_msg_len; 2],
        certs: None,
    };
    handshake_crypto_with(provider, &hs).map_err(|e| match e {
        FloorError::Crypto(e) => e,
        _ => CryptoError::IntegrityCheckFailed,
    })
}

/// Why a floor handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FloorError {
    /// A DH, PRF or AEAD operation failed (unsupported algorithm, bad value).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Signing, or reading a key from a certificate, failed.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The two sides computed different values: a bug in the floor or its inputs.
    #[error("the two sides disagree on {0}")]
    Disagree(&'static str),
}

/// One peer's certificate in [`handshake_crypto_with`]: its private key,
/// its end-entity certificate and the CA certificate that signed it.
#[derive(Clone, Copy, Debug)]
pub struct CertSide<'a> {
    /// Signs this side's AUTH.
    pub key: &'a PrivateKey,
    /// Sent in CERT; its key verifies the AUTH.
    pub cert: &'a Certificate,
    /// The trust anchor whose key verifies `cert`'s signature.
    pub ca: &'a Certificate,
}

/// What a floor handshake does beyond IKE_SA_INIT's DH and SK_* work.
#[derive(Clone, Copy, Debug)]
pub struct Handshake<'a> {
    /// The IKE SA's suite (its KE is the IKE_SA_INIT group).
    pub suite: IkeSuite,
    /// The Child SA's suite.
    pub child: ChildSuite,
    /// Additional key exchanges, one IKE_INTERMEDIATE each (RFC 9370 §2.2.2).
    pub additional: &'a [KeId],
    /// Bytes of the IKE_AUTH request and response (all fragments), sealed
    /// and opened as one message each.
    pub auth_msg_lens: [usize; 2],
    /// `None`: PSK both ways. Otherwise the initiator's and the responder's
    /// certificates: RFC 7427 signatures both ways.
    pub certs: Option<[CertSide<'a>; 2]>,
}

/// Both peers' IKE SA crypto and the IKE_SA_INIT nonces.
struct Peers {
    i: IkeSaCrypto,
    r: IkeSaCrypto,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

/// The crypto of a whole IKE_SA_INIT [+ IKE_INTERMEDIATE…] + IKE_AUTH
/// handshake with one Child SA, both peers, without encoding or state:
/// - IKE_SA_INIT: two key pairs and two shared secrets, SKEYSEED and SK_*
///   twice (RFC 7296 §2.14);
/// - per additional exchange (RFC 9370 §2.2.2): the initiator's key pair,
///   the responder's answer (ML-KEM: encapsulation), the initiator's
///   completion (decapsulation), both messages sealed and opened, the
///   IntAuth PRFs of both messages on both sides (RFC 9242 §3.3.2) and
///   the key update SKEYSEED(n) = prf(SK_d(n-1), SK(n) ‖ Ni ‖ Nr) twice;
/// - IKE_AUTH: each side's AUTH made by it and checked by the peer (PSK:
///   4 PRF AUTH computations; certificates: per side one signature, one
///   verification of the peer's AUTH and one of the CA's signature on the
///   peer's certificate, RFC 7427 §3), both messages sealed and opened,
///   Child KEYMAT twice (RFC 7296 §2.17).
///
/// Fails if the sides disagree (AUTH, IntAuth, SK or Child keys).
pub fn handshake_crypto_with(
    provider: &CryptoProvider,
    hs: &Handshake<'_>,
) -> Result<(), FloorError> {
    let mut p = ike_sa_init(provider, hs.suite)?;
    let mut int_auth = [Vec::new(), Vec::new()];
    let mut msg_id = 1;
    for &group in hs.additional {
        intermediate(provider, hs.suite, &mut p, group, msg_id, &mut int_auth)?;
        msg_id += 1;
    }
    let mut tail = Vec::new();
    if !hs.additional.is_empty() {
        tail = [int_auth[0].as_slice(), &int_auth[1], &msg_id.to_be_bytes()].concat();
    }
    let init = [0u8; 300];
    let ids = [b"a.lanes.test".as_slice(), b"b.lanes.test"].map(|d| Id {
        ty: IdType::FQDN,
        data: d.to_vec(),
    });
    let ok = match &hs.certs {
        None => psk_auths(&p, &init, &ids, &tail),
        Some(c) => cert_auths(&p, &init, &ids, &tail, c)?,
    };
    if !ok {
        return Err(FloorError::Disagree("AUTH"));
    }
    let mut buf = Vec::with_capacity(hs.auth_msg_lens[0].max(hs.auth_msg_lens[1]) + 128);
    for (k, len) in hs.auth_msg_lens.iter().enumerate() {
        let inner = [Payload::VendorId(VendorId(vec![0; len.saturating_sub(4)]))];
        let flags = if k == 0 {
            Flags::INITIATOR
        } else {
            Flags::RESPONSE
        };
        let h = Header::new(1, 2, ExchangeType::IKE_AUTH, flags, msg_id);
        let (tx, rx) = if k == 0 {
            (&mut p.i, &p.r)
        } else {
            (&mut p.r, &p.i)
        };
        tx.seal(provider, &h, &inner, &mut buf)?;
        rx.open(&buf).map_err(|_| FloorError::Disagree("SK keys"))?;
    }
    let ci = p.i.child_keys(provider, &hs.child, None, &p.ni, &p.nr)?;
    let cr = p.r.child_keys(provider, &hs.child, None, &p.ni, &p.nr)?;
    if ci != cr {
        return Err(FloorError::Disagree("Child SA keys"));
    }
    Ok(())
}

fn ike_sa_init(provider: &CryptoProvider, suite: IkeSuite) -> Result<Peers, CryptoError> {
    let group = provider.ke(suite.ke)?;
    let rng = provider.random.as_ref();
    let ki = group.start(rng)?;
    let kr = group.start(rng)?;
    let ni = provider.random_nonce(32)?;
    let nr = provider.random_nonce(32)?;
    let gi = ki.complete(kr.public())?;
    let gr = kr.complete(ki.public())?;
    Ok(Peers {
        i: IkeSaCrypto::derive(provider, suite, &gi, &ni, &nr, 1, 2, true)?,
        r: IkeSaCrypto::derive(provider, suite, &gr, &ni, &nr, 1, 2, false)?,
        ni,
        nr,
    })
}

/// One IKE_INTERMEDIATE with an additional key exchange of `group`.
fn intermediate(
    provider: &CryptoProvider,
    suite: IkeSuite,
    p: &mut Peers,
    group: KeId,
    msg_id: u32,
    int_auth: &mut [Vec<u8>; 2],
) -> Result<(), FloorError> {
    let g = provider.ke(group)?;
    let rng = provider.random.as_ref();
    let ke = g.start(rng)?;
    let req = [Payload::Ke(Ke {
        group,
        data: ke.public().to_vec(),
    })];
    let mut buf = Vec::with_capacity(ke.public().len() + 128);
    let h = Header::new(
        1,
        2,
        ExchangeType::IKE_INTERMEDIATE,
        Flags::INITIATOR,
        msg_id,
    );
    p.i.seal(provider, &h, &req, &mut buf)?;
    let got =
        p.r.open(&buf)
            .map_err(|_| FloorError::Disagree("SK keys"))?;
    let Some(Payload::Ke(k)) = got.payloads.first() else {
        return Err(FloorError::Disagree("IKE_INTERMEDIATE request"));
    };
    let (answer, sr) = g.respond(rng, &k.data)?;
    let ia = [
        int_auth_step(&p.i, true, &int_auth[0], &buf, &req),
        int_auth_step(&p.r, true, &int_auth[0], &buf, &got.payloads),
    ];
    let resp = [Payload::Ke(Ke {
        group,
        data: answer,
    })];
    let h = Header::new(
        1,
        2,
        ExchangeType::IKE_INTERMEDIATE,
        Flags::RESPONSE,
        msg_id,
    );
    p.r.seal(provider, &h, &resp, &mut buf)?;
    let got =
        p.i.open(&buf)
            .map_err(|_| FloorError::Disagree("SK keys"))?;
    let Some(Payload::Ke(k)) = got.payloads.first() else {
        return Err(FloorError::Disagree("IKE_INTERMEDIATE response"));
    };
    let si = ke.complete(&k.data)?;
    let ra = [
        int_auth_step(&p.i, false, &int_auth[1], &buf, &got.payloads),
        int_auth_step(&p.r, false, &int_auth[1], &buf, &resp),
    ];
    if ia[0] != ia[1] || ra[0] != ra[1] {
        return Err(FloorError::Disagree("IntAuth"));
    }
    let [ia, _] = ia;
    let [ra, _] = ra;
    *int_auth = [ia, ra];
    p.i =
        p.i.derive_rekey(provider, suite, &si, &p.ni, &p.nr, 1, 2, true)?;
    p.r =
        p.r.derive_rekey(provider, suite, &sr, &p.ni, &p.nr, 1, 2, false)?;
    Ok(())
}

/// IntAuth_N = prf(SK_pi or SK_pr, IntAuth_(N-1) ‖ A ‖ P) (RFC 9242
/// §3.3.2), A taken as the header and Encrypted payload header as sent.
fn int_auth_step(
    sa: &IkeSaCrypto,
    of_initiator: bool,
    prev: &[u8],
    datagram: &[u8],
    inner: &[Payload],
) -> Vec<u8> {
    let mut plain = Vec::new();
    encode_chain(inner, &mut plain);
    let a = datagram.get(..Header::LEN + 4).unwrap_or_default();
    let k = if of_initiator {
        &sa.keys.sk_pi
    } else {
        &sa.keys.sk_pr
    };
    prf(sa.prf, k, &[prev, a, &plain]).to_vec()
}

/// PSK AUTH both ways (RFC 7296 §2.15, RFC 9242 §3.3.2): each side makes
/// its own and checks the peer's.
fn psk_auths(p: &Peers, init: &[u8], ids: &[Id; 2], tail: &[u8]) -> bool {
    let psk = b"lanes-test-psk-0a1b2c3d4e5f60718293";
    let (i, r) = (&p.i.keys, &p.r.keys);
    let auth_i = psk_auth_int(p.i.prf, psk, init, &p.nr, &i.sk_pi, &ids[0], tail);
    let ok_i = verify_psk_auth_int(p.r.prf, psk, init, &p.nr, &r.sk_pi, &ids[0], tail, &auth_i);
    let auth_r = psk_auth_int(p.r.prf, psk, init, &p.ni, &r.sk_pr, &ids[1], tail);
    let ok_r = verify_psk_auth_int(p.i.prf, psk, init, &p.ni, &i.sk_pr, &ids[1], tail, &auth_r);
    ok_i && ok_r
}

/// Signature AUTH both ways (RFC 7427 §3) with the scheme the engine picks
/// when the peer offers every hash: per side one signature, and by the
/// peer one check of the CA's signature on the certificate and one of the
/// AUTH signature.
fn cert_auths(
    p: &Peers,
    init: &[u8],
    ids: &[Id; 2],
    tail: &[u8],
    certs: &[CertSide<'_>; 2],
) -> Result<bool, FloorError> {
    let octets = |sa: &IkeSaCrypto, initiator: bool, nonce: &[u8]| {
        let k = if initiator {
            &sa.keys.sk_pi
        } else {
            &sa.keys.sk_pr
        };
        let mid = maced_id(sa.prf, k, &ids[usize::from(!initiator)]);
        let mut v = signed_octets(init, nonce, &mid);
        v.extend_from_slice(tail);
        v
    };
    let mut ok = true;
    for (k, side) in certs.iter().enumerate() {
        let initiator = k == 0;
        let nonce = if initiator { &p.nr } else { &p.ni };
        let (own, peer) = if initiator {
            (&p.i, &p.r)
        } else {
            (&p.r, &p.i)
        };
        let scheme = side
            .key
            .scheme_for(&HashAlgorithm::OFFERED, false)
            .ok_or_else(|| CertError::Unsupported(format!("{:?} for AUTH", side.key)))?;
        let sig = side
            .key
            .sign(scheme, &octets(own, initiator, nonce), false)?;
        let tbs = side.cert.tbs_certificate.to_der();
        ok &= verify_signed(
            side.ca,
            &tbs,
            &side.cert.signature_algorithm,
            side.cert.signature.raw_bytes(),
        )?;
        ok &= public_key(side.cert)?.verify(scheme, &octets(peer, initiator, nonce), &sig, false);
    }
    Ok(ok)
}

#[cfg(test)]
#[path = "floor_tests.rs"]
mod tests;
