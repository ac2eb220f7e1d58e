//! The planner's tables: who holds each policy and what the kernel has for
//! it, and the record of each installed Child SA.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ike_core::{ChildSaId, IkeSaId};
use xfrm_offload::{PolicyId, PolicySpec, SaId};

use super::ops::Op;
use crate::control::SteeringState;

/// A per-CPU group: (connection, child config name).
pub type Group = (String, String);

/// Per-CPU groups with CPU_ACQUIRE off (their peer sent TS_MAX_QUEUE), by
/// connection and then child, so a lookup borrows the names.
#[derive(Debug, Default)]
pub struct Paused(BTreeMap<String, BTreeSet<String>>);

impl Paused {
    pub fn contains(&self, conn: &str, child: &str) -> bool {
        self.0.get(conn).is_some_and(|c| c.contains(child))
    }

    pub fn insert(&mut self, (conn, child): Group) {
        self.0.entry(conn).or_default().insert(child);
    }

    pub fn remove(&mut self, conn: &str, child: &str) {
        if let Some(c) = self.0.get_mut(conn) {
            c.remove(child);
            if c.is_empty() {
                self.0.remove(conn);
            }
        }
    }

    /// Forgets every group of `conn`.
    pub fn remove_conn(&mut self, conn: &str) {
        self.0.remove(conn);
    }
}

/// Who keeps a policy installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The trap of a child config.
    Trap {
        /// Connection.
        conn: Arc<str>,
        /// Child config name.
        child: Arc<str>,
    },
    /// A Child SA.
    Child {
        /// Connection.
        conn: Arc<str>,
        /// Child config name.
        name: Arc<str>,
        /// The engine's handle.
        id: ChildSaId,
    },
}

impl Holder {
    fn group(&self) -> (&str, &str) {
        match self {
            Holder::Trap { conn, child } => (conn, child),
            Holder::Child { conn, name, .. } => (conn, name),
        }
    }

    fn is_child(&self) -> bool {
        matches!(self, Holder::Child { .. })
    }
}

/// One policy: what the kernel has (as last reported installed) and who
/// holds it, each with the spec it wants, oldest first. Equal specs are
/// shared (the Child SAs of a per-CPU group want the same policies).
#[derive(Debug, Default)]
pub struct PolicyEntry {
    /// The spec in the kernel; `None` while not installed.
    pub installed: Option<Arc<PolicySpec>>,
    /// Holders with their wanted spec.
    pub holders: Vec<(Holder, Arc<PolicySpec>)>,
}

impl PolicyEntry {
    /// `spec`, shared with an equal one this entry already has.
    fn share(&self, spec: &PolicySpec) -> Arc<PolicySpec> {
        self.installed
            .iter()
            .chain(self.holders.iter().map(|(_, s)| s))
            .find(|s| ***s == *spec)
            .cloned()
            .unwrap_or_else(|| Arc::new(spec.clone()))
    }
}

/// Every policy the planner holds or has in the kernel.
#[derive(Debug, Default)]
pub struct Policies {
    pub(super) map: HashMap<PolicyId, PolicyEntry>,
}

impl Policies {
    /// Adds `holder` (or replaces the spec it wants).
    pub fn hold(&mut self, spec: &PolicySpec, holder: Holder) {
        let e = self.map.entry(spec.id()).or_default();
        e.holders.retain(|(h, _)| *h != holder);
        let spec = e.share(spec);
        e.holders.push((holder, spec));
    }

    /// Removes `holder`; a policy neither held nor installed is forgotten.
    pub fn release(&mut self, id: &PolicyId, holder: &Holder) {
        if let Some(e) = self.map.get_mut(id) {
            e.holders.retain(|(h, _)| h != holder);
            if e.holders.is_empty() && e.installed.is_none() {
                self.map.remove(id);
            }
        }
    }

    /// Removes every trap holder of `conn`; returns the ids they held.
    pub fn release_traps_of(&mut self, conn: &str) -> Vec<PolicyId> {
        let is_trap = |h: &Holder| matches!(h, Holder::Trap { conn: c, .. } if **c == *conn);
        let mut ids: Vec<PolicyId> = self
            .map
            .iter()
            .filter(|(_, e)| e.holders.iter().any(|(h, _)| is_trap(h)))
            .map(|(id, _)| *id)
            .collect();
        sort_ids(&mut ids);
        for id in &ids {
            if let Some(e) = self.map.get_mut(id) {
                e.holders.retain(|(h, _)| !is_trap(h));
                if e.holders.is_empty() && e.installed.is_none() {
                    self.map.remove(id);
                }
            }
        }
        ids
    }

