//! X.509 certificates and signature authentication for IKE_AUTH.
//!
//! - [`key`]: private and public keys from PEM or DER (PKCS#8, PKCS#1, SEC1).
//! - [`sig`]: RFC 7427 digital signatures (AUTH method 14) and the classic RSA (1)
//!   and ECDSA (9, 10, 11) methods of RFC 7296 §3.8 and RFC 4754.
//! - [`chain`]: path validation to configured CAs (RFC 5280 §6, simplified),
//!   CRLs from files (RFC 5280 §5) and matching IKE identities against
//!   certificates (RFC 4945 §3.1).
//!
//! Nothing here reads a clock or a file: callers pass bytes and a [`UnixTime`].

pub mod chain;
pub mod key;
pub mod ocsp;
#[cfg(test)]
mod ocsp_tests;
pub mod sig;
#[cfg(test)]
pub(crate) mod testca;
#[cfg(test)]
mod tests;

pub use chain::{CertChain, Revocation, RevocationCheck, TrustStore, ValidPath, Verified};
pub use key::{PrivateKey, PublicKey};
pub use ocsp::{OcspCache, OcspQuery, OcspStatus, RevocationPolicy};
pub use sig::{HashAlgorithm, SigScheme};
pub use x509_cert::Certificate;

/// Wall-clock time in seconds since the Unix epoch, supplied by the caller
/// (the engine never reads clocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub u64);

/// Why a certificate, key or signature was refused; each variant names the
/// failed check.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a PEM or DER structure of the expected kind.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A key type or signature algorithm lanes does not implement.
    #[error("unsupported {0}")]
    Unsupported(String),
    /// The peer sent no certificate although its connection wants one.
    #[error(
        "peer sent no certificate (CERT payload); it must send one or we must know its certificate"
    )]
    NoCertificate,
    /// No chain from the certificate to any configured CA.
    #[error("unknown CA: no path from \"{subject}\" (issuer \"{issuer}\") to a configured cacert")]
    UnknownCa {
        /// The last certificate of the partial chain.
        subject: String,
        /// The issuer no CA or intermediate matched.
        issuer: String,
    },
    /// A certificate is outside its validity period.
    #[error("certificate \"{subject}\" is {state} (valid {not_before}..{not_after} unix time)")]
    Validity {
        /// The certificate's subject.
        subject: String,
        /// "expired" or "not yet valid".
        state: &'static str,
        /// notBefore in seconds.
        not_before: u64,
        /// notAfter in seconds.
        not_after: u64,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("signature of \"{0}\" does not verify with its issuer's key")]
    BadSignature(String),
    /// An issuer lacks basicConstraints cA=TRUE.
    #[error("issuer \"{0}\" is not a CA (basicConstraints)")]
    NotCa(String),
    /// keyUsage forbids the use.
    #[error("keyUsage of \"{subject}\" does not allow {usage}")]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
        /// The missing usage.
        usage: &'static str,
    },
    /// The chain is longer than a CA's pathLenConstraint allows.
    #[error("pathLenConstraint of \"{0}\" exceeded")]
    PathLen(String),
    /// A critical extension lanes does not process.
    #[error("certificate \"{0}\" has an unknown critical extension")]
    CriticalExtension(String),
    /// The certificate is listed on its issuer's CRL.
    #[error("certificate \"{subject}\" (serial {serial}) is revoked by CRL of \"{issuer}\"")]
    Revoked {
        /// The revoked certificate's subject.
        subject: String,
        /// Its serial number in hex.
        serial: String,
        /// The CRL's issuer.
        issuer: String,
    },
    /// An OCSP responder says the certificate is revoked (RFC 6960).
    #[error("certificate \"{subject}\" (serial {serial}) is revoked by OCSP responder {responder}")]
    RevokedOcsp {
        /// The revoked certificate's subject.
        subject: String,
        /// Its serial number in hex.
        serial: String,
        /// The responder's URI.
        responder: String,
    },
    /// No revocation status where the policy needs one.
    #[error("revocation status of \"{subject}\" unknown ({why}) and revocation = {policy}")]
    RevocationUnknown {
        /// The certificate's subject.
        subject: String,
        /// Why no CRL or OCSP answer decided.
        why: String,
        /// "strict" or "ifuri".
        policy: &'static str,
    },
    /// The identity the peer must have is not in its certificate.
    #[error(
        "identity mismatch: certificate \"{subject}\" carries no subjectAltName or subject DN matching {id} (it carries {carries})"
    )]
    IdentityMismatch {
        /// The identity as text, with where it comes from ("remote id x").
        id: String,
        /// The certificate's subject.
        subject: String,
        /// The subjectAltNames the certificate carries, as text.
        carries: String,
    },
    /// The AUTH signature does not verify with the certificate's public key.
    #[error("AUTH signature does not verify with the key of \"{0}\" (wrong private key?)")]
    AuthSignature(String),
    /// The private key does not belong to the certificate.
    #[error("private key does not match certificate \"{0}\"")]
    KeyMismatch(String),
}

impl CertError {
    pub(crate) fn parse(what: &'static str, e: impl core::fmt::Display) -> Self {
        Self::Parse {
            what,
            detail: e.to_string(),
        }
    }
}

/// Our certificate chain and its private key (swanctl `local.certs`, `key`).
#[derive(Debug)]
pub struct LocalCert {
    /// End-entity certificate and intermediates to send.
    pub chain: CertChain,
    /// The key of `chain.ee`.
    pub key: PrivateKey,
    /// Sign RFC 7427 AUTH with RSASSA-PSS rather than PKCS#1 v1.5 when the
    /// key is RSA (swanctl `local.auth = rsa/pss`); ignored for other keys.
    pub rsa_pss: bool,
}

impl LocalCert {
    /// Pairs a chain with its key; refuses a key that is not the certificate's.
    pub fn new(chain: CertChain, key: PrivateKey) -> Result<Self, CertError> {
        if !chain::public_key(&chain.ee)?.same_as(&key.public()) {
            return Err(CertError::KeyMismatch(chain::subject(&chain.ee)));
        }
        Ok(Self {
            chain,
            key,
            rsa_pss: false,
        })
    }
}
