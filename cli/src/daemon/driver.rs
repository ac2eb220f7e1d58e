//! The daemon loop: `select!` over UDP datagrams, the engine's next deadline,
//! kernel events, control requests, reload and shutdown; after each input it
//! drains every engine's `poll_transmit`/`poll_event` (quinn's order).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ike_core::crypto::CryptoProvider;
use ike_core::pki::{OcspQuery, OcspStatus};
use ike_core::wire::triage::Urgency;
use ike_core::{ConnId, DosLimits, Endpoint, EndpointConfig, Event, IkeSaId, IkeSaState, Transmit};
use tokio::sync::{mpsc, oneshot};

use super::backend::{Caps, KernelEvent, SaBackend};
use super::ke_pool::KePool;
use super::pacing::Pacer;
use super::plan::{self, ConnPlan, Reqids};
use super::planner::Planner;
use super::steering::Steer;
use super::udp::{Datagram, IkeSocket};
use crate::config::Config;
use crate::control::{ControlRequest, RequestKind, Response};

/// How long `lanes up` waits for the IKE SA.
pub const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// Daemon options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Leave SAs, policies and steering in the kernel on exit.
    pub keep_kernel_state: bool,
    /// Online CPUs (per-CPU SA range and responder cap).
    pub cpus: u32,
}

/// The inputs besides sockets and the kernel.
#[derive(Debug)]
pub struct Inputs {
    /// Control requests from the socket server.
    pub control: mpsc::Receiver<ControlRequest>,
    /// Reload requests (SIGHUP).
    pub reload: mpsc::Receiver<()>,
    /// Shutdown (SIGTERM/SIGINT, or a test).
    pub shutdown: oneshot::Receiver<()>,
}

/// One connection: its plan and its id in the engine.
pub(super) struct Conn {
    pub(super) plan: ConnPlan,
    pub(super) id: ConnId,
}

pub(super) struct PendingUp {
    pub(super) conn: String,
    pub(super) ike: IkeSaId,
    pub(super) reply: oneshot::Sender<Response>,
    pub(super) deadline: Instant,
}

/// The daemon.
pub struct Daemon<B: SaBackend, S: Steer> {
    pub(super) config_path: PathBuf,
    pub(super) config: Config,
    /// The engine: every connection and IKE SA.
    pub(super) ep: Endpoint,
    /// By name; hashed, as a 10,000-deep tree of names costs a cache miss
    /// per comparison on every event.
    pub(super) conns: HashMap<String, Conn>,
    /// Engine connection id → name.
    names: HashMap<ConnId, String>,
    /// Child reqid → connection name.
    by_reqid: HashMap<u32, String>,
    pub(super) reqids: Reqids,
    pub(super) backend: B,
    pub(super) steer: S,
    pub(super) caps: Caps,
    pub(super) opts: Options,
    /// Kernel decisions: what is installed for traps and Child SAs.
    pub(super) planner: Planner,
    sockets: Vec<Arc<IkeSocket>>,
    pub(super) pending_up: Vec<PendingUp>,
    /// `start` connections waiting to initiate, and those in flight.
    pub(super) pacer: Pacer,
    /// Dead peers, closes and failed starts: what comes back, and when.
    pub(super) revive: super::revive::Revive,
    started: Instant,
    kernel_rx: Option<mpsc::UnboundedReceiver<KernelEvent>>,
    /// IKE_SA_INIT key exchanges on worker threads.
    pub(super) ke_pool: KePool,
    /// `drain`'s buffers, kept so their capacity is reused (an `Event` is
    /// over 400 bytes: a fresh vector per input is a large allocation).
    pub(super) out_bufs: (Vec<Transmit>, Vec<Event>),
    pub(super) ke_rx: Option<mpsc::UnboundedReceiver<ike_core::KeResult>>,
    /// OCSP lookups running as tasks send their answers here.
    ocsp_tx: mpsc::UnboundedSender<OcspAnswer>,
    pub(super) ocsp_rx: Option<mpsc::UnboundedReceiver<OcspAnswer>>,
    /// Event counters for `GET /metrics`.
    pub(super) metrics: crate::metrics::Live,
    /// XFRM interfaces lanes created (route-based children).
    ifaces: super::route::Ifaces,
}

