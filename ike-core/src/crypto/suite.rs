//! Negotiated algorithm sets and their key lengths (RFC 7296 §2.13–§2.17).

use super::cipher::{EncrAlgorithm, IntegAlgorithm};
use super::prf::Prf;
use super::{CryptoError, CryptoProvider};
use crate::wire::{EncrId, EsnId, IntegId, KeId, PrfId, Proposal, TransformType};

/// The algorithms of an IKE SA (one transform of each type).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IkeSuite {
    /// Encryption.
    pub encr: EncrId,
    /// Key Length attribute in bits (None for ChaCha20-Poly1305).
    pub encr_key_bits: Option<u16>,
    /// PRF.
    pub prf: PrfId,
    /// Integrity; [`IntegId::NONE`] with AEAD ciphers.
    pub integ: IntegId,
    /// Key exchange method.
    pub ke: KeId,
}

/// The algorithms of a Child SA.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChildSuite {
    /// Encryption.
    pub encr: EncrId,
    /// Key Length attribute in bits.
    pub encr_key_bits: Option<u16>,
    /// Integrity; [`IntegId::NONE`] with AEAD ciphers.
    pub integ: IntegId,
    /// Extended sequence numbers.
    pub esn: bool,
    /// PFS group, if the proposal had a KE transform other than NONE.
    pub ke: Option<KeId>,
}

fn first(p: &Proposal, ty: TransformType) -> Option<&crate::wire::Transform> {
    p.transforms_of(ty).next()
}

impl IkeSuite {
    /// The suite of a *chosen* proposal (a response has one transform per
    /// type); None if ENCR, PRF or KE is missing.
    pub fn from_proposal(p: &Proposal) -> Option<Self> {
        let e = first(p, TransformType::ENCR)?;
        Some(Self {
            encr: EncrId(e.id),
            encr_key_bits: e.key_length(),
            prf: PrfId(first(p, TransformType::PRF)?.id),
            integ: first(p, TransformType::INTEG).map_or(IntegId::NONE, |t| IntegId(t.id)),
            ke: KeId(first(p, TransformType::KE)?.id),
        })
    }

    /// Resolves the suite against `provider` and computes key lengths.
    pub fn resolve(&self, provider: &CryptoProvider) -> Result<ResolvedSuite, CryptoError> {
        ResolvedSuite::new(
            provider,
            self.encr,
            self.encr_key_bits,
            self.integ,
            Some(self.prf),
        )
    }
}

impl ChildSuite {
    /// The suite of a chosen ESP/AH proposal; None without ENCR (ESP).
    pub fn from_proposal(p: &Proposal) -> Option<Self> {
        let e = first(p, TransformType::ENCR)?;
        Some(Self {
            encr: EncrId(e.id),
            encr_key_bits: e.key_length(),
            integ: first(p, TransformType::INTEG).map_or(IntegId::NONE, |t| IntegId(t.id)),
            esn: first(p, TransformType::ESN).is_some_and(|t| EsnId(t.id) == EsnId::ESN),
            ke: first(p, TransformType::KE)
                .map(|t| KeId(t.id))
                .filter(|k| *k != KeId::NONE),
        })
    }

    /// KEYMAT lengths (RFC 7296 §2.17): (encryption incl. salt, integrity).
    pub fn key_lengths(&self, provider: &CryptoProvider) -> Result<(usize, usize), CryptoError> {
        let r = ResolvedSuite::new(provider, self.encr, self.encr_key_bits, self.integ, None)?;
        Ok((r.encr_len, r.integ_len))
    }
}

/// Algorithm objects and key lengths of a suite.
#[derive(Clone, Copy, Debug)]
pub struct ResolvedSuite {
    /// Encryption algorithm.
    pub encr: &'static dyn EncrAlgorithm,
    /// Integrity algorithm (None for AEAD).
    pub integ: Option<&'static dyn IntegAlgorithm>,
    /// PRF (None for Child suites).
    pub prf: Option<&'static dyn Prf>,
    /// Encryption key length including AEAD salt.
    pub encr_len: usize,
    /// Integrity key length (0 for AEAD).
    pub integ_len: usize,
}

impl ResolvedSuite {
    fn new(
        provider: &CryptoProvider,
        encr_id: EncrId,
        bits: Option<u16>,
        integ_id: IntegId,
        prf: Option<PrfId>,
    ) -> Result<Self, CryptoError> {
        let encr = provider.encr(encr_id)?;
        let encr_len = encr
            .keymat_len(bits)
            .ok_or(CryptoError::UnsupportedEncr(encr_id, bits))?;
        let integ = match (encr.is_aead(), integ_id) {
            (true, IntegId::NONE) => None,
            (true, other) | (false, other @ IntegId::NONE) => {
                return Err(CryptoError::UnsupportedInteg(other));
            }
            (false, id) => Some(provider.integ(id)?),
        };
        Ok(Self {
            encr,
            integ,
            prf: prf.map(|p| provider.prf(p)).transpose()?,
            encr_len,
            integ_len: integ.map_or(0, |i| i.key_len()),
        })
    }
}
