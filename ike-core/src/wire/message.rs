//! A whole IKE message: header plus payload chain (RFC 7296 §3).

use super::codec::{Codec, InvalidMessage, Reader, patch_u32};
use super::enums::{NotifyType, PayloadType};
use super::header::Header;
use super::payload::{Notify, Payload, Sk, encode_chain, read_chain};

/// An IKE message as decoded from (or to be encoded into) one datagram,
/// without the port-4500 non-ESP marker.
///
/// If the message is protected, the last payload is [`Payload::Sk`] (or
/// [`Payload::Skf`]) holding the ciphertext; use
/// [`crate::crypto::sk::open`] to get the inner payloads.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// The header; `next_payload` and `length` are recomputed on encode.
    pub header: Header,
    /// Payloads in wire order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decodes one datagram (after removing any non-ESP marker). The header
    /// length must equal `datagram.len()`. Unknown payloads are kept; check
    /// [`Message::unsupported_critical`] before acting on the message.
    pub fn decode(datagram: &[u8]) -> Result<Self, InvalidMessage> {
        let header = Header::peek(datagram)?;
        let mut r = Reader::new(datagram.get(Header::LEN..).unwrap_or_default());
        let payloads = read_chain(header.next_payload, &mut r)?;
        Ok(Self { header, payloads })
    }

    /// Appends the wire form; Next Payload and Length fields are computed.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.header.encode(out);
        let first = encode_chain(&self.payloads, out);
        out[start + 16] = first.0;
        let len = out.len() - start;
        patch_u32(out, start + Header::LENGTH_OFFSET, len);
    }

    /// The wire form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(256);
        self.encode(&mut v);
        v
    }

    /// All notifies, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(Payload::as_notify)
    }

    /// The first notify of type `ty`.
    pub fn notify(&self, ty: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.ty == ty)
    }

    /// The first error notify (type < 16384), if any.
    pub fn error_notify(&self) -> Option<&Notify> {
        self.notifies().find(|n| n.ty.is_error())
    }

    /// The type of the first unknown payload with the Critical bit set: the
    /// message must be rejected with N(UNSUPPORTED_CRITICAL_PAYLOAD) whose
    /// data is this one byte (RFC 7296 §2.5, §3.10.1).
    pub fn unsupported_critical(&self) -> Option<PayloadType> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Unknown(u) if u.critical => Some(u.ty),
            _ => None,
        })
    }

    /// The SK payload, if the message is protected.
    pub fn sk(&self) -> Option<&Sk> {
        match self.payloads.last() {
            Some(Payload::Sk(sk)) => Some(sk),
            _ => None,
        }
    }
}

macro_rules! first_getter {
    ($($(#[$m:meta])* $fn:ident => $var:ident: $t:ty;)*) => {
        impl Message {
            $(
                $(#[$m])*
                pub fn $fn(&self) -> Option<&$t> {
                    self.payloads.iter().find_map(|p| match p {
                        Payload::$var(x) => Some(x),
                        _ => None,
                    })
                }
            )*
        }
    };
}

first_getter! {
    /// The first SA payload.
    sa => Sa: super::payload::Sa;
    /// The first KE payload.
    ke => Ke: super::payload::Ke;
    /// The first Nonce payload.
    nonce => Nonce: super::payload::Nonce;
    /// The IDi payload.
    idi => Idi: super::payload::Id;
    /// The IDr payload.
    idr => Idr: super::payload::Id;
    /// The first AUTH payload.
    auth => Auth: super::payload::Auth;
    /// The TSi payload.
    tsi => Tsi: super::payload::Ts;
    /// The TSr payload.
    tsr => Tsr: super::payload::Ts;
    /// The first CP payload.
    cp => Cp: super::payload::Cp;
}
