//! A cheap stand-in for X25519 (group 31) for the `sequence` harness, whose
//! inputs draw a different private key for almost every rekey, so memoizing
//! ([`super::ke`]) rarely hits there.
//!
//! The KE payload keeps its wire form and checks: 32-byte public values, a
//! wrong length or an all-zero value (the low-order case of RFC 8031 §2.3)
//! refused. The public value is SHA-256 of the private key and the shared
//! secret SHA-256 of both public values in order, so both sides agree
//! without any curve arithmetic. Not a key exchange: fuzzing only.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::ke::X25519;
use crate::crypto::{ActiveKe, CryptoError, CryptoProvider, KeGroup, SecretBytes, SecureRandom};
use crate::wire::KeId;

/// Group 31's wire form without its arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct CheapX25519;

/// Group 31, cheap.
pub static CHEAP_X25519: CheapX25519 = CheapX25519;

/// `seeded` with X25519 replaced by [`CHEAP_X25519`].
pub fn provider(seed: u64) -> CryptoProvider {
    let mut p = CryptoProvider::seeded(seed);
    for g in &mut p.ke_groups {
        if g.id() == KeId::CURVE25519 {
            *g = &CHEAP_X25519;
        }
    }
    p
}

struct Active {
    public: [u8; 32],
}

fn refuse(why: &'static str) -> CryptoError {
    CryptoError::InvalidPublicValue {
        group: KeId::CURVE25519,
        why,
    }
}

impl KeGroup for CheapX25519 {
    fn id(&self) -> KeId {
        KeId::CURVE25519
    }

    fn public_len(&self) -> usize {
        32
    }

    /// Draws the 32 bytes [`X25519`] draws.
    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill(k.as_mut())?;
        self.import_private(k.as_ref())
    }

    fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
        if private.len() != 32 {
            return X25519.import_private(private);
        }
        Ok(Box::new(Active {
            public: Sha256::digest(private).into(),
        }))
    }
}

impl ActiveKe for Active {
    fn group(&self) -> KeId {
        KeId::CURVE25519
    }

    fn public(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != 32 {
            return Err(refuse("wrong length"));
        }
        if peer.iter().all(|&b| b == 0) {
            return Err(refuse("low-order point (all-zero shared secret)"));
        }
        let (lo, hi) = if self.public.as_slice() <= peer {
            (self.public.as_slice(), peer)
        } else {
            (peer, self.public.as_slice())
        };
        let mut h = Sha256::new();
        h.update(lo);
        h.update(hi);
        Ok(SecretBytes::from_slice(&h.finalize()))
    }
}
