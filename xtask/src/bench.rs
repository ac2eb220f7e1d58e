//! `cargo xtask bench`: runs every benchmark next to the baseline it is
//! judged against, in the same run, and writes a Markdown report to
//! `bench/results/bench-<date>.md` with the machine and kernel.
//!
//! Sections (each can be picked with `--only`):
//! - `ike`: ike-core codec, crypto primitives and the full IKE_SA_INIT +
//!   IKE_AUTH handshake against its DH + PRF + AEAD floor (in-process);
//! - `xdp`: the steering program under BPF_PROG_TEST_RUN against a trivial
//!   XDP_PASS program (host kernel, root);
//! - `xfrm`: SA installs per second, lanes vs `ip -batch` and one `ip`
//!   process per SA (in the VM testbed: the host kernel has no ESP).
//!
//! A section that fails is recorded as failed in the report and makes the
//! command exit non-zero after the report is written.

use crate::util;
use crate::vm;
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

const SECTIONS: &[&str] = &["ike", "xdp", "xfrm"];

#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// Comma-separated sections to run (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Repetitions per XDP measurement (BPF_PROG_TEST_RUN repeat).
    #[arg(long, default_value_t = 1_000_000)]
    pub xdp_repeat: u32,
    /// Guest vCPUs for the VM sections.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
}

struct Section {
    name: &'static str,
    ok: bool,
    secs: f64,
    text: String,
}

pub fn run(o: &Options) -> Result<()> {
    for s in &o.only {
        if !SECTIONS.contains(&s.as_str()) {
            bail!("unknown section `{s}`; sections are {}", SECTIONS.join(","));
        }
    }
    let want = |s: &str| o.only.is_empty() || o.only.iter().any(|x| x == s);
    let mut sections = Vec::new();
    for &name in SECTIONS.iter().filter(|s| want(s)) {
        eprintln!("==> bench {name}");
        let start = Instant::now();
        let res = match name {
            "ike" => ike(),
            "xdp" => xdp(o.xdp_repeat),
            "xfrm" => xfrm(o.cpus),
            _ => unreachable!("section list is fixed"),
        };
        let (ok, text) = match res {
            Ok(t) => (true, t),
            Err(e) => (false, format!("FAILED: {e:#}")),
        };
        eprintln!("{text}");
        sections.push(Section {
            name,
            ok,
            secs: start.elapsed().as_secs_f64(),
            text,
        });
    }
    let path = write_report(&sections)?;
    println!("report: {}", path.display());
    let failed: Vec<_> = sections.iter().filter(|s| !s.ok).map(|s| s.name).collect();
    if !failed.is_empty() {
        bail!("bench sections failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Captures stdout and stderr of a command, failing on a non-zero exit.
fn capture(cmd: &mut Command) -> Result<String> {
    eprintln!("+ {}", util::show(cmd));
    let out = cmd.output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("`{}` failed: {}\n{text}{err}", util::show(cmd), out.status);
    }
    // Keep the bench lines of stderr too, not cargo's progress.
    for l in err
        .lines()
        .filter(|l| !l.trim_start().starts_with(['C', 'F', 'R', 'B']))
    {
        text.push_str(l);
        text.push('\n');
    }
    Ok(text)
}

fn ike() -> Result<String> {
    let mut text = String::new();
    for b in ["codec", "crypto", "handshake"] {
        let out = capture(util::cargo().args(["bench", "-p", "ike-core", "--bench", b]))?;
        let _ = writeln!(text, "#### ike-core `{b}`\n\n```\n{}```\n", out);
    }
    Ok(text)
}

fn xdp(repeat: u32) -> Result<String> {
    crate::build::build_ebpf()?;
    let out = capture(
        util::cargo()
            .args(["run", "--quiet", "--release", "-p", "ebpf-steer"])
            .args(["--example", "steer-bench", "--"])
            .args([repeat.to_string(), "5".to_string()]),
    )?;
    Ok(format!(
        "BPF_PROG_TEST_RUN on the host kernel, repeat {repeat}, 5 rounds:\n\n```\n{out}```\n"
    ))
}

fn xfrm(cpus: u32) -> Result<String> {
    let boot = vm::BootArgs {
        cpus,
        release: true,
        ..Default::default()
    };
    let res = vm::qemu::run_command(
        &boot,
        &["echo \"kernel: $(uname -r)\"; /lanes/tests/xfrm-offload/bench.sh".to_string()],
    )?;
    if res.code != 0 {
        bail!(
            "guest bench exited {}:\n{}{}",
            res.code,
            res.stdout,
            res.stderr
        );
    }
    let lines: String = res
        .stdout
        .lines()
        .filter(|l| l.starts_with("@@BENCH") || l.contains("SA/s") || l.contains("sa/s"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(format!(
        "SA installs in the VM guest ({cpus} vCPUs, {}):\n\n```\n{lines}```\n",
        guest_kernel(&res.stdout)
    ))
}

fn guest_kernel(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("kernel: "))
        .map_or_else(
            || "Debian cloud kernel under QEMU".to_string(),
            str::to_string,
        )
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn write_report(sections: &[Section]) -> Result<std::path::PathBuf> {
    let date = sh("date -u +%Y-%m-%dT%H%M%SZ");
    let dir = util::root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("bench-{date}.md"));
    let mut md = String::new();
    let _ = writeln!(md, "# lanes benchmarks, {date}\n");
    let _ = writeln!(
        md,
        "- machine: {} ({} CPUs, {})\n- host kernel: {}\n- rustc: {}\n- load average at start: {}\n",
        sh("hostname"),
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        sh("uname -r"),
        sh("rustc --version"),
        sh("cut -d' ' -f1-3 /proc/loadavg"),
    );
    let _ = writeln!(
        md,
        "Every figure is printed next to its baseline from the same run; compare ratios, \
         not absolute numbers (these machines are shared and noisy).\n"
    );
    let _ = writeln!(md, "| section | result | seconds |\n|---|---|---|");
    for s in sections {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} |",
            s.name,
            if s.ok { "ok" } else { "FAILED" },
            s.secs
        );
    }
    for s in sections {
        let _ = writeln!(md, "\n## {}\n\n{}", s.name, s.text);
    }
    std::fs::write(&path, md)?;
    Ok(path)
}
