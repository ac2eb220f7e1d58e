//! The endpoint's connection table: every configured connection under a stable
//! [`ConnId`], with the indexes routing needs (by name, by the peer's address,
//! by the kernel reqid of a child), so that no lookup scans all connections.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{ConnectionConfig, Identity};
use crate::error::ApiError;
use crate::ids::ConnId;

/// Connections by id, with lookup indexes.
#[derive(Default)]
pub(crate) struct Connections {
    by_id: BTreeMap<ConnId, Arc<ConnectionConfig>>,
    by_name: HashMap<String, ConnId>,
    /// Connections with a configured remote address, by that address, in id
    /// order.
    by_remote: HashMap<IpAddr, Vec<ConnId>>,
    /// Connections that accept any peer address, in id order.
    any_remote: Vec<ConnId>,
    /// Connections by (remote address, remote id), `None` meaning any, in id
    /// order: the responder's lookup once IDi is known.
    by_peer: HashMap<(Option<IpAddr>, Option<Identity>), Vec<ConnId>>,
    /// Child reqid → (connection, child index).
    by_reqid: HashMap<u32, (ConnId, u16)>,
    next: u32,
}

/// What the responder knows when it picks a connection for a peer.
pub(crate) struct Candidate<'a> {
    pub(crate) remote: IpAddr,
    pub(crate) local: IpAddr,
    /// IDi (IKE_AUTH), if known.
    pub(crate) peer_id: Option<&'a Identity>,
    /// IDr the initiator asked for (RFC 7296 §3.5), if it sent one.
    pub(crate) our_id: Option<&'a Identity>,
}

impl Connections {
    /// Adds `cfg` under a fresh id. Names, and child reqids, must be unique.
    pub(crate) fn add(&mut self, cfg: ConnectionConfig) -> Result<ConnId, ApiError> {
        if self.by_name.contains_key(&cfg.name) {
            return Err(ApiError::DuplicateConnection(cfg.name));
        }
        if let Some(c) = cfg
            .children
            .iter()
            .find(|c| self.by_reqid.contains_key(&c.reqid))
        {
            return Err(ApiError::DuplicateReqid(c.reqid));
        }
        self.next = self
            .next
            .checked_add(1)
            .ok_or(ApiError::Config("out of connection ids"))?;
        let id = ConnId(self.next);
        self.index(id, &cfg);
        self.by_id.insert(id, Arc::new(cfg));
        Ok(id)
    }

    /// Replaces the config of `id` in place (same id); SAs holding the old
    /// `Arc` keep it.
    pub(crate) fn replace(&mut self, id: ConnId, cfg: ConnectionConfig) -> Result<(), ApiError> {
        let old = self
            .by_id
            .get(&id)
            .cloned()
            .ok_or(ApiError::UnknownConn(id))?;
        if cfg.name != old.name && self.by_name.contains_key(&cfg.name) {
            return Err(ApiError::DuplicateConnection(cfg.name));
        }
        if let Some(c) = cfg
            .children
            .iter()
            .find(|c| self.by_reqid.get(&c.reqid).is_some_and(|(o, _)| *o != id))
        {
            return Err(ApiError::DuplicateReqid(c.reqid));
        }
        self.unindex(id, &old);
        self.index(id, &cfg);
        self.by_id.insert(id, Arc::new(cfg));
        Ok(())
    }

