//! Per-interface checks: RSS queues and hash fields, RPS/XPS, IRQ affinity, ESP
//! offload features, XDP mode.

use super::cpu::parse_cpu_list;
use super::ethtool;
use super::{Check, Sys};

/// Drivers with native (driver-mode) XDP support.
const NATIVE_XDP: &[&str] = &[
    "veth",
    "virtio_net",
    "mlx5_core",
    "mlx4_en",
    "i40e",
    "ice",
    "ixgbe",
    "igb",
    "igc",
    "bnxt_en",
    "nfp",
    "ena",
    "qede",
    "tun",
    "thunder_nicvf",
    "sfc",
    "stmmac",
    "gve",
    "idpf",
    "fec",
    "dpaa2_eth",
];

/// A sysfs hex CPU mask (32-bit groups, comma-separated) covering CPUs `0..cpus`.
pub fn cpu_mask(cpus: u32) -> String {
    let mut groups = Vec::new();
    let mut left = cpus;
    while left > 0 || groups.is_empty() {
        let n = left.min(32);
        let g: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        groups.push(format!("{g:08x}"));
        left -= n;
    }
    groups.reverse();
    let s = groups.join(",");
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.trim_start_matches(',').to_string()
    }
}

fn mask_is_zero(m: &str) -> bool {
    m.chars().all(|c| c == '0' || c == ',')
}

