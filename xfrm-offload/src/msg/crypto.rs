//! ESP algorithms as the kernel names them (`net/xfrm/xfrm_algo.c`), with key
//! lengths checked before anything reaches netlink. Keys stay in `Zeroizing`
//! buffers; `Debug` redacts them.

use std::fmt;

use netlink_packet_xfrm::{Alg, AlgAead, AlgAuth, XfrmAttrs};
use zeroize::Zeroizing;

use crate::error::SpecError;
use crate::msg::common::name_field;

/// Kernel name of AES-GCM for ESP (RFC 4106).
pub const AES_GCM: &str = "rfc4106(gcm(aes))";
/// Kernel name of AES-CCM for ESP (RFC 4309).
pub const AES_CCM: &str = "rfc4309(ccm(aes))";
/// Kernel name of ChaCha20-Poly1305 for ESP (RFC 7634).
pub const CHACHA20_POLY1305: &str = "rfc7539esp(chacha20,poly1305)";
/// Kernel name of AES-CBC (RFC 3602).
pub const AES_CBC: &str = "cbc(aes)";

/// Integrity algorithm paired with AES-CBC, truncated per RFC 4868.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Integ {
    /// `hmac(sha256)`, 128-bit ICV, 32-byte key.
    HmacSha256_128,
    /// `hmac(sha384)`, 192-bit ICV, 48-byte key.
    HmacSha384_192,
    /// `hmac(sha512)`, 256-bit ICV, 64-byte key.
    HmacSha512_256,
    /// `hmac(sha1)`, 96-bit ICV, 20-byte key (RFC 2404; legacy).
    HmacSha1_96,
}

impl Integ {
    /// Kernel algorithm name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Integ::HmacSha256_128 => "hmac(sha256)",
            Integ::HmacSha384_192 => "hmac(sha384)",
            Integ::HmacSha512_256 => "hmac(sha512)",
            Integ::HmacSha1_96 => "hmac(sha1)",
        }
    }

    /// (key bytes, truncation bits).
    fn sizes(self) -> (usize, u32) {
        match self {
            Integ::HmacSha256_128 => (32, 128),
            Integ::HmacSha384_192 => (48, 192),
            Integ::HmacSha512_256 => (64, 256),
            Integ::HmacSha1_96 => (20, 96),
        }
    }
}

/// The transform of an ESP SA.
#[derive(Clone)]
#[non_exhaustive]
pub enum SaCrypto {
    /// AES-GCM (RFC 4106): `key` is the AES key followed by the 4-byte salt
    /// (20, 28 or 36 bytes); ICV 64, 96 or 128 bits.
    AesGcm {
        /// Key || salt.
        key: Zeroizing<Vec<u8>>,
        /// ICV length in bits.
        icv_bits: u32,
    },
    /// AES-CCM (RFC 4309): `key` is the AES key followed by the 3-byte salt
    /// (19, 27 or 35 bytes, `crypto/ccm.c` takes the salt off); ICV 64, 96
    /// or 128 bits.
    AesCcm {
        /// Key || salt.
        key: Zeroizing<Vec<u8>>,
        /// ICV length in bits.
        icv_bits: u32,
    },
    /// ChaCha20-Poly1305 (RFC 7634): 32-byte key followed by the 4-byte salt.
    ChaCha20Poly1305 {
        /// Key || salt (36 bytes).
        key: Zeroizing<Vec<u8>>,
    },
    /// AES-CBC (16, 24 or 32-byte key) with a truncated HMAC.
    AesCbc {
        /// Encryption key.
        enc_key: Zeroizing<Vec<u8>>,
        /// Integrity algorithm.
        integ: Integ,
        /// Integrity key.
        integ_key: Zeroizing<Vec<u8>>,
    },
}

impl fmt::Debug for SaCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaCrypto::AesGcm { key, icv_bits } => f
                .debug_struct("AesGcm")
                .field("key_bits", &((key.len().saturating_sub(4)) * 8))
                .field("icv_bits", icv_bits)
                .field("key", &"<redacted>")
                .finish(),
            SaCrypto::AesCcm { key, icv_bits } => f
                .debug_struct("AesCcm")
                .field("key_bits", &((key.len().saturating_sub(3)) * 8))
                .field("icv_bits", icv_bits)
                .field("key", &"<redacted>")
                .finish(),
            SaCrypto::ChaCha20Poly1305 { .. } => f
                .debug_struct("ChaCha20Poly1305")
                .field("key", &"<redacted>")
                .finish(),
            SaCrypto::AesCbc { enc_key, integ, .. } => f
                .debug_struct("AesCbc")
                .field("key_bits", &(enc_key.len() * 8))
                .field("integ", integ)
                .field("keys", &"<redacted>")
                .finish(),
        }
    }
}

