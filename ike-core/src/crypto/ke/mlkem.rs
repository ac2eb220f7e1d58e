//! ML-KEM-512/768/1024 (FIPS 203) as key exchange methods 35/36/37
//! (RFC 9370 §2.2, draft-ietf-ipsecme-ikev2-mlkem §2).
//!
//! The initiator's KE carries the encapsulation key, the responder's the
//! ciphertext; the shared secret is the 32-byte ML-KEM shared key. The
//! responder never has a key pair of its own, so it answers through
//! [`KeGroup::respond`]. RustCrypto's `ml-kem` is the pure-Rust FIPS 203
//! implementation of the same project as the rest of this module's
//! algorithms; its deterministic entry points take randomness from the
//! provider's [`SecureRandom`], which keeps tests reproducible.

use ml_kem::{Decapsulate, Key, KeyExport, Seed};
use zeroize::Zeroizing;

use super::{ActiveKe, KeGroup, check_len};
use crate::crypto::{CryptoError, SecretBytes, SecureRandom};
use crate::wire::KeId;

macro_rules! ml_kem_group {
    ($doc:literal, $group:ident, $static:ident, $active:ident, $m:ident, $id:ident, $ek:literal, $ct:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $group;

        #[doc = $doc]
        pub static $static: $group = $group;

        /// The initiator's decapsulation key (zeroized on drop by `ml-kem`).
        struct $active {
            dk: ml_kem::$m::DecapsulationKey,
            public: Vec<u8>,
        }

        impl KeGroup for $group {
            fn id(&self) -> KeId {
                KeId::$id
            }

            fn public_len(&self) -> usize {
                $ek
            }

            fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
                let mut seed = Zeroizing::new([0u8; 64]);
                rng.fill(seed.as_mut())?;
                self.import_private(seed.as_ref())
            }

            /// `private` is the 64-byte seed d || z (FIPS 203 §7.1).
            fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
                let seed = Seed::try_from(private).map_err(|_| CryptoError::KeyLength {
                    what: "ML-KEM seed (d || z)",
                    got: private.len(),
                    want: 64,
                })?;
                let dk = ml_kem::$m::DecapsulationKey::from_seed(seed);
                let public = dk.encapsulation_key().to_bytes().to_vec();
                Ok(Box::new($active { dk, public }))
            }

            /// ML-KEM.Encaps (FIPS 203 §7.2) to the peer's encapsulation
            /// key, which must pass the modulus check.
            fn respond(
                &self,
                rng: &dyn SecureRandom,
                peer: &[u8],
            ) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
                check_len(KeId::$id, peer, $ek)?;
                let key = Key::<ml_kem::$m::EncapsulationKey>::try_from(peer).map_err(|_| {
                    CryptoError::InvalidPublicValue {
                        group: KeId::$id,
                        why: "wrong length",
                    }
                })?;
                let ek = ml_kem::$m::EncapsulationKey::new(&key).map_err(|_| {
                    CryptoError::InvalidPublicValue {
                        group: KeId::$id,
                        why: "encapsulation key fails the modulus check",
                    }
                })?;
                let mut m = Zeroizing::new([0u8; 32]);
                rng.fill(m.as_mut())?;
                let (ct, k) = ek.encapsulate_deterministic(&(*m).into());
                Ok((ct.to_vec(), SecretBytes::from_slice(&k)))
            }
        }

        impl ActiveKe for $active {
            fn group(&self) -> KeId {
                KeId::$id
            }

            fn public(&self) -> &[u8] {
                &self.public
            }

            /// ML-KEM.Decaps (FIPS 203 §7.3) of the responder's ciphertext.
            fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
                check_len(KeId::$id, peer, $ct)?;
                let ct = ml_kem::$m::Ciphertext::try_from(peer).map_err(|_| {
                    CryptoError::InvalidPublicValue {
                        group: KeId::$id,
                        why: "wrong length",
                    }
                })?;
                let k = self.dk.decapsulate(&ct);
                Ok(SecretBytes::from_slice(&k))
            }
        }
    };
}

ml_kem_group!(
    "ML-KEM-512, method 35.",
    MlKem512Group,
    ML_KEM_512,
    Active512,
    ml_kem_512,
    ML_KEM_512,
    800,
    768
);
ml_kem_group!(
    "ML-KEM-768, method 36.",
    MlKem768Group,
    ML_KEM_768,
    Active768,
    ml_kem_768,
    ML_KEM_768,
    1184,
    1088
);
ml_kem_group!(
    "ML-KEM-1024, method 37.",
    MlKem1024Group,
    ML_KEM_1024,
    Active1024,
    ml_kem_1024,
    ML_KEM_1024,
    1568,
    1568
);
