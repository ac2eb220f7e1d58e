//! `cargo xtask fuzz`: a long libFuzzer campaign over the ike-core targets.
//!
//! Builds every target without a sanitizer (`cargo fuzz build -s none`:
//! ike-core is `forbid(unsafe_code)`, and without ASan the targets run two to
//! three times faster), copies the binaries to `target/fuzz-long/<stamp>/bin`
//! so a rebuild cannot change a running campaign, then runs each target for
//! `--runs` executions at `nice -n 19`, `--jobs` at a time, from
//! `ike-core/fuzz/corpus/<target>` (where new inputs go) and the committed
//! seeds. A crash input is kept under `target/fuzz-long/<stamp>/artifacts/`
//! and the target resumes with the next libFuzzer seed for the executions
//! left, until `--max-crashes`. The report
//! `bench/results/fuzz-long-<stamp>.md` is rewritten whenever a libFuzzer
//! process ends, so a campaign still running shows its progress.

use crate::{test, util};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Executions per target.
    #[arg(long, default_value_t = 10_000_000)]
    pub runs: u64,
    /// Targets fuzzed at the same time.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Comma-separated targets (default: every target in ike-core/fuzz).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Crashes after which a target stops before its runs are done.
    #[arg(long, default_value_t = 5)]
    pub max_crashes: usize,
}

/// What one libFuzzer process printed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stats {
    executed: u64,
    cov: u64,
    ft: u64,
    corpus_units: u64,
    /// The crash input libFuzzer wrote, if it stopped on one.
    crash: Option<String>,
}

/// Reads libFuzzer's status lines (`#N ... cov: C ft: F corp: U/size`), its
/// `-print_final_stats=1` block and the `Test unit written to` of a crash.
fn parse_log(log: &str) -> Stats {
    let mut s = Stats::default();
    let number = |text: &str| -> Option<u64> {
        let digits: String = text
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let field = |line: &str, name: &str| number(line.split(name).nth(1)?);
    for line in log.lines() {
        if let Some(n) = line.strip_prefix('#').and_then(number) {
            s.executed = s.executed.max(n);
        }
        if line.contains(" cov: ") {
            s.cov = field(line, " cov: ").unwrap_or(s.cov);
            s.ft = field(line, " ft: ").unwrap_or(s.ft);
            s.corpus_units = field(line, " corp: ").unwrap_or(s.corpus_units);
        }
        if let Some(n) = field(line, "stat::number_of_executed_units:") {
            s.executed = n;
        }
        if let Some(p) = line.split("Test unit written to ").nth(1) {
            s.crash = Some(p.trim().to_string());
        }
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Running,
    Done,
    /// Stopped at `--max-crashes` or on a process that executed nothing.
    Stopped,
}

/// One target's line of the report.
#[derive(Debug, Clone)]
struct Row {
    target: String,
    asked: u64,
    executed: u64,
    wall: Duration,
    /// cov, ft and corpus units of the last libFuzzer process.
    last: Stats,
    corpus_files: usize,
    crashes: Vec<String>,
    state: State,
}

impl Row {
    fn new(target: &str, asked: u64) -> Self {
        Self {
            target: target.to_string(),
            asked,
            executed: 0,
            wall: Duration::ZERO,
            last: Stats::default(),
            corpus_files: 0,
            crashes: Vec::new(),
            state: State::Queued,
        }
    }

    fn exec_per_sec(&self) -> u64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            (self.executed as f64 / secs).round() as u64
        } else {
            0
        }
    }
}

