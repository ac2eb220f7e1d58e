//! The planner against an in-memory kernel that runs its ops and can fail
//! the k-th add, like ike-core's Pair harness drives two engines.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use ike_core::proposal::Encr;
use ike_core::wire::EncrId;
use ike_core::{ChildSaId, ChildSaInstall, CpuId, DirectionKeys, IkeSaId, Selected, Spi};
use xfrm_offload::{OffloadMode, PolicyDir, PolicyId, PolicySpec, SaId};
use zeroize::Zeroizing;

use super::*;
use crate::config::StartAction;
use crate::control::SteeringState;
use crate::daemon::backend::OffloadState;
use crate::daemon::kernel;
use crate::daemon::plan::POLICY_PRIORITY;

const CONN: &str = "gw-b";
const REQID: u32 = 0x6c6e_0001;
const PACKET_IFINDEX: u32 = 7;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn local_ts() -> Vec<ike_core::TrafficSelector> {
    vec![ike_core::TrafficSelector::subnet(ip("192.168.1.0"), 24)]
}

fn remote_ts() -> Vec<ike_core::TrafficSelector> {
    vec![ike_core::TrafficSelector::subnet(ip("192.168.2.0"), 24)]
}

/// The child config `net`: a per-CPU trap, or a plain child without trap.
fn plan(per_cpu: bool, trap: bool, offload: OffloadMode) -> ChildPlan {
    let trap_policies = if trap {
        kernel::policies(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            &kernel::blocks(&local_ts(), &remote_ts()).expect("blocks"),
            true,
            REQID,
            per_cpu,
            POLICY_PRIORITY,
        )
    } else {
        Vec::new()
    };
    ChildPlan {
        name: "net".into(),
        reqid: REQID,
        selectors: (local_ts(), remote_ts()),
        start_action: if trap {
            StartAction::Trap
        } else {
            StartAction::None
        },
        per_cpu,
        offload,
        replay_window: 32,
        tunnel: true,
        trap_policies,
        revival_traps: Vec::new(),
        route: Default::default(),
        interface: None,
    }
}

fn keys() -> DirectionKeys {
    DirectionKeys {
        encr: Zeroizing::new(vec![0x11; 20]),
        integ: Zeroizing::new(Vec::new()),
    }
}

/// Child SA `n` of `net`: SPIs derived from `n`, on `cpu`.
fn child(n: u64, per_cpu: bool, cpu: Option<u32>) -> ChildSaInstall {
    ChildSaInstall {
        ike: IkeSaId(1),
        child: ChildSaId(n),
        name: "net".into(),
        reqid: REQID,
        spi_in: Spi(0xc000_0000 + n as u32),
        spi_out: Spi(0xd000_0000 + n as u32),
        local: "10.0.0.1:500".parse().expect("addr"),
        remote: "10.0.0.2:500".parse().expect("addr"),
        encap: None,
        esp: Selected {
            encr: Encr {
                id: EncrId::AES_GCM_16,
                key_bits: Some(128),
            },
            prf: None,
            integ: None,
            ke: None,
            esn: false,
            ake: [None; 7],
        },
        keys_in: keys(),
        keys_out: keys(),
        local_ts: local_ts(),
        remote_ts: remote_ts(),
        mode: ike_core::Mode::Tunnel,
        soft_lifetime: Duration::from_secs(3000),
        hard_lifetime: Duration::from_secs(3600),
        volume: ike_core::VolumeLimits::default(),
        per_cpu,
        resource: cpu.map(CpuId),
        acquire_seq: None,
    }
}

fn caps() -> Caps {
    Caps {
        esp: true,
        sa_dir: true,
        per_cpu: true,
    }
}

/// The kernel: SAs, policies and steering binds; fails the `fail_at`-th add.
#[derive(Default)]
struct Kernel {
    sas: HashSet<SaId>,
    policies: HashMap<PolicyId, PolicySpec>,
    binds: BTreeMap<u32, u32>,
    adds: usize,
    fail_at: Option<usize>,
    /// The op that was failed.
    failed: Option<String>,
}

