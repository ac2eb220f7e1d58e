//! Header walk from Ethernet to the ESP SPI, verifier-friendly: every load
//! checks its bounds against `data_end` and every loop is bounded.

use aya_ebpf::programs::XdpContext;
use ebpf_steer_common::{Counter, NAT_T_PORT, SpiKey, V4_MAPPED_WORD};

/// Why a frame is not steered.
#[derive(Clone, Copy)]
pub enum Skip {
    /// Not ESP at all.
    NotEsp,
    /// IKE (non-ESP marker) or a NAT-keepalive on UDP 4500.
    Ike,
    /// An IP fragment: the SPI may not be in this piece.
    Fragment,
    /// Truncated or malformed headers.
    Malformed,
}

impl Skip {
    #[inline(always)]
    pub fn counter(self) -> Counter {
        match self {
            Self::NotEsp => Counter::NotEsp,
            Self::Ike => Counter::Ike,
            Self::Fragment => Counter::Fragment,
            Self::Malformed => Counter::Error,
        }
    }
}

/// Ethertypes as wire bytes read natively (IEEE 802.3, 802.1Q, 802.1ad).
const ETH_P_IP: u16 = u16::from_ne_bytes([0x08, 0x00]);
const ETH_P_IPV6: u16 = u16::from_ne_bytes([0x86, 0xdd]);
const ETH_P_8021Q: u16 = u16::from_ne_bytes([0x81, 0x00]);
const ETH_P_8021AD: u16 = u16::from_ne_bytes([0x88, 0xa8]);
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
/// Tags we look through: one 802.1Q, or an 802.1ad outer plus 802.1Q inner.
const MAX_VLAN_TAGS: usize = 2;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_DSTOPTS: u8 = 60;
/// IPv6 extension headers skipped before giving up (RFC 8200 §4.1 allows
/// each at most once or twice, so real packets need far fewer).
const MAX_IPV6_EXT: usize = 6;

/// IPv4 flags/fragment-offset field: MF plus the 13-bit offset (RFC 791).
const IPV4_FRAG_MASK: u16 = u16::from_ne_bytes([0x3f, 0xff]);
const NAT_T_PORT_WIRE: u16 = u16::from_ne_bytes(NAT_T_PORT.to_be_bytes());
/// UDP length of a NAT-keepalive: header plus one 0xff byte (RFC 3948 §2.3).
const KEEPALIVE_UDP_LEN: u16 = u16::from_ne_bytes(9u16.to_be_bytes());

/// Reads a `T` at byte `off` of the frame, or `Malformed` if it runs past
/// the end.
#[inline(always)]
fn load<T: Copy>(ctx: &XdpContext, off: usize) -> Result<T, Skip> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + size_of::<T>() > end {
        return Err(Skip::Malformed);
    }
    // SAFETY: in bounds (checked above, and again by the verifier); header
    // fields need not be aligned, hence the unaligned read.
    Ok(unsafe { core::ptr::read_unaligned((start + off) as *const T) })
}

/// The (destination, SPI) of an ESP or ESP-in-UDP packet. The protocol is
/// checked before anything else is read, so other traffic costs least.
#[inline(always)]
pub fn parse_esp(ctx: &XdpContext) -> Result<SpiKey, Skip> {
    let mut off = ETH_HLEN;
    let mut proto: u16 = load(ctx, 12)?;
    for _ in 0..MAX_VLAN_TAGS {
        if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            proto = load(ctx, off + 2)?;
            off += VLAN_HLEN;
        }
    }
    let v4 = if proto == ETH_P_IP {
        true
    } else if proto == ETH_P_IPV6 {
        false
    } else {
        return Err(Skip::NotEsp);
    };
    let (l4proto, l4) = if v4 { ipv4(ctx, off)? } else { ipv6(ctx, off)? };
    let spi = match l4proto {
        IPPROTO_ESP => load::<u32>(ctx, l4)?,
        IPPROTO_UDP => esp_in_udp(ctx, l4)?,
        _ => return Err(Skip::NotEsp),
    };
    // Both destinations lie before `l4`, which is already in bounds.
    let daddr = if v4 {
        [0, 0, V4_MAPPED_WORD, load::<u32>(ctx, off + 16)?]
    } else {
        load::<[u32; 4]>(ctx, off + 24)?
    };
    Ok(SpiKey { daddr, spi })
}

/// IPv4 (RFC 791): the protocol and the offset of the payload; fragments
/// of ESP/UDP are skipped (the SPI may not be in this piece).
#[inline(always)]
fn ipv4(ctx: &XdpContext, off: usize) -> Result<(u8, usize), Skip> {
    let vihl: u8 = load(ctx, off)?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 {
        return Err(Skip::Malformed);
    }
    let proto: u8 = load(ctx, off + 9)?;
    if proto != IPPROTO_ESP && proto != IPPROTO_UDP {
        return Err(Skip::NotEsp);
    }
    let frag: u16 = load(ctx, off + 6)?;
    if frag & IPV4_FRAG_MASK != 0 {
        return Err(Skip::Fragment);
    }
    Ok((proto, off + ihl))
}

/// IPv6 (RFC 8200): the upper-layer protocol after the hop-by-hop,
/// routing and destination-options headers, and its offset.
#[inline(always)]
fn ipv6(ctx: &XdpContext, off: usize) -> Result<(u8, usize), Skip> {
    let v: u8 = load(ctx, off)?;
    if v >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let mut nh: u8 = load(ctx, off + 6)?;
    let mut l4 = off + 40;
    for _ in 0..MAX_IPV6_EXT {
        match nh {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                // Next Header, Hdr Ext Len in 8-octet units not counting
                // the first 8 (RFC 8200 §4.3-4.6).
                let hdr: [u8; 2] = load(ctx, l4)?;
                nh = hdr[0];
                l4 += (usize::from(hdr[1]) + 1) * 8;
            }
            IPPROTO_FRAGMENT => return Err(Skip::Fragment),
            _ => break,
        }
    }
    Ok((nh, l4))
}

/// UDP-encapsulated ESP (RFC 3948 §2): the SPI, or `Ike` for the non-ESP
/// marker (four zero bytes, RFC 3948 §2.2) and NAT-keepalives.
#[inline(always)]
fn esp_in_udp(ctx: &XdpContext, l4: usize) -> Result<u32, Skip> {
    let ports: [u16; 3] = load(ctx, l4)?;
    let (dport, len) = (ports[1], ports[2]);
    if dport != NAT_T_PORT_WIRE {
        return Err(Skip::NotEsp);
    }
    if len == KEEPALIVE_UDP_LEN {
        let b: u8 = load(ctx, l4 + 8)?;
        return Err(if b == 0xff { Skip::Ike } else { Skip::NotEsp });
    }
    match load::<u32>(ctx, l4 + 8)? {
        0 => Err(Skip::Ike),
        spi => Ok(spi),
    }
}