/// A number with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The report: `head` (machine, toolchain, commands) then one row per target
/// and the crash inputs.
fn markdown(head: &str, rows: &[Row]) -> String {
    let mut md = head.to_string();
    md.push_str(
        "\n| target | runs asked | runs executed | exec/s (average) | cov | ft | \
         corpus units | corpus files | wall s | crashes | state |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:?} |",
            r.target,
            thousands(r.asked),
            thousands(r.executed),
            r.exec_per_sec(),
            r.last.cov,
            r.last.ft,
            r.last.corpus_units,
            r.corpus_files,
            r.wall.as_secs_f64(),
            r.crashes.len(),
            r.state,
        );
    }
    let crashes: Vec<_> = rows
        .iter()
        .flat_map(|r| r.crashes.iter().map(move |c| (&r.target, c)))
        .collect();
    md.push_str("\n## Crashes\n\n");
    if crashes.is_empty() {
        md.push_str("None.\n");
    }
    for (t, c) in crashes {
        let _ = writeln!(md, "- `{t}`: `{c}`");
    }
    md
}

/// The campaign's fixed parts, shared by the worker threads.
struct Campaign {
    fuzz_dir: PathBuf,
    out: PathBuf,
    report: PathBuf,
    head: String,
    runs: u64,
    max_crashes: usize,
    rows: Mutex<Vec<Row>>,
}

pub fn run(o: &Options) -> Result<()> {
    if o.jobs == 0 || o.runs == 0 {
        bail!("--jobs and --runs must be at least 1");
    }
    let fuzz_dir = util::root().join("ike-core/fuzz");
    let targets = chosen_targets(&fuzz_dir, &o.target)?;
    let built = build(&fuzz_dir)?;
    let stamp = sh("date -u +%Y-%m-%dT%H%M%SZ");
    let out = util::root().join("target/fuzz-long").join(&stamp);
    std::fs::create_dir_all(out.join("bin"))?;
    std::fs::create_dir_all(out.join("logs"))?;
    for t in &targets {
        std::fs::copy(built.join(t), out.join("bin").join(t))
            .with_context(|| format!("copying the {t} binary"))?;
    }
    let results = util::root().join("bench/results");
    std::fs::create_dir_all(&results)?;
    let c = Campaign {
        head: head(&stamp, o, &out),
        report: results.join(format!("fuzz-long-{stamp}.md")),
        rows: Mutex::new(targets.iter().map(|t| Row::new(t, o.runs)).collect()),
        fuzz_dir,
        out,
        runs: o.runs,
        max_crashes: o.max_crashes,
    };
    eprintln!(
        "fuzz: {} targets, {} runs each; logs in {}, report {}",
        targets.len(),
        o.runs,
        c.out.display(),
        c.report.display()
    );
    c.write_report()?;
    let queue = Mutex::new(targets.into_iter());
    std::thread::scope(|s| {
        for _ in 0..o.jobs {
            s.spawn(|| {
                while let Some(t) = next(&queue) {
                    if let Err(e) = c.run_target(&t) {
                        eprintln!("fuzz: {t}: {e:#}");
                    }
                }
            });
        }
    });
    c.write_report()?;
    eprintln!("fuzz: report in {}", c.report.display());
    Ok(())
}

fn next(queue: &Mutex<std::vec::IntoIter<String>>) -> Option<String> {
    queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .next()
}

/// The asked targets (all by default), `sequence` first: it is the slowest,
/// so the other lanes take the rest meanwhile.
fn chosen_targets(fuzz_dir: &Path, asked: &[String]) -> Result<Vec<String>> {
    let all = test::fuzz_targets(fuzz_dir)?;
    for t in asked {
        if !all.contains(t) {
            bail!("unknown fuzz target `{t}`; targets are {}", all.join(","));
        }
    }
    let mut chosen: Vec<String> = all
        .into_iter()
        .filter(|t| asked.is_empty() || asked.contains(t))
        .collect();
    chosen.sort_by_key(|t| t != "sequence");
    Ok(chosen)
}

/// How often a running target's row is refreshed from its log.
const REFRESH: Duration = Duration::from_secs(60);

const BUILD: &str = "RUSTUP_TOOLCHAIN=nightly CARGO_TARGET_DIR=<root>/target/fuzz-nosan \
                     cargo fuzz build -s none";

