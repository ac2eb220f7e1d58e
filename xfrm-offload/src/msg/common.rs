//! Conversions between this crate's types and netlink-packet-xfrm's structs
//! (`struct xfrm_selector`, `xfrm_address_t`, `xfrm_lifetime_cfg`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NlasIterator, Parseable};
use netlink_packet_xfrm::{Address, LifetimeConfig, Selector, XfrmAttrs};
use zeroize::Zeroize;

use crate::error::Error;
use crate::types::{IpPrefix, PortMask, TrafficSelector};

/// `AF_INET`.
pub const AF_INET: u16 = libc::AF_INET as u16;
/// `AF_INET6`.
pub const AF_INET6: u16 = libc::AF_INET6 as u16;
/// `XFRM_INF`: no limit.
pub const XFRM_INF: u64 = u64::MAX;

pub(crate) fn family(addr: &IpAddr) -> u16 {
    if addr.is_ipv4() { AF_INET } else { AF_INET6 }
}

pub(crate) fn to_addr(ip: &IpAddr) -> Address {
    Address::from_ip(ip)
}

/// An `xfrm_address_t` read as `family`; `None` for an unknown family.
pub(crate) fn from_addr(a: &Address, family: u16) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(a.to_ipv4())),
        AF_INET6 => Some(IpAddr::V6(a.to_ipv6())),
        _ => None,
    }
}

pub(crate) fn unspecified(family: u16) -> IpAddr {
    if family == AF_INET6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// Builds a kernel selector (a port `None` has mask 0: any port).
pub(crate) fn to_selector(ts: &TrafficSelector) -> Selector {
    let port = |p: Option<PortMask>| p.map_or((0, 0), |p| (p.port & p.mask, p.mask));
    let (sport, sport_mask) = port(ts.sport);
    let (dport, dport_mask) = port(ts.dport);
    Selector {
        daddr: to_addr(&ts.dst.addr()),
        saddr: to_addr(&ts.src.addr()),
        dport,
        dport_mask,
        sport,
        sport_mask,
        family: family(&ts.src.addr()),
        prefixlen_d: ts.dst.prefix_len(),
        prefixlen_s: ts.src.prefix_len(),
        proto: ts.proto,
        ifindex: ts.ifindex,
        user: 0,
    }
}

/// Reads a kernel selector; a selector with family 0 (an SA without one) reads
/// as `fallback_family` with /0 prefixes.
pub(crate) fn from_selector(s: &Selector, fallback_family: u16) -> TrafficSelector {
    let fam = if s.family == 0 {
        fallback_family
    } else {
        s.family
    };
    let addr = |a: &Address| from_addr(a, fam).unwrap_or_else(|| unspecified(fam));
    let prefix = |a: IpAddr, l: u8| IpPrefix::new(a, l).unwrap_or_else(|_| IpPrefix::host(a));
    let port = |p: u16, m: u16| (m != 0).then_some(PortMask { port: p, mask: m });
    TrafficSelector {
        src: prefix(addr(&s.saddr), s.prefixlen_s),
        dst: prefix(addr(&s.daddr), s.prefixlen_d),
        proto: s.proto,
        sport: port(s.sport, s.sport_mask),
        dport: port(s.dport, s.dport_mask),
        ifindex: s.ifindex,
    }
}

/// Soft or hard limits of an SA (`struct xfrm_lifetime_cfg`). `None` is no
/// limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes processed.
    pub bytes: Option<u64>,
    /// Packets processed.
    pub packets: Option<u64>,
    /// Seconds since the SA was added.
    pub add_seconds: Option<u64>,
    /// Seconds since the SA was first used.
    pub use_seconds: Option<u64>,
}

/// Soft (rekey) and hard (delete) lifetimes. The kernel sends
/// XFRM_MSG_EXPIRE with `hard = 0` at the soft limit and `hard = 1` at the
/// hard limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// Soft limits.
    pub soft: Limits,
    /// Hard limits.
    pub hard: Limits,
}

