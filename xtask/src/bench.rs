//! `cargo xtask bench`: runs every benchmark next to the baseline it is
//! judged against, in the same run, and writes a Markdown report to
//! `bench/results/bench-<date>/report.md` with the machine and kernel.
//!
//! Sections (each can be picked with `--only`):
//! - `ike`: ike-core codec, crypto primitives and full in-process
//!   handshakes (PSK, ECDSA and RSA certificates, ML-KEM hybrid), each
//!   against its own crypto floor, and the hybrid against plain X25519;
//! - `scale`: the engine's cost per DPD request and per soft expire with 10,
//!   100, 1,000 and 10,000 connections, each with an IKE SA (in-process);
//! - `loop`: the daemon loop's cost (engine, planner, kernel operations) per
//!   DPD request, soft expire and rekey response with 10 to 10,000
//!   connections (in-process; `bench_scale.rs`);
//! - `xdp`: the steering program under BPF_PROG_TEST_RUN, plain and with
//!   live frames, at 1 to 1M bindings, hot and cold keys, against an
//!   XDP_PASS program (host kernel, root; `bench/xdp.rs`);
//! - `xfrm`: SA installs per second at several counts, each lanes path next
//!   to a like-for-like baseline (`ip -batch`, a pipelined netlink batch,
//!   `ip -force -batch`, one `ip` process per SA at the same count), and the
//!   daemon's own install path (in the VM: the host kernel has no ESP);
//! - `daemon`: IKE_SA+Child establishments per second lanes<->lanes vs
//!   charon<->charon, and responder RSS per IKE SA with per-CPU children,
//!   lanes vs charon (guest script `xtask/guest/bin/bench-daemon`);
//! - `pcpu`: per-CPU Child SA latency, lanes vs strongSwan (guest script
//!   `xtask/guest/bin/bench-pcpu`).
//!
//! The guest scripts of `daemon` and `pcpu` print `@@BENCH NAME VALUE UNIT`,
//! `@@RATIO NAME VALUE OP TARGET` and `@@FAIL WHAT` lines; the report lists
//! the figures, each ratio with its target and whether it is met.
//!
//! Measurements repeat in interleaved rounds (`crate::stats`): medians with
//! min–max and a confidence interval, targets judged on medians, every
//! repetition kept under `bench/results/bench-<date>/raw/`, next to
//! `report.md`, `summary.csv` and the charts (`bench/chart.rs`).
//!
//! A section that fails is recorded as failed in the report and makes the
//! command exit non-zero after the report is written.

pub(crate) mod chart;
pub(crate) mod raw;
mod report;
mod xdp;

use crate::stats::{HostLoad, Plan};
use crate::util;
use crate::vm;
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

#[path = "bench_scale.rs"]
mod bench_scale;

const SECTIONS: &[&str] = &["ike", "scale", "loop", "xdp", "xfrm", "daemon", "pcpu"];

#[derive(clap::Args, Debug)]
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
    /// `daemon`: IKE SAs (each with one Child SA) set up for the rate.
    #[arg(long, default_value_t = 500)]
    pub sas: u32,
    /// Kept repetitions of every measurement (after a discarded warm-up),
    /// interleaved with its baseline; medians are reported. Six is the
    /// fewest whose distribution-free interval of the median reaches 95 %.
    #[arg(long, default_value_t = 6)]
    pub reps: usize,
    /// `daemon`: IKE SA counts at which the responder's RSS is read.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000])]
    pub rss: Vec<u32>,
    /// `daemon`: authentication of the rate phase, each run lanes vs charon
    /// (`psk`, `ecdsa`: ECDSA P-256 certificates both ways).
    #[arg(long, value_delimiter = ',', default_values_t = ["psk".to_string(), "ecdsa".to_string()])]
    pub auth: Vec<String>,
    /// `daemon`: the phases to run (`rate`, `rss`).
    #[arg(long, value_delimiter = ',', default_values_t = ["rate".to_string(), "rss".to_string()])]
    pub daemon_phases: Vec<String>,
    /// Wall-clock limit of one VM boot of the `daemon`/`pcpu` sections, seconds.
    #[arg(long, default_value_t = 3600)]
    pub vm_timeout: u64,
    /// Draw the charts of every `*.curve.csv` in this run folder and exit
    /// (nothing is measured).
    #[arg(long, value_name = "DIR")]
    pub redraw: Option<std::path::PathBuf>,
    /// Guest memory of the VM sections, MiB (10,000 IKE SAs on both ends
    /// want more than the testbed's default).
    #[arg(long, default_value_t = 2048)]
    pub mem: u32,
}

struct Section {
    name: &'static str,
    ok: bool,
    secs: f64,
    text: String,
    /// Ratios whose target is met, of those with a target.
    targets: Option<(usize, usize)>,
}

