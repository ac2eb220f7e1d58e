//! ESP keying material lengths (RFC 7296 §2.17).
//!
//! The kernel, not the engine, protects ESP packets, so an ESP transform only
//! needs its KEYMAT length here. AES-GCM with an 8-, 12- or 16-byte ICV
//! (RFC 4106 §8.1) takes the AES key followed by a 4-byte salt, AES-CCM
//! (RFC 4309 §7.1) the AES key followed by a 3-byte salt; the ICV length
//! only matters to the kernel (`xfrm_algo_aead.alg_icv_len`).

use super::CryptoProvider;
use crate::proposal::Encr;
use crate::wire::EncrId;

/// Bytes of KEYMAT one direction of an ESP SA with `encr` takes, or `None`
/// when neither this table nor `provider` knows the transform or key size.
pub fn keymat_len(provider: &CryptoProvider, encr: Encr) -> Option<usize> {
    match encr.id {
        EncrId::AES_GCM_8 | EncrId::AES_GCM_12 | EncrId::AES_GCM_16 => match encr.key_bits {
            Some(b @ (128 | 192 | 256)) => Some(usize::from(b / 8) + 4),
            _ => None,
        },
        EncrId::AES_CCM_8 | EncrId::AES_CCM_12 | EncrId::AES_CCM_16 => match encr.key_bits {
            Some(b @ (128 | 192 | 256)) => Some(usize::from(b / 8) + 3),
            _ => None,
        },
        id => provider.encr(id).ok()?.keymat_len(encr.key_bits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ccm_icv_length_has_key_and_a_three_byte_salt() {
        let p = CryptoProvider::seeded(1);
        for id in [EncrId::AES_CCM_8, EncrId::AES_CCM_12, EncrId::AES_CCM_16] {
            for (bits, len) in [(128, 19), (192, 27), (256, 35)] {
                let e = Encr {
                    id,
                    key_bits: Some(bits),
                };
                assert_eq!(keymat_len(&p, e), Some(len), "{id:?} {bits}");
            }
            let none = Encr { id, key_bits: None };
            assert_eq!(keymat_len(&p, none), None);
        }
    }

    #[test]
    fn every_gcm_icv_length_has_key_and_salt() {
        let p = CryptoProvider::seeded(1);
        for id in [EncrId::AES_GCM_8, EncrId::AES_GCM_12, EncrId::AES_GCM_16] {
            for (bits, len) in [(128, 20), (192, 28), (256, 36)] {
                let e = Encr {
                    id,
                    key_bits: Some(bits),
                };
                assert_eq!(keymat_len(&p, e), Some(len), "{id:?} {bits}");
            }
            let odd = Encr {
                id,
                key_bits: Some(64),
            };
            assert_eq!(keymat_len(&p, odd), None);
        }
        let cbc = Encr {
            id: EncrId::AES_CBC,
            key_bits: Some(256),
        };
        assert_eq!(keymat_len(&p, cbc), Some(32));
        let unknown = Encr {
            id: EncrId(1000),
            key_bits: None,
        };
        assert_eq!(keymat_len(&p, unknown), None);
    }
}
