//! IKE SA rekeying with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18): a new IKE SA
//! with new SPIs and keys inherits every Child SA (and RFC 9611 group), then the
//! old one is deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::child::{Refusal, error_notify, get_ke, get_nonce, get_sa};
use super::init::NONCE_LEN;
use super::keys::SaKeys;
use super::rekey_ke::IkeRekeyKe;
use super::{Ctx, IkeSa, Pending, State};
use crate::crypto::SecretBytes;
use crate::crypto::ke::ActiveKe;
use crate::crypto::keymat::skeyseed_rekey;
use crate::ids::{IkeSaId, IkeSpi};
use crate::proposal::{Proposal, Selected};
use crate::wire::{ExchangeType, Ke, Nonce, NotifyType, Payload, ProtocolId, Sa};

/// Our outstanding IKE rekey request.
pub(crate) struct IkeRekeyReq {
    pub(crate) spi: IkeSpi,
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Box<dyn ActiveKe>,
}

impl IkeSa {
    pub(crate) fn start_rekey_ike(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.ike_rekey_ke.is_some() {
            // The peer's rekey is running its IKE_FOLLOWUP_KE: ours waits.
            self.rekey_at = Some(now + Duration::from_secs(10));
            return;
        }
        let conn = self.conn();
        let Some(group) = self.ike_sel.and_then(|s| s.ke) else {
            return;
        };
        let (Ok(spi), Ok(ni), Ok(ke)) = (
            ctx.crypto.random_ike_spi(),
            ctx.crypto.random_nonce(NONCE_LEN),
            ctx.crypto
                .ke(group)
                .and_then(|g| g.start(&*ctx.crypto.random)),
        ) else {
            return;
        };
        let proposals = rekey_proposals(&conn.ike_proposals)
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.to_wire(
                    u8::try_from(i + 1).unwrap_or(u8::MAX),
                    spi.to_be_bytes().to_vec(),
                )
            })
            .collect();
        let payloads = [
            Payload::Sa(Sa { proposals }),
            Payload::Nonce(Nonce(ni.clone())),
            Payload::Ke(Ke {
                group,
                data: ke.public().to_vec(),
            }),
        ];
        self.send_request(
            ctx,
            now,
            ExchangeType::CREATE_CHILD_SA,
            &payloads,
            Pending::RekeyIke(Box::new(IkeRekeyReq {
                spi: IkeSpi(spi),
                ni,
                ke,
            })),
        );
    }

    /// Builds the successor SA and moves the Child SAs over.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn successor(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        initiator: bool,
        spi_i: IkeSpi,
        spi_r: IkeSpi,
        sel: Selected,
        keys: SaKeys,
        bare: bool,
    ) -> IkeSaId {
        let id = ctx.out.ike_id();
        let mut n = Self::blank(
            id,
            (self.conn, Arc::clone(&self.cfg)),
            initiator,
            self.local,
            self.remote,
            State::Closing,
        );
        n.spi_i = spi_i;
        n.spi_r = spi_r;
        n.natt = self.natt;
        n.nat = self.nat;
        n.behind_nat = self.behind_nat;
        n.frag_peer = self.frag_peer;
        n.keys = Some(Box::new(keys));
        n.ike_sel = Some(sel);
        if bare {
            // A collision successor: keys only, children follow if it wins (§2.8.2).
            n.state = State::Established;
            n.announced = false;
            n.peer_id = self.peer_id.clone();
            ctx.out.spawned.push(n);
            return id;
        }
        n.children = std::mem::take(&mut self.children);
        n.groups = std::mem::take(&mut self.groups);
        // Tasks not yet started move too; a request in flight on the old SA is dropped.
        n.queue = std::mem::take(&mut self.queue);
        let peer = self
            .peer_id
            .clone()
            .unwrap_or(crate::config::Identity::Other(0, Vec::new()));
        n.establish(ctx, now, peer);
        self.state = State::Replaced;
        // If the peer never deletes the old SA, drop it after a while.
        self.expire_at = Some(now + Duration::from_secs(60));
        self.rekey_at = None;
        self.dpd_at = None;
        self.keepalive_at = None;
        ctx.out.spawned.push(n);
        id
    }

    /// Hands children, groups and queued tasks to `to` (the peer's winning
    /// successor) and retires this SA; the peer deletes it.
    pub(crate) fn transfer_to(&mut self, ctx: &mut Ctx<'_>, now: Instant, to: IkeSaId) {
        ctx.out.transfers.push(super::Transfer {
            to,
            children: std::mem::take(&mut self.children),
            groups: std::mem::take(&mut self.groups),
            queue: std::mem::take(&mut self.queue),
            peer_id: self.peer_id.clone(),
        });
        self.state = State::Replaced;
        self.expire_at = Some(now + Duration::from_secs(60));
        self.rekey_at = None;
        self.dpd_at = None;
        self.keepalive_at = None;
    }

    /// Initiator: our IKE rekey failed. If we answered the peer's rekey in the
    /// meantime, that one is the only rekey that happened and its successor
    /// takes over at once (RFC 7296 §2.8.2 resolves only collisions where both
    /// rekeys succeed); the peer deletes this SA. Otherwise we retry later.
    pub(super) fn rekey_ike_failed(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(c) = self.ike_collision.take() {
            tracing::info!(ike = ?self.id, "IKE rekey failed, the peer's rekey stands");
            self.transfer_to(ctx, now, c.0);
            return;
        }
        self.rekey_at = Some(
            now + Duration::from_secs(10) + Duration::from_millis(u64::from(ctx.rand_u32() % 5000)),
        );
    }

    /// Initiator: response to our IKE rekey.
    pub(crate) fn handle_rekey_ike_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        req: IkeRekeyReq,
        inner: &[Payload],
    ) {
        let conn = self.conn();
        if error_notify(inner).is_some() {
            self.rekey_ike_failed(ctx, now);
            return;
        }
        let parsed = (|| {
            let sa = get_sa(inner)?;
            let [p] = sa.proposals.as_slice() else {
                return None;
            };
            if p.protocol != ProtocolId::IKE {
                return None;
            }
            let spi_r = p.spi_u64().filter(|s| *s != 0)?;
            let theirs = Proposal::from_wire(p)?;
            let sel = rekey_proposals(&conn.ike_proposals)
                .iter()
                .find_map(|o| o.intersect(&theirs))?;
            let nr = get_nonce(inner)?.0.clone();
            let ke = get_ke(inner)?;
            if Some(ke.group) != sel.ke || ke.group != req.ke.group() {
                return None;
            }
            let gir = req.ke.complete(&ke.data).ok()?;
            Some((spi_r, sel, nr, gir))
        })();
        let Some((spi_r, sel, nr, gir)) = parsed else {
            self.rekey_ike_failed(ctx, now);
            return;
        };
        if sel.additional().next().is_some() {
            let st = IkeRekeyKe::new((req.spi, IkeSpi(spi_r)), sel, (req.ni, nr), gir);
            return self.start_ike_rekey_followup(ctx, now, st, inner);
        }
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let seed = skeyseed_rekey(old.prf, &old.sk_d, &gir, &req.ni, &nr);
        let Ok(keys) = SaKeys::derive(
            ctx.crypto, &sel, &seed, &req.ni, &nr, req.spi.0, spi_r, true,
        ) else {
            self.rekey_ike_failed(ctx, now);
            return;
        };
        if let Some(c) = self.ike_collision.take() {
            let ours_min = if req.ni < nr { &req.ni } else { &nr };
            if ours_min.as_slice() < c.1.as_slice() {
                // RFC 7296 §2.8.2: our exchange has the lowest nonce and loses. The
                // peer's successor takes over; we delete the SA we just created.
                tracing::info!(ike = ?self.id, "IKE rekey collision lost");
                let ours = self.successor(ctx, now, true, req.spi, IkeSpi(spi_r), sel, keys, true);
                ctx.out.doomed.push(ours);
                self.transfer_to(ctx, now, c.0);
                return;
            }
            // We won: the peer deletes its successor (c.0), which stays unannounced.
            tracing::info!(ike = ?self.id, "IKE rekey collision won");
        }
        self.successor(ctx, now, true, req.spi, IkeSpi(spi_r), sel, keys, false);
        // The requester of the rekey deletes the old SA (RFC 7296 §1.3.2).
        self.start_delete_ike(ctx, now);
    }

    /// Responder: the peer rekeys this IKE SA.
    pub(crate) fn respond_rekey_ike(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        // Our own IKE rekey in flight: a collision, answered as usual (§2.8.2).
        // Any other request of ours in flight: ask the peer to retry (§2.25).
        let colliding = matches!(
            self.outstanding.as_deref().map(|o| &o.pending),
            Some(Pending::RekeyIke(_))
        ) && self.ike_collision.is_none();
        if (self.outstanding.is_some() && !colliding) || self.is_replaced() {
            let p = Refusal::of(NotifyType::TEMPORARY_FAILURE).into_payloads();
            self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &p);
            return;
        }
        let a = match accept_ike_rekey(ctx, &rekey_proposals(&self.conn().ike_proposals), inner) {
            Ok(a) => a,
            Err(refusal) => {
                let p = refusal.into_payloads();
                self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &p);
                return;
            }
        };
        if a.sel.additional().next().is_some() {
            let p = ike_rekey_response(&a).to_vec();
            let st = IkeRekeyKe::new(
                (IkeSpi(a.spi_i), IkeSpi(a.spi_r)),
                a.sel,
                (a.ni, a.nr),
                a.gir,
            );
            return self.keep_ike_rekey_followup(ctx, now, msg_id, p, st);
        }
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let seed = skeyseed_rekey(old.prf, &old.sk_d, &a.gir, &a.ni, &a.nr);
        let Ok(keys) = SaKeys::derive(
            ctx.crypto, &a.sel, &seed, &a.ni, &a.nr, a.spi_i, a.spi_r, false,
        ) else {
            let p = Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN).into_payloads();
            self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &p);
            return;
        };
        let payloads = ike_rekey_response(&a);
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &payloads);
        let (spi_i, spi_r) = (IkeSpi(a.spi_i), IkeSpi(a.spi_r));
        if colliding {
            let id = self.successor(ctx, now, false, spi_i, spi_r, a.sel, keys, true);
            let min = if a.ni < a.nr { a.ni } else { a.nr };
            self.ike_collision = Some(Box::new((id, min)));
            return;
        }
        self.successor(ctx, now, false, spi_i, spi_r, a.sel, keys, false);
    }
}

