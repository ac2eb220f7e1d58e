//! Private and public keys: PEM or DER, PKCS#8 (RFC 5208/5958), PKCS#1 for
//! RSA (RFC 8017 appendix A.1.2) and SEC1 for EC (RFC 5915); signing and
//! verification for the schemes of [`SigScheme`].

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use pkcs8::DecodePrivateKey;
use signature::{Signer, Verifier};
use spki::{DecodePublicKey, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use super::CertError;
use super::sig::{HashAlgorithm, SigScheme};

const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

/// A signing key. Every variant zeroizes its secret on drop (the RustCrypto
/// key types implement `ZeroizeOnDrop`); `Debug` shows only the type.
pub enum PrivateKey {
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// ECDSA on P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA on P-384.
    P384(p384::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.public().kind())
    }
}

/// A verification key, from a certificate's SubjectPublicKeyInfo.
#[derive(Clone, Debug)]
pub enum PublicKey {
    /// RSA.
    Rsa(rsa::RsaPublicKey),
    /// ECDSA on P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Decodes PEM (by its label) or DER bytes; the DER buffer zeroizes on drop.
fn pem_or_der(bytes: &[u8]) -> Result<(Option<String>, Zeroizing<Vec<u8>>), CertError> {
    let text = bytes.trim_ascii_start();
    if !text.starts_with(b"-----BEGIN") {
        return Ok((None, Zeroizing::new(bytes.to_vec())));
    }
    let (label, der) =
        der::pem::decode_vec(text).map_err(|e| CertError::parse("PEM private key", e))?;
    Ok((Some(label.to_owned()), Zeroizing::new(der)))
}

impl PrivateKey {
    /// Loads a key from PEM or DER: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CertError> {
        let (label, der) = pem_or_der(bytes)?;
        match label.as_deref() {
            Some("PRIVATE KEY") => Self::from_pkcs8(&der),
            Some("RSA PRIVATE KEY") => Self::from_pkcs1(&der),
            Some("EC PRIVATE KEY") => Self::from_sec1(&der),
            Some("ENCRYPTED PRIVATE KEY") => Err(CertError::Unsupported(
                "encrypted private key: store it unencrypted (openssl pkey -in K -out K2) with mode 0600".into(),
            )),
            Some(l) => Err(CertError::parse("private key", format!("PEM label {l}"))),
            None => Self::from_pkcs8(&der)
                .or_else(|_| Self::from_pkcs1(&der))
                .or_else(|_| Self::from_sec1(&der)),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, CertError> {
        let err = |e: pkcs8::Error| CertError::parse("PKCS#8 private key", e);
        let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| err(e.into()))?;
        let curve = info.algorithm.parameters_oid().ok();
        Ok(match (info.algorithm.oid, curve) {
            (RSA, _) => Self::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(err)?,
            )),
            (EC, Some(P256)) => {
                Self::P256(p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(err)?)
            }
            (EC, Some(P384)) => {
                Self::P384(p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(err)?)
            }
            (ED25519, _) => {
                Self::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(err)?)
            }
            (o, c) => {
                return Err(CertError::Unsupported(format!(
                    "private key type {o} {c:?}"
                )));
            }
        })
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, CertError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let k = rsa::RsaPrivateKey::from_pkcs1_der(der)
            .map_err(|e| CertError::parse("PKCS#1 RSA private key", e))?;
        Ok(Self::Rsa(Box::new(k)))
    }

    fn from_sec1(der: &[u8]) -> Result<Self, CertError> {
        let err = |e: sec1::Error| CertError::parse("SEC1 EC private key", e);
        let k = sec1::EcPrivateKey::from_der(der).map_err(|e| err(e.into()))?;
        // The curve is optional in SEC1 (RFC 5915 §3); the key length tells then.
        let curve = k
            .parameters
            .and_then(|p| p.named_curve())
            .or(match k.private_key.len() {
                32 => Some(P256),
                48 => Some(P384),
                _ => None,
            });
        Ok(match curve {
            Some(P256) => Self::P256(
                p256::SecretKey::from_sec1_der(der)
                    .map_err(|_| err(sec1::Error::Crypto))?
                    .into(),
            ),
            Some(P384) => Self::P384(
                p384::SecretKey::from_sec1_der(der)
                    .map_err(|_| err(sec1::Error::Crypto))?
                    .into(),
            ),
            c => return Err(CertError::Unsupported(format!("EC curve {c:?}"))),
        })
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        match self {
            Self::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            Self::P256(k) => PublicKey::P256(*k.verifying_key()),
            Self::P384(k) => PublicKey::P384(*k.verifying_key()),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The scheme for RFC 7427 AUTH given the peer's hash algorithms
    /// (RFC 7427 §4), or `None` if none fits this key. An RSA key signs with
    /// RSASSA-PSS when `rsa_pss` (RFC 8247 §3.2 recommends it), else with
    /// PKCS#1 v1.5, as strongSwan does with and without `rsa/pss`:
    /// SIGNATURE_HASH_ALGORITHMS names hashes only, not the padding.
    pub fn scheme_for(&self, peer: &[HashAlgorithm], rsa_pss: bool) -> Option<SigScheme> {
        let has = |h| peer.contains(&h);
        match self {
            Self::Rsa(_) => [
                (HashAlgorithm::SHA2_256, SigScheme::RsaPkcs1Sha256),
                (HashAlgorithm::SHA2_384, SigScheme::RsaPkcs1Sha384),
                (HashAlgorithm::SHA2_512, SigScheme::RsaPkcs1Sha512),
            ]
            .into_iter()
            .find(|(h, _)| has(*h))
            .map(|(h, s)| if rsa_pss { SigScheme::RsaPss(h) } else { s }),
            Self::P256(_) => has(HashAlgorithm::SHA2_256).then_some(SigScheme::EcdsaSha256),
            Self::P384(_) => has(HashAlgorithm::SHA2_384).then_some(SigScheme::EcdsaSha384),
            Self::Ed25519(_) => has(HashAlgorithm::IDENTITY).then_some(SigScheme::Ed25519),
        }
    }

    /// The classic AUTH method for this key when the peer did not send
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7296 §3.8, RFC 4754).
    pub fn classic(&self) -> Option<(crate::wire::AuthMethod, SigScheme)> {
        use crate::wire::AuthMethod as M;
        match self {
            Self::Rsa(_) => Some((M::RSA_SIG, SigScheme::RsaPkcs1Sha1)),
            Self::P256(_) => Some((M::ECDSA_SHA256_P256, SigScheme::EcdsaSha256)),
            Self::P384(_) => Some((M::ECDSA_SHA384_P384, SigScheme::EcdsaSha384)),
            Self::Ed25519(_) => None,
        }
    }

    /// Signs `msg`; ECDSA signatures are DER unless `raw` (r‖s, RFC 4754 §7).
    pub fn sign(&self, scheme: SigScheme, msg: &[u8], raw: bool) -> Result<Vec<u8>, CertError> {
        use rsa::pkcs1v15::SigningKey as Pk;
        use signature::SignatureEncoding;
        let bad =
            || CertError::Unsupported(format!("{scheme:?} with a {} key", self.public().kind()));
        Ok(match (self, scheme) {
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha1) => {
                Pk::<sha1::Sha1>::new((**k).clone()).sign(msg).to_vec()
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha256) => {
                Pk::<sha2::Sha256>::new((**k).clone()).sign(msg).to_vec()
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha384) => {
                Pk::<sha2::Sha384>::new((**k).clone()).sign(msg).to_vec()
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha512) => {
                Pk::<sha2::Sha512>::new((**k).clone()).sign(msg).to_vec()
            }
            (Self::Rsa(k), SigScheme::RsaPss(h)) => sign_pss(k, h, msg)?,
            (Self::P256(k), SigScheme::EcdsaSha256) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                if raw { s.to_vec() } else { s.to_der().to_vec() }
            }
            (Self::P384(k), SigScheme::EcdsaSha384) => {
                let s: p384::ecdsa::Signature = k.sign(msg);
                if raw { s.to_vec() } else { s.to_der().to_vec() }
            }
            (Self::Ed25519(k), SigScheme::Ed25519) => k.sign(msg).to_vec(),
            _ => return Err(bad()),
        })
    }
}