/// Builds every target (no sanitizer) at `nice -n 19`; returns the folder
/// holding the binaries.
fn build(fuzz_dir: &Path) -> Result<PathBuf> {
    let target_dir = util::root().join("target/fuzz-nosan");
    util::run(
        Command::new("nice")
            .args(["-n", "19"])
            .arg(test::cargo_fuzz_bin()?)
            .args(["build", "-s", "none"])
            .current_dir(fuzz_dir)
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .env("CARGO_TARGET_DIR", &target_dir),
    )?;
    Ok(target_dir.join("x86_64-unknown-linux-gnu/release"))
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The report's title, machine, toolchain and commands.
fn head(stamp: &str, o: &Options, out: &Path) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# lanes fuzz campaign, {stamp}\n");
    let _ = writeln!(
        md,
        "- machine: {} CPUs ({}), kernel {}, load average at start {}",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'"),
        sh("uname -r"),
        sh("cut -d' ' -f1-3 /proc/loadavg"),
    );
    let _ = writeln!(
        md,
        "- toolchain: {}, {}",
        sh("RUSTUP_TOOLCHAIN=nightly rustc --version"),
        sh(&format!(
            "{} --version",
            test::cargo_fuzz_bin().unwrap_or_default().display()
        )),
    );
    let dirty = if sh("git status --porcelain --untracked-files=no").is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let _ = writeln!(
        md,
        "- commit: {}{dirty}\n- build: `cd ike-core/fuzz && {BUILD}`",
        sh("git log -1 --format='%h %s'")
    );
    let _ = writeln!(
        md,
        "- campaign: `cargo xtask fuzz --runs {} --jobs {}`, every process at `nice -n 19`; \
         binaries, logs and crash inputs in `{}`\n",
        o.runs,
        o.jobs,
        out.strip_prefix(util::root()).unwrap_or(out).display()
    );
    md.push_str(
        "Command per target and libFuzzer process (working directory `ike-core/fuzz`; \
         `<k>` counts the processes of a target, a crash ends one):\n\n```\n\
         nice -n 19 <bin>/<t> corpus/<t> seeds/<t> -runs=<runs left> -seed=<k> \\\n    \
         -print_final_stats=1 -reload=0 -artifact_prefix=<out>/artifacts/<t>/\n```\n\n\
         `cov`/`ft`/corpus units are libFuzzer's last status line of the target's last \
         process (no-sanitizer build: compare only runs of the same build); a running \
         target's row is refreshed from its log every minute, as of that log's last \
         status line (libFuzzer prints one on new coverage and at every power of two). A crash input \
         of a harness target replays with `FUZZ_TARGET=<t> FUZZ_INPUT=<file> cargo test \
         -p ike-core -- --ignored --nocapture replay_fuzz_input`.\n",
    );
    md
}

impl Campaign {
    fn update(&self, target: &str, f: impl FnOnce(&mut Row)) -> Result<()> {
        {
            let mut rows = self
                .rows
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(r) = rows.iter_mut().find(|r| r.target == target) {
                f(r);
            }
        }
        self.write_report()
    }

    fn write_report(&self) -> Result<()> {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        std::fs::write(&self.report, markdown(&self.head, &rows))
            .with_context(|| format!("writing {}", self.report.display()))
    }

    /// Runs libFuzzer processes for `t` until its runs are done or it
    /// stops; the report is rewritten after each.
    fn run_target(&self, t: &str) -> Result<()> {
        self.update(t, |r| r.state = State::Running)?;
        let corpus = self.fuzz_dir.join("corpus").join(t);
        let artifacts = self.out.join("artifacts").join(t);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let (mut executed, mut crashes, mut wall) = (0u64, 0usize, Duration::ZERO);
        for k in 1.. {
            let log = self.out.join("logs").join(format!("{t}-{k}.log"));
            let started = Instant::now();
            let mut child =
                self.libfuzzer(t, k, self.runs - executed, &corpus, &artifacts, &log)?;
            let ok = self.wait(t, &mut child, (&log, &corpus), executed, wall)?;
            wall += started.elapsed();
            let stats = parse_log(&std::fs::read_to_string(&log).unwrap_or_default());
            executed += stats.executed;
            let crash = stats
                .crash
                .clone()
                .or_else(|| (!ok).then(|| format!("no crash input; see {}", log.display())));
            crashes += usize::from(crash.is_some());
            let finished = executed >= self.runs;
            let stuck = stats.executed == 0 || crashes >= self.max_crashes;
            let files = std::fs::read_dir(&corpus).map_or(0, Iterator::count);
            self.update(t, |r| {
                r.executed = executed;
                r.wall = wall;
                r.last = stats;
                r.corpus_files = files;
                r.crashes.extend(crash);
                if finished {
                    r.state = State::Done;
                } else if stuck {
                    r.state = State::Stopped;
                }
            })?;
            if finished || stuck {
                break;
            }
        }
        Ok(())
    }

