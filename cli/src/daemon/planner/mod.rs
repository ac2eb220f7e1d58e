//! The kernel planner: a pure, synchronous state machine (no sockets, no
//! clocks, no async) that decides which XFRM SAs, policies and steering
//! binds the daemon installs, in the sans-IO shape of ike-core's `Endpoint`.
//!
//! Inputs: connection loads and unloads ([`Planner::load`],
//! [`Planner::unload`], [`Planner::down`], [`Planner::install_traps`]), the
//! engine's events ([`Planner::child_ready`], [`Planner::child_rekeyed`],
//! [`Planner::child_deleted`], [`Planner::group_full`]) and the results of
//! the ops it asked for ([`Planner::handle_results`]).
//!
//! Outputs: [`Planner::poll_batch`] hands out one [`Batch`] of kernel
//! [`Op`]s at a time; the executor runs them in order and reports one
//! [`OpResult`] per op before the next batch comes. [`Planner::poll_output`]
//! tells the daemon which Child SAs the engine must delete because they
//! could not be installed.
//!
//! A Child SA install is a transaction: first its two SAs; then, knowing the
//! offload in effect (a packet-offloaded SA needs its policies on the same
//! device, `xfrm_dev_policy_add` in net/xfrm/xfrm_device.c), its policies and
//! steering bind; on any failure a rollback batch removes what this install
//! added (a policy it shares is only released, and restored to what its other
//! holders want) and the daemon is told to delete the Child SA. A Child SA
//! the engine deletes while its install is in flight is rolled back the same
//! way, without the Output.
//!
//! Invariant: the planner's view of the kernel changes only on reported
//! results (an add counts once reported done, a delete always counts), so
//! whenever the planner is idle every SA, policy and bind in the kernel has
//! an owner here (an installed Child SA, or a policy holder: a trap or a
//! Child SA), and every owner's object is in the kernel. Each policy holds
//! what its newest Child SA wants, else what its trap wants (see
//! [`tables::Policies::desired`]), unless writing it failed.

mod drain;
mod install;
mod moved;
pub mod ops;
pub mod reqids;
pub mod tables;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};

use ike_core::{ChildSaId, ChildSaInstall};
use xfrm_offload::{PolicyId, SaId};

use self::install::Install;
pub use self::ops::{Batch, Done, Op, OpResult, Output};
pub use self::reqids::SetOwner;
pub use self::tables::ChildRecord;
use self::tables::{Group, Holder, Paused, Policies};
use super::backend::Caps;
use super::plan::ChildPlan;

/// `s` from `names`, added when new (names of configs and algorithms: few).
fn intern(names: &mut HashSet<std::sync::Arc<str>>, s: &str) -> std::sync::Arc<str> {
    if let Some(a) = names.get(s) {
        return a.clone();
    }
    let a: std::sync::Arc<str> = s.into();
    names.insert(a.clone());
    a
}

/// What the executor must report on before more work starts.
#[derive(Debug)]
enum Step {
    /// Results only update the tables.
    Plain,
    /// The SAs of an install.
    Sas(Box<Install>),
    /// The policies and bind of an install.
    Policies(Box<Install>),
}

/// Queued work, run one at a time.
#[derive(Debug)]
enum Work {
    Install(Box<Install>),
    Remove(ChildSaId),
    /// The outbound half of a rekeyed Child SA ([`drain`]).
    Retire(ChildSaId),
    Traps(String),
    Down(String),
    Group(Group, bool),
    /// Ready ops with what follows their results.
    Ops(Vec<Op>, Step),
}

/// What an op changes in the planner's view of the kernel once reported.
#[derive(Clone, Debug)]
enum Receipt {
    Sa(SaId),
    DelSa(SaId),
    Rebind(SaId),
    Policy(xfrm_offload::PolicySpec),
    DelPolicy(PolicyId),
    Bind(u32, u32),
    Unbind(u32),
}

impl Receipt {
    fn of(op: &Op) -> Self {
        match op {
            Op::AddSa { spec, .. } => Receipt::Sa(spec.id()),
            Op::DeleteSa(id) => Receipt::DelSa(*id),
            Op::RebindSa { id, .. } => Receipt::Rebind(*id),
            Op::AddPolicy(p) => Receipt::Policy(p.clone()),
            Op::DeletePolicy(id) => Receipt::DelPolicy(*id),
            Op::Bind { spi, cpu } => Receipt::Bind(*spi, *cpu),
            Op::Unbind { spi } => Receipt::Unbind(*spi),
        }
    }
}

