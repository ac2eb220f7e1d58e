//! Turns negotiated Child SAs and trap configs into XFRM SA and policy specs
//! (`include/uapi/linux/xfrm.h`; per-CPU rules from SPEC §3 / strongSwan
//! `kernel_netlink_ipsec.c`): both SAs of a per-CPU child carry `XFRMA_SA_PCPU`
//! and `XFRMA_SA_DIR`, policies of a per-CPU child carry `XFRM_POLICY_CPU_ACQUIRE`
//! and a template without SPI.

use std::net::IpAddr;

use anyhow::{Result, bail};
use ike_core::wire::{EncrId, IntegId};
use ike_core::{ChildSaInstall, Selected};
use xfrm_offload::{
    CpuId, Integ, IpPrefix, Lifetimes, Limits, Mode, PolicyDir, PolicySpec, Reqid, SaCrypto, SaDir,
    SaSpec, Spi, Template, TrafficSelector, UdpEncap,
};

use super::backend::Caps;

/// The ESP transform of a negotiated SA with its keys.
pub fn sa_crypto(esp: &Selected, encr_key: &[u8], integ_key: &[u8]) -> Result<SaCrypto> {
    let key = || zeroize::Zeroizing::new(encr_key.to_vec());
    Ok(match esp.encr.id {
        EncrId::AES_GCM_16 => SaCrypto::AesGcm {
            key: key(),
            icv_bits: 128,
        },
        EncrId::AES_GCM_12 => SaCrypto::AesGcm {
            key: key(),
            icv_bits: 96,
        },
        EncrId::AES_GCM_8 => SaCrypto::AesGcm {
            key: key(),
            icv_bits: 64,
        },
        EncrId::CHACHA20_POLY1305 => SaCrypto::ChaCha20Poly1305 { key: key() },
        EncrId::AES_CBC => {
            let integ = match esp.integ {
                Some(IntegId::HMAC_SHA2_256_128) => Integ::HmacSha256_128,
                Some(IntegId::HMAC_SHA2_384_192) => Integ::HmacSha384_192,
                Some(IntegId::HMAC_SHA2_512_256) => Integ::HmacSha512_256,
                other => {
                    bail!("integrity algorithm {other:?} is not supported by the kernel installer")
                }
            };
            SaCrypto::AesCbc {
                enc_key: key(),
                integ,
                integ_key: zeroize::Zeroizing::new(integ_key.to_vec()),
            }
        }
        other => bail!("ESP cipher {other:?} is not supported by the kernel installer"),
    })
}

/// Human-readable ESP algorithms, e.g. `AES_GCM_16_128/ESN`.
pub fn esp_name(esp: &Selected) -> String {
    let mut s = format!("{:?}", esp.encr.id);
    if let Some(b) = esp.encr.key_bits {
        s.push_str(&format!("_{b}"));
    }
    if let Some(i) = esp.integ {
        s.push_str(&format!("/{i:?}"));
    }
    if let Some(k) = esp.ke {
        s.push_str(&format!("/{k:?}"));
    }
    if esp.esn {
        s.push_str("/ESN");
    }
    s
}

fn mode(m: ike_core::Mode) -> Mode {
    match m {
        ike_core::Mode::Transport => Mode::Transport,
        _ => Mode::Tunnel,
    }
}

