//! Child SAs in IKE_AUTH and CREATE_CHILD_SA (RFC 7296 §1.3.1, §1.3.3, §2.8,
//! §2.9, §2.17), with RFC 9611 per-resource groups.

use std::time::{Duration, Instant};

use super::init::NONCE_LEN;
use super::{Ctx, IkeSa, Pending, Task};
use crate::child_sa::per_resource::{self, Resource, resource_info_data};
use crate::child_sa::{ChildSa, ChildState};
use crate::config::{ChildConfig, ConnectionConfig, Mode, PerCpu, TrafficSelector, narrow};
use crate::crypto::ke::ActiveKe;
use crate::crypto::keymat::ChildKeys;
use crate::crypto::{CryptoError, CryptoProvider, SecretBytes};
use crate::error::{Error, PeerIncompatible, PeerMisbehaved};
use crate::event::{ChildSaInstall, DirectionKeys, Encap, Event};
use crate::ids::{ChildSaId, CpuId, IkeSaId, Spi};
use crate::proposal::{Proposal, Selected};
use crate::recovery::Action;
use crate::selector;
use crate::timer::jittered;
use crate::wire::{
    ExchangeType, IntegId, Ke, KeId, Nonce, Notify, NotifyType, Payload, ProtocolId, Sa, Ts,
};

/// How long a rekeyed Child SA waits for the peer's Delete before we delete it
/// ourselves (RFC 7296 §2.8: the rekey's initiator should delete it; strongSwan's
/// `delete_rekeyed_delay`).
pub(crate) const DELETE_REKEYED_DELAY: Duration = Duration::from_secs(5);

/// A Child SA request we sent, kept until its response.
pub(crate) struct ChildReq {
    pub(crate) cfg: u16,
    /// RFC 9611: the CPU asked for (`None` = fallback).
    pub(crate) cpu: Option<CpuId>,
    pub(crate) seq: Option<u32>,
    pub(crate) spi_in: Spi,
    /// Our nonce (empty in IKE_AUTH, where the IKE_SA_INIT nonces are used).
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Option<Box<dyn ActiveKe>>,
    pub(crate) ts_i: Vec<TrafficSelector>,
    pub(crate) ts_r: Vec<TrafficSelector>,
    pub(crate) transport: bool,
    /// We sent SA_RESOURCE_INFO.
    pub(crate) resource_notify: bool,
    /// The SA this request rekeys.
    pub(crate) rekey: Option<ChildSaId>,
}

/// A random inbound ESP SPI that no live Child SA or request holds
/// (see [`crate::spi_pool`]); `None` when the configured range is full.
fn new_spi(ctx: &mut Ctx<'_>) -> Option<Spi> {
    let r = ctx.rand_u32();
    let spi = ctx.out.spis.allocate(r);
    if spi.is_none() {
        tracing::warn!("no free inbound ESP SPI left in the configured range");
    }
    spi
}

fn esp_offer(c: &ChildConfig, in_auth: bool) -> Vec<Proposal> {
    c.esp_proposals
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if in_auth {
                // No KE in IKE_AUTH (RFC 7296 §1.2); strongSwan strips it likewise.
                p.ke.clear();
            }
            if in_auth {
                // Nor additional key exchanges (RFC 9370 §2.2.3).
                p.ake = Default::default();
            }
            p
        })
        .collect()
}

fn ts_payload(ts: &[TrafficSelector]) -> Ts {
    Ts {
        selectors: ts.iter().map(TrafficSelector::to_wire).collect(),
    }
}

fn ts_from(p: Option<&Ts>) -> Option<Vec<TrafficSelector>> {
    let v: Vec<_> = p?
        .selectors
        .iter()
        .filter_map(TrafficSelector::from_wire)
        .collect();
    (!v.is_empty()).then_some(v)
}

fn find_notify(inner: &[Payload], ty: NotifyType) -> Option<&Notify> {
    inner.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == ty => Some(n),
        _ => None,
    })
}

/// `fn $name(inner) -> Option<&$ty>`: the first `Payload::$variant` of a message.
macro_rules! first_payload {
    ($vis:vis $name:ident, $variant:ident, $ty:ty) => {
        $vis fn $name(inner: &[Payload]) -> Option<&$ty> {
            inner.iter().find_map(|p| match p {
                Payload::$variant(x) => Some(x),
                _ => None,
            })
        }
    };
}

first_payload!(pub(crate) get_sa, Sa, Sa);
first_payload!(pub(crate) get_nonce, Nonce, Nonce);
first_payload!(pub(crate) get_ke, Ke, Ke);
first_payload!(get_tsi, Tsi, Ts);
first_payload!(get_tsr, Tsr, Ts);

pub(crate) fn error_notify(inner: &[Payload]) -> Option<&Notify> {
    inner.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty.is_error() => Some(n),
        _ => None,
    })
}

/// The deleted-event for `c`.
pub(crate) fn deleted_event(
    ike: IkeSaId,
    c: &ChildSa,
    conn: &ConnectionConfig,
    closed_by_peer: Option<Action>,
) -> Event {
    Event::ChildSaDeleted {
        child: c.id,
        ike,
        spi_in: c.spi_in,
        spi_out: c.spi_out,
        reqid: conn.children[usize::from(c.cfg)].reqid,
        resource: c.resource.cpu(),
        closed_by_peer,
    }
}

/// Nr | SK(1) | ... | SK(n): KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1) |
/// ... | SK(n)) with additional key exchanges (RFC 9370 §2.2.4).
fn keymat_tail(nr: &[u8], add_ke: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new([nr, add_ke].concat())
}

/// Child KEYMAT split into (ours-out, ours-in) keys.
#[allow(clippy::too_many_arguments)]
fn child_keys(
    crypto: &CryptoProvider,
    prf: &dyn crate::crypto::prf::Prf,
    sk_d: &[u8],
    esp: &Selected,
    gir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    we_initiated: bool,
) -> Option<(DirectionKeys, DirectionKeys)> {
    let encr_len = crate::crypto::esp::keymat_len(crypto, esp.encr)?;
    let integ_len = match esp.integ {
        Some(i) if i != IntegId::NONE => crypto.integ(i).ok()?.key_len(),
        _ => 0,
    };
    let k = ChildKeys::derive(prf, sk_d, gir, ni, nr, encr_len, integ_len).ok()?;
    let i = DirectionKeys {
        encr: k.encr_i.into_zeroizing(),
        integ: k.integ_i.into_zeroizing(),
    };
    let r = DirectionKeys {
        encr: k.encr_r.into_zeroizing(),
        integ: k.integ_r.into_zeroizing(),
    };
    Some(if we_initiated { (i, r) } else { (r, i) })
}

