//! The endpoint: IKE SA table keyed by SPI, datagram dispatch, cookies (RFC 7296 §2.6)
//! and the daemon-facing API.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use subtle::ConstantTimeEq;

use crate::config::{ConnectionConfig, DosLimits, EndpointConfig};
use crate::connections::{Candidate, Connections};
use crate::crypto::CryptoProvider;
use crate::crypto::prf::{PRF_HMAC_SHA2_256, prf};
use crate::error::{ApiError, Error};
use crate::event::{Event, IkeSaInfo, IkeSaState, Transmit};
use crate::ids::{ChildSaId, ConnId, CpuId, IkeSaId, IkeSpi, Spi};
use crate::ike_sa::{Ctx, IkeSa, Outputs, State, Task};
use crate::ke_job::{KeJob, KeResult};
use crate::pki::{OcspQuery, OcspStatus, UnixTime};
use crate::sa_index::{Owners, SaIndex};
use crate::spi_pool::SpiPool;
use crate::wire::natt::{NattDatagram, classify_4500};
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
        /// The IKE SA whose Child SAs the policy belongs to, when the daemon
        /// knows it (a policy of negotiated selectors, not a trap): the new
        /// Child SA is negotiated there rather than on any IKE SA of the
        /// connection.
        ike: Option<IkeSaId>,
    },
    /// XFRM_MSG_EXPIRE for an SA: `hard` deletes, soft rekeys.
    Expire {
        /// The SA's SPI.
        spi: Spi,
        /// Hard (true) or soft (false) expiry.
        hard: bool,
    },
    /// XFRM_MSG_MAPPING: an authenticated ESP-in-UDP packet of inbound SA
    /// `spi` came from another address or port (net/xfrm/xfrm_state.c
    /// `km_new_mapping`); the peer's NAT mapping changed.
    Mapping {
        /// The inbound SA's SPI.
        spi: Spi,
        /// The peer's new address and port.
        remote: SocketAddr,
    },
}

/// Responder IKE SAs between IKE_SA_INIT and IKE_AUTH (RFC 7296 §2.6's
/// "half-open" SAs): by (peer, SPIi) to spot a retransmitted IKE_SA_INIT, and
/// counted per source address for the DoS limits.
#[derive(Default)]
struct HalfOpen {
    by_key: HashMap<(SocketAddr, u64), IkeSaId>,
    by_id: HashMap<IkeSaId, (SocketAddr, u64)>,
    per_ip: HashMap<IpAddr, usize>,
}

impl HalfOpen {
    fn get(&self, remote: SocketAddr, spi_i: u64) -> Option<IkeSaId> {
        self.by_key.get(&(remote, spi_i)).copied()
    }

    fn insert(&mut self, remote: SocketAddr, spi_i: u64, id: IkeSaId) {
        self.by_key.insert((remote, spi_i), id);
        self.by_id.insert(id, (remote, spi_i));
        *self.per_ip.entry(remote.ip()).or_default() += 1;
    }

    /// Forgets `id`; returns the peer it was from if it was half-open.
    fn remove(&mut self, id: IkeSaId) -> Option<SocketAddr> {
        let key = self.by_id.remove(&id)?;
        self.by_key.remove(&key);
        if let Some(n) = self.per_ip.get_mut(&key.0.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&key.0.ip());
            }
        }
        Some(key.0)
    }

    fn total(&self) -> usize {
        self.by_id.len()
    }

    fn from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }
}

/// What the DoS limits turned away, in all (for metrics and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DosStats {
    /// COOKIE notifies sent (RFC 7296 §2.6).
    pub cookies_sent: u64,
    /// IKE_SA_INITs dropped: too many half-open SAs from their address.
    pub blocked_per_source: u64,
    /// IKE_SA_INITs dropped: too many half-open SAs in all.
    pub blocked_total: u64,
    /// Datagrams dropped for their size.
    pub oversized: u64,
}

impl DosStats {
    fn sum(&self) -> u64 {
        self.cookies_sent + self.blocked_per_source + self.blocked_total + self.oversized
    }
}

