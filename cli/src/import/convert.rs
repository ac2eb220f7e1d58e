//! swanctl.conf (strongSwan's `swanctl.opt`) to lanes' TOML: every setting
//! lanes has is carried under the same name; every other setting is an
//! [`Issue`] naming its swanctl path and why lanes cannot carry it. A setting
//! whose value is what lanes does anyway (`mobike = no`, `reqid = 0`) is
//! carried silently.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use toml::{Table, Value};

use super::swanctl::{Section, Setting};
use crate::config::{Proposal, ProposalKind, Seconds, Subnet, Volume};

/// A setting that lanes cannot carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// The swanctl path (`connections.gw.children.net.mode`).
    pub path: String,
    /// Why, and what to do.
    pub why: String,
}

/// The converted configuration and what it could not carry.
#[derive(Debug, Default)]
pub struct Converted {
    /// The lanes configuration.
    pub toml: Table,
    /// Settings left behind.
    pub issues: Vec<Issue>,
    /// swanctl.conf's folder, where its x509/ and other folders are.
    pub(super) dir: Option<PathBuf>,
}

/// Settings lanes does not have but accepts at these values (lanes behaves
/// so anyway): `(key, accepted values)`.
const CONN_SAME: &[(&str, &[&str])] = &[
    ("version", &["0", "2"]),
    ("local_port", &["500"]),
    ("reauth_time", &["0", "0s"]),
    ("unique", &["no", "never"]),
    ("mobike", &["no"]),
    ("fragmentation", &["no"]),
    ("aggressive", &["no"]),
    ("dpd_timeout", &["*"]),
    ("pull", &["*"]),
    // lanes sends its chain with `auth = "pubkey"` and nothing with a PSK.
    ("send_cert", &["never", "ifasked", "always"]),
    ("send_certreq", &["no", "yes"]),
    ("childless", &["never"]),
    ("keyingtries", &["1"]),
    ("dscp", &["000000"]),
    ("if_id_in", &["0"]),
    ("if_id_out", &["0"]),
    ("mediation", &["no"]),
    ("ppk_required", &["no"]),
];

const CHILD_SAME: &[(&str, &[&str])] = &[
    ("ipcomp", &["no"]),
    ("inactivity", &["0", "0s"]),
    ("reqid", &["0"]),
    ("priority", &["0"]),
    ("mark_in", &["0", "0/0", "0/0x00000000"]),
    ("mark_out", &["0", "0/0", "0/0x00000000"]),
    ("set_mark_in", &["0", "0/0"]),
    ("set_mark_out", &["0", "0/0"]),
    ("if_id_in", &["0"]),
    ("if_id_out", &["0"]),
    ("hostaccess", &["no"]),
    ("policies", &["yes"]),
    ("policies_fwd_out", &["no"]),
    ("sha256_96", &["no"]),
    ("tfc_padding", &["0"]),
    ("copy_df", &["yes"]),
    ("copy_ecn", &["yes"]),
    ("copy_dscp", &["out"]),
    ("ah_proposals", &[]),
];

/// `(key, accepted values)` for `local`/`remote` rounds.
const AUTH_SAME: &[(&str, &[&str])] = &[("round", &["0"])];

/// Why an authentication cannot be carried.
const WHY_CERT: &str = "lanes authenticates with pre-shared keys or certificates only";

/// Converts a parsed swanctl.conf without knowing its folder: certificate
/// files must then be named with absolute paths.
pub fn convert(root: &Section) -> Converted {
    convert_in(root, None)
}

/// Converts a parsed swanctl.conf that lives in `dir` (certificate files
/// are found in its x509/, x509ca/, x509crl/ and private/ folders).
pub fn convert_in(root: &Section, dir: Option<&std::path::Path>) -> Converted {
    let mut c = Converted {
        dir: dir.map(std::path::Path::to_path_buf),
        ..Converted::default()
    };
    for s in &root.settings {
        c.issue(&s.key, "not a swanctl.conf section lanes knows");
    }
    for (name, sec) in &root.sections {
        match name.as_str() {
            "connections" => {
                let mut conns = Table::new();
                for (cname, conn) in &sec.sections {
                    if let Some(t) = c.connection(cname, conn) {
                        conns.insert(cname.clone(), Value::Table(t));
                    }
                }
                for s in &sec.settings {
                    c.issue(&format!("connections.{}", s.key), "expected a section");
                }
                if !conns.is_empty() {
                    c.toml.insert("connections".into(), Value::Table(conns));
                }
            }
            "secrets" => c.secrets(sec),
            "authorities" => c.issue(
                "authorities",
                "lanes has no certification authority sections: name the CA files in remote.cacerts and CRL files in remote.crls",
            ),
            "pools" => c.issue(
                "pools",
                "lanes assigns no virtual IP addresses (IKEv2 configuration payloads)",
            ),
            other => c.issue(other, "not a swanctl.conf section lanes knows"),
        }
    }
    c
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn strs(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// `@name` is strongSwan's FQDN spelling; lanes reads `name` the same way.
pub(super) fn identity(v: &str) -> String {
    match v.strip_prefix('@') {
        Some(rest) if !rest.contains('@') && !rest.starts_with('#') => rest.to_string(),
        _ => v.to_string(),
    }
}

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" | "true" | "enabled" | "1" => Some(true),
        "no" | "false" | "disabled" | "0" => Some(false),
        _ => None,
    }
}