/// A responder's refusal of a Child SA request: the error notify it answers
/// with (RFC 7296 §1.3, §3.10.1).
pub(crate) struct Refusal(pub(crate) NotifyType, pub(crate) Vec<u8>);

impl Refusal {
    pub(crate) fn of(ty: NotifyType) -> Self {
        Self(ty, Vec::new())
    }

    pub(crate) fn into_payloads(self) -> Vec<Payload> {
        vec![Payload::Notify(Notify::new(self.0, self.1))]
    }
}

/// The Child SA payloads of a request (RFC 7296 §1.3.1, §1.3.3).
struct ChildRequest<'a> {
    rekey: Option<&'a Notify>,
    sa: Option<&'a Sa>,
    tsi: Option<Vec<TrafficSelector>>,
    tsr: Option<Vec<TrafficSelector>>,
    ke: Option<&'a Ke>,
    /// SA_RESOURCE_INFO (RFC 9611 §4).
    resource_info: bool,
    /// USE_TRANSPORT_MODE (RFC 7296 §1.3.1).
    transport: bool,
}

impl<'a> ChildRequest<'a> {
    fn parse(inner: &'a [Payload]) -> Self {
        Self {
            rekey: find_notify(inner, NotifyType::REKEY_SA),
            sa: get_sa(inner),
            tsi: ts_from(get_tsi(inner)),
            tsr: ts_from(get_tsr(inner)),
            ke: get_ke(inner),
            resource_info: find_notify(inner, NotifyType::SA_RESOURCE_INFO).is_some(),
            transport: find_notify(inner, NotifyType::USE_TRANSPORT_MODE).is_some(),
        }
    }
}

/// What a responder accepted of a Child SA request.
pub(super) struct ChildDecision {
    pub(super) cfg: u16,
    rekey_of: Option<ChildSaId>,
    /// Narrowed selectors: TSi (the peer's side) and TSr (ours), RFC 7296 §2.9.
    ts_remote: Vec<TrafficSelector>,
    ts_local: Vec<TrafficSelector>,
    /// The accepted proposal's number, echoed in the response (RFC 7296 §3.3).
    num: u8,
    pub(super) esp: Selected,
    spi_out: Spi,
    pub(super) gir: Option<SecretBytes>,
    /// SK(1) | ... | SK(n) of IKE_FOLLOWUP_KE (RFC 9370 §2.2.4).
    pub(super) add_ke: SecretBytes,
    ke_out: Option<Ke>,
    pub(super) resource: Resource,
    /// The response carries SA_RESOURCE_INFO (a new per-CPU SA, RFC 9611 §4).
    resource_notify: bool,
    transport: bool,
}

/// What an initiator accepted of a Child SA response.
pub(super) struct ChildAccept {
    spi_out: Spi,
    pub(super) esp: Selected,
    pub(super) gir: Option<SecretBytes>,
    /// SK(1) | ... | SK(n) of IKE_FOLLOWUP_KE (RFC 9370 §2.2.4).
    pub(super) add_ke: SecretBytes,
    ts: (Vec<TrafficSelector>, Vec<TrafficSelector>),
    transport: bool,
}

/// A Child SA ready to record and report (see [`IkeSa::install_child`]).
struct NewChild {
    cfg: u16,
    spi_in: Spi,
    spi_out: Spi,
    resource: Resource,
    esp: Selected,
    mode: Mode,
    ts: (Vec<TrafficSelector>, Vec<TrafficSelector>),
    keys_in: DirectionKeys,
    keys_out: DirectionKeys,
    seq: Option<u32>,
    rekey_of: Option<ChildSaId>,
}

fn mode_of(transport: bool) -> Mode {
    if transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    }
}

/// The failure an error notify in a Child SA response stands for.
fn notify_error(ty: NotifyType) -> Error {
    match ty {
        NotifyType::NO_PROPOSAL_CHOSEN => {
            Error::PeerIncompatible(PeerIncompatible::NoProposalChosen)
        }
        NotifyType::TS_UNACCEPTABLE => Error::PeerIncompatible(PeerIncompatible::TsUnacceptable),
        t => Error::NotifyReceived(t.0),
    }
}

/// The payloads of a Child SA request (RFC 7296 §1.3.1, §1.3.3): REKEY_SA for a
/// rekey, SA, Ni and KE outside IKE_AUTH, TS, and the mode/resource notifies.
fn request_payloads(
    req: &ChildReq,
    offer: &[Proposal],
    old_spi: Option<Spi>,
    in_auth: bool,
) -> Vec<Payload> {
    let mut payloads = Vec::with_capacity(8);
    if let Some(spi) = old_spi {
        payloads.push(Payload::Notify(Notify::rekey_sa(ProtocolId::ESP, spi.0)));
    }
    let proposals = offer
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.to_wire(
                u8::try_from(i + 1).unwrap_or(u8::MAX),
                req.spi_in.0.to_be_bytes().to_vec(),
            )
        })
        .collect();
    payloads.push(Payload::Sa(Sa { proposals }));
    if !in_auth {
        payloads.push(Payload::Nonce(Nonce(req.ni.clone())));
    }
    if let Some(k) = &req.ke {
        payloads.push(Payload::Ke(Ke {
            group: k.group(),
            data: k.public().to_vec(),
        }));
    }
    let resource = req.resource_notify.then(|| resource_info_data(req.cpu));
    push_ts_and_notifies(
        &mut payloads,
        (&req.ts_i, &req.ts_r),
        req.transport,
        resource,
    );
    payloads
}