#[derive(Debug)]
struct Inflight {
    id: u64,
    receipts: Vec<Receipt>,
    step: Step,
}

/// The kernel planner (see the module doc).
#[derive(Debug, Default)]
pub struct Planner {
    caps: Caps,
    steering: bool,
    plans: HashMap<String, Vec<ChildPlan>>,
    policies: Policies,
    children: HashMap<ChildSaId, ChildRecord>,
    /// Rekeyed Child SAs that keep only their inbound SA ([`drain`]).
    draining: HashMap<ChildSaId, ChildRecord>,
    /// SAs in the kernel.
    sas: HashSet<SaId>,
    /// Steering binds in the kernel: inbound SPI → CPU.
    binds: HashMap<u32, u32>,
    /// Per-CPU groups with CPU_ACQUIRE off (TS_MAX_QUEUE).
    paused: Paused,
    /// Reqids of negotiated selector sets.
    reqids: reqids::SetReqids,
    /// Connection, child and algorithm names, shared by the records.
    names: HashSet<std::sync::Arc<str>>,
    queue: VecDeque<Work>,
    inflight: Option<Inflight>,
    next_batch: u64,
    outputs: VecDeque<Output>,
}

impl Planner {
    /// A planner for a kernel with `caps`; `steering` says whether per-CPU
    /// Child SAs get a steering bind.
    pub fn new(caps: Caps, steering: bool) -> Self {
        Planner {
            caps,
            steering,
            ..Planner::default()
        }
    }

