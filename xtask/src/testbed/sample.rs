//! One testbed measurement (`@@TB` line of `xtask/guest/bin/testbed`) and
//! what is derived from its counters: CPU time per packet, per-CPU
//! decryption balance and drops.

use std::collections::BTreeMap;

/// Ticks per second of `/proc/stat` (`USER_HZ`, fixed at 100 for userspace).
const USER_HZ: f64 = 100.0;

/// CPU time of one CPU over a measurement, in `USER_HZ` ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jiffies {
    pub cpu: u32,
    /// user + nice + system + irq + softirq.
    pub busy: u64,
    pub softirq: u64,
    pub total: u64,
}

/// One measurement.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// CPUs (per side for split).
    pub cpus: u32,
    /// vCPUs of the boot.
    pub vcpus: u32,
    pub topo: String,
    pub case: String,
    /// gw-a's daemon ("-" for the unencrypted case).
    pub peer: String,
    /// tcp, udp (-b 0), udpLEN (bounded rate), rr.
    pub proto: String,
    /// Round (0 = warm-up).
    pub rep: u32,
    /// Mbit/s (tcp/udp), transactions/s (rr).
    pub value: f64,
    /// Packets gw-b's wan received.
    pub rx: u64,
    pub pps: f64,
    pub jif: Vec<Jiffies>,
    /// gw-b's inbound SA packets by pcpu-num, as printed.
    pub sa: String,
    /// gw-b's inbound SA packets by SPI.
    pub spi_in: Vec<(u32, u64)>,
    /// Steering bindings in effect (SPI, CPU).
    pub bind: Vec<(u32, u32)>,
    /// gw-a's outbound per-CPU SAs (SPI, pcpu-num).
    pub a_out: Vec<(u32, u32)>,
    /// The CPU the wire delivers on; `None`: the sender's (direct).
    pub rx_cpu: Option<u32>,
    pub steered: u64,
    pub udp_rcvbuf: u64,
    pub softnet_drop: u64,
    pub squeeze: u64,
    /// `/proc/net/xfrm_stat` counters of gw-b that moved ("Name:delta,...").
    pub xfrm_err: String,
    /// Bounded UDP: datagrams lost and sent (receiver's report).
    pub lost: u64,
    pub sent: u64,
    /// Bounded UDP: the datagrams/s per stream the search settled on, and
    /// its trials as printed ("pps/lost/sent;...").
    pub offered_pps: Option<f64>,
    pub trials: String,
    /// ESP decryptions counted per (CPU, SPI) by the guest's esp_input
    /// probe, both gateways; `None`: the line has no count (probe off, or
    /// an output from before counting).
    pub dec: Option<Vec<(u32, u32, u64)>>,
    /// rr: mean, P50, P99 latency in µs (`None`: not reported).
    pub lat_us: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