impl Kernel {
    fn exec(&mut self, op: &Op) -> OpResult {
        if op.adds() {
            self.adds += 1;
            if self.fail_at == Some(self.adds - 1) {
                self.failed = Some(format!("{op:?}"));
                return Err("injected failure".into());
            }
        }
        match op {
            Op::AddSa { spec, offload, .. } => {
                if !self.sas.insert(spec.id()) {
                    return Err("File exists".into());
                }
                let packet = *offload == OffloadMode::Packet;
                Ok(Done::Sa(OffloadState {
                    mode: if packet { "packet" } else { "none" }.into(),
                    packet_ifindex: packet.then_some(PACKET_IFINDEX),
                }))
            }
            Op::DeleteSa(id) => {
                self.sas.remove(id);
                Ok(Done::Ok)
            }
            Op::RebindSa { id, dir, remote } => {
                if !self.sas.remove(id) {
                    return Err("No such process".into());
                }
                let mut new = *id;
                match dir {
                    xfrm_offload::SaDir::Out => new.dst = remote.ip(),
                    xfrm_offload::SaDir::In => new.src = Some(remote.ip()),
                }
                self.sas.insert(new);
                Ok(Done::Rebound(new))
            }
            Op::AddPolicy(p) => {
                self.policies.insert(p.id(), p.clone());
                Ok(Done::Ok)
            }
            Op::DeletePolicy(id) => {
                self.policies.remove(id);
                Ok(Done::Ok)
            }
            Op::Bind { spi, cpu } => {
                self.binds.insert(*spi, *cpu);
                Ok(Done::Ok)
            }
            Op::Unbind { spi } => {
                self.binds.remove(spi);
                Ok(Done::Ok)
            }
        }
    }
}

/// A planner wired to a [`Kernel`].
struct Harness {
    p: Planner,
    k: Kernel,
    outputs: Vec<Output>,
    /// Every batch run, as op kinds.
    batches: Vec<Vec<&'static str>>,
}

fn kind(op: &Op) -> &'static str {
    match op {
        Op::AddSa { .. } => "add_sa",
        Op::DeleteSa(_) => "delete_sa",
        Op::RebindSa { .. } => "rebind_sa",
        Op::AddPolicy(_) => "add_policy",
        Op::DeletePolicy(_) => "delete_policy",
        Op::Bind { .. } => "bind",
        Op::Unbind { .. } => "unbind",
    }
}

impl Harness {
    fn new(steering: bool) -> Self {
        Harness {
            p: Planner::new(caps(), steering),
            k: Kernel::default(),
            outputs: Vec::new(),
            batches: Vec::new(),
        }
    }

    /// Runs one batch without reporting it; the caller reports.
    fn start_batch(&mut self) -> Option<(u64, Vec<OpResult>)> {
        let b = self.p.poll_batch()?;
        self.batches.push(b.ops.iter().map(kind).collect());
        let rs = b.ops.iter().map(|o| self.k.exec(o)).collect();
        Some((b.id, rs))
    }

    /// Runs batches until the planner is idle.
    fn run(&mut self) {
        while let Some((id, rs)) = self.start_batch() {
            self.p.handle_results(id, rs);
        }
        assert!(self.p.is_idle());
        while let Some(o) = self.p.poll_output() {
            self.outputs.push(o);
        }
    }

    fn deleted(&self, child: u64) -> bool {
        self.outputs
            .iter()
            .any(|o| matches!(o, Output::DeleteChild { child: c, .. } if c.0 == child))
    }

    fn out_policy(&self) -> &PolicySpec {
        self.k
            .policies
            .values()
            .find(|p| p.dir == PolicyDir::Out)
            .expect("an out policy")
    }