impl Lifetimes {
    pub(crate) fn to_cfg(self) -> LifetimeConfig {
        let inf = |v: Option<u64>| v.unwrap_or(XFRM_INF);
        let zero = |v: Option<u64>| v.unwrap_or(0);
        LifetimeConfig {
            soft_byte_limit: inf(self.soft.bytes),
            hard_byte_limit: inf(self.hard.bytes),
            soft_packet_limit: inf(self.soft.packets),
            hard_packet_limit: inf(self.hard.packets),
            soft_add_expires_seconds: zero(self.soft.add_seconds),
            hard_add_expires_seconds: zero(self.hard.add_seconds),
            soft_use_expires_seconds: zero(self.soft.use_seconds),
            hard_use_expires_seconds: zero(self.hard.use_seconds),
        }
    }

    pub(crate) fn from_cfg(c: &LifetimeConfig) -> Self {
        let inf = |v: u64| (v != XFRM_INF).then_some(v);
        let zero = |v: u64| (v != 0).then_some(v);
        Self {
            soft: Limits {
                bytes: inf(c.soft_byte_limit),
                packets: inf(c.soft_packet_limit),
                add_seconds: zero(c.soft_add_expires_seconds),
                use_seconds: zero(c.soft_use_expires_seconds),
            },
            hard: Limits {
                bytes: inf(c.hard_byte_limit),
                packets: inf(c.hard_packet_limit),
                add_seconds: zero(c.hard_add_expires_seconds),
                use_seconds: zero(c.hard_use_expires_seconds),
            },
        }
    }
}

/// Parses the attributes following a fixed header.
pub(crate) fn parse_attrs(buf: &[u8]) -> Result<Vec<XfrmAttrs>, Error> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.map_err(|e| Error::Decode(format!("attribute: {e}")))?;
        out.push(XfrmAttrs::parse(&nla).map_err(|e| Error::Decode(format!("attribute: {e}")))?);
    }
    Ok(out)
}

/// Overwrites key material held in parsed or built attributes.
pub(crate) fn wipe_keys(attrs: &mut [XfrmAttrs]) {
    for a in attrs {
        match a {
            XfrmAttrs::EncryptionAlgAead(x) => x.alg_key.zeroize(),
            XfrmAttrs::EncryptionAlg(x)
            | XfrmAttrs::AuthenticationAlg(x)
            | XfrmAttrs::CompressionAlg(x) => x.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlgTrunc(x) => x.alg_key.zeroize(),
            _ => {}
        }
    }
}

/// Checks that `buf` holds at least `len` bytes before a fixed-size parse
/// (netlink-packet-xfrm slices without checking).
pub(crate) fn need(buf: &[u8], len: usize, what: &str) -> Result<(), Error> {
    if buf.len() < len {
        return Err(Error::Decode(format!(
            "{what}: {} bytes, need {len}",
            buf.len()
        )));
    }
    Ok(())
}

/// A NUL-padded kernel algorithm name field.
pub(crate) fn name_field(name: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    let n = name.len().min(63);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Reads a NUL-padded name field.
pub(crate) fn read_name(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_masks_reach_the_kernel_selector_and_back() {
        let p = |s: &str, l| IpPrefix::new(s.parse().expect("ip"), l).expect("prefix");
        let mut ts = TrafficSelector::new(p("10.0.0.0", 24), p("10.0.1.0", 24)).expect("ts");
        ts.proto = 6;
        ts.sport = Some(PortMask {
            port: 1024,
            mask: 0xfe00,
        });
        ts.dport = Some(PortMask::exact(443));
        let k = to_selector(&ts);
        assert_eq!((k.sport, k.sport_mask), (1024, 0xfe00));
        assert_eq!((k.dport, k.dport_mask), (443, 0xffff));
        assert_eq!(from_selector(&k, 0), ts);
        ts.sport = None;
        let k = to_selector(&ts);
        assert_eq!((k.sport, k.sport_mask), (0, 0), "None is any port");
        assert_eq!(from_selector(&k, 0), ts);
    }
}
