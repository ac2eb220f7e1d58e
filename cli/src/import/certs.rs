//! swanctl's certificate authentication (`auth = pubkey`) as lanes'
//! `auth = "pubkey"`: swanctl names files relative to the folders next to
//! swanctl.conf (x509/, x509ca/, x509crl/, private/, as swanctl(8) loads
//! them), and trusts every CA and CRL it loaded when a connection names
//! none. lanes names every file, so the import lists them with absolute
//! paths (the lanes config usually lives elsewhere).

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::convert::Converted;
use super::swanctl::Section;

/// swanctl's folders of private keys (swanctl.conf(5) `private`, `rsa`,
/// `ecdsa`, `pkcs8`, `pkcs12` are loaded alike).
const KEY_DIRS: &[&str] = &["private", "rsa", "ecdsa", "pkcs8"];

/// `auth` values that mean a certificate and signature (swanctl.opt:
/// `pubkey`, or a key type, optionally with a hash: `rsa-sha256`).
pub(super) fn is_pubkey(auth: &str) -> bool {
    ["pubkey", "rsa", "ecdsa", "ed25519", "ed448"]
        .iter()
        .any(|p| auth == *p || auth.starts_with(&format!("{p}-")))
}

/// The files of `dir` (sorted), or none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn path_value(p: &Path) -> Value {
    Value::String(p.display().to_string())
}

impl Converted {
    /// swanctl's folder `sub` next to swanctl.conf, absolute where possible.
    fn swanctl_dir(&self, sub: &str) -> Option<PathBuf> {
        let base = self.dir.as_ref()?;
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.clone());
        Some(base.join(sub))
    }

    /// `certs = a.pem, b.pem`: each file in `sub` unless absolute, checked
    /// to exist. `None` (with an issue) when one is missing.
    fn cert_files(&mut self, path: &str, value: &str, sub: &str) -> Option<Vec<PathBuf>> {
        let mut out = Vec::new();
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let p = Path::new(name);
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                match self.swanctl_dir(sub) {
                    Some(d) => d.join(p),
                    None => {
                        self.issue(path, "relative to swanctl.conf's folder, which is unknown here: give absolute paths");
                        return None;
                    }
                }
            };
            if !full.is_file() {
                self.issue(
                    path,
                    format!(
                        "{} does not exist: copy the file there or fix the name",
                        full.display()
                    ),
                );
                return None;
            }
            out.push(full);
        }
        Some(out)
    }

    /// The key of our certificate: swanctl loads every key in its key
    /// folders and picks the one matching the certificate; lanes names it.
    /// Taken when there is one key, or one named like the certificate.
    fn private_key(&mut self, path: &str, cert: &Path) -> Option<PathBuf> {
        let keys: Vec<PathBuf> = KEY_DIRS
            .iter()
            .filter_map(|d| self.swanctl_dir(d))
            .flat_map(|d| files(&d))
            .collect();
        let stem = cert.file_stem();
        let pick = match keys.as_slice() {
            [one] => Some(one.clone()),
            many => many.iter().find(|k| k.file_stem() == stem).cloned(),
        };
        if pick.is_none() {
            self.issue(
                &format!("{path}.certs"),
                format!(
                    "no key for {} in swanctl's private/, rsa/, ecdsa/ or pkcs8/ ({} found, none named like it): add `key = \"…\"` to the lanes config",
                    cert.display(),
                    keys.len()
                ),
            );
        }
        pick
    }

    /// `local`/`remote` with `auth = pubkey`. `side` is `local` or `remote`.
    pub(super) fn pubkey_auth(&mut self, path: &str, side: &str, sec: &Section) -> Table {
        let mut t = Table::new();
        t.insert("auth".into(), Value::String("pubkey".into()));
        for s in &sec.settings {
            let p = format!("{path}.{}", s.key);
            match (side, s.key.as_str()) {
                (_, "auth") => {}
                (_, "id") => {
                    t.insert("id".into(), Value::String(super::convert::identity(&s.value)));
                }
                (_, "round") if s.value == "0" => {}
                ("local", "certs") => self.local_certs(path, &p, &s.value, &mut t),
                ("remote", "cacerts") => {
                    if let Some(v) = self.cert_files(&p, &s.value, "x509ca") {
                        t.insert("cacerts".into(), Value::Array(v.iter().map(|f| path_value(f)).collect()));
                    }
                }
                ("remote", "revocation") if s.value == "relaxed" => {}
                ("remote", "revocation") => self.issue(
                    &p,
                    format!("{:?}: lanes checks revocation only against CRL files and accepts a certificate without one (as `relaxed`)", s.value),
                ),
                _ => self.issue(&p, "lanes has no such certificate setting (it takes local.certs, remote.cacerts, CRL files and id)"),
            }
        }
        for (sub, _) in &sec.sections {
            self.issue(&format!("{path}.{sub}"), "lanes has no such section");
        }
        if side == "remote" {
            self.remote_defaults(&mut t);
        } else if !t.contains_key("certs") {
            self.issue(&format!("{path}.certs"), "not set: lanes needs our certificate named (swanctl would pick one by the identity)");
        }
        t
    }

    fn local_certs(&mut self, path: &str, p: &str, value: &str, t: &mut Table) {
        let Some(certs) = self.cert_files(p, value, "x509") else {
            return;
        };
        let Some(first) = certs.first() else {
            return;
        };
        if let Some(key) = self.private_key(path, first) {
            t.insert("key".into(), path_value(&key));
        }
        t.insert(
            "certs".into(),
            Value::Array(certs.iter().map(|f| path_value(f)).collect()),
        );
    }

    /// What swanctl trusts without being told: every CA in x509ca/ and
    /// every CRL in x509crl/.
    fn remote_defaults(&mut self, t: &mut Table) {
        if !t.contains_key("cacerts")
            && let Some(d) = self.swanctl_dir("x509ca")
        {
            let cas = files(&d);
            if !cas.is_empty() {
                t.insert(
                    "cacerts".into(),
                    Value::Array(cas.iter().map(|f| path_value(f)).collect()),
                );
            }
        }
        if let Some(d) = self.swanctl_dir("x509crl") {
            let crls = files(&d);
            if !crls.is_empty() {
                t.insert(
                    "crls".into(),
                    Value::Array(crls.iter().map(|f| path_value(f)).collect()),
                );
            }
        }
    }
}
