//! Rates between two status reports: per tunnel and CPU packets and Mbit/s
//! in and out, XDP redirects per CPU, and the balance of decryption over CPUs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::control::StatusReport;

/// An SA's identity across reports: (connection, child, cpu, inbound SPI).
type SaKey = (String, String, Option<u32>, String);

/// Byte and packet counters of one Child SA: (bytes in, packets in, bytes
/// out, packets out, packets XDP steered for its inbound SPI).
type SaCounts = [u64; 5];

/// What a sample keeps of one Child SA: (per-CPU group member, steering
/// bound, counters).
type SaEntry = (bool, bool, SaCounts);

/// The counters of one status report, taken at `at` (any monotonic origin).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    at: Duration,
    sas: BTreeMap<SaKey, SaEntry>,
    steered: BTreeMap<u32, u64>,
}

impl Sample {
    /// The counters of `report`, taken at `at`.
    pub fn new(report: &StatusReport, at: Duration) -> Self {
        let mut sas = BTreeMap::new();
        for ike in &report.ike_sas {
            for c in &ike.children {
                let key = (
                    ike.connection.clone(),
                    c.name.clone(),
                    c.cpu,
                    c.spi_in.clone(),
                );
                let counts = [
                    c.bytes_in,
                    c.packets_in,
                    c.bytes_out,
                    c.packets_out,
                    c.steered_packets,
                ];
                let bound = matches!(c.steering, crate::control::SteeringState::Bound(_));
                sas.insert(key, (c.per_cpu, bound, counts));
            }
        }
        let steered = report
            .steering_cpus
            .iter()
            .map(|s| (s.cpu, s.packets.get("steered").copied().unwrap_or(0)))
            .collect();
        Sample { at, sas, steered }
    }

    /// The same counters at time zero: a baseline that gives every SA a
    /// rate of zero until a second report arrives.
    pub fn baseline(&self) -> Self {
        Sample {
            at: Duration::ZERO,
            ..self.clone()
        }
    }
}

/// One tunnel's traffic on one CPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// `connection/child`.
    pub tunnel: String,
    /// The CPU of a per-CPU SA.
    pub cpu: Option<u32>,
    /// Part of an RFC 9611 group (`cpu: None` is then the fallback SA).
    pub per_cpu: bool,
    /// Packets per second decrypted.
    pub pps_in: f64,
    /// Packets per second encrypted.
    pub pps_out: f64,
    /// Mbit/s decrypted.
    pub mbps_in: f64,
    /// Mbit/s encrypted.
    pub mbps_out: f64,
    /// Packets per second XDP steered for the inbound SPI, when it is bound.
    pub steered_pps: Option<f64>,
}

impl Row {
    /// `cpu 3`, `fallback` or `-`.
    pub fn cpu_text(&self) -> String {
        match (self.cpu, self.per_cpu) {
            (Some(c), _) => format!("cpu {c}"),
            (None, true) => "fallback".into(),
            (None, false) => "-".into(),
        }
    }
}

/// What `lanes top` shows for one interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// Tunnels by CPU, sorted.
    pub rows: Vec<Row>,
    /// XDP redirects per second, by the CPU that ran the program.
    pub redirects: Vec<(u32, f64)>,
    /// Max over mean of the per-CPU decrypt rates (1.0 is perfect balance);
    /// `None` without per-CPU SAs or traffic.
    pub balance: Option<f64>,
}

