//! What `lanes status` reports. The JSON form is part of the interface.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The daemon's view of its SAs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Daemon version.
    pub daemon_version: String,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Connections loaded from the configuration.
    pub connections: Vec<String>,
    /// Installed trap policies (start_action = trap) without a Child SA yet.
    #[serde(default)]
    pub traps: Vec<TrapStatus>,
    /// IKE SAs.
    pub ike_sas: Vec<IkeSaStatus>,
    /// Engine counters (absent from daemons that predate them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineStats>,
    /// XDP steering counters per CPU; empty without steering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steering_cpus: Vec<SteerCpuStatus>,
}

/// The engine's denial-of-service counters and half-open SAs (RFC 7296 §2.6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Responder IKE SAs between IKE_SA_INIT and IKE_AUTH now.
    pub half_open: u64,
    /// COOKIE notifies sent.
    pub cookies_sent: u64,
    /// IKE_SA_INITs dropped: too many half-open SAs from their address.
    pub blocked_per_source: u64,
    /// IKE_SA_INITs dropped: too many half-open SAs in all.
    pub blocked_total: u64,
    /// Datagrams dropped for their size.
    pub oversized: u64,
    /// IKE exchanges by type and initiator (absent from older daemons).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<ExchangeCount>,
    /// Failed IKE exchanges by type, initiator and reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_failures: Vec<ExchangeFailure>,
}

/// IKE exchanges of one type (RFC 7296 §1), as the engine counted them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeCount {
    /// `IKE_SA_INIT`, `IKE_AUTH`, `CREATE_CHILD_SA`, `INFORMATIONAL`, ...
    pub exchange: String,
    /// `local` (we sent the request) or `peer`.
    pub initiator: String,
    /// Exchanges.
    pub count: u64,
}

/// Failed IKE exchanges of one type and reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeFailure {
    /// The exchange type.
    pub exchange: String,
    /// `local` or `peer`.
    pub initiator: String,
    /// The error notify's name (`NO_PROPOSAL_CHOSEN`, ...) or `timeout`.
    pub reason: String,
    /// Failures.
    pub count: u64,
}

/// One CPU's XDP steering counters (packets), by counter name
/// (`steered`, `unknown_spi`, ...; see `ebpf_steer::Counter`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteerCpuStatus {
    /// The CPU that ran the XDP program.
    pub cpu: u32,
    /// Packets per counter name.
    pub packets: std::collections::BTreeMap<String, u64>,
}

/// One trap policy set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrapStatus {
    /// Connection name.
    pub connection: String,
    /// Child name.
    pub child: String,
    /// Our selectors.
    pub local_ts: Vec<String>,
    /// The peer's selectors.
    pub remote_ts: Vec<String>,
    /// Whether the policies carry XFRM_POLICY_CPU_ACQUIRE.
    pub per_cpu: bool,
}

/// One IKE SA.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    /// Connection name.
    pub connection: String,
    /// State, e.g. `connecting`, `established`, `rekeying`, `deleting`.
    pub state: String,
    /// Whether we initiated it.
    pub initiator: bool,
    /// Our address and port.
    pub local: String,
    /// The peer's address and port.
    pub remote: String,
    /// Our identity.
    pub local_id: String,
    /// The peer's identity.
    pub remote_id: String,
    /// Initiator SPI (hex).
    pub spi_i: String,
    /// Responder SPI (hex).
    pub spi_r: String,
    /// Negotiated algorithms, e.g. `AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub algorithms: String,
    /// Seconds since establishment.
    #[serde(default)]
    pub established_secs: Option<u64>,
    /// Child SAs.
    pub children: Vec<ChildSaStatus>,
}

/// One Child SA (an inbound/outbound SA pair).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildSaStatus {
    /// Child config name.
    pub name: String,
    /// State, e.g. `installed`, `rekeying`.
    pub state: String,
    /// Inbound SPI (hex).
    pub spi_in: String,
    /// Outbound SPI (hex).
    pub spi_out: String,
    /// CPU of a per-CPU SA; `None` for the fallback SA or a plain SA.
    pub cpu: Option<u32>,
    /// Whether this child is part of an RFC 9611 per-CPU group.
    pub per_cpu: bool,
    /// `tunnel` or `transport`.
    pub mode: String,
    /// Negotiated ESP algorithms.
    pub algorithms: String,
    /// Our selectors.
    pub local_ts: Vec<String>,
    /// The peer's selectors.
    pub remote_ts: Vec<String>,
    /// Kernel counters of the inbound SA.
    pub bytes_in: u64,
    /// Kernel counters of the inbound SA.
    pub packets_in: u64,
    /// Kernel counters of the outbound SA.
    pub bytes_out: u64,
    /// Kernel counters of the outbound SA.
    pub packets_out: u64,
    /// Inbound packets the kernel dropped as replayed or outside the replay
    /// window (`xfrm_stats.replay` + `replay_window`, include/uapi/linux/xfrm.h).
    #[serde(default)]
    pub replay_failures: u64,
    /// Inbound packets that failed the ICV check (`xfrm_stats.integrity_failed`).
    #[serde(default)]
    pub integrity_failures: u64,
    /// Offload in effect: `none`, `crypto` or `packet`.
    pub offload: String,
    /// XDP steering of the inbound SPI.
    pub steering: SteeringState,
    /// Packets the XDP program steered for the inbound SPI's binding.
    #[serde(default)]
    pub steered_packets: u64,
}

