//! Configuration payload (RFC 7296 §3.15).

use crate::wire::codec::{Codec, InvalidMessage, Reader};
use crate::wire::enums::{CfgAttrType, CfgType};

/// Decoder bound: attributes per CP payload.
pub const MAX_CP_ATTRS: usize = 64;

/// Configuration payload (RFC 7296 §3.15).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cp {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
    pub cfg_type: CfgType,
    /// Attributes.
    pub attrs: Vec<CpAttr>,
}

/// Configuration attribute (RFC 7296 §3.15.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CpAttr {
    /// Attribute type (15 bits; the reserved bit is sent as 0).
    pub ty: CfgAttrType,
    /// Value; empty in a request for "any".
    pub value: Vec<u8>,
}

impl Codec<'_> for Cp {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        for a in &self.attrs {
            let len = u16::try_from(a.value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&(a.ty.0 & 0x7fff).to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&a.value[..usize::from(len)]);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let cfg_type = CfgType(r.u8("CP payload")?);
        r.take(3, "CP payload")?;
        let mut attrs = Vec::new();
        while !r.is_empty() {
            if attrs.len() == MAX_CP_ATTRS {
                return Err(InvalidMessage::BadCount {
                    what: "CP attributes",
                    count: attrs.len() + 1,
                });
            }
            let ty = CfgAttrType(r.u16("CP attribute")? & 0x7fff);
            let len = r.u16("CP attribute")?;
            attrs.push(CpAttr {
                ty,
                value: r.take(len.into(), "CP attribute")?.to_vec(),
            });
        }
        Ok(Self { cfg_type, attrs })
    }
}