    /// The kernel's capabilities (after the start-up probe).
    pub fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }

    /// Loads connection `conn`'s children and installs their traps.
    pub fn load(&mut self, conn: &str, children: &[ChildPlan]) {
        self.plans.insert(conn.to_string(), children.to_vec());
        self.queue.push_back(Work::Traps(conn.to_string()));
    }

    /// Installs the traps of `conn` again (after [`Planner::down`]).
    pub fn install_traps(&mut self, conn: &str) {
        self.queue.push_back(Work::Traps(conn.to_string()));
    }

    /// Removes `conn`'s Child SAs and traps from the kernel; keeps it loaded.
    pub fn down(&mut self, conn: &str) {
        self.queue.push_back(Work::Down(conn.to_string()));
    }

    /// [`Planner::down`], then forgets the connection (reload, shutdown).
    pub fn unload(&mut self, conn: &str) {
        self.down(conn);
        self.plans.remove(conn);
    }

    /// `Event::ChildSaReady`: install it.
    pub fn child_ready(&mut self, conn: &str, inst: &ChildSaInstall) {
        self.start_install(conn, inst, None);
    }

    /// `Event::ChildSaRekeyed`: install `new`, then remove `old`.
    pub fn child_rekeyed(&mut self, conn: &str, old: ChildSaId, new: &ChildSaInstall) {
        self.start_install(conn, new, Some(old));
    }

    /// `Event::ChildSaDeleted`: remove it, or stop its install.
    pub fn child_deleted(&mut self, child: ChildSaId) {
        if let Some(Inflight {
            step: Step::Sas(i) | Step::Policies(i),
            ..
        }) = &mut self.inflight
            && i.child == child
        {
            i.cancelled = true;
            return;
        }
        let mut queued = false;
        let reqids = &mut self.reqids;
        self.queue.retain_mut(|w| match w {
            Work::Install(i) if i.child == child => {
                queued = true;
                reqids.release(i.rec.reqid, child);
                false
            }
            Work::Ops(_, Step::Sas(i) | Step::Policies(i)) if i.child == child => {
                queued = true;
                i.cancelled = true;
                true
            }
            _ => true,
        });
        if !queued {
            self.queue.push_back(Work::Remove(child));
        }
    }

    /// `Event::PerCpuGroupFull`: RFC 9611 §4.2, initiator side. After
    /// TS_MAX_QUEUE the engine asks for no more SAs of the group until one of
    /// them goes away, so the group's policies stop raising per-CPU acquires
    /// (`full`): otherwise the kernel parks each refused CPU's packets on a
    /// larval acquire state for `xfrm_acq_expires` instead of sending them
    /// over the fallback SA (net/xfrm/xfrm_state.c, xfrm_state_find).
    /// XFRM_POLICY_CPU_ACQUIRE comes back once the group may grow again.
    pub fn group_full(&mut self, conn: &str, name: &str, full: bool) {
        let group = (conn.to_string(), name.to_string());
        self.queue.push_back(Work::Group(group, full));
    }

    /// The next ops to run; `None` while a batch awaits its results or when
    /// there is nothing to do.
    pub fn poll_batch(&mut self) -> Option<Batch> {
        if self.inflight.is_some() {
            return None;
        }
        while let Some(work) = self.queue.pop_front() {
            let (ops, step) = self.start(work);
            if ops.is_empty() {
                self.finish(step, &[], &[]);
                continue;
            }
            self.next_batch += 1;
            let id = self.next_batch;
            let receipts = ops.iter().map(Receipt::of).collect();
            self.inflight = Some(Inflight { id, receipts, step });
            return Some(Batch { id, ops });
        }
        None
    }

    /// The results of batch `id`, one per op in order (a missing one counts
    /// as failed).
    pub fn handle_results(&mut self, id: u64, results: Vec<OpResult>) {
        let Some(f) = self.inflight.take_if(|f| f.id == id) else {
            tracing::warn!(batch = id, "results for a batch not in flight");
            return;
        };
        let mut results = results;
        results.resize_with(f.receipts.len(), || Err("no result reported".into()));
        for (r, res) in f.receipts.iter().zip(&results) {
            self.apply(r, res);
        }
        self.finish(f.step, &f.receipts, &results);
    }

    /// What the daemon must do besides kernel ops.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether work is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.inflight.is_none() && self.queue.is_empty()
    }

    /// An installed Child SA.
    pub fn child(&self, id: ChildSaId) -> Option<&ChildRecord> {
        self.children.get(&id)
    }

    /// What a kernel reqid of a negotiated selector set stands for (`None`
    /// for a config's reqid).
    pub fn set_owner(&self, reqid: u32) -> Option<SetOwner<'_>> {
        self.reqids.owner(reqid)
    }

    /// Installed Child SAs.
    pub fn children(&self) -> impl Iterator<Item = (&ChildSaId, &ChildRecord)> {
        self.children.iter()
    }

    /// Installed traps: (connection, child), with the child's plan.
    pub fn traps(&self) -> Vec<(String, &ChildPlan)> {
        self.policies
            .traps()
            .into_iter()
            .filter_map(|(conn, child)| {
                let plan = self.plans.get(&conn)?.iter().find(|c| c.name == child)?;
                Some((conn, plan))
            })
            .collect()
    }

    fn start(&mut self, work: Work) -> (Vec<Op>, Step) {
        match work {
            Work::Install(i) => self.install_sas(i),
            Work::Remove(child) => (self.remove(&[child], None), Step::Plain),
            Work::Retire(child) => (self.retire_ops(child), Step::Plain),
            Work::Traps(conn) => (self.traps_ops(&conn), Step::Plain),
            Work::Down(conn) => (self.down_ops(&conn), Step::Plain),
            Work::Group(g, full) => (self.group_ops(g, full), Step::Plain),
            Work::Ops(ops, step) => (ops, step),
        }
    }

    /// Records what a reported op did in the kernel.
    fn apply(&mut self, r: &Receipt, res: &OpResult) {
        match (r, res) {
            (Receipt::Sa(id), Ok(_)) => {
                self.sas.insert(*id);
            }
            (Receipt::DelSa(id), _) => {
                self.sas.remove(id);
            }
            (Receipt::Rebind(old), Ok(Done::Rebound(new))) => self.rebound(*old, *new),
            (Receipt::Rebind(id), Ok(_) | Err(_)) => {
                if let Err(e) = res {
                    tracing::warn!(
                        spi = format_args!("{:08x}", id.spi.0),
                        "moving the SA to the peer's new address failed: {e}"
                    );
                }
            }
            (Receipt::Policy(p), Ok(_)) => self.policies.added(p),
            (Receipt::DelPolicy(id), _) => self.policies.deleted(id),
            (Receipt::Bind(spi, cpu), Ok(_)) => {
                self.binds.insert(*spi, *cpu);
            }
            (Receipt::Unbind(spi), _) => {
                self.binds.remove(spi);
            }
            (Receipt::Sa(_) | Receipt::Policy(_) | Receipt::Bind(..), Err(_)) => {}
        }
        if let Err(e) = res
            && matches!(
                r,
                Receipt::DelSa(_) | Receipt::DelPolicy(_) | Receipt::Unbind(_)
            )
        {
            // Adds are reported by their step; a failed delete leaves state
            // only `flush_ours` removes at exit.
            tracing::warn!("kernel op {r:?} failed: {e}");
        }
    }

    /// Continues after a batch (or an empty one).
    fn finish(&mut self, step: Step, receipts: &[Receipt], results: &[OpResult]) {
        match step {
            Step::Plain => {
                for (r, res) in receipts.iter().zip(results) {
                    if let (Receipt::Policy(p), Err(e)) = (r, res) {
                        tracing::error!(selector = %p.selector.src, dir = ?p.dir, "policy not installed: {e}");
                        self.policies.add_failed(&p.id());
                    }
                }
            }
            Step::Sas(i) => self.sas_done(i, results),
            Step::Policies(i) => self.policies_done(i, receipts, results),
        }
    }

    /// Takes installed Child SAs out of the tables: their holds are released
    /// and the ops that remove them returned (binds, then the policies that
    /// change, then SAs); `conn`'s traps go too when given.
    fn remove(&mut self, ids: &[ChildSaId], conn: Option<&str>) -> Vec<Op> {
        let (mut unbinds, mut sas, mut pols) = (Vec::new(), Vec::new(), Vec::new());
        for id in ids {
            sas.extend(self.drained_ops(*id));
            let Some(rec) = self.children.remove(id) else {
                continue;
            };
            self.reqids.release(rec.reqid, *id);
            if self.binds.contains_key(&rec.sa_in.spi.0) {
                unbinds.push(Op::Unbind {
                    spi: rec.sa_in.spi.0,
                });
            }
            let holder = install::holder_of(*id, &rec);
            for p in &rec.policies {
                self.policies.release(p, &holder);
            }
            pols.extend(rec.policies.iter().copied());
            for sa in [rec.sa_out, rec.sa_in] {
                if self.sas.contains(&sa) {
                    sas.push(Op::DeleteSa(sa));
                }
            }
            tracing::info!(connection = %rec.conn, child = %rec.name, spi_in = format_args!("{:08x}", rec.sa_in.spi.0), cpu = ?rec.cpu, "Child SA removed");
        }
        if let Some(conn) = conn {
            pols.extend(self.policies.release_traps_of(conn));
        }
        unbinds.extend(self.policies.sync(&pols, &self.paused));
        unbinds.extend(sas);
        unbinds
    }

    fn down_ops(&mut self, conn: &str) -> Vec<Op> {
        self.paused.remove_conn(conn);
        let mut ids: Vec<ChildSaId> = self
            .children
            .iter()
            .filter(|(_, r)| *r.conn == *conn)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.extend(self.draining_of(conn));
        self.remove(&ids, Some(conn))
    }

    fn traps_ops(&mut self, conn: &str) -> Vec<Op> {
        let mut ids = Vec::new();
        for ch in self.plans.get(conn).into_iter().flatten() {
            let holder = Holder::Trap {
                conn: intern(&mut self.names, conn),
                child: intern(&mut self.names, &ch.name),
            };
            for spec in &ch.trap_policies {
                self.policies.hold(spec, holder.clone());
                ids.push(spec.id());
            }
            if !ch.trap_policies.is_empty() {
                tracing::info!(connection = %conn, child = %ch.name, "trap installed");
            }
        }
        self.policies.sync(&ids, &self.paused)
    }

    fn group_ops(&mut self, group: Group, full: bool) -> Vec<Op> {
        if full == self.paused.contains(&group.0, &group.1) {
            return Vec::new();
        }
        let (conn, child) = (group.0.clone(), group.1.clone());
        if full {
            self.paused.insert(group);
            tracing::info!(connection = %conn, child = %child, "peer sent TS_MAX_QUEUE: per-CPU acquires off, CPUs without an SA use the fallback SA");
        } else {
            self.paused.remove(&conn, &child);
            tracing::info!(connection = %conn, child = %child, "per-CPU acquires resumed");
        }
        let ids = self.policies.of_group(&conn, &child);
        self.policies.sync(&ids, &self.paused)
    }
}
