//! Checks that span several fields: what serde alone cannot see.

use std::path::Path;

use super::locate::Seg;

/// Builds a key path from keys and indexes.
macro_rules! path {
    ($($seg:expr),* $(,)?) => { vec![$(Seg::from($seg)),*] };
}
use super::{
    AuthMethod, Child, Config, Connection, Daemon, PerCpuMode, PerCpuSas, Psk, StartAction,
};

mod recovery;

/// One problem at a key path.
#[derive(Debug)]
pub struct Problem {
    pub key: Vec<Seg>,
    pub message: String,
}

fn problem(key: Vec<Seg>, message: impl Into<String>) -> Problem {
    Problem {
        key,
        message: message.into(),
    }
}

/// The problem with a configuration file of `mode` at `path` that holds a
/// pre-shared key inline while group or others may read it, located at the
/// first such key.
pub fn inline_secret_exposed(cfg: &Config, path: &Path, mode: u32) -> Option<Problem> {
    let who = super::secret::exposure(mode)?;
    let (name, _) = cfg.secrets.iter().find(|(_, s)| s.secret.is_some())?;
    let shown = path.display();
    Some(problem(
        path!["secrets", name, "secret"],
        format!(
            "config {shown} holds a pre-shared key and is {who} (mode {mode:04o}); \
             run `chmod 600 {shown}` or move the key to a secret_file"
        ),
    ))
}

/// Smallest `fragment_size`: IP, UDP, marker, IKE and SKF headers, IV, ICV
/// and padding of the largest suites take about 150 bytes of a fragment.
const MIN_FRAGMENT_SIZE: u32 = 256;

/// Validates `cfg`, loading `secret_file`s relative to `base`. Returns every problem.
pub fn validate(cfg: &mut Config, base: &Path) -> Vec<Problem> {
    let mut out = daemon_problems(&cfg.daemon);
    recovery::daemon(&cfg.daemon, &mut out);
    // Secrets first, so connections can look them up.
    load_secrets(cfg, base, &mut out);
    for c in cfg.connections.values_mut() {
        super::pki::resolve_paths(c, base);
    }
    for (cname, c) in &cfg.connections {
        connection_problems(cfg, cname, c, &mut out);
        for (key, message) in super::pki::problems(c) {
            out.push(problem(
                conn_key(cname, key.into_iter().map(Seg::from).collect()),
                message,
            ));
        }
    }
    out
}

fn daemon_problems(d: &Daemon) -> Vec<Problem> {
    let mut out = Vec::new();
    if d.listen.is_empty() {
        out.push(problem(
            path!["daemon", "listen"],
            "needs at least one address, e.g. [\"0.0.0.0\", \"::\"]",
        ));
    }
    if d.fragment_size != 0 && !(MIN_FRAGMENT_SIZE..=65_535).contains(&d.fragment_size) {
        out.push(problem(
            path!["daemon", "fragment_size"],
            format!(
                "{} does not fit IKE fragments; use {MIN_FRAGMENT_SIZE}..=65535 \
                 (strongSwan's default is 1280) or 0 for the address family's default",
                d.fragment_size
            ),
        ));
    }
    if d.ike_port == d.nat_port && d.ike_port != 0 {
        out.push(problem(
            path!["daemon", "nat_port"],
            "must differ from ike_port",
        ));
    }
    for (i, ifname) in d.steer_interfaces.iter().enumerate() {
        if ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ']) {
            out.push(problem(
                path!["daemon", "steer_interfaces", i],
                format!("{ifname:?} is not a valid interface name"),
            ));
        }
    }
    out
}

