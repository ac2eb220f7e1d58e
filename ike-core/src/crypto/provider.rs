//! The swappable set of algorithms plus the random source (rustls
//! `CryptoProvider` style).

use core::fmt;
use std::sync::Arc;

use super::CryptoError;
use super::cipher::{
    AES_CBC, AES_CCM_8, AES_CCM_12, AES_CCM_16, AES_GCM_16, AUTH_HMAC_SHA1_96,
    AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256, CHACHA20_POLY1305,
    EncrAlgorithm, IntegAlgorithm,
};
use super::ke::{
    ECP_256, ECP_384, ECP_521, KeGroup, ML_KEM_512, ML_KEM_768, ML_KEM_1024, MODP_1024, MODP_2048,
    MODP_3072, MODP_4096, MODP_8192, X448, X25519,
};
use super::prf::{PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512, Prf};
use super::random::{OsRandom, SecureRandom, SeededRandom};
use crate::wire::{EncrId, IntegId, KeId, PrfId};

/// Every algorithm the engine may negotiate, and the random source.
///
/// The legacy ones (HMAC-SHA1, MODP-1024) are here so a connection that
/// lists them can use them; the engine only selects what a connection's
/// proposals list, and configurations list them only behind `legacy`.
///
/// Build one with [`CryptoProvider::rust_crypto`] (OS randomness) or
/// [`CryptoProvider::seeded`] (deterministic, for tests); remove entries
/// from the lists to restrict what is offered, or push other
/// implementations of the traits to add or replace algorithms.
#[derive(Clone)]
pub struct CryptoProvider {
    /// Key exchange methods.
    pub ke_groups: Vec<&'static dyn KeGroup>,
    /// PRFs.
    pub prfs: Vec<&'static dyn Prf>,
    /// Encryption algorithms.
    pub encrs: Vec<&'static dyn EncrAlgorithm>,
    /// Integrity algorithms.
    pub integs: Vec<&'static dyn IntegAlgorithm>,
    /// Random source for SPIs, nonces, private keys and CBC IVs.
    pub random: Arc<dyn SecureRandom>,
}

impl CryptoProvider {
    /// The pure-Rust RustCrypto implementations with the OS generator.
    pub fn rust_crypto() -> Self {
        Self::with_random(Arc::new(OsRandom))
    }

    /// Like [`CryptoProvider::rust_crypto`] but with a deterministic
    /// generator: for tests and simulations only.
    pub fn seeded(seed: u64) -> Self {
        Self::with_random(Arc::new(SeededRandom::new(seed)))
    }

    /// All built-in algorithms with the given random source.
    pub fn with_random(random: Arc<dyn SecureRandom>) -> Self {
        Self {
            ke_groups: vec![
                &X25519,
                &X448,
                &ECP_256,
                &ECP_384,
                &ECP_521,
                &MODP_2048,
                &MODP_3072,
                &MODP_4096,
                &MODP_8192,
                &MODP_1024,
                &ML_KEM_512,
                &ML_KEM_768,
                &ML_KEM_1024,
            ],
            prfs: vec![
                &PRF_HMAC_SHA2_256,
                &PRF_HMAC_SHA2_384,
                &PRF_HMAC_SHA2_512,
                &PRF_HMAC_SHA1,
            ],
            encrs: vec![
                &AES_GCM_16,
                &AES_CCM_16,
                &AES_CCM_12,
                &AES_CCM_8,
                &AES_CBC,
                &CHACHA20_POLY1305,
            ],
            integs: vec![
                &AUTH_HMAC_SHA2_256_128,
                &AUTH_HMAC_SHA2_384_192,
                &AUTH_HMAC_SHA2_512_256,
                &AUTH_HMAC_SHA1_96,
            ],
            random,
        }
    }

    /// The key exchange method `id`.
    pub fn ke(&self, id: KeId) -> Result<&'static dyn KeGroup, CryptoError> {
        self.ke_groups
            .iter()
            .copied()
            .find(|g| g.id() == id)
            .ok_or(CryptoError::UnsupportedKe(id))
    }

    /// The PRF `id`.
    pub fn prf(&self, id: PrfId) -> Result<&'static dyn Prf, CryptoError> {
        self.prfs
            .iter()
            .copied()
            .find(|p| p.id() == id)
            .ok_or(CryptoError::UnsupportedPrf(id))
    }

    /// The encryption algorithm `id`.
    pub fn encr(&self, id: EncrId) -> Result<&'static dyn EncrAlgorithm, CryptoError> {
        self.encrs
            .iter()
            .copied()
            .find(|e| e.id() == id)
            .ok_or(CryptoError::UnsupportedEncr(id, None))
    }

    /// The integrity algorithm `id`.
    pub fn integ(&self, id: IntegId) -> Result<&'static dyn IntegAlgorithm, CryptoError> {
        self.integs
            .iter()
            .copied()
            .find(|i| i.id() == id)
            .ok_or(CryptoError::UnsupportedInteg(id))
    }

    /// Fills `buf` from the random source.
    pub fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.random.fill(buf)
    }

    /// A random non-zero 8-byte IKE SPI.
    pub fn random_ike_spi(&self) -> Result<u64, CryptoError> {
        loop {
            let mut b = [0u8; 8];
            self.random.fill(&mut b)?;
            let v = u64::from_be_bytes(b);
            if v != 0 {
                return Ok(v);
            }
        }
    }

    /// A random nonce of `len` bytes (RFC 7296 §2.10).
    pub fn random_nonce(&self, len: usize) -> Result<Vec<u8>, CryptoError> {
        let mut v = vec![0u8; len];
        self.random.fill(&mut v)?;
        Ok(v)
    }
}

impl Default for CryptoProvider {
    fn default() -> Self {
        Self::rust_crypto()
    }
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoProvider")
            .field("ke_groups", &self.ke_groups)
            .field("prfs", &self.prfs)
            .field("encrs", &self.encrs)
            .field("integs", &self.integs)
            .field("random", &self.random)
            .finish()
    }
}
