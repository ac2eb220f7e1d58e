//! Bringing connections back: what a dead peer (`dpd_action`), a peer's
//! delete (`close_action`) and a failed initiation (`keyingtries`) lead to,
//! decided by [`ike_core::recovery`] and carried out here; and where each
//! initiation goes: the `remote_addrs` entry of the attempt (failover in
//! order; DNS names resolved on a tokio task with a timeout), from the source
//! address the route picks when `local_addrs` is empty. Actions are per
//! child, as in swanctl.conf: a revival brings back only the children whose
//! action is `restart`/`start`, traps only those whose action is `trap`, and
//! a start-up initiation carries only the `start_action = "start"` children.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ike_core::recovery::{self, Cause, ChildActions, Decision, Policy, Recovery};
use ike_core::timer::RetransmitConfig;
use ike_core::{Error, IkeSaId};
use tokio::sync::{mpsc, oneshot};

use super::backend::SaBackend;
use super::driver::{Daemon, PendingUp, UP_TIMEOUT};
use super::plan::ConnPlan;
use super::steering::Steer;
use crate::config::{self, RemoteAddr, StartAction};
use crate::control::Response;

/// How long a DNS name may take to resolve before the attempt fails.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// `[daemon] retransmit_*` for the engine (strongSwan's `charon.retransmit_*`).
pub fn retransmit(d: &config::Daemon) -> RetransmitConfig {
    RetransmitConfig {
        timeout: Duration::from_secs_f64(d.retransmit_timeout.0.clamp(0.001, 3600.0)),
        base: d.retransmit_base.0,
        tries: d.retransmit_tries,
    }
}

/// The actions of `c`'s children, in the engine's child order.
pub fn child_actions(c: &config::Connection) -> Vec<ChildActions> {
    c.children
        .values()
        .map(|ch| ChildActions {
            dpd: ch.dpd_action.action(),
            close: ch.close_action.action(),
        })
        .collect()
}

/// A connection's recovery: it restarts (or traps) when any child does;
/// [`recovery::split`] then picks the children.
pub fn policy(c: &config::Connection) -> Policy {
    Policy::of_children(&child_actions(c), c.keyingtries)
}

/// The children (engine indexes) an initiation for `then` carries: a
/// revival's own set, the `start` children at start-up, all for `lanes up`.
fn children_for(plan: &ConnPlan, then: &After, revival: Option<&Vec<u16>>) -> Vec<u16> {
    let all = (0..plan.children.len()).filter_map(|i| u16::try_from(i).ok());
    match (then, revival) {
        (After::Revive, Some(set)) => set.clone(),
        (After::Pacer, _) => all
            .filter(|&i| {
                plan.children
                    .get(usize::from(i))
                    .is_some_and(|c| c.start_action == StartAction::Start)
            })
            .collect(),
        _ => all.collect(),
    }
}

/// The entry of `addrs` that attempt `attempt` (1-based; 0 = the first) uses.
pub fn target(addrs: &[RemoteAddr], attempt: u32) -> Option<&RemoteAddr> {
    let n = usize::try_from(attempt.saturating_sub(1)).unwrap_or(0);
    addrs.get(n.checked_rem(addrs.len())?)
}

/// The source address the routing table picks for `to` (a connected UDP
/// socket sends nothing; the kernel only looks the route up).
pub fn routed_source(to: SocketAddr) -> Option<IpAddr> {
    let any: IpAddr = if to.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    s.connect(to).ok()?;
    Some(s.local_addr().ok()?.ip())
}

/// What follows an initiation.
#[derive(Debug)]
pub enum After {
    /// A `start` connection: counts in the pacer.
    Pacer,
    /// `lanes up`: answer when the IKE SA is up or failed.
    Up(oneshot::Sender<Response>),
    /// A revival: nothing more.
    Revive,
}

/// A finished DNS lookup.
#[derive(Debug)]
pub struct Resolved {
    conn: String,
    result: Result<IpAddr, String>,
    then: After,
}

