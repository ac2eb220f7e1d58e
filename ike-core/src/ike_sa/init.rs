//! IKE_SA_INIT (RFC 7296 §1.2): proposals, KE, nonces, COOKIE and
//! INVALID_KE_PAYLOAD retries (§1.3, §2.6), NAT detection (§2.23). Responses
//! are unauthenticated (§2.21.1): the initiator ignores unusable ones and keeps
//! retransmitting, failing with the last one's reason when the budget runs out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use sha1::{Digest, Sha1};

use super::cert::PeerSig;
use super::intermediate::Intermediate;
use super::keys::SaKeys;
use super::{Ctx, IkeSa, Outstanding, Pending, State, Task, notify};
use crate::config::{ConnectionConfig, Fragmentation};
use crate::crypto::ke::ActiveKe;
use crate::crypto::keymat::skeyseed;
use crate::error::{Error, PeerIncompatible, PeerMisbehaved};
use crate::ids::{ConnId, IkeSaId, IkeSpi};
use crate::ke_job::{KeJob, KeResult};
use crate::proposal::{Proposal, Selected};
use crate::timer::Retransmit;
use crate::wire::natt::NATT_PORT;
use crate::wire::{
    ExchangeType, Flags, Header, Ke, KeId, Message, Nonce, Notify, NotifyType, Payload, ProtocolId,
    Sa,
};

/// Nonce length we send (strongSwan: 32 bytes; RFC 7296 §2.10).
pub(crate) const NONCE_LEN: usize = 32;
/// COOKIE restarts accepted for one initiation (RFC 7296 §2.6); later COOKIEs
/// are ignored like any other unauthenticated answer.
const MAX_COOKIES: u8 = 3;
/// INVALID_KE_PAYLOAD restarts accepted for one initiation (RFC 7296 §1.3).
const MAX_KE_RETRIES: u8 = 3;
/// Longest COOKIE data (RFC 7296 §3.10.1: 1 to 64 bytes).
const MAX_COOKIE_LEN: usize = 64;

/// Initiator state while IKE_SA_INIT is outstanding.
pub(crate) struct InitState {
    pub(crate) ke: Box<dyn ActiveKe>,
    pub(crate) ni: Vec<u8>,
    pub(crate) cookie: Option<Vec<u8>>,
    /// COOKIE restarts so far.
    pub(crate) cookies: u8,
    /// INVALID_KE_PAYLOAD restarts so far.
    pub(crate) ke_retries: u8,
    /// Why the last unauthenticated response was ignored: the reason we fail
    /// with if the retransmissions run out (RFC 7296 §2.21.1).
    pub(crate) ignored: Option<Error>,
    /// The Child SA to create in IKE_AUTH.
    pub(crate) first_child: Option<Task>,
}

/// What an IKE_SA_INIT response leads to.
enum InitVerdict {
    /// Send IKE_SA_INIT again (with a COOKIE or another KE group).
    Restart,
    /// Drop it and keep waiting; fail with this reason if nothing better comes.
    Ignore(Error),
    /// A real answer: derive the keys.
    Proceed,
}

impl InitState {
    /// RFC 7296 §2.21.1: a response to IKE_SA_INIT is not authenticated, so an
    /// error in it (or an unusable COOKIE / INVALID_KE_PAYLOAD) does not end the
    /// initiation while retransmissions are pending; a forged one would
    /// otherwise abort a handshake whose real answer is still on its way.
    fn on_response(
        &mut self,
        conn: &ConnectionConfig,
        crypto: &crate::crypto::CryptoProvider,
        msg: &Message,
    ) -> InitVerdict {
        if let Some(c) = msg.notify(NotifyType::COOKIE) {
            return self.on_cookie(&c.data);
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            return self.on_invalid_ke(conn, crypto, &n.data);
        }
        match msg.error_notify() {
            Some(n) if n.ty == NotifyType::NO_PROPOSAL_CHOSEN => {
                InitVerdict::Ignore(Error::PeerIncompatible(PeerIncompatible::NoProposalChosen))
            }
            Some(n) => InitVerdict::Ignore(Error::NotifyReceived(n.ty.0)),
            None => InitVerdict::Proceed,
        }
    }

