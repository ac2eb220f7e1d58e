//! `cargo xtask vm test`: one boot runs the whole VM suite with
//! `/lanes/scripts/run-suite`, which prints one `@@RESULT` line per test.

use super::{BootArgs, payload, qemu};

/// Each test's limit in the guest (`LANES_TEST_TIMEOUT` in run-suite).
const TEST_TIMEOUT_S: u64 = 300;
use anyhow::Result;

/// The VM tier's outcome, one entry per test (`group/name`).
#[derive(Debug, Default, Clone)]
pub struct TierOutcome {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    /// Wall-clock seconds of the boot that ran the suite.
    pub secs: f64,
}

impl TierOutcome {
    /// True when no test failed (and at least one ran).
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && !self.passed.is_empty()
    }

    /// One line: `vm: 5 passed, 0 failed, 1 skipped in 80 s`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "vm: {} passed, {} failed, {} skipped in {:.0} s",
            self.passed.len(),
            self.failed.len(),
            self.skipped.len(),
            self.secs
        );
        if !self.failed.is_empty() {
            s.push_str(&format!(" (failed: {})", self.failed.join(", ")));
        }
        s
    }

    fn parse(stdout: &str) -> Self {
        let mut o = Self::default();
        for l in stdout.lines() {
            let mut w = l.split_whitespace();
            if w.next() != Some("@@RESULT") {
                continue;
            }
            let (Some(name), Some(res)) = (w.next(), w.next()) else {
                continue;
            };
            match res {
                "PASS" => o.passed.push(name.into()),
                "SKIP" => o.skipped.push(name.into()),
                _ => o.failed.push(name.into()),
            }
        }
        o
    }
}

/// Boots once and runs every VM test (or those matching `filter`).
pub fn run(boot: &BootArgs, filter: Option<&str>) -> Result<TierOutcome> {
    let script = format!(
        "exec /lanes/scripts/run-suite {}\n",
        qemu::shell_quote(filter.unwrap_or(""))
    );
    // The boot's limit: every test may use its own limit, plus the boot.
    let n = payload::count_tests()?;
    let mut boot = boot.clone();
    boot.timeout = boot.timeout.max(300 + n as u64 * (TEST_TIMEOUT_S + 20));
    let r = qemu::run(&qemu::Plan {
        boot: &boot,
        script,
        stream: true,
    })?;
    let mut o = TierOutcome::parse(&r.stdout);
    if !r.stderr.trim().is_empty() || r.code != 0 {
        eprintln!("vm: guest logs in {}", r.dir.display());
    }
    o.secs = r.secs;
    if let Some(why) = &r.lost {
        o.failed.push(format!("suite (guest lost: {why})"));
    } else if o.passed.is_empty() && o.failed.is_empty() && o.skipped.is_empty() && r.code != 0 {
        o.failed.push(format!("run-suite (exit {})", r.code));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_results() {
        let o = TierOutcome::parse(
            "x\n@@RESULT baseline/a PASS 0 3\n@@RESULT c/b FAIL 1 2\n@@RESULT c/d SKIP 77 0\n",
        );
        assert_eq!(o.passed, ["baseline/a"]);
        assert_eq!(o.failed, ["c/b"]);
        assert_eq!(o.skipped, ["c/d"]);
        assert!(!o.ok());
    }
}
