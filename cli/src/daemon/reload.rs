//! What a reload does to each connection and to `[daemon]`, decided from the
//! old and new configuration files' keys (pure logic; the daemon applies it).
//!
//! Like strongSwan's `swanctl --load-conns`, a changed connection keeps its
//! established SAs and the new settings apply from their next rekey or
//! reauthentication, unless the change makes them invalid (addresses,
//! identities, authentication, selectors, mode, route-based settings): then
//! the connection is replaced. A key this module does not know is treated as
//! one that invalidates the SAs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use toml::{Table, Value};

/// Connection keys whose new value applies to the next rekey.
const CONN_IN_PLACE: &[&str] = &[
    "proposals",
    "legacy",
    "rekey_time",
    "dpd_delay",
    "max_child_sas",
];

/// Child keys whose new value applies to the next Child SA.
const CHILD_IN_PLACE: &[&str] = &[
    "esp_proposals",
    "rekey_time",
    "life_time",
    "rand_time",
    "rand_bytes",
    "rand_packets",
    "replay_window",
    "per_cpu_max",
    "per_cpu_mode",
    "max_policies",
    "hw_offload",
];

/// `[daemon]` keys the running daemon applies without a restart.
const DAEMON_LIVE: &[&str] = &[
    "max_initiating",
    "dos_protection",
    "cookie_threshold",
    "cookie_threshold_ip",
    "block_threshold",
    "init_limit_half_open",
    "half_open_timeout",
    "max_packet",
];

/// What happens to one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New in the file: loaded (and started if it says so).
    Added,
    /// Gone from the file: its SAs are closed.
    Removed,
    /// Nothing changed.
    Unchanged,
    /// SAs stay; these keys apply from their next rekey.
    Updated(Vec<String>),
    /// SAs are closed and the connection loaded again, for this reason.
    Replaced(String),
}

/// A reload's decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// `[daemon]` keys applied live.
    pub daemon_live: Vec<String>,
    /// `[daemon]` keys that need a restart (the running values stay).
    pub daemon_restart: Vec<String>,
    /// Every connection of the old and the new file.
    pub conns: BTreeMap<String, Verdict>,
}

/// Every leaf of `t` by dotted key path (arrays are leaves).
fn flatten(prefix: &str, t: &Table, out: &mut BTreeMap<String, Value>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(inner) => flatten(&key, inner, out),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// Keys whose value differs (added, removed or changed), sorted.
fn changed_keys(old: &Table, new: &Table) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", old, &mut a);
    flatten("", new, &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn table<'a>(t: &'a Table, key: &str) -> Option<&'a Table> {
    t.get(key).and_then(Value::as_table)
}

/// Why a changed connection key invalidates the SAs, or `None` when it
/// applies in place.
fn replace_reason(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("children.") {
        let ck = rest.split_once('.').map_or(rest, |(_, k)| k);
        let ck = ck.split('.').next().unwrap_or(ck);
        let why = match ck {
            k if CHILD_IN_PLACE.contains(&k) => return None,
            "local_ts" | "remote_ts" => "traffic selectors changed",
            "mode" => "mode changed",
            "per_cpu_sas" => "per-CPU SAs turned on or off",
            "start_action" => "start_action changes the trap policies",
            "if_id_in" | "if_id_out" | "mark_in" | "mark_out" | "interface" | "install_routes" => {
                "route-based settings changed"
            }
            _ => "cannot change in place",
        };
        return Some(format!("{why} ({key})"));
    }
    let top = key.split('.').next().unwrap_or(key);
    let why = match top {
        k if CONN_IN_PLACE.contains(&k) => return None,
        "local_addrs" | "remote_addrs" | "remote_port" => "addresses changed",
        "local" | "remote" => "identities or authentication changed",
        "encap" => "UDP encapsulation changed",
        "if_id_in" | "if_id_out" | "mark_in" | "mark_out" => "route-based settings changed",
        _ => "cannot change in place",
    };
    Some(format!("{why} ({key})"))
}

