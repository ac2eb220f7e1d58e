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

/// One shard of the suite: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `K/N` with K < N.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s}: expected K/N with 0 <= K < N, e.g. 0/2");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which tests one boot runs (run-suite's arguments and environment).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Names containing any of these comma-separated words.
    pub filter: Option<String>,
    /// Names containing none of these comma-separated words.
    pub exclude: Option<String>,
    pub shard: Option<Shard>,
}

impl Selection {
    /// The guest's command line.
    fn script(&self) -> String {
        format!(
            "LANES_EXCLUDE={} LANES_SHARD={} exec /lanes/scripts/run-suite {}\n",
            qemu::shell_quote(self.exclude.as_deref().unwrap_or("")),
            qemu::shell_quote(&self.shard.map(|s| s.to_string()).unwrap_or_default()),
            qemu::shell_quote(self.filter.as_deref().unwrap_or(""))
        )
    }
}

/// Boots once and runs the VM tests `sel` selects.
pub fn run(boot: &BootArgs, sel: &Selection) -> Result<TierOutcome> {
    let script = sel.script();
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
    fn shards_parse_and_reach_the_guest() {
        assert_eq!(Shard::parse("1/2"), Ok(Shard { index: 1, count: 2 }));
        for bad in ["2/2", "1", "a/2", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let sel = Selection {
            filter: None,
            exclude: Some("dos_flood".into()),
            shard: Some(Shard { index: 0, count: 2 }),
        };
        assert_eq!(
            sel.script(),
            "LANES_EXCLUDE=dos_flood LANES_SHARD=0/2 exec /lanes/scripts/run-suite ''\n"
        );
    }

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
