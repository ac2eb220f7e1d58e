//! Child SAs (RFC 7296 §1.3, §2.17) as the engine tracks them after installation.
//!
//! Keys are not kept here: they go to the daemon in [`ChildSaInstall`](crate::ChildSaInstall)
//! and are zeroized on drop there. What stays is what rekeying and deleting need.

pub mod per_resource;

use std::time::Instant;

use crate::config::{Mode, TrafficSelector};
use crate::ids::{ChildSaId, Spi};
use crate::proposal::Selected;

pub use per_resource::Resource;

/// Lifecycle of an installed Child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// Installed and in use.
    Installed,
    /// We sent a CREATE_CHILD_SA with REKEY_SA for it (RFC 7296 §2.8).
    Rekeying,
    /// Replaced by a rekey; waiting for its deletion (by the peer, or by us at
    /// [`ChildSa::delete_at`]).
    Rekeyed,
    /// We sent a Delete for it; `replaced` if it had been rekeyed (its removal
    /// then frees no room in its group).
    Deleting { replaced: bool },
}

/// One installed Child SA pair.
#[derive(Clone, Debug)]
#[expect(
    dead_code,
    reason = "esp/mode/encap_port are kept for status queries and re-installation"
)]
pub(crate) struct ChildSa {
    pub(crate) id: ChildSaId,
    /// Index of its config in the connection.
    pub(crate) cfg: u16,
    pub(crate) spi_in: Spi,
    pub(crate) spi_out: Spi,
    pub(crate) resource: Resource,
    pub(crate) state: ChildState,
    pub(crate) esp: Selected,
    pub(crate) mode: Mode,
    /// Negotiated selectors (ours, the peer's); boxed to keep the common case small.
    pub(crate) ts: Box<(Vec<TrafficSelector>, Vec<TrafficSelector>)>,
    /// When to start a rekey (soft lifetime minus jitter).
    pub(crate) rekey_at: Option<Instant>,
    /// Rekeyed: when to delete it ourselves if the peer has not (RFC 7296 §2.8;
    /// strongSwan's `delete_rekeyed_delay`).
    pub(crate) delete_at: Option<Instant>,
    /// Encapsulation source port chosen for `per_cpu = encap`.
    pub(crate) encap_port: Option<u16>,
    /// Simultaneous rekey (RFC 7296 §2.8.1): the SA the peer's rekey of this one
    /// created, and the lowest nonce of that exchange.
    pub(crate) collision: Option<Box<(ChildSaId, Vec<u8>)>>,
}

impl ChildSa {
    /// Whether the SA still carries traffic (not replaced, not being deleted).
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.state, ChildState::Installed | ChildState::Rekeying)
    }

    /// Whether a rekey replaced it (its successor carries the traffic).
    pub(crate) fn is_replaced(&self) -> bool {
        matches!(
            self.state,
            ChildState::Rekeyed | ChildState::Deleting { replaced: true }
        )
    }

    /// Marks it replaced by a rekey; it is deleted by `now + delay` at the latest.
    pub(crate) fn replace(&mut self, now: Instant, delay: std::time::Duration) {
        self.state = ChildState::Rekeyed;
        self.rekey_at = None;
        self.delete_at = Some(now + delay);
    }
}
