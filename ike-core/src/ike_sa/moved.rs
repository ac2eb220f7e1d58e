//! A peer behind a NAT whose mapping changed: the IKE SA follows it to the
//! new address and port (RFC 7296 §2.23), from an authenticated IKE message
//! or from an ESP packet the kernel authenticated (XFRM_MSG_MAPPING,
//! net/xfrm/xfrm_state.c `km_new_mapping`).

use std::net::SocketAddr;

use super::{Ctx, IkeSa};
use crate::event::Event;

impl IkeSa {
    /// Whether a mapping change seen on inbound SA `spi` speaks for the peer's
    /// IKE address: only a Child SA without a CPU does (a plain SA or a
    /// per-CPU group's fallback); per-CPU SAs may use their own source ports
    /// by design (`per_cpu = encap`).
    pub(crate) fn maps_peer(&self, spi: crate::ids::Spi) -> bool {
        self.children
            .iter()
            .any(|c| c.spi_in == spi && c.resource.cpu().is_none())
    }

    /// Moves the peer to `remote`. Only an IKE SA that runs over NAT-T moves
    /// (RFC 7296 §2.23: "not behind a NAT" peers keep their address); an
    /// established one reports it so the daemon updates its ESP-in-UDP SAs.
    /// Returns whether the address changed.
    pub(crate) fn move_peer(&mut self, ctx: &mut Ctx<'_>, remote: SocketAddr) -> bool {
        if !self.natt || remote == self.remote || remote.is_ipv4() != self.remote.is_ipv4() {
            return false;
        }
        let old = std::mem::replace(&mut self.remote, remote);
        tracing::info!(ike = ?self.id, %old, new = %remote, "peer moved (NAT mapping changed)");
        if self.is_established() {
            ctx.out.events.push_back(Event::IkeSaMoved {
                ike: self.id,
                local: self.local,
                old,
                remote,
            });
        }
        true
    }
}
