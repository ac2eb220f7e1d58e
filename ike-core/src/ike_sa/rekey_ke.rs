//! IKE SA rekey with additional key exchanges (RFC 9370 §2.2.4): the
//! CREATE_CHILD_SA response carries ADDITIONAL_KEY_EXCHANGE, one
//! IKE_FOLLOWUP_KE per additional method follows over the old IKE SA, and
//! the successor's SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n)).
//!
//! Crossing rekeys (RFC 7296 §2.8.2) are resolved when our CREATE_CHILD_SA
//! response arrives, as strongSwan's `ike_rekey.c` does: the exchange with
//! the lowest nonce loses, and its initiator stops before its follow-ups.
//! A failed follow-up leaves the old IKE SA as it was.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::child::{Refusal, error_notify};
use super::followup::{LINK_LEN, find_ke, find_link, followup_request, link_notify};
use super::keys::SaKeys;
use super::{Ctx, IkeSa, Pending};
use crate::crypto::SecretBytes;
use crate::crypto::ke::ActiveKe;
use crate::crypto::keymat::skeyseed_rekey_additional;
use crate::ids::IkeSpi;
use crate::proposal::Selected;
use crate::wire::{ExchangeType, Ke, KeId, NotifyType, Payload};

/// How long a responder waits for the initiator's next IKE_FOLLOWUP_KE
/// before dropping the unfinished SA (as charon's half_open_timeout, 30 s).
pub(crate) const FOLLOWUP_TIMEOUT: Duration = Duration::from_secs(30);

/// An IKE rekey whose CREATE_CHILD_SA is done, running its additional key
/// exchanges: ours as initiator, or the peer's as responder.
pub(crate) struct IkeRekeyKe {
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    sel: Selected,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// SK(0), the CREATE_CHILD_SA key exchange.
    sk0: SecretBytes,
    /// SK(1) | SK(2) | ... so far.
    secrets: Zeroizing<Vec<u8>>,
    todo: VecDeque<KeId>,
    /// Responder: the link data the next request must carry.
    link: Vec<u8>,
    /// Responder: dropped after this.
    pub(crate) deadline: Option<Instant>,
}

impl IkeRekeyKe {
    pub(super) fn new(
        (spi_i, spi_r): (IkeSpi, IkeSpi),
        sel: Selected,
        (ni, nr): (Vec<u8>, Vec<u8>),
        sk0: SecretBytes,
    ) -> Self {
        Self {
            spi_i,
            spi_r,
            todo: sel.additional().collect(),
            sel,
            ni,
            nr,
            sk0,
            secrets: Zeroizing::default(),
            link: Vec::new(),
            deadline: None,
        }
    }

    /// The lower nonce of the CREATE_CHILD_SA exchange (RFC 7296 §2.8.2).
    fn lower_nonce(&self) -> &[u8] {
        if self.ni < self.nr {
            &self.ni
        } else {
            &self.nr
        }
    }
}