    /// Waits for `child`, refreshing the row from its log and corpus every
    /// [`REFRESH`]; false if it exited unsuccessfully.
    fn wait(
        &self,
        t: &str,
        child: &mut Child,
        (log, corpus): (&Path, &Path),
        executed: u64,
        wall: Duration,
    ) -> Result<bool> {
        let started = Instant::now();
        let mut refreshed = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(250));
            if refreshed.elapsed() >= REFRESH {
                refreshed = Instant::now();
                let s = parse_log(&std::fs::read_to_string(log).unwrap_or_default());
                let files = std::fs::read_dir(corpus).map_or(0, Iterator::count);
                self.update(t, |r| {
                    r.executed = executed + s.executed;
                    r.corpus_files = files;
                    r.wall = wall + started.elapsed();
                    r.last = s;
                })?;
            }
        }
    }

    /// Starts one libFuzzer process, its output going to `log`.
    fn libfuzzer(
        &self,
        t: &str,
        k: u64,
        runs: u64,
        corpus: &Path,
        artifacts: &Path,
        log: &Path,
    ) -> Result<Child> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        Command::new("nice")
            .args(["-n", "19"])
            .arg(self.out.join("bin").join(t))
            .arg(corpus)
            .arg(self.fuzz_dir.join("seeds").join(t))
            .arg(format!("-runs={runs}"))
            .arg(format!("-seed={k}"))
            .arg("-print_final_stats=1")
            // One process per target: nothing else writes its corpus, so the
            // periodic re-read of the corpus directory (a tenth of
            // `sequence`'s time) buys nothing.
            .arg("-reload=0")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .current_dir(&self.fuzz_dir)
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting the {t} fuzzer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONE_LOG: &str = "\
INFO: Seed: 1
#2\tINITED cov: 2901 ft: 15499 corp: 6/1Kb exec/s: 0 rss: 30Mb
#1000000\tpulse  cov: 3001 ft: 15600 corp: 1300/90Kb lim: 4096 exec/s: 900 rss: 60Mb
#1500000\tDONE   cov: 3010 ft: 15613 corp: 1353/99Kb lim: 4096 exec/s: 910 rss: 61Mb
Done 1500000 runs in 1650 second(s)
stat::number_of_executed_units: 1500000
stat::average_exec_per_sec:     909
";

    const CRASH_LOG: &str = "\
#41234\tNEW    cov: 2950 ft: 15510 corp: 1200/80Kb lim: 300 exec/s: 800 rss: 40Mb L: 52/52 MS: 1 ChangeBit-
thread '<unnamed>' panicked at ike-core/src/fuzzing/sequence.rs:310:17:
==123== ERROR: libFuzzer: deadly signal
MS: 1 ChangeBit-; base unit: 0123
artifact_prefix='/x/artifacts/sequence/'; Test unit written to /x/artifacts/sequence/crash-abc
stat::number_of_executed_units: 41240
";

    #[test]
    fn reads_a_finished_run() {
        let s = parse_log(DONE_LOG);
        assert_eq!(
            s,
            Stats {
                executed: 1_500_000,
                cov: 3010,
                ft: 15613,
                corpus_units: 1353,
                crash: None
            }
        );
    }

    #[test]
    fn reads_a_crash() {
        let s = parse_log(CRASH_LOG);
        assert_eq!(s.executed, 41_240);
        assert_eq!((s.cov, s.ft, s.corpus_units), (2950, 15510, 1200));
        assert_eq!(s.crash.as_deref(), Some("/x/artifacts/sequence/crash-abc"));
    }

    #[test]
    fn counts_status_lines_without_final_stats() {
        let log = "#7\tINITED cov: 5 ft: 6 corp: 7/1b\n#512\tpulse  cov: 9 ft: 10 corp: 8/2b\n";
        let s = parse_log(log);
        assert_eq!((s.executed, s.cov, s.ft, s.corpus_units), (512, 9, 10, 8));
    }

    #[test]
    fn report_lists_rows_and_crashes() {
        let mut r = Row::new("sequence", 10_000_000);
        r.executed = 2_500_000;
        r.wall = Duration::from_secs(2500);
        r.last = parse_log(DONE_LOG);
        r.crashes.push("/x/crash-abc".into());
        r.state = State::Running;
        let q = Row::new("decode", 10_000_000);
        let md = markdown("# head\n", &[r, q]);
        assert!(md.starts_with("# head\n"));
        assert!(
            md.contains(
                "| sequence | 10,000,000 | 2,500,000 | 1000 | 3010 | 15613 | 1353 | 0 | 2500 | 1 | Running |"
            ),
            "{md}"
        );
        assert!(md.contains("| decode | 10,000,000 | 0 | 0 |"), "{md}");
        assert!(md.contains("- `sequence`: `/x/crash-abc`"), "{md}");
    }

    /// A stand-in for a libFuzzer binary: 100 executions per process, a
    /// crash in the first two.
    const FAKE_FUZZER: &str = r#"#!/bin/sh
