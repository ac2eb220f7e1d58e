//! The endpoint: IKE SA table keyed by SPI, datagram dispatch, cookies (RFC 7296 §2.6)
//! and the daemon-facing API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::EndpointConfig;
use crate::crypto::CryptoProvider;
use crate::crypto::prf::{PRF_HMAC_SHA2_256, prf};
use crate::error::{ApiError, Error};
use crate::event::{Event, Transmit};
use crate::ids::{ChildSaId, CpuId, IkeSaId, IkeSpi, Spi};
use crate::ike_sa::{Ctx, IkeSa, Outputs, State, Task};
use crate::wire::natt::{NATT_PORT, NattDatagram, classify_4500};
use crate::wire::{ExchangeType, Flags, Header, Message, Notify, NotifyType, Payload};

/// Input from the kernel (XFRM) side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// XFRM_MSG_ACQUIRE: traffic hit a policy without an SA.
    Acquire {
        /// The policy template's reqid (identifies the child config).
        reqid: u32,
        /// `XFRMA_SA_PCPU` of the acquire (Linux ≥ 6.13 per-CPU SAs), if any.
        cpu: Option<u32>,
        /// The acquire sequence number (reused when installing).
        seq: u32,
    },
    /// XFRM_MSG_EXPIRE for an SA: `hard` deletes, soft rekeys.
    Expire {
        /// The SA's SPI.
        spi: Spi,
        /// Hard (true) or soft (false) expiry.
        hard: bool,
    },
}

