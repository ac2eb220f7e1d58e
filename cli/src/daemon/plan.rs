//! From the TOML config to what the daemon runs: one ike-core
//! [`ConnectionConfig`] per connection (added to, and removed from, the one
//! engine on reloads), reqids, and per-child kernel settings.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ike_core::{
    ChildConfig, ConnectionConfig, CpuId, Identity, PerCpu, PerCpuMode, Psk, TrafficSelector,
};
use xfrm_offload::{OffloadMode, PolicySpec};

use super::kernel::policies;
use super::route::{self, Interface, RouteIds};
use crate::config::{self, Config, Connection, HwOffload, StartAction, Subnet};

/// Priority base for policies (lower = preferred); leaves room below for others.
pub const POLICY_PRIORITY: u32 = 200_000;

/// Settings of one child the daemon needs beyond the engine.
#[derive(Clone, Debug)]
pub struct ChildPlan {
    /// Child name.
    pub name: String,
    /// Kernel reqid of the config (its traps, and its Child SAs negotiated
    /// with `selectors`; other selector sets get their own, see
    /// `planner::reqids`).
    pub reqid: u32,
    /// The configured (local, remote) selectors; empty is `dynamic`.
    pub selectors: (Vec<TrafficSelector>, Vec<TrafficSelector>),
    /// Start action.
    pub start_action: StartAction,
    /// Part of an RFC 9611 group.
    pub per_cpu: bool,
    /// Requested offload.
    pub offload: OffloadMode,
    /// Inbound anti-replay window.
    pub replay_window: u32,
    /// Tunnel mode.
    pub tunnel: bool,
    /// Trap policies (for `start_action = trap`).
    pub trap_policies: Vec<PolicySpec>,
    /// Trap policies installed only when `dpd_action` or `close_action` is
    /// `trap` and the IKE SA died or was closed (children not trapped anyway).
    pub revival_traps: Vec<PolicySpec>,
    /// Interface ids and marks of its SAs and policies (route-based VPN).
    pub route: RouteIds,
    /// The XFRM interface lanes creates for it, if any.
    pub interface: Option<Interface>,
}

/// One connection, ready to run.
#[derive(Debug)]
pub struct ConnPlan {
    /// Connection name.
    pub name: String,
    /// The engine's configuration of this connection.
    pub connection: ConnectionConfig,
    /// Children.
    pub children: Vec<ChildPlan>,
    /// Configured remote addresses and names, tried in order.
    pub remote_addrs: Vec<config::RemoteAddr>,
    /// Configured local addresses.
    pub local_addrs: Vec<IpAddr>,
}

impl ConnPlan {
    /// The legacy algorithms its IKE and ESP proposals name (allowed by
    /// `legacy = true`).
    pub fn legacy_algorithms(&self) -> Vec<&'static str> {
        let esp = self
            .connection
            .children
            .iter()
            .flat_map(|c| c.esp_proposals.iter());
        config::legacy_names(self.connection.ike_proposals.iter().chain(esp))
    }

    /// Whether a child config with this reqid belongs here.
    pub fn child_by_reqid(&self, reqid: u32) -> Option<&ChildPlan> {
        self.children.iter().find(|c| c.reqid == reqid)
    }

    /// Whether any child starts at start-up.
    pub fn starts(&self) -> bool {
        self.children
            .iter()
            .any(|c| c.start_action == StartAction::Start)
    }
}

/// Hands out reqids that stay stable for a (connection, child) across reloads.
#[derive(Debug, Default)]
pub struct Reqids {
    map: HashMap<(String, String), u16>,
    next: u16,
}

impl Reqids {
    /// The reqid for `conn`/`child` (tagged as lanes', see `xfrm_offload::tag`).
    pub fn get(&mut self, conn: &str, child: &str) -> Result<u32> {
        let key = (conn.to_string(), child.to_string());
        let n = match self.map.get(&key) {
            Some(n) => *n,
            None => {
                self.next = self.next.checked_add(1).context("out of reqids")?;
                self.map.insert(key, self.next);
                self.next
            }
        };
        Ok(xfrm_offload::tag::reqid(n)?.0)
    }
}

