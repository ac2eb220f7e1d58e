//! Kernel reqids of negotiated selector sets.
//!
//! The kernel hashes SAs by destination on (daddr, saddr, reqid)
//! (`__xfrm_dst_hash`, net/xfrm/xfrm_hash.h), and every SA add walks its
//! bucket (`__find_acq_core`, `__xfrm_state_bump_genids`,
//! net/xfrm/xfrm_state.c). If every Child SA of one config carried the
//! config's reqid, the Child SAs of thousands of IKE SAs between the same two
//! addresses (a hub's peers behind one NAT, or many tunnels between two
//! gateways) would share one bucket and each add would cost O(n).
//!
//! So, as charon does (`alloc_reqid` in
//! src/libcharon/kernel/kernel_interface.c), a Child SA whose negotiated
//! selectors differ from its config's gets the reqid of its selector set:
//! Child SAs with the same set (a per-CPU group, a rekey) share it, and it
//! is freed with the last of them. A Child SA with its config's selectors
//! keeps the config's reqid, which its trap policies carry.

use std::collections::{BTreeSet, HashMap};

use ike_core::{ChildSaId, IkeSaId, TrafficSelector};

/// Which negotiated selector set of which child config.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SetKey {
    conn: String,
    cfg: u32,
    local: Vec<TrafficSelector>,
    remote: Vec<TrafficSelector>,
}

#[derive(Debug)]
struct Entry {
    reqid: u32,
    users: BTreeSet<ChildSaId>,
    /// The IKE SA of the newest user.
    ike: IkeSaId,
}

/// What a selector-set reqid stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOwner<'a> {
    /// Connection.
    pub conn: &'a str,
    /// The child config's reqid.
    pub cfg: u32,
    /// The IKE SA of the newest Child SA using it.
    pub ike: IkeSaId,
}

/// The per-selector-set reqids (see the module doc).
#[derive(Debug, Default)]
pub(super) struct SetReqids {
    sets: HashMap<SetKey, Entry>,
    by_reqid: HashMap<u32, SetKey>,
    free: Vec<u32>,
    next: u32,
}

impl SetReqids {
    /// The reqid `child` (of `ike`, config `cfg` of `conn`) uses for the
    /// selectors `local`/`remote`, held until [`SetReqids::release`].
    pub(super) fn take(
        &mut self,
        conn: &str,
        cfg: u32,
        (local, remote): (&[TrafficSelector], &[TrafficSelector]),
        child: ChildSaId,
        ike: IkeSaId,
    ) -> Result<u32, String> {
        let key = SetKey {
            conn: conn.to_string(),
            cfg,
            local: local.to_vec(),
            remote: remote.to_vec(),
        };
        if let Some(e) = self.sets.get_mut(&key) {
            e.users.insert(child);
            e.ike = ike;
            return Ok(e.reqid);
        }
        let n = match self.free.pop() {
            Some(n) => n,
            None => {
                let n = self.next;
                self.next += 1;
                n
            }
        };
        let reqid = match xfrm_offload::tag::set_reqid(n) {
            Ok(r) => r.0,
            Err(_) => {
                self.next = n;
                return Err("out of kernel reqids for negotiated selectors".into());
            }
        };
        self.by_reqid.insert(reqid, key.clone());
        self.sets.insert(
            key,
            Entry {
                reqid,
                users: BTreeSet::from([child]),
                ike,
            },
        );
        Ok(reqid)
    }

    /// `child` no longer uses `reqid` (a config reqid is ignored).
    pub(super) fn release(&mut self, reqid: u32, child: ChildSaId) {
        let Some(key) = self.by_reqid.get(&reqid) else {
            return;
        };
        let Some(e) = self.sets.get_mut(key) else {
            return;
        };
        e.users.remove(&child);
        if e.users.is_empty() {
            self.sets.remove(key);
            self.by_reqid.remove(&reqid);
            self.free.push(reqid - xfrm_offload::tag::SET_REQID_BASE);
        }
    }

    /// What the selector-set reqid `reqid` stands for.
    pub(super) fn owner(&self, reqid: u32) -> Option<SetOwner<'_>> {
        let key = self.by_reqid.get(&reqid)?;
        let e = self.sets.get(key)?;
        Some(SetOwner {
            conn: &key.conn,
            cfg: key.cfg,
            ike: e.ike,
        })
    }

    /// Reqids in use.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Vec<TrafficSelector> {
        let (a, len) = s.split_once('/').expect("cidr");
        vec![TrafficSelector::subnet(
            a.parse().expect("addr"),
            len.parse().expect("len"),
        )]
    }

    #[test]
    fn one_reqid_per_selector_set_shared_and_freed_with_its_last_user() {
        let mut r = SetReqids::default();
        let (hub, a, b) = (ts("10.0.0.0/24"), ts("10.1.0.1/32"), ts("10.1.0.2/32"));
        let (ike1, ike2) = (IkeSaId(1), IkeSaId(2));
        let x = r.take("hub", 7, (&hub, &a), ChildSaId(1), ike1).expect("x");
        let y = r.take("hub", 7, (&hub, &a), ChildSaId(2), ike1).expect("y");
        let z = r.take("hub", 7, (&hub, &b), ChildSaId(3), ike2).expect("z");
        assert_eq!(x, y, "a per-CPU group shares its reqid");
        assert_ne!(x, z, "another peer's selectors get their own");
        assert!(xfrm_offload::tag::is_set_reqid(xfrm_offload::Reqid(x)));
        let o = r.owner(z).expect("owner");
        assert_eq!((o.conn, o.cfg, o.ike), ("hub", 7, ike2));
        r.release(x, ChildSaId(1));
        assert_eq!(r.owner(x).map(|o| o.ike), Some(ike1), "still used");
        r.release(x, ChildSaId(2));
        assert_eq!(r.owner(x), None);
        assert_eq!(r.len(), 1);
        let again = r.take("hub", 7, (&hub, &b), ChildSaId(4), ike2).expect("z");
        assert_eq!(again, z);
        let reused = r.take("hub", 7, (&hub, &a), ChildSaId(5), ike1).expect("x");
        assert_eq!(reused, x, "a freed reqid is reused");
    }
}
