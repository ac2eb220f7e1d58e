//! PRFs (HMAC-SHA2, RFC 4868 §2; HMAC-SHA1, RFC 2104, legacy) and prf+
//! (RFC 7296 §2.13).

use core::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use super::{CryptoError, SecretBytes};
use crate::wire::PrfId;

/// A pseudorandom function (RFC 7296 §2.13).
pub trait Prf: Send + Sync + fmt::Debug {
    /// Its transform ID.
    fn id(&self) -> PrfId;
    /// Output length in bytes.
    fn output_len(&self) -> usize;
    /// Preferred key length (RFC 7296 §2.14: SK_d, SK_pi, SK_pr); equal to
    /// the output length for HMAC.
    fn key_len(&self) -> usize {
        self.output_len()
    }
    /// Keys the PRF; the result can be used for many inputs.
    fn keyed(&self, key: &[u8]) -> Box<dyn PrfKey>;
}

/// A keyed PRF instance.
pub trait PrfKey: Send + Sync {
    /// Computes `prf(key, parts[0] ‖ parts[1] ‖ …)` into `out`, which must be
    /// at most the output length (a shorter `out` truncates, as integrity
    /// algorithms do).
    fn compute(&self, parts: &[&[u8]], out: &mut [u8]);
}

macro_rules! hmac_prf {
    ($name:ident, $static:ident, $hash:ty, $id:expr, $len:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        #[doc = $doc]
        pub static $static: $name = $name;

        impl Prf for $name {
            fn id(&self) -> PrfId {
                $id
            }
            fn output_len(&self) -> usize {
                $len
            }
            fn keyed(&self, key: &[u8]) -> Box<dyn PrfKey> {
                // HMAC accepts keys of every length (RFC 2104 §2).
                let mac = <Hmac<$hash> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| <Hmac<$hash> as Mac>::new(&Default::default()));
                Box::new(mac)
            }
        }

        impl PrfKey for Hmac<$hash> {
            fn compute(&self, parts: &[&[u8]], out: &mut [u8]) {
                let mut m = self.clone();
                for p in parts {
                    m.update(p);
                }
                let tag = m.finalize().into_bytes();
                let n = out.len().min(tag.len());
                out[..n].copy_from_slice(&tag[..n]);
            }
        }
    };
}

hmac_prf!(
    HmacSha1,
    PRF_HMAC_SHA1,
    Sha1,
    PrfId::HMAC_SHA1,
    20,
    "PRF_HMAC_SHA1 (RFC 2104, RFC 7296 §3.3.2), legacy."
);
hmac_prf!(
    HmacSha256,
    PRF_HMAC_SHA2_256,
    Sha256,
    PrfId::HMAC_SHA2_256,
    32,
    "PRF_HMAC_SHA2_256 (RFC 4868)."
);
hmac_prf!(
    HmacSha384,
    PRF_HMAC_SHA2_384,
    Sha384,
    PrfId::HMAC_SHA2_384,
    48,
    "PRF_HMAC_SHA2_384 (RFC 4868)."
);
hmac_prf!(
    HmacSha512,
    PRF_HMAC_SHA2_512,
    Sha512,
    PrfId::HMAC_SHA2_512,
    64,
    "PRF_HMAC_SHA2_512 (RFC 4868)."
);

/// prf(key, data) as a secret buffer.
pub fn prf(prf: &dyn Prf, key: &[u8], data: &[&[u8]]) -> SecretBytes {
    let mut out = SecretBytes::zeroed(prf.output_len());
    prf.keyed(key).compute(data, out.as_mut_slice());
    out
}

/// prf+(K, S) = T1 ‖ T2 ‖ … truncated to `len` bytes, where
/// T1 = prf(K, S ‖ 0x01) and Tn = prf(K, Tn-1 ‖ S ‖ n) (RFC 7296 §2.13).
/// `seed` is S given as parts that are concatenated.
pub fn prf_plus(
    prf: &dyn Prf,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let hlen = prf.output_len();
    let blocks = len.div_ceil(hlen);
    if blocks > 255 {
        return Err(CryptoError::PrfPlusTooLong(len));
    }
    let k = prf.keyed(key);
    let mut out = SecretBytes::zeroed(blocks * hlen);
    for n in 0..blocks {
        let counter = [u8::try_from(n + 1).map_err(|_| CryptoError::PrfPlusTooLong(len))?];
        let (done, rest) = out.as_mut_slice().split_at_mut(n * hlen);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
        if n > 0 {
            parts.push(&done[(n - 1) * hlen..]);
        }
        parts.extend_from_slice(seed);
        parts.push(&counter);
        k.compute(&parts, &mut rest[..hlen]);
    }
    let mut v = out.into_zeroizing();
    v.truncate(len);
    Ok(SecretBytes::new(core::mem::take(&mut *v)))
}
