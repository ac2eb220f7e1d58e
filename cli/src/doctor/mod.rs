//! `lanes doctor`: what the system offers lanes and how well it is tuned.
//!
//! Every check reads files or asks the kernel without changing anything, works as
//! an unprivileged user with less information, and reports `ok`, `warn`,
//! `missing` or `info` with the command that fixes it. `--apply` runs only the
//! fixes marked safe (sysfs/procfs writes that are easy to undo).

mod cpu;
mod ethtool;
mod iface;
mod kernel;
mod sys;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

pub use sys::Sys;

/// Result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and well configured.
    Ok,
    /// Works, but could be better.
    Warn,
    /// Absent: lanes (or this feature) cannot work.
    Missing,
    /// A fact for the reader.
    Info,
}

/// A fix that `--apply` may perform: write `value` to `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SafeFix {
    /// File under /proc or /sys.
    pub path: PathBuf,
    /// What to write.
    pub value: String,
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short identifier, e.g. `kernel`, `esp`, `eth0.rss`.
    pub name: String,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The command that fixes it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether `--apply` can perform the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_fix: Option<SafeFix>,
    /// Set by `--apply`: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
            safe_fix: None,
            applied: None,
        }
    }
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail)
    }
    fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail)
    }
    fn missing(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Missing, detail)
    }
    fn info(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Info, detail)
    }
    fn fix(mut self, cmd: impl Into<String>) -> Self {
        self.fix = Some(cmd.into());
        self
    }
    fn safe(mut self, path: impl Into<PathBuf>, value: impl Into<String>) -> Self {
        self.safe_fix = Some(SafeFix {
            path: path.into(),
            value: value.into(),
        });
        self
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Whether the checks ran as root (some facts need it).
    pub root: bool,
    /// All checks in order.
    pub checks: Vec<Check>,
}

/// Online CPUs of this machine.
pub fn online_cpus_host() -> u32 {
    cpu::online_cpus(&Sys::host())
}

/// Gathers every check. `interfaces` empty means: every interface except `lo`.
/// `probe` also installs throw-away SAs to test ESP and per-CPU SAs (root only).
pub fn gather(sys: &Sys, interfaces: &[String], probe: bool) -> Report {
    let mut checks = Vec::new();
    let root = sys.is_root();
    if !root {
        checks.push(
            Check::info(
                "privileges",
                "not root: some facts (ethtool, IRQs) may be missing",
            )
            .fix("sudo lanes doctor"),
        );
    }
    let cpus = cpu::online_cpus(sys);
    checks.extend(kernel::checks(sys));
    if probe && sys.live() && root {
        checks.extend(kernel::probe_checks());
    }
    checks.extend(cpu::checks(sys, cpus));
    let ifaces = if interfaces.is_empty() {
        sys.interfaces()
    } else {
        interfaces.to_vec()
    };
    for ifname in &ifaces {
        checks.extend(iface::checks(sys, ifname, cpus));
    }
    Report { root, checks }
}

impl Report {
    /// Applies every safe fix; records the result in each check.
    pub fn apply(&mut self, sys: &Sys) {
        for c in &mut self.checks {
            if let Some(f) = &c.safe_fix {
                c.applied = Some(match sys.write(&f.path, &f.value) {
                    Ok(()) => format!("wrote {} to {}", f.value, f.path.display()),
                    Err(e) => format!("failed to write {}: {e}", f.path.display()),
                });
            }
        }
    }

    /// Text rendering: one line per check, then its fix.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let tag = match c.status {
                Status::Ok => " ok  ",
                Status::Warn => "warn ",
                Status::Missing => "MISS ",
                Status::Info => "info ",
            };
            let _ = writeln!(s, "[{tag}] {:<22} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                let auto = if c.safe_fix.is_some() {
                    " (lanes doctor --apply does this)"
                } else {
                    ""
                };
                let _ = writeln!(s, "        {:<22} fix: {fix}{auto}", "");
            }
            if let Some(a) = &c.applied {
                let _ = writeln!(s, "        {:<22} applied: {a}", "");
            }
        }
        let count = |st| self.checks.iter().filter(|c| c.status == st).count();
        let _ = writeln!(
            s,
            "{} ok, {} warnings, {} missing",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Missing)
        );
        s
    }
}

/// `lanes doctor`: interfaces from the flag, else the config's `steer_interfaces`
/// (if the config is readable), else all.
pub fn run(config: &Path, interfaces: &[String], json: bool, apply: bool) -> Result<()> {
    let sys = Sys::host();
    let mut ifaces = interfaces.to_vec();
    if ifaces.is_empty()
        && let Ok(cfg) = crate::config::Config::load(config)
    {
        ifaces = cfg.daemon.steer_interfaces;
    }
    let mut report = gather(&sys, &ifaces, true);
    if apply {
        report.apply(&sys);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}
