//! Which received datagrams may wait when the daemon cannot keep up: a
//! header-only look, for load shedding before the engine sees them.
//!
//! RFC 7296 §2.6: an IKE_SA_INIT request without a COOKIE is the only message
//! an attacker can send from spoofed addresses at no cost to itself. Under
//! load it must not delay the messages of existing IKE SAs (any message whose
//! responder SPI is set, and every response) or the second IKE_SA_INIT of an
//! initiator that returned our cookie.

use super::enums::{ExchangeType, NotifyType, PayloadType};
use super::header::Header;
use super::natt::{NattDatagram, classify_4500};

/// How a daemon should queue a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Part of an existing exchange, or a request that carries a COOKIE.
    Now,
    /// A new IKE_SA_INIT request without a COOKIE: may be shed under load.
    Deferrable,
    /// Not an IKE message the engine would read (ESP, keepalive, runt).
    Ignore,
}

/// Classifies `data`, received on the NAT-T port (`on_nat_port`, non-ESP
/// marker still on) or the IKE port, from its header only.
pub fn urgency(data: &[u8], on_nat_port: bool) -> Urgency {
    let ike = if on_nat_port {
        match classify_4500(data) {
            NattDatagram::Ike(m) => m,
            _ => return Urgency::Ignore,
        }
    } else {
        data
    };
    // A runt, or a bad length or version: the engine would drop it unread.
    let Ok(h) = Header::peek(ike) else {
        return Urgency::Ignore;
    };
    if h.exchange != ExchangeType::IKE_SA_INIT || h.flags.response() || h.spi_r != 0 {
        return Urgency::Now;
    }
    // RFC 7296 §2.6: the cookie is the first payload, N(COOKIE).
    let cookie_first = h.next_payload == PayloadType::NOTIFY
        && ike.get(34..36) == Some(&NotifyType::COOKIE.0.to_be_bytes()[..]);
    if cookie_first {
        Urgency::Now
    } else {
        Urgency::Deferrable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(exchange: u8, flags: u8, spi_r: u64, first: u8) -> Vec<u8> {
        let mut h = vec![0u8; 28];
        h[..8].copy_from_slice(&7u64.to_be_bytes());
        h[8..16].copy_from_slice(&spi_r.to_be_bytes());
        h[16] = first;
        h[17] = 0x20;
        h[18] = exchange;
        h[19] = flags;
        h[27] = 28;
        h
    }

    /// Sets the header's length field to the datagram's length.
    fn sized(mut v: Vec<u8>) -> Vec<u8> {
        let n = u32::try_from(v.len()).expect("len");
        v[24..28].copy_from_slice(&n.to_be_bytes());
        v
    }

    #[test]
    fn only_a_new_init_request_without_cookie_may_wait() {
        let init = header(34, 0x08, 0, 33);
        assert_eq!(urgency(&init, false), Urgency::Deferrable);
        let mut cookie = header(34, 0x08, 0, 41);
        cookie.extend_from_slice(&[33, 0, 0, 12, 0, 0]);
        cookie.extend_from_slice(&NotifyType::COOKIE.0.to_be_bytes());
        let cookie = sized(cookie);
        assert_eq!(urgency(&cookie, false), Urgency::Now);
        let mut other_notify = cookie.clone();
        other_notify[34..36].copy_from_slice(&NotifyType::INVALID_SYNTAX.0.to_be_bytes());
        assert_eq!(urgency(&other_notify, false), Urgency::Deferrable);
        assert_eq!(
            urgency(&header(34, 0x20, 0, 33), false),
            Urgency::Now,
            "response"
        );
        assert_eq!(
            urgency(&header(35, 0x08, 9, 46), false),
            Urgency::Now,
            "IKE_AUTH"
        );
        assert_eq!(urgency(&header(37, 0x00, 9, 46), false), Urgency::Now);
    }

    #[test]
    fn nat_port_marker_keepalives_esp_and_runts() {
        let mut m = vec![0, 0, 0, 0];
        m.extend(header(34, 0x08, 0, 33));
        assert_eq!(urgency(&m, true), Urgency::Deferrable);
        let esp = [0xc0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9];
        assert_eq!(urgency(&esp, true), Urgency::Ignore, "ESP");
        assert_eq!(urgency(&[0xff], true), Urgency::Ignore);
        assert_eq!(urgency(&m[4..24], false), Urgency::Ignore, "runt");
        let mut wrong_len = m[4..].to_vec();
        wrong_len[27] = 99;
        assert_eq!(urgency(&wrong_len, false), Urgency::Ignore, "length field");
    }
}