    /// Every kernel object has an owner in the planner, every owner's object
    /// is in the kernel, and the planner's view of the kernel is the kernel.
    fn check(&self) {
        let p = &self.p;
        let owned: HashSet<SaId> = p
            .children
            .values()
            .flat_map(|r| [r.sa_in, r.sa_out])
            .chain(p.draining.values().map(|r| r.sa_in))
            .collect();
        assert_eq!(
            self.k.sas, owned,
            "SAs in the kernel = SAs of installed children"
        );
        assert_eq!(p.sas, owned, "the planner's view of SAs");
        for (id, spec) in &self.k.policies {
            let e = p
                .policies
                .map
                .get(id)
                .expect("kernel policy unknown to the planner");
            assert!(
                !e.holders.is_empty(),
                "kernel policy without holder: {id:?}"
            );
            assert_eq!(
                e.installed.as_deref(),
                Some(spec),
                "the planner's view of {id:?}"
            );
        }
        for (id, e) in &p.policies.map {
            assert!(
                self.k.policies.contains_key(id),
                "held, not in the kernel: {id:?} {e:?}"
            );
        }
        for (cid, r) in &p.children {
            let h = install::holder_of(*cid, r);
            for id in &r.policies {
                let e = p.policies.map.get(id).expect("child's policy");
                assert!(
                    e.holders.iter().any(|(x, _)| *x == h),
                    "{cid:?} holds {id:?}"
                );
            }
        }
        let bound: BTreeMap<u32, u32> = p
            .children
            .values()
            .chain(p.draining.values())
            .filter_map(|r| match r.steering {
                SteeringState::Bound(cpu) => Some((r.sa_in.spi.0, cpu)),
                _ => None,
            })
            .collect();
        assert_eq!(self.k.binds, bound, "binds = bound children");
        assert_eq!(p.binds, bound.into_iter().collect(), "planner binds");
    }

    /// [`Harness::check`] plus: each policy is what its holders want.
    fn check_converged(&self) {
        self.check();
        for (id, spec) in &self.k.policies {
            assert_eq!(
                self.p.policies.desired(id, &self.p.paused).as_ref(),
                Some(spec)
            );
        }
    }
}

#[test]
fn install_puts_sas_first_then_policies_and_delete_removes_all() {
    let mut h = Harness::new(true);
    h.p.load(CONN, &[plan(false, false, OffloadMode::No)]);
    h.run();
    assert!(h.batches.is_empty(), "no trap, nothing to install");
    h.p.child_ready(CONN, &child(1, false, None));
    h.run();
    assert_eq!(
        h.batches,
        vec![
            vec!["add_sa", "add_sa"],
            vec!["add_policy", "add_policy", "add_policy"]
        ]
    );
    assert_eq!((h.k.sas.len(), h.k.policies.len()), (2, 3));
    let rec = h.p.child(ChildSaId(1)).expect("record");
    assert_eq!((&*rec.offload, rec.steering), ("none", SteeringState::Off));
    assert_eq!(rec.policies.len(), 3);
    h.check_converged();
    h.p.child_deleted(ChildSaId(1));
    h.run();
    assert!(h.k.sas.is_empty() && h.k.policies.is_empty());
    assert!(h.p.child(ChildSaId(1)).is_none() && h.outputs.is_empty());
    h.check_converged();
}

#[test]
fn packet_offload_puts_the_policies_on_the_sa_device() {
    let mut h = Harness::new(false);
    h.p.load(CONN, &[plan(false, false, OffloadMode::Packet)]);
    h.p.child_ready(CONN, &child(1, false, None));
    h.run();
    assert_eq!(
        h.p.child(ChildSaId(1)).expect("rec").offload.as_ref(),
        "packet"
    );
    assert!(
        h.k.policies
            .values()
            .all(|p| p.offload == Some(PACKET_IFINDEX))
    );
    h.check_converged();
}

