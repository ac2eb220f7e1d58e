//! INFORMATIONAL exchanges (RFC 7296 §1.4): Delete for Child and IKE SAs,
//! liveness checks (§2.4).

use std::time::Instant;

use super::child::deleted_event;
use super::{Ctx, IkeSa, Pending, State};
use crate::child_sa::ChildState;
use crate::error::Error;
use crate::event::Event;
use crate::ids::{ChildSaId, Spi};
use crate::recovery::Action;
use crate::wire::{Delete, ExchangeType, Payload, ProtocolId};

impl IkeSa {
    /// Sends a Delete for our inbound SPIs of `ids`.
    pub(crate) fn start_delete_children(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        ids: Vec<ChildSaId>,
    ) {
        let mut spis = Vec::new();
        let mut live = Vec::new();
        for c in self.children.iter_mut().filter(|c| ids.contains(&c.id)) {
            c.state = ChildState::Deleting {
                replaced: c.is_replaced(),
            };
            c.rekey_at = None;
            c.delete_at = None;
            spis.push(c.spi_in.0);
            live.push(c.id);
        }
        if spis.is_empty() {
            return;
        }
        self.send_request(
            ctx,
            now,
            ExchangeType::INFORMATIONAL,
            &[Payload::Delete(Delete::esp(spis))],
            Pending::DeleteChildren(live),
        );
    }

    pub(super) fn remove_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: ChildSaId,
        closed_by_peer: Option<Action>,
    ) {
        let Some(i) = self.children.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.children.swap_remove(i);
        ctx.out
            .events
            .push_back(deleted_event(self.id, &c, &self.cfg, closed_by_peer));
        // A replaced SA's successor keeps its place: the group stays as it is.
        if !c.is_replaced() && self.group(c.cfg).on_deleted() {
            let name = self.conn().children[usize::from(c.cfg)].name.clone();
            ctx.out.events.push_back(Event::PerCpuGroupFull {
                ike: self.id,
                name,
                full: false,
            });
        }
    }

    /// Removes the Child SAs handed over from the rekeyed IKE SA that the peer
    /// deleted on this successor before they moved here (RFC 7296 §1.4.1,
    /// §2.8.2): otherwise only this side would keep them.
    pub(crate) fn drop_early_deleted(&mut self, ctx: &mut Ctx<'_>) {
        let spis = std::mem::take(&mut self.early_deletes);
        let gone: Vec<_> = self
            .children
            .iter()
            .filter(|c| spis.contains(&c.spi_out))
            .map(|c| c.id)
            .collect();
        for id in gone {
            tracing::info!(ike = ?self.id, ?id, "Child SA deleted by the peer before it moved here");
            self.remove_child(ctx, id, None);
        }
    }

    pub(crate) fn handle_delete_children_response(&mut self, ctx: &mut Ctx<'_>, ids: &[ChildSaId]) {
        for id in ids {
            self.remove_child(ctx, *id, None);
        }
    }

    /// Sends a Delete for the IKE SA itself.
    pub(crate) fn start_delete_ike(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        self.send_request(
            ctx,
            now,
            ExchangeType::INFORMATIONAL,
            &[Payload::Delete(Delete::ike())],
            Pending::DeleteIke,
        );
        // A replaced SA stays Replaced: its end is part of the rekey.
        if !self.is_replaced() {
            self.state = State::Closing;
        }
    }

    /// Responder: an INFORMATIONAL request.
    pub(crate) fn handle_info_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        let mut ours = Vec::new();
        let mut restart = Vec::new();
        for p in inner {
            let Payload::Delete(d) = p else {
                continue;
            };
            if d.protocol == ProtocolId::IKE {
                self.send_response(ctx, ExchangeType::INFORMATIONAL, msg_id, &[]);
                if let Some(c) = self.ike_collision.take() {
                    // The peer won the rekey collision before our response arrived.
                    self.transfer_to(ctx, now, c.0);
                }
                let reason = if self.is_replaced() {
                    Error::Rekeyed
                } else {
                    Error::DeletedByPeer
                };
                self.die(ctx, reason);
                return;
            }
            if d.protocol != ProtocolId::ESP {
                continue;
            }
            for spi in &d.spis {
                let Some(c) = self.children.iter().find(|c| c.spi_out == Spi(*spi)) else {
                    // A bare collision successor owns no Child SAs until it wins
                    // (RFC 7296 §2.8.2); the peer already counts them as its.
                    let bare = self.is_established() && !self.announced;
                    if bare
                        || matches!(self.outstanding.as_deref(), Some(o) if matches!(o.pending, Pending::CreateChild(_)))
                    {
                        self.early_deletes.push(Spi(*spi));
                    }
                    continue;
                };
                // RFC 7296 §1.4.1: if we are deleting it too, answer without it.
                if !matches!(c.state, ChildState::Deleting { .. }) {
                    ours.push(c.spi_in.0);
                }
                let (id, cfg, resource) = (c.id, c.cfg, c.resource);
                let close = self.close_action_of(id);
                if close == Some(Action::Restart) {
                    restart.push((cfg, resource.cpu()));
                }
                self.remove_child(ctx, id, close);
            }
        }
        let payloads = if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(Delete::esp(ours))]
        };
        self.send_response(ctx, ExchangeType::INFORMATIONAL, msg_id, &payloads);
        if self.is_established() && !self.is_replaced() && !self.is_dead() {
            for (cfg, cpu) in restart {
                let name = self.conn().children[usize::from(cfg)].name.clone();
                tracing::info!(ike = ?self.id, child = %name, cpu = ?cpu.map(|c| c.0), "Child SA deleted by the peer: close_action starts it again");
                self.acquire(ctx, now, cfg, cpu, None);
            }
        }
    }

    /// The `close_action` a peer's Delete of Child SA `id` takes, as charon's
    /// child_delete.c decides: only for an installed SA that no rekey
    /// replaces (not rekeyed, not in a rekey collision, not being deleted by
    /// us) and that is not redundant (another live SA of the same config
    /// carries the same CPU's traffic). `None` when the Delete ends a rekey.
    fn close_action_of(&self, id: ChildSaId) -> Option<Action> {
        let c = self.children.iter().find(|c| c.id == id)?;
        if c.state != ChildState::Installed || c.collision.is_some() {
            return None;
        }
        let redundant = self
            .children
            .iter()
            .any(|o| o.id != id && o.cfg == c.cfg && o.resource == c.resource && o.is_live());
        if redundant {
            return None;
        }
        Some(self.conn().children[usize::from(c.cfg)].close_action)
    }
}