/// The sans-IO IKEv2 endpoint. See the crate docs for the call order.
pub struct Endpoint {
    config: EndpointConfig,
    crypto: CryptoProvider,
    sas: HashMap<IkeSaId, IkeSa>,
    by_spi: HashMap<IkeSpi, IkeSaId>,
    /// Responder SAs between IKE_SA_INIT and IKE_AUTH, by (peer, SPIi), to spot
    /// retransmitted IKE_SA_INIT requests.
    half_open: HashMap<(SocketAddr, u64), IkeSaId>,
    out: Outputs,
    cookie_secret: [u8; 32],
    prev_cookie_secret: Option<[u8; 32]>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ike_sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Creates an endpoint. The cookie secret starts random; rotate it with
    /// [`Endpoint::set_cookie_secret`].
    pub fn new(config: EndpointConfig, crypto: CryptoProvider) -> Self {
        let mut cookie_secret = [0u8; 32];
        let _ = crypto.fill_random(&mut cookie_secret);
        Self {
            config,
            crypto,
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            half_open: HashMap::new(),
            out: Outputs::default(),
            cookie_secret,
            prev_cookie_secret: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Rotates the COOKIE secret (RFC 7296 §2.6); cookies made with the
    /// previous secret stay valid until the next rotation.
    pub fn set_cookie_secret(&mut self, secret: [u8; 32]) {
        self.prev_cookie_secret = Some(self.cookie_secret);
        self.cookie_secret = secret;
    }

    fn ctx_parts(&mut self) -> (Ctx<'_>, &mut HashMap<IkeSaId, IkeSa>) {
        (
            Ctx {
                cfg: &self.config,
                crypto: &self.crypto,
                out: &mut self.out,
            },
            &mut self.sas,
        )
    }

    fn fresh_spi(&self) -> Result<IkeSpi, ApiError> {
        for _ in 0..16 {
            let s = self
                .crypto
                .random_ike_spi()
                .map_err(|_| ApiError::Config("the random source failed"))?;
            if !self.by_spi.contains_key(&IkeSpi(s)) {
                return Ok(IkeSpi(s));
            }
        }
        Err(ApiError::Config("could not find a free IKE SPI"))
    }

    fn conn_index(&self, name: &str) -> Result<u16, ApiError> {
        self.config
            .connections
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| ApiError::UnknownConnection(name.into()))
    }

    fn start(
        &mut self,
        now: Instant,
        conn: u16,
        first: Option<Task>,
        rest: Vec<Task>,
    ) -> Result<IkeSaId, ApiError> {
        let c = &self.config.connections[usize::from(conn)];
        let remote = c.remote.ok_or_else(|| ApiError::NoRemote(c.name.clone()))?;
        let remote = if remote.port() == 0 {
            SocketAddr::new(remote.ip(), 500)
        } else {
            remote
        };
        let spi = self.fresh_spi()?;
        let id = self.out.ike_id();
        let (mut ctx, sas) = self.ctx_parts();
        let mut sa = IkeSa::start_initiator(&mut ctx, now, id, conn, spi, remote, first.clone())
            .map_err(|_| {
                ApiError::Config("no usable IKE proposal/KE group; check ike_proposals")
            })?;
        if let Some(Task::CreateChild { cfg, cpu, .. }) = first
            && ctx.cfg.connections[usize::from(conn)].children[usize::from(cfg)].is_per_cpu()
        {
            sa.group(cfg).pending.push(cpu);
        }
        sa.queue.extend(rest);
        sas.insert(id, sa);
        self.by_spi.insert(spi, id);
        Ok(id)
    }

    /// Starts an IKE SA for connection `name` with all its children: the first in
    /// IKE_AUTH, the others by CREATE_CHILD_SA afterwards.
    pub fn initiate(&mut self, now: Instant, name: &str) -> Result<IkeSaId, ApiError> {
        let conn = self.conn_index(name)?;
        let n = self.config.connections[usize::from(conn)].children.len();
        let mut tasks: Vec<Task> = (0..n)
            .map(|i| Task::CreateChild {
                cfg: u16::try_from(i).unwrap_or(u16::MAX),
                cpu: None,
                seq: None,
            })
            .collect();
        let first = (!tasks.is_empty()).then(|| tasks.remove(0));
        let id = self.start(now, conn, first, Vec::new())?;
        if let Some(sa) = self.sas.get_mut(&id) {
            for t in tasks {
                if let Task::CreateChild { cfg, cpu, .. } = &t
                    && self.config.connections[usize::from(conn)].children[usize::from(*cfg)]
                        .is_per_cpu()
                {
                    sa.group(*cfg).pending.push(*cpu);
                }
                sa.queue.push_back(t);
            }
        }
        self.finish(now);
        Ok(id)
    }

    /// Asks for a Child SA of config `child` on an established (or establishing)
    /// IKE SA; for an RFC 9611 group `cpu` selects the per-CPU SA (None = fallback).
    pub fn create_child(
        &mut self,
        now: Instant,
        ike: IkeSaId,
        child: &str,
        cpu: Option<CpuId>,
    ) -> Result<(), ApiError> {
        let sa = self.sas.get(&ike).ok_or(ApiError::UnknownIkeSa(ike))?;
        let cfg = self.config.connections[usize::from(sa.conn)]
            .children
            .iter()
            .position(|c| c.name == child)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| ApiError::UnknownChild(child.into()))?;
        let (mut ctx, sas) = self.ctx_parts();
        if let Some(sa) = sas.get_mut(&ike) {
            sa.acquire(&mut ctx, now, cfg, cpu, None);
        }
        self.finish(now);
        Ok(())
    }

    /// Rekeys a Child SA now (as on a soft expire).
    pub fn rekey_child(&mut self, now: Instant, child: ChildSaId) -> Result<(), ApiError> {
        self.child_task(now, child, Task::RekeyChild(child))
    }

    /// Deletes a Child SA (INFORMATIONAL Delete).
    pub fn delete_child(&mut self, now: Instant, child: ChildSaId) -> Result<(), ApiError> {
        self.child_task(now, child, Task::DeleteChild(child))
    }

    fn child_task(&mut self, now: Instant, child: ChildSaId, task: Task) -> Result<(), ApiError> {
        let ike = self
            .sas
            .iter()
            .find(|(_, s)| s.children.iter().any(|c| c.id == child))
            .map(|(k, _)| *k)
            .ok_or(ApiError::Config("no such Child SA"))?;
        let (mut ctx, sas) = self.ctx_parts();
        if let Some(sa) = sas.get_mut(&ike) {
            sa.queue.push_back(task);
            sa.kick(&mut ctx, now);
        }
        self.finish(now);
        Ok(())
    }

    /// Rekeys the IKE SA now (RFC 7296 §2.18); its Child SAs move to the new one.
    pub fn rekey_ike(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        let (mut ctx, sas) = self.ctx_parts();
        let sa = sas.get_mut(&ike).ok_or(ApiError::UnknownIkeSa(ike))?;
        sa.queue.push_back(Task::RekeyIke);
        sa.kick(&mut ctx, now);
        self.finish(now);
        Ok(())
    }