/// The inbound and outbound SA of a negotiated Child SA.
pub fn child_sas(
    inst: &ChildSaInstall,
    caps: Caps,
    replay_window: u32,
) -> Result<(SaSpec, SaSpec)> {
    let (l, r) = (inst.local.ip(), inst.remote.ip());
    let reqid = Reqid(inst.reqid);
    let lifetimes = Lifetimes {
        soft: Limits::default(),
        hard: Limits {
            add_seconds: Some(inst.hard_lifetime.as_secs().max(1)),
            ..Limits::default()
        },
    };
    let pcpu = inst.resource.map(|c| CpuId(c.0));
    if pcpu.is_some() && !caps.per_cpu {
        bail!(
            "the kernel does not support per-CPU SAs (Linux 6.13+ needed); use per_cpu_sas = \"no\""
        );
    }
    let mut sas = Vec::with_capacity(2);
    for (dir, src, dst, spi, keys) in [
        (SaDir::In, r, l, inst.spi_in, &inst.keys_in),
        (SaDir::Out, l, r, inst.spi_out, &inst.keys_out),
    ] {
        let crypto = sa_crypto(&inst.esp, &keys.encr, &keys.integ)?;
        let mut sa = SaSpec::new(src, dst, Spi(spi.0), reqid, crypto);
        sa.mode = mode(inst.mode);
        sa.esn = inst.esp.esn;
        sa.replay_window = if dir == SaDir::In { replay_window } else { 0 };
        if sa.esn && sa.replay_window == 0 && dir == SaDir::In {
            sa.replay_window = 1; // ESN needs a replay state
        }
        sa.lifetimes = lifetimes;
        sa.pcpu = pcpu;
        if caps.sa_dir || pcpu.is_some() {
            sa.dir = Some(dir);
        }
        if dir == SaDir::Out {
            sa.seq = inst.acquire_seq.unwrap_or(0);
        }
        sa.encap = inst.encap.map(|e| match dir {
            // Inbound per-CPU encapsulated SAs accept any source port (strongSwan).
            SaDir::In => UdpEncap {
                sport: if inst.per_cpu { 0 } else { e.remote_port },
                dport: e.local_port,
                oa: None,
            },
            SaDir::Out => UdpEncap {
                sport: e.local_port,
                dport: e.remote_port,
                oa: None,
            },
        });
        sas.push(sa);
    }
    let out = sas.pop();
    let inn = sas.pop();
    match (inn, out) {
        (Some(i), Some(o)) => Ok((i, o)),
        _ => bail!("internal: SA pair not built"),
    }
}

/// The largest CIDR blocks covering `start..=end` (same family).
pub fn range_to_prefixes(start: IpAddr, end: IpAddr) -> Vec<IpPrefix> {
    let (mut lo, hi, bits, v4) = match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (
            u128::from(u32::from(a)),
            u128::from(u32::from(b)),
            32u32,
            true,
        ),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128, false),
        _ => return Vec::new(),
    };
    if lo > hi {
        return Vec::new();
    }
    let mut out = Vec::new();
    loop {
        let align = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        let span = hi - lo; // block count - 1
        let fit = span.checked_add(1).map_or(128, |n| 127 - n.leading_zeros());
        let size = align.min(fit);
        let addr = if v4 {
            IpAddr::V4((lo as u32).into())
        } else {
            IpAddr::V6(lo.into())
        };
        if let Ok(p) = IpPrefix::new(addr, (bits - size) as u8) {
            out.push(p);
        }
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

/// A traffic selector side: prefix plus protocol and port (if a single port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsSide {
    /// Prefix.
    pub prefix: IpPrefix,
    /// IP protocol, 0 = any.
    pub proto: u8,
    /// Port, `None` = any.
    pub port: Option<u16>,
}

/// Converts negotiated selectors into prefix sides.
pub fn ts_sides(ts: &[ike_core::TrafficSelector]) -> Vec<TsSide> {
    let mut out = Vec::new();
    for t in ts {
        let port = (t.start_port == t.end_port).then_some(t.start_port);
        if port.is_none() && !(t.start_port == 0 && t.end_port == u16::MAX) {
            tracing::warn!(
                ?t,
                "port range installed as any port (XFRM selectors take one port)"
            );
        }
        for prefix in range_to_prefixes(t.start, t.end) {
            out.push(TsSide {
                prefix,
                proto: t.protocol,
                port,
            });
        }
    }
    out
}