for a; do
  case $a in -artifact_prefix=*) p=${a#-artifact_prefix=};; -seed=*) k=${a#-seed=};; esac
done
printf '#100\tNEW    cov: 10 ft: 20 corp: 3/1b\nstat::number_of_executed_units: 100\n'
if [ "$k" -le 2 ]; then
  touch "${p}crash-$k"; echo "Test unit written to ${p}crash-$k"; exit 1
fi
"#;

    #[test]
    fn a_target_resumes_after_a_crash_until_its_runs_are_done() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = std::env::temp_dir().join(format!("xtask-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let out = tmp.join("out");
        for d in ["bin", "logs"] {
            std::fs::create_dir_all(out.join(d)).expect("out dirs");
        }
        let bin = out.join("bin/fake");
        std::fs::write(&bin, FAKE_FUZZER).expect("fake fuzzer");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let c = Campaign {
            fuzz_dir: tmp.clone(),
            out: out.clone(),
            report: tmp.join("report.md"),
            head: "# test\n".into(),
            runs: 250,
            max_crashes: 5,
            rows: Mutex::new(vec![Row::new("fake", 250)]),
        };
        c.run_target("fake").expect("campaign runs");
        let row = c.rows.lock().expect("rows")[0].clone();
        assert_eq!(row.state, State::Done);
        assert_eq!(row.executed, 300, "three processes of 100");
        assert_eq!(row.crashes.len(), 2);
        assert!(
            row.crashes[0].ends_with("artifacts/fake/crash-1"),
            "{:?}",
            row.crashes
        );
        let md = std::fs::read_to_string(&c.report).expect("report written");
        assert!(md.contains("| fake | 250 | 300 |"), "{md}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }

    #[test]
    fn sequence_goes_first() {
        let dir = util::root().join("ike-core/fuzz");
        let t = chosen_targets(&dir, &[]).expect("targets");
        assert_eq!(t[0], "sequence");
        assert!(t.len() >= 8, "{t:?}");
        let err = chosen_targets(&dir, &["nope".into()]).expect_err("unknown target");
        assert!(err.to_string().contains("targets are"), "{err}");
    }
}