/// Checks for one interface.
pub fn checks(sys: &Sys, ifname: &str, cpus: u32) -> Vec<Check> {
    let base = format!("/sys/class/net/{ifname}");
    let n = |what: &str| format!("{ifname}.{what}");
    if !sys.exists(&base) {
        return vec![Check::missing(n("exists"), "no such interface").fix("ip link show")];
    }
    let mut out = Vec::new();
    let driver = sys.link_name(format!("{base}/device/driver"));
    let kind = driver.clone().or_else(|| {
        // Virtual devices have no `device`; veth shows in uevent as DEVTYPE?
        sys.read(format!("{base}/uevent")).and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_string))
        })
    });
    let native = kind.as_deref().is_some_and(|d| NATIVE_XDP.contains(&d));
    out.push(if native {
        Check::ok(
            n("xdp"),
            format!(
                "driver {} supports native XDP (steer_mode = \"native\")",
                kind.as_deref().unwrap_or("?")
            ),
        )
    } else {
        Check::info(
            n("xdp"),
            format!(
                "driver {}: native XDP unknown; steer_mode = \"skb\" always works",
                kind.as_deref().unwrap_or("unknown")
            ),
        )
    });

    let queues = sys.list(format!("{base}/queues"));
    let rxq: Vec<&String> = queues.iter().filter(|q| q.starts_with("rx-")).collect();
    let txq: Vec<&String> = queues.iter().filter(|q| q.starts_with("tx-")).collect();
    let nrx = rxq.len() as u32;
    if nrx >= cpus || cpus == 1 {
        out.push(Check::ok(
            n("rss-queues"),
            format!("{nrx} RX queue(s) for {cpus} CPU(s)"),
        ));
    } else if nrx > 0 {
        out.push(
            Check::warn(
                n("rss-queues"),
                format!("{nrx} RX queue(s) for {cpus} CPUs: received ESP is decrypted on at most {nrx} CPU(s) without steering"),
            )
            .fix(format!("ethtool -L {ifname} combined {cpus}  (if the NIC has more queues), or steer by SPI: lanes steer attach {ifname}")),
        );
    }

    // RPS: spreads the protocol stack when the NIC cannot.
    if nrx > 0 && nrx < cpus {
        let rps: Vec<(String, String)> = rxq
            .iter()
            .filter_map(|q| {
                sys.read(format!("{base}/queues/{q}/rps_cpus"))
                    .map(|m| (q.to_string(), m))
            })
            .collect();
        if !rps.is_empty() && rps.iter().all(|(_, m)| mask_is_zero(m)) {
            let mask = cpu_mask(cpus);
            let path = format!("{base}/queues/{}/rps_cpus", rps[0].0);
            out.push(
                Check::warn(
                    n("rps"),
                    "RPS off: packets stay on the CPU that took the interrupt",
                )
                .fix(format!("echo {mask} > {path}"))
                .safe(path, mask),
            );
        } else if !rps.is_empty() {
            out.push(Check::ok(n("rps"), format!("RPS mask {}", rps[0].1)));
        }
    }
    let xps_set = txq
        .iter()
        .filter(|q| {
            sys.read(format!("{base}/queues/{q}/xps_cpus"))
                .is_some_and(|m| !mask_is_zero(&m))
        })
        .count();
    if !txq.is_empty() {
        out.push(Check::info(
            n("xps"),
            format!(
                "{xps_set} of {} TX queue(s) have an XPS CPU mask",
                txq.len()
            ),
        ));
    }

    // IRQ affinity of the device's MSI vectors.
    let irqs = sys.list(format!("{base}/device/msi_irqs"));
    let affinities: Vec<(String, Vec<u32>)> = irqs
        .iter()
        .filter_map(|i| {
            sys.read(format!("/proc/irq/{i}/smp_affinity_list"))
                .map(|a| (i.clone(), parse_cpu_list(&a)))
        })
        .collect();
    if affinities.len() >= 2 && cpus > 1 {
        let first = &affinities[0].1;
        if first.len() == 1 && affinities.iter().all(|(_, a)| a == first) {
            out.push(
                Check::warn(
                    n("irq-affinity"),
                    format!("all {} queue IRQs go to CPU {}", affinities.len(), first[0]),
                )
                .fix(format!(
                    "spread them: echo CPU > /proc/irq/N/smp_affinity_list for each of IRQs {} (or run irqbalance)",
                    irqs.join(",")
                )),
            );
        } else {
            out.push(Check::ok(
                n("irq-affinity"),
                format!("{} queue IRQs spread over CPUs", affinities.len()),
            ));
        }
    }

    if sys.live() {
        match ethtool::features(ifname) {
            Ok(feats) => {
                let find = |name: &str| feats.iter().find(|f| f.name == name);
                out.push(match find("esp-hw-offload") {
                    Some(f) if f.active => Check::ok(
                        n("esp-hw-offload"),
                        "on: hw_offload = \"crypto\"/\"packet\" possible",
                    ),
                    Some(f) if f.available => Check::warn(n("esp-hw-offload"), "supported but off")
                        .fix(format!("ethtool -K {ifname} esp-hw-offload on")),
                    _ => Check::info(
                        n("esp-hw-offload"),
                        "not supported: hw_offload = \"auto\" uses software crypto",
                    ),
                });
            }
            Err(e) => out.push(Check::info(
                n("esp-hw-offload"),
                format!("cannot read features: {e}"),
            )),
        }
        if nrx > 1 {
            for (flow, label, proto) in [
                (ethtool::ESP_V4_FLOW, "esp4", "ESP"),
                (ethtool::UDP_V4_FLOW, "udp4", "UDP (ESP-in-UDP)"),
            ] {
                match ethtool::rx_flow_hash(ifname, flow) {
                    Ok(bits) if bits & ethtool::RXH_L4 == ethtool::RXH_L4 => out.push(Check::ok(
                        n(&format!("rss-hash-{label}")),
                        format!("{proto} hashed on addresses and SPI/ports"),
                    )),
                    Ok(_) => out.push(
                        Check::warn(
                            n(&format!("rss-hash-{label}")),
                            format!(
                                "{proto} hashed on addresses only: a tunnel lands on one RX queue"
                            ),
                        )
                        .fix(format!("ethtool -N {ifname} rx-flow-hash {label} sdfn")),
                    ),
                    Err(e) => out.push(Check::info(
                        n(&format!("rss-hash-{label}")),
                        format!("unknown ({e})"),
                    )),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(cpu_mask(1), "1");
        assert_eq!(cpu_mask(4), "f");
        assert_eq!(cpu_mask(32), "ffffffff");
        assert_eq!(cpu_mask(40), "ff,ffffffff");
        assert!(mask_is_zero("00000000,00000000"));
        assert!(!mask_is_zero("00000001"));
    }
}
