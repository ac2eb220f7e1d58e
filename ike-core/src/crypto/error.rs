//! Crypto errors, grouped by cause.

use thiserror::Error;

use crate::wire::{EncrId, IntegId, KeId, PrfId};

/// A crypto operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The provider has no implementation of this algorithm; choose one of
    /// the algorithms listed in `crypto/mod.rs`.
    #[error("unsupported encryption algorithm {0:?} (key length {1:?} bits)")]
    UnsupportedEncr(EncrId, Option<u16>),
    /// See [`CryptoError::UnsupportedEncr`].
    #[error("unsupported PRF {0:?}")]
    UnsupportedPrf(PrfId),
    /// See [`CryptoError::UnsupportedEncr`].
    #[error("unsupported integrity algorithm {0:?}")]
    UnsupportedInteg(IntegId),
    /// See [`CryptoError::UnsupportedEncr`].
    #[error("unsupported key exchange method {0:?}")]
    UnsupportedKe(KeId),
    /// The peer's KE data is not a valid public value of its group
    /// (wrong length, out of range, not on the curve, or a low-order point
    /// giving an all-zero secret). The exchange must fail
    /// (INVALID_SYNTAX, RFC 7296 §2.21).
    #[error("invalid {group:?} public value from peer: {why}")]
    InvalidPublicValue {
        /// The group.
        group: KeId,
        /// What is wrong.
        why: &'static str,
    },
    /// A key or private value has the wrong length for its algorithm.
    #[error("{what}: key is {got} bytes, expected {want}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Length given.
        got: usize,
        /// Length required.
        want: usize,
    },
    /// The ICV did not verify: drop the message silently (RFC 7296 §2.21.2).
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// Ciphertext length or padding is impossible for the cipher.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// prf+ can produce at most 255 blocks (RFC 7296 §2.13).
    #[error("prf+ asked for {0} bytes, more than 255 PRF blocks")]
    PrfPlusTooLong(usize),
    /// The random source failed.
    #[error("random number generator failed")]
    Random,
}