/// Recovery state of the daemon.
#[derive(Debug)]
pub struct Revive {
    rec: Recovery<String>,
    /// IKE SAs that were established (their end is a death or a close, not a failed start).
    up: HashSet<IkeSaId>,
    /// The children a connection's revival brings back (until it is up).
    children: HashMap<String, Vec<u16>>,
    tx: mpsc::UnboundedSender<Resolved>,
    rx: Option<mpsc::UnboundedReceiver<Resolved>>,
}

impl Default for Revive {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            rec: Recovery::default(),
            up: HashSet::new(),
            children: HashMap::new(),
            tx,
            rx: Some(rx),
        }
    }
}

impl Revive {
    /// The receiver of DNS results, once (for the event loop).
    pub fn take_resolved(&mut self) -> mpsc::UnboundedReceiver<Resolved> {
        self.rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1)
    }

    /// The next scheduled initiation.
    pub fn deadline(&self) -> Option<Instant> {
        self.rec.poll_timeout()
    }

    /// Stops reviving `conn` (down by hand, removed).
    pub fn forget(&mut self, conn: &str) {
        self.rec.forget(&conn.to_string());
        self.children.remove(conn);
    }

    fn resolve(&self, conn: &str, host: String, port: u16, v4: Option<bool>, then: After) {
        let tx = self.tx.clone();
        let conn = conn.to_string();
        tokio::spawn(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            let result = match tokio::time::timeout(DNS_TIMEOUT, lookup).await {
                Err(_) => Err(format!(
                    "resolving {host}: no answer within {}s",
                    DNS_TIMEOUT.as_secs()
                )),
                Ok(Err(e)) => Err(format!("resolving {host}: {e}")),
                Ok(Ok(mut addrs)) => addrs
                    .find(|a| v4.is_none_or(|v| a.is_ipv4() == v))
                    .map(|a| a.ip())
                    .ok_or_else(|| format!("{host} has no address of local_addrs' family")),
            };
            let _ = tx.send(Resolved { conn, result, then });
        });
    }
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// Initiates `name` towards the `remote_addrs` entry of its current attempt.
    pub(super) fn initiate_via(&mut self, name: &str, then: After) {
        let Some(c) = self.conns.get(name) else {
            return self.initiate_failed(name, format!("no connection named {name:?}"), then);
        };
        let attempt = self.revive.rec.attempt(&name.to_string());
        match target(&c.plan.remote_addrs, attempt).cloned() {
            None => self.initiate_to(name, None, then),
            Some(RemoteAddr::Ip(ip)) => self.initiate_to(name, Some(ip), then),
            Some(RemoteAddr::Name(host)) => {
                let v4 = c.plan.local_addrs.first().map(IpAddr::is_ipv4);
                tracing::info!(connection = %name, %host, "resolving the peer's name");
                self.revive
                    .resolve(name, host, self.remote_port(name), v4, then);
            }
        }
    }

    fn remote_port(&self, name: &str) -> u16 {
        self.config
            .connections
            .get(name)
            .map_or(self.config.daemon.ike_port, |c| c.remote_port)
    }

    fn initiate_to(&mut self, name: &str, ip: Option<IpAddr>, then: After) {
        let Some(c) = self.conns.get(name) else {
            return self.initiate_failed(name, format!("no connection named {name:?}"), then);
        };
        let (id, own) = (c.id, c.plan.connection.local.ip());
        let children = children_for(&c.plan, &then, self.revive.children.get(name));
        let to = ip.map(|ip| SocketAddr::new(ip, self.remote_port(name)));
        let from = own
            .is_unspecified()
            .then(|| to.or(c.plan.connection.remote).and_then(routed_source))
            .flatten();
        let now = Instant::now();
        match self.ep.initiate_children_to(now, id, &children, from, to) {
            Ok(ike) => {
                tracing::info!(connection = %name, peer = ?to.or(c.plan.connection.remote), source = ?from, children = children.len(), "initiating");
                match then {
                    After::Pacer => {
                        // Retries of a failed start carry the same children.
                        self.revive.children.insert(name.to_string(), children);
                        self.pacer.started(name, ike, now);
                    }
                    After::Up(reply) => self.pending_up.push(PendingUp {
                        conn: name.to_string(),
                        ike,
                        reply,
                        deadline: now + UP_TIMEOUT,
                    }),
                    After::Revive => {}
                }
            }
            Err(e) => self.initiate_failed(name, e.to_string(), then),
        }
    }

    fn initiate_failed(&mut self, name: &str, why: String, then: After) {
        tracing::warn!(connection = %name, "cannot initiate: {why}");
        match then {
            After::Up(reply) => {
                let _ = reply.send(Response::error(format!("{name}: {why}")));
            }
            After::Pacer | After::Revive => self.revive_decide(name, Cause::StartFailed),
        }
    }

    /// A DNS lookup finished.
    pub(super) fn on_resolved(&mut self, r: Resolved) {
        match r.result {
            Ok(ip) => self.initiate_to(&r.conn, Some(ip), r.then),
            Err(e) => self.initiate_failed(&r.conn, e, r.then),
        }
    }

    /// `Event::IkeSaUp`.
    pub(super) fn revive_up(&mut self, conn: &str, ike: IkeSaId) {
        self.revive.up.insert(ike);
        self.revive.rec.on_up(&conn.to_string());
        self.revive.children.remove(conn);
    }

    /// `Event::IkeSaDown`: the connection's action, unless another of its
    /// IKE SAs is still up.
    pub(super) fn revive_down(&mut self, conn: &str, ike: IkeSaId, reason: &Error) {
        let was_up = self.revive.up.remove(&ike);
        if conn.is_empty() || !self.conns.contains_key(conn) || self.is_up(conn) {
            return;
        }
        self.revive_decide(conn, Cause::of(reason, was_up));
    }

    fn revive_decide(&mut self, conn: &str, cause: Cause) {
        let Some(c) = self.config.connections.get(conn) else {
            return;
        };
        let (policy, no_remote) = (policy(c), c.remote_addrs.is_empty());
        let split = recovery::split(cause, &child_actions(c));
        if !split.trap.is_empty() {
            self.arm_traps(conn, &split.trap);
        }
        if !split.restart.is_empty() {
            self.revive.children.insert(conn.to_string(), split.restart);
        }
        let key = conn.to_string();
        match self
            .revive
            .rec
            .on_down(&key, Instant::now(), cause, &policy)
        {
            Decision::Nothing => {}
            Decision::Restart { .. } if no_remote => {
                tracing::info!(connection = %conn, "not restarting: no remote_addrs to initiate to");
                self.revive.rec.forget(&key);
            }
            Decision::Restart { at } => {
                let wait = at.saturating_duration_since(Instant::now());
                tracing::info!(connection = %conn, ?cause, "initiating again in {:.1}s", wait.as_secs_f64());
            }
            Decision::Trap => {}
            Decision::GaveUp { attempts } => {
                tracing::warn!(connection = %conn, attempts, "giving up after keyingtries failed attempts; `lanes up` tries again");
            }
        }
    }

    /// Installs the traps of `conn`, the revival traps of children `which` included.
    fn arm_traps(&mut self, conn: &str, which: &[u16]) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        for &i in which {
            if let Some(ch) = c.plan.children.get_mut(usize::from(i))
                && ch.trap_policies.is_empty()
            {
                ch.trap_policies = ch.revival_traps.clone();
            }
        }
        tracing::info!(connection = %conn, children = which.len(), "installing traps: traffic negotiates again");
        let children = c.plan.children.clone();
        self.planner.load(conn, &children);
    }

    /// The peer deleted a Child SA of child `reqid` whose `close_action` is
    /// `trap`: its trap comes back, on this IKE SA's connection only.
    pub(super) fn trap_closed_child(&mut self, conn: &str, reqid: u32) {
        let Some(i) = self
            .conns
            .get(conn)
            .and_then(|c| c.plan.children.iter().position(|ch| ch.reqid == reqid))
        else {
            return;
        };
        if let Ok(i) = u16::try_from(i) {
            self.arm_traps(conn, &[i]);
        }
    }

    /// Initiates the connections whose revival is due.
    pub(super) fn revive_due(&mut self) {
        let now = Instant::now();
        while let Some(name) = self.revive.rec.poll_due(now) {
            if self.is_up(&name) {
                self.revive.rec.on_up(&name);
                continue;
            }
            self.initiate_via(&name, After::Revive);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parsed(src: &str) -> config::Config {
        let text = format!(
            "[connections.c]\nlocal_addrs = [\"10.0.0.1\"]\nremote_addrs = [\"10.0.0.2\"]\n\
             local = {{ auth = \"psk\", id = \"a\" }}\nremote = {{ auth = \"psk\", id = \"b\" }}\n{src}\n\
             [secrets.s]\nsecret = \"0123456789abcdef\"\n"
        );
        config::Config::parse(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn conn(src: &str) -> config::Connection {
        parsed(src).connections.remove("c").expect("conn")
    }

    #[test]
    fn policy_takes_the_strongest_child_action_and_keyingtries() {
        use ike_core::recovery::Action;
        let c = conn(
            "keyingtries = 0\n[connections.c.children.x]\ndpd_action = \"trap\"\n\
             [connections.c.children.y]\ndpd_action = \"restart\"\nclose_action = \"trap\"\n",
        );
        let p = policy(&c);
        assert_eq!(
            (p.dpd_action, p.close_action, p.keyingtries),
            (Action::Restart, Action::Trap, 0)
        );
        let d = policy(&conn("[connections.c.children.x]\n"));
        assert_eq!(
            (d.dpd_action, d.close_action, d.keyingtries),
            (Action::None, Action::None, 1)
        );
    }

    #[test]
    fn each_initiation_carries_its_own_children() {
        let src = "[connections.c.children.a]\nstart_action = \"start\"\ndpd_action = \"restart\"\n\
                   [connections.c.children.b]\ndpd_action = \"trap\"\nclose_action = \"start\"\n\
                   [connections.c.children.c]\nstart_action = \"start\"\n";
        let cfg = parsed(src);
        let c = &cfg.connections["c"];
        let plan = super::super::plan::connection(&cfg, "c", c, &mut Default::default(), 2, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let dead = recovery::split(Cause::Dead, &child_actions(c));
        assert_eq!((dead.restart.clone(), dead.trap), (vec![0], vec![1]));
        let closed = recovery::split(Cause::ClosedByPeer, &child_actions(c));
        assert_eq!((closed.restart, closed.trap), (vec![1], vec![]));
        assert_eq!(
            children_for(&plan, &After::Revive, Some(&dead.restart)),
            [0]
        );
        assert_eq!(children_for(&plan, &After::Pacer, None), [0, 2]);
        assert_eq!(children_for(&plan, &After::Revive, None), [0, 1, 2]);
        let (tx, _rx) = oneshot::channel();
        assert_eq!(
            children_for(&plan, &After::Up(tx), Some(&dead.restart)),
            [0, 1, 2]
        );
        assert!(
            !plan.children[1].revival_traps.is_empty(),
            "b traps on a dead peer"
        );
        assert!(
            plan.children[0].revival_traps.is_empty(),
            "a restarts instead"
        );
    }

    #[test]
    fn attempts_fail_over_in_order_and_wrap() {
        let a: Vec<RemoteAddr> = ["10.0.0.2", "gw.example", "10.0.0.3"]
            .iter()
            .map(|s| s.parse().expect("addr"))
            .collect();
        let picks: Vec<String> = (0..=5)
            .map(|n| target(&a, n).expect("some").to_string())
            .collect();
        assert_eq!(
            picks,
            [
                "10.0.0.2",
                "10.0.0.2",
                "gw.example",
                "10.0.0.3",
                "10.0.0.2",
                "gw.example"
            ]
        );
        assert_eq!(target(&[], 3), None);
    }

    #[test]
    fn retransmit_settings_reach_the_engine() {
        let d = config::Daemon {
            retransmit_tries: 2,
            retransmit_timeout: config::Decimal(0.5),
            retransmit_base: config::Decimal(1.5),
            ..config::Daemon::default()
        };
        let r = retransmit(&d);
        assert_eq!(r.tries, 2);
        assert_eq!(r.delay(0), Duration::from_millis(500));
        assert_eq!(r.delay(1), Duration::from_millis(750));
        assert_eq!(
            retransmit(&config::Daemon::default()),
            RetransmitConfig::default()
        );
    }

    #[test]
    fn the_route_picks_a_source_for_loopback() {
        let to: SocketAddr = "127.0.0.1:500".parse().expect("addr");
        assert_eq!(routed_source(to), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