impl Converted {
    pub(super) fn issue(&mut self, path: &str, why: impl Into<String>) {
        self.issues.push(Issue {
            path: path.to_string(),
            why: why.into(),
        });
    }

    /// A setting lanes lacks: silent at an accepted value, else an issue.
    fn other(&mut self, path: &str, s: &Setting, same: &[(&str, &[&str])]) {
        let p = format!("{path}.{}", s.key);
        match same.iter().find(|(k, _)| *k == s.key) {
            Some((_, ok)) if ok.contains(&s.value.as_str()) || ok.contains(&"*") => {}
            Some(_) => self.issue(
                &p,
                format!("lanes has no {} setting other than its default", s.key),
            ),
            None => self.issue(&p, "lanes has no such setting"),
        }
    }

    fn connection(&mut self, name: &str, sec: &Section) -> Option<Table> {
        let path = format!("connections.{name}");
        let before = self.issues.len();
        let mut t = Table::new();
        for s in &sec.settings {
            self.conn_setting(&path, s, &mut t);
        }
        let mut has_local = false;
        let mut has_remote = false;
        for (sub, body) in &sec.sections {
            let p = format!("{path}.{sub}");
            match sub.as_str() {
                "local" | "remote" => {
                    has_local |= sub == "local";
                    has_remote |= sub == "remote";
                    if body.get("auth").is_some_and(super::certs::is_pubkey) {
                        let a = self.pubkey_auth(&p, sub, body);
                        t.insert(sub.clone(), Value::Table(a));
                    } else if let Some(a) = self.auth(&p, body) {
                        t.insert(sub.clone(), Value::Table(a));
                    }
                }
                "children" => {
                    let mut children = Table::new();
                    for (cname, child) in &body.sections {
                        let ct = self.child(&format!("{p}.{cname}"), child);
                        children.insert(cname.clone(), Value::Table(ct));
                    }
                    t.insert("children".into(), Value::Table(children));
                }
                _ if sub.starts_with("local") || sub.starts_with("remote") => self.issue(
                    &p,
                    "lanes authenticates in one round (RFC 4739 multiple authentication is not supported)",
                ),
                _ => self.issue(&p, "lanes has no such section"),
            }
        }
        for (side, has) in [("local", has_local), ("remote", has_remote)] {
            if !has {
                self.issue(
                    &format!("{path}.{side}.auth"),
                    format!("not set, so swanctl authenticates with the certificates it finds itself; lanes needs them named: add `{side} {{ auth = psk }}` or `auth = pubkey` with certs/cacerts"),
                );
            }
        }
        let left_out = self.issues[before..]
            .iter()
            .any(|i| i.path.ends_with(".auth") && i.path.starts_with(&path));
        (!left_out).then_some(t)
    }

    fn conn_setting(&mut self, path: &str, s: &Setting, t: &mut Table) {
        let p = format!("{path}.{}", s.key);
        match s.key.as_str() {
            "local_addrs" | "remote_addrs" => {
                if let Some(v) = self.addrs(&p, &s.value) {
                    t.insert(s.key.clone(), strs(&v));
                }
            }
            "remote_port" => match s.value.parse::<u16>() {
                Ok(n) => {
                    t.insert(s.key.clone(), Value::Integer(n.into()));
                }
                Err(_) => self.issue(&p, format!("{:?} is not a port number", s.value)),
            },
            "proposals" => self.proposals(&p, &s.value, ProposalKind::Ike, t, "proposals"),
            "encap" => self.flag(&p, s, t),
            "dpd_delay" | "rekey_time" => self.duration(&p, s, t),
            "vips" => self.issue(&p, "lanes requests no virtual IP addresses"),
            "pools" => self.issue(&p, "lanes assigns no virtual IP addresses"),
            _ => self.other(path, s, CONN_SAME),
        }
    }

