//! RFC 9611 per-resource Child SA groups (SA_RESOURCE_INFO, TS_MAX_QUEUE).
//!
//! One group exists per (IKE SA, per-CPU child config). Its first SA is the
//! *fallback* (no CPU); further SAs with identical TS are bound to one CPU each and
//! are never treated as duplicates (RFC 9611 §3, §4). strongSwan's behaviour is
//! followed where the RFC leaves room (SPEC.md §5): the notify carries a 4-byte
//! big-endian CPU id, or nothing for the fallback; rekeys inherit the CPU and do
//! not carry the notify.

use crate::ids::CpuId;

/// Place of a Child SA in its config's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A regular Child SA (no RFC 9611, or the peer did not echo SA_RESOURCE_INFO).
    Plain,
    /// The group's fallback SA: RFC 9611 was negotiated, bound to no CPU.
    Fallback,
    /// A per-resource SA bound to this (local) CPU.
    Cpu(CpuId),
}

impl Resource {
    /// The CPU binding reported to the daemon.
    pub fn cpu(self) -> Option<CpuId> {
        match self {
            Self::Cpu(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the SA belongs to an RFC 9611 group.
    pub fn per_cpu(self) -> bool {
        !matches!(self, Self::Plain)
    }
}

/// SA_RESOURCE_INFO notification data as strongSwan sends it: the CPU id as 4
/// bytes in network byte order, or empty for the fallback SA (RFC 9611 §4.1).
pub fn resource_info_data(cpu: Option<CpuId>) -> Vec<u8> {
    cpu.map(|c| c.0.to_be_bytes().to_vec()).unwrap_or_default()
}

/// Renders received (opaque, RFC 9611 §4.1) resource data for logs.
pub fn resource_info_display(data: &[u8]) -> String {
    if data.is_empty() {
        return "fallback".into();
    }
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the peer speaks RFC 9611 for this group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Support {
    /// No group SA negotiated yet.
    #[default]
    Unknown,
    /// The peer echoed SA_RESOURCE_INFO.
    Yes,
    /// The peer did not: one plain SA only.
    No,
}

/// What a kernel acquire leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// Create the SA for this CPU (`None`: the fallback, or a plain SA).
    Create(Option<CpuId>),
    /// Nothing to do (covered, pending, full, or the peer lacks RFC 9611).
    Ignore,
    /// The per-CPU cap was reached just now: the group is full.
    Full,
}

/// Initiator- and responder-side state of one group.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    /// Index of the child config in the connection.
    pub(crate) cfg: u16,
    /// Peer support, learnt from the first exchange.
    pub(crate) support: Support,
    /// Ask for no more per-CPU SAs until an SA of the group goes away: the peer
    /// answered TS_MAX_QUEUE (or NO_ADDITIONAL_SAS), or a cap was reached.
    pub(crate) full: bool,
    /// Creates queued or in flight; `None` = the fallback (or plain) SA.
    pub(crate) pending: Vec<Option<CpuId>>,
}

impl Group {
    pub(crate) fn new(cfg: u16) -> Self {
        Self {
            cfg,
            ..Self::default()
        }
    }

    /// Initiator: what a kernel acquire for `cpu` should do, given the resources
    /// of the installed SAs of this config and the group's per-CPU cap (RFC 9611
    /// §4.2: the cap holds whichever side asks).
    ///
    /// Without a fallback the first acquire (with or without a CPU) builds the
    /// fallback, as strongSwan does; the kernel re-acquires per CPU afterwards.
    pub(crate) fn on_acquire(
        &mut self,
        cpu: Option<CpuId>,
        installed: &[Resource],
        cap: u32,
    ) -> Acquire {
        let has_base = installed
            .iter()
            .any(|r| matches!(r, Resource::Fallback | Resource::Plain));
        if !has_base {
            if self.pending.contains(&None) {
                return Acquire::Ignore;
            }
            self.pending.push(None);
            return Acquire::Create(None);
        }
        if self.support != Support::Yes || self.full {
            return Acquire::Ignore;
        }
        let Some(cpu) = cpu else {
            return Acquire::Ignore;
        };
        if installed.contains(&Resource::Cpu(cpu)) || self.pending.contains(&Some(cpu)) {
            return Acquire::Ignore;
        }
        if self.per_cpu_count(installed) >= cap as usize {
            self.full = true;
            return Acquire::Full;
        }
        self.pending.push(Some(cpu));
        Acquire::Create(Some(cpu))
    }

    /// Per-CPU SAs of the group: installed ones plus our creates in flight.
    pub(crate) fn per_cpu_count(&self, installed: &[Resource]) -> usize {
        installed.iter().filter(|r| r.cpu().is_some()).count()
            + self.pending.iter().filter(|p| p.is_some()).count()
    }

    /// Initiator, precreate mode: the next CPU of `cpus` to create, one exchange at a
    /// time so the peer is not flooded.
    /// Stops at the per-CPU `cap`.
    pub(crate) fn next_precreate(
        &mut self,
        cpus: &[CpuId],
        installed: &[Resource],
        cap: u32,
    ) -> Option<CpuId> {
        if self.support != Support::Yes || self.full || !self.pending.is_empty() {
            return None;
        }
        if !installed.contains(&Resource::Fallback) || self.per_cpu_count(installed) >= cap as usize
        {
            return None;
        }
        let cpu = *cpus
            .iter()
            .find(|c| !installed.contains(&Resource::Cpu(**c)))?;
        self.pending.push(Some(cpu));
        Some(cpu)
    }

    /// Initiator: a create for `requested` finished (successfully or not).
    pub(crate) fn finish(&mut self, requested: Option<CpuId>) {
        if let Some(i) = self.pending.iter().position(|p| *p == requested) {
            self.pending.swap_remove(i);
        }
    }

    /// Initiator: the response to a create for `requested` arrived; `echoed` says
    /// whether it carried SA_RESOURCE_INFO. Returns the new SA's resource.
    pub(crate) fn on_created(&mut self, requested: Option<CpuId>, echoed: bool) -> Resource {
        self.finish(requested);
        if !echoed {
            self.support = Support::No;
            return Resource::Plain;
        }
        self.support = Support::Yes;
        match requested {
            None => Resource::Fallback,
            Some(c) => Resource::Cpu(c),
        }
    }

    /// Initiator: the peer answered TS_MAX_QUEUE, or a cap refused the create.
    /// True if the group just became full.
    pub(crate) fn on_max_queue(&mut self, requested: Option<CpuId>) -> bool {
        self.finish(requested);
        !std::mem::replace(&mut self.full, true)
    }

    /// Either side: an SA of the group went away; asking may resume. True if
    /// the group was full.
    pub(crate) fn on_deleted(&mut self) -> bool {
        std::mem::replace(&mut self.full, false)
    }
}

/// Responder: picks the resource for a new group SA whose request carried
/// SA_RESOURCE_INFO. Returns `None` when the group is full (answer TS_MAX_QUEUE,
/// RFC 9611 §4.2) and leaves existing SAs untouched.
///
/// The first SA (no fallback yet) becomes the fallback. Then an unused CPU is taken,
/// highest first like strongSwan's `get_cpu`; once every CPU is used, the least-used
/// CPU (lowest id on ties), so SAs spread round-robin up to `cap`.
pub(crate) fn assign(installed: &[Resource], local_cpus: u32, cap: u32) -> Option<Resource> {
    if !installed.contains(&Resource::Fallback) {
        return Some(Resource::Fallback);
    }
    let per_cpu = installed.iter().filter(|r| r.cpu().is_some()).count();
    if per_cpu >= cap as usize {
        return None;
    }
    let ncpus = local_cpus.max(1);
    let used = |c: u32| {
        installed
            .iter()
            .filter(|r| **r == Resource::Cpu(CpuId(c)))
            .count()
    };
    if let Some(c) = (0..ncpus).rev().find(|c| used(*c) == 0) {
        return Some(Resource::Cpu(CpuId(c)));
    }
    let c = (0..ncpus).min_by_key(|c| (used(*c), *c)).unwrap_or(0);
    Some(Resource::Cpu(CpuId(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_data_like_strongswan() {
        assert_eq!(resource_info_data(None), Vec::<u8>::new());
        assert_eq!(resource_info_data(Some(CpuId(1))), vec![0, 0, 0, 1]);
        assert_eq!(
            resource_info_data(Some(CpuId(0x01020304))),
            vec![1, 2, 3, 4]
        );
        assert_eq!(resource_info_display(&[0, 0, 0, 2]), "00000002");
        assert_eq!(resource_info_display(&[]), "fallback");
    }

    #[test]
    fn first_acquire_builds_fallback_then_one_per_cpu() {
        let mut g = Group::new(0);
        assert_eq!(g.on_acquire(Some(CpuId(3)), &[], 8), Acquire::Create(None));
        // A second acquire while the fallback is pending is ignored.
        assert_eq!(g.on_acquire(Some(CpuId(1)), &[], 8), Acquire::Ignore);
        assert_eq!(g.on_created(None, true), Resource::Fallback);
        let inst = [Resource::Fallback];
        assert_eq!(
            g.on_acquire(Some(CpuId(3)), &inst, 8),
            Acquire::Create(Some(CpuId(3)))
        );
        assert_eq!(
            g.on_acquire(Some(CpuId(3)), &inst, 8),
            Acquire::Ignore,
            "one pending per CPU"
        );
        assert_eq!(
            g.on_acquire(Some(CpuId(1)), &inst, 8),
            Acquire::Create(Some(CpuId(1)))
        );
        assert_eq!(g.on_acquire(None, &inst, 8), Acquire::Ignore);
        assert_eq!(g.on_created(Some(CpuId(3)), true), Resource::Cpu(CpuId(3)));
        let inst = [Resource::Fallback, Resource::Cpu(CpuId(3))];
        assert_eq!(
            g.on_acquire(Some(CpuId(3)), &inst, 8),
            Acquire::Ignore,
            "CPU already has an SA"
        );
    }

    #[test]
    fn peer_without_rfc9611_gives_single_sa() {
        let mut g = Group::new(0);
        assert_eq!(g.on_acquire(Some(CpuId(0)), &[], 8), Acquire::Create(None));
        assert_eq!(g.on_created(None, false), Resource::Plain);
        assert_eq!(
            g.on_acquire(Some(CpuId(0)), &[Resource::Plain], 8),
            Acquire::Ignore
        );
        assert_eq!(g.next_precreate(&[CpuId(0)], &[Resource::Plain], 8), None);
    }

    #[test]
    fn full_stops_until_delete() {
        let mut g = Group::new(0);
        g.support = Support::Yes;
        let inst = [Resource::Fallback];
        assert_eq!(
            g.on_acquire(Some(CpuId(2)), &inst, 8),
            Acquire::Create(Some(CpuId(2)))
        );
        g.on_max_queue(Some(CpuId(2)));
        assert_eq!(g.on_acquire(Some(CpuId(2)), &inst, 8), Acquire::Ignore);
        g.on_deleted();
        assert_eq!(
            g.on_acquire(Some(CpuId(2)), &inst, 8),
            Acquire::Create(Some(CpuId(2)))
        );
    }

    #[test]
    fn cap_counts_pending_and_peer_created_sas() {
        let mut g = Group::new(0);
        g.support = Support::Yes;
        // One per-CPU SA the peer created (we pinned it to CPU 3) and a cap of 2.
        let inst = [Resource::Fallback, Resource::Cpu(CpuId(3))];
        assert_eq!(
            g.on_acquire(Some(CpuId(0)), &inst, 2),
            Acquire::Create(Some(CpuId(0)))
        );
        assert_eq!(g.on_acquire(Some(CpuId(1)), &inst, 2), Acquire::Full);
        assert!(g.full);
        assert_eq!(
            g.on_acquire(Some(CpuId(1)), &inst, 2),
            Acquire::Ignore,
            "reported full once"
        );
        assert_eq!(g.next_precreate(&[CpuId(1)], &inst, 2), None);
    }

    #[test]
    fn precreate_paces_one_at_a_time() {
        let mut g = Group::new(0);
        g.support = Support::Yes;
        let cpus = [CpuId(0), CpuId(1)];
        let mut inst = vec![Resource::Fallback];
        assert_eq!(g.next_precreate(&cpus, &inst, 8), Some(CpuId(0)));
        assert_eq!(g.next_precreate(&cpus, &inst, 8), None, "one in flight");
        inst.push(g.on_created(Some(CpuId(0)), true));
        assert_eq!(g.next_precreate(&cpus, &inst, 8), Some(CpuId(1)));
        inst.push(g.on_created(Some(CpuId(1)), true));
        assert_eq!(g.next_precreate(&cpus, &inst, 8), None);
    }

    #[test]
    fn responder_assigns_unused_then_round_robin_then_caps() {
        let mut inst = Vec::new();
        let a = assign(&inst, 2, 4).unwrap();
        assert_eq!(a, Resource::Fallback);
        inst.push(a);
        let mut got = Vec::new();
        for _ in 0..4 {
            let r = assign(&inst, 2, 4).unwrap();
            got.push(r.cpu().unwrap().0);
            inst.push(r);
        }
        assert_eq!(got, vec![1, 0, 0, 1]);
        assert_eq!(assign(&inst, 2, 4), None, "cap reached: TS_MAX_QUEUE");
    }
}
