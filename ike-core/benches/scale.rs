//! The engine's cost per input against the number of configured connections:
//! one responder Endpoint with N connections (N = 10, 100, 1,000, 10,000), each
//! with an established IKE SA and one Child SA, fed
//! - a fresh INFORMATIONAL request (DPD, RFC 7296 §2.4) on every IKE SA
//!   (routing by SPI, decryption, response), and
//! - a soft expire of one Child SA per IKE SA (routing by ESP SPI, start of the
//!   CREATE_CHILD_SA rekey).
//!
//! The sizes are measured in interleaved rounds (order shuffled each round);
//! each figure is the median over rounds with its range. The target: cost at
//! 10,000 connections at most 1.2 × the cost at 10.
//!
//! Run: `cargo bench -p ike-core --bench scale [ROUNDS] [SEED]` (plain binary).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike_core::crypto::CryptoProvider;
use ike_core::{
    ChildConfig, ConnectionConfig, Endpoint, EndpointConfig, Event, Identity, KernelEvent,
    Proposal, Psk, Spi, TrafficSelector,
};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const DPD: Duration = Duration::from_secs(30);

fn addr(i: usize) -> IpAddr {
    let i = u32::try_from(i).expect("size");
    IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i))
}

fn conn(i: usize, initiator: bool) -> ConnectionConfig {
    let gw: SocketAddr = "10.0.0.2:500".parse().expect("addr");
    let peer = SocketAddr::new(addr(i), 500);
    let (local, remote, me, them) = if initiator {
        (peer, gw, format!("a{i}"), "b".to_string())
    } else {
        (gw, peer, "b".to_string(), format!("a{i}"))
    };
    let mut c = ConnectionConfig::new(
        format!("c{i}"),
        local,
        Identity::Fqdn(me),
        Psk::new(b"lanes-bench-psk-0123456789".to_vec()),
    );
    c.remote = Some(remote);
    c.remote_id = Some(Identity::Fqdn(them));
    c.initial_contact = false;
    c.dpd_delay = if initiator { DPD } else { Duration::ZERO };
    c.rekey_time = Duration::ZERO;
    c.ike_proposals = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("ike")];
    let reqid = u32::try_from(i).expect("reqid") + 1;
    let mut ch = ChildConfig::new("net", reqid);
    ch.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("esp")];
    let host = TrafficSelector::subnet(addr(i), 32);
    let net = TrafficSelector::subnet("192.168.0.0".parse().expect("ip"), 16);
    (ch.local_ts, ch.remote_ts) = if initiator {
        (vec![host], vec![net])
    } else {
        (vec![net], vec![host])
    };
    ch.rekey_time = Duration::from_secs(100_000);
    ch.life_time = Duration::from_secs(110_000);
    c.children = vec![ch];
    c
}

/// Both ends of N tunnels: A holds the N initiating connections, B (measured)
/// the N responding ones.
struct World {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
    /// B's inbound SPI of each tunnel's Child SA.
    spis: Vec<Spi>,
}

fn endpoint(conns: Vec<ConnectionConfig>) -> Endpoint {
    let cfg = EndpointConfig {
        connections: conns,
        cookie_threshold: None,
        dos: ike_core::DosLimits {
            cookie_threshold_ip: 0,
            block_threshold: 0,
            ..ike_core::DosLimits::default()
        },
        ..EndpointConfig::default()
    };
    Endpoint::new(cfg, CryptoProvider::rust_crypto())
}