/// What a responder accepted of an IKE rekey request (RFC 7296 §1.3.2).
struct IkeRekeyAnswer {
    /// The accepted proposal's number, echoed in the response.
    num: u8,
    sel: Selected,
    spi_i: u64,
    spi_r: u64,
    ni: Vec<u8>,
    nr: Vec<u8>,
    gir: SecretBytes,
    /// Our KE public value.
    public: Vec<u8>,
}

/// The IKE proposals for a rekey: the configured ones, additional key
/// exchanges included (they run as IKE_FOLLOWUP_KE, RFC 9370 §2.2.4).
fn rekey_proposals(ours: &[Proposal]) -> Vec<Proposal> {
    ours.to_vec()
}

/// Reads and decides an IKE rekey request (RFC 7296 §1.3.2): one of our
/// proposals with the peer's SPI, its nonce and KE, then our nonce, SPI and KE.
fn accept_ike_rekey(
    ctx: &Ctx<'_>,
    ours: &[Proposal],
    inner: &[Payload],
) -> Result<IkeRekeyAnswer, Refusal> {
    let sa = get_sa(inner).ok_or_else(|| Refusal::of(NotifyType::INVALID_SYNTAX))?;
    let offered: Vec<(u8, Proposal, u64)> = sa
        .proposals
        .iter()
        .filter(|p| p.protocol == ProtocolId::IKE)
        .filter_map(|p| {
            Some((
                p.num,
                Proposal::from_wire(p)?,
                p.spi_u64().filter(|s| *s != 0)?,
            ))
        })
        .collect();
    let plain: Vec<(u8, Proposal)> = offered.iter().map(|(n, p, _)| (*n, p.clone())).collect();
    let (num, sel) = Proposal::select(ours, &plain)
        .ok_or_else(|| Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN))?;
    let spi_i = offered
        .iter()
        .find(|(n, _, _)| *n == num)
        .map(|(_, _, s)| *s)
        .unwrap_or_default();
    let group = sel.ke.unwrap_or_default();
    let ni = get_nonce(inner)
        .ok_or_else(|| Refusal::of(NotifyType::INVALID_SYNTAX))?
        .0
        .clone();
    let ke = get_ke(inner).filter(|k| k.group == group).ok_or_else(|| {
        Refusal(
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        )
    })?;
    let (mine, gir) = ctx
        .crypto
        .ke(group)
        .map_err(|_| Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN))?
        .respond(&*ctx.crypto.random, &ke.data)
        .map_err(|_| Refusal::of(NotifyType::INVALID_SYNTAX))?;
    let temporary = |_| Refusal::of(NotifyType::TEMPORARY_FAILURE);
    let nr = ctx.crypto.random_nonce(NONCE_LEN).map_err(temporary)?;
    let spi_r = ctx.crypto.random_ike_spi().map_err(temporary)?;
    Ok(IkeRekeyAnswer {
        num,
        sel,
        spi_i,
        spi_r,
        ni,
        nr,
        gir,
        public: mine,
    })
}

/// The response to an IKE rekey (RFC 7296 §1.3.2): SA, Nr, KEr.
fn ike_rekey_response(a: &IkeRekeyAnswer) -> [Payload; 3] {
    [
        Payload::Sa(Sa {
            proposals: vec![
                Proposal::from_selected(ProtocolId::IKE, &a.sel)
                    .to_wire(a.num, a.spi_r.to_be_bytes().to_vec()),
            ],
        }),
        Payload::Nonce(Nonce(a.nr.clone())),
        Payload::Ke(Ke {
            group: a.sel.ke.unwrap_or_default(),
            data: a.public.clone(),
        }),
    ]
}
