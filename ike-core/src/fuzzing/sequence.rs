//! Sequence harness: two endpoints, a network the input controls (deliver,
//! drop, duplicate, corrupt, reorder by picking any packet in flight), time,
//! API commands and kernel events. After every action and once the pair has
//! settled, invariants are checked:
//!
//! - every live Child SA was announced with `ChildSaReady`/`ChildSaRekeyed`,
//!   none twice, and `ChildSaDeleted` only names announced ones;
//! - inbound ESP SPIs are unique per endpoint;
//! - a settled IKE SA established on both sides has the same Child SAs on
//!   both, with mirrored SPIs (RFC 7296 §1.3);
//! - an RFC 9611 group never has more per-CPU SAs than `per_cpu_max`, plus one
//!   when both sides created one at the same time (each responder only counts
//!   what it has installed, RFC 9611 §4.2).

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use super::{NET_REQID, PER_CPU_MAX, Peer, WEB_REQID, cheap_ke, config};
use crate::child_sa::ChildState;
use crate::endpoint::{Endpoint, KernelEvent};
use crate::event::{Event, Transmit};
use crate::ids::{ChildSaId, CpuId, IkeSaId, Spi};
use crate::ike_sa::IkeSa;

/// One step of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Action {
    /// `initiate("net")`.
    Initiate(Peer),
    /// Deliver packet `n % in_flight`.
    Deliver(u8),
    /// Drop packet `n % in_flight`.
    Drop(u8),
    /// Duplicate packet `n % in_flight`.
    Duplicate(u8),
    /// XOR one byte of a packet in flight.
    Corrupt {
        /// Which packet (modulo).
        packet: u8,
        /// Which byte (modulo).
        at: u16,
        /// The mask.
        xor: u8,
    },
    /// Advance time and fire due timers.
    Advance {
        /// Seconds.
        secs: u16,
    },
    /// `create_child` on the peer's first established IKE SA.
    CreateChild {
        /// Who.
        peer: Peer,
        /// "web" instead of the per-CPU "net".
        plain: bool,
        /// CPU for the RFC 9611 group.
        cpu: Option<u8>,
    },
    /// A kernel acquire.
    Acquire {
        /// Who.
        peer: Peer,
        /// For "web" instead of "net".
        plain: bool,
        /// The per-CPU acquire's CPU.
        cpu: Option<u8>,
        /// Sequence number.
        seq: u8,
    },
    /// A kernel expire of the peer's live Child SA `child % n`.
    Expire {
        /// Who.
        peer: Peer,
        /// Which Child SA (modulo).
        child: u8,
        /// Hard (delete) or soft (rekey).
        hard: bool,
    },
    /// `rekey_child` of live Child SA `child % n`.
    RekeyChild {
        /// Who.
        peer: Peer,
        /// Which Child SA (modulo).
        child: u8,
    },
    /// `delete_child` of live Child SA `child % n`.
    DeleteChild {
        /// Who.
        peer: Peer,
        /// Which Child SA (modulo).
        child: u8,
    },
    /// `rekey_ike` of the first established IKE SA.
    RekeyIke(Peer),
    /// `close` of the first established IKE SA.
    Close(Peer),
}

/// Actions after this many are ignored.
pub const MAX_ACTIONS: usize = 64;
const MAX_IN_FLIGHT: usize = 64;
const SETTLE_STEPS: usize = 5_000;
/// Timers further away than this do not keep the pair from settling.
const HORIZON: Duration = Duration::from_secs(200);

/// Runs a sequence, checking invariants after each action and at the end.
pub fn run(actions: &[Action]) {
    let mut sim = Sim::new();
    for act in actions.iter().take(MAX_ACTIONS) {
        sim.apply(act);
        sim.check();
    }
    assert!(
        sim.settle(),
        "the pair did not settle within {SETTLE_STEPS} steps"
    );
    sim.check();
    sim.check_settled();
}

/// Two endpoints and the packets between them.
pub struct Sim {
    eps: [Endpoint; 2],
    now: Instant,
    net: Vec<(Peer, Transmit)>,
    /// Child SAs each side was told to install and not yet told to remove.
    installed: [HashSet<ChildSaId>; 2],
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// A fresh pair at an arbitrary start time, with [`cheap_ke`] key
    /// exchanges.
    pub fn new() -> Self {
        Self {
            eps: [Peer::A, Peer::B].map(|p| Endpoint::new(config(p), cheap_ke::provider(p.seed()))),
            now: Instant::now(),
            net: Vec::new(),
            installed: [HashSet::new(), HashSet::new()],
        }
    }

