//! The keys of an established IKE SA and SK payload protection (RFC 7296 §2.14, §3.14).

use crate::crypto::cipher::SkKey;
use crate::crypto::keymat::{IkeKeyLengths, IkeKeys};
use crate::crypto::prf::Prf;
use crate::crypto::sk::{self, Fragment, OpenError};
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};
use crate::proposal::Selected;
use crate::wire::{Header, IntegId, Payload};

/// What an IKE SA keeps after IKE_AUTH: the PRF, SK_d, SK_p* and one SK key per direction.
pub(crate) struct SaKeys {
    pub(crate) prf: &'static dyn Prf,
    pub(crate) sk_d: SecretBytes,
    pub(crate) sk_pi: SecretBytes,
    pub(crate) sk_pr: SecretBytes,
    /// Protects what we send.
    pub(crate) out: Box<dyn SkKey>,
    /// Opens what we receive.
    pub(crate) inb: Box<dyn SkKey>,
}

impl core::fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SaKeys(<redacted>)")
    }
}

impl SaKeys {
    /// Derives SK_* from SKEYSEED and builds the SK keys; `initiator` is our role
    /// (original initiator) in this IKE SA.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn derive(
        crypto: &CryptoProvider,
        sel: &Selected,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<Self, CryptoError> {
        let prf_id = sel.prf.ok_or(CryptoError::Malformed("no PRF negotiated"))?;
        let prf = crypto.prf(prf_id)?;
        let encr = crypto.encr(sel.encr.id)?;
        let integ = match sel.integ {
            Some(i) if i != IntegId::NONE => Some(crypto.integ(i)?),
            _ => None,
        };
        let encr_len = encr
            .keymat_len(sel.encr.key_bits)
            .ok_or(CryptoError::UnsupportedEncr(sel.encr.id, sel.encr.key_bits))?;
        let lens = IkeKeyLengths {
            prf: prf.key_len(),
            integ: integ.map_or(0, |i| i.key_len()),
            encr: encr_len,
        };
        let k = IkeKeys::derive(prf, skeyseed, ni, nr, spi_i, spi_r, lens)?;
        let key_i = encr.new_key(&k.sk_ei, integ.map(|i| (i, &*k.sk_ai)))?;
        let key_r = encr.new_key(&k.sk_er, integ.map(|i| (i, &*k.sk_ar)))?;
        let (out, inb) = if initiator {
            (key_i, key_r)
        } else {
            (key_r, key_i)
        };
        Ok(Self {
            prf,
            sk_d: k.sk_d,
            sk_pi: k.sk_pi,
            sk_pr: k.sk_pr,
            out,
            inb,
        })
    }

    /// Builds `header ‖ SK{inner}` and seals it (RFC 7296 §3.14).
    pub(crate) fn protect(
        &mut self,
        crypto: &CryptoProvider,
        header: Header,
        inner: &[Payload],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut msg = Vec::with_capacity(256);
        sk::seal(&header, inner, &mut *self.out, &*crypto.random, &mut msg)?;
        Ok(msg)
    }

    /// Verifies and decrypts the SK payload of `datagram`, returning the
    /// inner payloads. [`OpenError::IntegrityCheckFailed`] means "drop
    /// silently" (RFC 7296 §2.21.2); [`OpenError::Invalid`] after a good ICV
    /// is an authentic but malformed message.
    pub(crate) fn unprotect(&self, datagram: &[u8]) -> Result<Vec<Payload>, OpenError> {
        sk::open(datagram, &*self.inb).map(|m| m.payloads)
    }

    /// Builds `header ‖ SKF{..}` fragments of at most `max_datagram` bytes
    /// each (RFC 7383 §2.5).
    pub(crate) fn protect_fragments(
        &mut self,
        crypto: &CryptoProvider,
        header: Header,
        inner: &[Payload],
        max_datagram: usize,
    ) -> Result<Vec<Vec<u8>>, CryptoError> {
        sk::seal_fragments(
            &header,
            inner,
            &mut *self.out,
            &*crypto.random,
            max_datagram,
        )
    }

    /// Verifies and decrypts one SKF fragment (RFC 7383 §2.6): a wrong ICV
    /// is [`OpenError::IntegrityCheckFailed`] and nothing of it is kept.
    pub(crate) fn open_fragment(&self, datagram: &[u8]) -> Result<Fragment, OpenError> {
        sk::open_fragment(datagram, &*self.inb)
    }
}
