//! A private apt configuration for Debian sid, separate from the host's apt
//! state (ENVIRONMENT.md §2). The mirror comes from the host's own apt
//! sources; no host name is written anywhere in the repository.

use crate::util;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian keyring that signs sid (shipped by `debian-archive-keyring`).
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The suite the guest is built from.
pub const SUITE: &str = "sid";

/// The Debian mirror URI: `$LANES_DEBIAN_MIRROR`, else the first non-security
/// URI of the host's apt sources (deb822 or one-line format).
pub fn mirror() -> Result<String> {
    if let Ok(m) = std::env::var("LANES_DEBIAN_MIRROR")
        && !m.is_empty()
    {
        return Ok(m);
    }
    let deb822 = Path::new("/etc/apt/sources.list.d");
    let mut files: Vec<PathBuf> = std::fs::read_dir(deb822)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in &files {
        if f.extension().is_some_and(|e| e == "sources")
            && let Ok(text) = std::fs::read_to_string(f)
            && let Some(uri) = mirror_from_deb822(&text)
        {
            return Ok(uri);
        }
    }
    let mut lists = vec![PathBuf::from("/etc/apt/sources.list")];
    lists.extend(
        files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "list")),
    );
    for f in &lists {
        if let Ok(text) = std::fs::read_to_string(f)
            && let Some(uri) = mirror_from_one_line(&text)
        {
            return Ok(uri);
        }
    }
    bail!(
        "no Debian mirror found in /etc/apt/sources.list{{,.d/*}}; \
         set LANES_DEBIAN_MIRROR to a Debian archive URI"
    )
}

/// First URI of a deb822 stanza whose suites are a Debian release (not
/// `-security`), e.g. `URIs: http://mirror/debian` with `Suites: bookworm`.
fn mirror_from_deb822(text: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
            })
        };
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        let types = field("Types").unwrap_or_else(|| "deb".into());
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if suites.split_whitespace().any(|s| !s.contains("security"))
            && let Some(u) = uris.split_whitespace().find(|u| !u.contains("security"))
        {
            return Some(u.trim_end_matches('/').to_string());
        }
    }
    None
}

/// First `deb URI suite` line whose suite is not `-security`.
fn mirror_from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace().filter(|w| !w.starts_with('['));
        if w.next()? != "deb" {
            return None;
        }
        let uri = w.next()?;
        let suite = w.next()?;
        (!suite.contains("security") && !uri.contains("security"))
            .then(|| uri.trim_end_matches('/').to_string())
    })
}

/// The private apt tree under `.cache/vm/apt/`.
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Writes the sources list for `SUITE` from `mirror`.
    pub fn new(mirror: &str) -> Result<Self> {
        let dir = util::cache_dir().join("vm/apt");
        for d in [
            "lists/partial",
            "cache/archives/partial",
            "etc/preferences.d",
        ] {
            std::fs::create_dir_all(dir.join(d))
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(
            dir.join("etc/sources.list"),
            format!("deb [signed-by={KEYRING}] {mirror} {SUITE} main\n"),
        )?;
        std::fs::write(dir.join("status"), b"")?;
        Ok(Self { dir })
    }

    fn opts(&self, cmd: &mut Command) {
        let d = &self.dir;
        for (k, v) in [
            ("Dir::Etc::sourcelist", d.join("etc/sources.list")),
            ("Dir::Etc::sourceparts", PathBuf::from("-")),
            ("Dir::Etc::preferencesparts", d.join("etc/preferences.d")),
            ("Dir::State::Lists", d.join("lists")),
            ("Dir::State::status", d.join("status")),
            ("Dir::Cache", d.join("cache")),
        ] {
            cmd.arg("-o").arg(format!("{k}={}", v.display()));
        }
        cmd.args([
            "-o",
            "APT::Architecture=amd64",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Sandbox::User=root",
            "-q",
        ]);
    }

    /// An `apt-get` command with the private configuration.
    pub fn get(&self) -> Command {
        let mut c = Command::new("apt-get");
        self.opts(&mut c);
        c
    }

    /// An `apt-cache` command with the private configuration.
    pub fn cache(&self) -> Command {
        let mut c = Command::new("apt-cache");
        self.opts(&mut c);
        c
    }

    /// Refreshes the package lists (a few seconds).
    pub fn update(&self) -> Result<()> {
        util::run(self.get().arg("update"))
    }

    /// The candidate version of a package.
    pub fn version(&self, pkg: &str) -> Result<String> {
        let out = util::output(self.cache().args(["policy", pkg]))?;
        out.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Candidate:")
                    .map(|v| v.trim().to_string())
            })
            .filter(|v| v != "(none)")
            .with_context(|| format!("package {pkg} is not in {SUITE}"))
    }

    /// The real (non-virtual) packages `pkg` depends on, recursively, whose
    /// names start with one of `prefixes`, `pkg` itself included.
    pub fn depends(&self, pkg: &str, prefixes: &[&str]) -> Result<Vec<String>> {
        let out = util::output(self.cache().args([
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            pkg,
        ]))?;
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('<'))
            .map(|l| l.trim().to_string())
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Downloads `.deb` files into `dest` (kept there as a cache).
    pub fn download(&self, pkgs: &[String], dest: &Path) -> Result<()> {
        std::fs::create_dir_all(dest)?;
        util::run(self.get().arg("download").args(pkgs).current_dir(dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_skips_security() {
        let t = "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n\
                 Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(
            mirror_from_deb822(t).as_deref(),
            Some("http://m.example/debian")
        );
    }

    #[test]
    fn one_line_format() {
        let t = "# c\ndeb [arch=amd64] http://m.example/debian/ bookworm main\n";
        assert_eq!(
            mirror_from_one_line(t).as_deref(),
            Some("http://m.example/debian")
        );
    }
}