#[test]
fn plain_child_of_a_per_cpu_trap_overwrites_and_restores_its_policies() {
    let mut h = Harness::new(true);
    h.p.load(CONN, &[plan(true, true, OffloadMode::No)]);
    h.run();
    assert_eq!(h.k.policies.len(), 3);
    assert!(
        h.out_policy().cpu_acquire,
        "the trap asks for per-CPU acquires"
    );
    assert_eq!(h.p.traps().len(), 1);
    // A per-CPU child wants the trap's very policies: only SAs and a bind.
    h.p.child_ready(CONN, &child(1, true, Some(0)));
    h.run();
    assert_eq!(h.batches[1..], [vec!["add_sa", "add_sa"], vec!["bind"]]);
    // A plain child (the peer ignored SA_RESOURCE_INFO) drops CPU_ACQUIRE.
    h.p.child_ready(CONN, &child(2, false, None));
    h.run();
    assert!(!h.out_policy().cpu_acquire);
    h.check_converged();
    h.p.child_deleted(ChildSaId(2));
    h.run();
    assert!(h.out_policy().cpu_acquire, "the trap's policy is restored");
    assert_eq!(h.k.policies.len(), 3);
    h.p.child_deleted(ChildSaId(1));
    h.run();
    assert_eq!(
        (h.k.sas.len(), h.k.policies.len()),
        (0, 3),
        "the trap stays"
    );
    assert!(h.k.binds.is_empty());
    h.check_converged();
}

#[test]
fn group_full_switches_cpu_acquire_off_and_open_back_on() {
    let mut h = Harness::new(false);
    h.p.load(CONN, &[plan(true, true, OffloadMode::No)]);
    h.p.child_ready(CONN, &child(1, true, None));
    h.p.child_ready(CONN, &child(2, true, Some(0)));
    h.run();
    h.p.group_full(CONN, "net", true);
    h.run();
    assert!(!h.out_policy().cpu_acquire);
    let n = h.batches.len();
    h.p.group_full(CONN, "net", true);
    h.run();
    assert_eq!(h.batches.len(), n, "already full: no ops");
    // A child installed while the group is full keeps the flag off.
    h.p.child_ready(CONN, &child(3, true, Some(1)));
    h.run();
    assert!(!h.out_policy().cpu_acquire);
    h.check_converged();
    h.p.group_full(CONN, "net", false);
    h.run();
    assert!(h.out_policy().cpu_acquire);
    assert_eq!(h.batches.last(), Some(&vec!["add_policy"]));
    h.check_converged();
}

#[test]
fn rekey_installs_the_new_child_before_removing_the_old() {
    let mut h = Harness::new(true);
    h.p.load(CONN, &[plan(true, true, OffloadMode::No)]);
    h.p.child_ready(CONN, &child(1, true, Some(1)));
    h.run();
    let n = h.batches.len();
    h.p.child_rekeyed(CONN, ChildSaId(1), &child(2, true, Some(1)));
    h.run();
    assert_eq!(
        h.batches[n..],
        [vec!["add_sa", "add_sa"], vec!["bind"], vec!["delete_sa"]],
        "shared policies are never removed in between; the old outbound SA goes"
    );
    assert!(h.p.child(ChildSaId(1)).is_none());
    let old = child(1, true, Some(1));
    let (old_in, old_out) = (old.spi_in.0, old.spi_out.0);
    let spis: BTreeSet<u32> = h.k.sas.iter().map(|s| s.spi.0).collect();
    assert!(spis.contains(&old_in), "the old inbound SA still decrypts");
    assert!(!spis.contains(&old_out), "the old outbound SA is gone");
    assert_eq!(
        h.k.binds,
        BTreeMap::from([(0xc000_0001, 1), (0xc000_0002, 1)]),
        "packets on the old SPI still reach its CPU"
    );
    h.check_converged();
    // The Delete exchange ends the old Child SA: its inbound half goes.
    let n = h.batches.len();
    h.p.child_deleted(ChildSaId(1));
    h.run();
    assert_eq!(h.batches[n..], [vec!["unbind", "delete_sa"]]);
    let spis: BTreeSet<u32> = h.k.sas.iter().map(|s| s.spi.0).collect();
    assert!(!spis.contains(&old_in));
    assert_eq!(h.k.binds, BTreeMap::from([(0xc000_0002, 1)]));
    h.check_converged();
}