/// `gw-b.example` → FQDN, `a@b` → RFC 822, an address → ID_IPV4/6_ADDR,
/// `C=CH, O=X, CN=gw` → ID_DER_ASN1_DN (as strongSwan reads them).
pub fn identity(s: &str) -> Identity {
    let dn = || {
        config::pki::looks_like_dn(s)
            .then(|| ike_core::pki::chain::parse_dn(s).ok())
            .flatten()
    };
    if let Ok(ip) = s.parse::<IpAddr>() {
        Identity::Addr(ip)
    } else if let Some(der) = dn() {
        Identity::Other(ike_core::wire::IdType::DER_ASN1_DN.0, der)
    } else if let Some(fqdn) = s.strip_prefix('@') {
        Identity::Fqdn(fqdn.to_string())
    } else if s.contains('@') {
        Identity::Email(s.to_string())
    } else {
        Identity::Fqdn(s.to_string())
    }
}

/// Renders an identity for status output.
pub fn identity_text(id: &Identity) -> String {
    match id {
        Identity::Addr(a) => a.to_string(),
        Identity::Fqdn(s) | Identity::Email(s) => s.clone(),
        Identity::KeyId(k) => format!(
            "keyid:{}",
            k.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Identity::Other(9, _) => ike_core::pki::chain::identity_text(id),
        Identity::Other(t, d) => format!("type{t}:{} bytes", d.len()),
    }
}

fn unspecified_like(other: Option<&IpAddr>) -> IpAddr {
    match other {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Configured subnets; empty stays empty: `dynamic`, resolved by the engine to
/// the IKE SA's own addresses (never 0.0.0.0/0).
fn selectors(list: &[Subnet]) -> Vec<TrafficSelector> {
    list.iter()
        .map(|s| TrafficSelector::subnet(s.addr, s.prefix))
        .collect()
}

/// Trap policies of a child: its selectors with `dynamic` resolved to the
/// configured addresses (trap needs both, see `config::validate`).
fn trap_policies(
    cc: &ChildConfig,
    local: IpAddr,
    remote: IpAddr,
    tunnel: bool,
    per_cpu: bool,
) -> Result<Vec<PolicySpec>> {
    let (l, r) = cc.selectors(local, remote);
    if let Err(e) = ike_core::selector::within_cap(&l, &r, cc.max_policies) {
        bail!(
            "child {}: {e}; raise max_policies or use fewer selectors",
            cc.name
        );
    }
    let blocks = super::kernel::blocks(&l, &r)?;
    Ok(policies(
        local,
        remote,
        &blocks,
        tunnel,
        cc.reqid,
        per_cpu,
        POLICY_PRIORITY,
    ))
}

fn offload(h: HwOffload) -> OffloadMode {
    match h {
        HwOffload::No => OffloadMode::No,
        HwOffload::Crypto => OffloadMode::Crypto,
        HwOffload::Packet => OffloadMode::Packet,
        HwOffload::Auto => OffloadMode::Auto,
    }
}

/// Where the children of one connection are planned.
struct ChildSite<'a> {
    conn: &'a str,
    cpus: u32,
    per_cpu_ok: bool,
    local_ip: IpAddr,
    remote_ip: IpAddr,
    /// The connection's default (if_id_in, if_id_out).
    if_ids: (Option<u32>, Option<u32>),
}

/// Builds the plan of one connection.
pub fn connection(
    cfg: &Config,
    name: &str,
    c: &Connection,
    reqids: &mut Reqids,
    cpus: u32,
    per_cpu_ok: bool,
) -> Result<ConnPlan> {
    let local_ip = c.local_addrs.first().copied().unwrap_or_else(|| {
        unspecified_like(config::literal_addrs(&c.remote_addrs).next().as_ref())
    });
    let mut conn = connection_config(cfg, name, c, local_ip)?;
    let site = ChildSite {
        conn: name,
        cpus,
        per_cpu_ok,
        local_ip,
        remote_ip: config::literal_addrs(&c.remote_addrs)
            .next()
            .unwrap_or_else(|| unspecified_like(Some(&local_ip))),
        if_ids: (c.if_id_in, c.if_id_out),
    };
    let mut children = Vec::new();
    for (chname, ch) in &c.children {
        let reqid = reqids.get(name, chname)?;
        let (cc, plan) = child(&site, chname, ch, reqid)?;
        children.push(plan);
        conn.children.push(cc);
    }
    Ok(ConnPlan {
        name: name.to_string(),
        connection: conn,
        children,
        remote_addrs: c.remote_addrs.clone(),
        local_addrs: c.local_addrs.clone(),
    })
}

/// The engine's config of a connection, without its children.
fn connection_config(
    cfg: &Config,
    name: &str,
    c: &Connection,
    local_ip: IpAddr,
) -> Result<ConnectionConfig> {
    let local = SocketAddr::new(local_ip, cfg.daemon.ike_port);
    let uses_psk =
        c.local.auth == config::AuthMethod::Psk || c.remote.auth == config::AuthMethod::Psk;
    let psk = match cfg.psk(&c.local_id(), &c.remote_id()) {
        Some(k) => Psk::new(k.expose().to_vec()),
        None if !uses_psk => Psk::new(Vec::new()),
        None => bail!("connection {name}: no secret for {}", c.remote_id()),
    };
    let mut conn = ConnectionConfig::new(name, local, identity(&c.local_id()), psk);
    let pki = |e: String| anyhow::anyhow!("connection {name}: {e}");
    conn.local_cert = config::pki::local_cert(&c.local)
        .map_err(pki)?
        .map(Arc::new);
    conn.remote_ca = config::pki::trust_store(&c.remote)
        .map_err(pki)?
        .map(|s| Arc::new(ike_core::pki::TrustStore { ocsp: true, ..s }));
    conn.remote = config::literal_addrs(&c.remote_addrs)
        .next()
        .map(|ip| SocketAddr::new(ip, c.remote_port));
    conn.remote_id = c.remote.id.as_deref().map(identity);
    conn.ike_proposals = c
        .proposals
        .iter()
        .flat_map(|p| p.0.parsed.clone())
        .collect();
    conn.rekey_time = c.rekey_time.duration();
    conn.dpd_delay = c.dpd_delay.duration();
    conn.dpd_timeout = c.dpd_timeout.duration();
    conn.force_encap = c.encap;
    conn.fragmentation = c.fragmentation.into();
    conn.max_child_sas = c.max_child_sas;
    Ok(conn)
}

/// The engine's config and the daemon's plan of one child.
fn child(
    site: &ChildSite<'_>,
    chname: &str,
    ch: &config::Child,
    reqid: u32,
) -> Result<(ChildConfig, ChildPlan)> {
    let per_cpu_sas = if ch.per_cpu_sas.enabled() && !site.per_cpu_ok {
        tracing::warn!(connection = %site.conn, child = %chname, "the kernel lacks per-CPU SAs (Linux 6.13+): negotiating one SA pair");
        config::PerCpuSas::No
    } else {
        ch.per_cpu_sas
    };
    let cc = child_config(chname, ch, reqid, per_cpu_sas, site.cpus);
    let tunnel = ch.mode == config::Mode::Tunnel;
    let (route, interface) = route_based(site, ch);
    let traps = || {
        let (local, remote) = (site.local_ip, site.remote_ip);
        trap_policies(&cc, local, remote, tunnel, per_cpu_sas.enabled())
            .with_context(|| format!("connection {}", site.conn))
    };
    let trap_on_revival =
        ch.dpd_action == config::DpdAction::Trap || ch.close_action == config::CloseAction::Trap;
    let (mut trap_policies, mut revival_traps) = match ch.start_action {
        StartAction::Trap => (traps()?, Vec::new()),
        _ if trap_on_revival => (Vec::new(), traps()?),
        _ => (Vec::new(), Vec::new()),
    };
    trap_policies.iter_mut().for_each(|p| route.apply_policy(p));
    revival_traps.iter_mut().for_each(|p| route.apply_policy(p));
    let plan = ChildPlan {
        name: chname.to_string(),
        reqid,
        selectors: (cc.local_ts.clone(), cc.remote_ts.clone()),
        start_action: ch.start_action,
        per_cpu: per_cpu_sas.enabled(),
        offload: offload(ch.hw_offload),
        replay_window: ch.replay_window,
        tunnel,
        trap_policies,
        revival_traps,
        route,
        interface,
    };
    Ok((cc, plan))
}

/// A child's interface ids and marks (its own, else the connection's
/// if_ids) and the XFRM interface it names.
fn route_based(site: &ChildSite<'_>, ch: &config::Child) -> (RouteIds, Option<Interface>) {
    let route = RouteIds {
        if_id_in: ch.if_id_in.or(site.if_ids.0),
        if_id_out: ch.if_id_out.or(site.if_ids.1),
        mark_in: route::mark(ch.mark_in),
        mark_out: route::mark(ch.mark_out),
    };
    let interface = ch.interface.clone().map(|name| Interface {
        name,
        if_id: route.if_id_out.unwrap_or_default(),
        routes: if ch.install_routes {
            ch.remote_ts
                .iter()
                .filter_map(|s| xfrm_offload::IpPrefix::new(s.addr, s.prefix).ok())
                .collect()
        } else {
            Vec::new()
        },
    });
    (route, interface)
}

/// The engine's config of one child, with `per_cpu_sas` as the kernel allows.
fn child_config(
    chname: &str,
    ch: &config::Child,
    reqid: u32,
    per_cpu_sas: config::PerCpuSas,
    cpus: u32,
) -> ChildConfig {
    let mut cc = ChildConfig::new(chname.to_string(), reqid);
    cc.esp_proposals = ch
        .esp_proposals
        .iter()
        .flat_map(|p| p.0.parsed.clone())
        .collect();
    cc.local_ts = selectors(&ch.local_ts);
    cc.remote_ts = selectors(&ch.remote_ts);
    cc.max_policies = ch.max_policies;
    cc.mode = match ch.mode {
        config::Mode::Tunnel => ike_core::Mode::Tunnel,
        config::Mode::Transport => ike_core::Mode::Transport,
    };
    cc.rekey_time = ch.rekey_time.duration();
    cc.life_time = ch.life_time().duration();
    cc.rekey_jitter = ch.rand_time().duration();
    cc.volume = ch.volume();
    cc.per_cpu = match per_cpu_sas {
        config::PerCpuSas::No => PerCpu::No,
        config::PerCpuSas::Yes => PerCpu::Yes,
        config::PerCpuSas::Encap => PerCpu::Encap,
    };
    cc.per_cpu_mode = match ch.per_cpu_mode {
        config::PerCpuMode::OnDemand => PerCpuMode::OnDemand,
        config::PerCpuMode::Precreate => PerCpuMode::Precreate((0..cpus).map(CpuId).collect()),
    };
    // Both gateways may create a pair for every CPU (each pins its own
    // outbound SA), so the default responder cap is twice the CPUs.
    cc.per_cpu_max = Some(ch.per_cpu_max.unwrap_or(2 * cpus));
    cc.close_action = ch.close_action.action();
    cc
}

/// Plans for every connection.
pub fn all(
    cfg: &Config,
    reqids: &mut Reqids,
    cpus: u32,
    per_cpu_ok: bool,
) -> Result<BTreeMap<String, ConnPlan>> {
    cfg.connections
        .iter()
        .map(|(name, c)| {
            connection(cfg, name, c, reqids, cpus, per_cpu_ok).map(|p| (name.clone(), p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// An example config as shipped (a checkout leaves it 0644, so the
    /// inline-secret mode check does not apply).
    fn example(path: &Path) -> Config {
        let src = std::fs::read_to_string(path).expect("example");
        Config::parse(&src, path).expect("config")
    }

    #[test]
    fn gw_a_plan() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gw-a.toml");
        let cfg = example(&path);
        let mut reqids = Reqids::default();
        let plans = all(&cfg, &mut reqids, 4, true).expect("plan");
        let p = &plans["gw-b"];
        let conn = &p.connection;
        assert_eq!(conn.local.to_string(), "10.0.0.1:500");
        assert_eq!(
            conn.remote.map(|r| r.to_string()).as_deref(),
            Some("10.0.0.2:500")
        );
        assert_eq!(conn.remote_id, Some(Identity::Fqdn("gw-b.example".into())));
        // Default cap: per_cpu_max (2 x 4 CPUs) + the fallback + 4.
        assert_eq!(conn.max_child_sas, None);
        assert_eq!(conn.child_sa_limit(4), 8 + 1 + 4);
        let ch = &p.children[0];
        assert!(ch.per_cpu);
        assert!(xfrm_offload::tag::is_ours(xfrm_offload::Reqid(ch.reqid)));
        // out, in, fwd; the out policy asks for per-CPU acquires.
        assert_eq!(ch.trap_policies.len(), 3);
        assert_eq!(ch.trap_policies.iter().filter(|p| p.cpu_acquire).count(), 1);
        // Reqids are stable per (connection, child).
        assert_eq!(reqids.get("gw-b", "net").expect("reqid"), ch.reqid);
        assert_ne!(reqids.get("other", "net").expect("reqid"), ch.reqid);
        // Without kernel support the child is planned as a plain one.
        let plain = all(&cfg, &mut reqids, 4, false).expect("plan");
        assert!(!plain["gw-b"].children[0].per_cpu);
        assert!(
            plain["gw-b"].children[0]
                .trap_policies
                .iter()
                .all(|p| !p.cpu_acquire)
        );
    }

    /// What the daemon's load-time warning lists: the legacy algorithms of
    /// the IKE and ESP proposals, once each; nothing for a modern connection.
    #[test]
    fn legacy_algorithms_of_a_plan() {
        let src = r#"
[connections.old]
remote_addrs = ["10.0.0.2"]
legacy = true
proposals = ["aes128-sha1-modp1024", "aes128-sha256-prfsha1-x25519"]
local = { auth = "psk", id = "a" }
remote = { auth = "psk", id = "b" }

[connections.old.children.x]
esp_proposals = ["aes128-sha1"]

[connections.new]
remote_addrs = ["10.0.0.3"]
local = { auth = "psk", id = "a" }
remote = { auth = "psk", id = "b" }

[connections.new.children.x]

[secrets.s]
secret = "x"
"#;
        let cfg = Config::parse(src, Path::new("legacy.toml")).expect("config");
        let plans = all(&cfg, &mut Reqids::default(), 4, true).expect("plan");
        assert_eq!(
            plans["old"].legacy_algorithms(),
            ["sha1", "modp1024", "prfsha1"]
        );
        assert!(plans["new"].legacy_algorithms().is_empty());
    }

    #[test]
    fn responder_without_remote_addrs_installs_the_peer_address_only() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/responder.toml");
        let cfg = example(&path);
        let plans = all(&cfg, &mut Reqids::default(), 4, true).expect("plan");
        let cc = &plans["roadwarriors"].connection.children[0];
        assert!(cc.remote_ts.is_empty(), "dynamic, not {:?}", cc.remote_ts);
        // The engine's responder narrowing (RFC 7296 §2.9) of a key holder
        // asking for all traffic, from the IKE SA's addresses.
        let (hub, peer): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "203.0.113.7".parse().expect("ip"),
        );
        let all = TrafficSelector::subnet(Ipv4Addr::UNSPECIFIED.into(), 0);
        let (local, remote) = cc.selectors(hub, peer);
        let ts_r = ike_core::config::narrow(&remote, &[all]);
        let ts_l = ike_core::config::narrow(&local, &[all]);
        let blocks = super::super::kernel::blocks(&ts_l, &ts_r).expect("blocks");
        let specs = policies(hub, peer, &blocks, true, cc.reqid, true, POLICY_PRIORITY);
        let out = specs
            .iter()
            .find(|p| p.dir == xfrm_offload::PolicyDir::Out)
            .expect("out policy");
        assert_eq!(out.selector.dst.to_string(), "203.0.113.7/32");
        assert_eq!(out.selector.src.to_string(), "0.0.0.0/0");
        assert_eq!(cc.max_policies, 64);
    }

    #[test]
    fn trap_selectors_over_max_policies_are_a_plan_error() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gw-a.toml");
        let mut cfg = example(&path);
        let ch = cfg
            .connections
            .get_mut("gw-b")
            .and_then(|c| c.children.values_mut().next())
            .expect("child");
        ch.max_policies = 0;
        let e = all(&cfg, &mut Reqids::default(), 4, true).expect_err("over the cap");
        assert!(format!("{e:#}").contains("max_policies"), "{e:#}");
    }

    #[test]
    fn max_child_sas_reaches_the_engine() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gw-a.toml");
        let mut cfg = example(&path);
        cfg.connections.get_mut("gw-b").expect("gw-b").max_child_sas = Some(3);
        let plans = all(&cfg, &mut Reqids::default(), 4, true).expect("plan");
        let conn = &plans["gw-b"].connection;
        assert_eq!(conn.max_child_sas, Some(3));
        assert_eq!(conn.child_sa_limit(4), 3);
    }

    #[test]
    fn fragmentation_reaches_the_engine() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gw-a.toml");
        let mut cfg = example(&path);
        let plans = all(&cfg, &mut Reqids::default(), 4, true).expect("plan");
        let conn = &plans["gw-b"].connection;
        assert_eq!(conn.fragmentation, ike_core::Fragmentation::Yes);
        cfg.connections.get_mut("gw-b").expect("gw-b").fragmentation = config::Fragmentation::Force;
        let plans = all(&cfg, &mut Reqids::default(), 4, true).expect("plan");
        let conn = &plans["gw-b"].connection;
        assert_eq!(conn.fragmentation, ike_core::Fragmentation::Force);
    }

    #[test]
    fn identities() {
        assert_eq!(
            identity("10.0.0.1"),
            Identity::Addr("10.0.0.1".parse().expect("ip"))
        );
        assert_eq!(identity("@gw"), Identity::Fqdn("gw".into()));
        assert_eq!(identity("a@b.c"), Identity::Email("a@b.c".into()));
        assert_eq!(identity_text(&identity("gw-a.example")), "gw-a.example");
    }
}
