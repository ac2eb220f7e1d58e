//! A peer whose NAT rebound (RFC 7296 §2.23, RFC 3948 §2.2): the ESP-in-UDP
//! SAs of its IKE SA follow it to the new port (per-CPU SAs included) and,
//! when its address changed too, the templates of the policies they hold.

use std::net::SocketAddr;

use ike_core::{ChildSaId, IkeSaId};
use xfrm_offload::{PolicySpec, SaDir, SaId};

use super::install::holder_of;
use super::tables::{ChildRecord, Holder};
use super::{Op, Planner, Step, Work};

impl Planner {
    /// `Event::IkeSaMoved`: moves every installed Child SA of `ike` from the
    /// peer's `old` address to `remote`.
    pub fn peer_moved(&mut self, ike: IkeSaId, old: SocketAddr, remote: SocketAddr) {
        let mut ops = Vec::new();
        let mut held = Vec::new();
        let mut mine: Vec<(&ChildSaId, &ChildRecord)> =
            self.children.iter().filter(|(_, r)| r.ike == ike).collect();
        mine.sort_unstable_by_key(|(id, _)| **id);
        for (id, rec) in mine {
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
                        .map(|(_, s)| PolicySpec::clone(s))
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

    /// Another IKE SA's Child SA that holds policy `spec` (same selectors,
    /// direction, if_id and mark, so one kernel entry) with other tunnel
    /// addresses: the newest holder's template wins, so that peer's traffic
    /// would follow this one. Logged with the fix.
    pub(super) fn warn_shared_tunnel(&self, spec: &PolicySpec, holder: &Holder) {
        let tunnel = |s: &PolicySpec| s.templates.first().map(|t| (t.src, t.dst));
        let Some(e) = self.policies.map.get(&spec.id()) else {
            return;
        };
        let other = e.holders.iter().find(|(h, s)| {
            matches!(h, Holder::Child { .. }) && h != holder && tunnel(s) != tunnel(spec)
        });
        if let (Some((Holder::Child { conn, name, .. }, s)), Holder::Child { conn: c, .. }) =
            (other, holder)
        {
            tracing::warn!(
                connection = %c, selector = %spec.selector.src, dir = ?spec.dir,
                other = %format!("{conn}/{name}"), other_tunnel = ?tunnel(s), tunnel = ?tunnel(spec),
                "two Child SAs with other tunnel addresses want the same policy; the newest wins: give them distinct if_id_in/if_id_out or mark_in/mark_out"
            );
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