impl IkeSa {
    /// Initiator: the CREATE_CHILD_SA response selected additional key
    /// exchanges. Resolves a crossing rekey, then runs the first follow-up.
    pub(super) fn start_ike_rekey_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        st: IkeRekeyKe,
        inner: &[Payload],
    ) {
        let Some(link) = find_link(inner).map(<[u8]>::to_vec) else {
            tracing::warn!(ike = ?self.id, "IKE rekey response without ADDITIONAL_KEY_EXCHANGE");
            return self.rekey_ike_failed(ctx, now);
        };
        if self.crossing_rekey_lost(ctx, now, st.lower_nonce()) {
            return;
        }
        self.send_ike_followup(ctx, now, Box::new(st), &link);
    }

    /// Resolves our IKE rekey against the peer's crossing one; true if ours
    /// lost and stops here.
    fn crossing_rekey_lost(&mut self, ctx: &mut Ctx<'_>, now: Instant, ours: &[u8]) -> bool {
        if let Some(theirs) = self.ike_rekey_ke.as_deref() {
            if ours < theirs.lower_nonce() {
                tracing::info!(ike = ?self.id, "IKE rekey collision lost, the peer's additional key exchanges continue");
                return true;
            }
            tracing::info!(ike = ?self.id, "IKE rekey collision won, the peer's unfinished rekey is dropped");
            self.ike_rekey_ke = None;
            return false;
        }
        if let Some(c) = self.ike_collision.take() {
            if ours < c.1.as_slice() {
                tracing::info!(ike = ?self.id, "IKE rekey collision lost");
                self.transfer_to(ctx, now, c.0);
                return true;
            }
            // The peer deletes its successor (c.0), which stays unannounced.
            tracing::info!(ike = ?self.id, "IKE rekey collision won");
        }
        false
    }

    fn send_ike_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        mut st: Box<IkeRekeyKe>,
        link: &[u8],
    ) {
        let Some(group) = st.todo.pop_front() else {
            return;
        };
        let started = ctx
            .crypto
            .ke(group)
            .and_then(|g| g.start(&*ctx.crypto.random));
        let Ok(ke) = started else {
            return self.rekey_ike_failed(ctx, now);
        };
        let payloads = followup_request(link, &*ke);
        let pending = Pending::RekeyIkeFollowup(st, ke);
        self.send_request(ctx, now, ExchangeType::IKE_FOLLOWUP_KE, &payloads, pending);
    }

    /// Initiator: an IKE_FOLLOWUP_KE response of our IKE rekey; after the
    /// last one the successor takes over and the old SA is deleted.
    pub(super) fn handle_ike_followup_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        mut st: Box<IkeRekeyKe>,
        ke: Box<dyn ActiveKe>,
        inner: &[Payload],
    ) {
        if let Some(n) = error_notify(inner) {
            tracing::warn!(ike = ?self.id, notify = n.ty.0, "IKE rekey follow-up refused, the IKE SA stays");
            return self.rekey_ike_failed(ctx, now);
        }
        let secret = find_ke(inner, ke.group()).map(|k| ke.complete(&k.data));
        let Some(Ok(secret)) = secret else {
            tracing::warn!(ike = ?self.id, "IKE rekey follow-up without a valid KE, the IKE SA stays");
            return self.rekey_ike_failed(ctx, now);
        };
        st.secrets.extend_from_slice(&secret);
        if !st.todo.is_empty() {
            let Some(link) = find_link(inner).map(<[u8]>::to_vec) else {
                tracing::warn!(ike = ?self.id, "IKE_FOLLOWUP_KE response without ADDITIONAL_KEY_EXCHANGE");
                return self.rekey_ike_failed(ctx, now);
            };
            return self.send_ike_followup(ctx, now, st, &link);
        }
        let Some(keys) = self.rekeyed_keys(ctx, &st, true) else {
            return self.rekey_ike_failed(ctx, now);
        };
        let st = *st;
        self.successor(ctx, now, true, st.spi_i, st.spi_r, st.sel, keys, false);
        // The requester of the rekey deletes the old SA (RFC 7296 §1.3.2).
        self.start_delete_ike(ctx, now);
    }

    /// The successor's keys from the old SK_d and every shared secret.
    fn rekeyed_keys(&self, ctx: &Ctx<'_>, st: &IkeRekeyKe, initiator: bool) -> Option<SaKeys> {
        let old = self.keys.as_ref()?;
        let seed =
            skeyseed_rekey_additional(old.prf, &old.sk_d, &st.sk0, (&st.ni, &st.nr), &st.secrets);
        let (ni, nr) = (&st.ni, &st.nr);
        let (spi_i, spi_r) = (st.spi_i.0, st.spi_r.0);
        SaKeys::derive(ctx.crypto, &st.sel, &seed, ni, nr, spi_i, spi_r, initiator).ok()
    }

    /// Responder: answers the peer's IKE rekey request with link data and
    /// keeps it for the peer's IKE_FOLLOWUP_KE requests.
    pub(super) fn keep_ike_rekey_followup(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        mut payloads: Vec<Payload>,
        mut st: IkeRekeyKe,
    ) {
        let Ok(link) = ctx.crypto.random_nonce(LINK_LEN) else {
            let p = Refusal::of(NotifyType::TEMPORARY_FAILURE).into_payloads();
            return self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &p);
        };
        payloads.push(link_notify(&link));
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &payloads);
        st.link = link;
        st.deadline = Some(now + FOLLOWUP_TIMEOUT);
        if self.ike_rekey_ke.is_some() {
            tracing::info!(ike = ?self.id, "the peer restarted its IKE rekey");
        }
        self.ike_rekey_ke = Some(Box::new(st));
    }

    /// Responder: the request's link data names the peer's IKE rekey.
    pub(super) fn is_ike_rekey_followup(&self, inner: &[Payload]) -> bool {
        let link = find_link(inner);
        self.ike_rekey_ke
            .as_deref()
            .is_some_and(|st| link == Some(st.link.as_slice()))
    }

    /// Responder: an IKE_FOLLOWUP_KE request of the peer's IKE rekey. A bad
    /// one ends that rekey; the old IKE SA stays.
    pub(super) fn handle_ike_followup_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        let Some(mut st) = self.ike_rekey_ke.take() else {
            return;
        };
        let payloads = match self.answer_ike_followup(ctx, &mut st, inner) {
            Ok(p) => p,
            Err(refusal) => {
                tracing::warn!(ike = ?self.id, notify = refusal.0.0, "peer's IKE rekey follow-up refused, the IKE SA stays");
                let p = refusal.into_payloads();
                return self.send_response(ctx, ExchangeType::IKE_FOLLOWUP_KE, msg_id, &p);
            }
        };
        self.send_response(ctx, ExchangeType::IKE_FOLLOWUP_KE, msg_id, &payloads);
        if !st.todo.is_empty() {
            st.deadline = Some(now + FOLLOWUP_TIMEOUT);
            self.ike_rekey_ke = Some(st);
            return;
        }
        let Some(keys) = self.rekeyed_keys(ctx, &st, false) else {
            return;
        };
        self.adopt_peer_rekey(ctx, now, *st, keys);
    }

    /// Responder: our share of one follow-up, and new link data if more follow.
    fn answer_ike_followup(
        &self,
        ctx: &Ctx<'_>,
        st: &mut IkeRekeyKe,
        inner: &[Payload],
    ) -> Result<Vec<Payload>, Refusal> {
        let group = st
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
        st.secrets.extend_from_slice(&secret);
        let mut payloads = vec![Payload::Ke(Ke { group, data })];
        if !st.todo.is_empty() {
            st.link = ctx
                .crypto
                .random_nonce(LINK_LEN)
                .map_err(|_| Refusal::of(NotifyType::TEMPORARY_FAILURE))?;
            payloads.push(link_notify(&st.link));
        }
        Ok(payloads)
    }

    /// Responder: the peer's rekey is complete. With our own rekey request
    /// still unanswered the collision is not resolved yet (§2.8.2): the
    /// successor holds keys only until our response decides.
    fn adopt_peer_rekey(&mut self, ctx: &mut Ctx<'_>, now: Instant, st: IkeRekeyKe, keys: SaKeys) {
        let ours_in_flight = matches!(
            self.outstanding.as_deref().map(|o| &o.pending),
            Some(Pending::RekeyIke(_))
        );
        let (spi_i, spi_r) = (st.spi_i, st.spi_r);
        if ours_in_flight && self.ike_collision.is_none() {
            let min = st.lower_nonce().to_vec();
            let id = self.successor(ctx, now, false, spi_i, spi_r, st.sel, keys, true);
            self.ike_collision = Some(Box::new((id, min)));
            return;
        }
        self.successor(ctx, now, false, spi_i, spi_r, st.sel, keys, false);
    }

    /// Drops the peer's IKE rekey whose next IKE_FOLLOWUP_KE did not come.
    pub(super) fn expire_ike_rekey_followup(&mut self, now: Instant) {
        if self
            .ike_rekey_ke
            .as_deref()
            .and_then(|st| st.deadline)
            .is_some_and(|d| d <= now)
        {
            tracing::warn!(ike = ?self.id, "peer's IKE rekey follow-up never came, rekey dropped; the IKE SA stays");
            self.ike_rekey_ke = None;
        }
    }
}
