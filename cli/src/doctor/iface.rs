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

/// The interface under check.
struct Iface<'a> {
    sys: &'a Sys,
    name: &'a str,
    /// `/sys/class/net/<name>`.
    base: String,
    cpus: u32,
}

impl Iface<'_> {
    /// A check name: `<ifname>.<what>`.
    fn n(&self, what: &str) -> String {
        format!("{}.{what}", self.name)
    }

    /// Native XDP support by driver (or virtual device type).
    fn xdp(&self) -> Check {
        let (sys, base) = (self.sys, &self.base);
        let driver = sys.link_name(format!("{base}/device/driver"));
        let kind = driver.or_else(|| {
            // Virtual devices have no `device`; veth shows in uevent as DEVTYPE?
            sys.read(format!("{base}/uevent")).and_then(|u| {
                u.lines()
                    .find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_string))
            })
        });
        if kind.as_deref().is_some_and(|d| NATIVE_XDP.contains(&d)) {
            Check::ok(
                self.n("xdp"),
                format!(
                    "driver {} supports native XDP (steer_mode = \"native\")",
                    kind.as_deref().unwrap_or("?")
                ),
            )
        } else {
            Check::info(
                self.n("xdp"),
                format!(
                    "driver {}: native XDP unknown; steer_mode = \"skb\" always works",
                    kind.as_deref().unwrap_or("unknown")
                ),
            )
        }
    }

    /// RX queues against CPUs.
    fn rss_queues(&self, nrx: u32) -> Option<Check> {
        let (ifname, cpus) = (self.name, self.cpus);
        if nrx >= cpus || cpus == 1 {
            Some(Check::ok(
                self.n("rss-queues"),
                format!("{nrx} RX queue(s) for {cpus} CPU(s)"),
            ))
        } else if nrx > 0 {
            Some(
                Check::warn(
                    self.n("rss-queues"),
                    format!("{nrx} RX queue(s) for {cpus} CPUs: received ESP is decrypted on at most {nrx} CPU(s) without steering"),
                )
                .fix(format!("ethtool -L {ifname} combined {cpus}  (if the NIC has more queues), or steer by SPI: lanes steer attach {ifname}")),
            )
        } else {
            None
        }
    }

    /// RPS: spreads the protocol stack when the NIC cannot.
    fn rps(&self, rxq: &[&String]) -> Option<Check> {
        let base = &self.base;
        let rps: Vec<(String, String)> = rxq
            .iter()
            .filter_map(|q| {
                self.sys
                    .read(format!("{base}/queues/{q}/rps_cpus"))
                    .map(|m| (q.to_string(), m))
            })
            .collect();
        if !rps.is_empty() && rps.iter().all(|(_, m)| mask_is_zero(m)) {
            let mask = cpu_mask(self.cpus);
            let path = format!("{base}/queues/{}/rps_cpus", rps[0].0);
            Some(
                Check::warn(
                    self.n("rps"),
                    "RPS off: packets stay on the CPU that took the interrupt",
                )
                .fix(format!("echo {mask} > {path}"))
                .safe(path, mask),
            )
        } else if !rps.is_empty() {
            Some(Check::ok(self.n("rps"), format!("RPS mask {}", rps[0].1)))
        } else {
            None
        }
    }

    /// How many TX queues have an XPS CPU mask.
    fn xps(&self, txq: &[&String]) -> Option<Check> {
        let base = &self.base;
        let xps_set = txq
            .iter()
            .filter(|q| {
                self.sys
                    .read(format!("{base}/queues/{q}/xps_cpus"))
                    .is_some_and(|m| !mask_is_zero(&m))
            })
            .count();
        (!txq.is_empty()).then(|| {
            Check::info(
                self.n("xps"),
                format!(
                    "{xps_set} of {} TX queue(s) have an XPS CPU mask",
                    txq.len()
                ),
            )
        })
    }

    /// IRQ affinity of the device's MSI vectors.
    fn irq_affinity(&self) -> Option<Check> {
        let irqs = self.sys.list(format!("{}/device/msi_irqs", self.base));
        let affinities: Vec<(String, Vec<u32>)> = irqs
            .iter()
            .filter_map(|i| {
                self.sys
                    .read(format!("/proc/irq/{i}/smp_affinity_list"))
                    .map(|a| (i.clone(), parse_cpu_list(&a)))
            })
            .collect();
        if affinities.len() < 2 || self.cpus <= 1 {
            return None;
        }
        let first = &affinities[0].1;
        Some(
            if first.len() == 1 && affinities.iter().all(|(_, a)| a == first) {
                Check::warn(
                self.n("irq-affinity"),
                format!("all {} queue IRQs go to CPU {}", affinities.len(), first[0]),
            )
            .fix(format!(
                "spread them: echo CPU > /proc/irq/N/smp_affinity_list for each of IRQs {} (or run irqbalance)",
                irqs.join(",")
            ))
            } else {
                Check::ok(
                    self.n("irq-affinity"),
                    format!("{} queue IRQs spread over CPUs", affinities.len()),
                )
            },
        )
    }

    /// The ESP hardware offload feature (ethtool).
    fn esp_offload(&self) -> Check {
        let ifname = self.name;
        let feats = match ethtool::features(ifname) {
            Ok(feats) => feats,
            Err(e) => {
                return Check::info(
                    self.n("esp-hw-offload"),
                    format!("cannot read features: {e}"),
                );
            }
        };
        match feats.iter().find(|f| f.name == "esp-hw-offload") {
            Some(f) if f.active => Check::ok(
                self.n("esp-hw-offload"),
                "on: hw_offload = \"crypto\"/\"packet\" possible",
            ),
            Some(f) if f.available => Check::warn(self.n("esp-hw-offload"), "supported but off")
                .fix(format!("ethtool -K {ifname} esp-hw-offload on")),
            _ => Check::info(
                self.n("esp-hw-offload"),
                "not supported: hw_offload = \"auto\" uses software crypto",
            ),
        }
    }

    /// RSS hash fields for ESP and ESP-in-UDP (ethtool).
    fn rss_hash(&self) -> Vec<Check> {
        let ifname = self.name;
        let mut out = Vec::new();
        for (flow, label, proto) in [
            (ethtool::ESP_V4_FLOW, "esp4", "ESP"),
            (ethtool::UDP_V4_FLOW, "udp4", "UDP (ESP-in-UDP)"),
        ] {
            let name = self.n(&format!("rss-hash-{label}"));
            out.push(match ethtool::rx_flow_hash(ifname, flow) {
                Ok(bits) if bits & ethtool::RXH_L4 == ethtool::RXH_L4 => {
                    Check::ok(name, format!("{proto} hashed on addresses and SPI/ports"))
                }
                Ok(_) => Check::warn(
                    name,
                    format!("{proto} hashed on addresses only: a tunnel lands on one RX queue"),
                )
                .fix(format!("ethtool -N {ifname} rx-flow-hash {label} sdfn")),
                Err(e) => Check::info(name, format!("unknown ({e})")),
            });
        }
        out
    }
}

/// Checks for one interface.
pub fn checks(sys: &Sys, ifname: &str, cpus: u32) -> Vec<Check> {
    let iface = Iface {
        sys,
        name: ifname,
        base: format!("/sys/class/net/{ifname}"),
        cpus,
    };
    if !sys.exists(&iface.base) {
        return vec![Check::missing(iface.n("exists"), "no such interface").fix("ip link show")];
    }
    let mut out = vec![iface.xdp()];
    let queues = sys.list(format!("{}/queues", iface.base));
    let rxq: Vec<&String> = queues.iter().filter(|q| q.starts_with("rx-")).collect();
    let txq: Vec<&String> = queues.iter().filter(|q| q.starts_with("tx-")).collect();
    let nrx = rxq.len() as u32;
    out.extend(iface.rss_queues(nrx));
    if nrx > 0 && nrx < cpus {
        out.extend(iface.rps(&rxq));
    }
    out.extend(iface.xps(&txq));
    out.extend(iface.irq_affinity());
    if sys.live() {
        out.push(iface.esp_offload());
        if nrx > 1 {
            out.extend(iface.rss_hash());
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
