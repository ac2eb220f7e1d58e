//! One IKE SA: message IDs, retransmission, the request queue and dispatch of
//! each exchange (RFC 7296 §1, §2.1–§2.3).
//!
//! The exchanges themselves live in one file each: [`init`] (IKE_SA_INIT),
//! [`auth`] (IKE_AUTH), [`child`] (CREATE_CHILD_SA for Child SAs), [`rekey`]
//! (IKE SA rekey) and [`info`] (INFORMATIONAL).

mod auth;
pub(crate) mod cert;
mod child;
mod followup;
pub(crate) mod frag;
mod info;
mod init;
mod intermediate;
pub(crate) mod keys;
mod liveness;
mod moved;
mod rekey;
mod rekey_ke;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::child_sa::per_resource::{Acquire, Group};
use crate::child_sa::{ChildSa, Resource};
use crate::config::{ConnectionConfig, EndpointConfig, Identity};
use crate::connections::Connections;
use crate::crypto::CryptoProvider;
use crate::crypto::sk::OpenError;
use crate::error::Error;
use crate::event::{Event, Transmit};
use crate::ids::{ChildSaId, ConnId, CpuId, IkeSaId, IkeSpi};
use crate::proposal::Selected;
use crate::spi_pool::SpiPool;
use crate::timer::Retransmit;
use crate::wire::natt::add_marker;
use crate::wire::{ExchangeType, Flags, Header, Message, Notify, NotifyType, Payload};

pub(crate) use child::ChildReq;
#[cfg(test)]
pub(crate) use init::nat_hash;
pub(crate) use init::{InitPending, InitResponder, InitState};
use keys::SaKeys;
pub(crate) use rekey::IkeRekeyReq;

/// Endpoint-owned outputs and id counters shared by all IKE SAs.
#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) next_ike: u64,
    pub(crate) next_child: u64,
    /// IKE SAs created by an IKE rekey, to be registered by the endpoint.
    pub(crate) spawned: Vec<IkeSa>,
    /// IKE SAs that received INITIAL_CONTACT (RFC 7296 §2.4).
    pub(crate) initial_contact: Vec<IkeSaId>,
    /// Child SAs handed to another IKE SA after a lost IKE rekey collision.
    pub(crate) transfers: Vec<Transfer>,
    /// Losing collision successors to delete right after registration.
    pub(crate) doomed: Vec<IkeSaId>,
    /// IKE SAs that died during this call (the endpoint drops them).
    pub(crate) died: Vec<IkeSaId>,
    /// Key exchanges handed out for a worker pool ([`crate::KeJob`]).
    pub(crate) ke_jobs: VecDeque<crate::KeJob>,
    /// OCSP answers and the lookups IKE_AUTHs wait for.
    pub(crate) ocsp: crate::ocsp_job::OcspJobs,
    /// Inbound ESP SPIs in use.
    pub(crate) spis: SpiPool,
    /// What IKE fragmentation did (RFC 7383).
    pub(crate) frag: frag::FragStats,
    /// Exchanges and their failures.
    pub(crate) exchanges: crate::exchange_stats::ExchangeStats,
}

/// Everything an IKE SA passes to its successor (RFC 7296 §2.8.2).
pub(crate) struct Transfer {
    pub(crate) to: IkeSaId,
    pub(crate) children: Vec<ChildSa>,
    pub(crate) groups: Vec<Group>,
    pub(crate) queue: VecDeque<Task>,
    pub(crate) peer_id: Option<Identity>,
}

impl Outputs {
    pub(crate) fn child_id(&mut self) -> ChildSaId {
        self.next_child += 1;
        ChildSaId(self.next_child)
    }

    pub(crate) fn ike_id(&mut self) -> IkeSaId {
        self.next_ike += 1;
        IkeSaId(self.next_ike)
    }
}

/// A received datagram: its addresses and bytes.
struct Received<'a> {
    remote: SocketAddr,
    local: SocketAddr,
    datagram: &'a [u8],
    /// The inner payloads when reassembled from fragments (RFC 7383).
    plain: Option<Result<Vec<Payload>, OpenError>>,
}

impl Received<'_> {
    /// The inner payloads: reassembled, or from the datagram's SK payload.
    fn open(&self, keys: &SaKeys) -> Result<Vec<Payload>, OpenError> {
        match &self.plain {
            Some(p) => p.clone(),
            None => keys.unprotect(self.datagram),
        }
    }
}

/// A notify payload without SPI.
fn notify(ty: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(ty, data))
}

