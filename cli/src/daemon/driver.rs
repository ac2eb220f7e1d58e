//! The daemon loop: `select!` over UDP datagrams, the engine's next deadline,
//! kernel events, control requests, reload and shutdown; after each input it
//! drains every engine's `poll_transmit`/`poll_event` (quinn's order).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ike_core::crypto::CryptoProvider;
use ike_core::{Endpoint, Event, IkeSaId, Transmit};
use tokio::sync::{mpsc, oneshot};

use super::backend::{Caps, KernelEvent, SaBackend};
use super::pacing::Pacer;
use super::plan::{self, ConnPlan, Reqids};
use super::state::{IkeRecord, Tables};
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

/// One connection: its plan and its engine.
pub(super) struct Conn {
    pub(super) plan: ConnPlan,
    pub(super) ep: Endpoint,
}

struct PendingUp {
    conn: String,
    ike: IkeSaId,
    reply: oneshot::Sender<Response>,
    deadline: Instant,
}

/// The daemon.
pub struct Daemon<B: SaBackend, S: Steer> {
    pub(super) config_path: PathBuf,
    pub(super) config: Config,
    pub(super) conns: BTreeMap<String, Conn>,
    pub(super) reqids: Reqids,
    pub(super) backend: B,
    pub(super) steer: S,
    pub(super) caps: Caps,
    pub(super) opts: Options,
    pub(super) tables: Tables,
    sockets: Vec<Arc<IkeSocket>>,
    /// Our IKE SPI → (connection, we are the original initiator).
    spi_owner: HashMap<u64, (String, bool)>,
    pending_up: Vec<PendingUp>,
    /// (connection, child) groups whose outbound policy has CPU_ACQUIRE
    /// switched off after TS_MAX_QUEUE (see `set_cpu_acquire`).
    pub(super) acquire_paused: HashSet<(String, String)>,
    /// `start` connections waiting to initiate, and those in flight.
    pacer: Pacer,
    started: Instant,
    kernel_rx: Option<mpsc::UnboundedReceiver<KernelEvent>>,
}

/// The IKE header fields used for routing (RFC 7296 §3.1).
fn ike_header(data: &[u8]) -> Option<(u64, u64, u8)> {
    let spi_i = u64::from_be_bytes(data.get(0..8)?.try_into().ok()?);
    let spi_r = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
    let flags = *data.get(19)?;
    data.get(27)?;
    Some((spi_i, spi_r, flags))
}

