//! Payloads (RFC 7296 §3.2–§3.16, RFC 7383 §2.5) and the payload chain.

mod basic;
mod cp;
mod notify;
mod sa;
mod sk;
mod ts;

pub use basic::{Auth, Cert, CertReq, Eap, Id, Ke, Nonce, VendorId};
pub use cp::{Cp, CpAttr, MAX_CP_ATTRS};
pub use notify::{Delete, Notify};
pub use sa::{
    AttrValue, MAX_ATTRS, MAX_PROPOSALS, MAX_TRANSFORMS, Proposal, Sa, Transform, TransformAttr,
};
pub use sk::{Sk, Skf};
pub use ts::{MAX_SELECTORS, TrafficSelector, Ts, TsRange};

use super::codec::{Codec, InvalidMessage, Reader, patch_u16};
use super::enums::PayloadType;

/// Decoder bound: payloads in one chain (outer or inside SK).
pub const MAX_PAYLOADS: usize = 128;

/// Generic payload header length (RFC 7296 §3.2).
pub const GENERIC_HEADER_LEN: usize = 4;

/// A payload the codec does not know, kept byte for byte (RFC 7296 §2.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownPayload {
    /// Its payload type.
    pub ty: PayloadType,
    /// The Critical bit: if set, the message must be rejected with
    /// UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5, §3.2).
    pub critical: bool,
    /// The body after the generic header.
    pub body: Vec<u8>,
}

/// One payload of a message (outer, or inner after SK decryption).
///
/// Known payload types are always encoded with the Critical bit clear, as
/// RFC 7296 §3.2 requires for them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// SA (33).
    Sa(Sa),
    /// KE (34).
    Ke(Ke),
    /// IDi (35).
    Idi(Id),
    /// IDr (36).
    Idr(Id),
    /// CERT (37).
    Cert(Cert),
    /// CERTREQ (38).
    CertReq(CertReq),
    /// AUTH (39).
    Auth(Auth),
    /// Ni/Nr (40).
    Nonce(Nonce),
    /// N (41).
    Notify(Notify),
    /// D (42).
    Delete(Delete),
    /// V (43).
    VendorId(VendorId),
    /// TSi (44).
    Tsi(Ts),
    /// TSr (45).
    Tsr(Ts),
    /// SK (46): must be the last payload.
    Sk(Sk),
    /// CP (47).
    Cp(Cp),
    /// EAP (48).
    Eap(Eap),
    /// SKF (53): must be the last payload.
    Skf(Skf),
    /// Anything else.
    Unknown(UnknownPayload),
}

impl Payload {
    /// The payload type.
    pub fn ty(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::Idi(_) => PayloadType::IDI,
            Self::Idr(_) => PayloadType::IDR,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::Tsi(_) => PayloadType::TSI,
            Self::Tsr(_) => PayloadType::TSR,
            Self::Sk(_) => PayloadType::SK,
            Self::Cp(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Skf(_) => PayloadType::SKF,
            Self::Unknown(u) => u.ty,
        }
    }