/// What every IKE SA method gets: configuration, crypto and the output queues.
pub(crate) struct Ctx<'a> {
    pub(crate) cfg: &'a EndpointConfig,
    pub(crate) conns: &'a Connections,
    pub(crate) crypto: &'a CryptoProvider,
    pub(crate) out: &'a mut Outputs,
    /// The daemon's wall clock: an instant and the Unix time then.
    pub(crate) wall: Option<(Instant, crate::pki::UnixTime)>,
}

impl Ctx<'_> {
    pub(crate) fn rand_u32(&self) -> u32 {
        let mut b = [0u8; 4];
        // A failing random source leaves zeros; callers only use this for jitter and ports.
        let _ = self.crypto.fill_random(&mut b);
        u32::from_be_bytes(b)
    }
}

/// Lifecycle of an IKE SA.
pub(crate) enum State {
    /// Initiator: IKE_SA_INIT sent.
    InitSent(Box<InitState>),
    /// Responder: IKE_SA_INIT accepted, its key exchange not done yet.
    InitPending(Box<InitPending>),
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    InitDone(Box<InitResponder>),
    /// Initiator: IKE_AUTH sent.
    AuthSent(Box<InitResponder>),
    /// IKE_AUTH completed.
    Established,
    /// Being deleted: only the Delete exchange remains.
    Closing,
    /// Replaced by its rekeyed successor (RFC 7296 §2.8): only the Delete
    /// exchange remains, and whatever ends it ends as [`Error::Rekeyed`].
    Replaced,
    /// Gone; the endpoint drops it.
    Dead,
}

/// Something this side wants to do when the window is free (window size 1, RFC 7296 §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// Create a Child SA of config `cfg` (for RFC 9611 groups: `cpu` None = fallback).
    CreateChild {
        cfg: u16,
        cpu: Option<CpuId>,
        seq: Option<u32>,
    },
    /// Rekey a Child SA (RFC 7296 §2.8).
    RekeyChild(ChildSaId),
    /// Delete a Child SA (RFC 7296 §1.4.1).
    DeleteChild(ChildSaId),
    /// Delete an SA the peer created but we rejected, by our inbound SPI.
    DeleteSpi(crate::ids::Spi),
    /// Rekey the IKE SA (RFC 7296 §2.18).
    RekeyIke,
    /// Delete the IKE SA.
    DeleteIke,
    /// Liveness check: empty INFORMATIONAL (RFC 7296 §2.4).
    Dpd,
}

/// What an outstanding request was, to interpret its response.
pub(crate) enum Pending {
    Init,
    Auth(Option<Box<ChildReq>>),
    /// IKE_INTERMEDIATE with our share of an additional key exchange (RFC 9370).
    Intermediate(Box<dyn crate::crypto::ke::ActiveKe>),
    /// IKE_FOLLOWUP_KE of a Child SA (RFC 9370 §2.2.4).
    FollowupKe(
        Box<followup::InitiatorFollowup>,
        Box<dyn crate::crypto::ke::ActiveKe>,
    ),
    CreateChild(Box<ChildReq>),
    RekeyIke(Box<IkeRekeyReq>),
    /// IKE_FOLLOWUP_KE of our IKE rekey (RFC 9370 §2.2.4).
    RekeyIkeFollowup(
        Box<rekey_ke::IkeRekeyKe>,
        Box<dyn crate::crypto::ke::ActiveKe>,
    ),
    DeleteChildren(Vec<ChildSaId>),
    DeleteIke,
    Dpd,
}

/// The one request in flight.
pub(crate) struct Outstanding {
    pub(crate) msg_id: u32,
    pub(crate) exchange: ExchangeType,
    /// Exactly what was sent (without the non-ESP marker), for retransmission.
    pub(crate) packet: Vec<u8>,
    /// Or, for a message sent as RFC 7383 fragments, every fragment.
    pub(crate) fragments: Vec<Vec<u8>>,
    pub(crate) rt: Retransmit,
    pub(crate) pending: Pending,
}