/// Steering of an inbound SPI to a CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "cpu")]
pub enum SteeringState {
    /// No steering attached (or not a per-CPU SA).
    #[default]
    Off,
    /// The SPI is bound to this CPU in the steering map.
    Bound(u32),
    /// Binding failed; packets follow RSS.
    Failed,
}

impl ChildSaStatus {
    /// `cpu 3` or `fallback`.
    pub fn cpu_label(&self) -> String {
        match (self.cpu, self.per_cpu) {
            (Some(c), _) => format!("cpu {c}"),
            (None, true) => "fallback".into(),
            (None, false) => "-".into(),
        }
    }
}

impl StatusReport {
    /// Human-readable rendering (swanctl --list-sas style).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lanes {} up {}s, {} connection(s): {}",
            self.daemon_version,
            self.uptime_secs,
            self.connections.len(),
            self.connections.join(", ")
        );
        for t in &self.traps {
            let _ = writeln!(
                s,
                "trap {}/{}: {} === {}{}",
                t.connection,
                t.child,
                t.local_ts.join(","),
                t.remote_ts.join(","),
                if t.per_cpu { " (per-CPU acquires)" } else { "" }
            );
        }
        if self.ike_sas.is_empty() {
            let _ = writeln!(s, "no IKE SAs");
        }
        for ike in &self.ike_sas {
            ike.render(&mut s);
        }
        s
    }
}

impl IkeSaStatus {
    /// Appends this IKE SA and its Child SAs to a status rendering.
    fn render(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "{}: {}, {}[{}]...{}[{}]{}",
            self.connection,
            self.state.to_uppercase(),
            self.local,
            self.local_id,
            self.remote,
            self.remote_id,
            self.established_secs
                .map(|e| format!(", {e}s ago"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  {} SPIs: {}_i{} {}_r{}",
            if self.initiator {
                "initiator"
            } else {
                "responder"
            },
            self.spi_i,
            if self.initiator { "*" } else { "" },
            self.spi_r,
            if self.initiator { "" } else { "*" },
        );
        let _ = writeln!(s, "  {}", self.algorithms);
        for c in &self.children {
            c.render(s);
        }
    }
}

impl ChildSaStatus {
    /// Appends this Child SA to a status rendering.
    fn render(&self, s: &mut String) {
        let steer = match self.steering {
            SteeringState::Off => String::new(),
            SteeringState::Bound(cpu) => format!(", steered to cpu {cpu}"),
            SteeringState::Failed => ", steering failed".into(),
        };
        let _ = writeln!(
            s,
            "  {}: {}, {}, {}, {}, offload {}{}",
            self.name,
            self.state.to_uppercase(),
            self.cpu_label(),
            self.mode.to_uppercase(),
            self.algorithms,
            self.offload,
            steer
        );
        let _ = writeln!(
            s,
            "    in  {}, {} bytes, {} packets",
            self.spi_in, self.bytes_in, self.packets_in
        );
        let _ = writeln!(
            s,
            "    out {}, {} bytes, {} packets",
            self.spi_out, self.bytes_out, self.packets_out
        );
        let _ = writeln!(s, "    local  {}", self.local_ts.join(" "));
        let _ = writeln!(s, "    remote {}", self.remote_ts.join(" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_cpu_or_fallback_and_counters() {
        let mut child = ChildSaStatus {
            name: "net".into(),
            state: "installed".into(),
            spi_in: "c1a2b3c4".into(),
            spi_out: "0badf00d".into(),
            per_cpu: true,
            bytes_in: 1234,
            packets_in: 7,
            offload: "none".into(),
            ..Default::default()
        };
        let mut cpu1 = child.clone();
        cpu1.cpu = Some(1);
        cpu1.steering = SteeringState::Bound(1);
        child.cpu = None;
        let r = StatusReport {
            daemon_version: "0.1.0".into(),
            connections: vec!["gw-b".into()],
            ike_sas: vec![IkeSaStatus {
                connection: "gw-b".into(),
                state: "established".into(),
                children: vec![child, cpu1],
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = r.render();
        assert!(text.contains("net: INSTALLED, fallback"), "{text}");
        assert!(text.contains("net: INSTALLED, cpu 1"), "{text}");
        assert!(text.contains("steered to cpu 1"), "{text}");
        assert!(
            text.contains("in  c1a2b3c4, 1234 bytes, 7 packets"),
            "{text}"
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["ike_sas"][0]["children"][1]["cpu"], 1);
        assert!(json["ike_sas"][0]["children"][0]["cpu"].is_null());
        assert_eq!(
            json["ike_sas"][0]["children"][1]["steering"]["state"],
            "bound"
        );
    }
}
