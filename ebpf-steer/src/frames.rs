//! Ethernet frames for `BPF_PROG_TEST_RUN` tests, the veth test and the
//! benchmark: ESP, ESP-in-UDP, IKE and other traffic over IPv4/IPv6, with
//! VLAN tags, IPv4 options and IPv6 extension headers.

use std::net::IpAddr;

/// 802.1Q and 802.1ad tag protocol identifiers.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ outer tag).
pub const TPID_8021AD: u16 = 0x88a8;

/// What follows the IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// ESP (IP protocol 50) with this SPI.
    Esp(u32),
    /// ESP in UDP to port 4500 (RFC 3948) with this SPI.
    EspInUdp(u32),
    /// IKE on UDP 4500: non-ESP marker then an IKE header.
    Ike,
    /// NAT-keepalive: one 0xff byte on UDP 4500.
    Keepalive,
    /// Plain UDP to this port.
    Udp(u16),
    /// A TCP segment.
    Tcp,
}

/// A frame to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    /// VLAN tags, outermost first (their TPIDs).
    pub vlans: Vec<u16>,
    /// Outer destination address (the source is derived from it).
    pub dst: IpAddr,
    /// IPv4 option bytes (padded to 4 with NOPs); ignored for IPv6.
    pub ip_options: usize,
    /// IPv6 extension headers by protocol number (0, 43, 44, 60), in order.
    pub v6_ext: Vec<u8>,
    /// IPv4: set MF (a first fragment).
    pub fragment: bool,
    /// The payload.
    pub l4: L4,
    /// Bytes after the headers (ESP payload, IKE body).
    pub tail: usize,
}

impl FrameSpec {
    /// An ESP frame to `dst` with `spi`.
    pub fn esp(dst: IpAddr, spi: u32) -> Self {
        Self {
            vlans: Vec::new(),
            dst,
            ip_options: 0,
            v6_ext: Vec::new(),
            fragment: false,
            l4: L4::Esp(spi),
            tail: 64,
        }
    }

    /// The same frame with another payload.
    pub fn with_l4(mut self, l4: L4) -> Self {
        self.l4 = l4;
        self
    }