    /// RFC 7296 §2.6: restart with the cookie, at most [`MAX_COOKIES`] times. A
    /// responder (or a forger) that keeps asking is ignored rather than obeyed
    /// or allowed to abort us: we keep retransmitting the last request, and a
    /// real answer to it can still complete the exchange. Restarts keep the
    /// retransmission budget, so a COOKIE loop ends within one budget. A forged
    /// COOKIE that is obeyed can still spoil the handshake if the responder
    /// answered an earlier request (IKE_AUTH signs the last one): without
    /// authentication this is the most an initiator can do.
    fn on_cookie(&mut self, data: &[u8]) -> InitVerdict {
        if data.is_empty() || data.len() > MAX_COOKIE_LEN {
            return InitVerdict::Ignore(Error::PeerMisbehaved(PeerMisbehaved::Invalid(
                "COOKIE length (RFC 7296 §3.10.1: 1 to 64 bytes)",
            )));
        }
        if self.cookies >= MAX_COOKIES {
            return InitVerdict::Ignore(Error::PeerMisbehaved(PeerMisbehaved::Invalid(
                "COOKIE (asked more than 3 times for one IKE_SA_INIT)",
            )));
        }
        self.cookies += 1;
        self.cookie = Some(data.to_vec());
        InitVerdict::Restart
    }

    /// RFC 7296 §1.3: restart with the group the responder wants, if we offered
    /// it and did not use it already; anything else is ignored.
    fn on_invalid_ke(
        &mut self,
        conn: &ConnectionConfig,
        crypto: &crate::crypto::CryptoProvider,
        data: &[u8],
    ) -> InitVerdict {
        let want = <[u8; 2]>::try_from(data).map(|b| KeId(u16::from_be_bytes(b)));
        let ok = want.ok().filter(|g| {
            conn.ike_proposals.iter().any(|p| p.ke.contains(g)) && *g != self.ke.group()
        });
        let started = ok.and_then(|g| crypto.ke(g).and_then(|g| g.start(&*crypto.random)).ok());
        match started {
            Some(ke) if self.ke_retries < MAX_KE_RETRIES => {
                self.ke_retries += 1;
                self.ke = ke;
                InitVerdict::Restart
            }
            _ => InitVerdict::Ignore(Error::PeerIncompatible(PeerIncompatible::NoKeGroup)),
        }
    }
}

/// Both roles between IKE_SA_INIT and IKE_AUTH: what AUTH signs (RFC 7296 §2.15).
/// Responder: IKE_SA_INIT accepted, its key exchange not done yet.
pub(crate) struct InitPending {
    /// The IKE_SA_INIT request as received (RealMessage1).
    pub(crate) request: Vec<u8>,
    pub(crate) ni: Vec<u8>,
    /// Number of the chosen proposal.
    pub(crate) num: u8,
    pub(crate) sel: Selected,
    /// NAT detected (we are behind one, the peer is).
    pub(crate) nat: (bool, bool),
    /// The request carried NAT_DETECTION_*_IP, so the response does too.
    pub(crate) nat_notify: bool,
    /// The initiator's SIGNATURE_HASH_ALGORITHMS and CERTREQ.
    pub(crate) peer_sig: PeerSig,
    /// The request carried INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242 §3.1).
    pub(crate) intermediate: bool,
}

/// The IKE_SA_INIT response, the IKE SA's keys and our nonce Nr.
type InitAnswer = (Vec<u8>, SaKeys, Vec<u8>);

/// What the responder chose from an IKE_SA_INIT request.
struct InitChoice {
    ni: Vec<u8>,
    num: u8,
    sel: Selected,
    group: KeId,
    peer_ke: Vec<u8>,
}

/// A stateless IKE_SA_INIT error answer carrying one notify (RFC 7296 §2.21.1).
fn init_error(spi_i: u64, ty: NotifyType, data: Vec<u8>) -> Vec<u8> {
    Message {
        header: Header::new(
            spi_i,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(false, true),
            0,
        ),
        payloads: vec![Payload::Notify(Notify::new(ty, data))],
    }
    .to_bytes()
}

