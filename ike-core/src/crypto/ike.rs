//! The crypto state of one IKE SA: suite, keys and both SK directions.

use core::fmt;

use super::auth::{psk_auth, verify_psk_auth};
use super::cipher::SkKey;
use super::keymat::{ChildKeys, IkeKeyLengths, IkeKeys, skeyseed, skeyseed_rekey};
use super::prf::Prf;
use super::sk::{Fragment, OpenError, open, open_fragment, seal, seal_fragments};
use super::suite::{ChildSuite, IkeSuite};
use super::{CryptoError, CryptoProvider};
use crate::wire::{Header, Id, Message, Payload};

/// Keys and SK ciphers of an established IKE SA.
///
/// `initiator` is whether this side is the *original initiator* of this IKE
/// SA (for a rekeyed SA: the side that initiated the rekey, RFC 7296
/// §2.18); it selects SK_ei/SK_ai for sending.
pub struct IkeSaCrypto {
    /// Negotiated suite.
    pub suite: IkeSuite,
    /// The SA's PRF.
    pub prf: &'static dyn Prf,
    /// All seven keys.
    pub keys: IkeKeys,
    initiator: bool,
    out: Box<dyn SkKey>,
    inb: Box<dyn SkKey>,
}

impl fmt::Debug for IkeSaCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaCrypto")
            .field("suite", &self.suite)
            .field("initiator", &self.initiator)
            .finish_non_exhaustive()
    }
}