/// One IKE SA (RFC 7296 §1) and its Child SAs.
pub(crate) struct IkeSa {
    pub(crate) id: IkeSaId,
    pub(crate) conn: ConnId,
    /// The connection's config as it was when this SA (or the SA it rekeyed)
    /// was made; a replaced config applies to new IKE SAs.
    pub(crate) cfg: Arc<ConnectionConfig>,
    /// We are the original initiator (I flag).
    pub(crate) initiator: bool,
    pub(crate) spi_i: IkeSpi,
    pub(crate) spi_r: IkeSpi,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// Messages go over port 4500 with the non-ESP marker.
    pub(crate) natt: bool,
    /// A NAT was detected (or encapsulation forced): Child SAs use ESP-in-UDP.
    pub(crate) nat: bool,
    /// We are the side behind the NAT: send keepalives.
    pub(crate) behind_nat: bool,
    pub(crate) state: State,
    pub(crate) keys: Option<Box<SaKeys>>,
    pub(crate) ike_sel: Option<Selected>,
    pub(crate) peer_id: Option<Identity>,
    pub(crate) next_msg_id: u32,
    pub(crate) outstanding: Option<Box<Outstanding>>,
    pub(crate) queue: VecDeque<Task>,
    /// Message ID of the next request we expect from the peer.
    pub(crate) expect_msg_id: u32,
    /// Our last response (without marker; one datagram, or its fragments),
    /// resent for a retransmitted request.
    pub(crate) last_response: Vec<Vec<u8>>,
    pub(crate) children: Vec<ChildSa>,
    pub(crate) groups: Vec<Group>,
    pub(crate) rekey_at: Option<Instant>,
    pub(crate) dpd_at: Option<Instant>,
    pub(crate) keepalive_at: Option<Instant>,
    /// Deadline for a half-open SA (responder waiting for IKE_AUTH).
    pub(crate) expire_at: Option<Instant>,
    /// PFS group the peer asked for with INVALID_KE_PAYLOAD in CREATE_CHILD_SA.
    pub(crate) pfs_group: Option<crate::wire::KeId>,
    /// IkeSaUp was reported (or this is an initiator still connecting): its end is reported too.
    pub(crate) announced: bool,
    /// When IKE_AUTH (or the rekey that made this SA) completed.
    pub(crate) established_at: Option<Instant>,
    /// Simultaneous IKE rekey (RFC 7296 §2.8.2): the successor the peer's rekey
    /// created and the lowest nonce of that exchange.
    pub(crate) ike_collision: Option<Box<(IkeSaId, Vec<u8>)>>,
    /// ESP SPIs the peer deleted while our CREATE_CHILD_SA was outstanding
    /// (the Child SA it creates may be one of them), or while this was a bare
    /// collision successor (the Child SAs that move here may be).
    pub(crate) early_deletes: Vec<crate::ids::Spi>,
    /// The peer sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3).
    pub(crate) frag_peer: bool,
    /// The peer's fragmented messages being reassembled.
    pub(crate) defrag: frag::Defrag,
    /// Child SAs answered that wait for the peer's IKE_FOLLOWUP_KE.
    pub(crate) followups: Vec<followup::ResponderFollowup>,
    /// The peer's IKE rekey waiting for its IKE_FOLLOWUP_KE (RFC 9370 §2.2.4).
    pub(crate) ike_rekey_ke: Option<Box<rekey_ke::IkeRekeyKe>>,
    /// IKE_AUTH waiting for OCSP answers.
    pub(crate) parked: Option<Box<auth::Parked>>,
}

impl IkeSa {
    pub(crate) fn blank(
        id: IkeSaId,
        (conn, cfg): (ConnId, Arc<ConnectionConfig>),
        initiator: bool,
        local: SocketAddr,
        remote: SocketAddr,
        state: State,
    ) -> Self {
        Self {
            id,
            conn,
            cfg,
            initiator,
            spi_i: IkeSpi::ZERO,
            spi_r: IkeSpi::ZERO,
            local,
            remote,
            natt: false,
            nat: false,
            behind_nat: false,
            state,
            keys: None,
            ike_sel: None,
            peer_id: None,
            next_msg_id: 0,
            outstanding: None,
            queue: VecDeque::new(),
            expect_msg_id: 0,
            last_response: Vec::new(),
            children: Vec::new(),
            groups: Vec::new(),
            rekey_at: None,
            dpd_at: None,
            keepalive_at: None,
            expire_at: None,
            pfs_group: None,
            announced: initiator,
            established_at: None,
            ike_collision: None,
            early_deletes: Vec::new(),
            frag_peer: false,
            defrag: frag::Defrag::default(),
            followups: Vec::new(),
            ike_rekey_ke: None,
            parked: None,
        }
    }

    /// This SA's connection config (a cheap `Arc` clone, so `self` stays free).
    pub(crate) fn conn(&self) -> Arc<ConnectionConfig> {
        Arc::clone(&self.cfg)
    }

