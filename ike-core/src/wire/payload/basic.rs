//! Payloads with a small fixed header and opaque data: KE (§3.4), ID (§3.5),
//! CERT (§3.6), CERTREQ (§3.7), AUTH (§3.8), Nonce (§3.9), Vendor ID
//! (§3.12) and EAP (§3.16) of RFC 7296.

use crate::wire::codec::{Codec, InvalidMessage, Reader};
use crate::wire::enums::{AuthMethod, CertEncoding, IdType, KeId};

/// Key Exchange payload (RFC 7296 §3.4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ke {
    /// The group of `data`.
    pub group: KeId,
    /// Public value (group 14: 256 B, 19: 64 B x‖y, 20: 96 B, 31: 32 B).
    pub data: Vec<u8>,
}

impl Codec<'_> for Ke {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let group = KeId(r.u16("KE payload")?);
        r.take(2, "KE payload")?;
        Ok(Self {
            group,
            data: r.take_rest().to_vec(),
        })
    }
}

/// Identification payload body, IDi or IDr (RFC 7296 §3.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Id {
    /// ID type.
    pub ty: IdType,
    /// Identification data (an FQDN is ASCII without NUL).
    pub data: Vec<u8>,
}

impl Id {
    /// The body as used for MACedIDForI/R (RFC 7296 §2.15): type, three
    /// reserved bytes and the data.
    pub fn body(&self) -> Vec<u8> {
        self.get_encoding()
    }
}

impl Codec<'_> for Id {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.ty.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let ty = IdType(r.u8("ID payload")?);
        r.take(3, "ID payload")?;
        Ok(Self {
            ty,
            data: r.take_rest().to_vec(),
        })
    }
}

/// Certificate payload (RFC 7296 §3.6).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cert {
    /// Encoding of `data`.
    pub encoding: CertEncoding,
    /// Certificate data.
    pub data: Vec<u8>,
}

/// Certificate Request payload (RFC 7296 §3.7).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CertReq {
    /// Requested encoding.
    pub encoding: CertEncoding,
    /// Certification authority data (SHA-1 hashes of CA public keys).
    pub data: Vec<u8>,
}

macro_rules! enc_data_codec {
    ($t:ident, $what:literal) => {
        impl Codec<'_> for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.push(self.encoding.0);
                out.extend_from_slice(&self.data);
            }

            fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
                Ok(Self {
                    encoding: CertEncoding(r.u8($what)?),
                    data: r.take_rest().to_vec(),
                })
            }
        }
    };
}
enc_data_codec!(Cert, "CERT payload");
enc_data_codec!(CertReq, "CERTREQ payload");

/// Authentication payload (RFC 7296 §3.8).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Auth {
    /// Authentication method.
    pub method: AuthMethod,
    /// Authentication data (for PSK: the PRF output, §2.15).
    pub data: Vec<u8>,
}

impl Codec<'_> for Auth {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.method.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let method = AuthMethod(r.u8("AUTH payload")?);
        r.take(3, "AUTH payload")?;
        Ok(Self {
            method,
            data: r.take_rest().to_vec(),
        })
    }
}

macro_rules! opaque_payload {
    ($(#[$m:meta])* $t:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Debug, Default)]
        pub struct $t(pub Vec<u8>);

        impl Codec<'_> for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }

            fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
                Ok(Self(r.take_rest().to_vec()))
            }
        }
    };
}

opaque_payload!(
    /// Nonce payload (RFC 7296 §3.9): 16 to 256 bytes, at least half the
    /// PRF key size (checked by the engine, not the codec).
    Nonce
);
opaque_payload!(
    /// Vendor ID payload (RFC 7296 §3.12).
    VendorId
);
opaque_payload!(
    /// EAP payload (RFC 7296 §3.16), kept opaque.
    Eap
);

impl Nonce {
    /// RFC 7296 §3.9 minimum length.
    pub const MIN_LEN: usize = 16;
    /// RFC 7296 §3.9 maximum length.
    pub const MAX_LEN: usize = 256;
}