impl PublicKey {
    /// From a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, CertError> {
        let der = spki
            .to_der()
            .map_err(|e| CertError::parse("public key", e))?;
        let err = |e: spki::Error| CertError::parse("public key", e);
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<Oid>().ok());
        Ok(match (spki.algorithm.oid, curve) {
            (RSA, _) => Self::Rsa(rsa::RsaPublicKey::from_public_key_der(&der).map_err(err)?),
            (EC, Some(P256)) => {
                Self::P256(p256::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(err)?)
            }
            (EC, Some(P384)) => {
                Self::P384(p384::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(err)?)
            }
            (ED25519, _) => {
                Self::Ed25519(ed25519_dalek::VerifyingKey::from_public_key_der(&der).map_err(err)?)
            }
            (o, c) => return Err(CertError::Unsupported(format!("public key type {o} {c:?}"))),
        })
    }

    /// A short name of the key type for logs.
    pub fn kind(&self) -> String {
        match self {
            Self::Rsa(k) => format!("RSA-{}", rsa::traits::PublicKeyParts::size(k) * 8),
            Self::P256(_) => "ECDSA P-256".into(),
            Self::P384(_) => "ECDSA P-384".into(),
            Self::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// Whether both keys are the same.
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Rsa(a), Self::Rsa(b)) => a == b,
            (Self::P256(a), Self::P256(b)) => a == b,
            (Self::P384(a), Self::P384(b)) => a == b,
            (Self::Ed25519(a), Self::Ed25519(b)) => a == b,
            _ => false,
        }
    }

    /// Verifies `sig` over `msg`; ECDSA `sig` is DER unless `raw` (r‖s).
    pub fn verify(&self, scheme: SigScheme, msg: &[u8], sig: &[u8], raw: bool) -> bool {
        use rsa::pkcs1v15::{Signature as PkSig, VerifyingKey as Pk};
        use rsa::pss::{Signature as PssSig, VerifyingKey as Pss};
        let pk = PkSig::try_from(sig);
        let pss = PssSig::try_from(sig);
        match (self, scheme) {
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha1) => {
                pk.is_ok_and(|s| Pk::<sha1::Sha1>::new(k.clone()).verify(msg, &s).is_ok())
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha256) => {
                pk.is_ok_and(|s| Pk::<sha2::Sha256>::new(k.clone()).verify(msg, &s).is_ok())
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha384) => {
                pk.is_ok_and(|s| Pk::<sha2::Sha384>::new(k.clone()).verify(msg, &s).is_ok())
            }
            (Self::Rsa(k), SigScheme::RsaPkcs1Sha512) => {
                pk.is_ok_and(|s| Pk::<sha2::Sha512>::new(k.clone()).verify(msg, &s).is_ok())
            }
            (Self::Rsa(k), SigScheme::RsaPss(h)) => pss.is_ok_and(|s| match h {
                HashAlgorithm::SHA2_256 => {
                    Pss::<sha2::Sha256>::new(k.clone()).verify(msg, &s).is_ok()
                }
                HashAlgorithm::SHA2_384 => {
                    Pss::<sha2::Sha384>::new(k.clone()).verify(msg, &s).is_ok()
                }
                HashAlgorithm::SHA2_512 => {
                    Pss::<sha2::Sha512>::new(k.clone()).verify(msg, &s).is_ok()
                }
                _ => false,
            }),
            (Self::P256(k), SigScheme::EcdsaSha256) => {
                ecdsa_p256(sig, raw).is_some_and(|s| k.verify(msg, &s).is_ok())
            }
            (Self::P384(k), SigScheme::EcdsaSha384) => {
                ecdsa_p384(sig, raw).is_some_and(|s| k.verify(msg, &s).is_ok())
            }
            (Self::P384(k), SigScheme::EcdsaSha256) => ecdsa_p384(sig, raw).is_some_and(|s| {
                use signature::hazmat::PrehashVerifier;
                k.verify_prehash(&<sha2::Sha256 as sha2::Digest>::digest(msg), &s)
                    .is_ok()
            }),
            (Self::Ed25519(k), SigScheme::Ed25519) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
            _ => false,
        }
    }
}

