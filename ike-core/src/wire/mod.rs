//! IKEv2 wire codec (RFC 7296 §3, RFC 7383 SKF, RFC 3948 non-ESP marker).
//!
//! # Using it
//!
//! * **Decode**: [`Message::decode`]`(datagram)` (strip the port-4500
//!   marker first with [`natt::strip_marker`]). It checks every length and
//!   count, never panics and allocates at most in proportion to the input
//!   (counts are bounded by [`payload::MAX_PAYLOADS`] and friends). An
//!   [`InvalidMessage`] maps to the notify to answer with
//!   ([`InvalidMessage::notify`]). Unknown payloads are kept as
//!   [`payload::UnknownPayload`]; if [`Message::unsupported_critical`]
//!   returns a type, answer `N(UNSUPPORTED_CRITICAL_PAYLOAD)`.
//! * **Protected messages**: the last payload is [`payload::Payload::Sk`];
//!   [`crate::crypto::sk::open`] verifies and decrypts it into the inner
//!   payloads, [`crate::crypto::sk::seal`] builds a protected message.
//! * **Encode**: build a [`Message`] with [`Header::new`] and a payload
//!   list; [`Message::encode`] fills Next Payload and Length fields.
//!   `encode(decode(x)) == x` for every valid message. Encoding is
//!   infallible: sizes that do not fit their wire field (a payload over
//!   65535 bytes, more than 255 selectors) saturate, so keep messages
//!   below the UDP limit.
//! * **Registries**: [`enums`] holds IANA code points as open newtypes
//!   (`NotifyType::SA_RESOURCE_INFO`, `NotifyType(60000)` both work).

pub mod codec;
pub mod enums;
pub mod header;
pub mod message;
pub mod natt;
pub mod payload;
pub mod triage;

pub use codec::{Codec, InvalidMessage, Reader};
pub use enums::*;
pub use header::{Flags, Header};
pub use message::Message;
pub use payload::{
    Auth, Cert, CertReq, Cp, CpAttr, Delete, Eap, Id, Ke, Nonce, Notify, Payload, Proposal, Sa, Sk,
    Skf, TrafficSelector, Transform, TransformAttr, Ts, TsRange, UnknownPayload, VendorId,
};