/// An OCSP lookup and its answer.
pub(super) type OcspAnswer = (OcspQuery, OcspStatus);

/// New IKE_SA_INIT requests without a COOKIE queued at most; more are shed
/// while the loop is busy (the engine answers the queued ones with cookies).
const DEFERRABLE_QUEUE: usize = 64;

/// Reads one IKE socket: datagrams of existing exchanges (and cookie-bearing
/// IKE_SA_INITs) go to `now`, new IKE_SA_INIT requests to `new`, which sheds
/// them when full (counted, logged at most once a second).
async fn read_socket(
    s: Arc<IkeSocket>,
    now: mpsc::Sender<(Datagram, Vec<u8>)>,
    new: mpsc::Sender<(Datagram, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 65_536];
    let (mut shed, mut logged) = (0u64, None::<Instant>);
    loop {
        let d = match s.recv(&mut buf).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(local = %s.local, "recv: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let data = &buf[..d.len];
        let sent = match ike_core::wire::triage::urgency(data, s.nat) {
            Urgency::Ignore => continue,
            Urgency::Now => now.send((d, data.to_vec())).await.is_ok(),
            Urgency::Deferrable => match new.try_send((d, data.to_vec())) {
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    shed += 1;
                    if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(local = %s.local, shed, "busy: new IKE_SA_INIT requests shed (total since start)");
                        logged = Some(Instant::now());
                    }
                    true
                }
                Ok(()) => true,
            },
        };
        if !sent {
            return;
        }
    }
}

