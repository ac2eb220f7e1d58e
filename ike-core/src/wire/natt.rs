//! UDP encapsulation on port 4500 (RFC 3948 §2.2, RFC 7296 §2.23).
//!
//! On port 4500 an IKE message is preceded by the 4-byte non-ESP marker
//! (zero), an ESP packet starts with its non-zero SPI, and a single 0xFF
//! byte is a NAT keepalive.

/// The non-ESP marker.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The IKE port.
pub const IKE_PORT: u16 = 500;
/// The NAT-T port.
pub const NATT_PORT: u16 = 4500;

/// What a datagram received on port 4500 carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NattDatagram<'a> {
    /// An IKE message (marker removed).
    Ike(&'a [u8]),
    /// An ESP packet (starts with the SPI); normally consumed by the kernel.
    Esp(&'a [u8]),
    /// A NAT keepalive (RFC 3948 §2.3).
    Keepalive,
    /// Too short to be any of the above.
    Invalid,
}

/// Classifies a datagram received on port 4500.
pub fn classify_4500(d: &[u8]) -> NattDatagram<'_> {
    match d {
        [0xff] => NattDatagram::Keepalive,
        [0, 0, 0, 0, rest @ ..] => NattDatagram::Ike(rest),
        _ if d.len() >= 8 => NattDatagram::Esp(d),
        _ => NattDatagram::Invalid,
    }
}

/// Strips the non-ESP marker: `Some(ike)` if `d` is an IKE message.
pub fn strip_marker(d: &[u8]) -> Option<&[u8]> {
    match classify_4500(d) {
        NattDatagram::Ike(m) => Some(m),
        _ => None,
    }
}

/// Prepends the non-ESP marker to an encoded IKE message in place.
pub fn add_marker(msg: &mut Vec<u8>) {
    msg.splice(0..0, NON_ESP_MARKER);
}

/// The 1-byte NAT keepalive payload.
pub const KEEPALIVE: [u8; 1] = [0xff];
