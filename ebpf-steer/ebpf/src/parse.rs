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

/// Checks that `len` bytes at `off` are inside the frame and returns their
/// address: one bounds check per header, which the verifier also relies on.
#[inline(always)]
fn header(ctx: &XdpContext, off: usize, len: usize) -> Result<usize, Skip> {
    let p = ctx.data() + off;
    if p + len > ctx.data_end() {
        return Err(Skip::Malformed);
    }
    Ok(p)
}

/// Reads a `T` at byte `k` of a header returned by [`header`].
///
/// # Safety
/// `k + size_of::<T>()` must not exceed that header's checked length.
#[inline(always)]
unsafe fn field<T: Copy>(hdr: usize, k: usize) -> T {
    // SAFETY: in bounds by the caller's contract (and the verifier's check);
    // header fields need not be aligned, hence the unaligned read.
    unsafe { core::ptr::read_unaligned((hdr + k) as *const T) }
}

/// Reads a `T` at byte `off` of the frame, or `Malformed` if it runs past
/// the end.
#[inline(always)]
fn load<T: Copy>(ctx: &XdpContext, off: usize) -> Result<T, Skip> {
    let p = header(ctx, off, size_of::<T>());
    // SAFETY: exactly `size_of::<T>()` bytes were checked.
    p.map(|p| unsafe { field(p, 0) })
}

/// The (destination, SPI) of an ESP or ESP-in-UDP packet. The protocol is
/// checked before anything else is read, so other traffic costs least.
#[inline(always)]
pub fn parse_esp(ctx: &XdpContext) -> Result<SpiKey, Skip> {
    let eth = header(ctx, 0, ETH_HLEN)?;
    // SAFETY: within the 14 checked bytes.
    let mut proto: u16 = unsafe { field(eth, 12) };
    let mut off = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            let tag = header(ctx, off, VLAN_HLEN)?;
            // SAFETY: the inner ethertype ends the 4 checked bytes.
            proto = unsafe { field(tag, 2) };
            off += VLAN_HLEN;
        }
    }
    let (ip, l4proto, l4) = if proto == ETH_P_IP {
        ipv4(ctx, off)?
    } else if proto == ETH_P_IPV6 {
        ipv6(ctx, off)?
    } else {
        return Err(Skip::NotEsp);
    };
    let spi = match l4proto {
        IPPROTO_ESP => load::<u32>(ctx, l4)?,
        IPPROTO_UDP => esp_in_udp(ctx, l4)?,
        _ => return Err(Skip::NotEsp),
    };
    // SAFETY: the destination lies within the checked 20 or 40 bytes.
    let daddr = if proto == ETH_P_IP {
        [0, 0, V4_MAPPED_WORD, unsafe { field::<u32>(ip, 16) }]
    } else {
        unsafe { field::<[u32; 4]>(ip, 24) }
    };
    Ok(SpiKey { daddr, spi })
}

/// IPv4 (RFC 791): the header's address, the protocol and the offset of
/// the payload; fragments of ESP/UDP are skipped (the SPI may not be in
/// this piece).
#[inline(always)]
fn ipv4(ctx: &XdpContext, off: usize) -> Result<(usize, u8, usize), Skip> {
    let ip = header(ctx, off, 20)?;
    // SAFETY: version/IHL, protocol and flags/offset are in the fixed 20 bytes.
    let (vihl, proto, frag) =
        unsafe { (field::<u8>(ip, 0), field::<u8>(ip, 9), field::<u16>(ip, 6)) };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 {
        return Err(Skip::Malformed);
    }
    if proto != IPPROTO_ESP && proto != IPPROTO_UDP {
        return Err(Skip::NotEsp);
    }
    if frag & IPV4_FRAG_MASK != 0 {
        return Err(Skip::Fragment);
    }
    Ok((ip, proto, off + ihl))
}

/// IPv6 (RFC 8200): the header's address, the upper-layer protocol after
/// the hop-by-hop, routing and destination-options headers, and its offset.
#[inline(always)]
fn ipv6(ctx: &XdpContext, off: usize) -> Result<(usize, u8, usize), Skip> {
    let ip = header(ctx, off, 40)?;
    // SAFETY: version and Next Header are in the fixed 40 bytes.
    let (v, mut nh) = unsafe { (field::<u8>(ip, 0), field::<u8>(ip, 6)) };
    if v >> 4 != 6 {
        return Err(Skip::Malformed);
    }
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
    Ok((ip, nh, l4))
}

/// UDP-encapsulated ESP (RFC 3948 §2): the SPI, or `Ike` for the non-ESP
/// marker (four zero bytes, RFC 3948 §2.2) and NAT-keepalives.
#[inline(always)]
fn esp_in_udp(ctx: &XdpContext, l4: usize) -> Result<u32, Skip> {
    let udp = header(ctx, l4, 8)?;
    // SAFETY: destination port and length are in the 8 checked bytes.
    let (dport, len) = unsafe { (field::<u16>(udp, 2), field::<u16>(udp, 4)) };
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
