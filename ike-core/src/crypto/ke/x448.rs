//! Curve448 key exchange, group 32 (RFC 8031, RFC 7748 §5).

use zeroize::Zeroizing;

use super::{ActiveKe, KeGroup, check_len};
use crate::crypto::{CryptoError, SecretBytes, SecureRandom};
use crate::wire::KeId;

/// Group 32.
#[derive(Debug, Clone, Copy)]
pub struct X448Group;

/// Group 32.
pub static X448: X448Group = X448Group;

struct Active {
    /// The private scalar; `x448` clamps it (RFC 7748 §5).
    secret: Zeroizing<[u8; 56]>,
    public: [u8; 56],
}

impl KeGroup for X448Group {
    fn id(&self) -> KeId {
        KeId::CURVE448
    }

    fn public_len(&self) -> usize {
        56
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let mut k = Zeroizing::new([0u8; 56]);
        rng.fill(k.as_mut())?;
        self.import_private(k.as_ref())
    }

    fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let k: [u8; 56] = private.try_into().map_err(|_| CryptoError::KeyLength {
            what: "X448 private key",
            got: private.len(),
            want: 56,
        })?;
        let secret = Zeroizing::new(k);
        let public = x448::x448(*secret, x448::X448_BASEPOINT_BYTES).ok_or(
            CryptoError::InvalidPublicValue {
                group: KeId::CURVE448,
                why: "base point rejected",
            },
        )?;
        Ok(Box::new(Active { secret, public }))
    }
}

impl ActiveKe for Active {
    fn group(&self) -> KeId {
        KeId::CURVE448
    }

    fn public(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        check_len(KeId::CURVE448, peer, 56)?;
        let mut p = [0u8; 56];
        p.copy_from_slice(peer);
        // RFC 8031 §2.3: a low-order point (all-zero result) must be rejected.
        let shared = x448::x448(*self.secret, p).ok_or(CryptoError::InvalidPublicValue {
            group: KeId::CURVE448,
            why: "low-order point (all-zero shared secret)",
        })?;
        let shared = Zeroizing::new(shared);
        if shared.iter().all(|b| *b == 0) {
            return Err(CryptoError::InvalidPublicValue {
                group: KeId::CURVE448,
                why: "low-order point (all-zero shared secret)",
            });
        }
        Ok(SecretBytes::from_slice(shared.as_ref()))
    }
}