    /// Addresses; `%any` and the all-zero prefixes mean any (lanes' empty list).
    fn addrs(&mut self, p: &str, v: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for a in list(v) {
            if matches!(
                a.as_str(),
                "%any" | "%any4" | "%any6" | "0.0.0.0/0" | "::/0"
            ) {
                continue;
            }
            if IpAddr::from_str(&a).is_err() {
                self.issue(
                    p,
                    format!(
                        "{a:?}: lanes takes IP addresses only (no host names, ranges or subnets)"
                    ),
                );
                return None;
            }
            out.push(a);
        }
        Some(out)
    }

    fn proposals(&mut self, p: &str, v: &str, kind: ProposalKind, t: &mut Table, key: &str) {
        let all = list(v);
        let mut ok = Vec::new();
        for prop in &all {
            match Proposal::parse(prop, kind) {
                Ok(_) => ok.push(prop.clone()),
                Err(e) => self.issue(p, format!("{prop:?}: {e}")),
            }
        }
        if ok.len() == all.len() && !ok.is_empty() {
            t.insert(key.into(), strs(&ok));
        }
    }

    fn flag(&mut self, p: &str, s: &Setting, t: &mut Table) {
        match yes_no(&s.value) {
            Some(b) => {
                t.insert(s.key.clone(), Value::Boolean(b));
            }
            None => self.issue(p, format!("{:?} is not yes or no", s.value)),
        }
    }

    /// A byte or packet count, kept as written (lanes reads swanctl's
    /// `k`/`M`/`G` suffixes itself).
    fn volume(&mut self, p: &str, s: &Setting, t: &mut Table) {
        match Volume::from_str(&s.value) {
            Ok(_) => {
                t.insert(s.key.clone(), Value::String(s.value.clone()));
            }
            Err(e) => self.issue(p, e),
        }
    }

    fn duration(&mut self, p: &str, s: &Setting, t: &mut Table) {
        match Seconds::from_str(&s.value) {
            Ok(d) => {
                t.insert(s.key.clone(), Value::String(d.to_string()));
            }
            Err(e) => self.issue(p, e),
        }
    }

    /// `local`/`remote`; `None` when the authentication cannot be carried (the
    /// connection is then left out).
    fn auth(&mut self, path: &str, sec: &Section) -> Option<Table> {
        let mut t = Table::new();
        let mut ok = true;
        match sec.get("auth") {
            Some("psk") => {
                t.insert("auth".into(), Value::String("psk".into()));
            }
            Some(other) => {
                self.issue(&format!("{path}.auth"), format!("{other:?}: {WHY_CERT}"));
                ok = false;
            }
            None => {
                self.issue(
                    &format!("{path}.auth"),
                    "not set, so swanctl uses the certificates it finds itself; lanes needs them named: set `auth = psk`, or `auth = pubkey` with certs/cacerts",
                );
                ok = false;
            }
        }
        for s in &sec.settings {
            let p = format!("{path}.{}", s.key);
            match s.key.as_str() {
                "auth" => {}
                "id" => {
                    t.insert("id".into(), Value::String(identity(&s.value)));
                }
                k if k.contains("cert") || k == "pubkeys" => self.issue(&p, "a certificate setting with a pre-shared key: lanes uses certificates only with auth = pubkey"),
                _ => self.other(path, s, AUTH_SAME),
            }
        }
        for (sub, _) in &sec.sections {
            self.issue(&format!("{path}.{sub}"), WHY_CERT);
        }
        ok.then_some(t)
    }

