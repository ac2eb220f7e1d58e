//! Identifier newtypes: IKE SPIs, ESP SPIs, CPU ids and local handles.

use core::fmt;

/// An 8-byte IKE SA SPI (RFC 7296 §3.1). Zero means "not yet known".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IkeSpi(pub u64);

impl IkeSpi {
    /// The all-zero SPI a responder SPI holds before IKE_SA_INIT completes.
    pub const ZERO: Self = Self(0);

    /// The SPI as it appears on the wire (network byte order).
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A 4-byte ESP SPI (RFC 4303 §2.1) as carried in SA/Delete/REKEY_SA payloads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A CPU number as used by Linux per-CPU SAs (`XFRMA_SA_PCPU`) and RFC 9611's
/// resource identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CpuId(pub u32);

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu{}", self.0)
    }
}

/// Local handle of an IKE SA inside one [`Endpoint`](crate::Endpoint).
///
/// Handles are never reused within the lifetime of an endpoint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IkeSaId(pub u64);

/// Local handle of a Child SA, unique within one [`Endpoint`](crate::Endpoint)
/// and stable across IKE SA rekeys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ChildSaId(pub u64);

/// Handle of a connection inside one [`Endpoint`](crate::Endpoint); never
/// reused, and unchanged when the connection's config is replaced.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnId(pub u32);