    fn ep(&mut self, p: Peer) -> &mut Endpoint {
        &mut self.eps[p as usize]
    }

    /// Applies one action and collects what it caused.
    pub fn apply(&mut self, act: &Action) {
        let now = self.now;
        match *act {
            Action::Initiate(p) => drop(self.ep(p).initiate(now, "net")),
            Action::Deliver(n) => {
                if let Some(i) = self.pick(n) {
                    self.deliver(i);
                }
            }
            Action::Drop(n) => {
                if let Some(i) = self.pick(n) {
                    self.net.remove(i);
                }
            }
            Action::Duplicate(n) => {
                if let Some(i) = self.pick(n).filter(|_| self.net.len() < MAX_IN_FLIGHT) {
                    let copy = self.net[i].clone();
                    self.net.push(copy);
                }
            }
            Action::Corrupt { packet, at, xor } => {
                if let Some(i) = self.pick(packet) {
                    let d = &mut self.net[i].1.data;
                    let j = usize::from(at) % d.len().max(1);
                    if let Some(b) = d.get_mut(j) {
                        *b ^= xor;
                    }
                }
            }
            Action::Advance { secs } => {
                self.now += Duration::from_secs(u64::from(secs));
                self.fire_timers();
            }
            _ => self.command(act),
        }
        self.collect();
    }

    /// The API and kernel actions.
    fn command(&mut self, act: &Action) {
        let now = self.now;
        let reqid = |plain: bool| if plain { WEB_REQID } else { NET_REQID };
        match *act {
            Action::CreateChild { peer, plain, cpu } => {
                if let Some(ike) = self.first_ike(peer) {
                    let name = if plain { "web" } else { "net" };
                    let cpu = cpu.map(|c| CpuId(c.into()));
                    drop(self.ep(peer).create_child(now, ike, name, cpu));
                }
            }
            Action::Acquire {
                peer,
                plain,
                cpu,
                seq,
            } => {
                let ev = KernelEvent::Acquire {
                    reqid: reqid(plain),
                    cpu: cpu.map(u32::from),
                    seq: seq.into(),
                    ike: None,
                };
                self.ep(peer).handle_kernel(now, ev);
            }
            Action::Expire { peer, child, hard } => {
                if let Some((_, spi)) = self.live_child(peer, child) {
                    self.ep(peer)
                        .handle_kernel(now, KernelEvent::Expire { spi, hard });
                }
            }
            Action::RekeyChild { peer, child } => {
                if let Some((id, _)) = self.live_child(peer, child) {
                    drop(self.ep(peer).rekey_child(now, id));
                }
            }
            Action::DeleteChild { peer, child } => {
                if let Some((id, _)) = self.live_child(peer, child) {
                    drop(self.ep(peer).delete_child(now, id));
                }
            }
            Action::RekeyIke(p) => {
                if let Some(ike) = self.first_ike(p) {
                    drop(self.ep(p).rekey_ike(now, ike));
                }
            }
            Action::Close(p) => {
                if let Some(ike) = self.first_ike(p) {
                    drop(self.ep(p).close(now, ike));
                }
            }
            _ => {}
        }
    }

    fn pick(&self, n: u8) -> Option<usize> {
        (!self.net.is_empty()).then(|| usize::from(n) % self.net.len())
    }

    fn first_ike(&self, p: Peer) -> Option<IkeSaId> {
        self.eps[p as usize].established().first().copied()
    }

    /// Live Child SA `n % count` of `p`, by id order.
    fn live_child(&self, p: Peer, n: u8) -> Option<(ChildSaId, Spi)> {
        let mut v: Vec<_> = self.eps[p as usize]
            .sas()
            .flat_map(|s| s.children.iter().filter(|c| c.is_live()))
            .map(|c| (c.id, c.spi_in))
            .collect();
        v.sort();
        (!v.is_empty()).then(|| v[usize::from(n) % v.len()])
    }

