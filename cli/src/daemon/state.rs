//! What the daemon installed in the kernel for its Child SAs: for status,
//! teardown and rekeys (the IKE side is the engine's).

use std::collections::{BTreeMap, BTreeSet};

use ike_core::{ChildSaId, IkeSaId};
use xfrm_offload::{PolicyId, PolicySpec, SaId};

use crate::control::SteeringState;

/// One installed Child SA.
#[derive(Clone, Debug)]
pub struct ChildRecord {
    /// Connection.
    pub conn: String,
    /// Owning IKE SA.
    pub ike: IkeSaId,
    /// Child config name.
    pub name: String,
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
    pub algorithms: String,
    /// Selectors as text.
    pub local_ts: Vec<String>,
    /// Selectors as text.
    pub remote_ts: Vec<String>,
    /// Offload in effect.
    pub offload: String,
    /// Steering.
    pub steering: SteeringState,
    /// Policies this child holds.
    pub policies: Vec<PolicyId>,
}

/// Who keeps a policy installed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A trap of (connection, child).
    Trap(String, String),
    /// A Child SA of a connection.
    Child(String, ChildSaId),
}

/// Installed policies with their holders; a policy leaves the kernel with its last holder.
#[derive(Debug, Default)]
pub struct Policies {
    map: BTreeMap<String, (PolicySpec, BTreeSet<Holder>)>,
}

fn key(id: &PolicyId) -> String {
    format!("{id:?}")
}

impl Policies {
    /// Adds a holder; returns true when the policy is new (must be installed).
    pub fn hold(&mut self, spec: &PolicySpec, holder: Holder) -> bool {
        let e = self
            .map
            .entry(key(&spec.id()))
            .or_insert_with(|| (spec.clone(), BTreeSet::new()));
        let new = e.1.is_empty();
        e.1.insert(holder);
        new
    }

    /// Removes a holder; returns the policy when nobody holds it any more.
    pub fn release(&mut self, id: &PolicyId, holder: &Holder) -> Option<PolicySpec> {
        let k = key(id);
        let e = self.map.get_mut(&k)?;
        e.1.remove(holder);
        if e.1.is_empty() {
            self.map.remove(&k).map(|(s, _)| s)
        } else {
            None
        }
    }

    /// Forgets a policy whose install failed.
    pub fn forget(&mut self, id: &PolicyId) {
        self.map.remove(&key(id));
    }

    /// Trap holders currently installed.
    pub fn traps(&self) -> BTreeSet<(String, String)> {
        self.map
            .values()
            .flat_map(|(_, h)| h.iter())
            .filter_map(|h| match h {
                Holder::Trap(c, ch) => Some((c.clone(), ch.clone())),
                Holder::Child(..) => None,
            })
            .collect()
    }

    /// All specs (shutdown).
    pub fn all(&self) -> Vec<PolicySpec> {
        self.map.values().map(|(s, _)| s.clone()).collect()
    }

    /// Drops everything (after removal from the kernel).
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// What the daemon installed for each Child SA (the engine's handles are
/// unique across connections).
#[derive(Debug, Default)]
pub struct Tables {
    /// Child SAs.
    pub children: BTreeMap<ChildSaId, ChildRecord>,
    /// Policies.
    pub policies: Policies,
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrm_offload::{IpPrefix, PolicyDir, Reqid, Template, TrafficSelector};

    #[test]
    fn policy_refcount() {
        let sel = TrafficSelector::new(
            IpPrefix::new("192.168.1.0".parse().expect("ip"), 24).expect("p"),
            IpPrefix::new("192.168.2.0".parse().expect("ip"), 24).expect("p"),
        )
        .expect("sel");
        let spec = PolicySpec::new(
            sel,
            PolicyDir::Out,
            Template::esp_tunnel(
                "10.0.0.1".parse().expect("ip"),
                "10.0.0.2".parse().expect("ip"),
                Reqid(1),
            ),
        );
        let mut p = Policies::default();
        let trap = Holder::Trap("c".into(), "net".into());
        let child = Holder::Child("c".into(), ChildSaId(7));
        assert!(p.hold(&spec, trap.clone()));
        assert!(!p.hold(&spec, child.clone()));
        assert!(
            p.release(&spec.id(), &child).is_none(),
            "the trap still holds it"
        );
        assert_eq!(p.traps().len(), 1);
        assert!(p.release(&spec.id(), &trap).is_some());
        assert!(p.all().is_empty());
    }
}
