//! A bounded IKE_SA_INIT flood for the DoS tests: spoofed IPv4 sources, each
//! request a real IKE_SA_INIT (RFC 7296 §1.2) with a fresh SPIi, sent from a
//! raw socket at a fixed rate for a fixed time. Test tool only (needs
//! CAP_NET_RAW); run it in its own network namespace.
//!
//! `ike_flood TARGET_IP SRC_NET/PREFIX RATE SECONDS` prints
//! `sent N packets in S s (R pps, wanted W)`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ike_core::crypto::CryptoProvider;
use ike_core::{ConnectionConfig, Endpoint, EndpointConfig, Identity, Proposal, Psk};

fn template(target: Ipv4Addr) -> Result<Vec<u8>> {
    let mut c = ConnectionConfig::new(
        "flood",
        "10.255.255.1:500".parse()?,
        Identity::Fqdn("flood".into()),
        Psk::new(b"unused".to_vec()),
    );
    c.remote = Some(SocketAddr::new(IpAddr::V4(target), 500));
    c.ike_proposals = vec![Proposal::parse_ike("aes128gcm16-prfsha256-x25519")?];
    let cfg = EndpointConfig {
        connections: vec![c],
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(cfg, CryptoProvider::rust_crypto());
    let now = Instant::now();
    ep.initiate(now, "flood")?;
    Ok(ep.poll_transmit(now).context("no IKE_SA_INIT")?.data)
}

/// RFC 1071 checksum of an IPv4 header.
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 + UDP (checksum 0, allowed over IPv4) + `payload`.
fn packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(28 + payload.len()).unwrap_or(u16::MAX);
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = ip_checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let udp_len = total - 20;
    p.extend_from_slice(&500u16.to_be_bytes());
    p.extend_from_slice(&500u16.to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

struct Raw(libc::c_int);

impl Raw {
    fn open() -> Result<Self> {
        // SAFETY: plain socket(2) call; the descriptor is owned by `Raw`.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            bail!(
                "raw socket: {} (needs CAP_NET_RAW)",
                std::io::Error::last_os_error()
            );
        }
        Ok(Raw(fd))
    }

    fn send(&self, dst: Ipv4Addr, data: &[u8]) -> bool {
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `data` and `sa` outlive the call; lengths are theirs.
        let n = unsafe {
            libc::sendto(
                self.0,
                data.as_ptr().cast(),
                data.len(),
                0,
                std::ptr::from_ref(&sa).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        n >= 0
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, net, rate, secs] = args.as_slice() else {
        bail!("usage: ike_flood TARGET_IP SRC_NET/PREFIX RATE SECONDS");
    };
    let target: Ipv4Addr = target.parse().context("TARGET_IP")?;
    let (base, prefix) = net.split_once('/').context("SRC_NET/PREFIX")?;
    let base = u32::from(base.parse::<Ipv4Addr>().context("SRC_NET")?);
    let hosts = 1u32 << (32 - prefix.parse::<u32>().context("PREFIX")?.clamp(8, 31));
    let rate: u64 = rate.parse().context("RATE")?;
    let secs: u64 = secs.parse().context("SECONDS")?;
    let tpl = template(target)?;
    let raw = Raw::open()?;
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let (mut sent, mut x) = (0u64, 0x2545_f491_u64);
    while Instant::now() < end {
        // Pace in 1 ms slices.
        let due = start.elapsed().as_micros() as u64 * rate / 1_000_000;
        while sent < due {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let src = Ipv4Addr::from(base + 1 + (x as u32) % (hosts - 2));
            let mut ike = tpl.clone();
            ike[..8].copy_from_slice(&x.to_be_bytes());
            if !raw.send(target, &packet(src, target, &ike)) {
                break;
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} packets in {s:.1} s ({:.0} pps, wanted {rate})",
        sent as f64 / s
    );
    Ok(())
}
