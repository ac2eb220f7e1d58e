//! From the TOML config to what the daemon runs: one ike-core [`EndpointConfig`]
//! per connection (so a reload can replace one connection without touching the
//! others), reqids, and per-child kernel settings.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use ike_core::{
    ChildConfig, ConnectionConfig, CpuId, EndpointConfig, Identity, PerCpu, PerCpuMode, Psk,
};
use xfrm_offload::{IpPrefix, OffloadMode, PolicySpec};

use super::kernel::{TsSide, policies};
use crate::config::{self, Config, Connection, HwOffload, StartAction, Subnet};

/// Priority base for policies (lower = preferred); leaves room below for others.
pub const POLICY_PRIORITY: u32 = 200_000;

/// Settings of one child the daemon needs beyond the engine.
#[derive(Clone, Debug)]
pub struct ChildPlan {
    /// Child name.
    pub name: String,
    /// Kernel reqid.
    pub reqid: u32,
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
}

/// One connection, ready to run.
#[derive(Debug)]
pub struct ConnPlan {
    /// Connection name.
    pub name: String,
    /// The engine configuration (one connection).
    pub endpoint: EndpointConfig,
    /// Children.
    pub children: Vec<ChildPlan>,
    /// Configured remote addresses (for routing new IKE_SA_INITs).
    pub remote_addrs: Vec<IpAddr>,
    /// Configured local addresses.
    pub local_addrs: Vec<IpAddr>,
    /// Change detection for reloads (covers the secret without revealing it).
    pub fingerprint: u64,
}

impl ConnPlan {
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

/// `gw-b.example` → FQDN, `a@b` → RFC 822, an address → ID_IPV4/6_ADDR.
pub fn identity(s: &str) -> Identity {
    if let Ok(ip) = s.parse::<IpAddr>() {
        Identity::Addr(ip)
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
        Identity::Other(t, d) => format!("type{t}:{} bytes", d.len()),
    }
}

fn unspecified_like(other: Option<&IpAddr>) -> IpAddr {
    match other {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

fn selectors(list: &[Subnet], dynamic: IpAddr) -> Vec<ike_core::TrafficSelector> {
    if list.is_empty() {
        let prefix = if dynamic.is_unspecified() {
            0
        } else if dynamic.is_ipv4() {
            32
        } else {
            128
        };
        return vec![ike_core::TrafficSelector::subnet(dynamic, prefix)];
    }
    list.iter()
        .map(|s| ike_core::TrafficSelector::subnet(s.addr, s.prefix))
        .collect()
}

fn sides(list: &[ike_core::TrafficSelector]) -> Vec<TsSide> {
    list.iter()
        .flat_map(|t| super::kernel::range_to_prefixes(t.start, t.end))
        .map(|prefix: IpPrefix| TsSide {
            prefix,
            proto: 0,
            port: None,
        })
        .collect()
}

fn offload(h: HwOffload) -> OffloadMode {
    match h {
        HwOffload::No => OffloadMode::No,
        HwOffload::Crypto => OffloadMode::Crypto,
        HwOffload::Packet => OffloadMode::Packet,
        HwOffload::Auto => OffloadMode::Auto,
    }
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
    let local_ip = c
        .local_addrs
        .first()
        .copied()
        .unwrap_or_else(|| unspecified_like(c.remote_addrs.first()));
    let local = SocketAddr::new(local_ip, cfg.daemon.ike_port);
    let psk = match cfg.psk(&c.local_id(), &c.remote_id()) {
        Some(k) => Psk::new(k.expose().to_vec()),
        None => bail!("connection {name}: no secret for {}", c.remote_id()),
    };
    let mut conn = ConnectionConfig::new(name, local, identity(&c.local_id()), psk);
    conn.remote = c
        .remote_addrs
        .first()
        .map(|ip| SocketAddr::new(*ip, c.remote_port));
    conn.remote_id = c.remote.id.as_deref().map(identity);
    conn.ike_proposals = c
        .proposals
        .iter()
        .flat_map(|p| p.0.parsed.clone())
        .collect();
    conn.rekey_time = c.rekey_time.duration();
    conn.dpd_delay = c.dpd_delay.duration();
    conn.force_encap = c.encap;
    let remote_ip = c
        .remote_addrs
        .first()
        .copied()
        .unwrap_or_else(|| unspecified_like(Some(&local_ip)));
    let mut children = Vec::new();
    for (chname, ch) in &c.children {
        let reqid = reqids.get(name, chname)?;
        let mut cc = ChildConfig::new(chname.clone(), reqid);
        cc.esp_proposals = ch
            .esp_proposals
            .iter()
            .flat_map(|p| p.0.parsed.clone())
            .collect();
        cc.local_ts = selectors(&ch.local_ts, local_ip);
        cc.remote_ts = selectors(&ch.remote_ts, remote_ip);
        cc.mode = match ch.mode {
            config::Mode::Tunnel => ike_core::Mode::Tunnel,
            config::Mode::Transport => ike_core::Mode::Transport,
        };
        cc.rekey_time = ch.rekey_time.duration();
        cc.life_time = ch.life_time().duration();
        cc.rekey_jitter = ch.rand_time().duration();
        let per_cpu_sas = if ch.per_cpu_sas.enabled() && !per_cpu_ok {
            tracing::warn!(connection = %name, child = %chname, "the kernel lacks per-CPU SAs (Linux 6.13+): negotiating one SA pair");
            config::PerCpuSas::No
        } else {
            ch.per_cpu_sas
        };
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
        let tunnel = ch.mode == config::Mode::Tunnel;
        let trap_policies = if ch.start_action == StartAction::Trap {
            policies(
                local_ip,
                remote_ip,
                &sides(&cc.local_ts),
                &sides(&cc.remote_ts),
                tunnel,
                reqid,
                per_cpu_sas.enabled(),
                POLICY_PRIORITY,
            )
        } else {
            Vec::new()
        };
        children.push(ChildPlan {
            name: chname.clone(),
            reqid,
            start_action: ch.start_action,
            per_cpu: per_cpu_sas.enabled(),
            offload: offload(ch.hw_offload),
            replay_window: ch.replay_window,
            tunnel,
            trap_policies,
        });
        conn.children.push(cc);
    }
    let mut h = DefaultHasher::new();
    format!("{c:?}{:?}", cfg.daemon).hash(&mut h);
    conn.psk.0.hash(&mut h);
    let fingerprint = h.finish();
    let endpoint = EndpointConfig {
        connections: vec![conn],
        local_cpus: cpus,
        ..EndpointConfig::default()
    };
    Ok(ConnPlan {
        name: name.to_string(),
        endpoint,
        children,
        remote_addrs: c.remote_addrs.clone(),
        local_addrs: c.local_addrs.clone(),
        fingerprint,
    })
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

    #[test]
    fn gw_a_plan() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gw-a.toml");
        // parse, not load: the checkout leaves the example (inline key) readable by all.
        let src = std::fs::read_to_string(&path).expect("read example");
        let cfg = Config::parse(&src, &path).expect("config");
        let mut reqids = Reqids::default();
        let plans = all(&cfg, &mut reqids, 4, true).expect("plan");
        let p = &plans["gw-b"];
        let conn = &p.endpoint.connections[0];
        assert_eq!(conn.local.to_string(), "10.0.0.1:500");
        assert_eq!(
            conn.remote.map(|r| r.to_string()).as_deref(),
            Some("10.0.0.2:500")
        );
        assert_eq!(conn.remote_id, Some(Identity::Fqdn("gw-b.example".into())));
        assert_eq!(p.endpoint.local_cpus, 4);
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