/// The engine's endpoint-wide settings from `[daemon]`.
pub(super) fn endpoint_config(config: &Config, cpus: u32) -> EndpointConfig {
    let d = &config.daemon;
    let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
    let dos = if d.dos_protection {
        DosLimits {
            cookie_threshold_ip: n(d.cookie_threshold_ip),
            block_threshold: n(d.block_threshold),
            max_half_open: n(d.init_limit_half_open),
            half_open_timeout: d.half_open_timeout.duration(),
            max_packet: n(d.max_packet),
            ..DosLimits::default()
        }
    } else {
        DosLimits {
            cookie_threshold_ip: 0,
            block_threshold: 0,
            max_half_open: 0,
            half_open_timeout: d.half_open_timeout.duration(),
            max_packet: n(d.max_packet),
            ..DosLimits::default()
        }
    };
    EndpointConfig {
        local_cpus: cpus,
        ike_port: d.ike_port,
        nat_port: d.nat_port,
        cookie_threshold: d.dos_protection.then(|| n(d.cookie_threshold)),
        dos,
        fragment_size: n(d.fragment_size),
        defer_ke: true,
        retransmit: super::revive::retransmit(d),
        ..EndpointConfig::default()
    }
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// Binds the IKE sockets and prepares (does not start) the daemon.
    pub fn new(
        config_path: PathBuf,
        config: Config,
        backend: B,
        steer: S,
        opts: Options,
    ) -> Result<Self> {
        let mut sockets = Vec::new();
        for ip in &config.daemon.listen {
            for (port, nat) in [
                (config.daemon.ike_port, false),
                (config.daemon.nat_port, true),
            ] {
                let s = match IkeSocket::bind(SocketAddr::new(*ip, port), nat) {
                    Ok(s) => s,
                    // The default `::` on a host without IPv6: go on with IPv4.
                    Err(e)
                        if ip.is_ipv6()
                            && ip.is_unspecified()
                            && matches!(
                                e.raw_os_error(),
                                Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                            ) =>
                    {
                        tracing::warn!("IPv6 unavailable ({e}); not listening on [::]:{port}");
                        continue;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "binding UDP {ip} port {port} (is another IKE daemon running?)"
                        )));
                    }
                };
                tracing::info!(local = %s.local, nat, "listening");
                sockets.push(Arc::new(s));
            }
        }
        if sockets.is_empty() {
            anyhow::bail!("no IKE socket could be bound; check [daemon] listen");
        }
        let pacer = Pacer::new(config.daemon.max_initiating);
        let mut ep = Endpoint::new(
            endpoint_config(&config, opts.cpus),
            CryptoProvider::rust_crypto(),
        );
        ep.set_wall_clock(Instant::now(), crate::check::unix_now());
        let planner = Planner::new(Caps::default(), steer.active());
        let workers = usize::try_from(opts.cpus).unwrap_or(1);
        let (ke_pool, ke_rx) = KePool::new(CryptoProvider::rust_crypto(), workers);
        let (ocsp_tx, ocsp_rx) = mpsc::unbounded_channel();
        Ok(Daemon {
            config_path,
            config,
            ep,
            conns: HashMap::new(),
            names: HashMap::new(),
            by_reqid: HashMap::new(),
            reqids: Reqids::default(),
            backend,
            steer,
            caps: Caps::default(),
            opts,
            planner,
            sockets,
            pending_up: Vec::new(),
            pacer,
            revive: super::revive::Revive::default(),
            started: Instant::now(),
            kernel_rx: None,
            ke_pool,
            out_bufs: (Vec::new(), Vec::new()),
            ke_rx: Some(ke_rx),
            ocsp_tx,
            ocsp_rx: Some(ocsp_rx),
            metrics: crate::metrics::Live::default(),
            ifaces: super::route::Ifaces::default(),
        })
    }

    /// The event counters a metrics server reads.
    pub fn metrics(&self) -> crate::metrics::Live {
        self.metrics.clone()
    }

    /// The bound sockets' addresses (tests use port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|s| s.local).collect()
    }

    /// Start-up: remove leftovers of an earlier run, probe the kernel, subscribe
    /// to its events, install traps and initiate `start` connections.
    pub async fn start(&mut self) -> Result<()> {
        match self.backend.flush_ours().await {
            Ok((0, 0)) => {}
            Ok((sas, pols)) => {
                tracing::info!("removed {sas} SAs and {pols} policies left by an earlier lanes run")
            }
            Err(e) => tracing::warn!("cannot check for leftover kernel state: {e:#}"),
        }
        self.caps = self.backend.caps().await;
        self.planner.set_caps(self.caps);
        if !self.caps.esp {
            tracing::warn!(
                "the kernel cannot install ESP SAs (no esp4/esp6?): negotiated Child SAs will fail; see `lanes doctor`"
            );
        }
        if self.caps.esp && !self.caps.per_cpu {
            tracing::info!(
                "kernel without per-CPU SAs (Linux < 6.13): per_cpu_sas children use one SA pair"
            );
        }
        self.kernel_rx = Some(self.backend.events()?);
        let per_cpu_ok = self.per_cpu_ok();
        let plans = plan::all(&self.config, &mut self.reqids, self.opts.cpus, per_cpu_ok)?;
        for (_, p) in plans {
            self.add_conn(p).await;
        }
        self.drain().await;
        Ok(())
    }

    pub(super) async fn add_conn(&mut self, plan: ConnPlan) {
        let name = plan.name.clone();
        let id = match self.ep.add_connection(plan.connection.clone()) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(connection = %name, "not loaded: {e}");
                return;
            }
        };
        warn_legacy(&plan);
        let starts = plan.starts();
        self.names.insert(id, name.clone());
        for ch in &plan.children {
            self.by_reqid.insert(ch.reqid, name.clone());
        }
        self.planner.load(&name, &plan.children);
        self.ifaces.ensure(&plan);
        self.conns.insert(name.clone(), Conn { plan, id });
        self.run_planner().await;
        if starts {
            self.pacer.push(&name);
            self.pump();
        }
        tracing::info!(connection = %name, "loaded");
    }

    /// Initiates queued `start` connections while the pacer allows.
    fn pump(&mut self) {
        let now = Instant::now();
        self.pacer.expire(now);
        while let Some(name) = self.pacer.next_ready() {
            self.initiate_via(&name, super::revive::After::Pacer);
        }
        if self.pacer.queued() > 0 {
            tracing::debug!(
                waiting = self.pacer.queued(),
                "start connections wait for IKE SAs in flight"
            );
        }
    }

    /// Runs until shutdown, then cleans up (unless `keep_kernel_state`).
    pub async fn run(mut self, mut inputs: Inputs) -> Result<()> {
        let (now_tx, mut now_rx) = mpsc::channel::<(Datagram, Vec<u8>)>(1024);
        let (new_tx, mut new_rx) = mpsc::channel::<(Datagram, Vec<u8>)>(DEFERRABLE_QUEUE);
        let readers: Vec<_> = self
            .sockets
            .iter()
            .map(|s| tokio::spawn(read_socket(Arc::clone(s), now_tx.clone(), new_tx.clone())))
            .collect();
        drop((now_tx, new_tx));
        let mut kernel_rx = self
            .kernel_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut ke_rx = self
            .ke_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut ocsp_rx = self
            .ocsp_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut resolved_rx = self.revive.take_resolved();
        loop {
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            ));
            // In this order: a flood of new IKE_SA_INITs waits behind
            // everything else (RFC 7296 §2.6).
            tokio::select! {
                biased;
                _ = &mut inputs.shutdown => break,
                Some((d, data)) = now_rx.recv() => self.on_datagram(d, &data),
                Some(res) = ke_rx.recv() => {
                    self.ke_pool.finished();
                    self.ep.handle_ke_result(Instant::now(), res);
                }
                Some((q, status)) = ocsp_rx.recv() => {
                    self.ep.handle_ocsp_status(Instant::now(), &q, status);
                }
                Some(ev) = kernel_rx.recv() => self.on_kernel(ev),
                Some(r) = resolved_rx.recv() => self.on_resolved(r),
                () = sleep => self.on_timeout(),
                Some(req) = inputs.control.recv() => self.on_control(req).await,
                Some(()) = inputs.reload.recv() => {
                    match self.reload().await {
                        Ok(m) => tracing::info!("{m}"),
                        Err(e) => tracing::error!("reload failed, keeping the running configuration:\n{e:#}"),
                    }
                }
                Some((d, data)) = new_rx.recv() => self.on_datagram(d, &data),
            }
            self.drain().await;
        }
        for r in readers {
            r.abort();
        }
        self.shutdown().await;
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let eng = self.ep.poll_timeout();
        let up = self.pending_up.iter().map(|p| p.deadline).min();
        let revive = self.revive.deadline();
        [eng, up, self.pacer.deadline(), revive]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        // Wall-clock steps (NTP, suspend) reach certificate validity checks.
        self.ep.set_wall_clock(now, crate::check::unix_now());
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        let (expired, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_up)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.pending_up = keep;
        self.pump();
        self.revive_due();
        for p in expired {
            let _ = p.reply.send(Response::error(format!(
                "{}: no IKE SA after {}s (peer unreachable? check `lanes status` and the peer's log)",
                p.conn,
                UP_TIMEOUT.as_secs()
            )));
        }
    }

    /// Hands a datagram to the engine, which routes it (by IKE SPI, or a new
    /// IKE_SA_INIT by the peer's address and identity).
    pub(super) fn on_datagram(&mut self, d: Datagram, data: &[u8]) {
        tracing::trace!(remote = %d.remote, len = data.len(), "datagram in");
        self.ep
            .handle_datagram(Instant::now(), d.remote, d.local, data);
    }

    pub(super) fn on_kernel(&mut self, ev: KernelEvent) {
        let now = Instant::now();
        let reqid = match &ev {
            KernelEvent::Acquire { reqid, .. }
            | KernelEvent::Expire { reqid, .. }
            | KernelEvent::Mapping { reqid, .. } => *reqid,
            KernelEvent::Overrun => {
                tracing::warn!(
                    "kernel events were lost (netlink overrun); acquires may be retried by the kernel"
                );
                return;
            }
        };
        // A negotiated selector set's reqid stands for its config's reqid on
        // the IKE SA that negotiated it.
        let (cfg_reqid, ike) = match self.planner.set_owner(reqid) {
            Some(o) => (o.cfg, Some(o.ike)),
            None => (reqid, None),
        };
        let Some(conn) = self.by_reqid.get(&cfg_reqid) else {
            tracing::debug!(reqid, "kernel event for a reqid that is not ours");
            return;
        };
        match ev {
            KernelEvent::Acquire { cpu, seq, .. } => {
                tracing::info!(connection = %conn, reqid, ?cpu, seq, "acquire");
                self.ep.handle_kernel(
                    now,
                    ike_core::KernelEvent::Acquire {
                        reqid: cfg_reqid,
                        cpu,
                        seq,
                        ike,
                    },
                );
            }
            KernelEvent::Expire { spi: 0, .. } => {
                // A larval (acquire) state timed out; the kernel acquires again on traffic.
                tracing::debug!(connection = %conn, "acquire state expired");
            }
            KernelEvent::Expire { spi, hard, .. } => {
                tracing::info!(connection = %conn, spi = format_args!("{spi:08x}"), hard, "expire");
                self.ep.handle_kernel(
                    now,
                    ike_core::KernelEvent::Expire {
                        spi: ike_core::Spi(spi),
                        hard,
                    },
                );
            }
            KernelEvent::Mapping { spi, old, new, .. } => {
                tracing::debug!(connection = %conn, spi = format_args!("{spi:08x}"), %old, %new, "NAT mapping changed");
                self.ep.handle_kernel(
                    now,
                    ike_core::KernelEvent::Mapping {
                        spi: ike_core::Spi(spi),
                        remote: new,
                    },
                );
            }
            KernelEvent::Overrun => {}
        }
    }

    /// Acts on the engine's events, then sends what it queued, until it is idle.
    pub(super) async fn drain(&mut self) {
        let now = Instant::now();
        // A nested drain (from an event handler) finds them taken and uses
        // fresh ones.
        let (mut transmits, mut events) = std::mem::take(&mut self.out_bufs);
        for _ in 0..64 {
            while let Some(t) = self.ep.poll_transmit(now) {
                transmits.push(t);
            }
            while let Some(e) = self.ep.poll_event() {
                events.push(e);
            }
            while let Some(job) = self.ep.poll_ke_job() {
                self.ke_pool.submit(job);
            }
            while let Some(q) = self.ep.poll_ocsp_query() {
                let tx = self.ocsp_tx.clone();
                tokio::spawn(async move {
                    let status = super::ocsp::fetch(&q, crate::check::unix_now).await;
                    let _ = tx.send((q, status));
                });
            }
            if transmits.is_empty() && events.is_empty() {
                self.out_bufs = (transmits, events);
                return;
            }
            // Events first: a responder's Child SA is in the kernel before
            // the response that lets the initiator send on it leaves, as
            // charon does (child_create.c installs in build_r); otherwise the
            // initiator's first packets meet no inbound SA here.
            for e in events.drain(..) {
                self.on_event(e).await;
            }
            for t in transmits.drain(..) {
                self.send(&t).await;
            }
        }
        self.out_bufs = (transmits, events);
        tracing::warn!("engine kept producing output; continuing on the next input");
    }

    async fn send(&mut self, t: &Transmit) {
        let Some(sock) = self.socket_for(t.local) else {
            tracing::warn!(local = %t.local, "no socket to send from; is the address in [daemon] listen?");
            return;
        };
        if let Err(e) = sock.send(&t.data, t.local.ip(), t.remote).await {
            tracing::warn!(remote = %t.remote, "send failed: {e}");
        } else {
            tracing::trace!(remote = %t.remote, len = t.data.len(), "datagram out");
        }
    }

    fn socket_for(&self, local: SocketAddr) -> Option<Arc<IkeSocket>> {
        let same_family = |s: &&Arc<IkeSocket>| s.local.is_ipv4() == local.is_ipv4();
        let port = if local.port() == 0 {
            self.config.daemon.ike_port
        } else {
            local.port()
        };
        self.sockets
            .iter()
            .filter(same_family)
            .find(|s| s.local.port() == port && s.local.ip() == local.ip())
            .or_else(|| {
                self.sockets
                    .iter()
                    .filter(same_family)
                    .find(|s| s.local.port() == port && s.local.ip().is_unspecified())
            })
            .or_else(|| {
                self.sockets
                    .iter()
                    .filter(same_family)
                    .find(|s| s.local.port() == port)
            })
            .cloned()
    }

    /// The connection an event belongs to.
    fn event_conn(&self, ev: &Event) -> Option<String> {
        let by_id = |id: &ConnId| self.names.get(id).cloned();
        let by_ike = |ike: &IkeSaId| self.ep.conn_of(*ike).and_then(|c| by_id(&c));
        let by_reqid = |r: &u32| self.by_reqid.get(r).cloned();
        match ev {
            Event::IkeSaUp { conn, .. } | Event::IkeSaDown { conn, .. } => by_id(conn),
            Event::ChildSaReady(i) | Event::ChildSaRekeyed { new: i, .. } => by_reqid(&i.reqid),
            Event::ChildSaDeleted { child, reqid, .. } => {
                by_reqid(reqid).or_else(|| self.planner.child(*child).map(|r| r.conn.to_string()))
            }
            Event::PerCpuGroupFull { ike, .. } | Event::ChildSaFailed { ike, .. } => by_ike(ike),
            _ => None,
        }
    }

    async fn on_event(&mut self, ev: Event) {
        let conn = self.event_conn(&ev).unwrap_or_default();
        let conn = conn.as_str();
        self.metrics.on_event(&ev);
        match ev {
            Event::IkeSaUp {
                ike,
                connection,
                peer_id,
                spi_i,
                spi_r,
                remote,
                ..
            } => {
                tracing::info!(
                    connection = %connection, ike_sa = ike.0, peer = %remote, peer_id = %plan::identity_text(&peer_id),
                    spi_i = format_args!("{:016x}", spi_i.0), spi_r = format_args!("{:016x}", spi_r.0),
                    "IKE SA established"
                );
                self.ike_up(conn, ike, remote);
            }
            Event::IkeSaDown { ike, reason, .. } => self.ike_down(conn, ike, &reason),
            Event::HalfOpenClosed { remote, .. } => {
                tracing::debug!(peer = %remote, "half-open IKE SA gone");
            }
            Event::IkeSaMoved {
                ike, old, remote, ..
            } => self.planner.peer_moved(ike, old, remote),
            Event::ChildSaReady(inst) => self.planner.child_ready(conn, &inst),
            Event::ChildSaRekeyed { old, new } => self.planner.child_rekeyed(conn, old, &new),
            Event::ChildSaDeleted {
                child,
                reqid,
                resource,
                closed_by_peer,
                ..
            } => {
                if let Some(action) = closed_by_peer {
                    self.closed_by_peer(conn, reqid, resource, action);
                }
                self.planner.child_deleted(child);
            }
            Event::PerCpuGroupFull { name, full, .. } => self.planner.group_full(conn, &name, full),
            Event::ChildSaFailed {
                name,
                resource,
                reason,
                ..
            } => {
                tracing::warn!(connection = %conn, child = %name, cpu = ?resource.map(|c| c.0), "Child SA not established: {reason}");
            }
            other => tracing::debug!(connection = %conn, "unhandled engine event {other:?}"),
        }
        self.run_planner().await;
    }

    /// An IKE SA of `conn` is up: pacing, revival and a waiting `up` learn it.
    fn ike_up(&mut self, conn: &str, ike: IkeSaId, remote: SocketAddr) {
        if self.pacer.done(conn, ike) {
            self.pump();
        }
        self.revive_up(conn, ike);
        self.answer_up(
            conn,
            ike,
            |remote_text| Response::ok(format!("{conn}: IKE SA established with {remote_text}")),
            &remote.to_string(),
        );
    }

    /// An IKE SA of `conn` is gone (failed or closed).
    fn ike_down(&mut self, conn: &str, ike: IkeSaId, reason: &ike_core::Error) {
        if crate::metrics::failure_class(reason).is_some() {
            tracing::warn!(connection = %conn, ike_sa = ike.0, "IKE SA failed: {reason}");
        } else {
            tracing::info!(connection = %conn, ike_sa = ike.0, "IKE SA closed: {reason}");
        }
        if self.pacer.done(conn, ike) {
            self.pump();
        }
        self.revive_down(conn, ike, reason);
        let why = reason.to_string();
        self.answer_up(
            conn,
            ike,
            |w| Response::error(format!("{conn}: IKE SA failed: {w}")),
            &why,
        );
    }

    /// The peer deleted a Child SA of child `reqid` outside a rekey: the
    /// engine restarts it itself for `start`; `trap` is the daemon's.
    fn closed_by_peer(
        &mut self,
        conn: &str,
        reqid: u32,
        cpu: Option<ike_core::CpuId>,
        action: ike_core::recovery::Action,
    ) {
        tracing::info!(connection = %conn, reqid, cpu = ?cpu.map(|c| c.0), close_action = ?action, "Child SA deleted by the peer");
        if action == ike_core::recovery::Action::Trap {
            self.trap_closed_child(conn, reqid);
        }
    }

    /// Answers the `lanes up` requests waiting for IKE SA `ike` of `conn`.
    fn answer_up(&mut self, conn: &str, ike: IkeSaId, make: impl Fn(&str) -> Response, text: &str) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_up)
            .into_iter()
            .partition(|p| p.conn == conn && p.ike == ike);
        self.pending_up = keep;
        for p in done {
            let _ = p.reply.send(make(text));
        }
    }

    /// Whether connection `name` has an established IKE SA.
    pub(super) fn is_up(&self, name: &str) -> bool {
        self.conns.get(name).is_some_and(|c| {
            self.ep.ike_sas_of(c.id).into_iter().any(|ike| {
                self.ep
                    .ike_sa_info(ike)
                    .is_some_and(|i| i.state == IkeSaState::Established)
            })
        })
    }

    async fn on_control(&mut self, req: ControlRequest) {
        let ControlRequest { request, reply } = req;
        tracing::debug!(?request.kind, "control request");
        let resp = match request.kind {
            RequestKind::Status => Response::status(self.status().await),
            RequestKind::Reload => match self.reload().await {
                Ok(m) => Response::ok(m),
                Err(e) => Response::error(format!("{e:#}")),
            },
            RequestKind::ReloadDryRun => match self.reload_with(true).await {
                Ok(m) => Response::ok(m),
                Err(e) => Response::error(format!("{e:#}")),
            },
            RequestKind::Down { name } => self.down(&name).await,
            RequestKind::Up { name } => {
                if !self.conns.contains_key(&name) {
                    Response::error(format!("no connection named {name:?} (see `lanes status`)"))
                } else if self.is_up(&name) {
                    Response::ok(format!("{name}: already established"))
                } else {
                    // Brought up by hand: no second initiation from the start queue.
                    self.pacer.forget(&name);
                    self.planner.install_traps(&name);
                    self.run_planner().await;
                    self.revive.forget(&name);
                    self.initiate_via(&name, super::revive::After::Up(reply));
                    return;
                }
            }
        };
        let _ = reply.send(resp);
    }

    async fn down(&mut self, name: &str) -> Response {
        if !self.conns.contains_key(name) {
            return Response::error(format!("no connection named {name:?} (see `lanes status`)"));
        }
        self.pacer.forget(name);
        self.revive.forget(name);
        let (ikes, children) = self.teardown_conn(name, false).await;
        Response::ok(format!(
            "{name}: closed {ikes} IKE SA(s), removed {children} Child SA(s) and its policies"
        ))
    }

    /// Re-reads the config and applies it (see [`super::reload`]).
    pub async fn reload(&mut self) -> Result<String> {
        self.reload_with(false).await
    }

    /// Tears a connection down and removes it from the engine.
    pub(super) async fn remove_conn(&mut self, name: &str) {
        self.pacer.forget(name);
        self.revive.forget(name);
        self.teardown_conn(name, true).await;
        if let Some(c) = self.conns.remove(name) {
            self.ifaces.release(&c.plan);
            self.names.remove(&c.id);
            for ch in &c.plan.children {
                self.by_reqid.remove(&ch.reqid);
            }
            if let Err(e) = self.ep.remove_connection(Instant::now(), c.id) {
                tracing::warn!(connection = %name, "removing from the engine: {e}");
            }
            self.drain().await;
        }
    }

    async fn shutdown(&mut self) {
        for p in self.pending_up.drain(..) {
            let _ = p.reply.send(Response::error("the daemon is shutting down"));
        }
        if self.opts.keep_kernel_state {
            tracing::info!(
                "exiting; SAs, policies and steering stay in the kernel (--keep-kernel-state)"
            );
            return;
        }
        let mut names: Vec<String> = self.conns.keys().cloned().collect();
        names.sort_unstable();
        for n in &names {
            self.teardown_conn(n, true).await;
        }
        for c in self.conns.values() {
            self.ifaces.release(&c.plan);
        }
        match self.backend.flush_ours().await {
            Ok((0, 0)) => {}
            Ok((s, p)) => tracing::info!("removed {s} more SAs and {p} policies"),
            Err(e) => tracing::warn!("final cleanup failed: {e:#}"),
        }
        if let Err(e) = self.steer.detach() {
            tracing::warn!("detaching steering: {e:#}");
        }
        tracing::info!("exiting; kernel state removed");
    }

    /// Whether per-CPU children can be installed (unknown without ESP: assume yes).
    pub(super) fn per_cpu_ok(&self) -> bool {
        self.caps.per_cpu || !self.caps.esp
    }

    /// Seconds since start.
    pub(super) fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// `AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE25519`.
