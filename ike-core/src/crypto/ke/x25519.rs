//! Curve25519 key exchange, group 31 (RFC 8031, RFC 7748).

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{ActiveKe, KeGroup, check_len};
use crate::crypto::{CryptoError, SecretBytes, SecureRandom};
use crate::wire::KeId;

/// Group 31.
#[derive(Debug, Clone, Copy)]
pub struct X25519Group;

/// Group 31.
pub static X25519: X25519Group = X25519Group;

struct Active {
    secret: StaticSecret,
    public: [u8; 32],
}

impl KeGroup for X25519Group {
    fn id(&self) -> KeId {
        KeId::CURVE25519
    }

    fn public_len(&self) -> usize {
        32
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill(k.as_mut())?;
        self.import_private(k.as_ref())
    }

    fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let k: [u8; 32] = private.try_into().map_err(|_| CryptoError::KeyLength {
            what: "X25519 private key",
            got: private.len(),
            want: 32,
        })?;
        // StaticSecret clamps the scalar (RFC 7748 §5) and zeroizes on drop.
        let secret = StaticSecret::from(k);
        let public = PublicKey::from(&secret).to_bytes();
        Ok(Box::new(Active { secret, public }))
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
        check_len(KeId::CURVE25519, peer, 32)?;
        let mut p = [0u8; 32];
        p.copy_from_slice(peer);
        let shared = self.secret.diffie_hellman(&PublicKey::from(p));
        // RFC 8031 §2.3: an all-zero result (low-order point) must be rejected.
        if !shared.was_contributory() {
            return Err(CryptoError::InvalidPublicValue {
                group: KeId::CURVE25519,
                why: "low-order point (all-zero shared secret)",
            });
        }
        Ok(SecretBytes::from_slice(shared.as_bytes()))
    }
}