    /// Live Child SAs of `p`.
    pub fn live_children(&self, p: Peer) -> usize {
        let sas = self.eps[p as usize].sas();
        sas.flat_map(|s| s.children.iter().filter(|c| c.is_live()))
            .count()
    }

    /// Moves transmits into the network and checks events.
    fn collect(&mut self) {
        for p in [Peer::A, Peer::B] {
            let now = self.now;
            while let Some(t) = self.ep(p).poll_transmit(now) {
                if self.net.len() < MAX_IN_FLIGHT {
                    self.net.push((p, t));
                }
            }
            while let Some(e) = self.ep(p).poll_event() {
                self.on_event(p, &e);
            }
        }
    }

    fn on_event(&mut self, p: Peer, e: &Event) {
        let set = &mut self.installed[p as usize];
        match e {
            Event::ChildSaReady(i) | Event::ChildSaRekeyed { new: i, .. } => {
                assert!(set.insert(i.child), "{p:?}: {:?} installed twice", i.child);
            }
            Event::ChildSaDeleted { child, .. } => {
                assert!(
                    set.remove(child),
                    "{p:?}: deleted {child:?} was never installed"
                );
            }
            _ => {}
        }
    }

    fn deliver(&mut self, i: usize) {
        let (from, t) = self.net.remove(i);
        let now = self.now;
        self.ep(from.other())
            .handle_datagram(now, t.local, t.remote, &t.data);
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for ep in &mut self.eps {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
        }
    }

    /// Delivers everything in order and fires timers due within [`HORIZON`]
    /// until nothing is left; false if that takes more than a bounded number
    /// of steps (a livelock).
    pub fn settle(&mut self) -> bool {
        for _ in 0..SETTLE_STEPS {
            self.collect();
            if !self.net.is_empty() {
                self.deliver(0);
                continue;
            }
            let next = self.eps.iter().filter_map(Endpoint::poll_timeout).min();
            match next {
                Some(t) if t <= self.now + HORIZON => {
                    self.now = self.now.max(t);
                    self.fire_timers();
                }
                _ => return true,
            }
        }
        false
    }

    /// Invariants that hold after every action.
    pub fn check(&self) {
        for p in [Peer::A, Peer::B] {
            let mut spis = HashSet::new();
            for c in self.eps[p as usize].sas().flat_map(|s| s.children.iter()) {
                if !c.is_live() {
                    continue;
                }
                assert!(
                    self.installed[p as usize].contains(&c.id),
                    "{p:?}: live {:?} was never announced",
                    c.id
                );
                assert!(
                    spis.insert(c.spi_in),
                    "{p:?}: inbound SPI {:?} used twice",
                    c.spi_in
                );
            }
        }
    }

    /// Invariants of a settled pair; returns how many IKE SAs established
    /// on both sides were compared.
    pub fn check_settled(&self) -> usize {
        let mut compared = 0;
        let [a, b] = &self.eps;
        for sa in a.sas().chain(b.sas()) {
            let per_cpu = sa
                .children
                .iter()
                .filter(|c| matches!(c.state, ChildState::Installed) && c.resource.cpu().is_some())
                .count();
            assert!(
                per_cpu <= PER_CPU_MAX as usize + 1,
                "{:?} holds {per_cpu} per-CPU SAs, cap {PER_CPU_MAX}",
                sa.id
            );
        }
        for x in a.sas().filter(|s| quiet(s)) {
            let Some(y) = b
                .sas()
                .find(|y| quiet(y) && (y.spi_i, y.spi_r) == (x.spi_i, x.spi_r))
            else {
                continue;
            };
            let spis = |s: &IkeSa, mirror: bool| -> BTreeSet<(Spi, Spi)> {
                s.children
                    .iter()
                    .filter(|c| c.is_live())
                    .map(|c| {
                        if mirror {
                            (c.spi_out, c.spi_in)
                        } else {
                            (c.spi_in, c.spi_out)
                        }
                    })
                    .collect()
            };
            assert_eq!(
                spis(x, false),
                spis(y, true),
                "Child SAs of {:?} differ",
                x.spi_i
            );
            compared += 1;
        }
        compared
    }
}

/// Established, not replaced, nothing in flight or queued.
fn quiet(s: &IkeSa) -> bool {
    s.is_established() && s.outstanding.is_none() && s.queue.is_empty()
}
