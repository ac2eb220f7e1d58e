//! Additional key exchanges for a Child SA in CREATE_CHILD_SA (RFC 9370
//! §2.2.4): the response carries ADDITIONAL_KEY_EXCHANGE with link data, the
//! initiator runs one IKE_FOLLOWUP_KE exchange per remaining method, and the
//! Child SA is installed after the last one with
//! KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n)).
//! Each RFC 9611 per-CPU Child SA runs its own exchanges.

use std::collections::VecDeque;
use std::time::Instant;

use zeroize::Zeroizing;

use super::child::{ChildAccept, ChildDecision, ChildReq, Refusal};
use super::rekey_ke::FOLLOWUP_TIMEOUT;
use super::{Ctx, IkeSa, Pending};
use crate::child_sa::Resource;
use crate::crypto::SecretBytes;
use crate::crypto::ke::ActiveKe;
use crate::error::{Error, PeerMisbehaved};
use crate::ids::Spi;
use crate::wire::{ExchangeType, Ke, KeId, Notify, NotifyType, Payload};

/// Responder states kept for initiators that have not finished; the oldest
/// is dropped beyond this.
const MAX_RESPONDER_STATES: usize = 16;
/// Length of the link data we hand out.
pub(super) const LINK_LEN: usize = 16;

/// The additional shared secrets so far, SK(1) | SK(2) | ...
type Secrets = Zeroizing<Vec<u8>>;

/// Initiator: a Child SA whose CREATE_CHILD_SA is answered, waiting for its
/// IKE_FOLLOWUP_KE exchanges.
pub(crate) struct InitiatorFollowup {
    pub(crate) req: ChildReq,
    pub(super) acc: ChildAccept,
    pub(super) resource: Resource,
    pub(super) ni: Vec<u8>,
    pub(super) nr: Vec<u8>,
    secrets: Secrets,
    todo: VecDeque<KeId>,
}

/// Responder: a Child SA decided and answered, waiting for the initiator's
/// IKE_FOLLOWUP_KE requests.
pub(crate) struct ResponderFollowup {
    link: Vec<u8>,
    decision: ChildDecision,
    pub(crate) spi_in: Spi,
    ni: Vec<u8>,
    nr: Vec<u8>,
    secrets: Secrets,
    todo: VecDeque<KeId>,
    /// Dropped when the next request has not come by then.
    deadline: Instant,
}

pub(super) fn find_ke(inner: &[Payload], group: KeId) -> Option<&Ke> {
    inner.iter().find_map(|p| match p {
        Payload::Ke(k) if k.group == group => Some(k),
        _ => None,
    })
}

pub(super) fn find_link(inner: &[Payload]) -> Option<&[u8]> {
    inner.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == NotifyType::ADDITIONAL_KEY_EXCHANGE => Some(&n.data[..]),
        _ => None,
    })
}

pub(super) fn link_notify(link: &[u8]) -> Payload {
    Payload::Notify(Notify::new(
        NotifyType::ADDITIONAL_KEY_EXCHANGE,
        link.to_vec(),
    ))
}

/// The payloads of an IKE_FOLLOWUP_KE request (RFC 9370 §2.2.4): the link
/// notify, then our KE.
pub(super) fn followup_request(link: &[u8], ke: &dyn ActiveKe) -> [Payload; 2] {
    [
        link_notify(link),
        Payload::Ke(Ke {
            group: ke.group(),
            data: ke.public().to_vec(),
        }),
    ]
}

