//! The Child SA install transaction: SAs, then policies and steering, or a
//! rollback of what this install added.

use std::net::IpAddr;

use ike_core::{ChildSaId, ChildSaInstall};
use xfrm_offload::{OffloadMode, PolicySpec, SaSpec};

use super::ops::{Done, Op, OpResult, Output};
use super::tables::{ChildRecord, Holder};
use super::{Planner, Receipt, Step, Work, intern};
use crate::control::SteeringState;
use crate::daemon::backend::Caps;
use crate::daemon::kernel::{self, esp_name};
use crate::daemon::plan::{ChildPlan, POLICY_PRIORITY};

/// One Child SA on its way into the kernel.
#[derive(Debug)]
pub(super) struct Install {
    pub(super) child: ChildSaId,
    /// What `status` shows once installed.
    pub(super) rec: ChildRecord,
    /// Inbound and outbound SA (moved into the ops when sent).
    sas: Vec<SaSpec>,
    offload: OffloadMode,
    local: IpAddr,
    /// Policies as planned, before the packet-offload device is known.
    specs: Vec<PolicySpec>,
    /// A rekey's predecessor, removed once this one is in.
    replaces: Option<ChildSaId>,
    /// The engine deleted the Child SA while it was being installed.
    pub(super) cancelled: bool,
}

/// The holder a Child SA's policies are kept by.
pub(super) fn holder_of(id: ChildSaId, rec: &ChildRecord) -> Holder {
    Holder::Child {
        conn: rec.conn.clone(),
        name: rec.name.clone(),
        id,
    }
}

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

impl Planner {
    /// Queues the install of `inst`, or tells the daemon to delete it when
    /// it cannot be expressed as kernel state.
    pub(super) fn start_install(
        &mut self,
        conn: &str,
        inst: &ChildSaInstall,
        replaces: Option<ChildSaId>,
    ) {
        match self.build(conn, inst, replaces) {
            Ok(i) => self.queue.push_back(Work::Install(Box::new(i))),
            Err(reason) => {
                tracing::error!(connection = %conn, child = %inst.name, "cannot install the Child SA: {reason}; deleting it on both sides");
                self.outputs.push_back(Output::DeleteChild {
                    child: inst.child,
                    reason,
                });
            }
        }
    }

    fn build(
        &mut self,
        conn: &str,
        inst: &ChildSaInstall,
        replaces: Option<ChildSaId>,
    ) -> Result<Install, String> {
        let plan = self
            .plans
            .get(conn)
            .and_then(|cs| cs.iter().find(|c| c.reqid == inst.reqid))
            .ok_or("the Child SA's reqid matches no configured child")?;
        let negotiated = (&inst.local_ts[..], &inst.remote_ts[..]);
        let reqid = if negotiated == (&plan.selectors.0[..], &plan.selectors.1[..]) {
            plan.reqid
        } else {
            self.reqids
                .take(conn, plan.reqid, negotiated, inst.child, inst.ike)?
        };
        let names = &mut self.names;
        let names = [conn, &inst.name, &esp_name(&inst.esp), "none"].map(|s| intern(names, s));
        let built = Self::build_with(plan, self.caps, inst, reqid, names, replaces);
        if built.is_err() {
            self.reqids.release(reqid, inst.child);
        }
        built
    }

    fn build_with(
        plan: &ChildPlan,
        caps: Caps,
        inst: &ChildSaInstall,
        reqid: u32,
        [conn, name, algorithms, offload]: [std::sync::Arc<str>; 4],
        replaces: Option<ChildSaId>,
    ) -> Result<Install, String> {
        let (mut sa_in, mut sa_out) = kernel::child_sas(inst, reqid, caps, plan.replay_window)
            .map_err(|e| format!("{e:#}"))?;
        plan.route.apply_sa(&mut sa_in, xfrm_offload::SaDir::In);
        plan.route.apply_sa(&mut sa_out, xfrm_offload::SaDir::Out);
        let blocks = kernel::blocks(&inst.local_ts, &inst.remote_ts)
            .map_err(|e| format!("negotiated traffic selectors: {e:#}"))?;
        let mut specs = kernel::policies(
            inst.local.ip(),
            inst.remote.ip(),
            &blocks,
            plan.tunnel,
            reqid,
            inst.per_cpu,
            POLICY_PRIORITY,
        );
        specs.iter_mut().for_each(|p| plan.route.apply_policy(p));
        let rec = ChildRecord {
            conn,
            ike: inst.ike,
            name,
            reqid,
            sa_in: sa_in.id(),
            sa_out: sa_out.id(),
            cpu: inst.resource.map(|c| c.0),
            per_cpu: inst.per_cpu,
            mode: if plan.tunnel { "tunnel" } else { "transport" },
            algorithms,
            local_ts: ts_text(&inst.local_ts),
            remote_ts: ts_text(&inst.remote_ts),
            offload,
            steering: SteeringState::Off,
            policies: Vec::new(),
        };
        Ok(Install {
            child: inst.child,
            rec,
            sas: vec![sa_in, sa_out],
            offload: plan.offload,
            local: inst.local.ip(),
            specs,
            replaces,
            cancelled: false,
        })
    }

