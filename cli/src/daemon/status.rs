//! `lanes status`: the engine's IKE SA view joined with the planner's
//! records of installed Child SAs and the kernel's counters.

use ike_core::ChildSaId;

use super::backend::SaBackend;
use super::driver::Daemon;
use super::driver::algorithms_text;
use super::plan;
use super::planner::ChildRecord;
use super::steering::Steer;
use crate::control::{
    ChildSaStatus, EngineStats, IkeSaStatus, StatusReport, SteerCpuStatus, TrapStatus,
};

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// The status report, with kernel counters.
    pub(super) async fn status(&mut self) -> StatusReport {
        let mut report = StatusReport {
            daemon_version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.uptime(),
            connections: self.conns.keys().cloned().collect(),
            ..StatusReport::default()
        };
        report.connections.sort_unstable();
        for (conn, ch) in self.planner.traps() {
            let out = ch
                .trap_policies
                .iter()
                .find(|p| p.dir == xfrm_offload::PolicyDir::Out);
            report.traps.push(TrapStatus {
                connection: conn,
                child: ch.name.clone(),
                local_ts: out
                    .map(|p| vec![p.selector.src.to_string()])
                    .unwrap_or_default(),
                remote_ts: out
                    .map(|p| vec![p.selector.dst.to_string()])
                    .unwrap_or_default(),
                per_cpu: ch.per_cpu,
            });
        }
        let mut conns: Vec<(String, ike_core::ConnId)> =
            self.conns.iter().map(|(n, c)| (n.clone(), c.id)).collect();
        conns.sort_unstable();
        for (conn, id) in conns {
            for ike in self.ep.ike_sas_of(id) {
                if let Some(st) = self.ike_status(&conn, ike).await {
                    report.ike_sas.push(st);
                }
            }
        }
        report.engine = Some(self.engine_stats());
        report.steering_cpus = self.steer_cpus();
        report
    }

    fn engine_stats(&self) -> EngineStats {
        let dos = self.ep.dos_stats();
        EngineStats {
            half_open: u64::try_from(self.ep.half_open_count()).unwrap_or(u64::MAX),
            cookies_sent: dos.cookies_sent,
            blocked_per_source: dos.blocked_per_source,
            blocked_total: dos.blocked_total,
            oversized: dos.oversized,
            exchanges: super::exchange_status::exchanges(self.ep.exchange_stats()),
            exchange_failures: super::exchange_status::failures(self.ep.exchange_stats()),
        }
    }

    /// The XDP counters of the CPUs that saw any packet.
    fn steer_cpus(&self) -> Vec<SteerCpuStatus> {
        let Some(stats) = self.steer.stats() else {
            return Vec::new();
        };
        stats
            .per_cpu
            .iter()
            .filter(|c| c.counts.iter().any(|n| *n > 0))
            .map(|c| SteerCpuStatus {
                cpu: c.cpu,
                packets: ebpf_steer::Counter::ALL
                    .iter()
                    .map(|k| (k.name().to_string(), c.get(*k)))
                    .collect(),
            })
            .collect()
    }

    /// One IKE SA's status: the engine's view joined with what is installed
    /// for its Child SAs and the kernel's counters.
    async fn ike_status(&mut self, conn: &str, ike: ike_core::IkeSaId) -> Option<IkeSaStatus> {
        let info = self.ep.ike_sa_info(ike)?;
        let live: Vec<ChildSaId> = self
            .ep
            .child_sas(ike)
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        let recs: Vec<ChildRecord> = live
            .iter()
            .filter_map(|id| self.planner.child(*id).cloned())
            .collect();
        let mut children = Vec::new();
        let steered = self.steer.binding_packets().unwrap_or_default();
        for r in recs {
            let mut c = self.child_status(&r).await;
            c.steered_packets = steered.get(&r.sa_in.spi.0).copied().unwrap_or(0);
            children.push(c);
        }
        children.sort_by_key(|c| (c.name.clone(), c.cpu.map_or(-1, i64::from)));
        let state = match info.state {
            ike_core::IkeSaState::Established => "established",
            ike_core::IkeSaState::Connecting => "connecting",
            _ => "closing",
        };
        Some(IkeSaStatus {
            connection: conn.to_string(),
            state: state.into(),
            initiator: info.initiator,
            local: info.local.to_string(),
            remote: info.remote.to_string(),
            local_id: plan::identity_text(&info.local_id),
            remote_id: info
                .peer_id
                .as_ref()
                .map(plan::identity_text)
                .unwrap_or_default(),
            spi_i: format!("{:016x}", info.spi_i.0),
            spi_r: format!("{:016x}", info.spi_r.0),
            algorithms: info
                .algorithms
                .as_ref()
                .map(algorithms_text)
                .unwrap_or_default(),
            established_secs: info.established_at.map(|t| t.elapsed().as_secs()),
            children,
        })
    }

    async fn child_status(&mut self, r: &ChildRecord) -> ChildSaStatus {
        let cin = self.backend.counters(&r.sa_in).await.unwrap_or_default();
        let cout = self.backend.counters(&r.sa_out).await.unwrap_or_default();
        ChildSaStatus {
            name: r.name.to_string(),
            state: "installed".into(),
            spi_in: format!("{:08x}", r.sa_in.spi.0),
            spi_out: format!("{:08x}", r.sa_out.spi.0),
            cpu: r.cpu,
            per_cpu: r.per_cpu,
            mode: r.mode.into(),
            algorithms: r.algorithms.to_string(),
            local_ts: r.local_ts.clone(),
            remote_ts: r.remote_ts.clone(),
            bytes_in: cin.bytes,
            packets_in: cin.packets,
            bytes_out: cout.bytes,
            packets_out: cout.packets,
            replay_failures: cin.replay_failures,
            integrity_failures: cin.integrity_failures,
            offload: r.offload.to_string(),
            steering: r.steering,
            steered_packets: 0,
        }
    }
}