impl IkeSa {
    /// Initiator: the CREATE_CHILD_SA response selected additional key
    /// exchanges; runs the first IKE_FOLLOWUP_KE. False if none were selected.
    pub(super) fn start_initiator_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        f: (ChildReq, ChildAccept, Resource),
        (ni, nr): (&[u8], &[u8]),
        inner: &[Payload],
    ) -> Option<(ChildReq, ChildAccept, Resource)> {
        let todo: VecDeque<KeId> = f.1.esp.additional().collect();
        if todo.is_empty() {
            return Some(f);
        }
        let (req, acc, resource) = f;
        let Some(link) = find_link(inner).map(<[u8]>::to_vec) else {
            let e =
                Error::PeerMisbehaved(PeerMisbehaved::MissingPayload("ADDITIONAL_KEY_EXCHANGE"));
            self.reject_child(ctx, now, &req, e);
            return None;
        };
        let secrets = Secrets::default();
        let f = InitiatorFollowup {
            req,
            acc,
            resource,
            ni: ni.to_vec(),
            nr: nr.to_vec(),
            secrets,
            todo,
        };
        self.send_followup(ctx, now, Box::new(f), &link);
        None
    }

    fn send_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        mut f: Box<InitiatorFollowup>,
        link: &[u8],
    ) {
        let Some(group) = f.todo.pop_front() else {
            return;
        };
        let started = ctx
            .crypto
            .ke(group)
            .and_then(|g| g.start(&*ctx.crypto.random));
        let Ok(ke) = started else {
            return self.reject_child(
                ctx,
                now,
                &f.req,
                Error::Unreachable("key exchange start failed"),
            );
        };
        let payloads = followup_request(link, &*ke);
        let pending = Pending::FollowupKe(f, ke);
        self.send_request(ctx, now, ExchangeType::IKE_FOLLOWUP_KE, &payloads, pending);
    }

    /// Initiator: an IKE_FOLLOWUP_KE response.
    pub(crate) fn handle_followup_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        mut f: Box<InitiatorFollowup>,
        ke: Box<dyn ActiveKe>,
        inner: &[Payload],
    ) {
        if let Some(n) = super::child::error_notify(inner) {
            return self.reject_child(ctx, now, &f.req, Error::NotifyReceived(n.ty.0));
        }
        let secret = find_ke(inner, ke.group()).map(|k| ke.complete(&k.data));
        let Some(Ok(secret)) = secret else {
            let e = Error::PeerMisbehaved(PeerMisbehaved::Invalid("IKE_FOLLOWUP_KE KE"));
            return self.reject_child(ctx, now, &f.req, e);
        };
        f.secrets.extend_from_slice(&secret);
        if !f.todo.is_empty() {
            let Some(link) = find_link(inner).map(<[u8]>::to_vec) else {
                let e = Error::PeerMisbehaved(PeerMisbehaved::MissingPayload(
                    "ADDITIONAL_KEY_EXCHANGE",
                ));
                return self.reject_child(ctx, now, &f.req, e);
            };
            return self.send_followup(ctx, now, f, &link);
        }
        let f = *f;
        let mut acc = f.acc;
        acc.add_ke = SecretBytes::new(f.secrets.to_vec());
        self.complete_child(ctx, now, f.req, acc, f.resource, (&f.ni, &f.nr));
    }

    /// Responder: a decided Child SA with additional key exchanges is kept
    /// for IKE_FOLLOWUP_KE; returns the link data to send.
    pub(super) fn keep_responder_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        decision: ChildDecision,
        spi_in: Spi,
        (ni, nr): (&[u8], &[u8]),
    ) -> Result<Payload, Refusal> {
        let link = ctx
            .crypto
            .random_nonce(LINK_LEN)
            .map_err(|_| Refusal::of(NotifyType::TEMPORARY_FAILURE))?;
        let f = ResponderFollowup {
            link: link.clone(),
            secrets: Secrets::default(),
            todo: decision.esp.additional().collect(),
            decision,
            spi_in,
            ni: ni.to_vec(),
            nr: nr.to_vec(),
            deadline: now + FOLLOWUP_TIMEOUT,
        };
        if self.followups.len() >= MAX_RESPONDER_STATES {
            let f = self.followups.remove(0);
            self.followup_failed(
                ctx,
                &f,
                Error::Unreachable("too many unfinished IKE_FOLLOWUP_KE"),
            );
        }
        self.followups.push(f);
        Ok(link_notify(&link))
    }

    /// Responder: an IKE_FOLLOWUP_KE request (RFC 9370 §2.2.4).
    pub(crate) fn handle_followup_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        if self.is_ike_rekey_followup(inner) {
            return self.handle_ike_followup_request(ctx, now, msg_id, inner);
        }
        let payloads = self
            .answer_followup(ctx, now, inner)
            .unwrap_or_else(Refusal::into_payloads);
        self.send_response(ctx, ExchangeType::IKE_FOLLOWUP_KE, msg_id, &payloads);
    }

    fn answer_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        inner: &[Payload],
    ) -> Result<Vec<Payload>, Refusal> {
        let link = find_link(inner).ok_or_else(|| Refusal::of(NotifyType::INVALID_SYNTAX))?;
        let i = self
            .followups
            .iter()
            .position(|f| f.link == link)
            .ok_or_else(|| Refusal::of(NotifyType::STATE_NOT_FOUND))?;
        let mut f = self.followups.remove(i);
        let group = f
            .todo
            .pop_front()
            .ok_or_else(|| Refusal::of(NotifyType::INVALID_SYNTAX))?;
        let ke = find_ke(inner, group).ok_or_else(|| {
            Refusal(
                NotifyType::INVALID_KE_PAYLOAD,
                group.0.to_be_bytes().to_vec(),
            )
        })?;
        let (data, secret) = ctx
            .crypto
            .ke(group)
            .and_then(|g| g.respond(&*ctx.crypto.random, &ke.data))
            .map_err(|_| Refusal::of(NotifyType::INVALID_SYNTAX))?;
        f.secrets.extend_from_slice(&secret);
        let mut payloads = vec![Payload::Ke(Ke { group, data })];
        if f.todo.is_empty() {
            let mut d = f.decision;
            d.add_ke = SecretBytes::new(f.secrets.to_vec());
            self.install_decided(ctx, now, d, f.spi_in, (&f.ni, &f.nr))?;
        } else {
            f.link = ctx
                .crypto
                .random_nonce(LINK_LEN)
                .map_err(|_| Refusal::of(NotifyType::TEMPORARY_FAILURE))?;
            payloads.push(link_notify(&f.link));
            f.deadline = now + FOLLOWUP_TIMEOUT;
            self.followups.push(f);
        }
        Ok(payloads)
    }

    /// Earliest deadline of the responder states waiting for IKE_FOLLOWUP_KE.
    pub(super) fn followup_deadline(&self) -> Option<Instant> {
        let ike = self.ike_rekey_ke.as_deref().and_then(|st| st.deadline);
        self.followups.iter().map(|f| f.deadline).chain(ike).min()
    }

    /// Responder: drops the states whose next IKE_FOLLOWUP_KE did not come
    /// in time, releasing their inbound SPIs (held only while kept).
    pub(super) fn expire_followups(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        self.expire_ike_rekey_followup(now);
        let (gone, kept) = std::mem::take(&mut self.followups)
            .into_iter()
            .partition::<Vec<_>, _>(|f| f.deadline <= now);
        self.followups = kept;
        for f in &gone {
            self.followup_failed(ctx, f, Error::Timeout);
        }
    }

    fn followup_failed(&self, ctx: &mut Ctx<'_>, f: &ResponderFollowup, reason: Error) {
        let conn = self.conn();
        let name = conn
            .children
            .get(usize::from(f.decision.cfg))
            .map(|c| c.name.clone());
        tracing::warn!(ike = ?self.id, spi = %f.spi_in, %reason, "unfinished Child SA dropped while waiting for IKE_FOLLOWUP_KE");
        ctx.out
            .events
            .push_back(crate::event::Event::ChildSaFailed {
                ike: self.id,
                name: name.unwrap_or_default(),
                resource: f.decision.resource.cpu(),
                reason,
            });
    }
}
