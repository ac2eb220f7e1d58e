//! Property-style checks of the decomposition: many deterministic random and
//! edge ranges, each covered exactly (nothing outside, nothing missing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::tests::util::NetRng;

/// The test harness's deterministic generator, with range helpers.
struct Rng(NetRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(NetRng::new(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next()
    }
    /// Ranges biased to edges: aligned, off-by-one and random bounds.
    fn bound(&mut self, bits: u32) -> u128 {
        let max = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let r = (u128::from(self.next()) << 64 | u128::from(self.next())) & max;
        let shift = (self.next() % u64::from(bits)) as u32;
        match self.next() % 5 {
            0 => 0,
            1 => max,
            2 => r >> shift << shift,
            3 => (r >> shift << shift).wrapping_sub(1) & max,
            _ => r,
        }
    }
    fn range(&mut self, bits: u32) -> (u128, u128) {
        let (a, b) = (self.bound(bits), self.bound(bits));
        (a.min(b), a.max(b))
    }
}

/// The blocks are inside `lo..=hi`, disjoint and as many values as the range.
fn assert_exact(lo: u128, hi: u128, bits: u32, got: &[(u128, u32)]) {
    let mut next = lo;
    for (i, &(start, host)) in got.iter().enumerate() {
        assert!(
            host <= bits,
            "{lo:#x}-{hi:#x}: block {i} wider than the space"
        );
        let size_m1 = if host == 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        assert_eq!(start & size_m1, 0, "{lo:#x}-{hi:#x}: block {i} unaligned");
        // Consecutive and gap-free: together they are exactly lo..=hi.
        assert_eq!(start, next, "{lo:#x}-{hi:#x}: gap or overlap at block {i}");
        let last = start + size_m1;
        assert!(last <= hi, "{lo:#x}-{hi:#x}: block {i} reaches {last:#x}");
        if last == hi {
            assert_eq!(i + 1, got.len(), "{lo:#x}-{hi:#x}: blocks after the end");
            return;
        }
        next = last + 1;
    }
    panic!("{lo:#x}-{hi:#x}: blocks stop at {next:#x}");
}

#[test]
fn address_ranges_decompose_exactly() {
    let mut rng = Rng::new(0x6c61_6e65_7331);
    for bits in [32u32, 128] {
        let mut cases = vec![(0, 0), (0, 1), (1, 2), (3, 4)];
        let max = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        cases.extend([(0, max), (1, max - 1), (max, max), (max - 1, max)]);
        cases.extend((0..2000).map(|_| rng.range(bits)));
        for (lo, hi) in cases {
            let (s, e) = if bits == 32 {
                (
                    IpAddr::V4(Ipv4Addr::from(lo as u32)),
                    IpAddr::V4(Ipv4Addr::from(hi as u32)),
                )
            } else {
                (
                    IpAddr::V6(Ipv6Addr::from(lo)),
                    IpAddr::V6(Ipv6Addr::from(hi)),
                )
            };
            let got: Vec<(u128, u32)> = prefixes(s, e)
                .iter()
                .map(|p| {
                    let v = match p.addr {
                        IpAddr::V4(a) => u128::from(u32::from(a)),
                        IpAddr::V6(a) => u128::from(a),
                    };
                    (v, bits - u32::from(p.len))
                })
                .collect();
            assert_exact(lo, hi, bits, &got);
            assert!(
                got.len() <= 2 * bits as usize,
                "{lo:#x}-{hi:#x}: not minimal"
            );
        }
    }
}

#[test]
fn port_ranges_decompose_exactly() {
    let mut rng = Rng::new(0x706f_7274);
    let mut cases: Vec<(u16, u16)> = vec![
        (0, 65535),
        (1000, 1999),
        (1, 65534),
        (80, 80),
        (0, 0),
        (65535, 65535),
        (1024, 65535),
    ];
    cases.extend((0..48).map(|_| {
        let (a, b) = rng.range(16);
        (a as u16, b as u16)
    }));
    for (lo, hi) in cases {
        let got = port_blocks(lo, hi);
        // Every port, brute force: in exactly one block iff in the range.
        for p in 0..=u16::MAX {
            let hits = got.iter().filter(|b| b.contains(p)).count();
            let want = usize::from((lo..=hi).contains(&p));
            assert_eq!(
                hits, want,
                "{lo}-{hi}: port {p} in {hits} blocks of {got:?}"
            );
        }
        assert!(got.iter().all(|b| b.port & !b.mask == 0), "{got:?}");
    }
    assert_eq!(port_blocks(0, 65535), vec![PortBlock::ANY]);
    assert_eq!(
        port_blocks(1000, 1999),
        [
            (1000, 0xfff8),
            (1008, 0xfff0),
            (1024, 0xfe00),
            (1536, 0xff00),
            (1792, 0xff80),
            (1920, 0xffc0),
            (1984, 0xfff0),
        ]
        .map(|(port, mask)| PortBlock { port, mask })
    );
}

fn ts(proto: u8, ports: (u16, u16), start: &str, end: &str) -> TrafficSelector {
    TrafficSelector {
        protocol: proto,
        start_port: ports.0,
        end_port: ports.1,
        start: start.parse().expect("start"),
        end: end.parse().expect("end"),
    }
}

#[test]
fn blocks_stay_inside_both_sides_and_count_matches() {
    let l = [
        ts(6, (1000, 1999), "192.168.1.0", "192.168.1.255"),
        ts(0, (0, 65535), "fd00::", "fd00::ff"),
    ];
    let r = [
        ts(0, (0, 65535), "10.0.0.1", "10.0.0.6"),
        ts(17, (53, 53), "10.0.1.0", "10.0.1.255"),
    ];
    let blocks = expand(&l, &r).expect("expressible");
    // tcp × any: 7 port blocks × 4 prefixes; tcp × udp: nothing; v4 × v6: nothing.
    assert_eq!(blocks.len(), 28);
    assert_eq!(count(&l, &r), Ok(28));
    for b in &blocks {
        assert_eq!(b.proto, 6);
        assert_eq!(b.remote_port, PortBlock::ANY);
        assert!((1000..=1999).contains(&b.local_port.port), "{b:?}");
        assert_eq!(b.local.len, 24);
    }
}

#[test]
fn ports_without_a_port_protocol_are_refused() {
    let any = ts(0, (0, 65535), "10.0.0.0", "10.0.0.255");
    let ports = ts(0, (1000, 1999), "10.0.1.0", "10.0.1.255");
    let icmp = ts(1, (0x0300, 0x03ff), "10.0.1.0", "10.0.1.255");
    assert!(count(&[any], &[ports]).is_err(), "protocol 0 has no ports");
    assert!(
        count(&[any], &[icmp]).is_err(),
        "ICMP type/code are not ports"
    );
    let tcp = ts(6, (0, 65535), "10.0.0.0", "10.0.0.255");
    assert_eq!(
        count(&[tcp], &[ports]),
        Ok(7),
        "the pair is TCP: ports apply"
    );
}

#[test]
fn odd_ranges_exceed_the_default_cap() {
    let odd = ts(0, (0, 65535), "10.0.0.1", "10.255.255.254");
    assert_eq!(prefixes(odd.start, odd.end).len(), 46);
    assert_eq!(
        within_cap(&[odd], &[odd], 64),
        Err(PeerIncompatible::TooManyPolicies {
            needed: 46 * 46,
            cap: 64
        })
    );
    assert_eq!(within_cap(&[odd], &[odd], 2116), Ok(2116));
}