    /// Deletes the IKE SA and all its Child SAs (INFORMATIONAL Delete).
    pub fn close(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        let (mut ctx, sas) = self.ctx_parts();
        let sa = sas.get_mut(&ike).ok_or(ApiError::UnknownIkeSa(ike))?;
        if sa.is_established() {
            sa.queue.clear();
            if sa.outstanding.is_none() {
                sa.start_delete_ike(&mut ctx, now);
            } else {
                sa.queue.push_back(Task::DeleteIke);
            }
        } else {
            sa.die(&mut ctx, Error::ClosedLocally);
        }
        self.finish(now);
        Ok(())
    }

    /// Feeds a received UDP datagram. `local` is the address it arrived on; on
    /// port 4500 `data` still carries the non-ESP marker (ESP and keepalives are ignored).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) {
        let data = if local.port() == NATT_PORT {
            match classify_4500(data) {
                NattDatagram::Ike(m) => m,
                _ => return,
            }
        } else {
            data
        };
        let Ok(msg) = Message::decode(data) else {
            return;
        };
        let h = msg.header;
        if h.exchange == ExchangeType::IKE_SA_INIT && !h.flags.response() && h.spi_r == 0 {
            if let Some(id) = self.half_open.get(&(remote, h.spi_i)).copied() {
                let (mut ctx, sas) = self.ctx_parts();
                if let Some(sa) = sas.get_mut(&id) {
                    sa.handle(&mut ctx, now, remote, local, data, &msg);
                }
            } else {
                self.respond_new(now, remote, local, data, &msg);
            }
            self.finish(now);
            return;
        }
        let ours = if h.flags.initiator() {
            h.spi_r
        } else {
            h.spi_i
        };
        let Some(id) = self.by_spi.get(&IkeSpi(ours)).copied() else {
            return;
        };
        let (mut ctx, sas) = self.ctx_parts();
        if let Some(sa) = sas.get_mut(&id) {
            sa.handle(&mut ctx, now, remote, local, data, &msg);
        }
        self.finish(now);
    }

    fn cookie(&self, secret: &[u8; 32], msg: &Message, remote: SocketAddr) -> Vec<u8> {
        let ni = msg.nonce().map(|n| n.0.as_slice()).unwrap_or_default();
        let ip = match remote.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mac = prf(
            &PRF_HMAC_SHA2_256,
            secret,
            &[ni, &ip, &msg.header.spi_i.to_be_bytes()],
        );
        let mut c = Vec::with_capacity(17);
        c.push(1);
        c.extend_from_slice(&mac[..16]);
        c
    }

    fn reply_raw(&mut self, remote: SocketAddr, local: SocketAddr, mut data: Vec<u8>) {
        if local.port() == NATT_PORT {
            crate::wire::natt::add_marker(&mut data);
        }
        self.out.transmits.push_back(Transmit {
            remote,
            local,
            data,
        });
    }

    fn respond_new(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        data: &[u8],
        msg: &Message,
    ) {
        if msg.header.message_id != 0 {
            return;
        }
        if let Some(ty) = msg.unsupported_critical() {
            let reply = Message {
                header: Header::new(
                    msg.header.spi_i,
                    0,
                    ExchangeType::IKE_SA_INIT,
                    Flags::new(false, true),
                    0,
                ),
                payloads: vec![Payload::Notify(Notify::new(
                    NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                    vec![ty.0],
                ))],
            };
            self.reply_raw(remote, local, reply.to_bytes());
            return;
        }
        // RFC 7296 §2.6: under load, demand a COOKIE before keeping any state.
        if self
            .config
            .cookie_threshold
            .is_some_and(|t| self.half_open.len() >= t)
        {
            let got = msg.payloads.first().and_then(|p| match p {
                Payload::Notify(n) if n.ty == NotifyType::COOKIE => Some(n.data.clone()),
                _ => None,
            });
            let want = self.cookie(&self.cookie_secret, msg, remote);
            let prev = self
                .prev_cookie_secret
                .map(|s| self.cookie(&s, msg, remote));
            let ok = got
                .as_ref()
                .is_some_and(|g| *g == want || Some(g) == prev.as_ref());
            if !ok {
                let reply = Message {
                    header: Header::new(
                        msg.header.spi_i,
                        0,
                        ExchangeType::IKE_SA_INIT,
                        Flags::new(false, true),
                        0,
                    ),
                    payloads: vec![Payload::Notify(Notify::new(NotifyType::COOKIE, want))],
                };
                self.reply_raw(remote, local, reply.to_bytes());
                return;
            }
        }
        let conn = self.config.connections.iter().position(|c| {
            c.remote.is_none_or(|r| r.ip() == remote.ip())
                && (c.local.ip().is_unspecified() || c.local.ip() == local.ip())
        });
        let Some(conn) = conn.and_then(|c| u16::try_from(c).ok()) else {
            let reply = Message {
                header: Header::new(
                    msg.header.spi_i,
                    0,
                    ExchangeType::IKE_SA_INIT,
                    Flags::new(false, true),
                    0,
                ),
                payloads: vec![Payload::Notify(Notify::new(
                    NotifyType::NO_PROPOSAL_CHOSEN,
                    Vec::new(),
                ))],
            };
            self.reply_raw(remote, local, reply.to_bytes());
            return;
        };
        let Ok(spi) = self.fresh_spi() else {
            return;
        };
        let id = self.out.ike_id();
        let (mut ctx, _) = self.ctx_parts();
        match IkeSa::respond_init(&mut ctx, now, id, conn, spi, remote, local, data, msg) {
            Ok(sa) => {
                self.sas.insert(id, sa);
                self.by_spi.insert(spi, id);
                self.half_open.insert((remote, msg.header.spi_i), id);
            }
            Err(Some(reply)) => self.reply_raw(remote, local, reply),
            Err(None) => {}
        }
    }

    /// Drives timers; call when [`Endpoint::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<IkeSaId> = self
            .sas
            .iter()
            .filter(|(_, s)| s.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        let (mut ctx, sas) = self.ctx_parts();
        for id in due {
            if let Some(sa) = sas.get_mut(&id) {
                sa.handle_timeout(&mut ctx, now);
            }
        }
        self.finish(now);
    }

    /// Feeds a kernel event (acquire or expire).
    pub fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::Acquire { reqid, cpu, seq } => {
                let found = self
                    .config
                    .connections
                    .iter()
                    .enumerate()
                    .find_map(|(ci, c)| {
                        let k = c.children.iter().position(|ch| ch.reqid == reqid)?;
                        Some((u16::try_from(ci).ok()?, u16::try_from(k).ok()?))
                    });
                let Some((conn, cfg)) = found else {
                    tracing::debug!(reqid, "acquire for unknown reqid");
                    return;
                };
                let cpu = cpu.map(CpuId);
                let existing = self
                    .sas
                    .iter()
                    .filter(|(_, s)| {
                        s.conn == conn
                            && s.announced
                            && !s.replaced
                            && !s.is_dead()
                            && !matches!(s.state, State::Closing)
                    })
                    .filter(|(_, s)| s.initiator || s.is_established())
                    .max_by_key(|(_, s)| s.is_established())
                    .map(|(k, _)| *k);
                match existing {
                    Some(id) => {
                        let (mut ctx, sas) = self.ctx_parts();
                        if let Some(sa) = sas.get_mut(&id) {
                            sa.acquire(&mut ctx, now, cfg, cpu, Some(seq));
                        }
                    }
                    None => {
                        let first = Task::CreateChild {
                            cfg,
                            cpu: None,
                            seq: Some(seq),
                        };
                        if let Err(e) = self.start(now, conn, Some(first), Vec::new()) {
                            tracing::warn!(error = %e, "cannot initiate on acquire");
                        }
                    }
                }
            }
            KernelEvent::Expire { spi, hard } => {
                let (mut ctx, sas) = self.ctx_parts();
                for sa in sas.values_mut() {
                    if sa.expire(&mut ctx, now, spi, hard) {
                        break;
                    }
                }
            }
        }
        self.finish(now);
    }

    /// Registers rekeyed IKE SAs, applies INITIAL_CONTACT, drops dead SAs.
    fn finish(&mut self, now: Instant) {
        for mut sa in std::mem::take(&mut self.out.spawned) {
            // Tasks inherited from the rekeyed SA start right away.
            let mut ctx = Ctx {
                cfg: &self.config,
                crypto: &self.crypto,
                out: &mut self.out,
            };
            sa.kick(&mut ctx, now);
            self.by_spi.insert(sa.local_spi(), sa.id);
            self.sas.insert(sa.id, sa);
        }
        for t in std::mem::take(&mut self.out.transfers) {
            let (mut ctx, sas) = self.ctx_parts();
            if let Some(sa) = sas.get_mut(&t.to) {
                sa.children.extend(t.children);
                sa.groups.extend(t.groups);
                sa.queue.extend(t.queue);
                let peer = t.peer_id.or_else(|| sa.peer_id.clone());
                if let Some(peer) = peer {
                    sa.establish(&mut ctx, now, peer);
                }
                sa.kick(&mut ctx, now);
            }
        }
        for id in std::mem::take(&mut self.out.doomed) {
            let (mut ctx, sas) = self.ctx_parts();
            if let Some(sa) = sas.get_mut(&id) {
                sa.queue.push_back(Task::DeleteIke);
                sa.kick(&mut ctx, now);
            }
        }
        for id in std::mem::take(&mut self.out.initial_contact) {
            let Some((conn, peer)) = self.sas.get(&id).map(|s| (s.conn, s.peer_id.clone())) else {
                continue;
            };
            let victims: Vec<IkeSaId> = self
                .sas
                .iter()
                .filter(|(k, s)| **k != id && s.conn == conn && s.peer_id == peer && !s.is_dead())
                .map(|(k, _)| *k)
                .collect();
            let (mut ctx, sas) = self.ctx_parts();
            for v in victims {
                if let Some(sa) = sas.get_mut(&v) {
                    sa.die(&mut ctx, Error::InitialContact);
                }
            }
        }
        for id in std::mem::take(&mut self.out.died) {
            if self.sas.get(&id).is_some_and(IkeSa::is_dead)
                && let Some(sa) = self.sas.remove(&id)
            {
                self.by_spi.remove(&sa.local_spi());
            }
        }
        let sas = &self.sas;
        self.half_open.retain(|_, id| {
            sas.get(id)
                .is_some_and(|s| matches!(s.state, State::InitDone(_)))
        });
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas.values().filter_map(IkeSa::poll_timeout).min()
    }

    /// The next event for the daemon, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Number of IKE SAs (all states).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Whether IKE SA `ike` exists and is established.
    pub fn is_established(&self, ike: IkeSaId) -> bool {
        self.sas
            .get(&ike)
            .is_some_and(|s| s.is_established() && s.announced)
    }

    /// Established IKE SAs.
    pub fn established(&self) -> Vec<IkeSaId> {
        let mut v: Vec<_> = self
            .sas
            .iter()
            .filter(|(_, s)| s.is_established() && s.announced)
            .map(|(k, _)| *k)
            .collect();
        v.sort();
        v
    }

    /// Installed Child SAs of `ike`: (id, inbound SPI, CPU binding).
    pub fn child_sas(&self, ike: IkeSaId) -> Vec<(ChildSaId, Spi, Option<CpuId>)> {
        self.sas
            .get(&ike)
            .map(|s| {
                s.children
                    .iter()
                    .filter(|c| c.is_live())
                    .map(|c| (c.id, c.spi_in, c.resource.cpu()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[cfg(any(test, fuzzing))]
    pub(crate) fn take_sa(&mut self, id: IkeSaId) -> Option<IkeSa> {
        self.sas.remove(&id)
    }

    /// Every IKE SA, for the fuzz harness's invariant checks.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn sas(&self) -> impl Iterator<Item = &IkeSa> {
        self.sas.values()
    }

    /// Memory the engine holds for `ike` beyond key material: the struct itself
    /// plus heap allocations (child list, selectors, cached response).
    pub fn memory_of(&self, ike: IkeSaId) -> Option<usize> {
        self.sas
            .get(&ike)
            .map(|s| size_of::<IkeSa>() + s.heap_bytes() + 2 * size_of::<(IkeSpi, IkeSaId)>())
    }
}