    /// Our own SPI (the one the endpoint indexes us by).
    pub(crate) fn local_spi(&self) -> IkeSpi {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing | State::Replaced)
    }

    pub(crate) fn is_replaced(&self) -> bool {
        matches!(self.state, State::Replaced)
    }

    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead)
    }

    /// Earliest timer of this SA.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.outstanding.as_ref().map(|o| o.rt.deadline);
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.expire_at);
        consider(self.defrag.deadline());
        consider(self.followup_deadline());
        if self.is_established() {
            consider(self.rekey_at);
            consider(self.dpd_at);
            consider(self.keepalive_at);
            for c in &self.children {
                consider(c.rekey_at);
                consider(c.delete_at);
            }
        }
        t
    }

    /// Sends `data` (without marker) to the peer.
    pub(crate) fn send(&self, ctx: &mut Ctx<'_>, data: &[u8]) {
        let mut d = data.to_vec();
        if self.natt {
            add_marker(&mut d);
        }
        ctx.out.transmits.push_back(Transmit {
            remote: self.remote,
            local: self.local,
            data: d,
        });
    }

    /// Sends every datagram of a message (RFC 7383 §2.6.1: all fragments).
    pub(crate) fn send_all(&self, ctx: &mut Ctx<'_>, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.send(ctx, d);
        }
    }

    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, msg_id: u32) -> Header {
        Header::new(
            self.spi_i.0,
            self.spi_r.0,
            exchange,
            Flags::new(self.initiator, response),
            msg_id,
        )
    }

    /// Encrypts and sends a request, making it the outstanding one.
    pub(crate) fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        exchange: ExchangeType,
        payloads: &[Payload],
        pending: Pending,
    ) {
        let msg_id = self.next_msg_id;
        let header = self.header(exchange, false, msg_id);
        if self.keys.is_none() {
            return;
        }
        let Ok(mut datagrams) = self.protect(ctx, header, payloads) else {
            tracing::warn!(ike = ?self.id, "failed to protect request");
            return;
        };
        self.next_msg_id = self.next_msg_id.wrapping_add(1);
        ctx.out.exchanges.request_sent(exchange);
        self.send_all(ctx, &datagrams);
        let packet = match datagrams.len() {
            1 => datagrams.pop().unwrap_or_default(),
            _ => Vec::new(),
        };
        self.outstanding = Some(Box::new(Outstanding {
            msg_id,
            exchange,
            packet,
            fragments: datagrams,
            rt: Retransmit::start(now, &ctx.cfg.retransmit),
            pending,
        }));
    }

    /// Encrypts, caches and sends a response to request `msg_id`.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        msg_id: u32,
        payloads: &[Payload],
    ) {
        let header = self.header(exchange, true, msg_id);
        if self.keys.is_none() {
            return;
        }
        let Ok(datagrams) = self.protect(ctx, header, payloads) else {
            tracing::warn!(ike = ?self.id, "failed to protect response");
            return;
        };
        ctx.out.exchanges.response_sent(exchange, payloads);
        self.send_all(ctx, &datagrams);
        self.last_response = datagrams;
    }

    /// Handles a datagram addressed to this SA (already decoded).
    pub(crate) fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) {
        let h = &msg.header;
        // The peer's I flag must be the opposite of our role.
        if h.flags.initiator() == self.initiator {
            return;
        }
        if h.exchange == ExchangeType::IKE_SA_INIT {
            if h.flags.response() {
                self.handle_init_response(ctx, now, remote, datagram, msg);
            } else if let Some(resp) = &self.last_response_init() {
                // Retransmitted IKE_SA_INIT request: resend our response.
                let r = resp.clone();
                self.send(ctx, &r);
            }
            return;
        }
        let rx = Received {
            remote,
            local,
            datagram,
            plain: None,
        };
        if matches!(msg.payloads.last(), Some(Payload::Skf(_))) {
            self.handle_fragment(ctx, now, &rx, msg);
        } else if h.flags.response() {
            self.handle_protected_response(ctx, now, &rx, h);
        } else {
            self.handle_protected_request(ctx, now, &rx, h);
        }
    }

    /// A protected response: handled if it answers our outstanding request.
    fn handle_protected_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        rx: &Received<'_>,
        h: &Header,
    ) {
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let Some(o) = &self.outstanding else {
            return;
        };
        if o.msg_id != h.message_id || o.exchange != h.exchange {
            return;
        }
        let inner = match rx.open(keys) {
            Ok(inner) => inner,
            Err(OpenError::Invalid(e)) => {
                // Authentic but malformed: the retransmit timer stays armed.
                tracing::warn!(ike = ?self.id, error = %e, "malformed protected response dropped");
                return;
            }
            Err(_) => return,
        };
        self.note_peer_address(ctx, rx.remote, rx.local);
        self.on_alive(now);
        let Some(o) = self.outstanding.take() else {
            return;
        };
        ctx.out.exchanges.response_received(o.exchange, &inner);
        match o.pending {
            Pending::Intermediate(ke) => {
                self.handle_intermediate_response(ctx, now, ke, &inner, rx.datagram);
            }
            p => self.handle_response(ctx, now, p, &inner),
        }
        self.kick(ctx, now);
    }

    /// A protected request: the message ID window and retransmissions
    /// (RFC 7296 §2.1, §2.2), decryption, then the exchange's handler.
    fn handle_protected_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        rx: &Received<'_>,
        h: &Header,
    ) {
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        // RFC 7296 §1.4: INFORMATIONAL (like CREATE_CHILD_SA) only after the
        // initial exchanges; until our IKE_AUTH completes, leave the message
        // ID unused so the peer retransmits it once we are established.
        let initial = [ExchangeType::IKE_AUTH, ExchangeType::IKE_INTERMEDIATE];
        if !initial.contains(&h.exchange) && !self.is_established() && !self.is_closing() {
            return;
        }
        let id = h.message_id;
        if id == self.expect_msg_id.wrapping_sub(1) && self.expect_msg_id != 0 {
            // Retransmission: resend the cached response if the request is authentic.
            // Authentic (a good ICV), even if its payloads were malformed.
            let authentic = match &rx.plain {
                Some(p) => matches!(p, Ok(_) | Err(OpenError::Invalid(_))),
                None => self.authentic_request(rx.datagram),
            };
            if authentic {
                let r = self.last_response.clone();
                self.send_all(ctx, &r);
            }
            return;
        }
        if id != self.expect_msg_id {
            return;
        }
        let inner = match rx.open(keys) {
            Ok(inner) => inner,
            Err(OpenError::Invalid(e)) => {
                // RFC 7296 §2.21.2, §3.10.1: an authentic request with a
                // syntax error is answered with INVALID_SYNTAX.
                tracing::warn!(ike = ?self.id, error = %e, "malformed protected request");
                self.expect_msg_id = self.expect_msg_id.wrapping_add(1);
                let n = notify(NotifyType::INVALID_SYNTAX, Vec::new());
                self.send_response(ctx, h.exchange, id, &[n]);
                return;
            }
            Err(_) => return,
        };
        self.expect_msg_id = self.expect_msg_id.wrapping_add(1);
        self.note_peer_address(ctx, rx.remote, rx.local);
        self.on_alive(now);
        // RFC 7296 §2.5: a critical payload we do not understand rejects the message.
        let critical = inner.iter().find_map(|p| match p {
            Payload::Unknown(u) if u.critical => Some(u.ty),
            _ => None,
        });
        if let Some(ty) = critical {
            let n = notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty.0]);
            self.send_response(ctx, h.exchange, id, &[n]);
            return;
        }
        if h.exchange == ExchangeType::IKE_INTERMEDIATE {
            self.handle_intermediate_request(ctx, id, &inner, rx.datagram);
        } else {
            self.dispatch_request(ctx, now, h.exchange, id, &inner);
        }
        self.kick(ctx, now);
    }

    /// An authentic request we understand, to the handler of its exchange.
    fn dispatch_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        exchange: ExchangeType,
        id: u32,
        inner: &[Payload],
    ) {
        match exchange {
            ExchangeType::IKE_AUTH => self.handle_auth_request(ctx, now, id, inner),
            ExchangeType::CREATE_CHILD_SA if self.is_established() && !self.announced => {
                // The successor of an unresolved IKE rekey collision (§2.8.2) owns
                // no Child SAs yet: the peer retries later (RFC 7296 §2.25).
                let n = notify(NotifyType::TEMPORARY_FAILURE, Vec::new());
                self.send_response(ctx, exchange, id, &[n]);
            }
            ExchangeType::CREATE_CHILD_SA if self.is_established() => {
                self.handle_create_child_request(ctx, now, id, inner)
            }
            ExchangeType::INFORMATIONAL => self.handle_info_request(ctx, now, id, inner),
            ExchangeType::IKE_FOLLOWUP_KE if self.is_established() => {
                self.handle_followup_request(ctx, now, id, inner)
            }
            _ => {
                // Unknown exchange or wrong state: answer with an empty response so the
                // peer's window moves on (RFC 7296 §1.5 allows INVALID_SYNTAX; we stay quiet).
                self.send_response(ctx, exchange, id, &[]);
            }
        }
    }

    fn last_response_init(&self) -> Option<Vec<u8>> {
        match &self.state {
            State::InitDone(r) => Some(r.response.clone()),
            _ => None,
        }
    }

    /// The peer moved to another address/port (NAT-T float, RFC 7296 §2.23).
    fn note_peer_address(&mut self, ctx: &mut Ctx<'_>, remote: SocketAddr, local: SocketAddr) {
        if local.port() == ctx.cfg.nat_port && !self.natt {
            self.natt = true;
            self.local = local;
        }
        self.move_peer(ctx, remote);
    }

    fn on_alive(&mut self, now: Instant) {
        let dpd = self.conn().dpd_delay;
        if !dpd.is_zero() {
            self.dpd_at = Some(now + dpd);
        }
    }

    fn handle_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        pending: Pending,
        inner: &[Payload],
    ) {
        match pending {
            Pending::Init | Pending::Intermediate(_) => {}
            Pending::FollowupKe(f, ke) => self.handle_followup_response(ctx, now, f, ke, inner),
            Pending::Auth(child) => self.handle_auth_response(ctx, now, child, inner),
            Pending::CreateChild(req) => self.handle_create_child_response(ctx, now, *req, inner),
            Pending::RekeyIke(req) => self.handle_rekey_ike_response(ctx, now, *req, inner),
            Pending::RekeyIkeFollowup(st, ke) => {
                self.handle_ike_followup_response(ctx, now, st, ke, inner);
            }
            Pending::DeleteChildren(ids) => self.handle_delete_children_response(ctx, &ids),
            Pending::DeleteIke => {
                let r = if self.is_replaced() {
                    Error::Rekeyed
                } else {
                    Error::ClosedLocally
                };
                self.die(ctx, r);
            }
            Pending::Dpd => {}
        }
    }

    /// Starts the next queued task if the window is free.
    pub(crate) fn kick(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        while self.outstanding.is_none() && self.is_established() {
            let Some(task) = self.queue.pop_front() else {
                self.schedule_precreate(ctx.cfg.local_cpus);
                if self.queue.is_empty() {
                    return;
                }
                continue;
            };
            self.start_task(ctx, now, task);
        }
    }

    fn start_task(&mut self, ctx: &mut Ctx<'_>, now: Instant, task: Task) {
        match task {
            Task::CreateChild { cfg, cpu, seq } => self.start_create_child(ctx, now, cfg, cpu, seq),
            Task::RekeyChild(id) => self.start_rekey_child(ctx, now, id),
            Task::DeleteChild(id) => self.start_delete_children(ctx, now, vec![id]),
            Task::DeleteSpi(spi) => self.send_request(
                ctx,
                now,
                ExchangeType::INFORMATIONAL,
                &[Payload::Delete(crate::wire::Delete::esp(vec![spi.0]))],
                Pending::DeleteChildren(Vec::new()),
            ),
            Task::RekeyIke => self.start_rekey_ike(ctx, now),
            Task::DeleteIke => self.start_delete_ike(ctx, now),
            Task::Dpd => {
                self.send_request(ctx, now, ExchangeType::INFORMATIONAL, &[], Pending::Dpd);
                self.limit_dpd(now);
            }
        }
    }

    /// Timers: retransmission, rekeys, DPD, NAT keepalive, half-open expiry.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        self.defrag.expire(now);
        if self.expire_at.is_some_and(|t| t <= now) {
            self.expire_at = None;
            let reason = if self.is_replaced() {
                Error::Rekeyed
            } else {
                Error::Timeout
            };
            self.die(ctx, reason);
            return;
        }
        if let Some(o) = self.outstanding.as_mut()
            && o.rt.deadline <= now
        {
            if o.rt.on_expiry(now, &ctx.cfg.retransmit) {
                let p = if o.fragments.is_empty() {
                    vec![o.packet.clone()]
                } else {
                    o.fragments.clone()
                };
                self.send_all(ctx, &p);
            } else {
                ctx.out.exchanges.timed_out(o.exchange);
                // Our crossing IKE rekey went unanswered: the peer's stands (RFC 7296 §2.8.2).
                if self.ike_collision.is_some() {
                    self.rekey_ike_failed(ctx, now);
                }
                let reason = self.init_give_up_reason();
                self.die(ctx, reason);
                return;
            }
        }
        if !self.is_established() {
            return;
        }
        self.expire_followups(ctx, now);
        if self.rekey_at.is_some_and(|t| t <= now) {
            self.rekey_at = None;
            if !self.queue.contains(&Task::RekeyIke) {
                self.queue.push_back(Task::RekeyIke);
            }
        }
        if self.dpd_at.is_some_and(|t| t <= now) {
            self.dpd_at = None;
            if self.outstanding.is_none() && self.queue.is_empty() {
                self.queue.push_back(Task::Dpd);
            }
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = Some(now + ctx.cfg.nat_keepalive);
            ctx.out.transmits.push_back(Transmit {
                remote: self.remote,
                local: self.local,
                data: crate::wire::natt::KEEPALIVE.to_vec(),
            });
        }
        for i in 0..self.children.len() {
            let c = &mut self.children[i];
            let id = c.id;
            if c.rekey_at.is_some_and(|t| t <= now) {
                c.rekey_at = None;
                if !self.queue.contains(&Task::RekeyChild(id)) {
                    self.queue.push_back(Task::RekeyChild(id));
                }
            }
            if c.delete_at.is_some_and(|t| t <= now) {
                // The peer never deleted the SA it rekeyed: do it ourselves.
                c.delete_at = None;
                if !self.queue.contains(&Task::DeleteChild(id)) {
                    tracing::info!(ike = ?self.id, child = ?id, "rekeyed Child SA not deleted by the peer, deleting it");
                    self.queue.push_back(Task::DeleteChild(id));
                }
            }
        }
        self.kick(ctx, now);
    }

    /// Tears the SA down: every Child SA is reported deleted, then the IKE SA.
    pub(crate) fn die(&mut self, ctx: &mut Ctx<'_>, reason: Error) {
        if self.is_dead() {
            return;
        }
        // A replaced SA's end is part of the rekey, whatever ends it.
        let reason = if self.is_replaced() {
            Error::Rekeyed
        } else {
            reason
        };
        for c in self.children.drain(..) {
            ctx.out
                .events
                .push_back(child::deleted_event(self.id, &c, &self.cfg, None));
        }
        // Groups still here (not handed to a rekey successor) end with the SA.
        let conn = self.conn();
        for g in &mut self.groups {
            if g.on_deleted() {
                ctx.out.events.push_back(Event::PerCpuGroupFull {
                    ike: self.id,
                    name: conn.children[usize::from(g.cfg)].name.clone(),
                    full: false,
                });
            }
        }
        self.outstanding = None;
        self.queue.clear();
        tracing::info!(ike = ?self.id, spi_i = %self.spi_i, spi_r = %self.spi_r, %reason, "IKE SA down");
        // A responder SA that never got IKE_AUTH, or a losing rekey successor, was
        // never announced: stay quiet.
        let announced =
            self.announced && !matches!(self.state, State::InitDone(_) | State::InitPending(_));
        self.state = State::Dead;
        self.keys = None;
        ctx.out.died.push(self.id);
        if announced {
            ctx.out.events.push_back(Event::IkeSaDown {
                ike: self.id,
                conn: self.conn,
                reason,
            });
        }
    }

    /// The connection's Child SA cap, if the live Child SAs reached it (RFC 7296
    /// §1.3). Replaced and dying SAs do not count: they are on their way out.
    pub(crate) fn child_sa_cap_reached(&self, ctx: &Ctx<'_>) -> Option<u32> {
        let limit = self.conn().child_sa_limit(ctx.cfg.local_cpus);
        let live = self.children.iter().filter(|c| c.is_live()).count();
        (live >= limit as usize).then_some(limit)
    }

    /// Resources of the live SAs of child config `cfg` (for RFC 9611 decisions).
    pub(crate) fn resources(&self, cfg: u16) -> Vec<Resource> {
        self.children
            .iter()
            .filter(|c| c.cfg == cfg && c.is_live())
            .map(|c| c.resource)
            .collect()
    }

    pub(crate) fn group(&mut self, cfg: u16) -> &mut Group {
        if let Some(i) = self.groups.iter().position(|g| g.cfg == cfg) {
            return &mut self.groups[i];
        }
        self.groups.push(Group::new(cfg));
        let n = self.groups.len() - 1;
        &mut self.groups[n]
    }

    /// Kernel acquire for child config `cfg` (RFC 9611 on-demand, or a plain trap).
    pub(crate) fn acquire(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        cfg: u16,
        cpu: Option<CpuId>,
        seq: Option<u32>,
    ) {
        let conn = self.conn();
        let c = &conn.children[usize::from(cfg)];
        let installed = self.resources(cfg);
        if c.is_per_cpu() {
            let cap = c.per_cpu_max.unwrap_or(ctx.cfg.local_cpus);
            match self.group(cfg).on_acquire(cpu, &installed, cap) {
                Acquire::Create(req) => {
                    self.queue
                        .push_back(Task::CreateChild { cfg, cpu: req, seq })
                }
                Acquire::Ignore => return,
                Acquire::Full => {
                    // RFC 9611 §4.2: at the cap the other CPUs use the fallback SA.
                    tracing::info!(ike = ?self.id, name = %c.name, cap, "per-CPU group at per_cpu_max, not asking for more");
                    ctx.out.events.push_back(Event::PerCpuGroupFull {
                        ike: self.id,
                        name: c.name.clone(),
                        full: true,
                    });
                    return;
                }
            }
        } else {
            let queued = self
                .queue
                .iter()
                .any(|t| matches!(t, Task::CreateChild { cfg: c, .. } if *c == cfg));
            let in_flight = matches!(
                self.outstanding.as_deref().map(|o| &o.pending),
                Some(Pending::CreateChild(r)) if r.cfg == cfg
            ) || matches!(
                self.outstanding.as_deref().map(|o| &o.pending),
                Some(Pending::Auth(Some(r))) if r.cfg == cfg
            ) || matches!(&self.state, State::InitSent(s) if s.first_child.as_ref().is_some_and(|t| matches!(t, Task::CreateChild { cfg: c, .. } if *c == cfg)));
            if !installed.is_empty() || queued || in_flight {
                return;
            }
            self.queue.push_back(Task::CreateChild {
                cfg,
                cpu: None,
                seq,
            });
        }
        self.kick(ctx, now);
    }

    /// Precreate mode: queue the next per-CPU SA of each group, one at a time.
    fn schedule_precreate(&mut self, local_cpus: u32) {
        let conn = self.conn();
        for (i, c) in conn.children.iter().enumerate() {
            let crate::config::PerCpuMode::Precreate(cpus) = &c.per_cpu_mode else {
                continue;
            };
            if !c.is_per_cpu() {
                continue;
            }
            let cfg = u16::try_from(i).unwrap_or(u16::MAX);
            let installed = self.resources(cfg);
            let cap = c.per_cpu_max.unwrap_or(local_cpus);
            if let Some(cpu) = self.group(cfg).next_precreate(cpus, &installed, cap) {
                self.queue.push_back(Task::CreateChild {
                    cfg,
                    cpu: Some(cpu),
                    seq: None,
                });
                return;
            }
        }
    }

    /// Approximate heap bytes this SA holds beyond the key material (for the memory test).
    pub(crate) fn heap_bytes(&self) -> usize {
        let mut n = self.children.capacity() * size_of::<ChildSa>();
        for c in &self.children {
            n += size_of_val(&*c.ts)
                + (c.ts.0.capacity() + c.ts.1.capacity())
                    * size_of::<crate::config::TrafficSelector>();
        }
        n += self.groups.capacity() * size_of::<Group>();
        for g in &self.groups {
            n += g.pending.capacity() * size_of::<Option<CpuId>>();
        }
        n += self.queue.capacity() * size_of::<Task>();
        n += self.last_response.iter().map(Vec::capacity).sum::<usize>();
        n += self.defrag.heap_bytes();
        n += match &self.state {
            State::InitDone(r) | State::AuthSent(r) => {
                size_of::<InitResponder>()
                    + r.request.capacity()
                    + r.response.capacity()
                    + r.ni.capacity()
                    + r.nr.capacity()
            }
            State::InitSent(st) => {
                size_of::<InitState>()
                    + st.ni.capacity()
                    + st.cookie.as_ref().map_or(0, Vec::capacity)
            }
            _ => 0,
        };
        if self.keys.is_some() {
            n += size_of::<SaKeys>();
        }
        if let Some(o) = &self.outstanding {
            n += size_of::<Outstanding>() + o.packet.capacity();
            n += o.fragments.iter().map(Vec::capacity).sum::<usize>();
        }
        if let Some(Identity::Fqdn(s) | Identity::Email(s)) = &self.peer_id {
            n += s.capacity();
        }
        n
    }
}