#[test]
fn unload_with_children_up_removes_everything_and_load_brings_traps_back() {
    let mut h = Harness::new(true);
    let plans = [plan(true, true, OffloadMode::No)];
    h.p.load(CONN, &plans);
    h.p.child_ready(CONN, &child(1, true, None));
    h.p.child_ready(CONN, &child(2, true, Some(3)));
    h.p.group_full(CONN, "net", true);
    h.run();
    h.p.unload(CONN);
    h.run();
    assert!(h.k.sas.is_empty() && h.k.policies.is_empty() && h.k.binds.is_empty());
    assert!(h.p.traps().is_empty() && h.p.children().next().is_none());
    h.check_converged();
    h.p.load(CONN, &plans);
    h.run();
    assert_eq!(h.k.policies.len(), 3);
    assert!(
        h.out_policy().cpu_acquire,
        "a reload forgets the full group"
    );
    // `down` keeps the plan: `up` installs the traps again.
    h.p.down(CONN);
    h.run();
    assert!(h.k.policies.is_empty());
    h.p.install_traps(CONN);
    h.run();
    assert_eq!(h.k.policies.len(), 3);
    h.check_converged();
}

#[test]
fn child_deleted_mid_install_is_rolled_back_without_telling_the_engine() {
    for phase in 0..3 {
        let mut h = Harness::new(true);
        h.p.load(CONN, &[plan(false, false, OffloadMode::No)]);
        h.p.child_ready(CONN, &child(1, true, Some(2)));
        if phase == 0 {
            // Deleted before its install started: nothing reaches the kernel.
            h.p.child_deleted(ChildSaId(1));
            h.run();
            assert!(h.batches.is_empty());
        }
        for _ in 0..phase {
            let (id, rs) = h.start_batch().expect("a batch");
            if phase == 2 && h.batches.len() == 1 {
                h.p.handle_results(id, rs);
                continue;
            }
            h.p.child_deleted(ChildSaId(1));
            h.p.handle_results(id, rs);
        }
        h.run();
        assert!(h.p.child(ChildSaId(1)).is_none(), "phase {phase}");
        assert!(h.outputs.is_empty(), "phase {phase}: the engine deleted it");
        assert!(h.k.sas.is_empty() && h.k.policies.is_empty() && h.k.binds.is_empty());
        h.check_converged();
    }
}

#[test]
fn a_child_the_kernel_cannot_take_is_deleted_without_ops() {
    let mut h = Harness::new(false);
    h.p.set_caps(Caps {
        per_cpu: false,
        ..caps()
    });
    h.p.load(CONN, &[plan(false, false, OffloadMode::No)]);
    h.p.child_ready(CONN, &child(1, true, Some(0)));
    h.p.child_ready("other", &child(2, false, None));
    h.run();
    assert!(h.batches.is_empty());
    assert!(h.deleted(1) && h.deleted(2));
}

/// One input of a scenario.
#[derive(Clone, Copy)]
enum In {
    Load(bool, bool, OffloadMode),
    Ready(u64, bool, Option<u32>),
    Rekey(u64, u64, bool, Option<u32>),
    Delete(u64),
    Full(bool),
    Unload,
}

fn scenarios() -> Vec<Vec<In>> {
    use In::*;
    vec![
        vec![
            Load(true, true, OffloadMode::No),
            Ready(1, true, None),
            Ready(2, true, Some(0)),
            Ready(3, false, None),
            Full(true),
            Rekey(2, 4, true, Some(0)),
            Delete(3),
            Ready(5, true, Some(1)),
            Full(false),
            Delete(1),
            Unload,
        ],
        vec![
            Load(false, false, OffloadMode::Packet),
            Ready(1, false, None),
            Rekey(1, 2, false, None),
            Ready(3, false, None),
            Delete(2),
            Unload,
        ],
        vec![
            Load(false, true, OffloadMode::Auto),
            Ready(1, false, Some(0)),
            Ready(2, false, Some(1)),
            Rekey(2, 3, false, Some(1)),
            Delete(1),
            Delete(3),
        ],
    ]
}