/// RSASSA-PSS (RFC 8017 §8.1) with MGF1 of the same hash and a salt as long
/// as the hash, the parameters RFC 7427 §3 AlgorithmIdentifiers carry here.
/// The salt comes from the OS, like the engine's default random source.
fn sign_pss(k: &rsa::RsaPrivateKey, h: HashAlgorithm, msg: &[u8]) -> Result<Vec<u8>, CertError> {
    use rsa::pss::SigningKey as Pss;
    use signature::{RandomizedSigner, SignatureEncoding};
    let rng = &mut rand_core::OsRng;
    let k = k.clone();
    let sig = match h {
        HashAlgorithm::SHA2_256 => Pss::<sha2::Sha256>::new(k).try_sign_with_rng(rng, msg),
        HashAlgorithm::SHA2_384 => Pss::<sha2::Sha384>::new(k).try_sign_with_rng(rng, msg),
        HashAlgorithm::SHA2_512 => Pss::<sha2::Sha512>::new(k).try_sign_with_rng(rng, msg),
        _ => {
            return Err(CertError::Unsupported(format!(
                "RSASSA-PSS with hash {}",
                h.0
            )));
        }
    };
    sig.map(|s| s.to_vec())
        .map_err(|e| CertError::Unsupported(format!("RSASSA-PSS signing: {e}")))
}

macro_rules! ecdsa_sig {
    ($name:ident, $curve:ty) => {
        fn $name(sig: &[u8], raw: bool) -> Option<ecdsa::Signature<$curve>> {
            if raw {
                ecdsa::Signature::from_slice(sig).ok()
            } else {
                ecdsa::Signature::from_der(sig).ok()
            }
        }
    };
}
ecdsa_sig!(ecdsa_p256, p256::NistP256);
ecdsa_sig!(ecdsa_p384, p384::NistP384);