/// Each secret has exactly one of `secret` and `secret_file`; files are read.
fn load_secrets(cfg: &mut Config, base: &Path, out: &mut Vec<Problem>) {
    for (name, s) in cfg.secrets.iter_mut() {
        let key = path!["secrets", name];
        match (&s.secret, &s.secret_file) {
            (Some(_), Some(_)) => {
                out.push(problem(key, "set either secret or secret_file, not both"))
            }
            (None, None) => out.push(problem(key, "needs secret or secret_file")),
            (None, Some(file)) => {
                let file = base.join(file);
                match Psk::from_file(&file) {
                    Ok(k) => s.secret = Some(k),
                    Err(e) => out.push(problem(path!["secrets", name, "secret_file"], e)),
                }
            }
            (Some(_), None) => {}
        }
    }
}

/// `connections.<cname>` followed by `rest`.
fn conn_key(cname: &str, rest: Vec<Seg>) -> Vec<Seg> {
    let mut v = path!["connections", cname];
    v.extend(rest);
    v
}

fn connection_problems(cfg: &Config, cname: &str, c: &Connection, out: &mut Vec<Problem>) {
    let ck = |rest: Vec<Seg>| conn_key(cname, rest);
    if c.proposals.is_empty() {
        out.push(problem(
            ck(path!["proposals"]),
            "needs at least one proposal",
        ));
    }
    let fam_l: Vec<bool> = c.local_addrs.iter().map(|a| a.is_ipv4()).collect();
    let fam_r: Vec<bool> = super::literal_addrs(&c.remote_addrs)
        .map(|a| a.is_ipv4())
        .collect();
    if !fam_l.is_empty() && !fam_r.is_empty() && !fam_l.iter().any(|f| fam_r.contains(f)) {
        out.push(problem(
            ck(path!["remote_addrs"]),
            "no address family in common with local_addrs",
        ));
    }
    if c.local.auth == AuthMethod::Psk || c.remote.auth == AuthMethod::Psk {
        let (l, r) = (c.local_id(), c.remote_id());
        // A secrets problem is reported already; do not repeat it per connection.
        if cfg.psk(&l, &r).is_none()
            && !out
                .iter()
                .any(|p| p.key.first() == Some(&Seg::Key("secrets".into())))
        {
            out.push(problem(
                ck(path!["remote"]),
                format!("no [secrets.*] entry with ids containing {r:?} (or with no ids) for this PSK connection"),
            ));
        }
    }
    if c.max_child_sas == Some(0) {
        out.push(problem(
            ck(path!["max_child_sas"]),
            "must be at least 1 (the IKE_AUTH Child SA counts too); leave it out for the default",
        ));
    }
    recovery::connection(c, &ck, out);
    legacy_problems(cname, c, &ck, out);
    for (chname, ch) in &c.children {
        let k = |field: &str| ck(path!["children", chname, field]);
        child_problems(c, ch, &k, out);
        recovery::child(c, ch, &k, out);
    }
}

/// Without `legacy = true`, a proposal naming `sha1`, `prfsha1` or `modp1024`
/// is refused at its list entry.
fn legacy_problems(
    cname: &str,
    c: &Connection,
    ck: &dyn Fn(Vec<Seg>) -> Vec<Seg>,
    out: &mut Vec<Problem>,
) {
    if c.legacy {
        return;
    }
    let mut refuse = |key: Vec<Seg>, p: &super::Proposal| {
        let names = super::legacy_names(&p.parsed);
        if !names.is_empty() {
            out.push(problem(
                key,
                format!(
                    "proposal {:?} uses the legacy algorithm(s) {}; set `legacy = true` in \
                     [connections.{cname}] to allow them, or use e.g. sha256, prfsha256, x25519",
                    p.text,
                    names.join(", ")
                ),
            ));
        }
    };
    for (i, p) in c.proposals.iter().enumerate() {
        refuse(ck(path!["proposals", i]), &p.0);
    }
    for (chname, ch) in &c.children {
        for (i, p) in ch.esp_proposals.iter().enumerate() {
            refuse(ck(path!["children", chname, "esp_proposals", i]), &p.0);
        }
    }
}

