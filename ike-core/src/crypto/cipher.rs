//! SK payload protection: AEAD (AES-GCM-16 and AES-CCM-8/12/16, RFC 5282;
//! ChaCha20-Poly1305, RFC 7634) and AES-CBC with HMAC-SHA2 (RFC 3602,
//! RFC 4868) or, for legacy peers, HMAC-SHA1-96 (RFC 2404).

use core::fmt;

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{AesGcm, Nonce, Tag};
use cbc::cipher::generic_array::GenericArray;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ccm::Ccm;
use ccm::aead::AeadCore;
use ccm::aead::generic_array::typenum::Unsigned;
use ccm::consts::{U8, U11, U12, U16};
use chacha20poly1305::ChaCha20Poly1305;
use subtle::ConstantTimeEq;

use super::prf::{
    PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512, Prf, PrfKey,
};
use super::{CryptoError, SecureRandom};
use crate::wire::{EncrId, IntegId};

/// An encryption algorithm of the SK payload (transform type 1).
pub trait EncrAlgorithm: Send + Sync + fmt::Debug {
    /// Its transform ID.
    fn id(&self) -> EncrId;
    /// Whether it is an AEAD (then no INTEG transform is negotiated).
    fn is_aead(&self) -> bool;
    /// Key material length for a Key Length attribute of `key_bits`
    /// (None = no attribute), including the 4-byte salt of AEADs;
    /// `None` if that key length is not supported.
    fn keymat_len(&self, key_bits: Option<u16>) -> Option<usize>;
    /// Creates a key for one direction. `integ` is required for non-AEAD
    /// ciphers and must be `None` for AEADs.
    fn new_key(
        &self,
        key: &[u8],
        integ: Option<(&'static dyn IntegAlgorithm, &[u8])>,
    ) -> Result<Box<dyn SkKey>, CryptoError>;
}

/// An integrity algorithm (transform type 3), HMAC truncated (RFC 4868).
pub trait IntegAlgorithm: Send + Sync + fmt::Debug {
    /// Its transform ID.
    fn id(&self) -> IntegId;
    /// Key length in bytes (SK_ai/SK_ar, Child integrity keys).
    fn key_len(&self) -> usize;
    /// ICV length in bytes.
    fn icv_len(&self) -> usize;
    /// The underlying PRF (HMAC) used to compute the untruncated MAC.
    fn prf(&self) -> &'static dyn Prf;
}

/// One direction's SK key: seals outgoing or opens incoming messages.
///
/// The message buffer layout for both operations is
/// `AAD ‖ IV ‖ text ‖ ICV` where `AAD = msg[..iv_off]` is the IKE header
/// through the SK (or SKF) payload header.
pub trait SkKey: Send + Sync {
    /// Explicit IV length in the payload.
    fn iv_len(&self) -> usize;
    /// ICV length.
    fn icv_len(&self) -> usize;
    /// The plaintext (payloads ‖ padding ‖ Pad Length) must be a multiple
    /// of this (1 for AEADs).
    fn block_len(&self) -> usize;
    /// Writes a fresh IV at `msg[iv_off..]`, encrypts the text in place and
    /// writes the ICV into the last `icv_len()` bytes.
    fn seal(
        &mut self,
        msg: &mut [u8],
        iv_off: usize,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError>;
    /// Verifies the ICV and decrypts the text in place. A wrong ICV gives
    /// [`CryptoError::IntegrityCheckFailed`].
    fn open(&self, msg: &mut [u8], iv_off: usize) -> Result<(), CryptoError>;
}

impl fmt::Debug for dyn SkKey + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SkKey(iv {}, icv {}, <key redacted>)",
            self.iv_len(),
            self.icv_len()
        )
    }
}

/// (aad, iv, text, icv) views of one message buffer.
type Parts<'a> = (&'a mut [u8], &'a mut [u8], &'a mut [u8], &'a mut [u8]);