/// Responder: parses an IKE_SA_INIT request and chooses its proposal and
/// group (RFC 7296 §1.2, §2.7); the error is the notify to answer with.
fn choose_init(
    ctx: &Ctx<'_>,
    c: &ConnectionConfig,
    msg: &Message,
) -> Result<InitChoice, (NotifyType, Vec<u8>)> {
    let (Some(sa), Some(ke), Some(ni)) = (msg.sa(), msg.ke(), msg.nonce()) else {
        return Err((NotifyType::INVALID_SYNTAX, Vec::new()));
    };
    if ni.0.len() < Nonce::MIN_LEN || ni.0.len() > Nonce::MAX_LEN {
        return Err((NotifyType::INVALID_SYNTAX, Vec::new()));
    }
    let offered: Vec<(u8, Proposal)> = sa
        .proposals
        .iter()
        .filter(|p| p.protocol == ProtocolId::IKE)
        .filter_map(|p| Proposal::from_wire(p).map(|x| (p.num, x)))
        .collect();
    let supported = &c.ike_proposals;
    let Some((num, mut sel)) = Proposal::select(supported, &offered) else {
        return Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()));
    };
    // Prefer the group the initiator already sent, if acceptable to both.
    let theirs = offered.iter().find(|(n, _)| *n == num).map(|(_, p)| p);
    let with_theirs = Selected {
        ke: Some(ke.group),
        ..sel
    };
    if theirs.is_some_and(|t| t.ke.contains(&ke.group))
        && supported
            .iter()
            .any(|o| o.ke.contains(&ke.group) && o.allows(&with_theirs))
    {
        sel.ke = Some(ke.group);
    }
    let group = sel.ke.unwrap_or_default();
    if ke.group != group {
        return Err((
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        ));
    }
    if ctx.crypto.ke(group).is_err() || sel.additional().any(|k| ctx.crypto.ke(k).is_err()) {
        return Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()));
    }
    // RFC 9370 §2.2.1: additional key exchanges need IKE_INTERMEDIATE.
    let intermediate = msg
        .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
        .is_some();
    if sel.additional().next().is_some() && !intermediate {
        return Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()));
    }
    Ok(InitChoice {
        ni: ni.0.clone(),
        num,
        sel,
        group,
        peer_ke: ke.data.clone(),
    })
}

pub(crate) struct InitResponder {
    /// The IKE_SA_INIT request as sent (RealMessage1).
    pub(crate) request: Vec<u8>,
    /// The IKE_SA_INIT response as sent (RealMessage2).
    pub(crate) response: Vec<u8>,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    pub(crate) first_child: Option<Task>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS and CERTREQ.
    pub(crate) peer_sig: PeerSig,
    /// IKE_INTERMEDIATE exchanges (RFC 9242, RFC 9370) before IKE_AUTH.
    pub(crate) inter: Intermediate,
}

/// NAT_DETECTION_*_IP data: SHA-1(SPIi ‖ SPIr ‖ IP ‖ port) (RFC 7296 §2.23).
pub(crate) fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(addr.port().to_be_bytes());
    h.finalize().to_vec()
}

fn nat_notifies(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    fake_src: Option<Vec<u8>>,
) -> [Payload; 2] {
    [
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            fake_src.unwrap_or_else(|| nat_hash(spi_i, spi_r, local)),
        )),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(spi_i, spi_r, remote),
        )),
    ]
}

/// Whether (we are behind a NAT, the peer is) per the peer's NAT-D notifies.
/// Missing notifies mean no NAT detection (no NAT assumed).
fn detect_nat(
    msg: &Message,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> (bool, bool) {
    let src: Vec<&Notify> = msg
        .notifies()
        .filter(|n| n.ty == NotifyType::NAT_DETECTION_SOURCE_IP)
        .collect();
    let dst = msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP);
    let (Some(dst), false) = (dst, src.is_empty()) else {
        return (false, false);
    };
    let peer_behind = !src.iter().any(|n| n.data == nat_hash(spi_i, spi_r, remote));
    let we_behind = dst.data != nat_hash(spi_i, spi_r, local);
    (we_behind, peer_behind)
}