/// Problems of one child; `k` names a field of it.
fn child_problems(
    c: &Connection,
    ch: &Child,
    k: &dyn Fn(&str) -> Vec<Seg>,
    out: &mut Vec<Problem>,
) {
    if ch.esp_proposals.is_empty() {
        out.push(problem(k("esp_proposals"), "needs at least one proposal"));
    }
    if ch.start_action != StartAction::None && c.remote_addrs.is_empty() {
        out.push(problem(
            k("start_action"),
            "trap/start need the peer's address: set remote_addrs on the connection",
        ));
    }
    if ch.start_action == StartAction::Start && c.local_addrs.is_empty() && ch.local_ts.is_empty() {
        out.push(problem(
            k("local_ts"),
            "an empty (dynamic) local_ts is our address, unknown without local_addrs: set local_addrs on the connection or local_ts",
        ));
    }
    if ch.start_action == StartAction::Trap && c.local_addrs.is_empty() {
        out.push(problem(
            k("start_action"),
            "trap policies need our address: set local_addrs on the connection",
        ));
    }
    if let Some(msg) = policies_problem(ch) {
        out.push(problem(k("max_policies"), msg));
    }
    per_cpu_problems(ch, k, out);
    super::route::problems(c, ch, k, out);
    if ch.rekey_time.0 != 0 && ch.life_time().0 <= ch.rekey_time.0 {
        out.push(problem(k("life_time"), "must be longer than rekey_time"));
    }
    if ch.rand_time().0 > ch.rekey_time.0 {
        out.push(problem(k("rand_time"), "must not exceed rekey_time"));
    }
    for (field, ts) in [("local_ts", &ch.local_ts), ("remote_ts", &ch.remote_ts)] {
        if ts.iter().any(|t| t.is_ipv4())
            && ts.iter().any(|t| !t.is_ipv4())
            && ch.mode == super::Mode::Transport
        {
            out.push(problem(
                k(field),
                "transport mode cannot mix IPv4 and IPv6 selectors",
            ));
        }
    }
}

/// per_cpu_sas against per_cpu_mode, start_action and per_cpu_max.
fn per_cpu_problems(ch: &Child, k: &dyn Fn(&str) -> Vec<Seg>, out: &mut Vec<Problem>) {
    if ch.per_cpu_sas.enabled() {
        if ch.start_action == StartAction::Start && ch.per_cpu_mode == PerCpuMode::OnDemand {
            out.push(problem(
                k("start_action"),
                "per_cpu_sas with per_cpu_mode = \"on_demand\" needs start_action = \"trap\" \
                 (acquires say which CPU needs an SA) or \"none\"; use per_cpu_mode = \"precreate\" to initiate at start-up",
            ));
        }
        if ch.per_cpu_max == Some(0) {
            out.push(problem(k("per_cpu_max"), "must be at least 1"));
        }
    }
    if ch.per_cpu_sas == PerCpuSas::No && ch.per_cpu_mode == PerCpuMode::Precreate {
        out.push(problem(
            k("per_cpu_mode"),
            "precreate needs per_cpu_sas = \"yes\" or \"encap\"",
        ));
    }
}

/// Configured subnets already needing more policies than `max_policies` (an
/// empty, `dynamic`, side is one address of the other side's family).
fn policies_problem(ch: &Child) -> Option<String> {
    let (l, r) = (&ch.local_ts, &ch.remote_ts);
    let needed = match (l.is_empty(), r.is_empty()) {
        (true, true) => 1,
        (true, false) => r.len(),
        (false, true) => l.len(),
        (false, false) => l
            .iter()
            .map(|a| r.iter().filter(|b| b.is_ipv4() == a.is_ipv4()).count())
            .sum(),
    };
    if ch.max_policies == 0 {
        Some("must be at least 1".into())
    } else if needed as u64 > u64::from(ch.max_policies) {
        Some(format!(
            "local_ts × remote_ts need {needed} policies per direction: raise max_policies to at least {needed} or use fewer subnets"
        ))
    } else {
        None
    }
}