    /// What the kernel should have for `id`: the newest Child SA's spec, else
    /// the trap's. A plain child of a per-CPU trap thus overwrites the trap's
    /// policies without XFRM_POLICY_CPU_ACQUIRE (the kernel would otherwise
    /// park each CPU's packets on a larval acquire state nobody answers; like
    /// strongSwan, the child's policy wins) and the trap's come back when it
    /// goes. A paused group's policies lose CPU_ACQUIRE.
    pub fn desired(&self, id: &PolicyId, paused: &Paused) -> Option<PolicySpec> {
        let e = self.map.get(id)?;
        let (h, spec) = e
            .holders
            .iter()
            .rev()
            .find(|(h, _)| h.is_child())
            .or_else(|| e.holders.first())?;
        let mut spec = PolicySpec::clone(spec);
        let (c, n) = h.group();
        if paused.contains(c, n) {
            spec.cpu_acquire = false;
        }
        Some(spec)
    }

    /// The ops that make the kernel match [`Policies::desired`] for `ids`.
    pub fn sync(&self, ids: &[PolicyId], paused: &Paused) -> Vec<Op> {
        let mut seen = Vec::new();
        let mut ops = Vec::new();
        for id in ids {
            if seen.contains(id) {
                continue;
            }
            seen.push(*id);
            let installed = self.map.get(id).and_then(|e| e.installed.as_deref());
            match (self.desired(id, paused), installed) {
                (None, Some(_)) => ops.push(Op::DeletePolicy(*id)),
                (Some(d), i) if i != Some(&d) => ops.push(Op::AddPolicy(d)),
                _ => {}
            }
        }
        ops
    }

    /// The ids of `group`'s policies, in a stable order.
    pub fn of_group(&self, conn: &str, name: &str) -> Vec<PolicyId> {
        let mut ids: Vec<PolicyId> = self
            .map
            .iter()
            .filter(|(_, e)| e.holders.iter().any(|(h, _)| h.group() == (conn, name)))
            .map(|(id, _)| *id)
            .collect();
        sort_ids(&mut ids);
        ids
    }

    /// Trap holders with an installed policy, each once.
    pub fn traps(&self) -> BTreeSet<Group> {
        self.map
            .values()
            .filter(|e| e.installed.is_some())
            .flat_map(|e| e.holders.iter())
            .filter_map(|(h, _)| match h {
                Holder::Trap { conn, child } => Some((conn.to_string(), child.to_string())),
                Holder::Child { .. } => None,
            })
            .collect()
    }

    /// The kernel reported `spec` installed.
    pub fn added(&mut self, spec: &PolicySpec) {
        let e = self.map.entry(spec.id()).or_default();
        e.installed = Some(e.share(spec));
    }

    /// The kernel removed `id`.
    pub fn deleted(&mut self, id: &PolicyId) {
        if let Some(e) = self.map.get_mut(id) {
            e.installed = None;
            if e.holders.is_empty() {
                self.map.remove(id);
            }
        }
    }

    /// An add of `id` failed and it is not in the kernel: its trap holders
    /// cannot keep it (a Child SA never holds a policy that is not installed
    /// outside its own install, which rolls back by itself).
    pub fn add_failed(&mut self, id: &PolicyId) {
        if let Some(e) = self.map.get_mut(id)
            && e.installed.is_none()
        {
            e.holders.retain(|(h, _)| h.is_child());
            if e.holders.is_empty() {
                self.map.remove(id);
            }
        }
    }
}

fn sort_ids(ids: &mut [PolicyId]) {
    ids.sort_by_cached_key(|id| format!("{id:?}"));
}

/// One installed Child SA: its kernel objects and what `status` shows.
#[derive(Clone, Debug)]
pub struct ChildRecord {
    /// Connection.
    pub conn: Arc<str>,
    /// Owning IKE SA.
    pub ike: IkeSaId,
    /// Child config name.
    pub name: Arc<str>,
    /// Reqid.
    pub reqid: u32,
    /// Inbound SA.
    pub sa_in: SaId,
    /// Outbound SA.
    pub sa_out: SaId,
    /// CPU, if per-CPU.
    pub cpu: Option<u32>,
    /// Member of a per-CPU group.
    pub per_cpu: bool,
    /// `tunnel`/`transport`.
    pub mode: &'static str,
    /// ESP algorithms.
    pub algorithms: Arc<str>,
    /// Selectors as text.
    pub local_ts: Vec<String>,
    /// Selectors as text.
    pub remote_ts: Vec<String>,
    /// Offload in effect.
    pub offload: Arc<str>,
    /// Steering.
    pub steering: SteeringState,
    /// Policies this child holds.
    pub policies: Vec<PolicyId>,
}
