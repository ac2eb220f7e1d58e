//! One scrape: a fresh registry with the status report's series and the
//! shared [`Live`] counters, encoded as OpenMetrics text.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::{Live, ReasonLabel};
use crate::control::{ChildSaStatus, StatusReport, SteeringState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChildDirLabel {
    connection: String,
    child: String,
    cpu: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChildLabel {
    connection: String,
    child: String,
    cpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OffloadLabel {
    connection: String,
    child: String,
    cpu: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CpuDirLabel {
    cpu: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CpuResultLabel {
    cpu: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabel {
    exchange: String,
    initiator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeFailureLabel {
    exchange: String,
    initiator: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CpuLabel {
    cpu: String,
}

/// `3` for a per-CPU SA, `fallback` for an RFC 9611 fallback SA, else `none`.
pub(crate) fn cpu_label(c: &ChildSaStatus) -> String {
    match (c.cpu, c.per_cpu) {
        (Some(n), _) => n.to_string(),
        (None, true) => "fallback".into(),
        (None, false) => "none".into(),
    }
}

fn u(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Encodes one scrape. Series come from `report` (rebuilt each time, so a
/// deleted SA's series are gone) and from the shared `live` counters.
pub fn render(report: &StatusReport, live: &Live) -> String {
    let mut reg = Registry::with_prefix("lanes");
    register_ike(&mut reg, report);
    register_children(&mut reg, report);
    register_steering(&mut reg, report);
    register_live(&mut reg, live);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

fn register_ike(reg: &mut Registry, report: &StatusReport) {
    let sas = Family::<StateLabel, Gauge>::default();
    for state in ["connecting", "established", "closing"] {
        let n = report.ike_sas.iter().filter(|s| s.state == state).count();
        sas.get_or_create(&StateLabel { state })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    reg.register("ike_sas", "IKE SAs by state", sas);
    let Some(e) = &report.engine else { return };
    let half_open = Gauge::<i64>::default();
    half_open.set(u(e.half_open));
    reg.register(
        "ike_half_open_sas",
        "Responder IKE SAs between IKE_SA_INIT and IKE_AUTH (RFC 7296 §2.6)",
        half_open,
    );
    let cookies = Counter::<u64>::default();
    cookies.inc_by(e.cookies_sent);
    reg.register("ike_cookies_sent", "COOKIE notifies sent", cookies);
    let dropped = Family::<ReasonLabel, Counter>::default();
    for (reason, n) in [
        ("half_open_per_source", e.blocked_per_source),
        ("half_open_total", e.blocked_total),
        ("oversized", e.oversized),
    ] {
        dropped.get_or_create(&ReasonLabel { reason }).inc_by(n);
    }
    reg.register(
        "ike_requests_dropped",
        "IKE datagrams dropped before any state was made, by reason",
        dropped,
    );
    register_exchanges(reg, e);
}

/// Exchange types and notify names are registered names (or `other`), so
/// the label sets stay bounded.
fn register_exchanges(reg: &mut Registry, e: &crate::control::EngineStats) {
    let exchanges = Family::<ExchangeLabel, Counter>::default();
    for x in &e.exchanges {
        exchanges
            .get_or_create(&ExchangeLabel {
                exchange: x.exchange.clone(),
                initiator: x.initiator.clone(),
            })
            .inc_by(x.count);
    }
    reg.register(
        "ike_exchanges",
        "IKE exchanges by type and initiator (local: we sent the request), retransmissions not counted",
        exchanges,
    );
    let failures = Family::<ExchangeFailureLabel, Counter>::default();
    for f in &e.exchange_failures {
        failures
            .get_or_create(&ExchangeFailureLabel {
                exchange: f.exchange.clone(),
                initiator: f.initiator.clone(),
                reason: f.reason.clone(),
            })
            .inc_by(f.count);
    }
    reg.register(
        "ike_exchange_failures",
        "IKE exchanges that failed, by type, initiator and reason (error notify name or timeout)",
        failures,
    );
}

fn register_children(reg: &mut Registry, report: &StatusReport) {
    let f = ChildFamilies::default();
    for ike in &report.ike_sas {
        for c in &ike.children {
            f.add(&ike.connection, c);
        }
    }
    f.register(reg);
}

/// The per Child SA and per CPU series of [`register_children`].
#[derive(Default)]
struct ChildFamilies {
    bytes: Family<ChildDirLabel, Counter>,
    packets: Family<ChildDirLabel, Counter>,
    cpu_bytes: Family<CpuDirLabel, Counter>,
    cpu_packets: Family<CpuDirLabel, Counter>,
    replay: Family<ChildLabel, Counter>,
    integrity: Family<ChildLabel, Counter>,
    offload: Family<OffloadLabel, Gauge>,
    bindings: Family<CpuLabel, Gauge>,
    steered: Family<ChildLabel, Counter>,
}

impl ChildFamilies {
    fn add(&self, connection: &str, c: &ChildSaStatus) {
        let cpu = cpu_label(c);
        for (direction, b, p) in [
            ("in", c.bytes_in, c.packets_in),
            ("out", c.bytes_out, c.packets_out),
        ] {
            let l = ChildDirLabel {
                connection: connection.to_string(),
                child: c.name.clone(),
                cpu: cpu.clone(),
                direction,
            };
            self.bytes.get_or_create(&l).inc_by(b);
            self.packets.get_or_create(&l).inc_by(p);
            let l = CpuDirLabel {
                cpu: cpu.clone(),
                direction,
            };
            self.cpu_bytes.get_or_create(&l).inc_by(b);
            self.cpu_packets.get_or_create(&l).inc_by(p);
        }
        let l = ChildLabel {
            connection: connection.to_string(),
            child: c.name.clone(),
            cpu: cpu.clone(),
        };
        self.replay.get_or_create(&l).inc_by(c.replay_failures);
        self.integrity
            .get_or_create(&l)
            .inc_by(c.integrity_failures);
        self.offload
            .get_or_create(&OffloadLabel {
                connection: l.connection,
                child: l.child,
                cpu,
                mode: c.offload.clone(),
            })
            .set(1);
        if let SteeringState::Bound(n) = c.steering {
            self.bindings
                .get_or_create(&CpuLabel { cpu: n.to_string() })
                .inc();
            // Labelled like the SA, never by SPI: a rekeyed SA's binding
            // adds to the same series.
            self.steered
                .get_or_create(&ChildLabel {
                    connection: connection.to_string(),
                    child: c.name.clone(),
                    cpu: n.to_string(),
                })
                .inc_by(c.steered_packets);
        }
    }

    fn register(self, reg: &mut Registry) {
        let help = "ESP traffic of installed Child SAs (kernel lifetime counters)";
        reg.register_with_unit("child_sa", help, Unit::Bytes, self.bytes);
        reg.register("child_sa_packets", help, self.packets);
        let help = "ESP traffic of installed Child SAs summed per CPU of the SA";
        reg.register_with_unit("cpu_esp", help, Unit::Bytes, self.cpu_bytes);
        reg.register("cpu_esp_packets", help, self.cpu_packets);
        reg.register(
            "child_sa_replay_failures",
            "Inbound packets dropped as replays (xfrm_stats.replay + replay_window)",
            self.replay,
        );
        reg.register(
            "child_sa_integrity_failures",
            "Inbound packets that failed the ICV check (xfrm_stats.integrity_failed)",
            self.integrity,
        );
        reg.register(
            "child_sa_offload_mode",
            "1 for the offload mode in effect for each Child SA (none, crypto, packet)",
            self.offload,
        );
        reg.register(
            "steering_bindings",
            "Inbound SPIs bound to each CPU in the XDP steering map",
            self.bindings,
        );
        reg.register(
            "steering_binding_packets",
            "Packets the XDP program steered per binding of a Child SA's inbound SPI",
            self.steered,
        );
    }
}

fn register_steering(reg: &mut Registry, report: &StatusReport) {
    if report.steering_cpus.is_empty() {
        return;
    }
    let packets = Family::<CpuResultLabel, Counter>::default();
    for c in &report.steering_cpus {
        for (result, n) in &c.packets {
            packets
                .get_or_create(&CpuResultLabel {
                    cpu: c.cpu.to_string(),
                    result: result.clone(),
                })
                .inc_by(*n);
        }
    }
    reg.register(
        "steering_packets",
        "Packets seen by the XDP steering program, per CPU that ran it and verdict",
        packets,
    );
}

fn register_live(reg: &mut Registry, live: &Live) {
    reg.register(
        "ike_sa_events",
        "IKE SA lifecycle events",
        live.ike_sa_events.clone(),
    );
    reg.register(
        "ike_sa_failures",
        "IKE SAs that failed or closed abnormally, by reason",
        live.ike_sa_failures.clone(),
    );
    reg.register(
        "child_sa_events",
        "Child SA lifecycle events",
        live.child_sa_events.clone(),
    );
    reg.register(
        "child_sa_failures",
        "Child SAs that could not be established, by reason",
        live.child_sa_failures.clone(),
    );
    reg.register(
        "sa_installs",
        "Kernel SA installs (XFRM_MSG_NEWSA), by result",
        live.sa_installs.clone(),
    );
    reg.register_with_unit(
        "sa_install_duration",
        "Time to install a batch of SAs in the kernel",
        Unit::Seconds,
        live.sa_install_seconds.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::IkeSaStatus;

    #[test]
    fn steered_packets_per_binding_labelled_like_the_sa() {
        let child = |cpu, steering, steered_packets| ChildSaStatus {
            name: "net".into(),
            cpu: Some(cpu),
            per_cpu: true,
            steering,
            steered_packets,
            ..ChildSaStatus::default()
        };
        let report = StatusReport {
            ike_sas: vec![IkeSaStatus {
                connection: "gw".into(),
                children: vec![
                    child(0, SteeringState::Bound(0), 40),
                    // Old and new SA of a rekey on CPU 0, both bound.
                    child(0, SteeringState::Bound(0), 2),
                    child(1, SteeringState::Bound(1), 7),
                    child(2, SteeringState::Off, 99),
                ],
                ..IkeSaStatus::default()
            }],
            ..StatusReport::default()
        };
        let text = render(&report, &Live::default());
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("lanes_steering_binding_packets_total{"))
            .collect();
        assert_eq!(series.len(), 2, "{text}");
        assert!(
            series.contains(
                &r#"lanes_steering_binding_packets_total{connection="gw",child="net",cpu="0"} 42"#
            ),
            "{text}"
        );
        assert!(
            series.contains(
                &r#"lanes_steering_binding_packets_total{connection="gw",child="net",cpu="1"} 7"#
            ),
            "{text}"
        );
    }
}
