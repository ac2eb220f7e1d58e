//! Encrypted and Authenticated payload SK (RFC 7296 §3.14) and its fragment
//! form SKF (RFC 7383 §2.5), both opaque until decrypted by
//! [`crate::crypto::sk`].

use crate::wire::codec::{InvalidMessage, Reader};
use crate::wire::enums::PayloadType;

/// SK payload: the generic header's Next Payload names the first inner
/// payload, and the body is IV ‖ ciphertext ‖ ICV.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sk {
    /// Type of the first payload inside (NONE when empty, e.g. DPD).
    pub first_inner: PayloadType,
    /// IV ‖ encrypted (payloads ‖ padding ‖ pad length) ‖ ICV.
    pub data: Vec<u8>,
}

/// SKF payload (RFC 7383 §2.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Skf {
    /// First inner payload type in fragment 1, NONE in the others.
    pub first_inner: PayloadType,
    /// Fragment Number, from 1.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// IV ‖ ciphertext ‖ ICV of this fragment.
    pub data: Vec<u8>,
}

impl Skf {
    /// Encodes the body; `first_inner` goes into the generic header.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.data);
    }

    /// Reads the body (after the generic header).
    pub(crate) fn read_body(
        first_inner: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Self, InvalidMessage> {
        let number = r.u16("SKF payload")?;
        let total = r.u16("SKF payload")?;
        // RFC 7383 §2.5: 1 <= number <= total.
        if number == 0 || number > total {
            return Err(InvalidMessage::InvalidValue {
                what: "SKF fragment number",
                value: number.into(),
            });
        }
        Ok(Self {
            first_inner,
            number,
            total,
            data: r.take_rest().to_vec(),
        })
    }
}
