//! Kernel side of the loop: traps, Child SA installs and removals, teardown
//! and status counters.

use std::time::Instant;

use anyhow::{Context, Result};
use ike_core::{ChildSaId, ChildSaInstall};
use xfrm_offload::{OffloadMode, PolicySpec};

use super::backend::SaBackend;
use super::driver::Daemon;
use super::driver::algorithms_text;
use super::kernel::{self, esp_name};
use super::netif::iface_for;
use super::plan::{self, POLICY_PRIORITY};
use super::state::{ChildRecord, Holder};
use super::steering::Steer;
use crate::control::{ChildSaStatus, IkeSaStatus, StatusReport, SteeringState, TrapStatus};

/// Status text of selectors: prefixes, with `[proto/ports]` when not any.
fn ts_text(ts: &[ike_core::TrafficSelector]) -> Vec<String> {
    let mut out = Vec::new();
    for t in ts {
        let suffix = match (t.protocol, t.start_port, t.end_port) {
            (0, 0, u16::MAX) => String::new(),
            (p, 0, u16::MAX) => format!("[{p}]"),
            (p, a, b) if a == b => format!("[{p}/{a}]"),
            (p, a, b) => format!("[{p}/{a}-{b}]"),
        };
        for p in ike_core::selector::prefixes(t.start, t.end) {
            out.push(format!("{}/{}{suffix}", p.addr, p.len));
        }
    }
    out
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// Installs the trap policies of every `start_action = trap` child of `conn`.
    pub(super) async fn install_traps(&mut self, conn: &str) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let traps: Vec<(String, Vec<PolicySpec>)> = c
            .plan
            .children
            .iter()
            .filter(|ch| !ch.trap_policies.is_empty())
            .map(|ch| (ch.name.clone(), ch.trap_policies.clone()))
            .collect();
        for (child, specs) in traps {
            let holder = Holder::Trap(conn.to_string(), child.clone());
            for spec in specs {
                if self.tables.policies.hold(&spec, holder.clone())
                    && let Err(e) = self.backend.add_policy(&spec).await
                {
                    tracing::error!(connection = %conn, child = %child, "trap policy not installed: {e:#}");
                    self.tables.policies.forget(&spec.id());
                }
            }
            tracing::info!(connection = %conn, child = %child, "trap installed");
        }
    }

    /// Installs a negotiated Child SA: inbound SA, outbound SA, policies, steering.
    pub(super) async fn install_child(&mut self, conn: &str, inst: &ChildSaInstall) -> Result<()> {
        let plan = self
            .conns
            .get(conn)
            .and_then(|c| c.plan.child_by_reqid(inst.reqid))
            .cloned()
            .context("the Child SA's reqid matches no configured child")?;
        let (sa_in, sa_out) = kernel::child_sas(inst, self.caps, plan.replay_window)?;
        let iface = if plan.offload == OffloadMode::No {
            None
        } else {
            iface_for(inst.local.ip())
        };
        let offload = self
            .backend
            .add_sa(&sa_in, plan.offload, iface.as_deref())
            .await
            .with_context(|| format!("inbound SA {:08x}", inst.spi_in.0))?;
        if let Err(e) = self
            .backend
            .add_sa(&sa_out, plan.offload, iface.as_deref())
            .await
        {
            let _ = self.backend.delete_sa(&sa_in.id()).await;
            return Err(e.context(format!("outbound SA {:08x}", inst.spi_out.0)));
        }
        let blocks = match kernel::blocks(&inst.local_ts, &inst.remote_ts) {
            Ok(b) => b,
            Err(e) => {
                let _ = self.backend.delete_sa(&sa_out.id()).await;
                let _ = self.backend.delete_sa(&sa_in.id()).await;
                return Err(e.context("negotiated traffic selectors"));
            }
        };
        let mut specs = kernel::policies(
            inst.local.ip(),
            inst.remote.ip(),
            &blocks,
            plan.tunnel,
            inst.reqid,
            inst.per_cpu,
            POLICY_PRIORITY,
        );
        // Packet offload: the policies go to the device too (updated in place).
        let packet = offload.packet_ifindex;
        for s in &mut specs {
            s.offload = packet;
        }
        let holder = Holder::Child(conn.to_string(), inst.child);
        let mut held = Vec::new();
        for spec in &specs {
            held.push(spec.id());
            // A plain child of a per-CPU trap (the peer ignored SA_RESOURCE_INFO)
            // rewrites the trap's policies without XFRM_POLICY_CPU_ACQUIRE: the
            // kernel would otherwise park each CPU's packets on a larval acquire
            // state nobody answers (like strongSwan, the child's policy wins).
            if (self.tables.policies.hold(spec, holder.clone())
                || packet.is_some()
                || (!inst.per_cpu && plan.per_cpu))
                && let Err(e) = self.backend.add_policy(spec).await
            {
                for id in &held {
                    if let Some(p) = self.tables.policies.release(id, &holder) {
                        let _ = self.backend.delete_policy(&p.id()).await;
                    }
                }
                let _ = self.backend.delete_sa(&sa_out.id()).await;
                let _ = self.backend.delete_sa(&sa_in.id()).await;
                return Err(e.context("installing policies"));
            }
        }
        let cpu = inst.resource.map(|c| c.0);
        let steering = match cpu {
            Some(cpu) if self.steer.active() => match self.steer.bind(inst.spi_in.0, cpu) {
                Ok(()) => SteeringState::Bound(cpu),
                Err(e) => {
                    tracing::warn!(spi = %inst.spi_in, cpu, "steering bind failed: {e:#}");
                    SteeringState::Failed
                }
            },
            _ => SteeringState::Off,
        };
        tracing::info!(
            connection = %conn, child = %inst.name,
            spi_in = format_args!("{:08x}", inst.spi_in.0), spi_out = format_args!("{:08x}", inst.spi_out.0),
            cpu = ?cpu, per_cpu = inst.per_cpu, offload = %offload.mode,
            "Child SA installed"
        );
        self.tables.children.insert(
            inst.child,
            ChildRecord {
                conn: conn.to_string(),
                ike: inst.ike,
                name: inst.name.clone(),
                reqid: inst.reqid,
                sa_in: sa_in.id(),
                sa_out: sa_out.id(),
                cpu,
                per_cpu: inst.per_cpu,
                mode: if plan.tunnel { "tunnel" } else { "transport" },
                algorithms: esp_name(&inst.esp),
                local_ts: ts_text(&inst.local_ts),
                remote_ts: ts_text(&inst.remote_ts),
                offload: offload.mode,
                steering,
                policies: held,
            },
        );
        Ok(())
    }

    /// RFC 9611 §4.2, initiator side, on the engine's `PerCpuGroupFull`:
    /// after TS_MAX_QUEUE the engine asks for no more SAs of the group until
    /// one of them goes away, so the group's outbound policy stops raising
    /// per-CPU acquires (`on = false`):
    /// otherwise the kernel parks each refused CPU's packets on a larval
    /// acquire state for `xfrm_acq_expires` instead of sending them over the
    /// fallback SA (net/xfrm/xfrm_state.c, xfrm_state_find). `on = true`
    /// puts XFRM_POLICY_CPU_ACQUIRE back once the group may grow again.
    pub(super) async fn set_cpu_acquire(&mut self, conn: &str, child: &str, on: bool) {
        let key = (conn.to_string(), child.to_string());
        if on != self.acquire_paused.contains(&key) {
            return;
        }
        // The group's policies: its trap's and those its Child SAs hold.
        let mut ids: Vec<_> = self
            .conns
            .get(conn)
            .and_then(|c| c.plan.children.iter().find(|ch| ch.name == child))
            .map(|ch| ch.trap_policies.iter().map(PolicySpec::id).collect())
            .unwrap_or_default();
        ids.extend(
            self.tables
                .children
                .values()
                .filter(|r| r.conn == conn && r.name == child && r.per_cpu)
                .flat_map(|r| r.policies.iter().cloned()),
        );
        // The table keeps each policy as installed by plan (flag set).
        let specs: Vec<PolicySpec> = self
            .tables
            .policies
            .all()
            .into_iter()
            .filter(|p| p.cpu_acquire && ids.contains(&p.id()))
            .collect();
        for mut spec in specs {
            spec.cpu_acquire = on;
            if let Err(e) = self.backend.add_policy(&spec).await {
                tracing::warn!(connection = %conn, child = %child, "updating CPU_ACQUIRE on a policy: {e:#}");
            }
        }
        if on {
            self.acquire_paused.remove(&key);
            tracing::info!(connection = %conn, child = %child, "per-CPU acquires resumed");
        } else {
            self.acquire_paused.insert(key);
            tracing::info!(connection = %conn, child = %child, "peer sent TS_MAX_QUEUE: per-CPU acquires off, CPUs without an SA use the fallback SA");
        }
    }

    /// Removes a Child SA's SAs, the policies only it held, and its steering entry.
    pub(super) async fn remove_child(&mut self, child: ChildSaId) {
        let Some(rec) = self.tables.children.remove(&child) else {
            return;
        };
        let conn = rec.conn.as_str();
        if let SteeringState::Bound(_) = rec.steering
            && let Err(e) = self.steer.unbind(rec.sa_in.spi.0)
        {
            tracing::warn!("steering unbind failed: {e:#}");
        }
        let holder = Holder::Child(conn.to_string(), child);
        // The per-CPU trap policies a plain child overwrote (see install_child).
        let trap_specs: Vec<PolicySpec> = if rec.per_cpu {
            Vec::new()
        } else {
            self.conns
                .get(conn)
                .and_then(|c| c.plan.children.iter().find(|ch| ch.name == rec.name))
                .filter(|ch| ch.per_cpu)
                .map(|ch| ch.trap_policies.clone())
                .unwrap_or_default()
        };
        for id in &rec.policies {
            match self.tables.policies.release(id, &holder) {
                Some(p) => {
                    if let Err(e) = self.backend.delete_policy(&p.id()).await {
                        tracing::warn!("deleting a policy: {e:#}");
                    }
                }
                None => {
                    let other_child = self
                        .tables
                        .children
                        .values()
                        .any(|r| r.conn == conn && r.policies.contains(id));
                    if !other_child
                        && let Some(t) = trap_specs.iter().find(|t| t.id() == *id)
                        && let Err(e) = self.backend.add_policy(t).await
                    {
                        tracing::warn!("restoring a trap policy: {e:#}");
                    }
                }
            }
        }
        for id in [&rec.sa_out, &rec.sa_in] {
            if let Err(e) = self.backend.delete_sa(id).await {
                tracing::warn!(spi = %id.spi, "deleting an SA: {e:#}");
            }
        }
        tracing::info!(connection = %conn, child = %rec.name, spi_in = format_args!("{:08x}", rec.sa_in.spi.0), cpu = ?rec.cpu, "Child SA removed");
    }

    /// Closes the connection's IKE SAs (Delete to the peer), removes its Child
    /// SAs and trap policies from the kernel. Returns (IKE SAs, Child SAs).
    pub(super) async fn teardown_conn(&mut self, conn: &str) -> (usize, usize) {
        let now = Instant::now();
        self.acquire_paused.retain(|(c, _)| c != conn);
        let mut ikes = 0;
        if let Some(id) = self.conns.get(conn).map(|c| c.id) {
            for ike in self.ep.ike_sas_of(id) {
                if self.ep.close(now, ike).is_ok() {
                    ikes += 1;
                }
            }
        }
        self.drain().await; // sends the Deletes; their answers are not awaited
        let children: Vec<ChildSaId> = self
            .tables
            .children
            .iter()
            .filter(|(_, r)| r.conn == conn)
            .map(|(id, _)| *id)
            .collect();
        for id in &children {
            self.remove_child(*id).await;
        }
        let traps: Vec<String> = self
            .conns
            .get(conn)
            .map(|c| c.plan.children.iter().map(|ch| ch.name.clone()).collect())
            .unwrap_or_default();
        for child in traps {
            let holder = Holder::Trap(conn.to_string(), child);
            let specs: Vec<PolicySpec> = self
                .conns
                .get(conn)
                .and_then(|c| {
                    c.plan
                        .children
                        .iter()
                        .find(|ch| Holder::Trap(conn.to_string(), ch.name.clone()) == holder)
                })
                .map(|ch| ch.trap_policies.clone())
                .unwrap_or_default();
            for spec in specs {
                if let Some(p) = self.tables.policies.release(&spec.id(), &holder)
                    && let Err(e) = self.backend.delete_policy(&p.id()).await
                {
                    tracing::warn!("deleting a trap policy: {e:#}");
                }
            }
        }
        (ikes, children.len())
    }

    /// The status report, with kernel counters.
    pub(super) async fn status(&mut self) -> StatusReport {
        let mut report = StatusReport {
            daemon_version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.uptime(),
            connections: self.conns.keys().cloned().collect(),
            ..StatusReport::default()
        };
        for (conn, child) in self.tables.policies.traps() {
            let Some(ch) = self
                .conns
                .get(&conn)
                .and_then(|c| c.plan.children.iter().find(|x| x.name == child))
            else {
                continue;
            };
            let out = ch
                .trap_policies
                .iter()
                .find(|p| p.dir == xfrm_offload::PolicyDir::Out);
            report.traps.push(TrapStatus {
                connection: conn.clone(),
                child: child.clone(),
                local_ts: out
                    .map(|p| vec![p.selector.src.to_string()])
                    .unwrap_or_default(),
                remote_ts: out
                    .map(|p| vec![p.selector.dst.to_string()])
                    .unwrap_or_default(),
                per_cpu: ch.per_cpu,
            });
        }
        let conns: Vec<(String, ike_core::ConnId)> =
            self.conns.iter().map(|(n, c)| (n.clone(), c.id)).collect();
        for (conn, id) in conns {
            for ike in self.ep.ike_sas_of(id) {
                if let Some(st) = self.ike_status(&conn, ike).await {
                    report.ike_sas.push(st);
                }
            }
        }
        report
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
            .filter_map(|id| self.tables.children.get(id).cloned())
            .collect();
        let mut children = Vec::new();
        for r in recs {
            children.push(self.child_status(&r).await);
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
            name: r.name.clone(),
            state: "installed".into(),
            spi_in: format!("{:08x}", r.sa_in.spi.0),
            spi_out: format!("{:08x}", r.sa_out.spi.0),
            cpu: r.cpu,
            per_cpu: r.per_cpu,
            mode: r.mode.into(),
            algorithms: r.algorithms.clone(),
            local_ts: r.local_ts.clone(),
            remote_ts: r.remote_ts.clone(),
            bytes_in: cin.bytes,
            packets_in: cin.packets,
            bytes_out: cout.bytes,
            packets_out: cout.packets,
            offload: r.offload.clone(),
            steering: r.steering,
        }
    }
}