    /// The body after the generic header.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Sa(p) => p.encode(out),
            Self::Ke(p) => p.encode(out),
            Self::Idi(p) | Self::Idr(p) => p.encode(out),
            Self::Cert(p) => p.encode(out),
            Self::CertReq(p) => p.encode(out),
            Self::Auth(p) => p.encode(out),
            Self::Nonce(p) => p.encode(out),
            Self::Notify(p) => p.encode(out),
            Self::Delete(p) => p.encode(out),
            Self::VendorId(p) => p.encode(out),
            Self::Tsi(p) | Self::Tsr(p) => p.encode(out),
            Self::Sk(p) => out.extend_from_slice(&p.data),
            Self::Cp(p) => p.encode(out),
            Self::Eap(p) => p.encode(out),
            Self::Skf(p) => p.encode_body(out),
            Self::Unknown(p) => out.extend_from_slice(&p.body),
        }
    }

    /// Parses a body of type `ty`; `next` is the generic header's Next
    /// Payload (only SK/SKF keep it, as their first inner type).
    fn read_body(
        ty: PayloadType,
        critical: bool,
        next: PayloadType,
        body: &[u8],
    ) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(body);
        let p = match ty {
            PayloadType::SA => Self::Sa(Sa::read(&mut r)?),
            PayloadType::KE => Self::Ke(Ke::read(&mut r)?),
            PayloadType::IDI => Self::Idi(Id::read(&mut r)?),
            PayloadType::IDR => Self::Idr(Id::read(&mut r)?),
            PayloadType::CERT => Self::Cert(Cert::read(&mut r)?),
            PayloadType::CERTREQ => Self::CertReq(CertReq::read(&mut r)?),
            PayloadType::AUTH => Self::Auth(Auth::read(&mut r)?),
            PayloadType::NONCE => Self::Nonce(Nonce::read(&mut r)?),
            PayloadType::NOTIFY => Self::Notify(Notify::read(&mut r)?),
            PayloadType::DELETE => Self::Delete(Delete::read(&mut r)?),
            PayloadType::VENDOR_ID => Self::VendorId(VendorId::read(&mut r)?),
            PayloadType::TSI => Self::Tsi(Ts::read(&mut r)?),
            PayloadType::TSR => Self::Tsr(Ts::read(&mut r)?),
            PayloadType::SK => Self::Sk(Sk {
                first_inner: next,
                data: r.take_rest().to_vec(),
            }),
            PayloadType::CP => Self::Cp(Cp::read(&mut r)?),
            PayloadType::EAP => Self::Eap(Eap::read(&mut r)?),
            PayloadType::SKF => Self::Skf(Skf::read_body(next, &mut r)?),
            _ => Self::Unknown(UnknownPayload {
                ty,
                critical,
                body: r.take_rest().to_vec(),
            }),
        };
        r.expect_empty("payload body")?;
        Ok(p)
    }

    /// The notify, if this is one.
    pub fn as_notify(&self) -> Option<&Notify> {
        match self {
            Self::Notify(n) => Some(n),
            _ => None,
        }
    }
}

/// Reads a payload chain that starts with type `first` and fills `r`
/// exactly (RFC 7296 §3.2). SK/SKF end the chain: their Next Payload is
/// the first inner type and nothing may follow them.
pub fn read_chain(first: PayloadType, r: &mut Reader<'_>) -> Result<Vec<Payload>, InvalidMessage> {
    let mut out = Vec::new();
    let mut ty = first;
    while ty != PayloadType::NONE {
        if out.len() == MAX_PAYLOADS {
            return Err(InvalidMessage::BadCount {
                what: "payloads",
                count: out.len() + 1,
            });
        }
        let next = PayloadType(r.u8("generic payload header")?);
        let critical = r.u8("generic payload header")? & 0x80 != 0;
        let len = usize::from(r.u16("generic payload header")?);
        if len < GENERIC_HEADER_LEN {
            return Err(InvalidMessage::BadLength {
                what: "payload",
                len,
            });
        }
        let body = r.take(len - GENERIC_HEADER_LEN, "payload body")?;
        let p = Payload::read_body(ty, critical, next, body)?;
        let ends = matches!(p, Payload::Sk(_) | Payload::Skf(_));
        out.push(p);
        if ends {
            if !r.is_empty() {
                return Err(InvalidMessage::Misplaced(ty));
            }
            return Ok(out);
        }
        ty = next;
    }
    r.expect_empty("payload chain")?;
    Ok(out)
}

/// Appends a payload chain; returns the first payload's type (for the
/// header or SK's Next Payload). Lengths and Next Payload fields are
/// computed here.
pub fn encode_chain(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk(sk) => sk.first_inner,
            Payload::Skf(skf) => skf.first_inner,
            _ => payloads.get(i + 1).map_or(PayloadType::NONE, Payload::ty),
        };
        let critical = match p {
            Payload::Unknown(u) if u.critical => 0x80,
            _ => 0,
        };
        let start = out.len();
        out.extend_from_slice(&[next.0, critical, 0, 0]);
        p.encode_body(out);
        let len = out.len() - start;
        patch_u16(out, start + 2, len);
    }
    payloads.first().map_or(PayloadType::NONE, Payload::ty)
}
