//! The keys of an established IKE SA and SK payload protection (RFC 7296 §2.14, §3.14).

use crate::crypto::cipher::SkKey;
use crate::crypto::keymat::{IkeKeyLengths, IkeKeys};
use crate::crypto::prf::Prf;
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};
use crate::proposal::Selected;
use crate::wire::payload::{encode_chain, read_chain};
use crate::wire::{Codec, Header, IntegId, Message, Payload, PayloadType, Reader};

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
        mut header: Header,
        inner: &[Payload],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut body = Vec::with_capacity(256);
        let first = encode_chain(inner, &mut body);
        let block = self.out.block_len().max(1);
        let pad = (block - (body.len() + 1) % block) % block;
        let iv_len = self.out.iv_len();
        let icv_len = self.out.icv_len();
        let sk_len = 4 + iv_len + body.len() + pad + 1 + icv_len;
        let total = Header::LEN + sk_len;
        header.next_payload = PayloadType::SK;
        header.length =
            u32::try_from(total).map_err(|_| CryptoError::Malformed("message too long"))?;
        let mut msg = Vec::with_capacity(total);
        header.encode(&mut msg);
        msg.push(first.0);
        msg.push(0);
        msg.extend_from_slice(
            &u16::try_from(sk_len)
                .map_err(|_| CryptoError::Malformed("SK payload too long"))?
                .to_be_bytes(),
        );
        let iv_off = msg.len();
        msg.resize(iv_off + iv_len, 0);
        msg.extend_from_slice(&body);
        msg.resize(msg.len() + pad, 0);
        msg.push(u8::try_from(pad).unwrap_or(0));
        msg.resize(total, 0);
        self.out.seal(&mut msg, iv_off, &*crypto.random)?;
        Ok(msg)
    }

    /// Verifies and decrypts the SK payload of `msg` (already decoded from
    /// `datagram`), returning the inner payloads. Any failure means "drop silently".
    pub(crate) fn unprotect(&self, datagram: &[u8], msg: &Message) -> Option<Vec<Payload>> {
        let sk = msg.sk()?;
        let iv_off = datagram.len().checked_sub(sk.data.len())?;
        let iv_len = self.inb.iv_len();
        let icv_len = self.inb.icv_len();
        if sk.data.len() < iv_len + icv_len + 1 {
            return None;
        }
        let mut buf = datagram.to_vec();
        self.inb.open(&mut buf, iv_off).ok()?;
        let text = buf.get(iv_off + iv_len..buf.len() - icv_len)?;
        let (&pad_len, rest) = text.split_last()?;
        let inner = rest.get(..rest.len().checked_sub(usize::from(pad_len))?)?;
        read_chain(sk.first_inner, &mut Reader::new(inner)).ok()
    }
}
