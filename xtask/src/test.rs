//! `cargo xtask test`: runs the test tiers in order and prints one summary
//! line per tier, then a closing `N passed, N failed` line.
//!
//! Tiers:
//! - `fmt`: `cargo fmt --check`
//! - `clippy`: `cargo clippy --workspace --all-targets -- -D warnings`
//! - `unit`: `cargo test --workspace` (no privileges, no eBPF toolchain)
//! - `fuzz`: a short `cargo fuzz` run of every target in `ike-core/fuzz`,
//!   starting from its committed seeds (`ike-core/fuzz/seeds/<target>`)
//! - `host`: root tests on the host kernel (netns, XFRM policies, XDP with
//!   BPF_PROG_TEST_RUN and veth): builds the XDP object first, then runs the
//!   `#[ignore]`d tests gated by `LANES_PRIV_TESTS=1`
//! - `vm`: the VM testbed suite (`cargo xtask vm test`) on the strongSwan
//!   image in two shards side by side, the TS_MAX_QUEUE tests again with 3
//!   vCPUs (they skip with fewer), the libreswan interop tests on the
//!   libreswan image (Debian's libreswan and strongSwan packages conflict),
//!   then the flood test in a boot of its own
//!
//! A tier asked for that cannot run (for example `host` without root) counts
//! as failed, not skipped.

use crate::util;
use anyhow::{Result, bail};
use std::process::Command;
use std::time::Instant;

const ALL: &[&str] = &["fmt", "clippy", "unit", "fuzz", "host", "vm"];

#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// Comma-separated tiers to run (default: all).
    #[arg(long, value_delimiter = ',')]
    pub tier: Vec<String>,
    /// Tiers to leave out.
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Seconds per fuzz target in the fuzz tier (eight targets: keep the
    /// tier, builds included, near three minutes).
    #[arg(long, default_value_t = 12)]
    pub fuzz_seconds: u32,
}

struct Outcome {
    tier: &'static str,
    ok: bool,
    secs: f64,
    note: String,
}

pub fn run(o: &Options) -> Result<()> {
    for t in o.tier.iter().chain(&o.skip) {
        if !ALL.contains(&t.as_str()) {
            bail!("unknown tier `{t}`; tiers are {}", ALL.join(","));
        }
    }
    let wanted: Vec<&'static str> = ALL
        .iter()
        .copied()
        .filter(|t| o.tier.is_empty() || o.tier.iter().any(|x| x == t))
        .filter(|t| !o.skip.iter().any(|x| x == t))
        .collect();

    let mut outcomes = Vec::new();
    for tier in wanted {
        eprintln!("==> tier {tier}");
        let start = Instant::now();
        let res = match tier {
            "fmt" => util::run(util::cargo().args(["fmt", "--all", "--check"])),
            "clippy" => util::run(util::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])),
            "unit" => util::run(util::cargo().args(["test", "--workspace"])),
            "fuzz" => fuzz(o.fuzz_seconds),
            "host" => host(),
            "vm" => vm(),
            _ => unreachable!("tier list is fixed"),
        };
        let secs = start.elapsed().as_secs_f64();
        let (ok, note) = match res {
            Ok(()) => (true, String::new()),
            Err(e) => (false, format!("{e:#}")),
        };
        outcomes.push(Outcome {
            tier,
            ok,
            secs,
            note,
        });
    }

    eprintln!();
    println!("test summary:");
    for o in &outcomes {
        let status = if o.ok { "passed" } else { "FAILED" };
        let note = o.note.lines().next().unwrap_or("");
        println!("  tier {:<7} {status:<7} {:>7.1}s  {note}", o.tier, o.secs);
    }
    let passed = outcomes.iter().filter(|o| o.ok).count();
    let failed = outcomes.len() - passed;
    println!("tiers: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tier(s) failed");
    }
    Ok(())
}