/// The sans-IO IKEv2 endpoint: every connection and every IKE SA of a
/// daemon. See the crate docs for the call order.
pub struct Endpoint {
    config: EndpointConfig,
    conns: Connections,
    crypto: CryptoProvider,
    sas: HashMap<IkeSaId, IkeSa>,
    by_spi: HashMap<IkeSpi, IkeSaId>,
    /// Responder SAs between IKE_SA_INIT and IKE_AUTH.
    half_open: HalfOpen,
    index: SaIndex,
    /// IKE SAs this call handled; [`Endpoint::finish`] re-indexes them.
    touched: Vec<IkeSaId>,
    out: Outputs,
    cookie_secret: [u8; 32],
    prev_cookie_secret: Option<[u8; 32]>,
    /// When the COOKIE secret is next replaced (set on first use).
    cookie_rotate_at: Option<Instant>,
    dos: DosStats,
    /// Last refusal summary logged: when, and the totals then.
    dos_logged: Option<(Instant, u64)>,
    /// Wall-clock reference for certificate validity (see [`Endpoint::set_wall_clock`]).
    wall: Option<(Instant, UnixTime)>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.conns.len())
            .field("ike_sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Creates an endpoint with the connections of `config`. The cookie
    /// secret starts random; rotate it with [`Endpoint::set_cookie_secret`].
    ///
    /// # Panics
    /// Never; a duplicate connection name or reqid in `config` is skipped with
    /// a warning (use [`Endpoint::add_connection`] to see the error).
    pub fn new(mut config: EndpointConfig, crypto: CryptoProvider) -> Self {
        let mut cookie_secret = [0u8; 32];
        let _ = crypto.fill_random(&mut cookie_secret);
        let initial = std::mem::take(&mut config.connections);
        let out = Outputs {
            spis: SpiPool::new(*config.esp_spis.start(), *config.esp_spis.end()),
            ..Outputs::default()
        };
        let mut ep = Self {
            config,
            conns: Connections::default(),
            crypto,
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            half_open: HalfOpen::default(),
            index: SaIndex::default(),
            touched: Vec::new(),
            out,
            cookie_secret,
            prev_cookie_secret: None,
            cookie_rotate_at: None,
            dos: DosStats::default(),
            dos_logged: None,
            wall: None,
        };
        for c in initial {
            if let Err(e) = ep.add_connection(c) {
                tracing::warn!(error = %e, "connection skipped");
            }
        }
        ep
    }

    /// Endpoint-wide settings (the connections are in the endpoint itself).
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Changes the unauthenticated-flood limits at run time (RFC 7296 §2.6);
    /// half-open SAs already counted stay.
    pub fn set_limits(&mut self, cookie_threshold: Option<usize>, dos: DosLimits) {
        self.config.cookie_threshold = cookie_threshold;
        self.config.dos = dos;
    }

    /// Adds a connection; it answers peers and can be initiated at once.
    pub fn add_connection(&mut self, cfg: ConnectionConfig) -> Result<ConnId, ApiError> {
        self.conns.add(cfg)
    }

    /// Replaces a connection's config under the same id. IKE SAs already up
    /// (and their rekeys) keep the config they were made with; new IKE SAs use
    /// the new one.
    pub fn replace_connection(
        &mut self,
        id: ConnId,
        cfg: ConnectionConfig,
    ) -> Result<(), ApiError> {
        self.conns.replace(id, cfg)
    }

    /// Updates a connection in place: the new config applies to new IKE SAs
    /// and to the next rekey (IKE or Child) and reauthentication of those
    /// already up, which keep their keys and Child SAs. Its children must be
    /// the same, by name and reqid, in the same order (a child added or
    /// removed is a [`Endpoint::replace_connection`] or a remove and add).
    pub fn update_connection(&mut self, id: ConnId, cfg: ConnectionConfig) -> Result<(), ApiError> {
        let old = self.conns.get(id).ok_or(ApiError::UnknownConn(id))?;
        let same = |a: &ConnectionConfig, b: &ConnectionConfig| {
            a.children.len() == b.children.len()
                && a.children
                    .iter()
                    .zip(&b.children)
                    .all(|(x, y)| x.name == y.name && x.reqid == y.reqid)
        };
        if !same(old, &cfg) {
            return Err(ApiError::Config(
                "children differ; replace the connection instead",
            ));
        }
        self.conns.replace(id, cfg)?;
        let new = Arc::clone(self.conns.get(id).ok_or(ApiError::UnknownConn(id))?);
        for ike in self.index.of_conn(id).collect::<Vec<_>>() {
            if let Some(sa) = self.sas.get_mut(&ike) {
                sa.cfg = Arc::clone(&new);
            }
        }
        Ok(())
    }

    /// Removes a connection and closes its IKE SAs: established ones with a
    /// Delete (their Child SAs are reported deleted), the others at once.
    pub fn remove_connection(&mut self, now: Instant, id: ConnId) -> Result<(), ApiError> {
        self.conns.remove(id).ok_or(ApiError::UnknownConn(id))?;
        let sas: Vec<IkeSaId> = self.index.of_conn(id).collect();
        for ike in sas {
            self.close_sa(now, ike);
        }
        self.finish(now);
        Ok(())
    }

    /// The id of the connection named `name`.
    pub fn connection(&self, name: &str) -> Option<ConnId> {
        self.conns.by_name(name)
    }

    /// The config of connection `id`.
    pub fn connection_config(&self, id: ConnId) -> Option<&ConnectionConfig> {
        self.conns.get(id).map(|c| &**c)
    }

    /// Every connection, oldest first.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, &ConnectionConfig)> {
        self.conns.iter().map(|(id, c)| (id, &**c))
    }

    /// IKE SAs (all states) of connection `id`.
    pub fn ike_sas_of(&self, id: ConnId) -> Vec<IkeSaId> {
        self.index.of_conn(id).collect()
    }

    /// Tells the engine the wall-clock time at `now`, for certificate validity
    /// (RFC 5280 §4.1.2.5). The daemon calls it at start and now and then; the
    /// engine adds the monotonic time elapsed since.
    pub fn set_wall_clock(&mut self, now: Instant, unix: UnixTime) {
        self.wall = Some((now, unix));
    }

    /// Rotates the COOKIE secret (RFC 7296 §2.6); cookies made with the
    /// previous secret stay valid until the next rotation.
    pub fn set_cookie_secret(&mut self, secret: [u8; 32]) {
        self.prev_cookie_secret = Some(self.cookie_secret);
        self.cookie_secret = secret;
    }

    /// Runs `f` on IKE SA `id` with the shared context, noting it for re-indexing.
    fn with_sa<R>(
        &mut self,
        id: IkeSaId,
        f: impl FnOnce(&mut IkeSa, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let sa = self.sas.get_mut(&id)?;
        self.touched.push(id);
        let mut ctx = Ctx {
            cfg: &self.config,
            conns: &self.conns,
            crypto: &self.crypto,
            out: &mut self.out,
            wall: self.wall,
        };
        Some(f(sa, &mut ctx))
    }

    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            cfg: &self.config,
            conns: &self.conns,
            crypto: &self.crypto,
            out: &mut self.out,
            wall: self.wall,
        }
    }

    fn insert_sa(&mut self, sa: IkeSa) {
        let id = sa.id;
        self.by_spi.insert(sa.local_spi(), id);
        self.sas.insert(id, sa);
        self.touched.push(id);
    }

    fn fresh_spi(&self) -> Result<IkeSpi, ApiError> {
        for _ in 0..16 {
            let s = self
                .crypto
                .random_ike_spi()
                .map_err(|_| ApiError::Config("the random source failed"))?;
            if s != 0 && !self.by_spi.contains_key(&IkeSpi(s)) {
                return Ok(IkeSpi(s));
            }
        }
        Err(ApiError::Config("could not find a free IKE SPI"))
    }

    fn start(
        &mut self,
        now: Instant,
        conn: ConnId,
        first: Option<Task>,
        rest: Vec<Task>,
        (from, to): (Option<IpAddr>, Option<SocketAddr>),
    ) -> Result<IkeSaId, ApiError> {
        let mut c = Arc::clone(self.conns.get(conn).ok_or(ApiError::UnknownConn(conn))?);
        if let Some(ip) = from {
            // NAT detection hashes our address (RFC 7296 §2.23): use the real one.
            let mut own = (*c).clone();
            own.local.set_ip(ip);
            c = Arc::new(own);
        }
        let remote = to
            .or(c.remote)
            .ok_or_else(|| ApiError::NoRemote(c.name.clone()))?;
        let remote = if remote.port() == 0 {
            SocketAddr::new(remote.ip(), self.config.ike_port)
        } else {
            remote
        };
        let spi = self.fresh_spi()?;
        let id = self.out.ike_id();
        let per_cpu = |cfg: u16| {
            c.children
                .get(usize::from(cfg))
                .is_some_and(|ch| ch.is_per_cpu())
        };
        let mut ctx = self.ctx();
        let mut sa = IkeSa::start_initiator(
            &mut ctx,
            now,
            id,
            (conn, Arc::clone(&c)),
            spi,
            remote,
            first.clone(),
        )
        .map_err(|_| ApiError::Config("no usable IKE proposal/KE group; check ike_proposals"))?;
        for t in first.iter().chain(&rest) {
            if let Task::CreateChild { cfg, cpu, .. } = t
                && per_cpu(*cfg)
            {
                sa.group(*cfg).pending.push(*cpu);
            }
        }
        sa.queue.extend(rest);
        self.insert_sa(sa);
        Ok(id)
    }

    /// Starts an IKE SA for connection `name` with all its children: the first in
    /// IKE_AUTH, the others by CREATE_CHILD_SA afterwards.
    pub fn initiate(&mut self, now: Instant, name: &str) -> Result<IkeSaId, ApiError> {
        let conn = self
            .conns
            .by_name(name)
            .ok_or_else(|| ApiError::UnknownConnection(name.into()))?;
        self.initiate_conn(now, conn)
    }

    /// [`Endpoint::initiate`] by connection id.
    pub fn initiate_conn(&mut self, now: Instant, conn: ConnId) -> Result<IkeSaId, ApiError> {
        self.initiate_conn_to(now, conn, None, None)
    }

    /// [`Endpoint::initiate_conn`] from `from` and to `to` instead of the
    /// configured addresses (the source the route picks for an unspecified
    /// local address; the next of several peer addresses, port 0 meaning 500).
    pub fn initiate_conn_to(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: Option<IpAddr>,
        to: Option<SocketAddr>,
    ) -> Result<IkeSaId, ApiError> {
        let n = self
            .conns
            .get(conn)
            .ok_or(ApiError::UnknownConn(conn))?
            .children
            .len();
        let all: Vec<u16> = (0..n).filter_map(|i| u16::try_from(i).ok()).collect();
        self.initiate_children_to(now, conn, &all, from, to)
    }

    /// [`Endpoint::initiate_conn_to`] with only the children at indexes
    /// `children` (a revival after a per-child `dpd_action`/`close_action`,
    /// or the children whose `start_action` starts them).
    pub fn initiate_children_to(
        &mut self,
        now: Instant,
        conn: ConnId,
        children: &[u16],
        from: Option<IpAddr>,
        to: Option<SocketAddr>,
    ) -> Result<IkeSaId, ApiError> {
        let n = self
            .conns
            .get(conn)
            .ok_or(ApiError::UnknownConn(conn))?
            .children
            .len();
        let mut tasks: Vec<Task> = children
            .iter()
            .copied()
            .filter(|&i| usize::from(i) < n)
            .map(|cfg| Task::CreateChild {
                cfg,
                cpu: None,
                seq: None,
            })
            .collect();
        let first = (!tasks.is_empty()).then(|| tasks.remove(0));
        let id = self.start(now, conn, first, tasks, (from, to));
        self.finish(now);
        id
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
        let cfg = sa
            .cfg
            .children
            .iter()
            .position(|c| c.name == child)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| ApiError::UnknownChild(child.into()))?;
        self.with_sa(ike, |sa, ctx| sa.acquire(ctx, now, cfg, cpu, None));
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
            .index
            .by_child(child)
            .ok_or(ApiError::Config("no such Child SA"))?;
        self.with_sa(ike, |sa, ctx| {
            sa.queue.push_back(task);
            sa.kick(ctx, now);
        });
        self.finish(now);
        Ok(())
    }

    /// Rekeys the IKE SA now (RFC 7296 §2.18); its Child SAs move to the new one.
    pub fn rekey_ike(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        self.with_sa(ike, |sa, ctx| {
            sa.queue.push_back(Task::RekeyIke);
            sa.kick(ctx, now);
        })
        .ok_or(ApiError::UnknownIkeSa(ike))?;
        self.finish(now);
        Ok(())
    }

    /// Deletes the IKE SA and all its Child SAs (INFORMATIONAL Delete).
    pub fn close(&mut self, now: Instant, ike: IkeSaId) -> Result<(), ApiError> {
        if !self.sas.contains_key(&ike) {
            return Err(ApiError::UnknownIkeSa(ike));
        }
        self.close_sa(now, ike);
        self.finish(now);
        Ok(())
    }

    fn close_sa(&mut self, now: Instant, ike: IkeSaId) {
        self.with_sa(ike, |sa, ctx| {
            if sa.is_established() {
                sa.queue.clear();
                if sa.outstanding.is_none() {
                    sa.start_delete_ike(ctx, now);
                } else {
                    sa.queue.push_back(Task::DeleteIke);
                }
            } else if !matches!(sa.state, State::Closing | State::Replaced) {
                sa.die(ctx, Error::ClosedLocally);
            }
        });
    }

    /// Feeds a received UDP datagram. `local` is the address and port it
    /// arrived on: on [`EndpointConfig::nat_port`] `data` still carries the
    /// non-ESP marker (ESP and keepalives there are ignored).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) {
        let data = if local.port() == self.config.nat_port {
            match classify_4500(data) {
                NattDatagram::Ike(m) => m,
                _ => return,
            }
        } else {
            data
        };
        if data.len() > self.config.dos.max_packet {
            self.dos.oversized += 1;
            self.log_refusals(now);
            return;
        }
        let Ok(msg) = Message::decode(data) else {
            return;
        };
        let h = msg.header;
        if h.exchange == ExchangeType::IKE_SA_INIT && !h.flags.response() && h.spi_r == 0 {
            match self.half_open.get(remote, h.spi_i) {
                Some(id) => {
                    self.with_sa(id, |sa, ctx| sa.handle(ctx, now, remote, local, data, &msg));
                }
                None => self.respond_new(now, remote, local, data, &msg),
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
        self.with_sa(id, |sa, ctx| sa.handle(ctx, now, remote, local, data, &msg));
        self.finish(now);
    }

    fn cookie(&self, secret: &[u8; 32], msg: &Message, remote: SocketAddr) -> Vec<u8> {
        let ni = msg.nonce().map(|n| n.0.as_slice()).unwrap_or_default();
        let ip = match remote.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
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
        if local.port() == self.config.nat_port {
            crate::wire::natt::add_marker(&mut data);
        }
        self.out.transmits.push_back(Transmit {
            remote,
            local,
            data,
        });
    }

    /// A stateless IKE_SA_INIT answer carrying one notify (RFC 7296 §2.6, §2.21.1).
    fn reply_notify(&mut self, remote: SocketAddr, local: SocketAddr, spi_i: u64, n: Notify) {
        let reply = Message {
            header: Header::new(
                spi_i,
                0,
                ExchangeType::IKE_SA_INIT,
                Flags::new(false, true),
                0,
            ),
            payloads: vec![Payload::Notify(n)],
        };
        self.reply_raw(remote, local, reply.to_bytes());
    }

    /// RFC 7296 §2.6: under load (half-open SAs in all, or from this
    /// address), a request without a valid COOKIE gets one and leaves no
    /// state. Returns whether the request may go on.
    fn cookie_ok(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        msg: &Message,
    ) -> bool {
        let ip_limit = self.config.dos.cookie_threshold_ip;
        let loaded = self
            .config
            .cookie_threshold
            .is_some_and(|t| self.half_open.total() >= t)
            || (ip_limit > 0 && self.half_open.from(remote.ip()) >= ip_limit);
        if !loaded {
            return true;
        }
        self.rotate_cookie_secret(now);
        let got = msg.payloads.first().and_then(|p| match p {
            Payload::Notify(n) if n.ty == NotifyType::COOKIE => Some(n.data.as_slice()),
            _ => None,
        });
        let want = self.cookie(&self.cookie_secret, msg, remote);
        let prev = self
            .prev_cookie_secret
            .map(|s| self.cookie(&s, msg, remote));
        let same = |a: &[u8], b: &[u8]| a.len() == b.len() && bool::from(a.ct_eq(b));
        let ok = got.is_some_and(|g| same(g, &want) || prev.as_deref().is_some_and(|p| same(g, p)));
        if !ok {
            self.dos.cookies_sent += 1;
            self.reply_notify(
                remote,
                local,
                msg.header.spi_i,
                Notify::new(NotifyType::COOKIE, want),
            );
        }
        ok
    }

    /// Replaces the COOKIE secret once its lifetime is over.
    fn rotate_cookie_secret(&mut self, now: Instant) {
        let life = self.config.dos.cookie_secret_lifetime;
        match self.cookie_rotate_at {
            None => self.cookie_rotate_at = Some(now + life),
            Some(t) if now >= t => {
                let mut secret = [0u8; 32];
                if self.crypto.fill_random(&mut secret).is_ok() {
                    self.set_cookie_secret(secret);
                }
                self.cookie_rotate_at = Some(now + life);
            }
            Some(_) => {}
        }
    }

    /// Whether the limits on half-open SAs let a new one from `ip` in.
    fn half_open_room(&mut self, now: Instant, ip: IpAddr) -> bool {
        let d = &self.config.dos;
        if d.block_threshold > 0 && self.half_open.from(ip) >= d.block_threshold {
            self.dos.blocked_per_source += 1;
        } else if d.max_half_open > 0 && self.half_open.total() >= d.max_half_open {
            self.dos.blocked_total += 1;
        } else {
            return true;
        }
        self.log_refusals(now);
        false
    }

    /// At most one line a second about what the DoS limits turned away.
    fn log_refusals(&mut self, now: Instant) {
        let total = self.dos.sum();
        let due = self.dos_logged.is_none_or(|(t, _)| {
            now.saturating_duration_since(t) >= std::time::Duration::from_secs(1)
        });
        if due {
            let since = total - self.dos_logged.map_or(0, |(_, n)| n);
            tracing::warn!(
                refused = since,
                half_open = self.half_open.total(),
                cookies = self.dos.cookies_sent,
                blocked_per_source = self.dos.blocked_per_source,
                blocked_total = self.dos.blocked_total,
                oversized = self.dos.oversized,
                "unauthenticated IKE requests refused by the DoS limits (totals since start)"
            );
            self.dos_logged = Some((now, total));
        }
    }

    /// What the DoS limits turned away so far.
    pub fn dos_stats(&self) -> DosStats {
        self.dos
    }

    /// IKE exchanges and their failures so far, by type and initiator.
    pub fn exchange_stats(&self) -> &crate::ExchangeStats {
        &self.out.exchanges
    }

    /// What IKE fragmentation (RFC 7383) sent, reassembled and dropped so far.
    pub fn frag_stats(&self) -> crate::ike_sa::frag::FragStats {
        self.out.frag
    }

    /// Half-open responder IKE SAs now.
    pub fn half_open_count(&self) -> usize {
        self.half_open.total()
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
        let spi_i = msg.header.spi_i;
        if let Some(ty) = msg.unsupported_critical() {
            let n = Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty.0]);
            self.reply_notify(remote, local, spi_i, n);
            return;
        }
        // Cookies first: a spoofed source cannot return one, so it can never
        // fill the per-address quota of the address it pretends to be.
        if !self.cookie_ok(now, remote, local, msg) {
            self.log_refusals(now);
            return;
        }
        if !self.half_open_room(now, remote.ip()) {
            return;
        }
        // The identities come in IKE_AUTH; by address for now (RFC 7296 §2.15).
        let cand = Candidate {
            remote: remote.ip(),
            local: local.ip(),
            peer_id: None,
            our_id: None,
        };
        let Some(conn) = self.conns.pick(&cand, |_| true) else {
            let n = Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
            self.reply_notify(remote, local, spi_i, n);
            return;
        };
        let Ok(spi) = self.fresh_spi() else {
            return;
        };
        let id = self.out.ike_id();
        let mut ctx = self.ctx();
        match IkeSa::respond_init(&mut ctx, now, id, conn, spi, remote, local, data, msg) {
            Ok(sa) => {
                self.insert_sa(sa);
                self.half_open.insert(remote, spi_i, id);
            }
            Err(Some(reply)) => self.reply_raw(remote, local, reply),
            Err(None) => {}
        }
    }

    /// Drives timers; call when [`Endpoint::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for id in self.index.take_due(now) {
            self.with_sa(id, |sa, ctx| sa.handle_timeout(ctx, now));
        }
        self.finish(now);
    }

    /// Feeds a kernel event (acquire or expire).
    pub fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::Acquire {
                reqid,
                cpu,
                seq,
                ike,
            } => self.acquire(now, reqid, cpu, seq, ike),
            KernelEvent::Expire { spi, hard } => {
                let owners = self.index.by_esp(spi);
                for &id in owners.iter().flat_map(Owners::as_slice) {
                    if self.with_sa(id, |sa, ctx| sa.expire(ctx, now, spi, hard)) == Some(true) {
                        break;
                    }
                }
            }
            KernelEvent::Mapping { spi, remote } => {
                let owners = self.index.by_esp(spi);
                for &id in owners.iter().flat_map(Owners::as_slice) {
                    self.with_sa(id, |sa, ctx| sa.maps_peer(spi) && sa.move_peer(ctx, remote));
                }
            }
        }
        self.finish(now);
    }

    fn acquire(
        &mut self,
        now: Instant,
        reqid: u32,
        cpu: Option<u32>,
        seq: u32,
        ike: Option<IkeSaId>,
    ) {
        let Some((conn, cfg)) = self.conns.by_reqid(reqid) else {
            tracing::debug!(reqid, "acquire for unknown reqid");
            return;
        };
        let cpu = cpu.map(CpuId);
        let sas = &self.sas;
        let usable = |s: &IkeSa| {
            s.announced && !s.is_dead() && !matches!(s.state, State::Closing | State::Replaced)
        };
        let named = ike.filter(|id| {
            sas.get(id)
                .is_some_and(|s| s.conn == conn && usable(s) && s.is_established())
        });
        let existing = named.or_else(|| {
            self.index
                .of_conn(conn)
                .filter_map(|id| Some((id, sas.get(&id)?)))
                .filter(|(_, s)| usable(s))
                .filter(|(_, s)| s.initiator || s.is_established())
                .max_by_key(|(id, s)| (s.is_established(), *id))
                .map(|(id, _)| id)
        });
        match existing {
            Some(id) => {
                self.with_sa(id, |sa, ctx| sa.acquire(ctx, now, cfg, cpu, Some(seq)));
            }
            None => {
                let first = Task::CreateChild {
                    cfg,
                    cpu: None,
                    seq: Some(seq),
                };
                if let Err(e) = self.start(now, conn, Some(first), Vec::new(), (None, None)) {
                    tracing::warn!(error = %e, "cannot initiate on acquire");
                }
            }
        }
    }

    /// Registers rekeyed IKE SAs, applies INITIAL_CONTACT, drops dead SAs and
    /// re-indexes every SA the call touched.
    fn finish(&mut self, now: Instant) {
        for mut sa in std::mem::take(&mut self.out.spawned) {
            // Tasks inherited from the rekeyed SA start right away.
            let mut ctx = self.ctx();
            sa.kick(&mut ctx, now);
            self.insert_sa(sa);
        }
        for t in std::mem::take(&mut self.out.transfers) {
            self.with_sa(t.to, |sa, ctx| {
                sa.children.extend(t.children);
                sa.groups.extend(t.groups);
                sa.queue.extend(t.queue);
                let peer = t.peer_id.or_else(|| sa.peer_id.clone());
                if let Some(peer) = peer {
                    sa.establish(ctx, now, peer);
                }
                sa.drop_early_deleted(ctx);
                sa.kick(ctx, now);
            });
        }
        for id in std::mem::take(&mut self.out.doomed) {
            self.with_sa(id, |sa, ctx| {
                sa.queue.push_back(Task::DeleteIke);
                sa.kick(ctx, now);
            });
        }
        for id in std::mem::take(&mut self.out.initial_contact) {
            self.initial_contact(id);
        }
        for id in std::mem::take(&mut self.out.died) {
            self.touched.push(id);
            if self.sas.get(&id).is_some_and(IkeSa::is_dead)
                && let Some(sa) = self.sas.remove(&id)
            {
                self.by_spi.remove(&sa.local_spi());
                if let Some(remote) = self.half_open.remove(id)
                    && !sa.announced
                {
                    self.out
                        .events
                        .push_back(Event::HalfOpenClosed { ike: id, remote });
                }
            }
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            let sa = self.sas.get(&id);
            if sa.is_some_and(|s| !matches!(s.state, State::InitDone(_) | State::InitPending(_))) {
                self.half_open.remove(id);
            }
            self.index.update(id, sa, &mut self.out.spis);
        }
        self.out.spis.settle();
    }

    /// RFC 7296 §2.4: the peer of `id` lost its state; its other IKE SAs with
    /// the same identity on this connection go.
    fn initial_contact(&mut self, id: IkeSaId) {
        let Some((conn, peer)) = self.sas.get(&id).map(|s| (s.conn, s.peer_id.clone())) else {
            return;
        };
        let sas = &self.sas;
        let victims: Vec<IkeSaId> = self
            .index
            .of_conn(conn)
            .filter(|v| *v != id)
            .filter(|v| {
                sas.get(v)
                    .is_some_and(|s| s.peer_id == peer && !s.is_dead())
            })
            .collect();
        for v in victims {
            self.with_sa(v, |sa, ctx| sa.die(ctx, Error::InitialContact));
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.index.next_deadline()
    }

    /// The next key exchange to run off the event loop (with
    /// [`EndpointConfig::defer_ke`]); give its result to
    /// [`Endpoint::handle_ke_result`].
    pub fn poll_ke_job(&mut self) -> Option<KeJob> {
        self.out.ke_jobs.pop_front()
    }

    /// A finished [`KeJob`]: the waiting IKE SA answers its IKE_SA_INIT (or,
    /// gone meanwhile, the result is dropped).
    pub fn handle_ke_result(&mut self, now: Instant, res: KeResult) {
        let ike = res.ike;
        self.with_sa(ike, |sa, ctx| sa.finish_init(ctx, res));
        self.finish(now);
    }

    /// The next OCSP lookup an IKE_AUTH waits for (each one once, however
    /// many IKE SAs wait); give its answer to [`Endpoint::handle_ocsp_status`].
    /// The caller must answer every query, with [`OcspStatus::Unknown`] when
    /// no responder answered in time.
    pub fn poll_ocsp_query(&mut self) -> Option<OcspQuery> {
        self.out.ocsp.next()
    }

    /// The answer to an [`OcspQuery`]: cached until its nextUpdate, and every
    /// IKE SA that waited for it runs its IKE_AUTH again.
    pub fn handle_ocsp_status(&mut self, now: Instant, query: &OcspQuery, status: OcspStatus) {
        let unix = self.wall.map_or(UnixTime(0), |(at, unix)| {
            UnixTime(
                unix.0
                    .saturating_add(now.saturating_duration_since(at).as_secs()),
            )
        });
        for ike in self.out.ocsp.answer(query.request(), status, unix) {
            self.with_sa(ike, |sa, ctx| sa.resume_auth(ctx, now));
        }
        self.finish(now);
    }

    /// OCSP lookups handed out and not answered yet.
    pub fn ocsp_in_flight(&self) -> usize {
        self.out.ocsp.in_flight()
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

    /// A snapshot of IKE SA `ike`.
    pub fn ike_sa_info(&self, ike: IkeSaId) -> Option<IkeSaInfo> {
        let s = self.sas.get(&ike)?;
        let state = match s.state {
            State::Established => IkeSaState::Established,
            State::InitSent(_)
            | State::InitPending(_)
            | State::InitDone(_)
            | State::AuthSent(_) => IkeSaState::Connecting,
            _ => IkeSaState::Closing,
        };
        Some(IkeSaInfo {
            conn: s.conn,
            state,
            initiator: s.initiator,
            local: s.local,
            remote: s.remote,
            local_id: s.cfg.local_id.clone(),
            peer_id: s.peer_id.clone(),
            spi_i: s.spi_i,
            spi_r: s.spi_r,
            algorithms: s.ike_sel,
            established_at: s.established_at,
        })
    }

    /// The connection of IKE SA `ike`, while it exists.
    pub fn conn_of(&self, ike: IkeSaId) -> Option<ConnId> {
        self.sas.get(&ike).map(|s| s.conn)
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

    /// Entries in every table and index, for tests that check nothing
    /// outlives the SA it was kept for.
    #[cfg(test)]
    pub(crate) fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        let [entries, timers, by_conn, by_esp, by_child] = self.index.sizes();
        vec![
            ("sas", self.sas.len()),
            ("by_spi", self.by_spi.len()),
            ("half_open", self.half_open.total()),
            ("half_open_keys", self.half_open.by_key.len()),
            ("half_open_ips", self.half_open.per_ip.len()),
            ("index", entries),
            ("timers", timers),
            ("by_conn", by_conn),
            ("by_esp", by_esp),
            ("by_child", by_child),
            ("held_spis", self.out.spis.held()),
        ]
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