    /// Removes `id`, returning its config.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Arc<ConnectionConfig>> {
        let old = self.by_id.remove(&id)?;
        self.unindex(id, &old);
        Some(old)
    }

    fn index(&mut self, id: ConnId, cfg: &ConnectionConfig) {
        self.by_name.insert(cfg.name.clone(), id);
        match cfg.remote {
            Some(r) => insert_sorted(self.by_remote.entry(r.ip()).or_default(), id),
            None => insert_sorted(&mut self.any_remote, id),
        }
        let key = (cfg.remote.map(|r| r.ip()), cfg.remote_id.clone());
        insert_sorted(self.by_peer.entry(key).or_default(), id);
        for (i, c) in cfg.children.iter().enumerate() {
            if let Ok(i) = u16::try_from(i) {
                self.by_reqid.insert(c.reqid, (id, i));
            }
        }
    }

    fn unindex(&mut self, id: ConnId, cfg: &ConnectionConfig) {
        self.by_name.remove(&cfg.name);
        match cfg.remote {
            Some(r) => {
                if let Some(v) = self.by_remote.get_mut(&r.ip()) {
                    v.retain(|c| *c != id);
                    if v.is_empty() {
                        self.by_remote.remove(&r.ip());
                    }
                }
            }
            None => self.any_remote.retain(|c| *c != id),
        }
        let key = (cfg.remote.map(|r| r.ip()), cfg.remote_id.clone());
        if let Some(v) = self.by_peer.get_mut(&key) {
            v.retain(|c| *c != id);
            if v.is_empty() {
                self.by_peer.remove(&key);
            }
        }
        for c in &cfg.children {
            if self.by_reqid.get(&c.reqid).is_some_and(|(o, _)| *o == id) {
                self.by_reqid.remove(&c.reqid);
            }
        }
    }

    /// A table of `list` with ids 1, 2, … (tests that build SAs by hand).
    #[cfg(test)]
    pub(crate) fn from_list(list: &[ConnectionConfig]) -> Self {
        let mut t = Self::default();
        for c in list {
            let _ = t.add(c.clone());
        }
        t
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Arc<ConnectionConfig>> {
        self.by_id.get(&id)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<ConnId> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn by_reqid(&self, reqid: u32) -> Option<(ConnId, u16)> {
        self.by_reqid.get(&reqid).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &Arc<ConnectionConfig>)> {
        self.by_id.iter().map(|(k, v)| (*k, v))
    }

    /// The responder's choice for a peer, the way strongSwan matches peer
    /// configs: only connections whose addresses fit; among them, one whose
    /// remote identity is the peer's beats one that accepts any identity, a
    /// connection naming the peer's address beats one that accepts any
    /// address, and one whose local identity is the requested IDr beats one
    /// that is not. A connection whose remote id differs from a known IDi, or
    /// whose local id differs from a sent IDr, is never chosen. Ties go to the
    /// oldest connection. `accept` filters further (e.g. the IKE proposal).
    ///
    /// Candidates are visited in that order of preference and the first that
    /// fits wins, so the cost does not grow with the number of connections
    /// to one address (IDi known: one index lookup per tier).
    pub(crate) fn pick(
        &self,
        c: &Candidate<'_>,
        accept: impl Fn(&ConnectionConfig) -> bool,
    ) -> Option<(ConnId, Arc<ConnectionConfig>)> {
        let fits = |id: &ConnId| {
            let cfg = self.by_id.get(id)?;
            let ok = (cfg.local.ip().is_unspecified() || cfg.local.ip() == c.local)
                && match (c.peer_id, &cfg.remote_id) {
                    (Some(p), Some(r)) => p == r,
                    _ => true,
                }
                && c.our_id.is_none_or(|i| *i == cfg.local_id)
                && accept(cfg);
            ok.then(|| (*id, Arc::clone(cfg)))
        };
        match c.peer_id {
            Some(p) => {
                let tier = |addr: Option<IpAddr>, id: Option<&Identity>| {
                    self.by_peer.get(&(addr, id.cloned())).into_iter().flatten()
                };
                tier(Some(c.remote), Some(p))
                    .chain(tier(None, Some(p)))
                    .chain(tier(Some(c.remote), None))
                    .chain(tier(None, None))
                    .find_map(fits)
            }
            None => self
                .by_remote
                .get(&c.remote)
                .into_iter()
                .flatten()
                .chain(self.any_remote.iter())
                .find_map(fits),
        }
    }
}

/// Inserts `id` into an id-ordered list.
fn insert_sorted(v: &mut Vec<ConnId>, id: ConnId) {
    if let Err(at) = v.binary_search(&id) {
        v.insert(at, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ChildConfig, Psk};

    fn conn(
        name: &str,
        remote: Option<&str>,
        remote_id: Option<&str>,
        reqid: u32,
    ) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(
            name,
            "10.0.0.1:500".parse().expect("addr"),
            Identity::Fqdn("me".into()),
            Psk::new(b"k".to_vec()),
        );
        c.remote = remote.map(|r| format!("{r}:500").parse().expect("addr"));
        c.remote_id = remote_id.map(|i| Identity::Fqdn(i.into()));
        c.children.push(ChildConfig::new("net", reqid));
        c
    }

    fn cand<'a>(remote: &str, peer: Option<&'a Identity>) -> Candidate<'a> {
        Candidate {
            remote: remote.parse().expect("ip"),
            local: "10.0.0.1".parse().expect("ip"),
            peer_id: peer,
            our_id: None,
        }
    }

    #[test]
    fn two_connections_to_one_address_are_told_apart_by_identity() {
        let mut t = Connections::default();
        let a = t
            .add(conn("a", Some("10.0.0.2"), Some("alice"), 1))
            .expect("a");
        let b = t
            .add(conn("b", Some("10.0.0.2"), Some("bob"), 2))
            .expect("b");
        let alice = Identity::Fqdn("alice".into());
        let bob = Identity::Fqdn("bob".into());
        let eve = Identity::Fqdn("eve".into());
        assert_eq!(
            t.pick(&cand("10.0.0.2", Some(&alice)), |_| true)
                .map(|p| p.0),
            Some(a)
        );
        assert_eq!(
            t.pick(&cand("10.0.0.2", Some(&bob)), |_| true).map(|p| p.0),
            Some(b)
        );
        assert!(t.pick(&cand("10.0.0.2", Some(&eve)), |_| true).is_none());
        assert!(t.pick(&cand("10.0.0.3", Some(&alice)), |_| true).is_none());
    }

    #[test]
    fn preference_tiers_and_id_order_survive_replace_and_remove() {
        let mut t = Connections::default();
        let any = t.add(conn("any", None, None, 1)).expect("any");
        let addr = t
            .add(conn("addr", Some("10.0.0.2"), None, 2))
            .expect("addr");
        let id_any = t.add(conn("id-any", None, Some("alice"), 3)).expect("id");
        let both = t
            .add(conn("both", Some("10.0.0.2"), Some("alice"), 4))
            .expect("both");
        let both2 = t
            .add(conn("both2", Some("10.0.0.2"), Some("alice"), 5))
            .expect("both2");
        let alice = Identity::Fqdn("alice".into());
        let pick = |t: &Connections, peer: Option<&Identity>, skip: Option<ConnId>| {
            t.pick(&cand("10.0.0.2", peer), |c| {
                skip.is_none_or(|s| t.by_name(&c.name) != Some(s))
            })
            .map(|p| p.0)
        };
        // IDi known: address and id, then id, then address, then neither.
        assert_eq!(pick(&t, Some(&alice), None), Some(both));
        assert_eq!(pick(&t, Some(&alice), Some(both)), Some(both2));
        // IDi unknown: the oldest connection naming the address.
        assert_eq!(pick(&t, None, None), Some(addr));
        // A replaced connection keeps its id and so its precedence.
        t.replace(both, conn("both", Some("10.0.0.2"), Some("alice"), 4))
            .expect("replace");
        assert_eq!(pick(&t, Some(&alice), None), Some(both));
        t.remove(both);
        t.remove(both2);
        assert_eq!(pick(&t, Some(&alice), None), Some(id_any));
        t.remove(id_any);
        assert_eq!(pick(&t, Some(&alice), None), Some(addr));
        t.remove(addr);
        assert_eq!(pick(&t, Some(&alice), None), Some(any));
        assert_eq!(pick(&t, None, None), Some(any));
    }

    #[test]
    fn ten_thousand_ids_on_one_address_pick_the_right_one() {
        let mut t = Connections::default();
        let ids: Vec<_> = (0..10_000u32)
            .map(|i| {
                t.add(conn(
                    &format!("c{i}"),
                    Some("10.0.0.2"),
                    Some(&format!("peer{i}")),
                    i + 1,
                ))
                .expect("add")
            })
            .collect();
        for i in [0usize, 4_999, 9_999] {
            let id = Identity::Fqdn(format!("peer{i}"));
            assert_eq!(
                t.pick(&cand("10.0.0.2", Some(&id)), |_| true).map(|p| p.0),
                Some(ids[i])
            );
        }
        assert_eq!(t.by_peer.len(), 10_000);
    }

    #[test]
    fn exact_address_and_identity_beat_wildcards() {
        let mut t = Connections::default();
        let any = t.add(conn("any", None, None, 1)).expect("any");
        let addr = t
            .add(conn("addr", Some("10.0.0.2"), None, 2))
            .expect("addr");
        let id = t.add(conn("id", None, Some("alice"), 3)).expect("id");
        let alice = Identity::Fqdn("alice".into());
        assert_eq!(
            t.pick(&cand("10.0.0.2", None), |_| true).map(|p| p.0),
            Some(addr)
        );
        assert_eq!(
            t.pick(&cand("10.0.0.9", None), |_| true).map(|p| p.0),
            Some(any)
        );
        assert_eq!(
            t.pick(&cand("10.0.0.2", Some(&alice)), |_| true)
                .map(|p| p.0),
            Some(id)
        );
        let not_me = Identity::Fqdn("other".into());
        let mut c = cand("10.0.0.2", None);
        c.our_id = Some(&not_me);
        assert!(t.pick(&c, |_| true).is_none(), "IDr names nobody here");
    }

    #[test]
    fn indexes_follow_replace_and_remove() {
        let mut t = Connections::default();
        let a = t.add(conn("a", Some("10.0.0.2"), None, 7)).expect("a");
        assert!(matches!(
            t.add(conn("a", None, None, 8)),
            Err(ApiError::DuplicateConnection(_))
        ));
        assert!(matches!(
            t.add(conn("b", None, None, 7)),
            Err(ApiError::DuplicateReqid(7))
        ));
        t.replace(a, conn("a", Some("10.0.0.3"), None, 9))
            .expect("replace");
        assert_eq!(t.by_reqid(7), None);
        assert_eq!(t.by_reqid(9), Some((a, 0)));
        assert!(t.pick(&cand("10.0.0.2", None), |_| true).is_none());
        assert_eq!(
            t.pick(&cand("10.0.0.3", None), |_| true).map(|p| p.0),
            Some(a)
        );
        assert!(t.remove(a).is_some());
        assert_eq!((t.len(), t.by_name("a"), t.by_reqid(9)), (0, None, None));
        assert!(t.pick(&cand("10.0.0.3", None), |_| true).is_none());
    }
}