/// `max / mean` of `rates`; `None` when empty or all zero.
pub fn balance(rates: &[f64]) -> Option<f64> {
    if rates.is_empty() {
        return None;
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let max = rates.iter().copied().fold(0.0, f64::max);
    (mean > 0.0).then(|| max / mean)
}

/// The rates between two samples. An SA missing from `prev` is new and
/// counts from zero; one gone from `cur` is not shown.
pub fn rates(prev: &Sample, cur: &Sample) -> View {
    let secs = cur.at.saturating_sub(prev.at).as_secs_f64();
    if secs <= 0.0 {
        return View::default();
    }
    let mut rows: BTreeMap<(String, Option<u32>), Row> = BTreeMap::new();
    for (key, (per_cpu, bound, now)) in &cur.sas {
        let before = prev.sas.get(key).map_or([0; 5], |(_, _, c)| *c);
        let d: Vec<f64> = now
            .iter()
            .zip(before)
            .map(|(n, b)| n.saturating_sub(b) as f64 / secs)
            .collect();
        let (conn, child, cpu, _) = key;
        let row = rows
            .entry((format!("{conn}/{child}"), *cpu))
            .or_insert_with(|| Row {
                tunnel: format!("{conn}/{child}"),
                cpu: *cpu,
                per_cpu: *per_cpu,
                ..Row::default()
            });
        row.mbps_in += d[0] * 8.0 / 1e6;
        row.pps_in += d[1];
        row.mbps_out += d[2] * 8.0 / 1e6;
        row.pps_out += d[3];
        if *bound {
            *row.steered_pps.get_or_insert(0.0) += d[4];
        }
    }
    let rows: Vec<Row> = rows.into_values().collect();
    let mut per_cpu: BTreeMap<u32, f64> = BTreeMap::new();
    for r in &rows {
        if let Some(c) = r.cpu {
            *per_cpu.entry(c).or_default() += r.pps_in;
        }
    }
    let redirects = cur
        .steered
        .iter()
        .map(|(cpu, n)| {
            let b = prev.steered.get(cpu).copied().unwrap_or(0);
            (*cpu, n.saturating_sub(b) as f64 / secs)
        })
        .collect();
    View {
        balance: balance(&per_cpu.into_values().collect::<Vec<_>>()),
        rows,
        redirects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ChildSaStatus, IkeSaStatus, SteerCpuStatus, SteeringState};

    fn child(cpu: Option<u32>, spi: &str, pkts_in: u64, pkts_out: u64) -> ChildSaStatus {
        ChildSaStatus {
            name: "net".into(),
            spi_in: spi.into(),
            cpu,
            per_cpu: true,
            packets_in: pkts_in,
            bytes_in: pkts_in * 1000,
            packets_out: pkts_out,
            bytes_out: pkts_out * 500,
            ..ChildSaStatus::default()
        }
    }

    fn report(children: Vec<ChildSaStatus>, steered: &[(u32, u64)]) -> StatusReport {
        StatusReport {
            ike_sas: vec![IkeSaStatus {
                connection: "gw".into(),
                children,
                ..IkeSaStatus::default()
            }],
            steering_cpus: steered
                .iter()
                .map(|(cpu, n)| SteerCpuStatus {
                    cpu: *cpu,
                    packets: [("steered".to_string(), *n)].into(),
                })
                .collect(),
            ..StatusReport::default()
        }
    }

    #[test]
    fn balance_is_max_over_mean() {
        assert_eq!(balance(&[]), None);
        assert_eq!(balance(&[0.0, 0.0]), None);
        assert_eq!(balance(&[100.0, 100.0]), Some(1.0));
        // 300 on one CPU, 100 on two others: mean 166.7, max/mean 1.8.
        let b = balance(&[300.0, 100.0, 100.0]).expect("traffic");
        assert!((b - 1.8).abs() < 1e-9, "{b}");
    }

    #[test]
    fn rates_per_cpu_over_the_interval() {
        let bound = |mut c: ChildSaStatus, steered| {
            c.steering = SteeringState::Bound(1);
            c.steered_packets = steered;
            c
        };
        let t0 = report(
            vec![
                child(Some(0), "a", 1000, 0),
                bound(child(Some(1), "b", 0, 0), 100),
            ],
            &[(0, 10)],
        );
        let t1 = report(
            vec![
                child(Some(0), "a", 3000, 400),
                bound(child(Some(1), "b", 1000, 0), 700),
            ],
            &[(0, 4010), (1, 100)],
        );
        let v = rates(
            &Sample::new(&t0, Duration::from_secs(10)),
            &Sample::new(&t1, Duration::from_secs(12)),
        );
        assert_eq!(v.rows.len(), 2);
        let cpu0 = &v.rows[0];
        assert_eq!(
            (cpu0.tunnel.as_str(), cpu0.cpu_text()),
            ("gw/net", "cpu 0".into())
        );
        assert_eq!((cpu0.pps_in, cpu0.pps_out), (1000.0, 200.0));
        // 1000 pps of 1000 bytes = 8 Mbit/s; 200 pps of 500 bytes = 0.8 Mbit/s.
        assert!((cpu0.mbps_in - 8.0).abs() < 1e-9 && (cpu0.mbps_out - 0.8).abs() < 1e-9);
        assert_eq!(v.rows[1].pps_in, 500.0);
        assert_eq!(v.redirects, vec![(0, 2000.0), (1, 50.0)]);
        assert_eq!(v.rows[0].steered_pps, None, "not bound: no binding rate");
        assert_eq!(v.rows[1].steered_pps, Some(300.0));
        // 1000 and 500 pps: mean 750, max/mean 4/3.
        assert!((v.balance.expect("balance") - 4.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn rekeyed_sa_counts_from_zero_and_old_one_is_dropped() {
        let t0 = report(vec![child(Some(0), "old", 5000, 0)], &[]);
        let t1 = report(vec![child(Some(0), "new", 100, 0)], &[]);
        let v = rates(
            &Sample::new(&t0, Duration::from_secs(1)),
            &Sample::new(&t1, Duration::from_secs(2)),
        );
        assert_eq!(v.rows.len(), 1);
        assert_eq!(v.rows[0].pps_in, 100.0, "no negative or stale rate");
        let same = rates(
            &Sample::new(&t1, Duration::from_secs(2)),
            &Sample::new(&t1, Duration::from_secs(2)),
        );
        assert_eq!(same, View::default(), "no interval, no rates");
    }
}