/// Runs `inputs` with the `fail_at`-th add failing; checks the invariant
/// after each input, and that each child is either installed or reported
/// to the engine for deletion. Returns the number of adds.
fn run_scenario(inputs: &[In], fail_at: Option<usize>) -> usize {
    let mut h = Harness::new(true);
    h.k.fail_at = fail_at;
    for (step, input) in inputs.iter().enumerate() {
        let failed_before = h.k.failed.is_some();
        let new = match *input {
            In::Load(per_cpu, trap, off) => {
                h.p.load(CONN, &[plan(per_cpu, trap, off)]);
                None
            }
            In::Ready(n, per_cpu, cpu) => {
                h.p.child_ready(CONN, &child(n, per_cpu, cpu));
                Some(n)
            }
            In::Rekey(old, n, per_cpu, cpu) => {
                h.p.child_rekeyed(CONN, ChildSaId(old), &child(n, per_cpu, cpu));
                Some(n)
            }
            In::Delete(n) => {
                h.p.child_deleted(ChildSaId(n));
                None
            }
            In::Full(full) => {
                h.p.group_full(CONN, "net", full);
                None
            }
            In::Unload => {
                h.p.unload(CONN);
                None
            }
        };
        h.run();
        let ctx = format!("fail_at {fail_at:?}, step {step}, failed {:?}", h.k.failed);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.check()))
            .unwrap_or_else(|_| panic!("invariant broken: {ctx}"));
        if let Some(n) = new {
            let installed = h.p.child(ChildSaId(n)).is_some();
            assert!(
                installed != h.deleted(n),
                "{ctx}: child {n} installed xor deleted"
            );
            let sa_failed = !failed_before
                && h.k
                    .failed
                    .as_deref()
                    .is_some_and(|f| f.starts_with("AddSa"));
            assert!(
                !sa_failed || h.deleted(n),
                "{ctx}: an SA failure is reported"
            );
        }
    }
    h.k.adds
}

#[test]
fn a_failure_at_every_add_leaves_kernel_and_tables_in_agreement() {
    for (i, inputs) in scenarios().iter().enumerate() {
        let adds = run_scenario(inputs, None);
        assert!(adds > 5, "scenario {i} has {adds} adds");
        for k in 0..adds {
            run_scenario(inputs, Some(k));
        }
    }
}

#[test]
fn a_peer_that_moves_takes_its_sas_and_policy_templates_along() {
    let mut h = Harness::new(true);
    h.p.load(CONN, &[plan(true, true, OffloadMode::No)]);
    h.run();
    h.p.child_ready(CONN, &child(1, true, None));
    h.p.child_ready(CONN, &child(2, true, Some(1)));
    let mut other = child(3, false, None);
    other.ike = IkeSaId(2);
    h.p.child_ready(CONN, &other);
    h.run();
    let n = h.batches.len();
    // Only the port changed: each SA of IKE SA 1 is moved, no policy op.
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().expect("addr");
    h.p.peer_moved(IkeSaId(1), addr("10.0.0.2:4500"), addr("10.0.0.2:2001"));
    h.run();
    assert_eq!(h.batches[n..], [vec!["rebind_sa"; 4]]);
    h.check();
    // The address changed too: SAs and the templates follow it.
    h.p.peer_moved(IkeSaId(1), addr("10.0.0.2:2001"), addr("10.0.0.9:2001"));
    h.run();
    h.check();
    for (id, rec) in h.p.children() {
        let moved = id.0 != 3;
        assert_eq!(rec.sa_out.dst == ip("10.0.0.9"), moved, "{id:?} out");
        assert_eq!(rec.sa_in.src == Some(ip("10.0.0.9")), moved, "{id:?} in");
    }
    // The newest holder of the shared policies is IKE SA 1's: its templates moved.
    let out = h.out_policy();
    assert_eq!(
        (out.templates[0].src, out.templates[0].dst),
        (ip("10.0.0.1"), ip("10.0.0.9"))
    );
    let inbound =
        h.k.policies
            .values()
            .find(|p| p.dir == PolicyDir::In)
            .expect("in policy");
    assert_eq!(inbound.templates[0].src, ip("10.0.0.9"));
    // An unknown IKE SA moves nothing.
    let n = h.batches.len();
    h.p.peer_moved(IkeSaId(9), addr("10.0.0.2:500"), addr("10.0.0.3:500"));
    h.run();
    assert_eq!(h.batches.len(), n);
}