/// TSi, TSr, USE_TRANSPORT_MODE (RFC 7296 §1.3.1) and SA_RESOURCE_INFO
/// (RFC 9611 §4.1), the tail of every Child SA request and response.
fn push_ts_and_notifies(
    payloads: &mut Vec<Payload>,
    (ts_i, ts_r): (&[TrafficSelector], &[TrafficSelector]),
    transport: bool,
    resource: Option<Vec<u8>>,
) {
    payloads.push(Payload::Tsi(ts_payload(ts_i)));
    payloads.push(Payload::Tsr(ts_payload(ts_r)));
    if transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            Vec::new(),
        )));
    }
    if let Some(data) = resource {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::SA_RESOURCE_INFO,
            data,
        )));
    }
}

/// The payloads answering a Child SA request (RFC 7296 §1.3.1); `nr` is
/// `None` in IKE_AUTH.
fn response_payloads(d: &ChildDecision, spi_in: Spi, nr: Option<&[u8]>) -> Vec<Payload> {
    let mut payloads = Vec::with_capacity(7);
    payloads.push(Payload::Sa(Sa {
        proposals: vec![
            Proposal::from_selected(ProtocolId::ESP, &d.esp)
                .to_wire(d.num, spi_in.0.to_be_bytes().to_vec()),
        ],
    }));
    if let Some(nr) = nr {
        payloads.push(Payload::Nonce(Nonce(nr.to_vec())));
    }
    if let Some(k) = &d.ke_out {
        payloads.push(Payload::Ke(k.clone()));
    }
    let resource = d
        .resource_notify
        .then(|| resource_info_data(d.resource.cpu()));
    push_ts_and_notifies(
        &mut payloads,
        (&d.ts_remote, &d.ts_local),
        d.transport,
        resource,
    );
    payloads
}

/// The ESP proposal we accept from the peer's SA payload, with its number and
/// the peer's SPI (RFC 7296 §2.7, §3.3).
fn select_esp(sa: &Sa, ours: &[Proposal]) -> Result<(u8, Selected, Spi), Refusal> {
    let offered: Vec<(u8, Proposal, u32)> = sa
        .proposals
        .iter()
        .filter(|p| p.protocol == ProtocolId::ESP)
        .filter_map(|p| Some((p.num, Proposal::from_wire(p)?, p.spi_u32()?)))
        .collect();
    let plain: Vec<(u8, Proposal)> = offered.iter().map(|(n, p, _)| (*n, p.clone())).collect();
    let Some((num, esp)) = Proposal::select(ours, &plain) else {
        return Err(Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN));
    };
    let spi_out = offered
        .iter()
        .find(|(n, _, _)| *n == num)
        .map(|(_, _, s)| Spi(*s))
        .ok_or_else(|| Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN))?;
    Ok((num, esp, spi_out))
}

/// The responder's half of a Child SA key exchange (RFC 7296 §1.3.1): the
/// shared secret and our KE payload, when the accepted proposal has a group.
fn responder_ke(
    crypto: &CryptoProvider,
    group: Option<KeId>,
    theirs: Option<&Ke>,
) -> Result<(Option<SecretBytes>, Option<Ke>), Refusal> {
    let Some(g) = group else {
        return Ok((None, None));
    };
    let Some(ke) = theirs.filter(|k| k.group == g) else {
        return Err(Refusal(
            NotifyType::INVALID_KE_PAYLOAD,
            g.0.to_be_bytes().to_vec(),
        ));
    };
    let Ok(x) = crypto.ke(g) else {
        return Err(Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN));
    };
    let Ok((data, s)) = x.respond(&*crypto.random, &ke.data) else {
        return Err(Refusal::of(NotifyType::INVALID_SYNTAX));
    };
    let ke_out = Ke { group: g, data };
    Ok((Some(s), Some(ke_out)))
}

/// The initiator's half of a Child SA key exchange (RFC 7296 §1.3.1): the
/// shared secret, when the accepted proposal has a group both sides used.
fn initiator_ke(
    group: Option<KeId>,
    mine: Option<Box<dyn ActiveKe>>,
    theirs: Option<&Ke>,
) -> Result<Option<SecretBytes>, Error> {
    let bad = Error::PeerMisbehaved(PeerMisbehaved::Invalid("KE"));
    match (group, mine, theirs) {
        (None, _, _) => Ok(None),
        (Some(g), Some(k), Some(ke)) if ke.group == g && k.group() == g => {
            k.complete(&ke.data).map(Some).map_err(|_| bad)
        }
        _ => Err(bad),
    }
}

/// Every selector of `got` lies inside one of `offered` (RFC 7296 §2.9).
fn ts_within(got: &[TrafficSelector], offered: &[TrafficSelector]) -> bool {
    got.iter()
        .all(|g| offered.iter().any(|o| o.intersect(g) == Some(*g)))
}

