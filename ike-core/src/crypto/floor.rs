//! The crypto "physical floor" of a handshake: exactly the DH, PRF and
//! AEAD work of IKE_SA_INIT + IKE_AUTH for both peers, without any
//! encoding or state machine. Benchmarks time [`handshake_crypto`] next
//! to a full in-process handshake to see the engine's overhead
//! (issue 4 item 6); the other functions time single operations.
//! Nothing here reads a clock: callers measure.

use super::keymat::{IkeKeyLengths, IkeKeys, skeyseed};
use super::prf::prf_plus;
use super::suite::{ChildSuite, IkeSuite};
use super::{CryptoError, CryptoProvider, IkeSaCrypto};
use crate::wire::{ExchangeType, Flags, Header, Id, IdType, KeId, Payload, PrfId, VendorId};

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
    let group = provider.ke(suite.ke)?;
    let rng = provider.random.as_ref();
    let ki = group.start(rng)?;
    let kr = group.start(rng)?;
    let ni = provider.random_nonce(32)?;
    let nr = provider.random_nonce(32)?;
    let gi = ki.complete(kr.public())?;
    let gr = kr.complete(ki.public())?;
    let mut a = IkeSaCrypto::derive(provider, suite, &gi, &ni, &nr, 1, 2, true)?;
    let mut b = IkeSaCrypto::derive(provider, suite, &gr, &ni, &nr, 1, 2, false)?;
    let id = Id {
        ty: IdType::FQDN,
        data: b"a.lanes.test".to_vec(),
    };
    let init = [0u8; 300];
    let psk = b"lanes-test-psk-0a1b2c3d4e5f60718293";
    let auth_i = a.own_psk_auth(psk, &init, &nr, &id);
    let ok_i = b.verify_peer_psk_auth(psk, &init, &nr, &id, &auth_i);
    let auth_r = b.own_psk_auth(psk, &init, &ni, &id);
    let ok_r = a.verify_peer_psk_auth(psk, &init, &ni, &id, &auth_r);
    let inner = [Payload::VendorId(VendorId(vec![
        0;
        auth_msg_len
            .saturating_sub(4)
    ]))];
    let mut buf = Vec::with_capacity(auth_msg_len + 128);
    let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    a.seal(provider, &h, &inner, &mut buf)?;
    b.open(&buf)
        .map_err(|_| CryptoError::IntegrityCheckFailed)?;
    b.seal(provider, &h, &inner, &mut buf)?;
    a.open(&buf)
        .map_err(|_| CryptoError::IntegrityCheckFailed)?;
    let ca = a.child_keys(provider, &child, None, &ni, &nr)?;
    let cb = b.child_keys(provider, &child, None, &ni, &nr)?;
    if ok_i && ok_r && ca == cb {
        Ok(())
    } else {
        Err(CryptoError::IntegrityCheckFailed)
    }
}
