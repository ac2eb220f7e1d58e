//! Route-based VPN: XFRM interface ids and marks on a child's SAs and
//! policies (like strongSwan's `if_id_in`/`if_id_out`, `mark_in`/`mark_out`:
//! inbound SA and in/fwd policies take the `_in` values, the outbound SA and
//! out policy the `_out` ones), and the XFRM interfaces lanes owns.

use std::collections::BTreeMap;

use xfrm_offload::{IpPrefix, Mark, PolicyDir, PolicySpec, SaDir, SaSpec, iface};

use super::plan::ConnPlan;
use crate::config::MarkConf;

/// A child's interface ids and marks, as the kernel takes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteIds {
    /// `XFRMA_IF_ID` of the inbound SA and in/fwd policies.
    pub if_id_in: Option<u32>,
    /// `XFRMA_IF_ID` of the outbound SA and out policy.
    pub if_id_out: Option<u32>,
    /// `XFRMA_MARK` of the inbound SA and in/fwd policies.
    pub mark_in: Option<Mark>,
    /// `XFRMA_MARK` of the outbound SA and out policy.
    pub mark_out: Option<Mark>,
}

/// A config mark as the kernel's.
pub fn mark(m: Option<MarkConf>) -> Option<Mark> {
    m.map(|m| Mark {
        value: m.value,
        mask: m.mask,
    })
}

impl RouteIds {
    fn of(&self, inbound: bool) -> (Option<u32>, Option<Mark>) {
        if inbound {
            (self.if_id_in, self.mark_in)
        } else {
            (self.if_id_out, self.mark_out)
        }
    }

    /// Sets the SA's if_id and mark for its direction.
    pub fn apply_sa(&self, sa: &mut SaSpec, dir: SaDir) {
        let (if_id, mark) = self.of(dir == SaDir::In);
        sa.if_id = if_id;
        sa.mark = mark;
    }

    /// Sets the policy's if_id and mark for its direction (they are part of
    /// its identity: policies with the same selectors but other ids are
    /// other kernel entries).
    pub fn apply_policy(&self, p: &mut PolicySpec) {
        let (if_id, mark) = self.of(p.dir != PolicyDir::Out);
        p.if_id = if_id;
        p.mark = mark;
    }
}

/// A child's XFRM interface: name, if_id, and the prefixes to route through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Link name.
    pub name: String,
    /// Its if_id (the child's `if_id_in` = `if_id_out`).
    pub if_id: u32,
    /// Remote selectors to route through it (empty: no routes).
    pub routes: Vec<IpPrefix>,
}

/// The XFRM interfaces lanes created, by name, with their ifindex.
#[derive(Debug, Default)]
pub struct Ifaces {
    owned: BTreeMap<String, u32>,
}

impl Ifaces {
    /// Creates the interfaces `plan`'s children name (an existing link of
    /// that name is used as is, not owned) and their routes.
    pub fn ensure(&mut self, plan: &ConnPlan) {
        for (ch, i) in plan
            .children
            .iter()
            .filter_map(|c| Some((c, c.interface.as_ref()?)))
        {
            let index = match self.owned.get(&i.name) {
                Some(x) => Ok(*x),
                None => match iface::create_xfrm_interface(&i.name, i.if_id) {
                    Ok(x) => {
                        tracing::info!(connection = %plan.name, child = %ch.name, interface = %i.name, if_id = i.if_id, "XFRM interface created");
                        self.owned.insert(i.name.clone(), x);
                        Ok(x)
                    }
                    Err(xfrm_offload::Error::Io { source, .. })
                        if source.raw_os_error() == Some(libc::EEXIST) =>
                    {
                        tracing::info!(interface = %i.name, "using the existing interface (not removed by lanes)");
                        iface::ifindex_of(&i.name)
                    }
                    Err(e) => Err(e),
                },
            };
            let index = match index {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(connection = %plan.name, child = %ch.name, interface = %i.name, "cannot create the XFRM interface: {e} (needs CAP_NET_ADMIN and the xfrm_interface module)");
                    continue;
                }
            };
            for r in &i.routes {
                if let Err(e) = iface::add_route(*r, index) {
                    tracing::warn!(interface = %i.name, route = %r, "route not installed: {e}");
                }
            }
        }
    }

    /// Removes the interfaces of `plan` that lanes created (their routes go with them).
    pub fn release(&mut self, plan: &ConnPlan) {
        for i in plan.children.iter().filter_map(|c| c.interface.as_ref()) {
            if self.owned.remove(&i.name).is_some() {
                match iface::delete_link(&i.name) {
                    Ok(()) => tracing::info!(interface = %i.name, "XFRM interface removed"),
                    Err(e) => {
                        tracing::warn!(interface = %i.name, "removing the XFRM interface: {e}")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrm_offload::{Reqid, SaCrypto, Spi, Template, TrafficSelector};

    fn ids() -> RouteIds {
        RouteIds {
            if_id_in: Some(7),
            if_id_out: Some(8),
            mark_in: Some(Mark {
                value: 1,
                mask: 0xff,
            }),
            mark_out: None,
        }
    }

    #[test]
    fn each_direction_takes_its_own_ids() {
        let (l, r) = (
            "10.0.0.1".parse().expect("test value"),
            "10.0.0.2".parse().expect("test value"),
        );
        let key = zeroize::Zeroizing::new(vec![0u8; 20]);
        let mut sa = SaSpec::new(
            r,
            l,
            Spi(1),
            Reqid(1),
            SaCrypto::AesGcm { key, icv_bits: 128 },
        );
        ids().apply_sa(&mut sa, SaDir::In);
        assert_eq!(
            (sa.if_id, sa.mark),
            (
                Some(7),
                Some(Mark {
                    value: 1,
                    mask: 0xff
                })
            )
        );
        ids().apply_sa(&mut sa, SaDir::Out);
        assert_eq!((sa.if_id, sa.mark), (Some(8), None));
        let sel = TrafficSelector::new(IpPrefix::host(l), IpPrefix::host(r)).expect("test value");
        let mut out = PolicySpec::new(sel, PolicyDir::Out, Template::esp_tunnel(l, r, Reqid(1)));
        let mut fwd = PolicySpec::new(sel, PolicyDir::Fwd, Template::esp_tunnel(r, l, Reqid(1)));
        let before = out.id();
        ids().apply_policy(&mut out);
        ids().apply_policy(&mut fwd);
        assert_eq!(out.if_id, Some(8));
        assert_eq!(fwd.if_id, Some(7));
        assert_ne!(
            out.id(),
            before,
            "another kernel entry than the plain policy"
        );
    }
}
