//! Whole-message SK protection (RFC 7296 §3.14) and SKF fragments
//! (RFC 7383 §2.5).

use thiserror::Error;

use super::cipher::SkKey;
use super::{CryptoError, SecureRandom};
use crate::wire::codec::{patch_u16, patch_u32};
use crate::wire::payload::{GENERIC_HEADER_LEN, encode_chain, read_chain};
use crate::wire::{Codec, Header, InvalidMessage, Message, Payload, PayloadType, Reader};

/// Why a protected message could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The ICV is wrong: drop the message silently, do not answer and do
    /// not change state (RFC 7296 §2.21.2).
    #[error("SK integrity check failed (message dropped)")]
    IntegrityCheckFailed,
    /// The outer message (or, after decryption, the inner payloads) is
    /// malformed.
    #[error("malformed message: {0}")]
    Invalid(#[from] InvalidMessage),
    /// The message has no SK (or SKF) payload as its last payload.
    #[error("message is not protected (no SK payload)")]
    NotProtected,
    /// Ciphertext or padding impossible for the cipher.
    #[error(transparent)]
    Crypto(CryptoError),
}

impl From<CryptoError> for OpenError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::IntegrityCheckFailed => Self::IntegrityCheckFailed,
            e => Self::Crypto(e),
        }
    }
}

/// Encodes `header` and `inner` payloads as a protected message into `out`
/// (cleared first): HDR, SK{inner}. Lengths, Next Payload, padding, IV and
/// ICV are all filled in.
pub fn seal(
    header: &Header,
    inner: &[Payload],
    key: &mut dyn SkKey,
    rng: &dyn SecureRandom,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    seal_with(header, key, rng, out, |out| encode_chain(inner, out))
}

/// Like [`seal`] with an already encoded (possibly malformed) inner chain:
/// the fuzz harness protects arbitrary plaintext with real keys.
#[cfg(any(test, fuzzing))]
pub(crate) fn seal_plaintext(
    header: &Header,
    first: PayloadType,
    plaintext: &[u8],
    key: &mut dyn SkKey,
    rng: &dyn SecureRandom,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    seal_with(header, key, rng, out, |out| {
        out.extend_from_slice(plaintext);
        first
    })
}

/// Shared SK sealing (RFC 7296 §3.14): `text` appends the inner chain and
/// returns its first payload type.
fn seal_with(
    header: &Header,
    key: &mut dyn SkKey,
    rng: &dyn SecureRandom,
    out: &mut Vec<u8>,
    text: impl FnOnce(&mut Vec<u8>) -> PayloadType,
) -> Result<(), CryptoError> {
    out.clear();
    let mut h = *header;
    h.next_payload = PayloadType::SK;
    h.encode(out);
    let sk_off = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    let iv_off = out.len();
    out.resize(iv_off + key.iv_len(), 0);
    let text_off = out.len();
    let first = text(out);
    out[sk_off] = first.0;
    // Padding ‖ Pad Length (RFC 7296 §3.14): zero bytes up to the block size.
    let block = key.block_len().max(1);
    let pad = (block - (out.len() - text_off + 1) % block) % block;
    out.resize(out.len() + pad, 0);
    out.push(u8::try_from(pad).map_err(|_| CryptoError::Malformed("pad"))?);
    out.resize(out.len() + key.icv_len(), 0);
    let sk_len = out.len() - sk_off;
    if sk_len > usize::from(u16::MAX) {
        return Err(CryptoError::Malformed("SK payload longer than 65535 bytes"));
    }
    patch_u16(out, sk_off + 2, sk_len);
    let total = out.len();
    patch_u32(out, Header::LENGTH_OFFSET, total);
    key.seal(out, iv_off, rng)
}

/// Encodes `header` and `inner` as RFC 7383 fragments: the encoded inner
/// payload chain is split into pieces so that each datagram is at most
/// `max_datagram` bytes (IKE header included, non-ESP marker excluded), and
/// each piece is sealed in its own SKF payload. Fragment 1 carries the
/// first inner payload type; the others carry NONE (RFC 7383 §2.5).
pub fn seal_fragments(
    header: &Header,
    inner: &[Payload],
    key: &mut dyn SkKey,
    rng: &dyn SecureRandom,
    max_datagram: usize,
) -> Result<Vec<Vec<u8>>, CryptoError> {
    let mut plain = Vec::new();
    let first = encode_chain(inner, &mut plain);
    let block = key.block_len().max(1);
    let overhead = Header::LEN + GENERIC_HEADER_LEN + 4 + key.iv_len() + key.icv_len() + 1;
    // Largest chunk whose padded plaintext still fits.
    let room = max_datagram.saturating_sub(overhead);
    // At least one byte of content besides the Pad Length byte.
    let fit = (room + 1) / block * block;
    if fit < 2 {
        return Err(CryptoError::Malformed(
            "fragment size leaves no room for content; raise fragment_size",
        ));
    }
    let chunk = fit - 1;
    let pieces: Vec<&[u8]> = if plain.is_empty() {
        vec![&[][..]]
    } else {
        plain.chunks(chunk).collect()
    };
    let total =
        u16::try_from(pieces.len()).map_err(|_| CryptoError::Malformed("too many fragments"))?;
    let mut out = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let number =
            u16::try_from(i + 1).map_err(|_| CryptoError::Malformed("too many fragments"))?;
        let mut buf = Vec::with_capacity(max_datagram);
        let mut h = *header;
        h.next_payload = PayloadType::SKF;
        h.encode(&mut buf);
        let skf_off = buf.len();
        let next = if number == 1 {
            first
        } else {
            PayloadType::NONE
        };
        buf.extend_from_slice(&[next.0, 0, 0, 0]);
        buf.extend_from_slice(&number.to_be_bytes());
        buf.extend_from_slice(&total.to_be_bytes());
        let iv_off = buf.len();
        buf.resize(iv_off + key.iv_len(), 0);
        let text_off = buf.len();
        buf.extend_from_slice(piece);
        let pad = (block - (buf.len() - text_off + 1) % block) % block;
        buf.resize(buf.len() + pad, 0);
        buf.push(u8::try_from(pad).map_err(|_| CryptoError::Malformed("pad"))?);
        buf.resize(buf.len() + key.icv_len(), 0);
        let len = buf.len() - skf_off;
        patch_u16(&mut buf, skf_off + 2, len);
        let total_len = buf.len();
        patch_u32(&mut buf, Header::LENGTH_OFFSET, total_len);
        key.seal(&mut buf, iv_off, rng)?;
        out.push(buf);
    }
    Ok(out)
}

