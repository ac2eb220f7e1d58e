//! Small typed identifiers used across the crate: SPI, reqid, CPU, modes and
//! directions (`include/uapi/linux/xfrm.h`).

use std::fmt;
use std::net::IpAddr;

use crate::error::SpecError;

/// An IPsec SPI in host byte order (the kernel stores it big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// The request id that ties SAs to policy templates (`xfrm_usersa_info.reqid`,
/// `xfrm_user_tmpl.reqid`). Lanes' own reqids live in [`crate::tag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reqid(pub u32);

impl fmt::Display for Reqid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A CPU number as used by `XFRMA_SA_PCPU` (Linux 6.13). It must be below
/// `num_possible_cpus()`; `u32::MAX` is the kernel's "unset" and is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuId(pub u32);

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu{}", self.0)
    }
}

/// IPsec protocol of an SA (`xfrm_id.proto`). Open newtype: any IP protocol
/// number round-trips; lanes installs [`IpsecProto::ESP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpsecProto(pub u8);

impl IpsecProto {
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: Self = Self(50);
    /// Authentication Header (RFC 4302).
    pub const AH: Self = Self(51);
    /// IP payload compression (RFC 3173).
    pub const COMP: Self = Self(108);
}

/// Encapsulation mode (`XFRM_MODE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `XFRM_MODE_TRANSPORT` (0).
    Transport,
    /// `XFRM_MODE_TUNNEL` (1).
    Tunnel,
    /// Any other mode number the kernel reports (BEET 4, ...).
    Other(u8),
}

impl Mode {
    /// The `XFRM_MODE_*` number.
    pub fn to_raw(self) -> u8 {
        match self {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
            Mode::Other(v) => v,
        }
    }

    /// From the `XFRM_MODE_*` number.
    pub fn from_raw(v: u8) -> Self {
        match v {
            0 => Mode::Transport,
            1 => Mode::Tunnel,
            v => Mode::Other(v),
        }
    }
}

/// Direction of an SA, `XFRMA_SA_DIR` (Linux 6.10; required with SA_PCPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaDir {
    /// `XFRM_SA_DIR_IN` (1).
    In,
    /// `XFRM_SA_DIR_OUT` (2).
    Out,
}

impl SaDir {
    /// The attribute value.
    pub fn to_raw(self) -> u8 {
        match self {
            SaDir::In => 1,
            SaDir::Out => 2,
        }
    }

    /// From the attribute value; `None` for values the kernel never sends.
    pub fn from_raw(v: u8) -> Option<Self> {
        match v {
            1 => Some(SaDir::In),
            2 => Some(SaDir::Out),
            _ => None,
        }
    }
}

/// Policy direction (`XFRM_POLICY_IN/OUT/FWD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyDir {
    /// Inbound (0).
    In,
    /// Outbound (1).
    Out,
    /// Forwarded (2).
    Fwd,
}

impl PolicyDir {
    /// The `XFRM_POLICY_*` number.
    pub fn to_raw(self) -> u8 {
        match self {
            PolicyDir::In => 0,
            PolicyDir::Out => 1,
            PolicyDir::Fwd => 2,
        }
    }

    /// From the `XFRM_POLICY_*` number (socket policies 3+ are `None`).
    pub fn from_raw(v: u8) -> Option<Self> {
        match v {
            0 => Some(PolicyDir::In),
            1 => Some(PolicyDir::Out),
            2 => Some(PolicyDir::Fwd),
            _ => None,
        }
    }
}

/// Policy action (`XFRM_POLICY_ALLOW/BLOCK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Allow, protected by the templates (0).
    Allow,
    /// Drop (1).
    Block,
}

/// An XFRM mark: the SA or policy matches packets with `skb->mark & mask == value`
/// (`XFRMA_MARK`, `struct xfrm_mark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Value compared after masking.
    pub value: u32,
    /// Mask applied to the packet mark.
    pub mask: u32,
}

/// An address prefix (`addr/len`) for selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// A prefix; fails when `len` exceeds the address width.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, SpecError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(SpecError::PrefixLen { addr, len });
        }
        Ok(Self { addr, len })
    }

    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, len }
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for a /0 prefix (matches everything).
    pub fn is_any(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A port match (`sport`/`sport_mask` or `dport`/`dport_mask` of `struct
/// xfrm_selector`): every port `p` with `p & mask == port`. A range of ports is
/// several of these (one policy each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMask {
    /// Port (bits outside `mask` are zero).
    pub port: u16,
    /// Mask; 0xffff is one port.
    pub mask: u16,
}

impl PortMask {
    /// Exactly one port.
    pub fn exact(port: u16) -> Self {
        Self { port, mask: 0xffff }
    }
}

impl fmt::Display for PortMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mask == 0xffff {
            write!(f, "{}", self.port)
        } else {
            write!(f, "{}/{:#06x}", self.port, self.mask)
        }
    }
}

/// A traffic selector (`struct xfrm_selector`): addresses, upper protocol and
/// ports. Port `None` means any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// Source prefix.
    pub src: IpPrefix,
    /// Destination prefix.
    pub dst: IpPrefix,
    /// Upper-layer protocol, 0 for any.
    pub proto: u8,
    /// Source ports (TCP/UDP/SCTP), or ICMP type.
    pub sport: Option<PortMask>,
    /// Destination ports, or ICMP code.
    pub dport: Option<PortMask>,
    /// Interface index, 0 for any.
    pub ifindex: i32,
}

impl TrafficSelector {
    /// Selector for all traffic between two prefixes of one family.
    pub fn new(src: IpPrefix, dst: IpPrefix) -> Result<Self, SpecError> {
        if src.addr.is_ipv4() != dst.addr.is_ipv4() {
            return Err(SpecError::FamilyMismatch {
                what: "selector",
                a: src.addr,
                b: dst.addr,
            });
        }
        Ok(Self {
            src,
            dst,
            proto: 0,
            sport: None,
            dport: None,
            ifindex: 0,
        })
    }

    /// True when both prefixes are IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.src.addr.is_ipv4()
    }
}
