//! SKEYSEED, SK_* and Child SA KEYMAT (RFC 7296 §2.13, §2.14, §2.17,
//! §2.18).

use core::fmt;

use super::prf::{Prf, prf, prf_plus};
use super::{CryptoError, SecretBytes};

/// SKEYSEED = prf(Ni ‖ Nr, g^ir) (RFC 7296 §2.14, HMAC PRFs use the full
/// nonces as key).
pub fn skeyseed(prf_alg: &dyn Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> SecretBytes {
    let mut key = SecretBytes::zeroed(ni.len() + nr.len());
    key.as_mut_slice()[..ni.len()].copy_from_slice(ni);
    key.as_mut_slice()[ni.len()..].copy_from_slice(nr);
    prf(prf_alg, &key, &[g_ir])
}

/// IKE SA rekey: SKEYSEED = prf(SK_d (old), g^ir (new) ‖ Ni ‖ Nr), with the
/// *old* SA's PRF and the nonces of the CREATE_CHILD_SA exchange
/// (RFC 7296 §2.18).
pub fn skeyseed_rekey(
    old_prf: &dyn Prf,
    old_sk_d: &[u8],
    g_ir: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    prf(old_prf, old_sk_d, &[g_ir, ni, nr])
}

/// IKE SA rekey with additional key exchanges (RFC 9370 §2.2.4):
/// SKEYSEED = prf(SK_d (old), SK(0) ‖ Ni ‖ Nr ‖ SK(1) ‖ … ‖ SK(n)), where
/// SK(0) is the CREATE_CHILD_SA key exchange and `add` the IKE_FOLLOWUP_KE
/// secrets in order.
pub fn skeyseed_rekey_additional(
    old_prf: &dyn Prf,
    old_sk_d: &[u8],
    sk0: &[u8],
    (ni, nr): (&[u8], &[u8]),
    add: &[u8],
) -> SecretBytes {
    prf(old_prf, old_sk_d, &[sk0, ni, nr, add])
}

/// Key lengths of the seven IKE SA keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IkeKeyLengths {
    /// SK_d, SK_pi, SK_pr: the PRF's key length.
    pub prf: usize,
    /// SK_ai, SK_ar (0 with AEAD).
    pub integ: usize,
    /// SK_ei, SK_er, including the AEAD salt.
    pub encr: usize,
}

/// The IKE SA keys (RFC 7296 §2.14). `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct IkeKeys {
    /// Derives Child SA keys and the next SKEYSEED.
    pub sk_d: SecretBytes,
    /// Integrity, original initiator → responder.
    pub sk_ai: SecretBytes,
    /// Integrity, responder → initiator.
    pub sk_ar: SecretBytes,
    /// Encryption, initiator → responder.
    pub sk_ei: SecretBytes,
    /// Encryption, responder → initiator.
    pub sk_er: SecretBytes,
    /// AUTH of the initiator (MACedIDForI).
    pub sk_pi: SecretBytes,
    /// AUTH of the responder (MACedIDForR).
    pub sk_pr: SecretBytes,
}

impl fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IkeKeys(<redacted>)")
    }
}

impl IkeKeys {
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///   = prf+(SKEYSEED, Ni ‖ Nr ‖ SPIi ‖ SPIr) (RFC 7296 §2.14).
    ///
    /// For an IKE rekey pass the new SPIs and the CREATE_CHILD_SA nonces
    /// (§2.18).
    pub fn derive(
        prf_alg: &dyn Prf,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        lens: IkeKeyLengths,
    ) -> Result<Self, CryptoError> {
        let total = 3 * lens.prf + 2 * lens.integ + 2 * lens.encr;
        let km = prf_plus(
            prf_alg,
            skeyseed,
            &[ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()],
            total,
        )?;
        let mut off = 0;
        let mut take = |n: usize| {
            let s = SecretBytes::from_slice(&km[off..off + n]);
            off += n;
            s
        };
        Ok(Self {
            sk_d: take(lens.prf),
            sk_ai: take(lens.integ),
            sk_ar: take(lens.integ),
            sk_ei: take(lens.encr),
            sk_er: take(lens.encr),
            sk_pi: take(lens.prf),
            sk_pr: take(lens.prf),
        })
    }
}

/// Child SA keys (RFC 7296 §2.17). "i" keys protect traffic from the
/// initiator *of the exchange that created the Child SA* to the responder.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// Encryption key initiator → responder (AEAD: key ‖ salt).
    pub encr_i: SecretBytes,
    /// Integrity key initiator → responder (empty for AEAD).
    pub integ_i: SecretBytes,
    /// Encryption key responder → initiator.
    pub encr_r: SecretBytes,
    /// Integrity key responder → initiator.
    pub integ_r: SecretBytes,
}

impl fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChildKeys(<redacted>)")
    }
}

impl ChildKeys {
    /// KEYMAT = prf+(SK_d, [g^ir (new) ‖] Ni ‖ Nr), taken in the order
    /// encr i→r, integ i→r, encr r→i, integ r→i (RFC 7296 §2.17). `g_ir` is
    /// the PFS shared secret of CREATE_CHILD_SA, if any.
    pub fn derive(
        prf_alg: &dyn Prf,
        sk_d: &[u8],
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        encr_len: usize,
        integ_len: usize,
    ) -> Result<Self, CryptoError> {
        let seed: Vec<&[u8]> = g_ir.into_iter().chain([ni, nr]).collect();
        let km = prf_plus(prf_alg, sk_d, &seed, 2 * (encr_len + integ_len))?;
        let mut off = 0;
        let mut take = |n: usize| {
            let s = SecretBytes::from_slice(&km[off..off + n]);
            off += n;
            s
        };
        Ok(Self {
            encr_i: take(encr_len),
            integ_i: take(integ_len),
            encr_r: take(encr_len),
            integ_r: take(integ_len),
        })
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;
    use crate::crypto::prf::PRF_HMAC_SHA2_256;

    #[test]
    fn rekey_skeyseed_with_additional_exchanges_follows_rfc_9370() {
        let (sk_d, sk0, ni, nr) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
        let add = [[5u8; 32], [6u8; 32]].concat();
        let mut m = Hmac::<Sha256>::new_from_slice(&sk_d).expect("key");
        // SK(0) | Ni | Nr | SK(1) | SK(2), as strongSwan's keymat_v2.c.
        for part in [&sk0[..], &ni, &nr, &add] {
            m.update(part);
        }
        let want = m.finalize().into_bytes();
        let got = skeyseed_rekey_additional(&PRF_HMAC_SHA2_256, &sk_d, &sk0, (&ni, &nr), &add);
        assert_eq!(&*got, &want[..]);
        // Without additional secrets it is the RFC 7296 §2.18 rekey SKEYSEED.
        let plain = skeyseed_rekey(&PRF_HMAC_SHA2_256, &sk_d, &sk0, &ni, &nr);
        let none = skeyseed_rekey_additional(&PRF_HMAC_SHA2_256, &sk_d, &sk0, (&ni, &nr), &[]);
        assert_eq!(&*plain, &*none);
        assert_ne!(&*got, &*none);
    }
}