    fn child(&mut self, path: &str, sec: &Section) -> Table {
        let mut t = Table::new();
        for s in &sec.settings {
            let p = format!("{path}.{}", s.key);
            match s.key.as_str() {
                "local_ts" | "remote_ts" => self.ts(&p, s, &mut t),
                "esp_proposals" => {
                    self.proposals(&p, &s.value, ProposalKind::Esp, &mut t, "esp_proposals")
                }
                "mode" => self.choice(&p, s, &["tunnel", "transport"], &mut t),
                "start_action" => self.choice(&p, s, &["none", "trap", "start"], &mut t),
                "per_cpu_sas" => self.choice(&p, s, &["no", "yes", "encap"], &mut t),
                "hw_offload" => {
                    // swanctl's `yes` demands crypto offload (swanctl.opt).
                    let v = if s.value == "yes" { "crypto" } else { &s.value };
                    let s = Setting {
                        value: v.to_string(),
                        ..s.clone()
                    };
                    self.choice(&p, &s, &["no", "crypto", "packet", "auto"], &mut t);
                }
                "rekey_time" | "life_time" | "rand_time" => self.duration(&p, s, &mut t),
                "rekey_bytes" | "life_bytes" | "rand_bytes" | "rekey_packets" | "life_packets"
                | "rand_packets" => self.volume(&p, s, &mut t),
                // swanctl.conf(5): `none` is the old name of `clear`.
                "dpd_action" if s.value == "none" => {
                    t.insert(s.key.clone(), Value::String("clear".into()));
                }
                "dpd_action" => self.choice(&p, s, &["clear", "trap", "restart"], &mut t),
                "close_action" => self.choice(&p, s, &["none", "trap", "start"], &mut t),
                "replay_window" => match s.value.parse::<u32>() {
                    Ok(n) => {
                        t.insert(s.key.clone(), Value::Integer(n.into()));
                    }
                    Err(_) => self.issue(&p, format!("{:?} is not a number", s.value)),
                },
                "updown" => self.issue(&p, "lanes runs no updown scripts"),
                _ => self.other(path, s, CHILD_SAME),
            }
        }
        for (sub, _) in &sec.sections {
            self.issue(&format!("{path}.{sub}"), "lanes has no such section");
        }
        t
    }

    fn choice(&mut self, p: &str, s: &Setting, allowed: &[&str], t: &mut Table) {
        if allowed.contains(&s.value.as_str()) {
            t.insert(s.key.clone(), Value::String(s.value.clone()));
        } else {
            self.issue(
                p,
                format!("{:?}: lanes supports {}", s.value, allowed.join(", ")),
            );
        }
    }

    /// Traffic selectors: subnets and addresses; `dynamic` alone is lanes' default.
    fn ts(&mut self, p: &str, s: &Setting, t: &mut Table) {
        let items = list(&s.value);
        if items.iter().all(|i| i == "dynamic") {
            return;
        }
        let mut out = Vec::new();
        for i in &items {
            if i == "dynamic" {
                self.issue(
                    p,
                    "lanes cannot mix `dynamic` with subnets: list the address instead",
                );
                return;
            }
            if i.contains('[') {
                self.issue(
                    p,
                    format!("{i:?}: lanes selectors carry no protocol or port"),
                );
                return;
            }
            match Subnet::from_str(i) {
                Ok(_) => out.push(i.clone()),
                Err(e) => {
                    self.issue(p, format!("{i:?}: {e} (ranges are not supported)"));
                    return;
                }
            }
        }
        t.insert(s.key.clone(), strs(&out));
    }

    fn secrets(&mut self, sec: &Section) {
        let mut out = Table::new();
        for (name, body) in &sec.sections {
            let p = format!("secrets.{name}");
            if !name.starts_with("ike") {
                self.issue(
                    &p,
                    "lanes keeps only IKE pre-shared keys (no EAP, XAuth or private keys)",
                );
                continue;
            }
            if let Some(t) = self.secret(&p, body) {
                out.insert(name.clone(), Value::Table(t));
            }
        }
        for s in &sec.settings {
            self.issue(&format!("secrets.{}", s.key), "expected a section");
        }
        if !out.is_empty() {
            self.toml.insert("secrets".into(), Value::Table(out));
        }
    }

    fn secret(&mut self, path: &str, sec: &Section) -> Option<Table> {
        let mut ids = Vec::new();
        let mut secret = None;
        for s in &sec.settings {
            let p = format!("{path}.{}", s.key);
            match s.key.as_str() {
                "secret" => match secret_value(&s.value) {
                    Ok(v) => secret = Some(v),
                    Err(e) => self.issue(&p, e),
                },
                k if k.starts_with("id") => {
                    if s.value != "%any" {
                        ids.push(identity(&s.value));
                    }
                }
                _ => self.issue(&p, "lanes has no such setting"),
            }
        }
        let Some(secret) = secret else {
            self.issue(&format!("{path}.secret"), "missing: the entry has no key");
            return None;
        };
        let mut t = Table::new();
        t.insert("ids".into(), strs(&ids));
        t.insert("secret".into(), Value::String(secret));
        Some(t)
    }
}

/// swanctl's secret encodings: `0x` hex (lanes reads it as is), `0s` base64
/// (rewritten as hex), anything else the text itself.
fn secret_value(v: &str) -> Result<String, String> {
    match v.strip_prefix("0s") {
        Some(b64) => {
            let bytes = base64_decode(b64)
                .ok_or("the 0s (base64) secret is not valid base64: check the value")?;
            Ok(format!(
                "0x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ))
        }
        None => Ok(v.to_string()),
    }
}

/// RFC 4648 §4 base64, padding optional.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