    /// The first step: both SAs.
    pub(super) fn install_sas(&mut self, mut i: Box<Install>) -> (Vec<Op>, Step) {
        let ops = std::mem::take(&mut i.sas)
            .into_iter()
            .map(|spec| Op::AddSa {
                spec: Box::new(spec),
                offload: i.offload,
                local: i.local,
            })
            .collect();
        (ops, Step::Sas(i))
    }

    /// After the SAs: the policies (on the packet-offload device if the
    /// inbound SA is packet-offloaded) and the steering bind.
    pub(super) fn sas_done(&mut self, mut i: Box<Install>, results: &[OpResult]) {
        let failed = results.iter().find_map(|r| r.as_ref().err());
        if i.cancelled || failed.is_some() {
            let why = failed.map(|e| format!("installing an SA: {e}"));
            return self.roll_back(i, why);
        }
        let packet = match results.first() {
            Some(Ok(Done::Sa(st))) => {
                if !st.mode.is_empty() {
                    i.rec.offload = intern(&mut self.names, &st.mode);
                }
                st.packet_ifindex
            }
            _ => None,
        };
        let holder = holder_of(i.child, &i.rec);
        let mut ids = Vec::new();
        for s in &mut i.specs {
            s.offload = packet;
            self.warn_shared_tunnel(s, &holder);
            self.policies.hold(s, holder.clone());
            ids.push(s.id());
        }
        let mut ops = self.policies.sync(&ids, &self.paused);
        i.rec.policies = ids;
        if let Some(cpu) = i.rec.cpu
            && self.steering
        {
            ops.push(Op::Bind {
                spi: i.rec.sa_in.spi.0,
                cpu,
            });
        }
        if ops.is_empty() {
            self.commit(i);
        } else {
            self.queue.push_front(Work::Ops(ops, Step::Policies(i)));
        }
    }

    /// After the policies and bind: commit, or roll back. A failed bind only
    /// leaves the Child SA unsteered.
    pub(super) fn policies_done(
        &mut self,
        mut i: Box<Install>,
        receipts: &[Receipt],
        results: &[OpResult],
    ) {
        let mut failed = None;
        for (r, res) in receipts.iter().zip(results) {
            match (r, res) {
                (Receipt::Bind(_, cpu), Ok(_)) => i.rec.steering = SteeringState::Bound(*cpu),
                (Receipt::Bind(spi, cpu), Err(e)) => {
                    tracing::warn!(
                        spi = format_args!("{spi:08x}"),
                        cpu,
                        "steering bind failed: {e}"
                    );
                    i.rec.steering = SteeringState::Failed;
                }
                (_, Err(e)) => {
                    failed.get_or_insert_with(|| format!("installing policies: {e}"));
                }
                (_, Ok(_)) => {}
            }
        }
        if i.cancelled || failed.is_some() {
            self.roll_back(i, failed);
        } else {
            self.commit(i);
        }
    }

    fn commit(&mut self, i: Box<Install>) {
        let r = &i.rec;
        tracing::info!(
            connection = %r.conn, child = %r.name,
            spi_in = format_args!("{:08x}", r.sa_in.spi.0), spi_out = format_args!("{:08x}", r.sa_out.spi.0),
            cpu = ?r.cpu, per_cpu = r.per_cpu, offload = %r.offload,
            "Child SA installed"
        );
        if let Some(old) = i.replaces {
            self.queue.push_front(Work::Retire(old));
        }
        self.children.insert(i.child, i.rec);
    }

    /// Removes what this install added: its bind, the policies only it held
    /// (a shared one goes back to what its other holders want), its SAs.
    fn roll_back(&mut self, i: Box<Install>, why: Option<String>) {
        let r = &i.rec;
        self.reqids.release(r.reqid, i.child);
        let holder = holder_of(i.child, r);
        for p in &r.policies {
            self.policies.release(p, &holder);
        }
        let mut ops = Vec::new();
        if self.binds.contains_key(&r.sa_in.spi.0) {
            ops.push(Op::Unbind { spi: r.sa_in.spi.0 });
        }
        ops.extend(self.policies.sync(&r.policies, &self.paused));
        for sa in [r.sa_out, r.sa_in] {
            if self.sas.contains(&sa) {
                ops.push(Op::DeleteSa(sa));
            }
        }
        if !ops.is_empty() {
            self.queue.push_front(Work::Ops(ops, Step::Plain));
        }
        if i.cancelled {
            tracing::info!(connection = %r.conn, child = %r.name, "Child SA deleted before its install finished; removed");
            return;
        }
        let reason = why.unwrap_or_else(|| "install failed".into());
        tracing::error!(connection = %r.conn, child = %r.name, "installing the Child SA failed: {reason}; deleting it on both sides");
        self.outputs.push_back(Output::DeleteChild {
            child: i.child,
            reason,
        });
    }
}
