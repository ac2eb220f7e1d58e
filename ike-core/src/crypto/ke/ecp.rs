//! NIST prime-curve groups 19 (P-256), 20 (P-384) and 21 (P-521) with the RFC 5903 §7
//! encoding: the KE data is x ‖ y without a point-format byte, and g^ir is
//! the x coordinate of the shared point.

use super::{ActiveKe, KeGroup, check_len};
use crate::crypto::{CryptoError, SecretBytes, SecureRandom};
use crate::wire::KeId;

macro_rules! ecp_group {
    ($name:ident, $static:ident, $krate:ident, $m:ident, $id:expr, $flen:expr, $top:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        #[doc = $doc]
        pub static $static: $name = $name;

        mod $m {
            use zeroize::Zeroizing;
            use $krate::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
            use $krate::{AffinePoint, EncodedPoint, FieldBytes, NonZeroScalar, PublicKey};

            use super::*;

            pub(super) struct Active {
                secret: NonZeroScalar,
                public: Vec<u8>,
            }

            impl Drop for Active {
                fn drop(&mut self) {
                    use zeroize::Zeroize;
                    self.secret.zeroize();
                }
            }

            pub(super) fn import_private(private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
                if private.len() != $flen {
                    return Err(CryptoError::KeyLength {
                        what: concat!(stringify!($krate), " private scalar"),
                        got: private.len(),
                        want: $flen,
                    });
                }
                let fb = FieldBytes::clone_from_slice(private);
                let secret = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(fb)).ok_or(
                    CryptoError::KeyLength {
                        what: concat!(stringify!($krate), " private scalar out of range"),
                        got: private.len(),
                        want: $flen,
                    },
                )?;
                let pk = PublicKey::from_secret_scalar(&secret);
                let enc = pk.to_encoded_point(false);
                // Drop the 0x04 point-format byte (RFC 5903 §7).
                let public = enc.as_bytes().get(1..).unwrap_or_default().to_vec();
                Ok(Box::new(Active { secret, public }))
            }

            pub(super) fn start(rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
                // Rejection sampling: retry the (negligibly rare) zero or
                // out-of-range scalar.
                for _ in 0..64 {
                    let mut k = Zeroizing::new([0u8; $flen]);
                    rng.fill(k.as_mut())?;
                    // Only the order's bits (P-521: 1 bit in the top byte).
                    k[0] &= $top;
                    if let Ok(a) = import_private(k.as_ref()) {
                        return Ok(a);
                    }
                }
                Err(CryptoError::Random)
            }

            impl ActiveKe for Active {
                fn group(&self) -> KeId {
                    $id
                }

                fn public(&self) -> &[u8] {
                    &self.public
                }

                fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
                    check_len($id, peer, 2 * $flen)?;
                    let (x, y) = peer.split_at($flen);
                    let ep = EncodedPoint::from_affine_coordinates(
                        FieldBytes::from_slice(x),
                        FieldBytes::from_slice(y),
                        false,
                    );
                    // Rejects coordinates >= p and points not on the curve.
                    let point = Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&ep))
                        .ok_or(CryptoError::InvalidPublicValue {
                        group: $id,
                        why: "point not on the curve",
                    })?;
                    let pk = PublicKey::from_affine(point).map_err(|_| {
                        CryptoError::InvalidPublicValue {
                            group: $id,
                            why: "point at infinity",
                        }
                    })?;
                    let shared = $krate::ecdh::diffie_hellman(&self.secret, pk.as_affine());
                    Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
                }
            }
        }

        impl KeGroup for $name {
            fn id(&self) -> KeId {
                $id
            }

            fn public_len(&self) -> usize {
                2 * $flen
            }

            fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
                $m::start(rng)
            }

            fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
                $m::import_private(private)
            }
        }
    };
}

ecp_group!(
    Ecp256,
    ECP_256,
    p256,
    imp256,
    KeId::ECP_256,
    32,
    0xff,
    "Group 19, 256-bit random ECP (RFC 5903)."
);
ecp_group!(
    Ecp384,
    ECP_384,
    p384,
    imp384,
    KeId::ECP_384,
    48,
    0xff,
    "Group 20, 384-bit random ECP (RFC 5903)."
);
ecp_group!(
    Ecp521,
    ECP_521,
    p521,
    imp521,
    KeId::ECP_521,
    66,
    0x01,
    "Group 21, 521-bit random ECP (RFC 5903)."
);