pub fn algorithms_text(s: &ike_core::Selected) -> String {
    let mut parts = vec![match s.encr.key_bits {
        Some(b) => format!("{:?}_{b}", s.encr.id),
        None => format!("{:?}", s.encr.id),
    }];
    if let Some(i) = s.integ {
        parts.push(format!("{i:?}"));
    }
    if let Some(p) = s.prf {
        parts.push(format!("PRF_{p:?}"));
    }
    if let Some(k) = s.ke {
        parts.push(format!("{k:?}"));
    }
    if s.esn {
        parts.push("ESN".into());
    }
    parts.join("/")
}

/// Logs once per loaded connection whose proposals name legacy algorithms.
pub(super) fn warn_legacy(plan: &ConnPlan) {
    let names = plan.legacy_algorithms();
    if !names.is_empty() {
        tracing::warn!(
            connection = %plan.name,
            "connection {} allows legacy algorithms: {}",
            plan.name,
            names.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(daemon: &str) -> Config {
        let src = format!("[daemon]\n{daemon}\n");
        Config::parse(&src, Path::new("lanes.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dos_defaults_follow_strongswan() {
        let e = endpoint_config(&parse(""), 2);
        assert_eq!(e.cookie_threshold, Some(30));
        assert_eq!(e.dos.cookie_threshold_ip, 3);
        assert_eq!(e.dos.block_threshold, 5);
        assert_eq!(e.dos.max_half_open, 0);
        assert_eq!(e.dos.half_open_timeout, Duration::from_secs(30));
        assert_eq!(e.dos.max_packet, 10_000);
        assert_eq!(e.local_cpus, 2);
        assert_eq!(e.fragment_size, 1280);
        assert_eq!(
            endpoint_config(&parse("fragment_size = 576"), 1).fragment_size,
            576
        );
    }

    #[test]
    fn dos_knobs_reach_the_engine_and_can_be_turned_off() {
        let e = endpoint_config(
            &parse(
                "cookie_threshold = 7\ncookie_threshold_ip = 2\nblock_threshold = 9\ninit_limit_half_open = 1000\nhalf_open_timeout = \"10s\"\nmax_packet = 4000\nnat_port = 14500",
            ),
            1,
        );
        assert_eq!(e.cookie_threshold, Some(7));
        assert_eq!(
            (
                e.dos.cookie_threshold_ip,
                e.dos.block_threshold,
                e.dos.max_half_open
            ),
            (2, 9, 1000)
        );
        assert_eq!(e.dos.half_open_timeout, Duration::from_secs(10));
        assert_eq!((e.dos.max_packet, e.nat_port), (4000, 14500));
        let off = endpoint_config(&parse("dos_protection = false"), 1);
        assert_eq!(off.cookie_threshold, None);
        assert_eq!(
            (off.dos.cookie_threshold_ip, off.dos.block_threshold),
            (0, 0)
        );
        assert_eq!(off.dos.max_packet, 10_000, "the size limit stays");
    }
}