/// Splits `msg` into (aad, iv, text, icv); None if too short.
fn split(msg: &mut [u8], iv_off: usize, iv_len: usize, icv_len: usize) -> Option<Parts<'_>> {
    if msg.len() < iv_off + iv_len + icv_len {
        return None;
    }
    let (aad, rest) = msg.split_at_mut(iv_off);
    let (iv, rest) = rest.split_at_mut(iv_len);
    let tlen = rest.len() - icv_len;
    let (text, icv) = rest.split_at_mut(tlen);
    Some((aad, iv, text, icv))
}

// ---------------------------------------------------------------- AEAD ---

type Aes128Gcm = AesGcm<Aes128, U12>;
type Aes192Gcm = AesGcm<Aes192, U12>;
type Aes256Gcm = AesGcm<Aes256, U12>;

enum AeadCipher {
    Gcm(GcmKey),
    ChaCha(Box<ChaCha20Poly1305>),
}

/// An AES-GCM key kept as its bytes: the cipher (the expanded AES key
/// schedule and the GHASH key, several hundred bytes) is built for each
/// message, so an idle IKE SA holds 32 bytes per direction.
struct GcmKey {
    key: zeroize::Zeroizing<[u8; 32]>,
    len: usize,
}

impl GcmKey {
    fn new(k: &[u8]) -> Option<Self> {
        if !matches!(k.len(), 16 | 24 | 32) {
            return None;
        }
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        key[..k.len()].copy_from_slice(k);
        Some(GcmKey { key, len: k.len() })
    }

    fn bytes(&self) -> &[u8] {
        &self.key[..self.len]
    }
}

/// RFC 5282 / RFC 7634: nonce = salt(4) ‖ IV(8), ICV 16. The explicit IV
/// must never repeat under one key: it is a message counter XORed with a
/// random mask drawn at the first seal (a bijection, so IVs stay unique,
/// like strongSwan's `iv_gen_seq`), which also hides the message count.
struct AeadKey {
    cipher: AeadCipher,
    salt: [u8; 4],
    ivs: IvSeq,
}

/// Explicit IVs of one AEAD key: a message counter XORed with a random
/// mask drawn at the first seal.
#[derive(Default)]
struct IvSeq {
    counter: u64,
    mask: Option<u64>,
}

impl IvSeq {
    fn next(&mut self, rng: &dyn SecureRandom) -> Result<[u8; 8], CryptoError> {
        let mask = match self.mask {
            Some(m) => m,
            None => {
                let mut b = [0u8; 8];
                rng.fill(&mut b)?;
                let m = u64::from_be_bytes(b);
                self.mask = Some(m);
                m
            }
        };
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(CryptoError::Malformed("IV counter exhausted"))?;
        Ok((self.counter ^ mask).to_be_bytes())
    }
}

impl AeadKey {
    fn nonce(&self, iv: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(iv);
        n
    }
}

/// Runs `$e` with `$a` bound to the keyed cipher (AES-GCM keyed here).
macro_rules! aead_dispatch {
    ($c:expr, $a:ident => $e:expr) => {
        match $c {
            AeadCipher::Gcm(k) => {
                let bad = |_| CryptoError::Malformed("AES-GCM key length");
                match k.len {
                    16 => {
                        let $a = Aes128Gcm::new_from_slice(k.bytes()).map_err(bad)?;
                        $e
                    }
                    24 => {
                        let $a = Aes192Gcm::new_from_slice(k.bytes()).map_err(bad)?;
                        $e
                    }
                    _ => {
                        let $a = Aes256Gcm::new_from_slice(k.bytes()).map_err(bad)?;
                        $e
                    }
                }
            }
            AeadCipher::ChaCha($a) => $e,
        }
    };
}

impl SkKey for AeadKey {
    fn iv_len(&self) -> usize {
        8
    }

    fn icv_len(&self) -> usize {
        16
    }

    fn block_len(&self) -> usize {
        1
    }

    fn seal(
        &mut self,
        msg: &mut [u8],
        iv_off: usize,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError> {
        let ivb = self.ivs.next(rng)?;
        let (aad, iv, text, icv) =
            split(msg, iv_off, 8, 16).ok_or(CryptoError::Malformed("buffer too short"))?;
        iv.copy_from_slice(&ivb);
        let nonce = self.nonce(&ivb);
        let tag = aead_dispatch!(&self.cipher, c => c.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, text))
            .map_err(|_| CryptoError::Malformed("AEAD seal failed"))?;
        icv.copy_from_slice(&tag);
        Ok(())
    }