/// Verifies and decrypts a protected datagram (marker already removed).
/// Returns the header and the *inner* payloads; unprotected payloads before
/// SK are dropped (RFC 7296 §3.14 forbids acting on them). A wrong ICV is
/// [`OpenError::IntegrityCheckFailed`].
pub fn open(datagram: &[u8], key: &dyn SkKey) -> Result<Message, OpenError> {
    let (header, first, text) = open_raw(datagram, key, PayloadType::SK)?;
    let payloads = read_chain(first, &mut Reader::new(&text))?;
    Ok(Message { header, payloads })
}

/// One decrypted SKF fragment (RFC 7383 §2.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fragment {
    /// The header of the fragment's message.
    pub header: Header,
    /// Fragment Number (1-based).
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// First inner payload type (fragment 1 only; NONE otherwise).
    pub first_inner: PayloadType,
    /// Decrypted content, padding removed.
    pub data: Vec<u8>,
}

/// Verifies and decrypts one SKF fragment. Reassemble by concatenating
/// `data` of fragments 1..=total in order and decode with
/// [`decode_reassembled`].
pub fn open_fragment(datagram: &[u8], key: &dyn SkKey) -> Result<Fragment, OpenError> {
    let msg = Message::decode(datagram)?;
    let Some(Payload::Skf(skf)) = msg.payloads.last() else {
        return Err(OpenError::NotProtected);
    };
    let (number, total) = (skf.number, skf.total);
    let (header, first_inner, data) = open_raw(datagram, key, PayloadType::SKF)?;
    Ok(Fragment {
        header,
        number,
        total,
        first_inner,
        data,
    })
}

/// Decodes the inner payloads of a reassembled fragmented message.
pub fn decode_reassembled(
    header: Header,
    first_inner: PayloadType,
    data: &[u8],
) -> Result<Message, OpenError> {
    let payloads = read_chain(first_inner, &mut Reader::new(data))?;
    Ok(Message { header, payloads })
}

/// Shared SK/SKF path: (header, first inner type, plaintext without padding).
fn open_raw(
    datagram: &[u8],
    key: &dyn SkKey,
    want: PayloadType,
) -> Result<(Header, PayloadType, Vec<u8>), OpenError> {
    let header = Header::peek(datagram)?;
    // Walk the generic headers to the last payload.
    let mut r = Reader::new(datagram.get(Header::LEN..).unwrap_or_default());
    let mut ty = header.next_payload;
    let mut off = Header::LEN;
    loop {
        if ty == PayloadType::NONE {
            return Err(OpenError::NotProtected);
        }
        let next = PayloadType(r.u8("generic payload header")?);
        r.u8("generic payload header")?;
        let len = usize::from(r.u16("generic payload header")?);
        if len < GENERIC_HEADER_LEN {
            return Err(InvalidMessage::BadLength {
                what: "payload",
                len,
            }
            .into());
        }
        r.take(len - GENERIC_HEADER_LEN, "payload body")?;
        if ty == PayloadType::SK || ty == PayloadType::SKF {
            if ty != want {
                return Err(OpenError::NotProtected);
            }
            if !r.is_empty() {
                return Err(InvalidMessage::Misplaced(ty).into());
            }
            let hdr = if ty == PayloadType::SKF {
                GENERIC_HEADER_LEN + 4
            } else {
                GENERIC_HEADER_LEN
            };
            if len < hdr {
                return Err(InvalidMessage::BadLength {
                    what: "SKF payload",
                    len,
                }
                .into());
            }
            let iv_off = off + hdr;
            let mut buf = datagram.to_vec();
            key.open(&mut buf, iv_off)?;
            let start = iv_off + key.iv_len();
            let end = buf.len() - key.icv_len();
            let text = buf.get(start..end).ok_or(CryptoError::Malformed("short"))?;
            let (&pad, body) = text
                .split_last()
                .ok_or(CryptoError::Malformed("no Pad Length byte"))?;
            let keep = body
                .len()
                .checked_sub(usize::from(pad))
                .ok_or(CryptoError::Malformed("Pad Length exceeds plaintext"))?;
            return Ok((header, next, body[..keep].to_vec()));
        }
        off += len;
        ty = next;
    }
}