fn is_root() -> bool {
    // The effective uid from /proc avoids a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Root tests on the host kernel: builds the XDP object, then runs the
/// gated tests of the crates that touch the kernel.
fn host() -> Result<()> {
    if !is_root() {
        bail!("the host tier needs root (netns, XFRM, BPF); run as root or pass --skip host");
    }
    util::run(util::cargo().args(["xtask", "build"]))?;
    util::run(
        util::cargo()
            .args([
                "test",
                "-p",
                "ebpf-steer",
                "-p",
                "xfrm-offload",
                "-p",
                "lanes-cli",
            ])
            // The privileged tests are #[ignore]d so a plain `cargo test`
            // reports them as ignored instead of passing them unrun.
            .args(["--", "--test-threads=1", "--include-ignored"])
            .env("LANES_PRIV_TESTS", "1"),
    )
}

/// The VM suite on both image variants, in two lanes of boots at a time.
///
/// The main suite runs on release binaries: flood resistance is a property
/// of the release build (dos_flood skips itself on debug binaries), and the
/// package `cargo xtask dist` builds from the same release binary is
/// installed in the suite too. A guest under QEMU TCG keeps about one host
/// CPU busy, so two boots share this machine's two: the main suite in two
/// shards, then the 3-vCPU TS_MAX_QUEUE boot and the libreswan boot. The
/// tests that judge the daemon by the clock under load (the flood) run
/// afterwards in a boot of their own.
fn vm() -> Result<()> {
    util::run(util::cargo().args(["xtask", "dist"]))?;
    // Built before the boots start, which would otherwise race to build them.
    for variant in ["strongswan", "libreswan"] {
        util::run(util::cargo().args(["xtask", "vm", "image", "--variant", variant]))?;
    }
    let main = |shard: &'static str| {
        VmBoot::new(
            &format!("main {shard}"),
            &["--shard", shard, "--exclude", SOLO],
        )
    };
    let lanes = [
        vec![
            main("0/2"),
            // A per_cpu_max below the CPU count needs >= 3 vCPUs to refuse a CPU.
            VmBoot::new("3 vCPUs", &["--cpus", "3", "--filter", "ts_max_queue"]),
        ],
        vec![
            main("1/2"),
            VmBoot::new(
                "libreswan",
                &["--variant", "libreswan", "--filter", "libreswan"],
            ),
        ],
    ];
    let mut failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .iter()
            .map(|lane| s.spawn(move || lane.iter().filter_map(VmBoot::run).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a boot lane panicked".into()])
            })
            .collect()
    });
    failed.extend(VmBoot::new("alone", &["--filter", SOLO]).run());
    if !failed.is_empty() {
        bail!("VM boots failed: {}", failed.join("; "));
    }
    Ok(())
}

/// Tests that need the machine to themselves.
const SOLO: &str = "dos_flood";

/// One `cargo xtask vm test --release` boot of the VM tier.
struct VmBoot {
    label: String,
    args: Vec<String>,
}

