//! The 28-byte IKE header (RFC 7296 §3.1).

use core::fmt;

use super::codec::{Codec, InvalidMessage, Reader};
use super::enums::{ExchangeType, PayloadType};

/// Header flags byte (RFC 7296 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// I: set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: Self = Self(0x08);
    /// V: "can speak a higher major version" (never set by IKEv2 peers).
    pub const VERSION: Self = Self(0x10);
    /// R: this message is a response.
    pub const RESPONSE: Self = Self(0x20);

    /// The flags for a message from `initiator` (original initiator of the
    /// IKE SA) that is a `response` or a request.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR.0;
        }
        if response {
            f |= Self::RESPONSE.0;
        }
        Self(f)
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The I flag.
    pub fn initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }

    /// The R flag.
    pub fn response(self) -> bool {
        self.contains(Self::RESPONSE)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags(")?;
        let mut sep = "";
        for (bit, n) in [(0x08, "I"), (0x10, "V"), (0x20, "R")] {
            if self.0 & bit != 0 {
                write!(f, "{sep}{n}")?;
                sep = "|";
            }
        }
        if self.0 & !0x38 != 0 {
            write!(f, "{sep}{:#x}", self.0 & !0x38)?;
        }
        write!(f, ")")
    }
}

/// IKE header (RFC 7296 §3.1), 28 bytes in network byte order.
///
/// `next_payload` and `length` are whatever was read; [`super::Message`]
/// recomputes both when it encodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Header {
    /// IKE SA Initiator's SPI (the value of `ids::IkeSpi`).
    pub spi_i: u64,
    /// IKE SA Responder's SPI; 0 in the first IKE_SA_INIT request.
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major (high nibble) and minor version; [`Header::VERSION_2_0`].
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// I/V/R flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Total message length including this header.
    pub length: u32,
}

impl Header {
    /// Encoded size.
    pub const LEN: usize = 28;
    /// Major 2, minor 0.
    pub const VERSION_2_0: u8 = 0x20;
    /// Offset of the length field within the header.
    pub const LENGTH_OFFSET: usize = 24;

    /// A header with version 2.0 and `next_payload`/`length` left at zero.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            version: Self::VERSION_2_0,
            exchange,
            flags,
            message_id,
            length: 0,
        }
    }

    /// Reads only the header, checking the major version and that the
    /// length field matches `datagram.len()` (for cheap dispatch before full
    /// decoding).
    pub fn peek(datagram: &[u8]) -> Result<Self, InvalidMessage> {
        let h = Self::read(&mut Reader::new(datagram))?;
        if h.length as usize != datagram.len() {
            return Err(InvalidMessage::BadLength {
                what: "IKE header length",
                len: h.length as usize,
            });
        }
        Ok(h)
    }
}

impl Codec<'_> for Header {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload.0);
        out.push(self.version);
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let spi_i = r.u64("IKE header")?;
        let spi_r = r.u64("IKE header")?;
        let next_payload = PayloadType(r.u8("IKE header")?);
        let version = r.u8("IKE header")?;
        if version >> 4 != 2 {
            return Err(InvalidMessage::Version(version >> 4));
        }
        let exchange = ExchangeType(r.u8("IKE header")?);
        let flags = Flags(r.u8("IKE header")?);
        let message_id = r.u32("IKE header")?;
        let length = r.u32("IKE header")?;
        if (length as usize) < Self::LEN {
            return Err(InvalidMessage::BadLength {
                what: "IKE header length",
                len: length as usize,
            });
        }
        Ok(Self {
            spi_i,
            spi_r,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        })
    }
}
