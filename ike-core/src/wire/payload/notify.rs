//! Notify (RFC 7296 §3.10) and Delete (§3.11) payloads.

use crate::wire::codec::{Codec, InvalidMessage, Reader};
use crate::wire::enums::{NotifyType, ProtocolId};

/// Notify payload (RFC 7296 §3.10).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notify {
    /// Protocol of the SA the notify is about; [`ProtocolId::NONE`] when it
    /// concerns no SA (or the current IKE SA).
    pub protocol: ProtocolId,
    /// SPI of that SA; usually empty (SPI Size 0).
    pub spi: Vec<u8>,
    /// Notify type.
    pub ty: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify with protocol 0 and no SPI (the common case, also RFC 9611
    /// SA_RESOURCE_INFO and TS_MAX_QUEUE, SPEC §1.2).
    pub fn new(ty: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            ty,
            data,
        }
    }

    /// REKEY_SA for the Child SA whose *inbound* SPI (as the sender knows it)
    /// is `spi` (RFC 7296 §1.3.3).
    pub fn rekey_sa(protocol: ProtocolId, spi: u32) -> Self {
        Self {
            protocol,
            spi: spi.to_be_bytes().to_vec(),
            ty: NotifyType::REKEY_SA,
            data: Vec::new(),
        }
    }

    /// The SPI as an ESP/AH SPI, if it is 4 bytes long.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }
}

impl Codec<'_> for Notify {
    fn encode(&self, out: &mut Vec<u8>) {
        let spi_size = u8::try_from(self.spi.len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[self.protocol.0, spi_size]);
        out.extend_from_slice(&self.ty.0.to_be_bytes());
        out.extend_from_slice(&self.spi[..usize::from(spi_size)]);
        out.extend_from_slice(&self.data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let protocol = ProtocolId(r.u8("Notify payload")?);
        let spi_size = r.u8("Notify payload")?;
        let ty = NotifyType(r.u16("Notify payload")?);
        let spi = r.take(spi_size.into(), "Notify SPI")?.to_vec();
        Ok(Self {
            protocol,
            spi,
            ty,
            data: r.take_rest().to_vec(),
        })
    }
}

/// Delete payload (RFC 7296 §3.11).
///
/// For the IKE SA the SPI size and count are 0; for ESP/AH each SPI is the
/// sender's *inbound* 4-byte SPI.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Delete {
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// SPIs to delete (empty for IKE).
    pub spis: Vec<u32>,
}

impl Delete {
    /// Delete of the IKE SA that carries this payload.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spis: Vec::new(),
        }
    }

    /// Delete of ESP Child SAs by the sender's inbound SPIs.
    pub fn esp(spis: Vec<u32>) -> Self {
        Self {
            protocol: ProtocolId::ESP,
            spis,
        }
    }
}

impl Codec<'_> for Delete {
    fn encode(&self, out: &mut Vec<u8>) {
        let spi_size = if self.protocol == ProtocolId::IKE {
            0
        } else {
            4
        };
        let n = if spi_size == 0 {
            0
        } else {
            self.spis.len().min(usize::from(u16::MAX))
        };
        out.push(self.protocol.0);
        out.push(spi_size);
        out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
        for spi in self.spis.iter().take(n) {
            out.extend_from_slice(&spi.to_be_bytes());
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let protocol = ProtocolId(r.u8("Delete payload")?);
        let spi_size = r.u8("Delete payload")?;
        let n = usize::from(r.u16("Delete payload")?);
        let want = if protocol == ProtocolId::IKE { 0 } else { 4 };
        if spi_size != want {
            return Err(InvalidMessage::InvalidValue {
                what: "Delete SPI size",
                value: spi_size.into(),
            });
        }
        if (spi_size == 0 && n != 0) || n * usize::from(spi_size) != r.left() {
            return Err(InvalidMessage::BadCount {
                what: "Delete SPIs",
                count: n,
            });
        }
        let mut spis = Vec::with_capacity(if spi_size == 0 { 0 } else { n });
        if spi_size == 4 {
            for _ in 0..n {
                spis.push(r.u32("Delete SPI")?);
            }
        }
        Ok(Self { protocol, spis })
    }
}
