//! Traffic Selector payloads TSi/TSr (RFC 7296 §3.13).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::{Codec, InvalidMessage, Reader, patch_u16};
use crate::wire::enums::TsType;

/// Decoder bound: selectors per TS payload.
pub const MAX_SELECTORS: usize = 64;

/// TSi or TSr payload body (RFC 7296 §3.13).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Ts {
    /// Traffic selectors.
    pub selectors: Vec<TrafficSelector>,
}

/// An address range with protocol and port range (RFC 7296 §3.13.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TsRange<A> {
    /// IP protocol; 0 = any.
    pub ip_proto: u8,
    /// First port (0 for "any" with `end_port` 65535; ICMP type/code).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: A,
    /// Last address.
    pub end: A,
}

impl<A> TsRange<A> {
    /// All ports and protocols of the address range `start..=end`.
    pub fn any(start: A, end: A) -> Self {
        Self {
            ip_proto: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }
}

/// One traffic selector (RFC 7296 §3.13.1).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE (7).
    Ipv4(TsRange<Ipv4Addr>),
    /// TS_IPV6_ADDR_RANGE (8).
    Ipv6(TsRange<Ipv6Addr>),
    /// Another type (e.g. TS_SECLABEL, RFC 9478), kept opaque.
    Other {
        /// TS type.
        ty: TsType,
        /// The second byte of the selector (IP protocol or reserved).
        byte1: u8,
        /// Everything after the 4-byte selector header.
        data: Vec<u8>,
    },
}

impl TrafficSelector {
    /// The TS type.
    pub fn ty(&self) -> TsType {
        match self {
            Self::Ipv4(_) => TsType::IPV4_ADDR_RANGE,
            Self::Ipv6(_) => TsType::IPV6_ADDR_RANGE,
            Self::Other { ty, .. } => *ty,
        }
    }
}

fn write_range(out: &mut Vec<u8>, ty: TsType, proto: u8, sp: u16, ep: u16, s: &[u8], e: &[u8]) {
    let len = 8 + s.len() + e.len();
    out.extend_from_slice(&[ty.0, proto]);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&sp.to_be_bytes());
    out.extend_from_slice(&ep.to_be_bytes());
    out.extend_from_slice(s);
    out.extend_from_slice(e);
}

impl Codec<'_> for TrafficSelector {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ipv4(r) => write_range(
                out,
                self.ty(),
                r.ip_proto,
                r.start_port,
                r.end_port,
                &r.start.octets(),
                &r.end.octets(),
            ),
            Self::Ipv6(r) => write_range(
                out,
                self.ty(),
                r.ip_proto,
                r.start_port,
                r.end_port,
                &r.start.octets(),
                &r.end.octets(),
            ),
            Self::Other { ty, byte1, data } => {
                let start = out.len();
                out.extend_from_slice(&[ty.0, *byte1, 0, 0]);
                out.extend_from_slice(data);
                let len = out.len() - start;
                patch_u16(out, start + 2, len);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let ty = TsType(r.u8("traffic selector")?);
        let byte1 = r.u8("traffic selector")?;
        let len = usize::from(r.u16("traffic selector")?);
        if len < 4 {
            return Err(InvalidMessage::BadLength {
                what: "traffic selector",
                len,
            });
        }
        let mut b = r.sub(len - 4, "traffic selector")?;
        let alen = match ty {
            TsType::IPV4_ADDR_RANGE => 4,
            TsType::IPV6_ADDR_RANGE => 16,
            _ => {
                return Ok(Self::Other {
                    ty,
                    byte1,
                    data: b.take_rest().to_vec(),
                });
            }
        };
        if len != 8 + 2 * alen {
            return Err(InvalidMessage::BadLength {
                what: "traffic selector",
                len,
            });
        }
        let start_port = b.u16("traffic selector")?;
        let end_port = b.u16("traffic selector")?;
        let s = b.take(alen, "traffic selector")?;
        let e = b.take(alen, "traffic selector")?;
        Ok(match alen {
            4 => {
                let s: [u8; 4] = s.try_into().unwrap_or_default();
                let e: [u8; 4] = e.try_into().unwrap_or_default();
                Self::Ipv4(TsRange {
                    ip_proto: byte1,
                    start_port,
                    end_port,
                    start: s.into(),
                    end: e.into(),
                })
            }
            _ => {
                let s: [u8; 16] = s.try_into().unwrap_or_default();
                let e: [u8; 16] = e.try_into().unwrap_or_default();
                Self::Ipv6(TsRange {
                    ip_proto: byte1,
                    start_port,
                    end_port,
                    start: s.into(),
                    end: e.into(),
                })
            }
        })
    }
}

impl Codec<'_> for Ts {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = self.selectors.len().min(usize::from(u8::MAX));
        out.extend_from_slice(&[u8::try_from(n).unwrap_or(u8::MAX), 0, 0, 0]);
        for s in self.selectors.iter().take(n) {
            s.encode(out);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let n = usize::from(r.u8("TS payload")?);
        r.take(3, "TS payload")?;
        if n > MAX_SELECTORS {
            return Err(InvalidMessage::BadCount {
                what: "traffic selectors",
                count: n,
            });
        }
        let mut selectors = Vec::with_capacity(n);
        for _ in 0..n {
            selectors.push(TrafficSelector::read(r)?);
        }
        r.expect_empty("TS payload")?;
        Ok(Self { selectors })
    }
}