impl SaCrypto {
    /// Kernel name of the cipher or AEAD.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            SaCrypto::AesGcm { .. } => AES_GCM,
            SaCrypto::AesCcm { .. } => AES_CCM,
            SaCrypto::ChaCha20Poly1305 { .. } => CHACHA20_POLY1305,
            SaCrypto::AesCbc { .. } => AES_CBC,
        }
    }

    /// True for AEAD transforms.
    pub fn is_aead(&self) -> bool {
        !matches!(self, SaCrypto::AesCbc { .. })
    }

    /// Checks key and ICV lengths against what the kernel accepts.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            SaCrypto::AesGcm { key, icv_bits } => {
                if ![20, 28, 36].contains(&key.len()) {
                    return Err(SpecError::KeyLength {
                        alg: AES_GCM,
                        got: key.len(),
                        expected: "20, 28 or 36",
                    });
                }
                if ![64, 96, 128].contains(icv_bits) {
                    return Err(SpecError::IcvLength {
                        alg: AES_GCM,
                        bits: *icv_bits,
                        allowed: "64, 96 or 128",
                    });
                }
            }
            SaCrypto::AesCcm { key, icv_bits } => {
                if ![19, 27, 35].contains(&key.len()) {
                    return Err(SpecError::KeyLength {
                        alg: AES_CCM,
                        got: key.len(),
                        expected: "19, 27 or 35",
                    });
                }
                if ![64, 96, 128].contains(icv_bits) {
                    return Err(SpecError::IcvLength {
                        alg: AES_CCM,
                        bits: *icv_bits,
                        allowed: "64, 96 or 128",
                    });
                }
            }
            SaCrypto::ChaCha20Poly1305 { key } => {
                if key.len() != 36 {
                    return Err(SpecError::KeyLength {
                        alg: CHACHA20_POLY1305,
                        got: key.len(),
                        expected: "36",
                    });
                }
            }
            SaCrypto::AesCbc {
                enc_key,
                integ,
                integ_key,
            } => {
                if ![16, 24, 32].contains(&enc_key.len()) {
                    return Err(SpecError::KeyLength {
                        alg: AES_CBC,
                        got: enc_key.len(),
                        expected: "16, 24 or 32",
                    });
                }
                if integ_key.len() != integ.sizes().0 {
                    return Err(SpecError::KeyLength {
                        alg: integ.kernel_name(),
                        got: integ_key.len(),
                        expected: match integ {
                            Integ::HmacSha256_128 => "32",
                            Integ::HmacSha384_192 => "48",
                            Integ::HmacSha512_256 => "64",
                            Integ::HmacSha1_96 => "20",
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// The algorithm attributes, in iproute2's order (cipher, then auth).
    /// The returned attributes hold key copies: callers wipe them with
    /// `common::wipe_keys` after emitting.
    pub(crate) fn attrs(&self) -> Vec<XfrmAttrs> {
        let bits = |k: &[u8]| u32::try_from(k.len() * 8).unwrap_or(u32::MAX);
        match self {
            SaCrypto::AesGcm { key, icv_bits } => vec![aead(AES_GCM, key, bits(key), *icv_bits)],
            SaCrypto::AesCcm { key, icv_bits } => vec![aead(AES_CCM, key, bits(key), *icv_bits)],
            SaCrypto::ChaCha20Poly1305 { key } => {
                vec![aead(CHACHA20_POLY1305, key, bits(key), 128)]
            }
            SaCrypto::AesCbc {
                enc_key,
                integ,
                integ_key,
            } => vec![
                XfrmAttrs::EncryptionAlg(Alg {
                    alg_name: name_field(AES_CBC),
                    alg_key_len: bits(enc_key),
                    alg_key: enc_key.to_vec(),
                }),
                XfrmAttrs::AuthenticationAlgTrunc(AlgAuth {
                    alg_name: name_field(integ.kernel_name()),
                    alg_key_len: bits(integ_key),
                    alg_trunc_len: integ.sizes().1,
                    alg_key: integ_key.to_vec(),
                }),
            ],
        }
    }
}

fn aead(name: &str, key: &[u8], key_bits: u32, icv_bits: u32) -> XfrmAttrs {
    XfrmAttrs::EncryptionAlgAead(AlgAead {
        alg_name: name_field(name),
        alg_key_len: key_bits,
        alg_icv_len: icv_bits,
        alg_key: key.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_checked_and_debug_redacts() {
        let ok = SaCrypto::AesGcm {
            key: Zeroizing::new(vec![0xAB; 20]),
            icv_bits: 128,
        };
        assert!(ok.validate().is_ok());
        let dbg = format!("{ok:?}");
        assert!(
            !dbg.contains("171") && !dbg.to_lowercase().contains("ab, ab"),
            "{dbg}"
        );
        assert!(dbg.contains("redacted"));
        let short = SaCrypto::AesGcm {
            key: Zeroizing::new(vec![0; 16]),
            icv_bits: 128,
        };
        assert!(matches!(
            short.validate(),
            Err(SpecError::KeyLength { got: 16, .. })
        ));
        let icv = SaCrypto::AesGcm {
            key: Zeroizing::new(vec![0; 20]),
            icv_bits: 32,
        };
        assert!(matches!(
            icv.validate(),
            Err(SpecError::IcvLength { bits: 32, .. })
        ));
        let cbc = SaCrypto::AesCbc {
            enc_key: Zeroizing::new(vec![0; 16]),
            integ: Integ::HmacSha512_256,
            integ_key: Zeroizing::new(vec![0; 32]),
        };
        assert!(matches!(
            cbc.validate(),
            Err(SpecError::KeyLength { got: 32, .. })
        ));
    }

    #[test]
    fn aes_ccm_is_rfc4309_with_key_salt_and_icv() {
        for (len, icv) in [(19, 64), (27, 96), (35, 128)] {
            let c = SaCrypto::AesCcm {
                key: Zeroizing::new(vec![0xAB; len]),
                icv_bits: icv,
            };
            assert!(c.validate().is_ok(), "{len} {icv}");
            assert_eq!(c.kernel_name(), "rfc4309(ccm(aes))");
            assert!(c.is_aead());
            let attrs = c.attrs();
            let [XfrmAttrs::EncryptionAlgAead(a)] = attrs.as_slice() else {
                panic!("one AEAD attribute");
            };
            // The salt counts in alg_key_len, as iproute2 sends it.
            assert_eq!(a.alg_key_len, u32::try_from(len * 8).expect("bits"));
            assert_eq!(a.alg_icv_len, icv);
            assert!(!format!("{c:?}").contains("171"));
        }
        let gcm_len = SaCrypto::AesCcm {
            key: Zeroizing::new(vec![0; 20]),
            icv_bits: 128,
        };
        assert!(matches!(
            gcm_len.validate(),
            Err(SpecError::KeyLength { got: 20, .. })
        ));
    }

    /// RFC 2404: `hmac(sha1)` with a 20-byte key truncated to 96 bits, as
    /// strongSwan's kernel_netlink installs AUTH_HMAC_SHA1_96.
    #[test]
    fn hmac_sha1_96_is_truncated_to_96_bits() {
        let c = SaCrypto::AesCbc {
            enc_key: Zeroizing::new(vec![1; 16]),
            integ: Integ::HmacSha1_96,
            integ_key: Zeroizing::new(vec![2; 20]),
        };
        assert!(c.validate().is_ok());
        let attrs = c.attrs();
        let [_, XfrmAttrs::AuthenticationAlgTrunc(a)] = attrs.as_slice() else {
            panic!("cipher then truncated auth");
        };
        assert_eq!(&a.alg_name[..10], b"hmac(sha1)");
        assert_eq!(a.alg_name[10], 0);
        assert_eq!((a.alg_key_len, a.alg_trunc_len), (160, 96));
        let wrong = SaCrypto::AesCbc {
            enc_key: Zeroizing::new(vec![1; 16]),
            integ: Integ::HmacSha1_96,
            integ_key: Zeroizing::new(vec![2; 32]),
        };
        assert!(matches!(
            wrong.validate(),
            Err(SpecError::KeyLength { got: 32, .. })
        ));
    }
}
