//! AUTH payload data for pre-shared keys (RFC 7296 §2.15).

use subtle::ConstantTimeEq;

use super::SecretBytes;
use super::prf::{Prf, prf};
use crate::wire::{Codec, Id};

/// The key pad of RFC 7296 §2.15 (17 ASCII bytes, no NUL).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// MACedIDForI/R = prf(SK_pi/SK_pr, RestOfInit/RespIDPayload), where the
/// ID payload body is type ‖ 3 reserved bytes ‖ data (RFC 7296 §2.15).
pub fn maced_id(prf_alg: &dyn Prf, sk_p: &[u8], id: &Id) -> SecretBytes {
    prf(prf_alg, sk_p, &[&id.get_encoding()])
}

/// The octets to sign: RealMessage ‖ peer's Nonce data ‖ MACedID.
///
/// For the initiator: its IKE_SA_INIT request as sent (the one with the
/// cookie, if any; without the non-ESP marker), Nr, and prf(SK_pi, IDi').
/// For the responder: its IKE_SA_INIT response, Ni, prf(SK_pr, IDr').
pub fn signed_octets(real_message: &[u8], peer_nonce: &[u8], maced_id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len());
    v.extend_from_slice(real_message);
    v.extend_from_slice(peer_nonce);
    v.extend_from_slice(maced_id);
    v
}

/// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), SignedOctets).
pub fn psk_auth_from_octets(prf_alg: &dyn Prf, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let k = prf(prf_alg, psk, &[KEY_PAD]);
    prf(prf_alg, &k, &[signed_octets]).to_vec()
}

/// The PSK AUTH data of one side, from its parts (RFC 7296 §2.15).
///
/// `sk_p` is SK_pi for the initiator's AUTH and SK_pr for the responder's;
/// `real_message` is that side's IKE_SA_INIT message and `peer_nonce` the
/// other side's nonce.
pub fn psk_auth(
    prf_alg: &dyn Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Id,
) -> Vec<u8> {
    psk_auth_int(prf_alg, psk, real_message, peer_nonce, sk_p, id, &[])
}

/// [`psk_auth`] after IKE_INTERMEDIATE exchanges: `int_auth` (IntAuth_iN ‖
/// IntAuth_rN ‖ IKE_AUTH message ID; empty without them) follows MACedID
/// in the signed octets (RFC 9242 §3.3.2).
pub fn psk_auth_int(
    prf_alg: &dyn Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Id,
    int_auth: &[u8],
) -> Vec<u8> {
    let mid = maced_id(prf_alg, sk_p, id);
    let mut octets = signed_octets(real_message, peer_nonce, &mid);
    octets.extend_from_slice(int_auth);
    psk_auth_from_octets(prf_alg, psk, &octets)
}

/// Verifies received PSK AUTH data in constant time.
pub fn verify_psk_auth(
    prf_alg: &dyn Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Id,
    received: &[u8],
) -> bool {
    verify_psk_auth_int(
        prf_alg,
        psk,
        real_message,
        peer_nonce,
        sk_p,
        id,
        &[],
        received,
    )
}

/// [`verify_psk_auth`] with the IntAuth octets of [`psk_auth_int`].
#[allow(clippy::too_many_arguments)]
pub fn verify_psk_auth_int(
    prf_alg: &dyn Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Id,
    int_auth: &[u8],
    received: &[u8],
) -> bool {
    let want = psk_auth_int(prf_alg, psk, real_message, peer_nonce, sk_p, id, int_auth);
    want.len() == received.len() && bool::from(want.ct_eq(received))
}