const FLAG_INITIATOR: u8 = 0x08;

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
        Ok(Daemon {
            config_path,
            config,
            conns: BTreeMap::new(),
            reqids: Reqids::default(),
            backend,
            steer,
            caps: Caps::default(),
            opts,
            tables: Tables::default(),
            sockets,
            spi_owner: HashMap::new(),
            pending_up: Vec::new(),
            acquire_paused: HashSet::new(),
            pacer,
            started: Instant::now(),
            kernel_rx: None,
        })
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
        let ep = Endpoint::new(plan.endpoint.clone(), CryptoProvider::rust_crypto());
        let starts = plan.starts();
        self.conns.insert(name.clone(), Conn { plan, ep });
        self.install_traps(&name).await;
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
            if let Some(Ok(ike)) = self.initiate(&name) {
                self.pacer.started(&name, ike, now);
            }
        }
        if self.pacer.queued() > 0 {
            tracing::debug!(
                waiting = self.pacer.queued(),
                "start connections wait for IKE SAs in flight"
            );
        }
    }

    fn initiate(&mut self, name: &str) -> Option<Result<IkeSaId, String>> {
        let conn = self.conns.get_mut(name)?;
        let r = conn
            .ep
            .initiate(Instant::now(), name)
            .map_err(|e| e.to_string());
        match &r {
            Ok(ike) => {
                let c = &conn.plan.endpoint.connections[0];
                self.tables.ike.insert(
                    (name.to_string(), *ike),
                    IkeRecord {
                        conn: name.to_string(),
                        state: "connecting",
                        initiator: true,
                        local: Some(c.local),
                        remote: c.remote,
                        local_id: plan::identity_text(&c.local_id),
                        remote_id: c
                            .remote_id
                            .as_ref()
                            .map(plan::identity_text)
                            .unwrap_or_default(),
                        spi_i: 0,
                        spi_r: 0,
                        algorithms: String::new(),
                        established: None,
                    },
                );
                tracing::info!(connection = %name, "initiating");
            }
            Err(e) => tracing::warn!(connection = %name, "cannot initiate: {e}"),
        }
        Some(r)
    }

    /// Runs until shutdown, then cleans up (unless `keep_kernel_state`).
    pub async fn run(mut self, mut inputs: Inputs) -> Result<()> {
        let (udp_tx, mut udp_rx) = mpsc::channel::<(Datagram, Vec<u8>, bool)>(1024);
        let mut readers = Vec::new();
        for s in &self.sockets {
            let s = Arc::clone(s);
            let tx = udp_tx.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    match s.recv(&mut buf).await {
                        Ok(d) => {
                            let data = buf[..d.len].to_vec();
                            if tx.send((d, data, s.nat)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(local = %s.local, "recv: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }));
        }
        drop(udp_tx);
        let mut kernel_rx = self
            .kernel_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        loop {
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            ));
            tokio::select! {
                Some((d, data, nat)) = udp_rx.recv() => self.on_datagram(d, &data, nat),
                () = sleep => self.on_timeout(),
                Some(ev) = kernel_rx.recv() => self.on_kernel(ev),
                Some(req) = inputs.control.recv() => self.on_control(req).await,
                Some(()) = inputs.reload.recv() => {
                    match self.reload().await {
                        Ok(m) => tracing::info!("{m}"),
                        Err(e) => tracing::error!("reload failed, keeping the running configuration:\n{e:#}"),
                    }
                }
                _ = &mut inputs.shutdown => break,
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
        let eng = self
            .conns
            .values()
            .filter_map(|c| c.ep.poll_timeout())
            .min();
        let up = self.pending_up.iter().map(|p| p.deadline).min();
        [eng, up, self.pacer.deadline()].into_iter().flatten().min()
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        for c in self.conns.values_mut() {
            if c.ep.poll_timeout().is_some_and(|t| t <= now) {
                c.ep.handle_timeout(now);
            }
        }
        let (expired, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_up)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.pending_up = keep;
        self.pump();
        for p in expired {
            let _ = p.reply.send(Response::error(format!(
                "{}: no IKE SA after {}s (peer unreachable? check `lanes status` and the peer's log)",
                p.conn,
                UP_TIMEOUT.as_secs()
            )));
        }
    }

    /// Routes a datagram to the connection that owns its SPI, or for a new
    /// IKE_SA_INIT to the connection configured for the peer's address.
    fn on_datagram(&mut self, d: Datagram, data: &[u8], nat: bool) {
        let ike = if nat {
            match data {
                [0, 0, 0, 0, rest @ ..] => rest,
                [0xff] => return, // NAT-T keepalive (RFC 3948 §2.3)
                _ => {
                    tracing::debug!(remote = %d.remote, "non-IKE datagram on the NAT-T socket dropped");
                    return;
                }
            }
        } else {
            data
        };
        let Some((spi_i, spi_r, flags)) = ike_header(ike) else {
            tracing::debug!(remote = %d.remote, len = data.len(), "runt datagram dropped");
            return;
        };
        let ours = if flags & FLAG_INITIATOR != 0 {
            spi_r
        } else {
            spi_i
        };
        let name = self
            .spi_owner
            .get(&ours)
            .map(|(n, _)| n.clone())
            .filter(|n| self.conns.contains_key(n))
            .or_else(|| self.route_by_addr(d.remote, d.local));
        let Some(name) = name else {
            tracing::debug!(remote = %d.remote, "no connection for this peer; datagram dropped");
            return;
        };
        if let Some(c) = self.conns.get_mut(&name) {
            c.ep.handle_datagram(Instant::now(), d.remote, d.local, data);
        }
    }

    fn route_by_addr(&self, remote: SocketAddr, local: SocketAddr) -> Option<String> {
        let local_ok =
            |p: &ConnPlan| p.local_addrs.is_empty() || p.local_addrs.contains(&local.ip());
        self.conns
            .iter()
            .find(|(_, c)| c.plan.remote_addrs.contains(&remote.ip()) && local_ok(&c.plan))
            .or_else(|| {
                self.conns
                    .iter()
                    .find(|(_, c)| c.plan.remote_addrs.is_empty() && local_ok(&c.plan))
            })
            .map(|(n, _)| n.clone())
    }

    fn on_kernel(&mut self, ev: KernelEvent) {
        let now = Instant::now();
        let reqid = match &ev {
            KernelEvent::Acquire { reqid, .. } | KernelEvent::Expire { reqid, .. } => *reqid,
            KernelEvent::Overrun => {
                tracing::warn!(
                    "kernel events were lost (netlink overrun); acquires may be retried by the kernel"
                );
                return;
            }
        };
        let Some(c) = self
            .conns
            .values_mut()
            .find(|c| c.plan.child_by_reqid(reqid).is_some())
        else {
            tracing::debug!(reqid, "kernel event for a reqid that is not ours");
            return;
        };
        match ev {
            KernelEvent::Acquire {
                reqid, cpu, seq, ..
            } => {
                tracing::info!(connection = %c.plan.name, reqid, ?cpu, seq, "acquire");
                c.ep.handle_kernel(now, ike_core::KernelEvent::Acquire { reqid, cpu, seq });
            }
            KernelEvent::Expire { spi: 0, .. } => {
                // A larval (acquire) state timed out; the kernel acquires again on traffic.
                tracing::debug!(connection = %c.plan.name, "acquire state expired");
            }
            KernelEvent::Expire { spi, hard, .. } => {
                tracing::info!(connection = %c.plan.name, spi = format_args!("{spi:08x}"), hard, "expire");
                c.ep.handle_kernel(
                    now,
                    ike_core::KernelEvent::Expire {
                        spi: ike_core::Spi(spi),
                        hard,
                    },
                );
            }
            KernelEvent::Overrun => {}
        }
    }

    /// Sends what the engines queued and acts on their events until all are idle.
    pub(super) async fn drain(&mut self) {
        let now = Instant::now();
        for _ in 0..64 {
            let mut transmits: Vec<(String, Transmit)> = Vec::new();
            let mut events: Vec<(String, Event)> = Vec::new();
            for (name, c) in &mut self.conns {
                while let Some(t) = c.ep.poll_transmit(now) {
                    transmits.push((name.clone(), t));
                }
                while let Some(e) = c.ep.poll_event() {
                    events.push((name.clone(), e));
                }
            }
            if transmits.is_empty() && events.is_empty() {
                return;
            }
            for (name, t) in transmits {
                self.send(&name, &t).await;
            }
            for (name, e) in events {
                self.on_event(&name, e).await;
            }
        }
        tracing::warn!("engine kept producing output; continuing on the next input");
    }

    async fn send(&mut self, conn: &str, t: &Transmit) {
        let nat = t.local.port() == self.config.daemon.nat_port || t.local.port() == 4500;
        let ike = if nat && t.data.starts_with(&[0, 0, 0, 0]) {
            &t.data[4..]
        } else {
            &t.data[..]
        };
        if let Some((spi_i, spi_r, flags)) = ike_header(ike) {
            let initiator = flags & FLAG_INITIATOR != 0;
            let ours = if initiator { spi_i } else { spi_r };
            if ours != 0 {
                self.spi_owner
                    .entry(ours)
                    .or_insert_with(|| (conn.to_string(), initiator));
            }
        }
        let Some(sock) = self.socket_for(t.local) else {
            tracing::warn!(local = %t.local, "no socket to send from; is the address in [daemon] listen?");
            return;
        };
        if let Err(e) = sock.send(&t.data, t.local.ip(), t.remote).await {
            tracing::warn!(remote = %t.remote, "send failed: {e}");
        }
    }

    fn socket_for(&self, local: SocketAddr) -> Option<Arc<IkeSocket>> {
        let same_family = |s: &&Arc<IkeSocket>| s.local.is_ipv4() == local.is_ipv4();
        let port = if local.port() == 0 {
            self.config.daemon.ike_port
        } else {
            local.port()
        };
        let port = if port == 4500 {
            self.config.daemon.nat_port
        } else {
            port
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

    async fn on_event(&mut self, conn: &str, ev: Event) {
        match ev {
            Event::IkeSaUp {
                ike,
                connection,
                peer_id,
                spi_i,
                spi_r,
                algorithms,
                local,
                remote,
            } => {
                let initiator = self.spi_owner.get(&spi_i.0).is_some_and(|(_, init)| *init);
                let c = self
                    .conns
                    .get(conn)
                    .map(|c| &c.plan.endpoint.connections[0]);
                let local_id = c
                    .map(|c| plan::identity_text(&c.local_id))
                    .unwrap_or_default();
                tracing::info!(
                    connection = %connection, peer = %remote, peer_id = %plan::identity_text(&peer_id),
                    spi_i = format_args!("{:016x}", spi_i.0), spi_r = format_args!("{:016x}", spi_r.0),
                    "IKE SA established"
                );
                self.tables.ike.insert(
                    (conn.to_string(), ike),
                    IkeRecord {
                        conn: conn.to_string(),
                        state: "established",
                        initiator,
                        local: Some(local),
                        remote: Some(remote),
                        local_id,
                        remote_id: plan::identity_text(&peer_id),
                        spi_i: spi_i.0,
                        spi_r: spi_r.0,
                        algorithms: algorithms_text(&algorithms),
                        established: Some(Instant::now()),
                    },
                );
                if self.pacer.done(conn, ike) {
                    self.pump();
                }
                let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_up)
                    .into_iter()
                    .partition(|p| p.conn == conn && p.ike == ike);
                self.pending_up = keep;
                for p in done {
                    let _ = p.reply.send(Response::ok(format!(
                        "{conn}: IKE SA established with {remote}"
                    )));
                }
            }
            Event::IkeSaDown { ike, reason } => {
                tracing::info!(connection = %conn, "IKE SA closed: {reason}");
                if self.pacer.done(conn, ike) {
                    self.pump();
                }
                if let Some(rec) = self.tables.ike.remove(&(conn.to_string(), ike)) {
                    self.spi_owner.remove(&rec.spi_i);
                    self.spi_owner.remove(&rec.spi_r);
                }
                let (failed, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_up)
                    .into_iter()
                    .partition(|p| p.conn == conn && p.ike == ike);
                self.pending_up = keep;
                for p in failed {
                    let _ = p
                        .reply
                        .send(Response::error(format!("{conn}: IKE SA failed: {reason}")));
                }
            }
            Event::ChildSaReady(inst) => {
                let (child, name) = (inst.child, inst.name.clone());
                if let Err(e) = self.install_child(conn, &inst).await {
                    tracing::error!(connection = %conn, child = %name, "installing the Child SA failed: {e:#}; deleting it on both sides");
                    if let Some(c) = self.conns.get_mut(conn) {
                        let _ = c.ep.delete_child(Instant::now(), child);
                    }
                }
            }
            Event::ChildSaRekeyed { old, new } => {
                let (child, name) = (new.child, new.name.clone());
                match self.install_child(conn, &new).await {
                    Ok(()) => self.remove_child(conn, old).await,
                    Err(e) => {
                        tracing::error!(connection = %conn, child = %name, "installing the rekeyed Child SA failed: {e:#}; deleting it");
                        if let Some(c) = self.conns.get_mut(conn) {
                            let _ = c.ep.delete_child(Instant::now(), child);
                        }
                    }
                }
            }
            Event::ChildSaDeleted { child, .. } => self.remove_child(conn, child).await,
            Event::PerCpuGroupFull { name, full, .. } => {
                self.set_cpu_acquire(conn, &name, !full).await;
            }
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
            RequestKind::Down { name } => self.down(&name).await,
            RequestKind::Up { name } => {
                if !self.conns.contains_key(&name) {
                    Response::error(format!("no connection named {name:?} (see `lanes status`)"))
                } else if self
                    .conns
                    .get(&name)
                    .is_some_and(|c| !c.ep.established().is_empty())
                {
                    Response::ok(format!("{name}: already established"))
                } else {
                    // Brought up by hand: no second initiation from the start queue.
                    self.pacer.forget(&name);
                    self.install_traps(&name).await;
                    match self.initiate(&name) {
                        Some(Ok(ike)) => {
                            self.pending_up.push(PendingUp {
                                conn: name,
                                ike,
                                reply,
                                deadline: Instant::now() + UP_TIMEOUT,
                            });
                            return;
                        }
                        Some(Err(e)) => Response::error(format!("{name}: {e}")),
                        None => Response::error(format!("no connection named {name:?}")),
                    }
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
        let (ikes, children) = self.teardown_conn(name).await;
        Response::ok(format!(
            "{name}: closed {ikes} IKE SA(s), removed {children} Child SA(s) and its policies"
        ))
    }

    /// Re-reads the config: removed connections are torn down, added ones
    /// loaded, changed ones replaced, unchanged ones left alone.
    pub async fn reload(&mut self) -> Result<String> {
        let new = Config::load(&self.config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        if new.daemon != self.config.daemon {
            tracing::warn!(
                "[daemon] changed; restart lanes to apply listen/ports/steering changes"
            );
        }
        let per_cpu_ok = self.per_cpu_ok();
        let mut plans = plan::all(&new, &mut self.reqids, self.opts.cpus, per_cpu_ok)?;
        let old: Vec<String> = self.conns.keys().cloned().collect();
        let (mut added, mut removed, mut changed, mut same) = (0, 0, 0, 0);
        for name in &old {
            match plans.get(name) {
                None => {
                    self.pacer.forget(name);
                    self.teardown_conn(name).await;
                    self.conns.remove(name);
                    removed += 1;
                }
                Some(p)
                    if self
                        .conns
                        .get(name)
                        .is_some_and(|c| c.plan.fingerprint != p.fingerprint) =>
                {
                    self.pacer.forget(name);
                    self.teardown_conn(name).await;
                    self.conns.remove(name);
                    changed += 1;
                }
                Some(_) => {
                    plans.remove(name);
                    same += 1;
                }
            }
        }
        self.pacer.set_limit(new.daemon.max_initiating);
        self.config = new;
        for (name, p) in plans {
            if !old.contains(&name) {
                added += 1;
            }
            self.add_conn(p).await;
        }
        Ok(format!(
            "reloaded: {added} added, {removed} removed, {changed} changed, {same} unchanged"
        ))
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
        let names: Vec<String> = self.conns.keys().cloned().collect();
        for n in &names {
            self.teardown_conn(n).await;
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
    fn per_cpu_ok(&self) -> bool {
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
