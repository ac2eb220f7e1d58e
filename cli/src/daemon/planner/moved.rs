//! A peer whose NAT rebound (RFC 7296 §2.23, RFC 3948 §2.2): the ESP-in-UDP
//! SAs of its IKE SA follow it to the new port (per-CPU SAs included) and,
//! when its address changed too, the templates of the policies they hold.

use std::net::SocketAddr;

use ike_core::IkeSaId;
use xfrm_offload::{SaDir, SaId};

use super::install::holder_of;
use super::{Op, Planner, Step, Work};

impl Planner {
    /// `Event::IkeSaMoved`: moves every installed Child SA of `ike` from the
    /// peer's `old` address to `remote`.
    pub fn peer_moved(&mut self, ike: IkeSaId, old: SocketAddr, remote: SocketAddr) {
        let mut ops = Vec::new();
        let mut held = Vec::new();
        for (id, rec) in self.children.iter().filter(|(_, r)| r.ike == ike) {
            for (sa, dir) in [(rec.sa_out, SaDir::Out), (rec.sa_in, SaDir::In)] {
                ops.push(Op::RebindSa {
                    id: sa,
                    dir,
                    remote,
                });
            }
            if old.ip() != remote.ip() {
                held.push((holder_of(*id, rec), rec.policies.clone()));
            }
        }
        let mut ids = Vec::new();
        for (holder, policies) in held {
            for pid in policies {
                let Some(mut spec) = self.policies.map.get(&pid).and_then(|e| {
                    e.holders
                        .iter()
                        .find(|(h, _)| *h == holder)
                        .map(|(_, s)| s.clone())
                }) else {
                    continue;
                };
                for t in &mut spec.templates {
                    if t.src == old.ip() {
                        t.src = remote.ip();
                    }
                    if t.dst == old.ip() {
                        t.dst = remote.ip();
                    }
                }
                self.policies.hold(&spec, holder.clone());
                ids.push(pid);
            }
        }
        ops.extend(self.policies.sync(&ids, &self.paused));
        if !ops.is_empty() {
            tracing::info!(ike = ?ike, %old, new = %remote, sas = ops.len(), "peer moved: updating its SAs");
            self.queue.push_back(Work::Ops(ops, Step::Plain));
        }
    }

    /// A reported move: the SA is known by its new identity.
    pub(super) fn rebound(&mut self, old: SaId, new: SaId) {
        if self.sas.remove(&old) {
            self.sas.insert(new);
        }
        for rec in self.children.values_mut() {
            if rec.sa_in == old {
                rec.sa_in = new;
            }
            if rec.sa_out == old {
                rec.sa_out = new;
            }
        }
    }
}