impl VmBoot {
    fn new(label: &str, args: &[&str]) -> Self {
        Self {
            label: label.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Runs the boot, each output line prefixed with its label; `Some`
    /// names the failure.
    fn run(&self) -> Option<String> {
        use std::io::{BufRead, BufReader};
        let start = Instant::now();
        let mut cmd = util::cargo();
        cmd.args(["xtask", "vm", "test", "--release"])
            .args(&self.args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        eprintln!("==> vm boot [{}]: {:?}", self.label, cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Some(format!("[{}] could not start: {e}", self.label)),
        };
        let label = &self.label;
        std::thread::scope(|s| {
            if let Some(out) = child.stdout.take() {
                s.spawn(move || {
                    for l in BufReader::new(out).lines().map_while(Result::ok) {
                        println!("[{label}] {l}");
                    }
                });
            }
            if let Some(err) = child.stderr.take() {
                s.spawn(move || {
                    for l in BufReader::new(err).lines().map_while(Result::ok) {
                        eprintln!("[{label}] {l}");
                    }
                });
            }
        });
        let status = child.wait();
        let secs = start.elapsed().as_secs_f64();
        eprintln!("==> vm boot [{label}]: {status:?} in {secs:.0} s");
        match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!("[{label}] {s}")),
            Err(e) => Some(format!("[{label}] {e}")),
        }
    }
}

/// A short coverage-guided run of every cargo-fuzz target (nightly toolchain,
/// cargo-fuzz installed into `.cache/cargo-fuzz`), each from its seeds.
fn fuzz(seconds: u32) -> Result<()> {
    let dir = util::root().join("ike-core/fuzz");
    let targets = fuzz_targets(&dir)?;
    let bin = cargo_fuzz_bin()?;
    let cargo_fuzz = || {
        let mut c = Command::new(&bin);
        c.current_dir(&dir)
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .env("CARGO_TARGET_DIR", util::root().join("target/fuzz"));
        c
    };
    // One build for all targets; each run below then only checks freshness.
    util::run(cargo_fuzz().arg("build"))?;
    for t in targets {
        std::fs::create_dir_all(dir.join("corpus").join(&t))?;
        util::run(cargo_fuzz().args(fuzz_run_args(&dir, &t, seconds)))?;
    }
    Ok(())
}

/// cargo-fuzz, installed into `.cache/cargo-fuzz` when missing.
pub(crate) fn cargo_fuzz_bin() -> Result<std::path::PathBuf> {
    let root = util::cache_dir().join("cargo-fuzz");
    let bin = root.join("bin/cargo-fuzz");
    if !bin.exists() {
        util::run(
            Command::new("cargo")
                .args(["install", "--locked", "cargo-fuzz", "--root"])
                .arg(&root),
        )?;
    }
    Ok(bin)
}

/// The targets under `<dir>/fuzz_targets`, sorted; each must have seeds.
pub(crate) fn fuzz_targets(dir: &std::path::Path) -> Result<Vec<String>> {
    let targets_dir = dir.join("fuzz_targets");
    if !targets_dir.is_dir() {
        bail!("no fuzz targets under {}", targets_dir.display());
    }
    let mut targets: Vec<String> = std::fs::read_dir(&targets_dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != "rs" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    targets.sort();
    for t in &targets {
        let seeds = dir.join("seeds").join(t);
        let empty = std::fs::read_dir(&seeds).map_or(true, |mut d| d.next().is_none());
        if empty {
            bail!(
                "fuzz target {t} has no seeds in {}; add inputs there \
                 (cargo test -p ike-core -- --ignored write_fuzz_seeds writes most)",
                seeds.display()
            );
        }
    }
    Ok(targets)
}

/// `cargo fuzz` arguments for a bounded run of `target` in the fuzz crate
/// `dir`: new inputs go to `corpus/<target>`, the committed
/// `seeds/<target>` are read as well.
fn fuzz_run_args(dir: &std::path::Path, target: &str, seconds: u32) -> Vec<String> {
    let path = |sub: &str| dir.join(sub).join(target).to_string_lossy().into_owned();
    vec![
        "run".into(),
        target.into(),
        path("corpus"),
        path("seeds"),
        "--".into(),
        format!("-max_total_time={seconds}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fuzz_target_has_seeds() {
        let dir = util::root().join("ike-core/fuzz");
        let targets = fuzz_targets(&dir).expect("targets with seeds");
        for t in [
            "sequence",
            "sk_create_child",
            "sk_ike_auth",
            "sk_informational",
        ] {
            assert!(targets.iter().any(|x| x == t), "target {t} missing");
        }
    }

    #[test]
    fn fuzz_runs_start_from_the_seeds() {
        let dir = std::path::Path::new("/r/ike-core/fuzz");
        let args = fuzz_run_args(dir, "sk_ike_auth", 12);
        assert_eq!(
            args,
            [
                "run",
                "sk_ike_auth",
                "/r/ike-core/fuzz/corpus/sk_ike_auth",
                "/r/ike-core/fuzz/seeds/sk_ike_auth",
                "--",
                "-max_total_time=12"
            ]
        );
    }
}