    fn open(&self, msg: &mut [u8], iv_off: usize) -> Result<(), CryptoError> {
        let (aad, iv, text, icv) = split(msg, iv_off, 8, 16)
            .ok_or(CryptoError::Malformed("SK payload shorter than IV and ICV"))?;
        let nonce = self.nonce(iv);
        let tag = Tag::clone_from_slice(icv);
        aead_dispatch!(&self.cipher, c => c.decrypt_in_place_detached(Nonce::from_slice(&nonce), aad, text, &tag))
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

/// ENCR_AES_GCM_16 (RFC 5282, RFC 4106 §8.1 keying: key ‖ 4-byte salt).
#[derive(Debug, Clone, Copy)]
pub struct AesGcm16;
/// ENCR_AES_GCM_16.
pub static AES_GCM_16: AesGcm16 = AesGcm16;

/// ENCR_CHACHA20_POLY1305 (RFC 7634: 32-byte key ‖ 4-byte salt, no Key
/// Length attribute).
#[derive(Debug, Clone, Copy)]
pub struct ChaCha20Poly1305Encr;
/// ENCR_CHACHA20_POLY1305.
pub static CHACHA20_POLY1305: ChaCha20Poly1305Encr = ChaCha20Poly1305Encr;

fn salt_of(key: &[u8]) -> [u8; 4] {
    let mut s = [0u8; 4];
    s.copy_from_slice(&key[key.len() - 4..]);
    s
}

fn no_integ(integ: Option<(&'static dyn IntegAlgorithm, &[u8])>) -> Result<(), CryptoError> {
    match integ {
        None => Ok(()),
        Some((i, _)) => Err(CryptoError::UnsupportedInteg(i.id())),
    }
}

impl EncrAlgorithm for AesGcm16 {
    fn id(&self) -> EncrId {
        EncrId::AES_GCM_16
    }

    fn is_aead(&self) -> bool {
        true
    }

    fn keymat_len(&self, key_bits: Option<u16>) -> Option<usize> {
        match key_bits {
            Some(b @ (128 | 192 | 256)) => Some(usize::from(b / 8) + 4),
            _ => None,
        }
    }

    fn new_key(
        &self,
        key: &[u8],
        integ: Option<(&'static dyn IntegAlgorithm, &[u8])>,
    ) -> Result<Box<dyn SkKey>, CryptoError> {
        no_integ(integ)?;
        let k = &key[..key.len().saturating_sub(4)];
        let cipher = AeadCipher::Gcm(GcmKey::new(k).ok_or_else(|| gcm_len(key))?);
        Ok(Box::new(AeadKey {
            cipher,
            salt: salt_of(key),
            ivs: IvSeq::default(),
        }))
    }
}

fn gcm_len(key: &[u8]) -> CryptoError {
    CryptoError::KeyLength {
        what: "AES-GCM key ‖ salt",
        got: key.len(),
        want: 20,
    }
}

impl EncrAlgorithm for ChaCha20Poly1305Encr {
    fn id(&self) -> EncrId {
        EncrId::CHACHA20_POLY1305
    }

    fn is_aead(&self) -> bool {
        true
    }

    fn keymat_len(&self, key_bits: Option<u16>) -> Option<usize> {
        // RFC 7634 §2: the Key Length attribute must not be sent.
        key_bits.is_none().then_some(36)
    }

    fn new_key(
        &self,
        key: &[u8],
        integ: Option<(&'static dyn IntegAlgorithm, &[u8])>,
    ) -> Result<Box<dyn SkKey>, CryptoError> {
        no_integ(integ)?;
        if key.len() != 36 {
            return Err(CryptoError::KeyLength {
                what: "ChaCha20-Poly1305 key ‖ salt",
                got: key.len(),
                want: 36,
            });
        }
        let c = ChaCha20Poly1305::new_from_slice(&key[..32])
            .map_err(|_| CryptoError::Malformed("key"))?;
        Ok(Box::new(AeadKey {
            cipher: AeadCipher::ChaCha(Box::new(c)),
            salt: salt_of(key),
            ivs: IvSeq::default(),
        }))
    }
}

// ------------------------------------------------------------- AES-CCM ---

/// RFC 5282 §4: nonce = salt(3) ‖ IV(8), an 11-byte CCM nonce (L = 4);
/// the AAD is the IKE header through the SK payload header (§5), as for GCM.
struct CcmKey<A> {
    cipher: A,
    salt: [u8; 3],
    ivs: IvSeq,
}

impl<A> CcmKey<A> {
    fn nonce(&self, iv: &[u8]) -> [u8; 11] {
        let mut n = [0u8; 11];
        n[..3].copy_from_slice(&self.salt);
        n[3..].copy_from_slice(iv);
        n
    }
}

impl<A> SkKey for CcmKey<A>
where
    A: AeadInPlace + AeadCore<NonceSize = U11> + Send + Sync,
{
    fn iv_len(&self) -> usize {
        8
    }

    fn icv_len(&self) -> usize {
        A::TagSize::USIZE
    }

    fn block_len(&self) -> usize {
        1
    }

    fn seal(
        &mut self,
        msg: &mut [u8],
        iv_off: usize,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError> {
        let ivb = self.ivs.next(rng)?;
        let icv_len = self.icv_len();
        let (aad, iv, text, icv) =
            split(msg, iv_off, 8, icv_len).ok_or(CryptoError::Malformed("buffer too short"))?;
        iv.copy_from_slice(&ivb);
        let nonce = self.nonce(&ivb);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, text)
            .map_err(|_| CryptoError::Malformed("AEAD seal failed"))?;
        icv.copy_from_slice(&tag);
        Ok(())
    }

    fn open(&self, msg: &mut [u8], iv_off: usize) -> Result<(), CryptoError> {
        let icv_len = self.icv_len();
        let (aad, iv, text, icv) = split(msg, iv_off, 8, icv_len)
            .ok_or(CryptoError::Malformed("SK payload shorter than IV and ICV"))?;
        let nonce = self.nonce(iv);
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(&nonce),
                aad,
                text,
                GenericArray::from_slice(icv),
            )
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

/// ENCR_AES_CCM_8/12/16 (RFC 5282 §4, RFC 4309 §7.1 keying: key ‖ 3-byte
/// salt) with an ICV of `icv` bytes.
#[derive(Debug, Clone, Copy)]
pub struct AesCcm {
    id: EncrId,
    icv: usize,
}
/// ENCR_AES_CCM_8 (8-byte ICV).
pub static AES_CCM_8: AesCcm = AesCcm {
    id: EncrId::AES_CCM_8,
    icv: 8,
};
/// ENCR_AES_CCM_12 (12-byte ICV).
pub static AES_CCM_12: AesCcm = AesCcm {
    id: EncrId::AES_CCM_12,
    icv: 12,
};
/// ENCR_AES_CCM_16 (16-byte ICV).
pub static AES_CCM_16: AesCcm = AesCcm {
    id: EncrId::AES_CCM_16,
    icv: 16,
};

fn ccm_key<A>(k: &[u8], salt: &[u8]) -> Result<Box<dyn SkKey>, CryptoError>
where
    A: KeyInit + AeadInPlace + AeadCore<NonceSize = U11> + Send + Sync + 'static,
{
    let cipher = A::new_from_slice(k).map_err(|_| CryptoError::Malformed("key"))?;
    let mut s = [0u8; 3];
    s.copy_from_slice(salt);
    Ok(Box::new(CcmKey {
        cipher,
        salt: s,
        ivs: IvSeq::default(),
    }))
}

impl EncrAlgorithm for AesCcm {
    fn id(&self) -> EncrId {
        self.id
    }

    fn is_aead(&self) -> bool {
        true
    }

    fn keymat_len(&self, key_bits: Option<u16>) -> Option<usize> {
        match key_bits {
            Some(b @ (128 | 192 | 256)) => Some(usize::from(b / 8) + 3),
            _ => None,
        }
    }

    fn new_key(
        &self,
        key: &[u8],
        integ: Option<(&'static dyn IntegAlgorithm, &[u8])>,
    ) -> Result<Box<dyn SkKey>, CryptoError> {
        no_integ(integ)?;
        let (k, salt) = key.split_at(key.len().saturating_sub(3));
        macro_rules! pick {
            ($aes:ty) => {
                match self.icv {
                    8 => ccm_key::<Ccm<$aes, U8, U11>>(k, salt),
                    12 => ccm_key::<Ccm<$aes, U12, U11>>(k, salt),
                    _ => ccm_key::<Ccm<$aes, U16, U11>>(k, salt),
                }
            };
        }
        match key.len() {
            19 => pick!(Aes128),
            27 => pick!(Aes192),
            35 => pick!(Aes256),
            got => Err(CryptoError::KeyLength {
                what: "AES-CCM key ‖ salt",
                got,
                want: 19,
            }),
        }
    }
}

// ------------------------------------------------------ AES-CBC + HMAC ---

#[derive(Clone)]
enum AesKey {
    A128([u8; 16]),
    A192([u8; 24]),
    A256([u8; 32]),
}

impl Drop for AesKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            Self::A128(k) => k.zeroize(),
            Self::A192(k) => k.zeroize(),
            Self::A256(k) => k.zeroize(),
        }
    }
}

/// ENCR_AES_CBC (RFC 3602) with an HMAC-SHA2 ICV over header ‖ IV ‖
/// ciphertext (encrypt-then-MAC, RFC 7296 §3.14).
struct CbcKey {
    key: AesKey,
    mac: Box<dyn PrfKey>,
    icv_len: usize,
}

impl SkKey for CbcKey {
    fn iv_len(&self) -> usize {
        16
    }

    fn icv_len(&self) -> usize {
        self.icv_len
    }

    fn block_len(&self) -> usize {
        16
    }

    fn seal(
        &mut self,
        msg: &mut [u8],
        iv_off: usize,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError> {
        let icv_len = self.icv_len;
        let end = msg
            .len()
            .checked_sub(icv_len)
            .ok_or(CryptoError::Malformed("buffer too short"))?;
        {
            let (_, iv, text, _) = split(msg, iv_off, 16, icv_len)
                .ok_or(CryptoError::Malformed("buffer too short"))?;
            if text.len() % 16 != 0 {
                return Err(CryptoError::Malformed("CBC plaintext not block aligned"));
            }
            // RFC 7296 §3.14: the IV must be unpredictable.
            rng.fill(iv)?;
            let iv: &[u8] = iv;
            macro_rules! enc {
                ($aes:ty, $k:expr) => {{
                    let mut c = cbc::Encryptor::<$aes>::new_from_slices($k, iv)
                        .map_err(|_| CryptoError::Malformed("key"))?;
                    for b in text.chunks_exact_mut(16) {
                        c.encrypt_block_mut(GenericArray::from_mut_slice(b));
                    }
                }};
            }
            match &self.key {
                AesKey::A128(k) => enc!(Aes128, k),
                AesKey::A192(k) => enc!(Aes192, k),
                AesKey::A256(k) => enc!(Aes256, k),
            };
        }
        let (signed, icv) = msg.split_at_mut(end);
        self.mac.compute(&[signed], icv);
        Ok(())
    }

    fn open(&self, msg: &mut [u8], iv_off: usize) -> Result<(), CryptoError> {
        let icv_len = self.icv_len;
        if msg.len() < iv_off + 16 + icv_len {
            return Err(CryptoError::Malformed("SK payload shorter than IV and ICV"));
        }
        let end = msg.len() - icv_len;
        let mut want = [0u8; 64];
        self.mac.compute(&[&msg[..end]], &mut want[..icv_len]);
        if !bool::from(want[..icv_len].ct_eq(&msg[end..])) {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        let (_, iv, text, _) =
            split(msg, iv_off, 16, icv_len).ok_or(CryptoError::Malformed("short"))?;
        if text.len() % 16 != 0 {
            return Err(CryptoError::Malformed("CBC ciphertext not block aligned"));
        }
        let iv: &[u8] = iv;
        macro_rules! dec {
            ($aes:ty, $k:expr) => {{
                let mut c = cbc::Decryptor::<$aes>::new_from_slices($k, iv)
                    .map_err(|_| CryptoError::Malformed("key"))?;
                for b in text.chunks_exact_mut(16) {
                    c.decrypt_block_mut(GenericArray::from_mut_slice(b));
                }
            }};
        }
        match &self.key {
            AesKey::A128(k) => dec!(Aes128, k),
            AesKey::A192(k) => dec!(Aes192, k),
            AesKey::A256(k) => dec!(Aes256, k),
        };
        Ok(())
    }
}

/// ENCR_AES_CBC (RFC 3602), combined with an INTEG transform.
#[derive(Debug, Clone, Copy)]
pub struct AesCbc;
/// ENCR_AES_CBC.
pub static AES_CBC: AesCbc = AesCbc;

impl EncrAlgorithm for AesCbc {
    fn id(&self) -> EncrId {
        EncrId::AES_CBC
    }

    fn is_aead(&self) -> bool {
        false
    }

    fn keymat_len(&self, key_bits: Option<u16>) -> Option<usize> {
        match key_bits {
            Some(b @ (128 | 192 | 256)) => Some(usize::from(b / 8)),
            _ => None,
        }
    }

    fn new_key(
        &self,
        key: &[u8],
        integ: Option<(&'static dyn IntegAlgorithm, &[u8])>,
    ) -> Result<Box<dyn SkKey>, CryptoError> {
        let (integ, ikey) = integ.ok_or(CryptoError::UnsupportedInteg(IntegId::NONE))?;
        if ikey.len() != integ.key_len() {
            return Err(CryptoError::KeyLength {
                what: "integrity key",
                got: ikey.len(),
                want: integ.key_len(),
            });
        }
        let key = match key.len() {
            16 => AesKey::A128(key.try_into().map_err(|_| CryptoError::Malformed("key"))?),
            24 => AesKey::A192(key.try_into().map_err(|_| CryptoError::Malformed("key"))?),
            32 => AesKey::A256(key.try_into().map_err(|_| CryptoError::Malformed("key"))?),
            n => {
                return Err(CryptoError::KeyLength {
                    what: "AES-CBC key",
                    got: n,
                    want: 16,
                });
            }
        };
        Ok(Box::new(CbcKey {
            key,
            mac: integ.prf().keyed(ikey),
            icv_len: integ.icv_len(),
        }))
    }
}

macro_rules! hmac_integ {
    ($name:ident, $static:ident, $id:expr, $prf:expr, $klen:expr, $icv:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        #[doc = $doc]
        pub static $static: $name = $name;

        impl IntegAlgorithm for $name {
            fn id(&self) -> IntegId {
                $id
            }
            fn key_len(&self) -> usize {
                $klen
            }
            fn icv_len(&self) -> usize {
                $icv
            }
            fn prf(&self) -> &'static dyn Prf {
                &$prf
            }
        }
    };
}

hmac_integ!(
    HmacSha256_128,
    AUTH_HMAC_SHA2_256_128,
    IntegId::HMAC_SHA2_256_128,
    PRF_HMAC_SHA2_256,
    32,
    16,
    "AUTH_HMAC_SHA2_256_128 (RFC 4868 §2.1)."
);
hmac_integ!(
    HmacSha384_192,
    AUTH_HMAC_SHA2_384_192,
    IntegId::HMAC_SHA2_384_192,
    PRF_HMAC_SHA2_384,
    48,
    24,
    "AUTH_HMAC_SHA2_384_192 (RFC 4868 §2.1)."
);
hmac_integ!(
    HmacSha512_256,
    AUTH_HMAC_SHA2_512_256,
    IntegId::HMAC_SHA2_512_256,
    PRF_HMAC_SHA2_512,
    64,
    32,
    "AUTH_HMAC_SHA2_512_256 (RFC 4868 §2.1)."
);
hmac_integ!(
    HmacSha1_96,
    AUTH_HMAC_SHA1_96,
    IntegId::HMAC_SHA1_96,
    PRF_HMAC_SHA1,
    20,
    12,
    "AUTH_HMAC_SHA1_96 (RFC 2404), legacy: only with a connection's `legacy` switch."
);