/// The verdict on a connection present in both files; `psk_changed` says
/// whether the secret it resolves to (from `[secrets]`) changed.
pub fn connection(old: &Table, new: &Table, psk_changed: bool) -> Verdict {
    let children = |t: &Table| -> BTreeSet<String> {
        table(t, "children")
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (oc, nc) = (children(old), children(new));
    if let Some(c) = oc.symmetric_difference(&nc).next() {
        let what = if nc.contains(c) { "added" } else { "removed" };
        return Verdict::Replaced(format!("child {c} {what}"));
    }
    if psk_changed {
        return Verdict::Replaced("pre-shared key changed ([secrets])".into());
    }
    let keys = changed_keys(old, new);
    if keys.is_empty() {
        return Verdict::Unchanged;
    }
    match keys.iter().find_map(|k| replace_reason(k)) {
        Some(why) => Verdict::Replaced(why),
        None => Verdict::Updated(keys),
    }
}

/// Splits the changed `[daemon]` keys into live ones and restart ones.
pub fn daemon(old: &Table, new: &Table) -> (Vec<String>, Vec<String>) {
    let empty = Table::new();
    let keys = changed_keys(
        table(old, "daemon").unwrap_or(&empty),
        table(new, "daemon").unwrap_or(&empty),
    );
    keys.into_iter()
        .partition(|k| DAEMON_LIVE.contains(&k.split('.').next().unwrap_or(k)))
}

/// Decides a reload from the old and new files' tables; `psk_changed(name)`
/// tells whether connection `name`'s secret changed.
pub fn decide(old: &Table, new: &Table, psk_changed: impl Fn(&str) -> bool) -> Decision {
    let (daemon_live, daemon_restart) = daemon(old, new);
    let empty = Table::new();
    let (oc, nc) = (
        table(old, "connections").unwrap_or(&empty),
        table(new, "connections").unwrap_or(&empty),
    );
    let mut conns = BTreeMap::new();
    for (name, v) in oc {
        let verdict = match (v.as_table(), nc.get(name).and_then(Value::as_table)) {
            (_, None) => Verdict::Removed,
            (Some(o), Some(n)) => connection(o, n, psk_changed(name)),
            (None, Some(_)) => Verdict::Replaced("not a table before".into()),
        };
        conns.insert(name.clone(), verdict);
    }
    for name in nc.keys().filter(|n| !oc.contains_key(*n)) {
        conns.insert(name.clone(), Verdict::Added);
    }
    Decision {
        daemon_live,
        daemon_restart,
        conns,
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Added => f.write_str("added"),
            Verdict::Removed => f.write_str("removed (its SAs are closed)"),
            Verdict::Unchanged => f.write_str("unchanged"),
            Verdict::Updated(keys) => write!(
                f,
                "updated in place, SAs kept, applies from their next rekey: {}",
                keys.join(", ")
            ),
            Verdict::Replaced(why) => write!(f, "replaced (SAs closed and renegotiated): {why}"),
        }
    }
}

impl Decision {
    /// One line per `[daemon]` change and per connection.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for k in &self.daemon_live {
            out.push_str(&format!("[daemon] {k}: applied live\n"));
        }
        for k in &self.daemon_restart {
            out.push_str(&format!(
                "[daemon] {k}: needs a restart (the running value stays)\n"
            ));
        }
        for (name, v) in &self.conns {
            out.push_str(&format!("connection {name}: {v}\n"));
        }
        out
    }

    /// `A added, R removed, U updated in place, P replaced, N unchanged`.
    pub fn summary(&self) -> String {
        let n = |f: fn(&Verdict) -> bool| self.conns.values().filter(|v| f(v)).count();
        format!(
            "{} added, {} removed, {} updated in place, {} replaced, {} unchanged",
            n(|v| *v == Verdict::Added),
            n(|v| *v == Verdict::Removed),
            n(|v| matches!(v, Verdict::Updated(_))),
            n(|v| matches!(v, Verdict::Replaced(_))),
            n(|v| *v == Verdict::Unchanged),
        )
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