/// A per-CPU group's outbound fallback SA is marked dying one second after
/// it is added (and has no volume soft limits, which could no longer fire);
/// its inbound SA and the CPUs' own SAs keep the configured limits.
#[test]
fn the_outbound_fallback_sa_is_demoted_and_its_soft_expire_is_not_a_rekey() {
    use crate::daemon::kernel::{FALLBACK_DEMOTE_SECS, child_sas, is_fallback_demotion};
    use xfrm_offload::SaDir;
    let volume = ike_core::VolumeLimits {
        rekey_bytes: 1 << 20,
        ..ike_core::VolumeLimits::default()
    }
    .with_default_life();
    let with = |mut c: ChildSaInstall| {
        c.volume = volume;
        child_sas(&c, c.reqid, caps(), 32).expect("sas")
    };
    let (fb_in, fb_out) = with(child(1, true, None));
    assert_eq!(
        fb_out.lifetimes.soft.add_seconds,
        Some(FALLBACK_DEMOTE_SECS)
    );
    assert_eq!(fb_out.lifetimes.soft.bytes, None);
    assert_eq!(
        fb_out.lifetimes.hard.add_seconds,
        Some(3600),
        "hard limit kept"
    );
    assert_eq!(fb_in.lifetimes.soft.bytes, Some(1 << 20));
    assert_eq!(fb_in.lifetimes.soft.add_seconds, None);
    let (_, cpu_out) = with(child(2, true, Some(1)));
    assert_eq!(cpu_out.lifetimes.soft.add_seconds, None);
    assert_eq!(cpu_out.lifetimes.soft.bytes, Some(1 << 20));
    let (_, plain_out) = with(child(3, false, None));
    assert_eq!(
        plain_out.lifetimes.soft.add_seconds, None,
        "no group, no demotion"
    );
    assert!(is_fallback_demotion(
        &fb_out.lifetimes,
        None,
        Some(SaDir::Out),
        false
    ));
    assert!(
        !is_fallback_demotion(&fb_out.lifetimes, None, Some(SaDir::Out), true),
        "a hard expire is real"
    );
    assert!(!is_fallback_demotion(
        &fb_in.lifetimes,
        None,
        Some(SaDir::In),
        false
    ));
    assert!(!is_fallback_demotion(
        &cpu_out.lifetimes,
        cpu_out.pcpu,
        Some(SaDir::Out),
        false
    ));
}

#[test]
fn a_child_the_peer_closes_with_close_action_trap_keeps_its_policies_as_a_trap() {
    let mut h = Harness::new(false);
    let mut net = plan(true, false, OffloadMode::No);
    let trapped = plan(true, true, OffloadMode::No);
    net.revival_traps = trapped.trap_policies.clone();
    h.p.load(CONN, std::slice::from_ref(&net));
    h.p.child_ready(CONN, &child(1, true, None));
    h.run();
    let installed: HashSet<PolicyId> = h.k.policies.keys().copied().collect();
    assert_eq!(installed.len(), 3, "in, fwd, out of the child");
    // Without close_action = trap, the peer's delete takes the policies.
    let mut plain = Harness::new(false);
    plain.p.load(CONN, &[plan(true, false, OffloadMode::No)]);
    plain.p.child_ready(CONN, &child(1, true, None));
    plain.run();
    plain.p.child_deleted(ChildSaId(1));
    plain.run();
    assert!(plain.k.policies.is_empty());
    // With it, the daemon loads the child with its trap (as `arm_traps`
    // does) before the delete: the trap is held before the child lets go, the
    // selectors stay covered throughout (no batch deletes a policy), and the
    // out policy raises per-CPU acquires.
    h.batches.clear();
    let mut trapping = net.clone();
    trapping.trap_policies = trapping.revival_traps.clone();
    h.p.load(CONN, &[trapping]);
    h.p.child_deleted(ChildSaId(1));
    h.run();
    assert!(h.k.sas.is_empty());
    let now: HashSet<PolicyId> = h.k.policies.keys().copied().collect();
    assert_eq!(now, installed, "the same selectors, now the trap's");
    assert!(
        !h.batches.iter().flatten().any(|k| *k == "delete_policy"),
        "{:?}",
        h.batches
    );
    assert!(h.out_policy().cpu_acquire);
    assert!(!h.p.traps().is_empty());
    h.check_converged();
}