/// Selected algorithms of a responder's single proposal, if we offered them.
fn chosen(ours: &[Proposal], p: &crate::wire::Proposal) -> Option<Selected> {
    let theirs = Proposal::from_wire(p)?;
    if theirs.encr.len() != 1
        || theirs.prf.len() > 1
        || theirs.integ.len() > 1
        || theirs.ke.len() > 1
        || theirs.esn.len() > 1
        || theirs.ake.iter().any(|a| a.len() > 1)
    {
        return None;
    }
    let sel = ours.iter().find_map(|o| o.intersect(&theirs))?;
    ours.iter().any(|o| o.allows(&sel)).then_some(sel)
}

/// Initiator: validates an IKE_SA_INIT response against our request and
/// derives the IKE SA keys (RFC 7296 §1.2, §2.14). Returns (selected, keys, Nr).
fn init_keys(
    ctx: &Ctx<'_>,
    conn: &ConnectionConfig,
    st: &InitState,
    spi_i: IkeSpi,
    msg: &Message,
) -> Result<(Selected, SaKeys, Vec<u8>), Error> {
    let bad = |w| Error::PeerMisbehaved(PeerMisbehaved::Invalid(w));
    let missing = |w| Error::PeerMisbehaved(PeerMisbehaved::MissingPayload(w));
    let sa = msg.sa().ok_or(missing("SA"))?;
    let [p] = sa.proposals.as_slice() else {
        return Err(bad("SA (not exactly one proposal)"));
    };
    let sel = chosen(&conn.ike_proposals, p)
        .ok_or(Error::PeerMisbehaved(PeerMisbehaved::ProposalNotOffered))?;
    let ke = msg.ke().ok_or(missing("KE"))?;
    let nr = msg.nonce().ok_or(missing("Nonce"))?;
    if nr.0.len() < Nonce::MIN_LEN || nr.0.len() > Nonce::MAX_LEN {
        return Err(bad("Nonce length"));
    }
    let spi_r = msg.header.spi_r;
    if spi_r == 0 {
        return Err(bad("responder SPI"));
    }
    if Some(ke.group) != sel.ke || ke.group != st.ke.group() {
        return Err(bad("KE group"));
    }
    if sel.additional().next().is_some()
        && msg
            .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
            .is_none()
    {
        return Err(bad(
            "additional key exchanges without INTERMEDIATE_EXCHANGE_SUPPORTED",
        ));
    }
    let gir = st
        .ke
        .complete(&ke.data)
        .map_err(|_| bad("KE public value"))?;
    let prf = ctx
        .crypto
        .prf(sel.prf.unwrap_or_default())
        .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::ProposalNotOffered))?;
    let seed = skeyseed(prf, &st.ni, &nr.0, &gir);
    let keys = SaKeys::derive(ctx.crypto, &sel, &seed, &st.ni, &nr.0, spi_i.0, spi_r, true)
        .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::ProposalNotOffered))?;
    Ok((sel, keys, nr.0.clone()))
}