impl IkeSa {
    /// Builds the Child SA part of a request (IKE_AUTH or CREATE_CHILD_SA).
    pub(crate) fn build_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        cfg: u16,
        cpu: Option<CpuId>,
        seq: Option<u32>,
        rekey: Option<ChildSaId>,
        in_auth: bool,
    ) -> Option<(Vec<Payload>, ChildReq)> {
        // Peer Deletes seen during an earlier exchange do not concern this one.
        self.early_deletes.clear();
        let conn = self.conn();
        let c = conn.children.get(usize::from(cfg))?;
        let spi_in = new_spi(ctx)?;
        let offer = esp_offer(c, in_auth);
        let ke = if in_auth {
            None
        } else {
            self.start_child_ke(ctx, &offer).ok()?
        };
        let ni = if in_auth {
            Vec::new()
        } else {
            ctx.crypto.random_nonce(NONCE_LEN).ok()?
        };
        let old = rekey.and_then(|id| self.children.iter().find(|x| x.id == id));
        let (ts_i, ts_r) = match old {
            Some(old) => (old.ts.0.clone(), old.ts.1.clone()),
            None => self.proposed_selectors(c),
        };
        let old_spi = old.map(|x| x.spi_in);
        let req = ChildReq {
            cfg,
            cpu,
            seq,
            spi_in,
            ni,
            ke,
            ts_i,
            ts_r,
            transport: c.mode == Mode::Transport,
            // RFC 9611 §4: only creations carry SA_RESOURCE_INFO, never rekeys (strongSwan).
            resource_notify: c.is_per_cpu() && rekey.is_none(),
            rekey,
        };
        let payloads = request_payloads(&req, &offer, old_spi, in_auth);
        Some((payloads, req))
    }

    /// Our KE for a CREATE_CHILD_SA offer (RFC 7296 §1.3): the group the peer
    /// asked for before if we offer it, else the first one offered.
    fn start_child_ke(
        &self,
        ctx: &Ctx<'_>,
        offer: &[Proposal],
    ) -> Result<Option<Box<dyn ActiveKe>>, CryptoError> {
        let preferred = self
            .pfs_group
            .filter(|g| offer.iter().any(|p| p.ke.contains(g)));
        let Some(g) = preferred
            .as_ref()
            .or_else(|| offer.iter().find_map(|p| p.ke.first()))
        else {
            return Ok(None);
        };
        ctx.crypto
            .ke(*g)
            .and_then(|g| g.start(&*ctx.crypto.random))
            .map(Some)
    }

    /// The selectors a new Child SA proposes (TSi, TSr) from its config.
    fn proposed_selectors(&self, c: &ChildConfig) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
        if c.local_ts.is_empty() && self.local.ip().is_unspecified() {
            tracing::warn!(ike = ?self.id, name = %c.name, "dynamic local_ts without a local address proposes 0.0.0.0: configure the connection's local address");
        }
        c.selectors(self.local.ip(), self.remote.ip())
    }

    /// Starts CREATE_CHILD_SA for a new Child SA.
    pub(crate) fn start_create_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        cfg: u16,
        cpu: Option<CpuId>,
        seq: Option<u32>,
    ) {
        if let Some(limit) = self.child_sa_cap_reached(ctx) {
            // RFC 7296 §1.3: we ask for no more than we would accept.
            let group_request = self.conn().children[usize::from(cfg)].is_per_cpu();
            self.creation_failed(ctx, cfg, cpu, group_request, Error::ChildSaLimit(limit));
            return;
        }
        match self.build_child_request(ctx, cfg, cpu, seq, None, false) {
            Some((payloads, req)) => self.send_request(
                ctx,
                now,
                ExchangeType::CREATE_CHILD_SA,
                &payloads,
                Pending::CreateChild(Box::new(req)),
            ),
            None => {
                self.group(cfg).finish(cpu);
                let name = self
                    .cfg
                    .children
                    .get(usize::from(cfg))
                    .map(|c| c.name.clone());
                ctx.out.events.push_back(Event::ChildSaFailed {
                    ike: self.id,
                    name: name.unwrap_or_default(),
                    resource: cpu,
                    reason: Error::LocalLimit("no free inbound ESP SPI in the configured range"),
                });
            }
        }
    }

    /// Starts CREATE_CHILD_SA rekeying Child SA `id` (RFC 7296 §1.3.3).
    pub(crate) fn start_rekey_child(&mut self, ctx: &mut Ctx<'_>, now: Instant, id: ChildSaId) {
        let Some(c) = self.children.iter_mut().find(|c| c.id == id) else {
            return;
        };
        if c.state != ChildState::Installed {
            return;
        }
        c.state = ChildState::Rekeying;
        let (cfg, cpu) = (c.cfg, c.resource.cpu());
        match self.build_child_request(ctx, cfg, cpu, None, Some(id), false) {
            Some((payloads, req)) => self.send_request(
                ctx,
                now,
                ExchangeType::CREATE_CHILD_SA,
                &payloads,
                Pending::CreateChild(Box::new(req)),
            ),
            None => {
                if let Some(c) = self.children.iter_mut().find(|c| c.id == id) {
                    c.state = ChildState::Installed;
                }
            }
        }
    }

    /// Initiator: the CREATE_CHILD_SA response for a Child SA.
    pub(crate) fn handle_create_child_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        req: ChildReq,
        inner: &[Payload],
    ) {
        let nr = get_nonce(inner).map(|n| n.0.clone()).unwrap_or_default();
        let ni = req.ni.clone();
        self.finish_child(ctx, now, req, inner, &ni, &nr);
    }

    fn child_failed(&mut self, ctx: &mut Ctx<'_>, now: Instant, req: &ChildReq, reason: Error) {
        let not_found = reason == Error::NotifyReceived(NotifyType::CHILD_SA_NOT_FOUND.0);
        if let Some(old) = req.rekey
            && let Some(o) = self.children.iter_mut().find(|x| x.id == old)
        {
            if not_found {
                // RFC 7296 §2.25: the peer has no such SA; delete ours silently
                // and create one from scratch instead of retrying the rekey.
                let cpu = o.resource.cpu();
                self.remove_child(ctx, old, None);
                let task = Task::CreateChild {
                    cfg: req.cfg,
                    cpu,
                    seq: None,
                };
                self.queue.push_back(task);
            } else {
                // Try the rekey again later; the old SA stays in use.
                o.state = ChildState::Installed;
                o.rekey_at = Some(now + Duration::from_secs(30));
            }
        }
        let group_request = req.rekey.is_none() && req.resource_notify;
        self.creation_failed(ctx, req.cfg, req.cpu, group_request, reason);
    }

    /// Reports a failed creation. A refusal for lack of room (TS_MAX_QUEUE,
    /// NO_ADDITIONAL_SAS or our own cap) fills an RFC 9611 group (§4.2).
    fn creation_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        cfg: u16,
        cpu: Option<CpuId>,
        group_request: bool,
        reason: Error,
    ) {
        let name = &self.conn().children[usize::from(cfg)].name;
        let no_room = matches!(reason, Error::ChildSaLimit(_))
            || reason == Error::NotifyReceived(NotifyType::TS_MAX_QUEUE.0)
            || reason == Error::NotifyReceived(NotifyType::NO_ADDITIONAL_SAS.0);
        let mut full = false;
        if group_request {
            if no_room {
                if reason == Error::NotifyReceived(NotifyType::TS_MAX_QUEUE.0) {
                    tracing::info!(ike = ?self.id, %name, "received TS_MAX_QUEUE, not asking for more per-CPU SAs");
                } else {
                    tracing::info!(ike = ?self.id, %name, %reason, "no room for more per-CPU SAs, not asking for more");
                }
                full = self.group(cfg).on_max_queue(cpu);
            } else {
                self.group(cfg).finish(cpu);
            }
        }
        ctx.out.events.push_back(Event::ChildSaFailed {
            ike: self.id,
            name: name.clone(),
            resource: cpu,
            reason,
        });
        if full {
            ctx.out.events.push_back(Event::PerCpuGroupFull {
                ike: self.id,
                name: name.clone(),
                full: true,
            });
        }
    }

    /// The peer created a Child SA we cannot accept: report the failure and delete
    /// the peer's half with our inbound SPI (RFC 7296 §1.4.1), so nothing dangles.
    pub(super) fn reject_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        req: &ChildReq,
        reason: Error,
    ) {
        self.child_failed(ctx, now, req, reason);
        self.queue.push_front(Task::DeleteSpi(req.spi_in));
    }

    /// Initiator: completes a Child SA from a response (IKE_AUTH or CREATE_CHILD_SA).
    pub(crate) fn finish_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        mut req: ChildReq,
        inner: &[Payload],
        ni: &[u8],
        nr: &[u8],
    ) {
        if self.retry_with_peer_group(&req, inner) {
            return;
        }
        if let Some(n) = error_notify(inner) {
            self.child_failed(ctx, now, &req, notify_error(n.ty));
            return;
        }
        let acc = match self.accept_child_response(ctx, &mut req, inner, nr) {
            Ok(acc) => acc,
            Err(e) => {
                self.reject_child(ctx, now, &req, e);
                return;
            }
        };
        let resource = self.initiator_resource(&req, inner);
        let f = (req, acc, resource);
        let Some((req, acc, resource)) =
            self.start_initiator_followup(ctx, now, f, (ni, nr), inner)
        else {
            return;
        };
        self.complete_child(ctx, now, req, acc, resource, (ni, nr));
    }

    /// Initiator: derives the Child SA's keys and installs it.
    pub(super) fn complete_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        req: ChildReq,
        acc: ChildAccept,
        resource: Resource,
        (ni, nr): (&[u8], &[u8]),
    ) {
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let Some((keys_out, keys_in)) = child_keys(
            ctx.crypto,
            keys.prf,
            &keys.sk_d,
            &acc.esp,
            acc.gir.as_deref(),
            ni,
            &keymat_tail(nr, &acc.add_ke),
            true,
        ) else {
            self.reject_child(ctx, now, &req, Error::Unreachable("child key derivation"));
            return;
        };
        let spi_out = acc.spi_out;
        let new = NewChild {
            cfg: req.cfg,
            spi_in: req.spi_in,
            spi_out,
            resource,
            esp: acc.esp,
            mode: mode_of(acc.transport),
            ts: acc.ts,
            keys_in,
            keys_out,
            seq: req.seq,
            rekey_of: req.rekey,
        };
        let new_id = self.install_child(ctx, now, new);
        if let Some(old) = req.rekey {
            self.resolve_rekey(now, old, new_id, ni, nr);
        }
        if std::mem::take(&mut self.early_deletes).contains(&spi_out) {
            // The peer deleted this SA before our response arrived (its Delete
            // found nothing here): remove it too, or only we would keep it.
            tracing::info!(ike = ?self.id, %spi_out, "Child SA deleted by the peer before it was installed here");
            self.remove_child(ctx, new_id, None);
        }
    }

    /// INVALID_KE_PAYLOAD in a response: queues the request again with the
    /// group the peer wants, if we offer it (RFC 7296 §1.3). True if queued.
    fn retry_with_peer_group(&mut self, req: &ChildReq, inner: &[Payload]) -> bool {
        let Some(n) = find_notify(inner, NotifyType::INVALID_KE_PAYLOAD) else {
            return false;
        };
        let Ok(b) = <[u8; 2]>::try_from(n.data.as_slice()) else {
            return false;
        };
        // Retry once: only while we sent a group other than the one wanted.
        let want = KeId(u16::from_be_bytes(b));
        let sent = req.ke.as_ref().map(|k| k.group());
        let offered = self.conn().children[usize::from(req.cfg)]
            .esp_proposals
            .iter()
            .any(|p| p.ke.contains(&want));
        if !(offered && sent.is_some() && sent != Some(want)) {
            return false;
        }
        self.pfs_group = Some(want);
        let task = match req.rekey {
            Some(old) => {
                if let Some(o) = self.children.iter_mut().find(|x| x.id == old) {
                    o.state = ChildState::Installed;
                }
                Task::RekeyChild(old)
            }
            None => Task::CreateChild {
                cfg: req.cfg,
                cpu: req.cpu,
                seq: req.seq,
            },
        };
        self.queue.push_front(task);
        true
    }

    /// Checks a Child SA response against our request (RFC 7296 §1.3, §2.9):
    /// our cap, one offered ESP proposal, the nonce, the KE and selectors
    /// within those we offered that we can install.
    fn accept_child_response(
        &self,
        ctx: &Ctx<'_>,
        req: &mut ChildReq,
        inner: &[Payload],
        nr: &[u8],
    ) -> Result<ChildAccept, Error> {
        if req.rekey.is_none()
            && let Some(limit) = self.child_sa_cap_reached(ctx)
        {
            // The peer created SAs while ours was in flight: keep the cap.
            return Err(Error::ChildSaLimit(limit));
        }
        let conn = self.conn();
        let c = &conn.children[usize::from(req.cfg)];
        let in_auth = req.ni.is_empty();
        let offer = esp_offer(c, in_auth);
        let sel = get_sa(inner).and_then(|sa| match sa.proposals.as_slice() {
            [p] if p.protocol == ProtocolId::ESP => {
                let spi = p.spi_u32()?;
                let theirs = Proposal::from_wire(p)?;
                let sel = offer.iter().find_map(|o| o.intersect(&theirs))?;
                (theirs.encr.len() == 1).then_some((Spi(spi), sel))
            }
            _ => None,
        });
        let Some((spi_out, esp)) = sel else {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::ProposalNotOffered));
        };
        if !in_auth && nr.len() < Nonce::MIN_LEN {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::Invalid("Nonce")));
        }
        let gir = initiator_ke(esp.ke, req.ke.take(), get_ke(inner))?;
        let ts = self.accept_response_ts(req, c, inner)?;
        let transport =
            req.transport && find_notify(inner, NotifyType::USE_TRANSPORT_MODE).is_some();
        Ok(ChildAccept {
            spi_out,
            esp,
            gir,
            add_ke: SecretBytes::default(),
            ts,
            transport,
        })
    }

    /// The responder's selectors (TSi, TSr): present, within what we offered
    /// (RFC 7296 §2.9) and within the policy cap of the child config.
    fn accept_response_ts(
        &self,
        req: &ChildReq,
        c: &ChildConfig,
        inner: &[Payload],
    ) -> Result<(Vec<TrafficSelector>, Vec<TrafficSelector>), Error> {
        let (Some(tsi), Some(tsr)) = (ts_from(get_tsi(inner)), ts_from(get_tsr(inner))) else {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::MissingPayload("TS")));
        };
        if !ts_within(&tsi, &req.ts_i) || !ts_within(&tsr, &req.ts_r) {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::TsNotOffered));
        }
        if let Err(e) = selector::within_cap(&tsi, &tsr, c.max_policies) {
            tracing::warn!(ike = ?self.id, name = %c.name, error = %e, "deleting the Child SA: the responder's traffic selectors cannot be installed");
            return Err(Error::PeerIncompatible(e));
        }
        Ok((tsi, tsr))
    }

    /// The resource of the Child SA a response creates: the rekeyed SA's, or
    /// for a per-CPU creation what the peer's SA_RESOURCE_INFO echo tells the
    /// group (RFC 9611 §4).
    fn initiator_resource(&mut self, req: &ChildReq, inner: &[Payload]) -> Resource {
        let echoed = find_notify(inner, NotifyType::SA_RESOURCE_INFO);
        match req
            .rekey
            .and_then(|id| self.children.iter().find(|x| x.id == id))
        {
            Some(old) => old.resource,
            None if req.resource_notify => {
                if let Some(n) = echoed {
                    tracing::debug!(peer_resource = %per_resource::resource_info_display(&n.data), "received SA_RESOURCE_INFO");
                } else {
                    tracing::info!("peer didn't send SA_RESOURCE_INFO notify, creating regular SA");
                }
                self.group(req.cfg).on_created(req.cpu, echoed.is_some())
            }
            None => Resource::Plain,
        }
    }

    /// After our rekey of `old` produced `new`: delete the old SA, or on a lost
    /// collision (RFC 7296 §2.8.1: the exchange with the lowest nonce loses) ours.
    fn resolve_rekey(
        &mut self,
        now: Instant,
        old: ChildSaId,
        new: ChildSaId,
        ni: &[u8],
        nr: &[u8],
    ) {
        let Some(o) = self.children.iter_mut().find(|x| x.id == old) else {
            // The peer deleted the old SA meanwhile: keep the new one.
            return;
        };
        let ours_min = if ni < nr { ni } else { nr };
        let lost = o
            .collision
            .as_ref()
            .is_some_and(|c| ours_min < c.1.as_slice());
        o.replace(now, DELETE_REKEYED_DELAY);
        if lost {
            // The peer's SA replaces the old one; the peer deletes `old`, we delete ours.
            o.collision = None;
            self.queue.push_front(Task::DeleteChild(new));
        } else {
            o.collision = None;
            self.queue.push_front(Task::DeleteChild(old));
        }
    }

    /// Records a new Child SA and tells the daemon.
    fn install_child(&mut self, ctx: &mut Ctx<'_>, now: Instant, new: NewChild) -> ChildSaId {
        let NewChild {
            cfg,
            spi_in,
            spi_out,
            resource,
            esp,
            mode,
            ts,
            keys_in,
            keys_out,
            seq,
            rekey_of,
        } = new;
        let conn = self.conn();
        let c = &conn.children[usize::from(cfg)];
        let id = ctx.out.child_id();
        tracing::info!(
            ike = ?self.id, child = ?id, name = %c.name, %spi_in, %spi_out, resource = ?resource,
            rekey_of = ?rekey_of, "Child SA installed"
        );
        let encap_port = (c.per_cpu == PerCpu::Encap && resource.cpu().is_some() && self.nat)
            .then(|| 0xc000 | (ctx.rand_u32() as u16 & 0x3fff));
        let rekey_at = (!c.rekey_time.is_zero())
            .then(|| now + jittered(c.rekey_time, c.rekey_jitter, ctx.rand_u32()));
        let install = ChildSaInstall {
            ike: self.id,
            child: id,
            name: c.name.clone(),
            reqid: c.reqid,
            spi_in,
            spi_out,
            local: self.local,
            remote: self.remote,
            encap: self.nat.then(|| Encap {
                local_port: encap_port.unwrap_or(self.local.port()),
                remote_port: self.remote.port(),
            }),
            esp,
            keys_in,
            keys_out,
            local_ts: ts.0.clone(),
            remote_ts: ts.1.clone(),
            mode,
            soft_lifetime: c.rekey_time,
            hard_lifetime: c.life_time,
            volume: c.volume.jittered(|| ctx.rand_u32()),
            per_cpu: resource.per_cpu(),
            resource: resource.cpu(),
            acquire_seq: seq,
        };
        self.children.push(ChildSa {
            id,
            cfg,
            spi_in,
            spi_out,
            resource,
            state: ChildState::Installed,
            esp,
            mode,
            ts: Box::new(ts),
            rekey_at,
            encap_port,
            delete_at: None,
            collision: None,
        });
        ctx.out.events.push_back(match rekey_of {
            Some(old) => Event::ChildSaRekeyed { old, new: install },
            None => Event::ChildSaReady(install),
        });
        id
    }

    /// Responder: CREATE_CHILD_SA request (new Child SA, Child rekey or IKE rekey).
    pub(crate) fn handle_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        msg_id: u32,
        inner: &[Payload],
    ) {
        if get_sa(inner)
            .is_some_and(|sa| sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE))
        {
            self.respond_rekey_ike(ctx, now, msg_id, inner);
            return;
        }
        let ni = get_nonce(inner).map(|n| n.0.clone());
        let nr = ctx.crypto.random_nonce(NONCE_LEN).ok();
        let payloads = match (ni, nr) {
            (Some(ni), Some(nr)) if ni.len() >= Nonce::MIN_LEN => self
                .respond_child(ctx, now, inner, &ni, &nr, false)
                .unwrap_or_else(Refusal::into_payloads),
            _ => Refusal::of(NotifyType::INVALID_SYNTAX).into_payloads(),
        };
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &payloads);
    }

    /// Responder part of IKE_AUTH: the first Child SA's response payloads
    /// (or an error notify; the IKE SA stays up either way, RFC 7296 §1.2).
    pub(crate) fn respond_auth_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        inner: &[Payload],
        ni: &[u8],
        nr: &[u8],
    ) -> Vec<Payload> {
        self.respond_child(ctx, now, inner, ni, nr, true)
            .unwrap_or_else(Refusal::into_payloads)
    }

    /// Responder: refuses a creation beyond the Child SA cap with
    /// NO_ADDITIONAL_SAS (RFC 7296 §1.3). A rekey is allowed at the cap, unless
    /// the replaced SAs not yet deleted make the total twice the cap
    /// (TEMPORARY_FAILURE, §2.25: the peer retries later).
    fn child_room(&self, ctx: &Ctx<'_>, rekey: bool) -> Result<(), Refusal> {
        if !rekey {
            let Some(limit) = self.child_sa_cap_reached(ctx) else {
                return Ok(());
            };
            tracing::info!(ike = ?self.id, limit, "Child SA limit reached, answering NO_ADDITIONAL_SAS");
            return Err(Refusal::of(NotifyType::NO_ADDITIONAL_SAS));
        }
        let limit = self.conn().child_sa_limit(ctx.cfg.local_cpus);
        if self.children.len() >= 2 * limit as usize {
            return Err(Refusal::of(NotifyType::TEMPORARY_FAILURE));
        }
        Ok(())
    }

    /// Responder: a Child SA request (IKE_AUTH or CREATE_CHILD_SA) read,
    /// decided, installed and answered.
    fn respond_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        inner: &[Payload],
        ni: &[u8],
        nr: &[u8],
        in_auth: bool,
    ) -> Result<Vec<Payload>, Refusal> {
        let request = ChildRequest::parse(inner);
        let d = self.decide_child(ctx, &request, in_auth)?;
        let spi_in = new_spi(ctx).ok_or_else(|| Refusal::of(NotifyType::NO_ADDITIONAL_SAS))?;
        let mut payloads = response_payloads(&d, spi_in, (!in_auth).then_some(nr));
        if d.esp.additional().next().is_some() {
            payloads.push(self.keep_responder_followup(ctx, now, d, spi_in, (ni, nr))?);
        } else {
            self.install_decided(ctx, now, d, spi_in, (ni, nr))?;
        }
        Ok(payloads)
    }

    /// Responder: derives the Child SA's keys and installs it.
    pub(super) fn install_decided(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        d: ChildDecision,
        spi_in: Spi,
        (ni, nr): (&[u8], &[u8]),
    ) -> Result<(), Refusal> {
        let Some(keys) = self.keys.as_ref() else {
            return Err(Refusal::of(NotifyType::TEMPORARY_FAILURE));
        };
        let (keys_out, keys_in) = child_keys(
            ctx.crypto,
            keys.prf,
            &keys.sk_d,
            &d.esp,
            d.gir.as_deref(),
            ni,
            &keymat_tail(nr, &d.add_ke),
            false,
        )
        .ok_or_else(|| Refusal::of(NotifyType::NO_PROPOSAL_CHOSEN))?;
        let new = NewChild {
            cfg: d.cfg,
            spi_in,
            spi_out: d.spi_out,
            resource: d.resource,
            esp: d.esp,
            mode: mode_of(d.transport),
            ts: (d.ts_local, d.ts_remote),
            keys_in,
            keys_out,
            seq: None,
            rekey_of: d.rekey_of,
        };
        let new_id = self.install_child(ctx, now, new);
        if let Some(old) = d.rekey_of {
            self.note_peer_rekey(now, old, new_id, ni, nr);
        }
        Ok(())
    }

    /// Decides a Child SA request: the SA it rekeys, room under the cap, the
    /// child config and narrowed selectors, the proposal, the key exchange and
    /// the RFC 9611 resource.
    fn decide_child(
        &mut self,
        ctx: &Ctx<'_>,
        request: &ChildRequest<'_>,
        in_auth: bool,
    ) -> Result<ChildDecision, Refusal> {
        let rekey_of = self.rekey_target(request.rekey)?;
        self.child_room(ctx, rekey_of.is_some())?;
        let (Some(tsi), Some(tsr), Some(sa)) = (&request.tsi, &request.tsr, request.sa) else {
            return Err(Refusal::of(NotifyType::TS_UNACCEPTABLE));
        };
        let old = rekey_of.and_then(|id| self.children.iter().find(|c| c.id == id));
        let (old_cfg, old_resource) = (old.map(|o| o.cfg), old.map(|o| o.resource));
        let (cfg, ts_remote, ts_local) = self.pick_child_config(old_cfg, tsi, tsr)?;
        let conn = self.conn();
        let c = &conn.children[usize::from(cfg)];
        let (num, esp, spi_out) = select_esp(sa, &esp_offer(c, in_auth))?;
        let (gir, ke_out) = responder_ke(ctx.crypto, esp.ke, request.ke)?;
        let resource = match old_resource {
            Some(r) => r,
            None => self.new_child_resource(ctx, cfg, c, request.resource_info)?,
        };
        Ok(ChildDecision {
            cfg,
            rekey_of,
            ts_remote,
            ts_local,
            num,
            esp,
            spi_out,
            gir,
            add_ke: SecretBytes::default(),
            ke_out,
            resource,
            resource_notify: old_resource.is_none() && resource.per_cpu(),
            transport: c.mode == Mode::Transport && request.transport,
        })
    }

    /// The Child SA a REKEY_SA notify names (RFC 7296 §1.3.3), if any.
    fn rekey_target(&self, n: Option<&Notify>) -> Result<Option<ChildSaId>, Refusal> {
        let Some(n) = n else {
            return Ok(None);
        };
        let Some(spi) = n.spi_u32() else {
            return Err(Refusal::of(NotifyType::INVALID_SYNTAX));
        };
        match self.children.iter().find(|c| c.spi_out == Spi(spi)) {
            // RFC 7296 §2.25: while our own CREATE_CHILD_SA is outstanding
            // the SA may be the one it creates (its response not here yet).
            None if matches!(self.outstanding.as_deref(), Some(o) if matches!(o.pending, Pending::CreateChild(_))) => {
                Err(Refusal::of(NotifyType::TEMPORARY_FAILURE))
            }
            None => Err(Refusal::of(NotifyType::CHILD_SA_NOT_FOUND)),
            Some(c) if !c.is_live() => Err(Refusal::of(NotifyType::TEMPORARY_FAILURE)),
            Some(c) => Ok(Some(c.id)),
        }
    }

    /// The child config for a request: the rekeyed SA's (`only`), or the first
    /// whose selectors overlap the peer's; with the narrowed TSi and TSr
    /// (RFC 7296 §2.9), refused if they exceed the config's policy cap.
    fn pick_child_config(
        &self,
        only: Option<u16>,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> Result<(u16, Vec<TrafficSelector>, Vec<TrafficSelector>), Refusal> {
        let conn = self.conn();
        let picked = conn.children.iter().enumerate().find_map(|(i, c)| {
            if only.is_some_and(|o| usize::from(o) != i) {
                return None;
            }
            let (local, remote) = c.selectors(self.local.ip(), self.remote.ip());
            let ni_ = narrow(&remote, tsi);
            let nr_ = narrow(&local, tsr);
            (!ni_.is_empty() && !nr_.is_empty()).then_some((i, ni_, nr_))
        });
        let Some((cfg_idx, ts_remote, ts_local)) = picked else {
            return Err(Refusal::of(NotifyType::TS_UNACCEPTABLE));
        };
        let c = &conn.children[cfg_idx];
        if let Err(e) = selector::within_cap(&ts_local, &ts_remote, c.max_policies) {
            tracing::info!(ike = ?self.id, name = %c.name, error = %e, "answering TS_UNACCEPTABLE");
            return Err(Refusal::of(NotifyType::TS_UNACCEPTABLE));
        }
        let cfg = u16::try_from(cfg_idx).unwrap_or(u16::MAX);
        Ok((cfg, ts_remote, ts_local))
    }

    /// The resource of a Child SA the peer creates (RFC 9611 §4): a CPU of the
    /// per-CPU group if it asks for one, else plain. The request also tells
    /// the group whether the peer supports per-CPU SAs (for our own acquires).
    fn new_child_resource(
        &mut self,
        ctx: &Ctx<'_>,
        cfg: u16,
        c: &ChildConfig,
        asked: bool,
    ) -> Result<Resource, Refusal> {
        if !c.is_per_cpu() {
            return Ok(Resource::Plain);
        }
        let resource = if asked {
            self.assign_per_cpu(ctx, cfg, c)?
        } else {
            Resource::Plain
        };
        self.group(cfg).support = if resource.per_cpu() {
            per_resource::Support::Yes
        } else {
            per_resource::Support::No
        };
        Ok(resource)
    }

    /// A free CPU for a per-CPU Child SA the peer asks for, within the group's
    /// cap; TS_MAX_QUEUE beyond it (RFC 9611 §4.2, existing SAs untouched).
    fn assign_per_cpu(
        &self,
        ctx: &Ctx<'_>,
        cfg: u16,
        c: &ChildConfig,
    ) -> Result<Resource, Refusal> {
        // The cap holds whoever asks. When both sides ask at once, the
        // original initiator's creates in flight win: it counts them and
        // refuses, the original responder does not and accepts, so a
        // collision neither overshoots the cap nor refuses both requests.
        let ours = if self.initiator {
            self.groups
                .iter()
                .find(|g| g.cfg == cfg)
                .map_or(0, |g| g.per_cpu_count(&[]))
        } else {
            0
        };
        let cap = c.per_cpu_max.unwrap_or(ctx.cfg.local_cpus);
        let room = cap.saturating_sub(u32::try_from(ours).unwrap_or(u32::MAX));
        per_resource::assign(&self.resources(cfg), ctx.cfg.local_cpus, room).ok_or_else(|| {
            tracing::info!(ike = ?self.id, cap, "per-CPU group full, answering TS_MAX_QUEUE");
            Refusal::of(NotifyType::TS_MAX_QUEUE)
        })
    }

    /// After the peer's rekey of `old` produced `new`: remember it if our own
    /// rekey of `old` is in flight (RFC 7296 §2.8.1), else let the peer, the
    /// rekey's initiator, delete the old SA (§2.8).
    fn note_peer_rekey(
        &mut self,
        now: Instant,
        old: ChildSaId,
        new: ChildSaId,
        ni: &[u8],
        nr: &[u8],
    ) {
        let Some(o) = self.children.iter_mut().find(|c| c.id == old) else {
            return;
        };
        if o.state == ChildState::Rekeying {
            let min = if ni < nr { ni } else { nr };
            o.collision = Some(Box::new((new, min.to_vec())));
        } else {
            o.replace(now, DELETE_REKEYED_DELAY);
        }
    }

    /// Kernel expire (soft: rekey; hard: delete) for an SA with SPI `spi`.
    pub(crate) fn expire(&mut self, ctx: &mut Ctx<'_>, now: Instant, spi: Spi, hard: bool) -> bool {
        let Some(c) = self
            .children
            .iter()
            .find(|c| c.spi_in == spi || c.spi_out == spi)
        else {
            return false;
        };
        let task = if hard {
            Task::DeleteChild(c.id)
        } else {
            Task::RekeyChild(c.id)
        };
        if !self.queue.contains(&task) {
            self.queue.push_back(task);
        }
        self.kick(ctx, now);
        true
    }
}
