//! Random sources: the OS generator and a seedable one for tests.

use core::fmt;
use std::sync::Mutex;

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};

use super::CryptoError;

/// A cryptographically secure random source (rustls `SecureRandom` style).
pub trait SecureRandom: Send + Sync + fmt::Debug {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's generator (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        OsRng.try_fill_bytes(dest).map_err(|_| CryptoError::Random)
    }
}

/// A deterministic ChaCha20 generator from a 64-bit seed.
///
/// For tests and reproducible simulations only: two providers built from
/// the same seed produce the same keys.
pub struct SeededRandom(Mutex<ChaCha20Rng>);

impl SeededRandom {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(ChaCha20Rng::seed_from_u64(seed)))
    }
}

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededRandom")
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let mut g = self.0.lock().map_err(|_| CryptoError::Random)?;
        g.fill_bytes(dest);
        Ok(())
    }
}