/// What a section produced.
struct Out {
    text: String,
    targets: Option<(usize, usize)>,
    /// Its lines of `summary.csv`.
    rows: Vec<report::Row>,
}

impl From<String> for Out {
    fn from(text: String) -> Self {
        Self {
            text,
            targets: None,
            rows: Vec::new(),
        }
    }
}

pub fn run(o: &Options) -> Result<()> {
    if let Some(dir) = &o.redraw {
        for c in chart::draw_curve_files(dir)? {
            println!("chart: {}.svg", c.display());
        }
        return Ok(());
    }
    for s in &o.only {
        if !SECTIONS.contains(&s.as_str()) {
            bail!("unknown section `{s}`; sections are {}", SECTIONS.join(","));
        }
    }
    if o.reps == 0 {
        bail!("--reps 0: at least one kept repetition is needed (default 5)");
    }
    let want = |s: &str| o.only.is_empty() || o.only.iter().any(|x| x == s);
    let date = sh("date -u +%Y-%m-%dT%H%M%SZ");
    let run = report::Run::create(&date)?;
    let mut rows = Vec::new();
    let mut sections = Vec::new();
    for &name in SECTIONS.iter().filter(|s| want(s)) {
        eprintln!("==> bench {name}");
        let start = Instant::now();
        let res = match name {
            "ike" => ike(o, &run),
            "scale" => scale(o, &run),
            "loop" => bench_scale::daemon_loop(o.reps, &run),
            "xdp" => xdp::run(o, &run),
            "xfrm" => xfrm(o, &run),
            "daemon" => daemon(o, &run),
            "pcpu" => pcpu(o, &run),
            _ => unreachable!("section list is fixed"),
        };
        let (ok, text, targets) = match res {
            Ok(o) => {
                rows.extend(o.rows);
                (true, o.text, o.targets)
            }
            Err(e) => (false, format!("FAILED: {e:#}"), None),
        };
        eprintln!("{text}");
        sections.push(Section {
            name,
            ok,
            secs: start.elapsed().as_secs_f64(),
            text,
            targets,
        });
    }
    std::fs::write(run.dir.join("summary.csv"), report::summary_csv(&rows))?;
    for c in chart::draw_curve_files(&run.dir)? {
        eprintln!("chart: {}.svg", c.display());
    }
    let path = write_report(&run, &date, &sections)?;
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

/// `scale`: the engine's cost per input with 10 to 10,000 connections and
/// IKE SAs (ike-core bench `scale`, sizes interleaved in shuffled rounds).
fn scale(o: &Options, run: &report::Run) -> Result<Out> {
    let plan = seed32(Plan::new(o.reps));
    let (out, host) = HostLoad::around(|| {
        capture(
            util::cargo()
                .args(["bench", "-p", "ike-core", "--bench", "scale", "--"])
                .args([o.reps.to_string(), plan.seed.to_string()]),
        )
    })?;
    run.keep_output("scale-ike-core", &out)?;
    let ms = raw::parse(&out)?;
    let judged = report::judge_section(run, "scale", &ms, &plan, &host)?;
    let mut points = Vec::new();
    for m in &ms {
        for arm in m.arms() {
            let (Some(n), s) = (
                arm.strip_prefix('n').and_then(|n| n.parse().ok()),
                m.summary(arm)?,
            ) else {
                continue;
            };
            points.push(chart::Point {
                imp: "lanes engine (ike-core)".into(),
                tunnels: n,
                metric: format!("{} ({})", m.name, m.unit),
                median: s.median,
                min: s.min,
                max: s.max,
            });
        }
    }
    std::fs::write(
        run.dir.join("engine-cost-vs-connections.csv"),
        chart::write_curve_csv(&points),
    )?;
    chart::draw(
        &run.dir.join("engine-cost-vs-connections"),
        "ike-core: cost per input vs connections (median, min–max)",
        "connections, each with an IKE SA",
        &points,
    )?;
    let prose: String = out
        .lines()
        .filter(|l| !l.starts_with("@@"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!(
        "{}\n![engine cost vs connections](engine-cost-vs-connections.svg) \
         (PNG: engine-cost-vs-connections.png)\n\n```\n{prose}```\n",
        judged.table,
    );
    Ok(Out {
        text,
        targets: Some(judged.targets),
        rows: judged.rows,
    })
}

/// `plan` with a non-zero 32-bit seed (the ike-core benches take a u32).
fn seed32(plan: Plan) -> Plan {
    Plan {
        seed: u64::from(plan.seed as u32 | 1),
        ..plan
    }
}

/// `ike`: codec and crypto primitives (one run each, no target), and the
/// handshake against its crypto floor in interleaved rounds.
fn ike(o: &Options, run: &report::Run) -> Result<Out> {
    let mut text = String::new();
    for b in ["codec", "crypto"] {
        let out = capture(util::cargo().args(["bench", "-p", "ike-core", "--bench", b]))?;
        run.keep_output(&format!("ike-{b}"), &out)?;
        let _ = writeln!(
            text,
            "#### ike-core `{b}` (one run, no target)\n\n```\n{out}```\n"
        );
    }
    let plan = seed32(Plan::new(o.reps));
    let (out, host) = HostLoad::around(|| {
        capture(
            util::cargo()
                .args(["bench", "-p", "ike-core", "--bench", "handshake", "--"])
                .args(["400".to_string(), o.reps.to_string(), plan.seed.to_string()]),
        )
    })?;
    run.keep_output("ike-handshake", &out)?;
    let ms = raw::parse(&out)?;
    let mut judged = report::judge_section(run, "ike", &ms, &plan, &host)?;
    // RFC 9370 hybrid against plain X25519, engines of the same rounds: no target.
    let hybrid = raw::cross_ratio(&ms, "handshake-hybrid", "handshake", "engine")?;
    judged.rows.push(report::Row {
        section: "ike".into(),
        measurement: "handshake-hybrid/handshake".into(),
        what: "engine/engine".into(),
        unit: "ratio".into(),
        summary: hybrid,
        target: None,
    });
    let prose: String = out
        .lines()
        .filter(|l| !l.starts_with("@@"))
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = writeln!(
        text,
        "#### ike-core `handshake`: each engine vs its own crypto floor\n\n\
         Engines: PSK (`handshake`), ECDSA P-256 and RSA-2048 certificates both ways \
         (`handshake-ecdsa`, `handshake-rsa`), PSK with `x25519-ke1_mlkem768` \
         (`handshake-hybrid`). Each floor is the same handshake's key exchange, PRF, \
         AEAD and public-key work alone (`ike_core::crypto::floor::handshake_crypto_with`).\n\n{}\n\
         Hybrid over plain X25519 handshake (engines, per kept round; information, \
         no target): {hybrid}\n\n\
         The whole run (medians over the kept rounds):\n\n```\n{prose}```",
        judged.table
    );
    Ok(Out {
        text,
        targets: Some(judged.targets),
        rows: judged.rows,
    })
}

/// `xfrm`: SA installs per second at several counts, each lanes path next
/// to its like-for-like baseline (xfrm-offload test `sa_install_bench`).
fn xfrm(o: &Options, run: &report::Run) -> Result<Out> {
    let boot = vm::BootArgs {
        cpus: o.cpus,
        release: true,
        ..Default::default()
    };
    let plan = Plan::new(o.reps);
    let (res, host) = HostLoad::around(|| {
        vm::qemu::run_command(
            &boot,
            &[format!(
                "echo \"kernel: $(uname -r)\"; LANES_BENCH_NS=100,1000,4000 LANES_BENCH_REPS={} \
             /lanes/tests/xfrm-offload/bench.sh",
                o.reps
            )],
        )
    })?;
    run.keep_output("xfrm-guest", &res.stdout)?;
    if res.code != 0 {
        bail!(
            "guest bench exited {}:\n{}{}",
            res.code,
            tail(&res.stdout, 60),
            tail(&res.stderr, 30)
        );
    }
    let ms = raw::parse(&res.stdout)?;
    let judged = report::judge_section(run, "xfrm", &ms, &plan, &host)?;
    let mut text = format!(
        "SA installs in the VM guest ({} vCPUs, {}), every arm installing the same N SAs \
         (AES-GCM-128 tunnel) in the same namespace. Sequential (one request, wait for its \
         ack): lanes `add_sa` vs `ip -batch`; `readback_install` is the daemon's path for an \
         SA that asks for NIC offload (NEWSA, then GETSA to read back what the kernel kept), \
         measured here without a device; pipelined: lanes `add_sas` vs \
         `netlink_pipelined` (iproute2's NEWSA bytes over one socket without waiting, \
         written for the bench) and `ip -force -batch` as it is. `lanes_pipelined` is the \
         daemon's path for SAs without offload (consecutive ones go in one `add_sas` batch, \
         no read-back). At the smallest N, one `ip` process per SA vs lanes sequential at \
         that N.\n\n{}\n",
        o.cpus,
        guest_kernel(&res.stdout),
        judged.table
    );
    text.push_str(&install_ratios(&ms)?);
    for (prefix, metric, stem, title) in [
        (
            "xfrm-install-n",
            "SA installs per second",
            "sa-installs-vs-count",
            "SA installs per second vs SAs installed (median, min–max)",
        ),
        (
            "xfrm-slab-n",
            "kernel slab bytes per SA",
            "kernel-slab-per-sa",
            "Kernel slab memory per installed SA vs SAs installed (median, min–max)",
        ),
    ] {
        let points = curve(&ms, prefix, metric)?;
        if points.is_empty() {
            continue;
        }
        std::fs::write(
            run.dir.join(format!("{stem}.csv")),
            chart::write_curve_csv(&points),
        )?;
        chart::draw(
            &run.dir.join(stem),
            title,
            "SAs installed per repetition",
            &points,
        )?;
        let _ = writeln!(text, "\n![{metric}]({stem}.svg) (PNG: {stem}.png)");
    }
    text.push_str(
        "\nKernel slab per SA is the bytes in live slab objects (active objects × object size \
         over every cache of /proc/slabinfo) after an arm's installs over their settled value \
         before them (freed states go through a deferred GC): the xfrm_state object, its AEAD \
         transform and keys, and whatever else the kernel allocated meanwhile. Every arm installs the same SAs, so their rows \
         should agree; a spread between them is measurement noise.\n",
    );
    Ok(Out {
        text,
        targets: None,
        rows: judged.rows,
    })
}

/// The points of the measurements named `<prefix>N`, one per arm and N.
fn curve(ms: &[raw::Measurement], prefix: &str, metric: &str) -> Result<Vec<chart::Point>> {
    let mut points = Vec::new();
    for m in ms {
        let Some(n) = m.name.strip_prefix(prefix).and_then(|n| n.parse().ok()) else {
            continue;
        };
        for arm in m.arms() {
            let s = m.summary(arm)?;
            points.push(chart::Point {
                imp: arm.to_string(),
                tunnels: n,
                metric: metric.into(),
                median: s.median,
                min: s.min,
                max: s.max,
            });
        }
    }
    Ok(points)
}

/// Like-for-like ratios of medians (same N on both sides).
fn install_ratios(ms: &[raw::Measurement]) -> Result<String> {
    const PAIRS: [(&str, &str); 5] = [
        ("lanes_sequential", "ip_batch"),
        ("readback_install", "ip_batch"),
        ("lanes_pipelined", "netlink_pipelined"),
        ("lanes_pipelined", "ip_force_batch"),
        ("lanes_sequential", "ip_process_loop"),
    ];
    let mut md = String::from("| N | lanes | baseline | ratio of medians |\n|---:|---|---|---:|\n");
    for m in ms.iter().filter(|m| m.name.starts_with("xfrm-install-n")) {
        let arms = m.arms();
        for (a, b) in PAIRS {
            if arms.contains(&a) && arms.contains(&b) {
                let r = crate::stats::ratio_of_medians(&m.summary(a)?, &m.summary(b)?);
                let n = m.name.trim_start_matches("xfrm-install-n");
                let _ = writeln!(md, "| {n} | {a} | {b} | {r:.2} |");
            }
        }
    }
    Ok(md)
}

/// `daemon`: the daemon-to-daemon figures (guest script `bench-daemon`).
fn daemon(o: &Options, run: &report::Run) -> Result<Out> {
    let rss: Vec<String> = o.rss.iter().map(u32::to_string).collect();
    let mut args = format!(
        "--sas {} --reps {} --rss {} --auth {}",
        o.sas,
        o.reps,
        rss.join(","),
        o.auth.join(",")
    );
    match o
        .daemon_phases
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()[..]
    {
        ["rate"] => args.push_str(" --only rate"),
        ["rss"] => args.push_str(" --only rss"),
        ["rate", "rss"] | ["rss", "rate"] => {}
        ref other => bail!("--daemon-phases {other:?}: pick rate, rss or both"),
    }
    let out = guest_script(o, "bench-daemon", &args)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "In the VM guest ({} vCPUs, {}), release binaries, {}; \
         proposals aes128gcm16-prfsha256-x25519 / aes128gcm16, PSK unless said. Targets: \
         lanes<->lanes sets up IKE_SA+Child at least 2x as fast as charon<->charon with PSK \
         and at least as fast with certificates; lanes' memory per IKE SA (with its per-CPU children) at most 0.5x charon's.\n",
        o.cpus,
        out.kernel,
        out.charon.as_deref().unwrap_or("strongSwan charon")
    );
    let _ = writeln!(
        text,
        "- **rate**: gw-a initiates {sas} connections (distinct ids `cI.a.lanes.test`, \
         distinct /32 selectors, one Child SA each, no per-CPU SAs) to one responder \
         connection on gw-b that accepts any id; lanes<->lanes and charon<->charon. \
         Timed from the command that starts the initiation (lanes: starting the daemon, \
         every connection `start_action = \"start\"`; charon, already running: \
         `swanctl --load-all`, `start_action = start`) until gw-a's kernel holds all \
         {sa2} SAs; the median of {reps} repetitions after one discarded warm-up round, lanes and charon in a random order in each round; once per \
         authentication ({auths}: `psk`, and `ecdsa` with ECDSA P-256 certificates both ways \
         from one root CA made with `pki`, each initiator connection `cI` with its own \
         certificate and key for `cI.a.lanes.test`; the certificate target is lanes at least \
         as fast as charon, since both pay the same signatures). Both daemons run with DoS protection off (`dos_protection = no`/`false`: \
         their default half-open thresholds would throttle a burst from one address), \
         charon with `ikesa_table_size = 1024`. lanes' initiator paces its `start` \
         connections (`[daemon] max_initiating`, default 64 IKE SAs in flight); charon's \
         initiator has no such setting and starts all at once.\n\
         - **rss**: the responder daemon on gw-b (lanes and charon in a random order per \
         round; one discarded warm-up round, then {reps} rounds, the target judged on the \
         median slopes) while the same lanes initiator (`per_cpu_sas = \"yes\"`, `per_cpu_mode = \"precreate\"`: the \
         fallback Child SA plus one per CPU) brings up {steps} IKE SAs, one `lanes reload` \
         per step; VmRSS from /proc/PID/status once the responder's kernel holds every \
         SA; KiB per IKE SA is the slope of the last step. The per-CPU SAs are counted \
         in the kernel (`pcpu-num`).\n",
        sas = o.sas,
        sa2 = 2 * u64::from(o.sas),
        reps = o.reps,
        auths = o.auth.join(", "),
        steps = rss.join(", "),
    );
    if o.daemon_phases.iter().any(|p| p == "rate") {
        let _ = writeln!(
            text,
            "Rate repetitions (below): ms for {} IKE_SA+Child; targets: charon's time over \
             lanes' ≥ 2 with PSK, ≥ 1 with certificates.\n",
            o.sas
        );
    }
    let ms = raw::parse(&out.stdout)?;
    text.push_str(&rss_table(&ms, &o.rss));
    let (steps, rows) = bench_scale::vm_steps(&ms, &o.rss);
    text.push_str(&steps);
    if !rows.is_empty() {
        let csv = bench_scale::write_csv("daemon-steps", &rows)?;
        let _ = writeln!(text, "CSV: `{}`\n", csv.display());
        std::fs::write(
            run.dir.join(format!("{DAEMON_CHART}.curve.csv")),
            bench_scale::curve_csv(&rows),
        )?;
        let _ = writeln!(
            text,
            "![setup rate and memory vs IKE SAs]({DAEMON_CHART}.svg) (PNG: {DAEMON_CHART}.png)\n"
        );
    }
    judged_guest(o, run, "daemon", out, text)
}

/// The chart of the `daemon` section's steps (drawn at the end of the run).
const DAEMON_CHART: &str = "daemon-vs-ike-sas";

/// Responder RSS by IKE SA count, lanes next to charon: medians of the
/// kept rounds with their range.
fn rss_table(ms: &[raw::Measurement], steps: &[u32]) -> String {
    let cell = |name: &str, arm: &str| {
        raw::kept_summary(ms, name, arm).map_or_else(|| "-".into(), |s| s.range())
    };
    let mut md = String::from(
        "Responder VmRSS (KiB) by IKE SAs, each with the fallback and per-CPU Child SAs \
         (median [min–max] of the kept rounds):\n\n\
         | IKE SAs | lanes | charon |\n|---:|---:|---:|\n",
    );
    for n in std::iter::once(0).chain(steps.iter().copied()) {
        let name = format!("rss-n{n}");
        let _ = writeln!(
            md,
            "| {n} | {} | {} |",
            cell(&name, "lanes"),
            cell(&name, "charon")
        );
    }
    let _ = writeln!(
        md,
        "| KiB per IKE SA (last step) | {} | {} |\n",
        cell("rss-slope", "lanes"),
        cell("rss-slope", "charon")
    );
    md
}

/// `pcpu`: per-CPU Child SA latency (guest script `bench-pcpu`).
fn pcpu(o: &Options, run: &report::Run) -> Result<Out> {
    let out = guest_script(o, "bench-pcpu", &format!("--reps {}", o.reps))?;
    let text = format!(
        "In the VM guest ({} vCPUs, {}), release binaries: time from the first packet on \
         a new CPU until its per-CPU Child SAs are installed, lanes vs strongSwan; one \
         warm-up round, then {} rounds each running both in a random order (a fresh tunnel \
         per run, one latency per CPU). Target: lanes' median at most 0.5 × strongSwan's.\n\n",
        o.cpus, out.kernel, o.reps
    );
    judged_guest(o, run, "pcpu", out, text)
}

/// A guest section whose repetitions are `@@RAW` lines: judged on medians
/// (the guest shuffles each round from /dev/urandom, so the plan's seed is
/// 0 and the raw lines' slot column records the order it drew), then the
/// guest's own figures.
fn judged_guest(
    o: &Options,
    run: &report::Run,
    section: &str,
    out: GuestOut,
    mut text: String,
) -> Result<Out> {
    let ms = raw::parse(&out.stdout)?;
    let plan = Plan {
        reps: o.reps,
        warmup: 1,
        seed: 0,
    };
    let judged = report::judge_section(run, section, &ms, &plan, &out.host)?;
    if !ms.is_empty() {
        let _ = writeln!(text, "{}", judged.table);
    }
    let mut res = out.finish(run, section, text)?;
    let (met, total) = res.targets.unwrap_or((0, 0));
    res.targets = Some((met + judged.targets.0, total + judged.targets.1));
    res.rows.extend(judged.rows);
    Ok(res)
}

/// What a guest bench script printed.
#[derive(Default)]
struct GuestOut {
    kernel: String,
    charon: Option<String>,
    lines: Vec<BenchLine>,
    /// Everything the guest printed, kept in the run's `raw/`.
    stdout: String,
    /// The host's load and steal over the boot.
    host: HostLoad,
    /// Why the run failed (exit status), with the figures it did print.
    error: Option<String>,
}

impl GuestOut {
    /// The section's result: `text` plus the figures and ratios, or the
    /// failure with what was printed.
    fn finish(self, run: &report::Run, name: &str, mut text: String) -> Result<Out> {
        run.keep_output(&format!("{name}-guest"), &self.stdout)?;
        let _ = writeln!(
            text,
            "Host over the boot: {}. The guest's whole output: `raw/{name}-guest.txt`.\n",
            self.host
        );
        text.push_str(&self.markdown());
        if let Some(e) = self.error {
            bail!("{e}\n\n{text}");
        }
        Ok(Out {
            text,
            targets: Some(self.targets()),
            rows: Vec::new(),
        })
    }

    /// The figures and ratios as Markdown tables.
    fn markdown(&self) -> String {
        let mut md = String::new();
        let figs: Vec<_> = self
            .lines
            .iter()
            .filter_map(|l| match l {
                BenchLine::Figure { name, value, unit } => Some((name, value, unit)),
                _ => None,
            })
            .collect();
        if !figs.is_empty() {
            md.push_str("| figure | value | unit |\n|---|---:|---|\n");
            for (n, v, u) in figs {
                let _ = writeln!(md, "| {n} | {v} | {u} |");
            }
            md.push('\n');
        }
        let ratios: Vec<_> = self
            .lines
            .iter()
            .filter(|l| matches!(l, BenchLine::Ratio { .. }))
            .collect();
        if !ratios.is_empty() {
            md.push_str("| ratio | value | target | met |\n|---|---:|---|---|\n");
            for l in ratios {
                if let BenchLine::Ratio {
                    name,
                    value,
                    target,
                } = l
                {
                    let (t, met) = match target {
                        Some(t) => (t.to_string(), if t.met(*value) { "yes" } else { "**no**" }),
                        None => ("(not stated)".into(), "?"),
                    };
                    let _ = writeln!(md, "| {name} | {value:.3} | {t} | {met} |");
                }
            }
            md.push('\n');
        }
        for l in &self.lines {
            if let BenchLine::Fail(w) = l {
                let _ = writeln!(md, "- FAILED: {w}");
            }
        }
        let raw: String = self
            .lines
            .iter()
            .map(|l| format!("{}\n", l.raw()))
            .collect();
        if !raw.is_empty() {
            let _ = writeln!(md, "\nRaw lines:\n\n```\n{raw}```");
        }
        md
    }

    /// `(met, total)` over the ratios that state a target.
    fn targets(&self) -> (usize, usize) {
        self.lines.iter().fold((0, 0), |(m, t), l| match l {
            BenchLine::Ratio {
                value,
                target: Some(tg),
                ..
            } => (m + usize::from(tg.met(*value)), t + 1),
            _ => (m, t),
        })
    }
}

/// A ratio's target: `>= 2` or `<= 0.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Target {
    at_least: bool,
    bound: f64,
}

impl Target {
    fn met(self, v: f64) -> bool {
        if self.at_least {
            v >= self.bound
        } else {
            v <= self.bound
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.at_least { ">=" } else { "<=" };
        write!(f, "{op} {}", self.bound)
    }
}

/// One `@@` line of a guest bench script.
#[derive(Debug, Clone, PartialEq)]
enum BenchLine {
    /// `@@BENCH NAME VALUE UNIT...`
    Figure {
        name: String,
        value: String,
        unit: String,
    },
    /// `@@RATIO NAME VALUE [OP TARGET]`
    Ratio {
        name: String,
        value: f64,
        target: Option<Target>,
    },
    /// `@@FAIL WHAT`, or an `@@` line that does not parse.
    Fail(String),
}

impl BenchLine {
    fn parse(line: &str) -> Option<Self> {
        let mut w = line.split_whitespace();
        let tag = w.next()?;
        let rest: Vec<&str> = w.collect();
        match (tag, rest.as_slice()) {
            ("@@BENCH", [name, value, unit @ ..]) => Some(Self::Figure {
                name: (*name).to_string(),
                value: (*value).to_string(),
                unit: unit.join(" "),
            }),
            ("@@RATIO", [name, value, more @ ..]) => {
                let Ok(value) = value.parse::<f64>() else {
                    return Some(Self::Fail(format!("unparsable ratio line: {line}")));
                };
                let target = match more {
                    [op, bound, ..] => match (*op, bound.parse::<f64>()) {
                        (">=", Ok(bound)) => Some(Target {
                            at_least: true,
                            bound,
                        }),
                        ("<=", Ok(bound)) => Some(Target {
                            at_least: false,
                            bound,
                        }),
                        _ => None,
                    },
                    _ => None,
                };
                Some(Self::Ratio {
                    name: (*name).to_string(),
                    value,
                    target,
                })
            }
            ("@@FAIL", what) => Some(Self::Fail(what.join(" "))),
            (t, _) if t.starts_with("@@BENCH") || t.starts_with("@@RATIO") => {
                Some(Self::Fail(format!("unparsable bench line: {line}")))
            }
            _ => None,
        }
    }

    fn raw(&self) -> String {
        match self {
            Self::Figure { name, value, unit } => format!("@@BENCH {name} {value} {unit}"),
            Self::Ratio {
                name,
                value,
                target,
            } => match target {
                Some(t) => format!("@@RATIO {name} {value} {t}"),
                None => format!("@@RATIO {name} {value}"),
            },
            Self::Fail(w) => format!("@@FAIL {w}"),
        }
    }
}

/// Boots the guest and runs `/lanes/scripts/SCRIPT ARGS`, collecting its
/// `@@` lines. Fails only when no line came back; a non-zero exit is kept in
/// [`GuestOut::error`] next to the figures it printed.
fn guest_script(o: &Options, script: &str, args: &str) -> Result<GuestOut> {
    let host_path = util::root().join("xtask/guest/bin").join(script);
    if !host_path.is_file() {
        bail!(
            "{} is missing: the `{script}` guest script has not been written yet \
             (it must print @@BENCH/@@RATIO lines; see xtask/guest/lib/bench.sh)",
            host_path.display()
        );
    }
    let boot = vm::BootArgs {
        cpus: o.cpus,
        mem: o.mem,
        release: true,
        timeout: o.vm_timeout,
        ..Default::default()
    };
    let cmd = format!(
        "echo \"kernel: $(uname -r)\"; echo \"charon: $(/usr/lib/ipsec/charon --version 2>&1 | head -1)\"; \
         [ -x /lanes/scripts/{script} ] || {{ echo '@@FAIL /lanes/scripts/{script} is not in the payload'; exit 2; }}; \
         /lanes/scripts/{script} {args}"
    );
    let (res, host) = HostLoad::around(|| vm::qemu::run_command(&boot, &[cmd]))?;
    let lines: Vec<BenchLine> = res.stdout.lines().filter_map(BenchLine::parse).collect();
    let error = if let Some(why) = &res.lost {
        Some(format!("the guest was lost: {why}"))
    } else if res.code != 0 {
        Some(format!("guest `{script}` exited {}", res.code))
    } else {
        None
    };
    if lines.is_empty() && error.is_some() {
        bail!(
            "{}:\n{}{}",
            error.unwrap_or_default(),
            tail(&res.stdout, 60),
            tail(&res.stderr, 30)
        );
    }
    Ok(GuestOut {
        kernel: guest_kernel(&res.stdout),
        charon: res
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("charon: "))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        lines,
        stdout: res.stdout,
        host,
        error,
    })
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..].iter().map(|l| format!("{l}\n")).collect()
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

fn write_report(run: &report::Run, date: &str, sections: &[Section]) -> Result<std::path::PathBuf> {
    let path = run.dir.join("report.md");
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
    let _ = writeln!(
        md,
        "| section | result | targets met | seconds |\n|---|---|---|---|"
    );
    for s in sections {
        let targets = match s.targets {
            Some((m, t)) if t > 0 => format!("{m} of {t}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {targets} | {:.0} |",
            s.name,
            report::result_cell(s.ok, s.targets),
            s.secs
        );
    }
    for s in sections {
        let _ = writeln!(md, "\n## {}\n\n{}", s.name, s.text);
    }
    std::fs::write(&path, md)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines() {
        assert_eq!(
            BenchLine::parse("@@BENCH rss_lanes_0 5120 KiB"),
            Some(BenchLine::Figure {
                name: "rss_lanes_0".into(),
                value: "5120".into(),
                unit: "KiB".into()
            })
        );
        let r = BenchLine::parse("@@RATIO setup_lanes_over_charon 2.5 >= 2").expect("ratio");
        let BenchLine::Ratio { value, target, .. } = &r else {
            panic!("not a ratio: {r:?}");
        };
        assert!(target.expect("target").met(*value));
        let r = BenchLine::parse("@@RATIO rss 0.7 <= 0.5").expect("ratio");
        let BenchLine::Ratio { value, target, .. } = &r else {
            panic!("not a ratio: {r:?}");
        };
        assert!(!target.expect("target").met(*value));
        assert_eq!(
            BenchLine::parse("@@RATIO x 0.3"),
            Some(BenchLine::Ratio {
                name: "x".into(),
                value: 0.3,
                target: None
            })
        );
        assert!(matches!(
            BenchLine::parse("@@RATIO x fast"),
            Some(BenchLine::Fail(_))
        ));
        assert_eq!(BenchLine::parse("kernel: 7.0"), None);
        assert_eq!(
            BenchLine::parse("@@FAIL rate lanes: timeout"),
            Some(BenchLine::Fail("rate lanes: timeout".into()))
        );
    }

    #[test]
    fn daemon_rate_repetitions_are_judged_on_medians() {
        // As bench-daemon prints them: warm-up, then rounds in either order.
        let out = "@@RAW daemon-rate-psk-n200 lanes 0 0 1 9000 ms\n\
                   @@RAW daemon-rate-psk-n200 charon 0 1 1 9000 ms\n\
                   @@RAW daemon-rate-psk-n200 charon 1 0 0 6000 ms\n\
                   @@RAW daemon-rate-psk-n200 lanes 1 1 0 2000 ms\n\
                   @@RAW daemon-rate-psk-n200 lanes 2 0 0 4000 ms\n\
                   @@RAW daemon-rate-psk-n200 charon 2 1 0 5000 ms\n\
                   @@RAW daemon-rate-psk-n200 lanes 3 0 0 2500 ms\n\
                   @@RAW daemon-rate-psk-n200 charon 3 1 0 6500 ms\n\
                   @@TARGET daemon-rate-psk-n200 ratio charon lanes >= 2\n";
        let ms = raw::parse(out).expect("parse");
        let j = ms[0].judge().expect("judge");
        // Medians without the warm-up: charon 6000, lanes 2500.
        assert!(
            (j[0].value.median - 2.4).abs() < 1e-9,
            "{}",
            j[0].value.median
        );
        assert_eq!(j[0].verdict, crate::stats::Verdict::Met);
    }

    #[test]
    fn counts_targets() {
        let out = GuestOut {
            kernel: String::new(),
            charon: None,
            lines: [
                "@@RATIO a 2.5 >= 2",
                "@@RATIO b 0.7 <= 0.5",
                "@@RATIO c 1",
                "@@BENCH d 1 ms",
            ]
            .iter()
            .filter_map(|l| BenchLine::parse(l))
            .collect(),
            error: None,
            ..GuestOut::default()
        };
        assert_eq!(out.targets(), (1, 2));
        let md = out.markdown();
        assert!(md.contains("| a | 2.500 | >= 2 | yes |"), "{md}");
        assert!(md.contains("| b | 0.700 | <= 0.5 | **no** |"), "{md}");
    }

    #[test]
    fn rss_table_takes_medians_of_kept_rounds() {
        let ms = raw::parse(
            "@@RAW rss-n0 lanes 0 0 1 9000 KiB\n\
             @@RAW rss-n0 lanes 1 0 0 6000 KiB\n\
             @@RAW rss-n0 charon 1 1 0 12000 KiB\n\
             @@RAW rss-n0 lanes 2 1 0 6200 KiB\n\
             @@RAW rss-n0 lanes 3 0 0 6100 KiB\n\
             @@RAW rss-n10 lanes 1 0 0 6300 KiB\n\
             @@RAW rss-slope lanes 1 0 0 10.0 KiB\n",
        )
        .expect("parse");
        let md = rss_table(&ms, &[10]);
        // The warm-up (9000) is left out.
        assert!(md.contains("| 0 | 6100 [6000–6200]"), "{md}");
        assert!(md.contains("| 12000 [12000–12000] |"), "{md}");
        assert!(md.contains("| 10 | 6300 [6300–6300] | - |"), "{md}");
        assert!(md.contains("| 10.0 [10.0–10.0] | - |"), "{md}");
    }
}
