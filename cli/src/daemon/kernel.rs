//! Turns negotiated Child SAs and trap configs into XFRM SA and policy specs
//! (`include/uapi/linux/xfrm.h`; per-CPU rules from SPEC §3 / strongSwan
//! `kernel_netlink_ipsec.c`): both SAs of a per-CPU child carry `XFRMA_SA_PCPU`
//! and `XFRMA_SA_DIR`, policies of a per-CPU child carry `XFRM_POLICY_CPU_ACQUIRE`
//! and a template without SPI.

use std::net::IpAddr;

use anyhow::{Result, bail};
use ike_core::selector::{Block, PortBlock};
use ike_core::wire::{EncrId, IntegId};
use ike_core::{ChildSaInstall, Selected};
use xfrm_offload::{
    CpuId, Integ, IpPrefix, Lifetimes, Limits, Mode, PolicyDir, PolicySpec, PortMask, Reqid,
    SaCrypto, SaDir, SaSpec, Spi, Template, TrafficSelector, UdpEncap,
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
        EncrId::AES_CCM_16 => SaCrypto::AesCcm {
            key: key(),
            icv_bits: 128,
        },
        EncrId::AES_CCM_12 => SaCrypto::AesCcm {
            key: key(),
            icv_bits: 96,
        },
        EncrId::AES_CCM_8 => SaCrypto::AesCcm {
            key: key(),
            icv_bits: 64,
        },
        EncrId::CHACHA20_POLY1305 => SaCrypto::ChaCha20Poly1305 { key: key() },
        EncrId::AES_CBC => {
            let integ = match esp.integ {
                Some(IntegId::HMAC_SHA2_256_128) => Integ::HmacSha256_128,
                Some(IntegId::HMAC_SHA2_384_192) => Integ::HmacSha384_192,
                Some(IntegId::HMAC_SHA2_512_256) => Integ::HmacSha512_256,
                Some(IntegId::HMAC_SHA1_96) => Integ::HmacSha1_96,
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

/// The kernel limits of an SA (`struct xfrm_lifetime_cfg`): the engine rekeys
/// by time itself, so the only soft limits are bytes and packets, whose
/// XFRM_MSG_EXPIRE (`hard = 0`) starts the rekey; the hard ones remove the SA
/// should a rekey fail. 0 means no limit.
pub fn lifetimes(hard_time: std::time::Duration, v: ike_core::VolumeLimits) -> Lifetimes {
    let some = |n: u64| (n != 0).then_some(n);
    Lifetimes {
        soft: Limits {
            bytes: some(v.rekey_bytes),
            packets: some(v.rekey_packets),
            ..Limits::default()
        },
        hard: Limits {
            add_seconds: Some(hard_time.as_secs().max(1)),
            bytes: some(v.life_bytes),
            packets: some(v.life_packets),
            ..Limits::default()
        },
    }
}

/// The soft add-time limit of a per-CPU group's outbound fallback SA: one
/// second after it is added the kernel marks it dying (`km.dying`), so a
/// CPU's own SA always wins the outbound lookup against it.
///
/// `xfrm_state_look_at` (net/xfrm/xfrm_state.c) prefers a CPU's SA over the
/// fallback only when the fallback comes first in the hash chain; the other
/// way round the newer of the two wins. After the fallback is rekeyed and
/// the state hash is resized (which reverses each chain), a CPU whose SA is
/// not in the policy's state cache finds the fallback, raises a per-CPU
/// acquire while it has its SA, and its packets are dropped for as long as
/// that acquire's larval state lives. A dying state loses to a live one in
/// either order. The kernel's first lifetime check runs one second after
/// the add, so a resize in that second still loses that CPU's packets for
/// up to a second (measured in the VM: 4 pings of 250 at 5/s). The soft
/// expire this causes is not a rekey request ([`is_fallback_demotion`]);
/// the fallback is rekeyed by time and by its inbound SA's volume limits.
pub const FALLBACK_DEMOTE_SECS: u64 = 1;

/// Whether a soft expire is the one [`FALLBACK_DEMOTE_SECS`] causes.
pub fn is_fallback_demotion(
    lifetimes: &Lifetimes,
    pcpu: Option<CpuId>,
    dir: Option<SaDir>,
    hard: bool,
) -> bool {
    !hard
        && pcpu.is_none()
        && dir != Some(SaDir::In)
        && lifetimes.soft.add_seconds == Some(FALLBACK_DEMOTE_SECS)
}

/// The inbound and outbound SA of a negotiated Child SA, with kernel reqid `reqid`.
pub fn child_sas(
    inst: &ChildSaInstall,
    reqid: u32,
    caps: Caps,
    replay_window: u32,
) -> Result<(SaSpec, SaSpec)> {
    let (l, r) = (inst.local.ip(), inst.remote.ip());
    let reqid = Reqid(reqid);
    let lifetimes = lifetimes(inst.hard_lifetime, inst.volume);
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
        sa.any_inner_family =
            sa.mode == Mode::Tunnel && other_family_inside(l, &inst.local_ts, &inst.remote_ts);
        sa.esn = inst.esp.esn;
        sa.replay_window = if dir == SaDir::In { replay_window } else { 0 };
        if sa.esn && sa.replay_window == 0 && dir == SaDir::In {
            sa.replay_window = 1; // ESN needs a replay state
        }
        sa.lifetimes = lifetimes;
        if dir == SaDir::Out && inst.per_cpu && pcpu.is_none() {
            sa.lifetimes.soft = Limits {
                add_seconds: Some(FALLBACK_DEMOTE_SECS),
                ..Limits::default()
            };
        }
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

/// Whether a Child SA carries inner packets of another family than its
/// outer addresses (4-in-6, 6-in-4).
fn other_family_inside(
    outer: IpAddr,
    local_ts: &[ike_core::TrafficSelector],
    remote_ts: &[ike_core::TrafficSelector],
) -> bool {
    local_ts
        .iter()
        .chain(remote_ts)
        .any(|ts| ts.start.is_ipv4() != outer.is_ipv4())
}

/// The kernel selectors of a Child SA: its local × remote selectors split into
/// exact prefix/port blocks ([`ike_core::selector`]), never wider than negotiated.
pub fn blocks(
    local_ts: &[ike_core::TrafficSelector],
    remote_ts: &[ike_core::TrafficSelector],
) -> Result<Vec<Block>> {
    Ok(ike_core::selector::expand(local_ts, remote_ts)?)
}

fn prefix(p: ike_core::selector::Prefix) -> Option<IpPrefix> {
    IpPrefix::new(p.addr, p.len).ok()
}

fn port(p: PortBlock) -> Option<PortMask> {
    (p.mask != 0).then_some(PortMask {
        port: p.port,
        mask: p.mask,
    })
}

/// The XFRM selector of `b` from `src` to `dst` (`struct xfrm_selector`).
fn selector(b: &Block, outbound: bool) -> Option<TrafficSelector> {
    let (l, r) = (prefix(b.local)?, prefix(b.remote)?);
    let (lp, rp) = (port(b.local_port), port(b.remote_port));
    let (src, dst, sport, dport) = if outbound {
        (l, r, lp, rp)
    } else {
        (r, l, rp, lp)
    };
    let mut s = TrafficSelector::new(src, dst).ok()?;
    s.proto = b.proto;
    s.sport = sport;
    s.dport = dport;
    Some(s)
}

/// Lower is preferred: longer prefixes, then a protocol, then masked ports.
fn priority(b: &Block, base: u32) -> u32 {
    let ports = u32::from(b.local_port.mask != 0) + u32::from(b.remote_port.mask != 0);
    base.saturating_sub(
        (u32::from(b.local.len) + u32::from(b.remote.len)) * 8
            + u32::from(b.proto != 0) * 4
            + ports,
    )
}

/// Policies for one child: per block, out (local→remote), in and, in tunnel
/// mode, fwd.
pub fn policies(
    local: IpAddr,
    remote: IpAddr,
    blocks: &[Block],
    tunnel: bool,
    reqid: u32,
    per_cpu: bool,
    priority_base: u32,
) -> Vec<PolicySpec> {
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
    let mut out = Vec::new();
    for b in blocks {
        let mut dirs = vec![
            (PolicyDir::Out, selector(b, true), tmpl(local, remote)),
            (PolicyDir::In, selector(b, false), tmpl(remote, local)),
        ];
        if tunnel {
            dirs.push((PolicyDir::Fwd, selector(b, false), tmpl(remote, local)));
        }
        for (dir, s, t) in dirs {
            let Some(s) = s else { continue };
            let mut p = PolicySpec::new(s, dir, t);
            p.priority = priority(b, priority_base);
            p.cpu_acquire = per_cpu && dir == PolicyDir::Out;
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(cidr: &str) -> ike_core::TrafficSelector {
        let (a, l) = cidr.split_once('/').expect("cidr");
        ike_core::TrafficSelector::subnet(a.parse().expect("ip"), l.parse().expect("len"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn aes_ccm_goes_to_the_kernel_as_rfc4309_with_its_icv_length() {
        let esp = ike_core::Proposal::parse_esp("aes192ccm12")
            .expect("esp")
            .intersect(&ike_core::Proposal::parse_esp("aes192ccm12").expect("esp"))
            .expect("selected");
        let c = sa_crypto(&esp, &[7u8; 27], &[]).expect("ccm");
        assert_eq!(c.kernel_name(), "rfc4309(ccm(aes))");
        assert!(matches!(c, SaCrypto::AesCcm { icv_bits: 96, ref key } if key.len() == 27));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn esp_sha1_goes_to_the_kernel_as_hmac_sha1_truncated_to_96() {
        let esp = ike_core::Proposal::parse_esp("aes128-sha1")
            .expect("esp")
            .intersect(&ike_core::Proposal::parse_esp("aes128-sha1").expect("esp"))
            .expect("selected");
        let c = sa_crypto(&esp, &[7u8; 16], &[8u8; 20]).expect("sha1");
        assert!(c.validate().is_ok());
        let SaCrypto::AesCbc { integ, .. } = &c else {
            panic!("AES-CBC")
        };
        assert_eq!(*integ, Integ::HmacSha1_96);
        assert_eq!(integ.kernel_name(), "hmac(sha1)");
        assert!(sa_crypto(&esp, &[7u8; 16], &[8u8; 32]).is_ok_and(|c| c.validate().is_err()));
    }

    #[test]
    fn volume_limits_become_soft_and_hard_kernel_limits() {
        let v = ike_core::VolumeLimits {
            rekey_bytes: 1 << 20,
            rekey_packets: 0,
            ..ike_core::VolumeLimits::default()
        }
        .with_default_life();
        let l = lifetimes(std::time::Duration::from_secs(3960), v);
        assert_eq!(l.soft.bytes, Some(1 << 20));
        assert_eq!(l.hard.bytes, Some((1 << 20) + (1 << 20) / 10));
        assert_eq!(
            (l.soft.packets, l.hard.packets),
            (None, None),
            "0 is no limit"
        );
        assert_eq!((l.soft.add_seconds, l.hard.add_seconds), (None, Some(3960)));
        let none = lifetimes(std::time::Duration::ZERO, ike_core::VolumeLimits::default());
        assert_eq!(none.soft, Limits::default());
        assert_eq!(
            none.hard.add_seconds,
            Some(1),
            "never an SA without a hard limit"
        );
    }

    #[test]
    fn sas_carrying_the_other_family_inside_say_so() {
        let (v4, v6) = ([ts("192.168.1.0/24")], [ts("fd00:1::/64")]);
        assert!(other_family_inside(ip("fd00:10::1"), &v4, &v4), "4-in-6");
        assert!(other_family_inside(ip("10.0.0.1"), &v6, &v6), "6-in-4");
        assert!(other_family_inside(ip("10.0.0.1"), &v4, &v6), "mixed");
        assert!(!other_family_inside(ip("10.0.0.1"), &v4, &v4));
        assert!(!other_family_inside(ip("fd00:10::1"), &v6, &v6));
    }

    #[test]
    fn ranges_split_into_cidrs() {
        let range = ike_core::TrafficSelector::range(ip("10.0.0.1"), ip("10.0.0.6"));
        let b = blocks(&[range], &[ts("10.1.0.0/16")]).expect("blocks");
        let srcs: Vec<String> = policies(ip("10.0.0.1"), ip("10.0.0.2"), &b, false, 1, false, 100)
            .iter()
            .filter(|p| p.dir == PolicyDir::Out)
            .map(|p| p.selector.src.to_string())
            .collect();
        assert_eq!(
            srcs,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
    }

    #[test]
    fn per_cpu_policies_have_cpu_acquire_on_out_only() {
        let b = blocks(&[ts("192.168.1.0/24")], &[ts("192.168.2.0/24")]).expect("blocks");
        let ps = policies(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            &b,
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

    #[test]
    fn a_port_range_installs_exactly_its_ports() {
        let local = ike_core::TrafficSelector {
            protocol: 6,
            start_port: 1000,
            end_port: 1999,
            ..ts("192.168.1.0/24")
        };
        let b = blocks(&[local], &[ts("192.168.2.0/24")]).expect("blocks");
        let ps = policies(ip("10.0.0.1"), ip("10.0.0.2"), &b, true, 1, false, 10_000);
        let out: Vec<&PolicySpec> = ps.iter().filter(|p| p.dir == PolicyDir::Out).collect();
        assert_eq!(out.len(), 7, "1000-1999 is 7 port/mask blocks");
        for p in &out {
            assert_eq!(p.selector.proto, 6);
            assert_eq!(p.selector.dport, None, "the remote side is any port");
        }
        // Every port, inbound and outbound: covered once if negotiated, never otherwise.
        for dir in [PolicyDir::Out, PolicyDir::In, PolicyDir::Fwd] {
            let ports: Vec<PortMask> = ps
                .iter()
                .filter(|p| p.dir == dir)
                .map(|p| {
                    let s = &p.selector;
                    let ours = if dir == PolicyDir::Out {
                        s.sport
                    } else {
                        s.dport
                    };
                    ours.expect("never any port")
                })
                .collect();
            for port in 0..=u16::MAX {
                let hits = ports.iter().filter(|m| port & m.mask == m.port).count();
                let want = usize::from((1000..=1999).contains(&port));
                assert_eq!(hits, want, "{dir:?} port {port}");
            }
        }
    }

    #[test]
    fn ports_of_protocol_any_are_refused_not_widened() {
        let local = ike_core::TrafficSelector {
            start_port: 1000,
            end_port: 1999,
            ..ts("192.168.1.0/24")
        };
        let e = blocks(&[local], &[ts("192.168.2.0/24")]).expect_err("inexpressible");
        assert!(e.to_string().contains("TCP, UDP"), "{e}");
    }
}