/// Child SA `n` of IKE SA `ike`, narrowed to the peer host `peer`.
fn narrowed(n: u64, ike: u64, peer: &str, cpu: Option<u32>) -> ChildSaInstall {
    let mut c = child(n, true, cpu);
    c.ike = IkeSaId(ike);
    c.remote_ts = vec![ike_core::TrafficSelector::host(ip(peer))];
    c
}

#[test]
fn each_negotiated_selector_set_gets_its_own_reqid_freed_with_its_last_child_sa() {
    let mut h = Harness::new(false);
    h.p.load(CONN, &[plan(true, false, OffloadMode::No)]);
    h.run();
    // Two peers' per-CPU groups (fallback + CPU 0 each), and one Child SA
    // with the config's own selectors.
    for c in [
        narrowed(1, 1, "192.168.2.1", None),
        narrowed(2, 1, "192.168.2.1", Some(0)),
        narrowed(3, 2, "192.168.2.2", None),
        narrowed(4, 2, "192.168.2.2", Some(0)),
        child(5, false, None),
    ] {
        h.p.child_ready(CONN, &c);
    }
    h.run();
    let reqid = |n| h.p.child(ChildSaId(n)).expect("record").reqid;
    assert_eq!(reqid(1), reqid(2), "a group shares its selectors' reqid");
    assert_ne!(
        reqid(1),
        reqid(3),
        "another peer's selectors: another reqid"
    );
    assert_eq!(
        reqid(5),
        REQID,
        "the config's selectors keep the config's reqid"
    );
    for n in [1, 3] {
        assert!(xfrm_offload::tag::is_set_reqid(xfrm_offload::Reqid(reqid(
            n
        ))));
        let owner = h.p.set_owner(reqid(n)).expect("owner");
        assert_eq!(
            (owner.conn, owner.cfg, owner.ike),
            (CONN, REQID, IkeSaId(n / 2 + 1))
        );
    }
    // Every policy's template carries the reqid of the selector set it is for.
    for p in h.k.policies.values() {
        let (src, dst) = (&p.selector.src, &p.selector.dst);
        let peer = dst.addr() == ip("192.168.2.2") || src.addr() == ip("192.168.2.2");
        let want = if dst.prefix_len() == 24 && src.prefix_len() == 24 {
            REQID
        } else if peer {
            reqid(3)
        } else {
            reqid(1)
        };
        assert_eq!(p.templates[0].reqid.0, want, "{p:?}");
    }
    h.check_converged();
    let first = reqid(1);
    h.p.child_deleted(ChildSaId(1));
    h.run();
    assert!(h.p.set_owner(first).is_some(), "CPU 0's SA still uses it");
    h.p.child_deleted(ChildSaId(2));
    h.run();
    assert_eq!(h.p.set_owner(first), None, "freed with its last Child SA");
    h.check_converged();
    // A failed install gives its reqid back.
    assert_eq!(h.p.reqids.len(), 1);
    h.k.fail_at = Some(h.k.adds + 1);
    h.p.child_ready(CONN, &narrowed(6, 3, "192.168.2.3", None));
    h.run();
    assert!(h.deleted(6), "the engine is told to delete it");
    assert_eq!(h.p.reqids.len(), 1, "no reqid kept for the failed install");
    h.check_converged();
}