impl World {
    fn new(n: usize) -> Self {
        let mut w = World {
            a: endpoint((0..n).map(|i| conn(i, true)).collect()),
            b: endpoint((0..n).map(|i| conn(i, false)).collect()),
            now: Instant::now(),
            spis: Vec::new(),
        };
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            for i in chunk {
                w.a.initiate(w.now, &format!("c{i}")).expect("initiate");
            }
            w.shuttle();
        }
        w.collect_spis();
        assert_eq!(w.spis.len(), n, "every tunnel is up");
        w
    }

    /// Moves datagrams both ways until quiet; B's handling is timed.
    fn shuttle(&mut self) -> (Duration, usize) {
        let (mut spent, mut count) = (Duration::ZERO, 0);
        loop {
            let to_b: Vec<_> = std::iter::from_fn(|| self.a.poll_transmit(self.now)).collect();
            let t = Instant::now();
            for d in &to_b {
                self.b.handle_datagram(self.now, d.local, d.remote, &d.data);
            }
            spent += t.elapsed();
            count += to_b.len();
            let to_a: Vec<_> = std::iter::from_fn(|| self.b.poll_transmit(self.now)).collect();
            for d in &to_a {
                self.a.handle_datagram(self.now, d.local, d.remote, &d.data);
            }
            if to_b.is_empty() && to_a.is_empty() {
                return (spent, count);
            }
        }
    }

    /// B's current inbound SPIs, one per tunnel (events drained on both sides).
    fn collect_spis(&mut self) {
        let mut gone = std::collections::HashSet::new();
        while self.a.poll_event().is_some() {}
        while let Some(e) = self.b.poll_event() {
            match e {
                Event::ChildSaReady(i) | Event::ChildSaRekeyed { new: i, .. } => {
                    self.spis.push(i.spi_in);
                }
                Event::ChildSaDeleted { spi_in, .. } => {
                    gone.insert(spi_in);
                }
                _ => {}
            }
        }
        self.spis.retain(|s| !gone.contains(s));
    }

    /// ns per DPD request handled by B.
    fn dpd_round(&mut self) -> f64 {
        self.now += DPD;
        self.a.handle_timeout(self.now);
        let (spent, count) = self.shuttle();
        while self.b.poll_event().is_some() {}
        assert!(count >= self.spis.len(), "a DPD request per tunnel");
        spent.as_secs_f64() * 1e9 / count as f64
    }

    /// ns per soft expire handled by B (each starts a Child SA rekey).
    fn expire_round(&mut self) -> f64 {
        let spis = self.spis.clone();
        let t = Instant::now();
        for spi in &spis {
            self.b.handle_kernel(
                self.now,
                KernelEvent::Expire {
                    spi: *spi,
                    hard: false,
                },
            );
        }
        let spent = t.elapsed();
        // Finish the rekeys (not timed) so the next round starts alike.
        self.shuttle();
        self.collect_spis();
        assert_eq!(self.spis.len(), spis.len(), "every Child SA was rekeyed");
        spent.as_secs_f64() * 1e9 / spis.len() as f64
    }
}

fn main() {
    let nums: Vec<u32> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let rounds = nums.first().map_or(5, |r| *r as usize);
    let mut worlds: Vec<(usize, World)> = SIZES.iter().map(|n| (*n, World::new(*n))).collect();
    for (n, w) in &mut worlds {
        println!(
            "setup {n:>6} tunnels: B holds {} IKE SAs",
            w.b.ike_sa_count()
        );
        w.dpd_round(); // warm-up, discarded
    }
    let mut dpd = vec![Vec::new(); SIZES.len()];
    let mut exp = vec![Vec::new(); SIZES.len()];
    let mut seed = nums
        .get(1)
        .copied()
        .filter(|s| *s != 0)
        .unwrap_or(0x9e37_79b9);
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..SIZES.len()).collect();
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            order.swap(i, seed as usize % (i + 1));
        }
        for (slot, k) in order.into_iter().enumerate() {
            dpd[k].push(worlds[k].1.dpd_round());
            exp[k].push(worlds[k].1.expire_round());
            // Every repetition, for `cargo xtask bench` (xtask/src/bench/raw.rs).
            let n = SIZES[k];
            let (d, e) = (dpd[k][round], exp[k][round]);
            println!("@@RAW dpd-request n{n} {round} {slot} 0 {d:.1} ns");
            println!("@@RAW soft-expire n{n} {round} {slot} 0 {e:.1} ns");
        }
    }
    let (big, small) = (SIZES[SIZES.len() - 1], SIZES[0]);
    for m in ["dpd-request", "soft-expire"] {
        println!("@@TARGET {m} ratio n{big} n{small} <= 1.2");
    }
    println!("\nB's cost per input, median of {rounds} interleaved rounds [min-max]:");
    println!(
        "{:>8} | {:>28} | {:>28}",
        "tunnels", "DPD request (ns)", "soft expire (ns)"
    );
    let mut med = (Vec::new(), Vec::new());
    for (k, n) in SIZES.iter().enumerate() {
        let (d, dr) = stats(&mut dpd[k]);
        let (e, er) = stats(&mut exp[k]);
        med.0.push(d);
        med.1.push(e);
        println!("{n:>8} | {d:>10.0} [{dr:>15}] | {e:>10.0} [{er:>15}]");
    }
    let last = SIZES.len() - 1;
    for (what, m) in [("DPD request", &med.0), ("soft expire", &med.1)] {
        let ratio = m[last] / m[0];
        let verdict = if ratio <= 1.2 { "met" } else { "MISSED" };
        println!("ratio 10000/10 ({what}): {ratio:.2} (target <= 1.2: {verdict})");
    }
    for (n, w) in &worlds {
        let ids = w.b.established();
        let mem: usize = ids.iter().filter_map(|i| w.b.memory_of(*i)).sum();
        println!(
            "engine memory per IKE SA at {n:>6}: {} bytes (without keys)",
            mem / ids.len().max(1)
        );
    }
}

/// Median and "min-max" of `v`.
fn stats(v: &mut [f64]) -> (f64, String) {
    v.sort_by(f64::total_cmp);
    let m = v[v.len() / 2];
    (m, format!("{:.0}-{:.0}", v[0], v[v.len() - 1]))
}
