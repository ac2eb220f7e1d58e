//! Security Association payload: proposals, transforms and transform
//! attributes (RFC 7296 §3.3).

use crate::wire::codec::{Codec, InvalidMessage, Reader, patch_u16};
use crate::wire::enums::{
    EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId, TransformAttrType, TransformType,
};

/// Decoder bound: proposals per SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Decoder bound: transforms per proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Decoder bound: attributes per transform.
pub const MAX_ATTRS: usize = 8;

/// SA payload body (RFC 7296 §3.3): one or more proposals.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Sa {
    /// Proposals in the sender's order of preference.
    pub proposals: Vec<Proposal>,
}

/// Proposal substructure (RFC 7296 §3.3.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Proposal {
    /// Proposal Num: 1 for the first, +1 for each; a response echoes the
    /// number of the accepted proposal.
    pub num: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// Sending entity's SPI: empty for the initial IKE SA, 8 bytes for an
    /// IKE rekey, 4 bytes for ESP/AH.
    pub spi: Vec<u8>,
    /// Transforms, any order.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The 4-byte ESP/AH SPI, if the SPI has that size.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The 8-byte IKE SPI (IKE SA rekey), if the SPI has that size.
    pub fn spi_u64(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
    }

    /// Transforms of one type, in order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }
}

/// Transform substructure (RFC 7296 §3.3.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transform {
    /// Transform type.
    pub ty: TransformType,
    /// Transform ID; its registry depends on `ty` (see the `as_*` getters).
    pub id: u16,
    /// Attributes; in practice only Key Length.
    pub attrs: Vec<TransformAttr>,
}

impl Transform {
    /// An ENCR transform with an optional Key Length attribute (bits).
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        let attrs = key_bits
            .map(|b| TransformAttr {
                ty: TransformAttrType::KEY_LENGTH,
                value: AttrValue::Tv(b),
            })
            .into_iter()
            .collect();
        Self {
            ty: TransformType::ENCR,
            id: id.0,
            attrs,
        }
    }

    /// A PRF transform.
    pub fn prf(id: PrfId) -> Self {
        Self::plain(TransformType::PRF, id.0)
    }

    /// An INTEG transform.
    pub fn integ(id: IntegId) -> Self {
        Self::plain(TransformType::INTEG, id.0)
    }

    /// A KE (DH group) transform.
    pub fn ke(id: KeId) -> Self {
        Self::plain(TransformType::KE, id.0)
    }

    /// An ESN transform.
    pub fn esn(id: EsnId) -> Self {
        Self::plain(TransformType::ESN, id.0)
    }

    fn plain(ty: TransformType, id: u16) -> Self {
        Self {
            ty,
            id,
            attrs: Vec::new(),
        }
    }

    /// The Key Length attribute (RFC 7296 §3.3.5), in bits.
    pub fn key_length(&self) -> Option<u16> {
        self.attrs.iter().find_map(|a| match a.value {
            AttrValue::Tv(v) if a.ty == TransformAttrType::KEY_LENGTH => Some(v),
            _ => None,
        })
    }

    /// The ID as an encryption algorithm, if `ty` is ENCR.
    pub fn as_encr(&self) -> Option<EncrId> {
        (self.ty == TransformType::ENCR).then_some(EncrId(self.id))
    }

    /// The ID as a PRF, if `ty` is PRF.
    pub fn as_prf(&self) -> Option<PrfId> {
        (self.ty == TransformType::PRF).then_some(PrfId(self.id))
    }

    /// The ID as an integrity algorithm, if `ty` is INTEG.
    pub fn as_integ(&self) -> Option<IntegId> {
        (self.ty == TransformType::INTEG).then_some(IntegId(self.id))
    }

    /// The ID as a key exchange method, if `ty` is KE.
    pub fn as_ke(&self) -> Option<KeId> {
        (self.ty == TransformType::KE).then_some(KeId(self.id))
    }

    /// The ID as an ESN choice, if `ty` is ESN.
    pub fn as_esn(&self) -> Option<EsnId> {
        (self.ty == TransformType::ESN).then_some(EsnId(self.id))
    }
}

/// Transform attribute (RFC 7296 §3.3.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransformAttr {
    /// Attribute type without the AF bit.
    pub ty: TransformAttrType,
    /// TV (AF = 1) or TLV (AF = 0) value.
    pub value: AttrValue,
}

/// Attribute value format (AF bit).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AttrValue {
    /// Type/Value: a 2-byte value.
    Tv(u16),
    /// Type/Length/Value.
    Tlv(Vec<u8>),
}

