//! `Codec`/`Reader`: bounds-checked big-endian reading and writing, in the
//! style of rustls's `msgs/codec.rs`.

use thiserror::Error;

/// Why a datagram could not be decoded. Every variant maps to the
/// INVALID_SYNTAX notify (RFC 7296 §2.21.2) except [`InvalidMessage::Version`]
/// (INVALID_MAJOR_VERSION); see [`InvalidMessage::notify`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// The input ended inside a field.
    #[error("truncated {what}: need {need} more bytes")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Missing byte count.
        need: usize,
    },
    /// Bytes were left over after a length-delimited structure.
    #[error("{len} trailing bytes after {what}")]
    TrailingData {
        /// The structure being read.
        what: &'static str,
        /// Left-over byte count.
        len: usize,
    },
    /// A length field is impossible (too small or larger than its container).
    #[error("bad length {len} in {what}")]
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// The length that was read.
        len: usize,
    },
    /// A count field disagrees with the data or exceeds the decoder's bound.
    #[error("bad count {count} in {what}")]
    BadCount {
        /// The structure whose count is wrong.
        what: &'static str,
        /// The count that was read.
        count: usize,
    },
    /// A field holds a value the format forbids.
    #[error("invalid {what}: {value}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// The value read.
        value: u64,
    },
    /// The IKE major version is not 2 (RFC 7296 §3.1).
    #[error("IKE major version {0} not supported (expected 2)")]
    Version(u8),
    /// A payload of a type that is only allowed inside SK appeared outside,
    /// or SK was not the last payload (RFC 7296 §3.14).
    #[error("misplaced {0:?} payload")]
    Misplaced(super::PayloadType),
}

impl InvalidMessage {
    /// The error notify a responder answers with (RFC 7296 §2.21.2, §3.1).
    pub fn notify(&self) -> super::NotifyType {
        match self {
            Self::Version(_) => super::NotifyType::INVALID_MAJOR_VERSION,
            _ => super::NotifyType::INVALID_SYNTAX,
        }
    }
}

/// A cursor over a borrowed byte slice. All reads are bounds-checked and
/// return [`InvalidMessage`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Number of bytes not yet read.
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// Bytes consumed so far.
    pub fn used(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], InvalidMessage> {
        let left = self.left();
        if n > left {
            return Err(InvalidMessage::Truncated {
                what,
                need: n - left,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes everything that is left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let s = self.rest();
        self.pos = self.buf.len();
        s
    }

    /// A sub-reader over the next `n` bytes (for length-delimited parts).
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, InvalidMessage> {
        self.take(n, what).map(Reader::new)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, InvalidMessage> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, InvalidMessage> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, InvalidMessage> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, InvalidMessage> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Fails with [`InvalidMessage::TrailingData`] unless all bytes were read.
    pub fn expect_empty(&self, what: &'static str) -> Result<(), InvalidMessage> {
        match self.left() {
            0 => Ok(()),
            len => Err(InvalidMessage::TrailingData { what, len }),
        }
    }
}

/// A wire structure that can be encoded to and decoded from bytes.
///
/// `read` consumes exactly the structure's bytes from the reader; callers
/// that own a length-delimited region use [`Codec::read_all`] to also reject
/// trailing bytes.
pub trait Codec<'a>: Sized {
    /// Appends the wire form to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value.
    fn read(r: &mut Reader<'a>) -> Result<Self, InvalidMessage>;

    /// The wire form as a new vector.
    fn get_encoding(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes `bytes`, rejecting trailing data.
    fn read_all(bytes: &'a [u8]) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(bytes);
        let v = Self::read(&mut r)?;
        r.expect_empty(core::any::type_name::<Self>())?;
        Ok(v)
    }
}

/// Writes a big-endian `u16` length at `at` (a placeholder written earlier).
pub(crate) fn patch_u16(out: &mut [u8], at: usize, v: usize) {
    let v = u16::try_from(v).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`.
pub(crate) fn patch_u32(out: &mut [u8], at: usize, v: usize) {
    let v = u32::try_from(v).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