    /// Builds the frame bytes.
    pub fn build(&self) -> Vec<u8> {
        let l4 = self.l4_bytes();
        let (ethertype, l3) = match self.dst {
            IpAddr::V4(d) => (0x0800, self.ipv4(d.octets(), &l4)),
            IpAddr::V6(d) => (0x86dd, self.ipv6(d.octets(), &l4)),
        };
        let mut f = Vec::with_capacity(64 + l3.len());
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
        for tpid in &self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&100u16.to_be_bytes());
        }
        f.extend_from_slice(&u16::to_be_bytes(ethertype));
        f.extend_from_slice(&l3);
        // Ethernet minimum frame (without FCS): padding the stack ignores.
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    /// How many leading bytes the program reads to decide; a frame cut
    /// shorter than this counts as an error.
    pub fn needed(&self) -> usize {
        if self.vlans.len() > 2 {
            // Two tags are looked through; the third TPID ends the walk.
            return 14 + 8;
        }
        let l3 = 14 + 4 * self.vlans.len();
        let esp_or_udp = !matches!(self.l4, L4::Tcp);
        // (bytes read to learn the upper-layer protocol, its offset); each
        // fixed header is checked whole.
        let (ip_read, l4) = match self.dst {
            IpAddr::V4(_) => {
                if !esp_or_udp || self.fragment {
                    return l3 + 20;
                }
                (l3 + 20, l3 + 20 + self.ip_options.div_ceil(4) * 4)
            }
            IpAddr::V6(_) => {
                // The fixed header, then the first two bytes of each
                // extension header walked (six at most).
                let mut read = l3 + 40;
                let mut off = l3 + 40;
                for (i, &kind) in self.v6_ext.iter().enumerate() {
                    if kind == 44 || i == 6 {
                        return read;
                    }
                    read = off + 2;
                    off += 8;
                }
                (read, off)
            }
        };
        match self.l4 {
            L4::Esp(_) => l4 + 4,
            L4::EspInUdp(_) | L4::Ike => l4 + 12,
            L4::Keepalive => l4 + 9,
            L4::Udp(_) => l4 + 8,
            L4::Tcp => ip_read,
        }
    }

    fn proto(&self) -> u8 {
        match self.l4 {
            L4::Esp(_) => 50,
            L4::Tcp => 6,
            _ => 17,
        }
    }

    fn l4_bytes(&self) -> Vec<u8> {
        let tail = vec![0xa5; self.tail];
        let udp = |dport: u16, payload: &[u8]| {
            let mut u = Vec::new();
            u.extend_from_slice(&4500u16.to_be_bytes());
            u.extend_from_slice(&dport.to_be_bytes());
            let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
            u.extend_from_slice(&len.to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(payload);
            u
        };
        let esp = |spi: u32| {
            let mut e = spi.to_be_bytes().to_vec();
            e.extend_from_slice(&1u32.to_be_bytes());
            e.extend_from_slice(&tail);
            e
        };
        match self.l4 {
            L4::Esp(spi) => esp(spi),
            L4::EspInUdp(spi) => udp(4500, &esp(spi)),
            L4::Ike => {
                let mut p = vec![0u8; 4];
                p.extend_from_slice(&[0x11; 8]);
                p.extend_from_slice(&tail);
                udp(4500, &p)
            }
            L4::Keepalive => udp(4500, &[0xff]),
            L4::Udp(port) => udp(port, &tail),
            L4::Tcp => {
                let mut t = vec![0u8; 20];
                t[12] = 0x50;
                t.extend_from_slice(&tail);
                t
            }
        }
    }

    fn ipv4(&self, dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let opts = self.ip_options.div_ceil(4) * 4;
        let ihl = 20 + opts;
        let total = u16::try_from(ihl + payload.len()).unwrap_or(u16::MAX);
        let mut h = vec![0u8; ihl];
        h[0] = 0x40 | u8::try_from(ihl / 4).unwrap_or(0x0f);
        h[2..4].copy_from_slice(&total.to_be_bytes());
        if self.fragment {
            h[6] = 0x20;
        }
        h[8] = 64;
        h[9] = self.proto();
        h[12..16].copy_from_slice(&[198, 51, 100, 1]);
        h[16..20].copy_from_slice(&dst);
        for b in &mut h[20..] {
            *b = 1; // NOP options
        }
        let sum = checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    fn ipv6(&self, dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut exts = Vec::new();
        for (i, &kind) in self.v6_ext.iter().enumerate() {
            let next = self.v6_ext.get(i + 1).copied().unwrap_or(self.proto());
            // 8 bytes each: Next Header, Hdr Ext Len 0 (or the fragment
            // header's reserved byte), then padding/offset fields.
            exts.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]);
            if kind == 44 {
                let n = exts.len();
                exts[n - 5] = 1; // M flag, offset 0
            }
        }
        let first = self.v6_ext.first().copied().unwrap_or(self.proto());
        let plen = u16::try_from(exts.len() + payload.len()).unwrap_or(u16::MAX);
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&plen.to_be_bytes());
        h[6] = first;
        h[7] = 64;
        h[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h[24..40].copy_from_slice(&dst);
        h.extend_from_slice(&exts);
        h.extend_from_slice(payload);
        h
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksums_to_zero() {
        let f = FrameSpec {
            ip_options: 8,
            ..FrameSpec::esp("192.0.2.1".parse().expect("ip"), 7)
        }
        .build();
        assert_eq!(f[14], 0x47);
        assert_eq!(checksum(&f[14..14 + 28]), 0);
        assert_eq!(&f[14 + 28..14 + 32], &7u32.to_be_bytes());
    }

    #[test]
    fn ipv6_extension_chain() {
        let f = FrameSpec {
            v6_ext: vec![0, 60],
            vlans: vec![TPID_8021AD, TPID_8021Q],
            ..FrameSpec::esp("2001:db8::2".parse().expect("ip"), 9)
        };
        let b = f.build();
        assert_eq!(&b[12..14], &[0x88, 0xa8]);
        assert_eq!(&b[20..22], &[0x86, 0xdd]);
        let ip = 22;
        assert_eq!(b[ip + 6], 0);
        assert_eq!(b[ip + 40], 60);
        assert_eq!(b[ip + 48], 50);
        assert_eq!(&b[ip + 56..ip + 60], &9u32.to_be_bytes());
        assert_eq!(f.needed(), ip + 60);
    }
}