/// Policies for one child: out (local→remote), in and, in tunnel mode, fwd.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per use; a struct would only rename them"
)]
pub fn policies(
    local: IpAddr,
    remote: IpAddr,
    local_ts: &[TsSide],
    remote_ts: &[TsSide],
    tunnel: bool,
    reqid: u32,
    per_cpu: bool,
    priority_base: u32,
) -> Vec<PolicySpec> {
    let mut out = Vec::new();
    for l in local_ts {
        for r in remote_ts {
            if l.prefix.addr().is_ipv4() != r.prefix.addr().is_ipv4() {
                continue;
            }
            let proto = if l.proto != 0 { l.proto } else { r.proto };
            let sel = |src: &TsSide, dst: &TsSide| -> Option<TrafficSelector> {
                let mut s = TrafficSelector::new(src.prefix, dst.prefix).ok()?;
                s.proto = proto;
                s.sport = src.port.filter(|_| proto != 0);
                s.dport = dst.port.filter(|_| proto != 0);
                Some(s)
            };
            // More specific selectors get a lower number (= higher priority).
            let prio = priority_base.saturating_sub(
                (u32::from(l.prefix.prefix_len()) + u32::from(r.prefix.prefix_len())) * 8
                    + u32::from(proto != 0) * 4,
            );
            let tmode = if tunnel {
                Mode::Tunnel
            } else {
                Mode::Transport
            };
            let tmpl = |src: IpAddr, dst: IpAddr| {
                let mut t = Template::esp_tunnel(src, dst, Reqid(reqid));
                t.mode = tmode;
                t
            };
            let mut dirs = vec![
                (PolicyDir::Out, sel(l, r), tmpl(local, remote)),
                (PolicyDir::In, sel(r, l), tmpl(remote, local)),
            ];
            if tunnel {
                dirs.push((PolicyDir::Fwd, sel(r, l), tmpl(remote, local)));
            }
            for (dir, s, t) in dirs {
                let Some(s) = s else { continue };
                let mut p = PolicySpec::new(s, dir, t);
                p.priority = prio;
                p.cpu_acquire = per_cpu && dir == PolicyDir::Out;
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn ranges_split_into_cidrs() {
        let v = |a: &str, b: &str| -> Vec<String> {
            range_to_prefixes(a.parse().expect("a"), b.parse().expect("b"))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(v("192.168.1.0", "192.168.1.255"), vec![p("192.168.1.0/24")]);
        assert_eq!(v("10.0.0.1", "10.0.0.1"), vec![p("10.0.0.1/32")]);
        assert_eq!(v("0.0.0.0", "255.255.255.255"), vec![p("0.0.0.0/0")]);
        assert_eq!(
            v("10.0.0.1", "10.0.0.6"),
            vec![
                p("10.0.0.1/32"),
                p("10.0.0.2/31"),
                p("10.0.0.4/31"),
                p("10.0.0.6/32")
            ]
        );
        assert_eq!(
            v("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            vec![p("::/0")]
        );
        assert_eq!(v("2001:db8::", "2001:db8::ffff"), vec![p("2001:db8::/112")]);
        assert!(v("10.0.0.2", "10.0.0.1").is_empty());
    }

    #[test]
    fn per_cpu_policies_have_cpu_acquire_on_out_only() {
        let side = |s: &str, l: u8| TsSide {
            prefix: IpPrefix::new(s.parse().expect("ip"), l).expect("prefix"),
            proto: 0,
            port: None,
        };
        let ps = policies(
            "10.0.0.1".parse().expect("l"),
            "10.0.0.2".parse().expect("r"),
            &[side("192.168.1.0", 24)],
            &[side("192.168.2.0", 24)],
            true,
            0x6c6e_0001,
            true,
            10_000,
        );
        assert_eq!(ps.len(), 3);
        let out = ps.iter().find(|p| p.dir == PolicyDir::Out).expect("out");
        assert!(out.cpu_acquire);
        assert_eq!(out.selector.src.to_string(), "192.168.1.0/24");
        assert_eq!(out.templates[0].dst.to_string(), "10.0.0.2");
        assert!(out.templates[0].spi.is_none());
        let fwd = ps.iter().find(|p| p.dir == PolicyDir::Fwd).expect("fwd");
        assert!(!fwd.cpu_acquire);
        assert_eq!(fwd.selector.src.to_string(), "192.168.2.0/24");
        assert_eq!(fwd.templates[0].src.to_string(), "10.0.0.2");
    }
}