impl IkeSaCrypto {
    /// Derives the IKE SA keys after IKE_SA_INIT (RFC 7296 §2.14):
    /// SKEYSEED from the nonces and g^ir, then SK_* with the SPIs.
    #[expect(clippy::too_many_arguments, reason = "mirrors RFC 7296 §2.14 inputs")]
    pub fn derive(
        provider: &CryptoProvider,
        suite: IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<Self, CryptoError> {
        let prf = provider.prf(suite.prf)?;
        let seed = skeyseed(prf, ni, nr, g_ir);
        Self::from_skeyseed(provider, suite, &seed, ni, nr, spi_i, spi_r, initiator)
    }

    /// Derives the keys of a new IKE SA from a rekey (RFC 7296 §2.18):
    /// SKEYSEED = prf_old(SK_d_old, g^ir ‖ Ni ‖ Nr). `ni`/`nr` are the
    /// nonces of the rekeying CREATE_CHILD_SA, `spi_i`/`spi_r` the new SPIs
    /// of its initiator and responder, and `initiator` whether this side
    /// initiated the rekey.
    #[expect(clippy::too_many_arguments, reason = "mirrors RFC 7296 §2.18 inputs")]
    pub fn derive_rekey(
        &self,
        provider: &CryptoProvider,
        suite: IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<Self, CryptoError> {
        let seed = skeyseed_rekey(self.prf, &self.keys.sk_d, g_ir, ni, nr);
        Self::from_skeyseed(provider, suite, &seed, ni, nr, spi_i, spi_r, initiator)
    }

    #[expect(clippy::too_many_arguments, reason = "internal")]
    fn from_skeyseed(
        provider: &CryptoProvider,
        suite: IkeSuite,
        seed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> Result<Self, CryptoError> {
        let r = suite.resolve(provider)?;
        let prf = provider.prf(suite.prf)?;
        let lens = IkeKeyLengths {
            prf: prf.key_len(),
            integ: r.integ_len,
            encr: r.encr_len,
        };
        let keys = IkeKeys::derive(prf, seed, ni, nr, spi_i, spi_r, lens)?;
        Self::from_keys(provider, suite, keys, initiator)
    }

    /// Builds the SK ciphers from already derived keys.
    pub fn from_keys(
        provider: &CryptoProvider,
        suite: IkeSuite,
        keys: IkeKeys,
        initiator: bool,
    ) -> Result<Self, CryptoError> {
        let r = suite.resolve(provider)?;
        let prf = provider.prf(suite.prf)?;
        let mk = |e: &[u8], a: &[u8]| r.encr.new_key(e, r.integ.map(|i| (i, a)));
        let ki = mk(&keys.sk_ei, &keys.sk_ai)?;
        let kr = mk(&keys.sk_er, &keys.sk_ar)?;
        let (out, inb) = if initiator { (ki, kr) } else { (kr, ki) };
        Ok(Self {
            suite,
            prf,
            keys,
            initiator,
            out,
            inb,
        })
    }

    /// Whether this side is the original initiator of this IKE SA.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Encodes `HDR, SK{inner}` into `out` (RFC 7296 §3.14).
    pub fn seal(
        &mut self,
        provider: &CryptoProvider,
        header: &Header,
        inner: &[Payload],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        seal(
            header,
            inner,
            self.out.as_mut(),
            provider.random.as_ref(),
            out,
        )
    }

    /// Verifies and decrypts a received protected message.
    pub fn open(&self, datagram: &[u8]) -> Result<Message, OpenError> {
        open(datagram, self.inb.as_ref())
    }

    /// Encodes `HDR, SKF{inner}` fragments of at most `max_datagram` bytes
    /// each (RFC 7383), for when the peer sent FRAGMENTATION_SUPPORTED and
    /// the SK message would exceed the path MTU.
    pub fn seal_fragments(
        &mut self,
        provider: &CryptoProvider,
        header: &Header,
        inner: &[Payload],
        max_datagram: usize,
    ) -> Result<Vec<Vec<u8>>, CryptoError> {
        seal_fragments(
            header,
            inner,
            self.out.as_mut(),
            provider.random.as_ref(),
            max_datagram,
        )
    }

    /// Verifies and decrypts one received SKF fragment; reassemble with
    /// [`super::sk::decode_reassembled`].
    pub fn open_fragment(&self, datagram: &[u8]) -> Result<Fragment, OpenError> {
        open_fragment(datagram, self.inb.as_ref())
    }

    /// The outbound SK key (e.g. for [`super::sk::seal`] directly).
    pub fn out_key(&mut self) -> &mut dyn SkKey {
        self.out.as_mut()
    }

    /// The inbound SK key.
    pub fn in_key(&self) -> &dyn SkKey {
        self.inb.as_ref()
    }

    /// PSK AUTH data this side sends (RFC 7296 §2.15): `own_init_message`
    /// is the IKE_SA_INIT message this side sent, `peer_nonce` the other
    /// side's nonce, `own_id` this side's ID payload.
    pub fn own_psk_auth(
        &self,
        psk: &[u8],
        own_init_message: &[u8],
        peer_nonce: &[u8],
        own_id: &Id,
    ) -> Vec<u8> {
        let sk_p = if self.initiator {
            &self.keys.sk_pi
        } else {
            &self.keys.sk_pr
        };
        psk_auth(self.prf, psk, own_init_message, peer_nonce, sk_p, own_id)
    }

    /// Verifies the peer's PSK AUTH data: `peer_init_message` is the
    /// IKE_SA_INIT message the peer sent, `own_nonce` this side's nonce.
    pub fn verify_peer_psk_auth(
        &self,
        psk: &[u8],
        peer_init_message: &[u8],
        own_nonce: &[u8],
        peer_id: &Id,
        received: &[u8],
    ) -> bool {
        let sk_p = if self.initiator {
            &self.keys.sk_pr
        } else {
            &self.keys.sk_pi
        };
        verify_psk_auth(
            self.prf,
            psk,
            peer_init_message,
            own_nonce,
            sk_p,
            peer_id,
            received,
        )
    }

    /// Child SA keys (RFC 7296 §2.17) for `child` with the nonces of the
    /// creating exchange and the optional PFS shared secret.
    pub fn child_keys(
        &self,
        provider: &CryptoProvider,
        child: &ChildSuite,
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildKeys, CryptoError> {
        let (e, a) = child.key_lengths(provider)?;
        ChildKeys::derive(self.prf, &self.keys.sk_d, g_ir, ni, nr, e, a)
    }
}