impl Codec<'_> for TransformAttr {
    fn encode(&self, out: &mut Vec<u8>) {
        match &self.value {
            AttrValue::Tv(v) => {
                out.extend_from_slice(&(0x8000 | self.ty.0).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Tlv(v) => {
                out.extend_from_slice(&(self.ty.0 & 0x7fff).to_be_bytes());
                let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&v[..usize::from(len)]);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let t = r.u16("transform attribute")?;
        let ty = TransformAttrType(t & 0x7fff);
        let value = if t & 0x8000 != 0 {
            AttrValue::Tv(r.u16("transform attribute")?)
        } else {
            let len = r.u16("transform attribute")?;
            AttrValue::Tlv(r.take(len.into(), "transform attribute")?.to_vec())
        };
        Ok(Self { ty, value })
    }
}

impl Codec<'_> for Transform {
    fn encode(&self, out: &mut Vec<u8>) {
        // "Last Substruc" is patched by the proposal encoder.
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, self.ty.0, 0]);
        out.extend_from_slice(&self.id.to_be_bytes());
        for a in &self.attrs {
            a.encode(out);
        }
        let len = out.len() - start;
        patch_u16(out, start + 2, len);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let _last = r.u8("transform")?;
        let _reserved = r.u8("transform")?;
        let len = usize::from(r.u16("transform")?);
        if len < 8 {
            return Err(InvalidMessage::BadLength {
                what: "transform",
                len,
            });
        }
        let mut body = r.sub(len - 4, "transform")?;
        let ty = TransformType(body.u8("transform")?);
        let _reserved = body.u8("transform")?;
        let id = body.u16("transform")?;
        let mut attrs = Vec::new();
        while !body.is_empty() {
            if attrs.len() == MAX_ATTRS {
                return Err(InvalidMessage::BadCount {
                    what: "transform attributes",
                    count: attrs.len() + 1,
                });
            }
            attrs.push(TransformAttr::read(&mut body)?);
        }
        Ok(Self { ty, id, attrs })
    }
}

/// "Last Substruc" values (RFC 7296 §3.3.1, §3.3.2).
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;

impl Codec<'_> for Proposal {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let ntrans = u8::try_from(self.transforms.len()).unwrap_or(u8::MAX);
        let spi_size = u8::try_from(self.spi.len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[0, 0, 0, 0, self.num, self.protocol.0, spi_size, ntrans]);
        out.extend_from_slice(&self.spi[..usize::from(spi_size)]);
        let n = usize::from(ntrans);
        for (i, t) in self.transforms.iter().take(n).enumerate() {
            let at = out.len();
            t.encode(out);
            if i + 1 < n {
                out[at] = MORE_TRANSFORMS;
            }
        }
        let len = out.len() - start;
        patch_u16(out, start + 2, len);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let _last = r.u8("proposal")?;
        let _reserved = r.u8("proposal")?;
        let len = usize::from(r.u16("proposal")?);
        if len < 8 {
            return Err(InvalidMessage::BadLength {
                what: "proposal",
                len,
            });
        }
        let mut body = r.sub(len - 4, "proposal")?;
        let num = body.u8("proposal")?;
        let protocol = ProtocolId(body.u8("proposal")?);
        let spi_size = body.u8("proposal")?;
        let ntrans = usize::from(body.u8("proposal")?);
        let spi = body.take(spi_size.into(), "proposal SPI")?.to_vec();
        if ntrans > MAX_TRANSFORMS {
            return Err(InvalidMessage::BadCount {
                what: "transforms",
                count: ntrans,
            });
        }
        let mut transforms = Vec::with_capacity(ntrans);
        for i in 0..ntrans {
            let last = body.rest().first().copied();
            let want = if i + 1 < ntrans { MORE_TRANSFORMS } else { 0 };
            if last.is_some_and(|l| l != want) {
                return Err(InvalidMessage::InvalidValue {
                    what: "transform Last Substruc",
                    value: last.map_or(0, u64::from),
                });
            }
            transforms.push(Transform::read(&mut body)?);
        }
        body.expect_empty("proposal")?;
        Ok(Self {
            num,
            protocol,
            spi,
            transforms,
        })
    }
}

impl Codec<'_> for Sa {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let at = out.len();
            p.encode(out);
            if i + 1 < n {
                out[at] = MORE_PROPOSALS;
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let mut proposals = Vec::new();
        loop {
            if proposals.len() == MAX_PROPOSALS {
                return Err(InvalidMessage::BadCount {
                    what: "proposals",
                    count: proposals.len() + 1,
                });
            }
            let last = r.rest().first().copied().unwrap_or(0);
            proposals.push(Proposal::read(r)?);
            match last {
                0 => break,
                MORE_PROPOSALS => {}
                v => {
                    return Err(InvalidMessage::InvalidValue {
                        what: "proposal Last Substruc",
                        value: v.into(),
                    });
                }
            }
        }
        r.expect_empty("SA payload")?;
        Ok(Self { proposals })
    }
}
