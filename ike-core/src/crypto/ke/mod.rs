//! Key exchange methods (RFC 7296 §2.7, RFC 2409 §6.2, RFC 3526, RFC 5903, RFC 8031,
//! FIPS 203 via RFC 9370).

mod ecp;
mod mlkem;
mod modp;
mod x25519;
mod x448;

use core::fmt;

pub use ecp::{ECP_256, ECP_384, ECP_521, Ecp256, Ecp384, Ecp521};
pub use mlkem::{
    ML_KEM_512, ML_KEM_768, ML_KEM_1024, MlKem512Group, MlKem768Group, MlKem1024Group,
};
pub use modp::{
    MODP_1024, MODP_2048, MODP_3072, MODP_4096, MODP_8192, Modp1024, Modp2048, Modp3072, Modp4096,
    Modp8192,
};
pub use x448::{X448, X448Group};
pub use x25519::{X25519, X25519Group};

use super::{CryptoError, SecretBytes, SecureRandom};
use crate::wire::KeId;

/// A key exchange method (DH group).
pub trait KeGroup: Send + Sync + fmt::Debug {
    /// Its transform ID.
    fn id(&self) -> KeId;
    /// Length of the public value in the KE payload.
    fn public_len(&self) -> usize;
    /// Generates a fresh key pair.
    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError>;
    /// A key pair from a given private value (known-answer tests). The
    /// encoding is the group's natural one: a 32-byte X25519 scalar, a
    /// big-endian ECP scalar, or a big-endian MODP exponent.
    fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError>;
    /// The responder's side in one step: our KE data and the shared secret
    /// for the peer's. A Diffie-Hellman group makes a fresh key pair; a KEM
    /// (FIPS 203) encapsulates to the peer's key (RFC 9370 §2.2).
    fn respond(
        &self,
        rng: &dyn SecureRandom,
        peer: &[u8],
    ) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let ours = self.start(rng)?;
        let secret = ours.complete(peer)?;
        Ok((ours.public().to_vec(), secret))
    }
}

/// One side's key pair, waiting for the peer's public value.
pub trait ActiveKe: Send + Sync {
    /// The group.
    fn group(&self) -> KeId;
    /// The public value to send in KE.
    fn public(&self) -> &[u8];
    /// Validates the peer's public value and computes g^ir in the IKE
    /// encoding (RFC 7296 §2.14, RFC 5903 §7: x coordinate; MODP padded to
    /// the modulus length).
    fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError>;
}

impl fmt::Debug for dyn ActiveKe + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActiveKe({:?}, <private redacted>)", self.group())
    }
}

/// Checks the peer's public value length.
fn check_len(group: KeId, peer: &[u8], want: usize) -> Result<(), CryptoError> {
    if peer.len() == want {
        Ok(())
    } else {
        Err(CryptoError::InvalidPublicValue {
            group,
            why: "wrong length",
        })
    }
}