impl IkeSa {
    /// Creates an initiator and sends IKE_SA_INIT.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_initiator(
        ctx: &mut Ctx<'_>,
        now: Instant,
        id: IkeSaId,
        conn: (ConnId, Arc<ConnectionConfig>),
        spi_i: IkeSpi,
        remote: SocketAddr,
        first_child: Option<Task>,
    ) -> Result<Self, Error> {
        let c = Arc::clone(&conn.1);
        let group = c
            .ike_proposals
            .iter()
            .flat_map(|p| p.ke.iter())
            .copied()
            .find(|k| ctx.crypto.ke(*k).is_ok())
            .ok_or(Error::PeerIncompatible(PeerIncompatible::NoKeGroup))?;
        let ke = ctx
            .crypto
            .ke(group)
            .and_then(|g| g.start(&*ctx.crypto.random))
            .map_err(|_| Error::Unreachable("key exchange start failed"))?;
        let ni = ctx
            .crypto
            .random_nonce(NONCE_LEN)
            .map_err(|_| Error::Unreachable("random source failed"))?;
        let mut local = c.local;
        if local.port() == 0 {
            local.set_port(ctx.cfg.ike_port);
        }
        let mut sa = Self::blank(
            id,
            conn,
            true,
            local,
            remote,
            State::InitSent(Box::new(InitState {
                ke,
                ni,
                cookie: None,
                cookies: 0,
                ke_retries: 0,
                ignored: None,
                first_child,
            })),
        );
        sa.spi_i = spi_i;
        let natt_peer = remote.port() == NATT_PORT || remote.port() == ctx.cfg.nat_port;
        if c.force_encap || natt_peer {
            sa.natt = natt_peer;
            if sa.natt {
                sa.local.set_port(ctx.cfg.nat_port);
            }
        }
        sa.send_init_request(ctx, now);
        Ok(sa)
    }

    fn send_init_request(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let conn = self.conn();
        let State::InitSent(st) = &self.state else {
            return;
        };
        let mut payloads = Vec::with_capacity(7);
        if let Some(c) = &st.cookie {
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
        }
        let proposals = conn
            .ike_proposals
            .iter()
            .enumerate()
            .map(|(i, p)| p.to_wire(u8::try_from(i + 1).unwrap_or(u8::MAX), Vec::new()))
            .collect();
        payloads.push(Payload::Sa(Sa { proposals }));
        payloads.push(Payload::Ke(Ke {
            group: st.ke.group(),
            data: st.ke.public().to_vec(),
        }));
        payloads.push(Payload::Nonce(Nonce(st.ni.clone())));
        // Forced encapsulation: a random source hash makes both sides see a NAT
        // (what strongSwan does for `encap = yes`).
        let fake = conn.force_encap.then(|| {
            let mut r = vec![0u8; 20];
            let _ = ctx.crypto.fill_random(&mut r);
            r
        });
        payloads.extend(nat_notifies(self.spi_i.0, 0, self.local, self.remote, fake));
        if conn.fragmentation != Fragmentation::No {
            payloads.push(notify(NotifyType::FRAGMENTATION_SUPPORTED, Vec::new()));
        }
        payloads.extend(super::cert::init_payloads(&conn, false));
        if conn
            .ike_proposals
            .iter()
            .any(|p| p.ake.iter().any(|a| !a.is_empty()))
        {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED,
                Vec::new(),
            )));
        }
        let msg = Message {
            header: Header::new(
                self.spi_i.0,
                0,
                ExchangeType::IKE_SA_INIT,
                Flags::new(true, false),
                0,
            ),
            payloads,
        };
        let packet = msg.to_bytes();
        ctx.out.exchanges.request_sent(ExchangeType::IKE_SA_INIT);
        self.send(ctx, &packet);
        self.next_msg_id = 1;
        // A restart keeps the retransmission budget: COOKIE and INVALID_KE_PAYLOAD
        // answers cannot stretch the initiation past one budget.
        let rt = match self.outstanding.take() {
            Some(o) => o.rt.restart(now, &ctx.cfg.retransmit),
            None => Retransmit::start(now, &ctx.cfg.retransmit),
        };
        self.outstanding = Some(Box::new(Outstanding {
            msg_id: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            packet,
            fragments: Vec::new(),
            rt,
            pending: Pending::Init,
        }));
    }

    /// Initiator: the IKE_SA_INIT response.
    pub(crate) fn handle_init_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) {
        if msg.header.message_id != 0 || self.outstanding.as_ref().is_none_or(|o| o.msg_id != 0) {
            return;
        }
        let conn = self.conn();
        let State::InitSent(st) = &mut self.state else {
            return;
        };
        let verdict = match st.on_response(&conn, ctx.crypto, msg) {
            InitVerdict::Proceed => match self.complete_init(ctx, &conn, remote, datagram, msg) {
                Ok(()) => {
                    self.outstanding = None;
                    self.continue_init(ctx, now);
                    return;
                }
                Err(e) => InitVerdict::Ignore(e),
            },
            v => v,
        };
        match verdict {
            InitVerdict::Restart => self.send_init_request(ctx, now),
            InitVerdict::Ignore(e) => {
                tracing::info!(ike = ?self.id, reason = %e, "unauthenticated IKE_SA_INIT response ignored, still waiting");
                if let State::InitSent(st) = &mut self.state {
                    st.ignored = Some(e);
                }
            }
            InitVerdict::Proceed => {}
        }
    }

    /// Initiator: why the initiation failed once retransmissions ran out.
    pub(crate) fn init_give_up_reason(&self) -> Error {
        match &self.state {
            State::InitSent(st) => st.ignored.clone().unwrap_or(Error::Timeout),
            _ => Error::Timeout,
        }
    }

    /// Checks a real-looking response and derives the IKE SA keys; changes
    /// nothing unless all of it is valid (a bad response is ignored).
    fn complete_init(
        &mut self,
        ctx: &mut Ctx<'_>,
        conn: &ConnectionConfig,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) -> Result<(), Error> {
        let State::InitSent(st) = &self.state else {
            return Err(Error::Unreachable("init state"));
        };
        let (sel, keys, nr) = init_keys(ctx, conn, st, self.spi_i, msg)?;
        let State::InitSent(st) = std::mem::replace(&mut self.state, State::Closing) else {
            return Err(Error::Unreachable("init state"));
        };
        let spi_r = msg.header.spi_r;
        self.spi_r = IkeSpi(spi_r);
        self.keys = Some(Box::new(keys));
        self.ike_sel = Some(sel);
        self.frag_peer = msg.notify(NotifyType::FRAGMENTATION_SUPPORTED).is_some();
        let (we, peer) = detect_nat(msg, self.spi_i.0, spi_r, self.local, remote);
        self.nat = we || peer || conn.force_encap;
        self.behind_nat = we || conn.force_encap;
        if self.nat && !self.natt {
            // RFC 7296 §2.23: move to port 4500 from IKE_AUTH on.
            self.natt = true;
            // The peer's NAT-T port is taken to be ours (4500 unless both
            // sides are configured otherwise).
            self.local.set_port(ctx.cfg.nat_port);
            self.remote.set_port(ctx.cfg.nat_port);
        }
        let request = self
            .outstanding
            .as_ref()
            .map(|o| o.packet.clone())
            .unwrap_or_default();
        self.state = State::AuthSent(Box::new(InitResponder {
            request,
            response: datagram.to_vec(),
            ni: st.ni,
            nr,
            first_child: st.first_child,
            peer_sig: PeerSig::read(&msg.payloads),
            inter: Intermediate::new(&sel),
        }));
        Ok(())
    }

    /// Responder: a new IKE_SA_INIT request (cookie already checked). Returns the
    /// new SA, or `Err(Some(response))` for a stateless error answer. The SA
    /// answers once its key exchange is done: here, or, with
    /// `defer_ke`, when the daemon returns the [`KeJob`] it was handed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond_init(
        ctx: &mut Ctx<'_>,
        now: Instant,
        id: IkeSaId,
        conn: (ConnId, Arc<ConnectionConfig>),
        spi_r: IkeSpi,
        remote: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) -> Result<Self, Option<Vec<u8>>> {
        let h = &msg.header;
        let choice = choose_init(ctx, &conn.1, msg)
            .map_err(|(ty, data)| Some(init_error(h.spi_i, ty, data)))?;
        let job = KeJob {
            ike: id,
            group: choice.group,
            peer: choice.peer_ke,
        };
        let pending = InitPending {
            request: datagram.to_vec(),
            ni: choice.ni,
            num: choice.num,
            sel: choice.sel,
            nat: detect_nat(msg, h.spi_i, 0, local, remote),
            nat_notify: msg.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some(),
            peer_sig: PeerSig::read(&msg.payloads),
            intermediate: msg
                .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
                .is_some(),
        };
        let mut sa = Self::blank(
            id,
            conn,
            false,
            local,
            remote,
            State::InitPending(Box::new(pending)),
        );
        sa.spi_i = IkeSpi(h.spi_i);
        sa.spi_r = spi_r;
        sa.natt = local.port() == ctx.cfg.nat_port;
        sa.frag_peer = msg.notify(NotifyType::FRAGMENTATION_SUPPORTED).is_some();
        sa.expect_msg_id = 1;
        // A half-open SA that never sees IKE_AUTH goes away (strongSwan: 30 s).
        sa.expire_at = Some(now + ctx.cfg.dos.half_open_timeout);
        if ctx.cfg.defer_ke {
            ctx.out.ke_jobs.push_back(job);
        } else {
            let res = job.run(ctx.crypto);
            sa.finish_init(ctx, res);
        }
        Ok(sa)
    }

    /// Responder: the key exchange is done; derive the keys and answer
    /// (RFC 7296 §1.2, §2.14), or answer the error and end.
    pub(crate) fn finish_init(&mut self, ctx: &mut Ctx<'_>, res: KeResult) {
        let State::InitPending(_) = &self.state else {
            return;
        };
        let State::InitPending(p) = std::mem::replace(&mut self.state, State::Closing) else {
            return;
        };
        match self.init_response(ctx, &p, res) {
            Ok((response, keys, nr)) => {
                self.keys = Some(Box::new(keys));
                self.ike_sel = Some(p.sel);
                (self.nat, self.behind_nat) = (p.nat.0 || p.nat.1, p.nat.0);
                ctx.out
                    .exchanges
                    .response_sent(ExchangeType::IKE_SA_INIT, &[]);
                self.send(ctx, &response);
                self.state = State::InitDone(Box::new(InitResponder {
                    request: p.request,
                    response,
                    ni: p.ni,
                    nr,
                    first_child: None,
                    peer_sig: p.peer_sig.clone(),
                    inter: Intermediate::new(&p.sel),
                }));
            }
            Err(reply) => {
                if let Some(reply) = reply {
                    let payloads = Message::decode(&reply).map(|m| m.payloads);
                    let payloads = payloads.unwrap_or_default();
                    ctx.out
                        .exchanges
                        .response_sent(ExchangeType::IKE_SA_INIT, &payloads);
                    self.send(ctx, &reply);
                }
                self.die(
                    ctx,
                    Error::PeerMisbehaved(PeerMisbehaved::Invalid("key exchange")),
                );
            }
        }
    }

    /// The IKE_SA_INIT response, the IKE SA's keys and our nonce; or the
    /// error answer (`None`: none).
    fn init_response(
        &self,
        ctx: &mut Ctx<'_>,
        p: &InitPending,
        res: KeResult,
    ) -> Result<InitAnswer, Option<Vec<u8>>> {
        let (spi_i, spi_r) = (self.spi_i.0, self.spi_r.0);
        let error = |ty: NotifyType| Some(init_error(spi_i, ty, Vec::new()));
        let (ours, gir) = res
            .outcome
            .map_err(|()| error(NotifyType::INVALID_SYNTAX))?;
        let nr = ctx.crypto.random_nonce(NONCE_LEN).map_err(|_| None)?;
        let prf = ctx
            .crypto
            .prf(p.sel.prf.unwrap_or_default())
            .map_err(|_| error(NotifyType::NO_PROPOSAL_CHOSEN))?;
        let seed = skeyseed(prf, &p.ni, &nr, &gir);
        let keys = SaKeys::derive(ctx.crypto, &p.sel, &seed, &p.ni, &nr, spi_i, spi_r, false)
            .map_err(|_| error(NotifyType::NO_PROPOSAL_CHOSEN))?;
        let mut payloads = vec![
            Payload::Sa(Sa {
                proposals: vec![
                    Proposal::from_selected(ProtocolId::IKE, &p.sel).to_wire(p.num, Vec::new()),
                ],
            }),
            Payload::Ke(Ke {
                group: p.sel.ke.unwrap_or_default(),
                data: ours,
            }),
            Payload::Nonce(Nonce(nr.clone())),
        ];
        if p.nat_notify {
            payloads.extend(nat_notifies(spi_i, spi_r, self.local, self.remote, None));
        }
        // RFC 7383 §2.3: announced back only to a peer that announced it.
        if self.frag_peer && self.cfg.fragmentation != Fragmentation::No {
            payloads.push(notify(NotifyType::FRAGMENTATION_SUPPORTED, Vec::new()));
        }
        payloads.extend(super::cert::init_payloads(&self.conn(), true));
        if p.intermediate {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED,
                Vec::new(),
            )));
        }
        let header = Header::new(
            spi_i,
            spi_r,
            ExchangeType::IKE_SA_INIT,
            Flags::new(false, true),
            0,
        );
        Ok((Message { header, payloads }.to_bytes(), keys, nr))
    }
}
