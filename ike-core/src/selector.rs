//! Exact decomposition of negotiated traffic selectors (RFC 7296 §3.13.1 ranges)
//! into prefix/mask blocks: one address prefix per side, one port block (port and
//! mask) per side and one protocol, the shape of `struct xfrm_selector`
//! (`include/uapi/linux/xfrm.h`) and of any other longest-prefix classifier.
//!
//! The decomposition only ever narrows: the blocks cover exactly the negotiated
//! ranges, and what no block can express is refused, never widened.
//!
//! It lives in ike-core, not xfrm-offload: it is arithmetic on ranges with no
//! kernel knowledge, and the engine needs the count to answer TS_UNACCEPTABLE
//! (RFC 7296 §2.9) before anything is installed. The daemon turns each
//! [`Block`] into an XFRM selector.

use std::net::IpAddr;

use crate::config::TrafficSelector;
use crate::error::PeerIncompatible;

/// An address prefix `addr/len` (host bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// First address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

/// Every port `p` with `p & mask == port` (XFRM `sport`/`sport_mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortBlock {
    /// First port (bits outside `mask` are zero).
    pub port: u16,
    /// Mask; 0 matches every port, 0xffff one port.
    pub mask: u16,
}

impl PortBlock {
    /// Every port.
    pub const ANY: Self = Self { port: 0, mask: 0 };

    /// Whether `p` is in the block.
    pub fn contains(&self, p: u16) -> bool {
        p & self.mask == self.port
    }
}

/// One expressible selector of a Child SA, seen from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Our side's prefix.
    pub local: Prefix,
    /// The peer's prefix.
    pub remote: Prefix,
    /// IP protocol, 0 = any.
    pub proto: u8,
    /// Our side's ports.
    pub local_port: PortBlock,
    /// The peer's ports.
    pub remote_port: PortBlock,
}

/// A port range on a protocol whose ports the kernel does not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "ports {start}-{end} of IP protocol {proto}: kernel selectors match ports of TCP, UDP, UDP-Lite and SCTP only"
)]
pub struct PortsInexpressible {
    /// The protocol (0 = any).
    pub proto: u8,
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

/// The fewest aligned blocks covering `lo..=hi` in a `bits`-wide space, as
/// (first value, number of host bits).
fn blocks(mut lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    let mut out = Vec::new();
    if lo > hi {
        return out;
    }
    loop {
        let align = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        let span = hi - lo; // block count - 1
        let fit = span.checked_add(1).map_or(128, |n| 127 - n.leading_zeros());
        let size = align.min(fit);
        out.push((lo, size));
        if size >= 128 {
            return out;
        }
        let last = lo + ((1u128 << size) - 1);
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// The CIDR prefixes covering exactly `start..=end` (empty for mixed families or
/// `start > end`).
pub fn prefixes(start: IpAddr, end: IpAddr) -> Vec<Prefix> {
    match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => blocks(u32::from(a).into(), u32::from(b).into(), 32)
            .into_iter()
            .map(|(v, host)| Prefix {
                addr: IpAddr::V4((v as u32).into()),
                len: (32 - host) as u8,
            })
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => blocks(a.into(), b.into(), 128)
            .into_iter()
            .map(|(v, host)| Prefix {
                addr: IpAddr::V6(v.into()),
                len: (128 - host) as u8,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The (port, mask) blocks covering exactly `start..=end`.
pub fn port_blocks(start: u16, end: u16) -> Vec<PortBlock> {
    blocks(start.into(), end.into(), 16)
        .into_iter()
        .map(|(v, host)| PortBlock {
            port: v as u16,
            mask: !((1u32 << host) - 1) as u16,
        })
        .collect()
}

/// Protocols whose ports the kernel matches (`xfrm_flowi_sport` in
/// `include/net/xfrm.h`; ICMP type/code and GRE keys are not ports).
fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132 | 136)
}

/// The port blocks of one side under the pair's protocol.
fn side_ports(proto: u8, t: &TrafficSelector) -> Result<Vec<PortBlock>, PortsInexpressible> {
    if t.start_port == 0 && t.end_port == u16::MAX {
        Ok(vec![PortBlock::ANY])
    } else if has_ports(proto) {
        Ok(port_blocks(t.start_port, t.end_port))
    } else {
        Err(PortsInexpressible {
            proto,
            start: t.start_port,
            end: t.end_port,
        })
    }
}

/// The common protocol of two sides, `None` when they exclude each other.
fn pair_proto(l: &TrafficSelector, r: &TrafficSelector) -> Option<u8> {
    match (l.protocol, r.protocol) {
        (0, p) | (p, 0) => Some(p),
        (a, b) => (a == b).then_some(a),
    }
}

/// One side of a pair: its prefixes and port blocks.
struct Side {
    prefixes: Vec<Prefix>,
    ports: Vec<PortBlock>,
}

impl Side {
    fn new(proto: u8, t: &TrafficSelector) -> Result<Self, PortsInexpressible> {
        Ok(Self {
            prefixes: prefixes(t.start, t.end),
            ports: side_ports(proto, t)?,
        })
    }

    fn count(&self) -> u64 {
        (self.prefixes.len() as u64).saturating_mul(self.ports.len() as u64)
    }
}

/// One pair's protocol and sides; `None` when the pair selects nothing (other
/// family or protocol).
fn pair(
    l: &TrafficSelector,
    r: &TrafficSelector,
) -> Result<Option<(u8, Side, Side)>, PortsInexpressible> {
    let Some(proto) = pair_proto(l, r).filter(|_| l.start.is_ipv4() == r.start.is_ipv4()) else {
        return Ok(None);
    };
    Ok(Some((proto, Side::new(proto, l)?, Side::new(proto, r)?)))
}

/// How many [`Block`]s [`expand`] yields, computed without building them.
pub fn count(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) -> Result<u64, PortsInexpressible> {
    let mut n = 0u64;
    for l in local {
        for r in remote {
            if let Some((_, a, b)) = pair(l, r)? {
                n = n.saturating_add(a.count().saturating_mul(b.count()));
            }
        }
    }
    Ok(n)
}

/// Every block of `local` × `remote` (RFC 7296 §2.9: a Child SA carries the
/// product of its TSi and TSr). Check [`within_cap`] first: the result can be large.
pub fn expand(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) -> Result<Vec<Block>, PortsInexpressible> {
    let mut out = Vec::new();
    for l in local {
        for r in remote {
            let Some((proto, a, b)) = pair(l, r)? else {
                continue;
            };
            for (&local, &remote) in a
                .prefixes
                .iter()
                .flat_map(|x| b.prefixes.iter().map(move |y| (x, y)))
            {
                for (&local_port, &remote_port) in a
                    .ports
                    .iter()
                    .flat_map(|x| b.ports.iter().map(move |y| (x, y)))
                {
                    out.push(Block {
                        local,
                        remote,
                        proto,
                        local_port,
                        remote_port,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The number of blocks of `local` × `remote` if it is between 1 and `cap`.
pub fn within_cap(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
    cap: u32,
) -> Result<u64, PeerIncompatible> {
    match count(local, remote) {
        Err(e) => Err(PeerIncompatible::TsInexpressible(e)),
        Ok(0) => Err(PeerIncompatible::TsUnacceptable),
        Ok(n) if n > u64::from(cap) => Err(PeerIncompatible::TooManyPolicies { needed: n, cap }),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
