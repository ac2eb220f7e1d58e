//! Signature schemes for AUTH payloads (RFC 7427 §3, RFC 7296 §3.8, RFC 4754)
//! and the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4).

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

use super::CertError;
use crate::wire::AuthMethod;

/// IKEv2 Hash Algorithms (RFC 7427 §7, RFC 8420 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashAlgorithm(pub u16);

impl HashAlgorithm {
    /// SHA1 (not offered).
    pub const SHA1: Self = Self(1);
    /// SHA2-256.
    pub const SHA2_256: Self = Self(2);
    /// SHA2-384.
    pub const SHA2_384: Self = Self(3);
    /// SHA2-512.
    pub const SHA2_512: Self = Self(4);
    /// Identity, for EdDSA (RFC 8420).
    pub const IDENTITY: Self = Self(5);

    /// What lanes offers in SIGNATURE_HASH_ALGORITHMS, strongSwan's order.
    pub const OFFERED: [Self; 4] = [
        Self::SHA2_256,
        Self::SHA2_384,
        Self::SHA2_512,
        Self::IDENTITY,
    ];

    /// The notify data: 2-byte values back to back (RFC 7427 §4).
    pub fn encode_list(list: &[Self]) -> Vec<u8> {
        list.iter().flat_map(|h| h.0.to_be_bytes()).collect()
    }

    /// Parses the notify data; a trailing odd byte is ignored.
    pub fn decode_list(data: &[u8]) -> Vec<Self> {
        data.chunks_exact(2)
            .map(|c| Self(u16::from_be_bytes([c[0], c[1]])))
            .collect()
    }
}

/// A signature scheme with its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-1 (classic method 1 only).
    RsaPkcs1Sha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    RsaPss(HashAlgorithm),
    /// ECDSA with SHA-256 (DER signature, or r‖s for method 9).
    EcdsaSha256,
    /// ECDSA with SHA-384.
    EcdsaSha384,
    /// ECDSA with SHA-512.
    EcdsaSha512,
    /// Ed25519 (RFC 8420: the whole signed octets, no pre-hash).
    Ed25519,
}

const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const RSA_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

impl SigScheme {
    /// The hash this scheme negotiates in SIGNATURE_HASH_ALGORITHMS.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1Sha1 => HashAlgorithm::SHA1,
            Self::RsaPkcs1Sha256 | Self::EcdsaSha256 => HashAlgorithm::SHA2_256,
            Self::RsaPkcs1Sha384 | Self::EcdsaSha384 => HashAlgorithm::SHA2_384,
            Self::RsaPkcs1Sha512 | Self::EcdsaSha512 => HashAlgorithm::SHA2_512,
            Self::RsaPss(h) => h,
            Self::Ed25519 => HashAlgorithm::IDENTITY,
        }
    }

    /// The scheme named by an X.509 / RFC 7427 AlgorithmIdentifier.
    pub fn from_algorithm(alg: &AlgorithmIdentifierOwned) -> Result<Self, CertError> {
        Ok(match alg.oid {
            RSA_SHA1 => Self::RsaPkcs1Sha1,
            RSA_SHA256 => Self::RsaPkcs1Sha256,
            RSA_SHA384 => Self::RsaPkcs1Sha384,
            RSA_SHA512 => Self::RsaPkcs1Sha512,
            ECDSA_SHA256 => Self::EcdsaSha256,
            ECDSA_SHA384 => Self::EcdsaSha384,
            ECDSA_SHA512 => Self::EcdsaSha512,
            ED25519 => Self::Ed25519,
            RSA_PSS => Self::RsaPss(pss_hash(alg)?),
            o => return Err(CertError::Unsupported(format!("signature algorithm {o}"))),
        })
    }

    /// The AlgorithmIdentifier for RFC 7427 AUTH data (parameters NULL for
    /// PKCS#1 v1.5, absent for ECDSA and Ed25519, RFC 7427 appendix A).
    pub fn algorithm(self) -> AlgorithmIdentifierOwned {
        let null = || Some(der::Any::null());
        let (oid, parameters) = match self {
            Self::RsaPkcs1Sha1 => (RSA_SHA1, null()),
            Self::RsaPkcs1Sha256 => (RSA_SHA256, null()),
            Self::RsaPkcs1Sha384 => (RSA_SHA384, null()),
            Self::RsaPkcs1Sha512 => (RSA_SHA512, null()),
            Self::RsaPss(h) => return pss_algorithm(h),
            Self::EcdsaSha256 => (ECDSA_SHA256, None),
            Self::EcdsaSha384 => (ECDSA_SHA384, None),
            Self::EcdsaSha512 => (ECDSA_SHA512, None),
            Self::Ed25519 => (ED25519, None),
        };
        AlgorithmIdentifierOwned { oid, parameters }
    }
}

fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<HashAlgorithm, CertError> {
    let unsupported = || CertError::Unsupported("RSASSA-PSS parameters".into());
    let any = alg.parameters.as_ref().ok_or_else(unsupported)?;
    let der = any
        .to_der()
        .map_err(|e| CertError::parse("RSASSA-PSS parameters", e))?;
    let p = pkcs1::RsaPssParams::from_der(&der)
        .map_err(|e| CertError::parse("RSASSA-PSS parameters", e))?;
    let h = match p.hash.oid {
        SHA256 => HashAlgorithm::SHA2_256,
        SHA384 => HashAlgorithm::SHA2_384,
        SHA512 => HashAlgorithm::SHA2_512,
        _ => return Err(unsupported()),
    };
    let salt_ok = usize::from(p.salt_len) == hash_len(h);
    if p.mask_gen.parameters.map(|m| m.oid) != Some(p.hash.oid) || !salt_ok {
        return Err(unsupported());
    }
    Ok(h)
}

fn pss_algorithm(h: HashAlgorithm) -> AlgorithmIdentifierOwned {
    let params = match h {
        HashAlgorithm::SHA2_384 => pkcs1::RsaPssParams::new::<sha2::Sha384>(48),
        HashAlgorithm::SHA2_512 => pkcs1::RsaPssParams::new::<sha2::Sha512>(64),
        _ => pkcs1::RsaPssParams::new::<sha2::Sha256>(32),
    };
    let parameters = params
        .to_der()
        .ok()
        .and_then(|d| der::Any::from_der(&d).ok());
    AlgorithmIdentifierOwned {
        oid: RSA_PSS,
        parameters,
    }
}

pub(crate) fn hash_len(h: HashAlgorithm) -> usize {
    match h {
        HashAlgorithm::SHA2_384 => 48,
        HashAlgorithm::SHA2_512 => 64,
        HashAlgorithm::SHA1 => 20,
        _ => 32,
    }
}

/// AUTH data for method 14: length ‖ AlgorithmIdentifier ‖ signature (RFC 7427 §3).
pub fn encode_auth14(scheme: SigScheme, signature: &[u8]) -> Vec<u8> {
    let alg = scheme.algorithm().to_der().unwrap_or_default();
    let mut v = Vec::with_capacity(1 + alg.len() + signature.len());
    v.push(u8::try_from(alg.len()).unwrap_or(0));
    v.extend_from_slice(&alg);
    v.extend_from_slice(signature);
    v
}

/// Splits AUTH method 14 data into its scheme and signature (RFC 7427 §3).
pub fn decode_auth14(data: &[u8]) -> Result<(SigScheme, &[u8]), CertError> {
    let (&len, rest) = data
        .split_first()
        .ok_or_else(|| CertError::parse("RFC 7427 AUTH data", "empty"))?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(CertError::parse("RFC 7427 AUTH data", "truncated"));
    }
    let alg = AlgorithmIdentifierOwned::from_der(&rest[..len])
        .map_err(|e| CertError::parse("RFC 7427 AlgorithmIdentifier", e))?;
    Ok((SigScheme::from_algorithm(&alg)?, &rest[len..]))
}

/// The scheme a classic AUTH method implies (RFC 7296 §3.8, RFC 4754 §3).
pub fn classic_scheme(method: AuthMethod) -> Option<SigScheme> {
    match method {
        AuthMethod::RSA_SIG => Some(SigScheme::RsaPkcs1Sha1),
        AuthMethod::ECDSA_SHA256_P256 => Some(SigScheme::EcdsaSha256),
        AuthMethod::ECDSA_SHA384_P384 => Some(SigScheme::EcdsaSha384),
        AuthMethod::ECDSA_SHA512_P521 => Some(SigScheme::EcdsaSha512),
        _ => None,
    }
}