fn kv(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// An SPI as printed by `ip xfrm` (`0x...`) or JSON (decimal).
fn spi(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `k:v,k:v` pairs; entries that do not parse are dropped.
fn pairs<V: std::str::FromStr>(s: &str) -> Vec<(u32, V)> {
    s.split(',')
        .filter_map(|p| {
            let (k, v) = p.split_once(':')?;
            Some((spi(k)?, v.parse().ok()?))
        })
        .collect()
}

/// `cpu:spi:count,...` triples; entries that do not parse are dropped.
fn decrypts(s: &str) -> Vec<(u32, u32, u64)> {
    s.split(',')
        .filter_map(|t| {
            let mut f = t.split(':');
            let cpu = f.next()?.parse().ok()?;
            let spi = spi(f.next()?)?;
            Some((cpu, spi, f.next()?.parse().ok()?))
        })
        .collect()
}

fn jiffies(s: &str) -> Vec<Jiffies> {
    s.split(',')
        .filter_map(|p| {
            let (cpu, rest) = p.split_once(':')?;
            let v: Vec<u64> = rest.split('/').filter_map(|x| x.parse().ok()).collect();
            Some(Jiffies {
                cpu: cpu.parse().ok()?,
                busy: *v.first()?,
                softirq: *v.get(1)?,
                total: *v.get(2)?,
            })
        })
        .collect()
}

/// The busy share (min, max over CPUs) of the boot's calibration, every
/// CPU spinning (`@@TB-CAL jif=...`); `None` for runs from before it.
pub fn spin_busy(stdout: &str) -> Option<(f64, f64)> {
    let rest = stdout.lines().find_map(|l| l.strip_prefix("@@TB-CAL "))?;
    let jif = rest
        .split_whitespace()
        .find_map(|w| w.strip_prefix("jif="))
        .map(jiffies)?;
    let shares: Vec<f64> = jif
        .iter()
        .filter(|j| j.total > 0)
        .map(|j| j.busy as f64 / j.total as f64)
        .collect();
    let min = shares.iter().copied().reduce(f64::min)?;
    let max = shares.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

impl Sample {
    /// Parses one `@@TB` line (without the prefix) of a boot with `cpus`
    /// CPUs (per side) on `vcpus` vCPUs.
    pub fn parse(cpus: u32, vcpus: u32, rest: &str) -> Self {
        let m = kv(rest);
        let s = |k: &str| m.get(k).copied().unwrap_or_default().to_string();
        let f = |k: &str| m.get(k).and_then(|x| x.parse::<f64>().ok());
        let u = |k: &str| m.get(k).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let proto = s("proto");
        let rr = proto == "rr";
        // netperf prints -1 (or nothing) for a statistic it did not keep.
        let lat = |k: &str| f(k).filter(|v| *v > 0.0);
        Sample {
            cpus,
            vcpus,
            topo: s("topo"),
            case: s("case"),
            peer: m.get("peer").copied().unwrap_or("-").into(),
            rep: u("rep") as u32,
            value: f(if rr { "tps" } else { "mbps" }).unwrap_or(0.0),
            rx: u("rx"),
            pps: f("pps").unwrap_or(0.0),
            jif: jiffies(&s("jif")),
            sa: s("sa"),
            spi_in: pairs(&s("spi_in")),
            bind: pairs(&s("bind")),
            a_out: pairs(&s("a_out")),
            rx_cpu: m.get("rx_cpu").and_then(|x| x.parse().ok()),
            steered: u("steered"),
            udp_rcvbuf: u("udp_rcvbuf"),
            softnet_drop: u("softnet_drop"),
            squeeze: u("squeeze"),
            xfrm_err: s("xfrm_err"),
            lost: u("lost"),
            sent: u("sent"),
            offered_pps: f("offered_pps"),
            trials: s("trials"),
            dec: m.get("dec").map(|d| decrypts(d)),
            lat_us: lat("lat_us"),
            p50_us: lat("p50_us"),
            p99_us: lat("p99_us"),
            proto,
        }
    }

    pub fn warmup(&self) -> bool {
        self.rep == 0
    }

    /// The receiving side's CPUs: N..2N-1 in split, every vCPU otherwise.
    pub fn rx_side(&self) -> std::ops::Range<u32> {
        if self.topo == "split" {
            self.cpus..2 * self.cpus
        } else {
            0..self.vcpus
        }
    }

    /// The sending side's CPUs: 0..N-1 in split, every vCPU otherwise.
    pub fn tx_side(&self) -> std::ops::Range<u32> {
        if self.topo == "split" {
            0..self.cpus
        } else {
            0..self.vcpus
        }
    }

    /// Busy CPU µs per packet gw-b received, summed over `cpus`.
    pub fn us_per_packet(&self, cpus: std::ops::Range<u32>) -> Option<f64> {
        if self.rx == 0 || self.jif.is_empty() {
            return None;
        }
        let ticks: u64 = self
            .jif
            .iter()
            .filter(|j| cpus.contains(&j.cpu))
            .map(|j| j.busy)
            .sum();
        Some(ticks as f64 / USER_HZ * 1e6 / self.rx as f64)
    }

    /// Busy and total CPU seconds of `cpus` over the measurement window.
    pub fn cpu_seconds(&self, cpus: std::ops::Range<u32>) -> Option<(f64, f64)> {
        let on: Vec<&Jiffies> = self.jif.iter().filter(|j| cpus.contains(&j.cpu)).collect();
        if on.is_empty() {
            return None;
        }
        let busy: u64 = on.iter().map(|j| j.busy).sum();
        let total: u64 = on.iter().map(|j| j.total).sum();
        Some((busy as f64 / USER_HZ, total as f64 / USER_HZ))
    }

    /// "cpu:busy%,..." from the jiffies.
    pub fn busy(&self) -> String {
        let v: Vec<String> = self
            .jif
            .iter()
            .map(|j| {
                let pct = (100 * j.busy).checked_div(j.total).unwrap_or(0);
                format!("{}:{pct}", j.cpu)
            })
            .collect();
        v.join(",")
    }

    /// The CPU that decrypted the packets of inbound SA `spi`: its binding
    /// when steered, else the CPU the wire delivers on, else (direct) the
    /// CPU gw-a sent it from (a veth receives on the sending CPU).
    fn decrypt_cpu(&self, spi: u32) -> Option<u32> {
        let find = |v: &[(u32, u32)]| v.iter().find(|(s, _)| *s == spi).map(|(_, c)| *c);
        find(&self.bind)
            .or(self.rx_cpu)
            .or_else(|| find(&self.a_out))
    }

    /// ESP packets decrypted per receiving-side CPU: counted where the
    /// line has counts (gw-b's inbound SAs only; a CPU outside the
    /// receiving side that decrypted is listed too), else inferred from where
    /// each SA's packets are processed ([`Sample::decrypt_cpu`]). `None`
    /// without ESP, or when inferred and an SA's CPU cannot be told (one
    /// SA in direct: its packets are received on every sending CPU).
    pub fn decrypted_by_cpu(&self) -> Option<BTreeMap<u32, u64>> {
        let mut by: BTreeMap<u32, u64> = self.rx_side().map(|c| (c, 0)).collect();
        let mut any = false;
        if let Some(dec) = &self.dec {
            for &(cpu, spi, n) in dec {
                if n > 0 && self.spi_in.iter().any(|(s, _)| *s == spi) {
                    *by.entry(cpu).or_default() += n;
                    any = true;
                }
            }
            return any.then_some(by);
        }
        for &(spi, n) in self.spi_in.iter().filter(|(_, n)| *n > 0) {
            *by.entry(self.decrypt_cpu(spi)?).or_default() += n;
            any = true;
        }
        any.then_some(by)
    }

    /// max / mean of [`Sample::decrypted_by_cpu`] over the receiving side:
    /// 1 is even, N is everything on one of N CPUs.
    pub fn balance(&self) -> Option<f64> {
        let by = self.decrypted_by_cpu()?;
        let total: u64 = by.values().sum();
        let max = *by.values().max()?;
        (total > 0).then(|| max as f64 * by.len() as f64 / total as f64)
    }

    /// True when the balance is counted, not inferred.
    pub fn balance_counted(&self) -> bool {
        self.dec.is_some()
    }

    /// Lost / sent of a bounded UDP run, in %.
    pub fn loss_pct(&self) -> Option<f64> {
        (self.sent > 0).then(|| 100.0 * self.lost as f64 / self.sent as f64)
    }

    /// All drop counters that moved, "" if none.
    pub fn drops(&self) -> String {
        let mut v = Vec::new();
        for (name, n) in [
            ("UdpRcvbufErrors", self.udp_rcvbuf),
            ("softnet dropped", self.softnet_drop),
            ("softnet squeezed", self.squeeze),
        ] {
            if n > 0 {
                v.push(format!("{name} {n}"));
            }
        }
        if !self.xfrm_err.is_empty() {
            v.push(self.xfrm_err.replace(':', " ").replace(',', ", "));
        }
        v.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(extra: &str) -> Sample {
        Sample::parse(
            1,
            2,
            &format!(
                "topo=split case=pcpu-steer peer=lanes proto=udp1400 rep=2 mbps=5.5 pps=100 rx=1000 \
                 jif=0:50/10/100,1:80/60/100 sa=0:1000 spi_in=0xc0000001:600,0xc0000002:400 \
                 rx_cpu=1 steered=1000 udp_rcvbuf=3 softnet_drop=0 squeeze=2 \
                 xfrm_err=XfrmInNoStates:4 lost=10 sent=1000 {extra}"
            ),
        )
    }

    #[test]
    fn parses_counters_and_derives_costs() {
        let s = line("bind=3221225473:1,3221225474:1");
        assert_eq!(s.spi_in, vec![(0xc000_0001, 600), (0xc000_0002, 400)]);
        assert_eq!(s.bind, vec![(0xc000_0001, 1), (0xc000_0002, 1)]);
        // 80 ticks of CPU 1 = 0.8 s over 1000 packets.
        assert_eq!(s.us_per_packet(s.rx_side()), Some(800.0));
        assert_eq!(s.us_per_packet(s.tx_side()), Some(500.0));
        assert_eq!(s.cpu_seconds(s.rx_side()), Some((0.8, 1.0)));
        assert_eq!(s.busy(), "0:50,1:80");
        assert_eq!(s.loss_pct(), Some(1.0));
        assert_eq!(
            s.drops(),
            "UdpRcvbufErrors 3; softnet squeezed 2; XfrmInNoStates 4"
        );
        assert!(!s.warmup());
    }

    #[test]
    fn balance_follows_bindings_then_the_wire() {
        // Split with 2 per side: receive side is CPUs 2 and 3.
        let mut s = line("bind=3221225473:2,3221225474:3");
        s.cpus = 2;
        s.vcpus = 4;
        assert_eq!(s.balance(), Some(1.2)); // 600 of 1000 on one of 2
        s.bind.clear();
        s.rx_cpu = Some(2);
        assert_eq!(s.balance(), Some(2.0)); // all on CPU 2
        // Direct without a known CPU: not told.
        s.rx_cpu = None;
        assert_eq!(s.balance(), None);
        s.a_out = vec![(0xc000_0001, 0), (0xc000_0002, 1)];
        s.topo = "direct".into();
        assert_eq!(s.balance(), Some(2.4)); // 600 of 1000 on one of 4
        // rr's netperf -1 is "not reported".
        assert!(!s.balance_counted());
        let r = Sample::parse(1, 2, "proto=rr tps=10 lat_us=100 p50_us=-1 p99_us=300");
        assert_eq!((r.p50_us, r.p99_us, r.value), (None, Some(300.0), 10.0));
    }

    #[test]
    fn counted_decrypts_win_over_inference_and_keep_to_gw_b() {
        // Bound to CPU 1, but the probe saw CPU 0 decrypt most of one SA;
        // 0xc0000009 is gw-a's inbound SA (TCP's ACKs) and is left out.
        let s = line(
            "bind=3221225473:1,3221225474:1 \
             dec=0:0xc0000001:500,1:0xc0000001:100,1:0xc0000002:400,0:0xc0000009:77",
        );
        assert!(s.balance_counted());
        let by = s.decrypted_by_cpu().unwrap();
        // Split N=1: CPU 0 is the sender's side, yet it decrypted: shown.
        assert_eq!(by.into_iter().collect::<Vec<_>>(), vec![(0, 500), (1, 500)]);
        assert_eq!(s.balance(), Some(1.0));
        let mut d = s.clone();
        d.cpus = 2;
        d.vcpus = 4;
        d.dec = Some(vec![(2, 0xc000_0001, 300), (3, 0xc000_0002, 100)]);
        assert_eq!(d.balance(), Some(1.5)); // 300 of 400 on one of 2
        // Counting on, no ESP of gw-b: no balance (not an inferred one).
        d.dec = Some(vec![]);
        assert_eq!(d.balance(), None);
        let u = Sample::parse(
            1,
            2,
            "proto=udp64 offered_pps=4000 trials=1000/0/3000;4000/2/12000 dec=",
        );
        assert_eq!(u.offered_pps, Some(4000.0));
        assert_eq!(u.trials, "1000/0/3000;4000/2/12000");
        assert_eq!(u.dec, Some(vec![]));
    }
}
