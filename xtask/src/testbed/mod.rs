//! `cargo xtask testbed`: the seed's throughput experiment in one command.
//! One guest boot per CPU count runs `xtask/guest/bin/testbed`: for each
//! topology (direct; wire = the receive side on one CPU; split = wire with
//! each side on its own N CPUs) it runs interleaved rounds, the order of
//! the cases shuffled per round and the first round discarded as warm-up
//! ([`crate::stats`]). Cases: unencrypted, one SA, per-CPU SAs, the
//! controls (an XDP program returning `XDP_PASS`; the steering program
//! redirecting every packet to the CPU it arrived on) and per-CPU SAs with
//! lanes' XDP steering; protocols: iperf3 TCP and UDP overload streams
//! pinned one per CPU, UDP with 64, 256 and 1400-byte payloads at the
//! highest rate within a loss bound (searched), and netperf TCP_RR. Every
//! row carries the drop counters and the per-CPU decryption balance,
//! counted by a kprobe on esp_input in the guest. Writes `bench/results/testbed-<date>/`:
//! `raw/` (the guest's output and one CSV per measurement), `samples.csv`,
//! `summary.csv`, `README.md`, `throughput.svg` and, with split rows at one
//! CPU per side, the per-packet cost model (`model.svg`).

mod host;
mod model;
mod report;
mod sample;

use crate::demo::Peer;
use crate::stats::{self, HostLoad, HostSample, Plan};
use crate::util;
use crate::vm::{self, BootArgs};
use anyhow::{Context, Result, bail};
use sample::Sample;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// CPU counts, one boot each (split: CPUs per side, the boot has 2N).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub cpus: Vec<u32>,
    /// Protocols: tcp, udp (unbounded), udpLEN (LEN-byte payloads at the
    /// highest rate within --loss-bound), e.g. udp64,udp256,udp1400, and
    /// fixedLEN (LEN-byte payloads at --udp-pps: the cost model's low rate).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tcp,udp,udp64,udp256,udp1400,fixed1400"
    )]
    pub proto: Vec<String>,
    /// Seconds per measurement (`10` or `10s`).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// The IKE daemons on gateway A, each an arm of every round (gateway B runs strongSwan).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Peer::Lanes, Peer::Strongswan]
    )]
    pub peer: Vec<Peer>,
    /// Kept rounds (after one warm-up round); six is the fewest whose
    /// distribution-free interval of the median reaches 95 %.
    #[arg(long, default_value_t = 6)]
    pub reps: u32,
    /// Topologies: direct, wire, split (wire with each side on its own N
    /// CPUs: a boot of its own with 2N vCPUs for `--cpus N`).
    #[arg(long, value_delimiter = ',', default_value = "direct,wire")]
    pub topo: Vec<String>,
    /// Cases: plain, one-sa, pcpu, pcpu-xdp-pass, pcpu-cpumap-self, pcpu-steer;
    /// also pcpu-uncounted (pcpu without the decryption counter: its cost).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_CASES)]
    pub case: Vec<String>,
    /// Skip the netperf TCP_RR latency runs.
    #[arg(long)]
    pub no_rr: bool,
    /// Datagrams/s per stream where the bounded UDP search starts (it
    /// doubles from there while the loss stays within --loss-bound).
    #[arg(long, default_value_t = 1000)]
    pub udp_pps: u32,
    /// Loss (%) the bounded UDP search stays within.
    #[arg(long, default_value_t = 1.0)]
    pub loss_bound: f64,
    /// Seconds per trial of the bounded UDP search; the row reports the
    /// best trial within the bound.
    #[arg(long, default_value_t = 3)]
    pub search_secs: u32,
    /// Bisections of the first search of each row (later rounds start from
    /// the rate found and bisect twice).
    #[arg(long, default_value_t = 4)]
    pub search_steps: u32,
    /// Seed of the per-round shuffle (default: from the clock; recorded).
    #[arg(long)]
    pub seed: Option<u64>,
    /// XDP attach mode of the steering case and the controls: native or skb.
    #[arg(long, default_value = "native")]
    pub steer_mode: String,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub mem: u32,
    /// Boot more vCPUs than this host has CPUs (the figures then measure
    /// overcommit, not the datapath).
    #[arg(long)]
    pub overcommit: bool,
    /// Run on this host's namespaces instead of the VM (needs ESP in the host kernel).
    #[arg(long)]
    pub host_netns: bool,
    /// Output folder (default bench/results/testbed-<date>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the report again from the raw guest output kept in this folder
    /// (no VM), e.g. after a change to the report or the model.
    #[arg(long)]
    pub reanalyse: Option<PathBuf>,
}

const DEFAULT_CASES: &str = "plain,one-sa,pcpu,pcpu-xdp-pass,pcpu-cpumap-self,pcpu-steer";

impl Default for Options {
    fn default() -> Self {
        Self {
            cpus: vec![1, 2],
            proto: ["tcp", "udp", "udp64", "udp256", "udp1400", "fixed1400"]
                .map(String::from)
                .to_vec(),
            duration: "10s".into(),
            peer: vec![Peer::Lanes, Peer::Strongswan],
            reps: 5,
            topo: vec!["direct".into(), "wire".into()],
            case: DEFAULT_CASES.split(',').map(String::from).collect(),
            no_rr: false,
            udp_pps: 1000,
            loss_bound: 1.0,
            search_secs: 3,
            search_steps: 4,
            seed: None,
            steer_mode: "native".into(),
            mem: 2048,
            overcommit: false,
            host_netns: false,
            out: None,
            reanalyse: None,
        }
    }
}

/// Splits the guest's output into samples, skip notes and the kernel.
fn parse(b: &Boot, stdout: &str, notes: &mut Vec<String>, kernel: &mut String) -> Vec<Sample> {
    let mut v = Vec::new();
    for l in stdout.lines() {
        if let Some(rest) = l.strip_prefix("@@TB ") {
            v.push(Sample::parse(b.n, b.vcpus, rest));
        } else if let Some(rest) = l.strip_prefix("@@TB-SKIP ") {
            let m: BTreeMap<&str, &str> = rest
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .collect();
            notes.push(format!(
                "{} vCPUs, {} / {} / gw-a {}, round {}: missed ({})",
                b.vcpus,
                m.get("topo").unwrap_or(&"?"),
                m.get("case").unwrap_or(&"?"),
                m.get("peer").unwrap_or(&"-"),
                m.get("rep").unwrap_or(&"all"),
                m.get("reason").unwrap_or(&"?").replace('-', " ")
            ));
        } else if let Some(rest) = l.strip_prefix("@@TB-INFO ") {
            *kernel = guest_info(rest);
        }
    }
    v
}

/// The guest kernel and what runs it, from `@@TB-INFO kernel=K accel=A
/// host_cpus=C` (runs before the accelerator was recorded were QEMU TCG).
fn guest_info(rest: &str) -> String {
    let m: BTreeMap<&str, &str> = rest
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect();
    let kernel = m.get("kernel").unwrap_or(&"?");
    let host = m
        .get("host_cpus")
        .map(|c| format!(" on {c} host CPUs"))
        .unwrap_or_default();
    match m.get("accel").copied() {
        Some("kvm") => format!("{kernel} (QEMU KVM{host})"),
        Some("tcg") | None => format!("{kernel} (QEMU TCG{host})"),
        Some(a) => format!("{kernel} (QEMU, accelerator {a})"),
    }
}

/// One guest boot (or host run): `n` CPUs (per side for split), `vcpus` booted.
#[derive(Debug, PartialEq)]
struct Boot {
    n: u32,
    vcpus: u32,
    topos: Vec<String>,
}

/// The boots for `--cpus` and `--topo`: per CPU count, one for direct and
/// wire with N vCPUs, and one for split with 2N.
fn plan_boots(cpus: &[u32], topos: &[String]) -> Result<Vec<Boot>> {
    for t in topos {
        if !matches!(t.as_str(), "direct" | "wire" | "split") {
            bail!("--topo {t}: use direct, wire and/or split");
        }
    }
    let (split, shared): (Vec<String>, Vec<String>) =
        topos.iter().cloned().partition(|t| t == "split");
    let mut boots = Vec::new();
    for &n in cpus {
        if n == 0 {
            bail!("--cpus 0: use at least 1");
        }
        if !shared.is_empty() {
            boots.push(Boot {
                n,
                vcpus: n,
                topos: shared.clone(),
            });
        }
        if !split.is_empty() {
            boots.push(Boot {
                n,
                vcpus: 2 * n,
                topos: split.clone(),
            });
        }
    }
    Ok(boots)
}

/// Refuses boots with more vCPUs than `host` CPUs unless `overcommit`.
fn check_cores(boots: &[Boot], host: usize, overcommit: bool) -> Result<()> {
    let Some(b) = boots.iter().max_by_key(|b| b.vcpus) else {
        return Ok(());
    };
    if b.vcpus as usize > host && !overcommit {
        bail!(
            "--cpus {} with --topo {} boots {} vCPUs but this host has {host} CPUs: the figures \
             would measure CPU overcommit, not the datapath. Run it on a machine with at least {} \
             free cores, drop the larger counts, or pass --overcommit to measure anyway",
            b.n,
            b.topos.join(","),
            b.vcpus,
            b.vcpus
        );
    }
    Ok(())
}

/// Which tunnel a case runs on (cases on one tunnel share a bring-up).
fn tunnel_of(case: &str) -> Result<&'static str> {
    Ok(match case {
        "plain" => "none",
        "one-sa" => "one",
        "pcpu" | "pcpu-xdp-pass" | "pcpu-cpumap-self" | "pcpu-steer" | "pcpu-uncounted" => "pcpu",
        _ => bail!(
            "--case {case}: use plain, one-sa, pcpu, pcpu-xdp-pass, pcpu-cpumap-self, pcpu-steer \
             or pcpu-uncounted"
        ),
    })
}

/// The guest's `TB_SCHEDULE`: per round of `plan`, "R:case@peer,..." with
/// the tunnels in a shuffled order and the cases on each tunnel shuffled
/// too (so a round brings each tunnel up once). `plain` runs once per
/// round, with no daemon.
fn schedule(plan: &Plan, cases: &[String], peers: &[Peer]) -> Result<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for p in peers {
        for c in cases {
            let t = tunnel_of(c)?;
            let peer = if t == "none" { "-" } else { p.name() };
            let key = format!("{t}@{peer}");
            let arm = format!("{c}@{peer}");
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) if !g.1.contains(&arm) => g.1.push(arm),
                Some(_) => {}
                None => groups.push((key, vec![arm])),
            }
        }
    }
    let outer = plan.rounds(groups.len());
    let inner: Vec<Vec<stats::Round>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let p = Plan {
                seed: plan.seed.wrapping_add(i as u64 + 1),
                ..*plan
            };
            p.rounds(g.1.len())
        })
        .collect();
    let mut rounds = Vec::new();
    for r in &outer {
        let mut arms: Vec<&str> = Vec::new();
        for &g in &r.order {
            arms.extend(
                inner[g][r.index]
                    .order
                    .iter()
                    .map(|&a| groups[g].1[a].as_str()),
            );
        }
        rounds.push(format!("{}:{}", r.index, arms.join(",")));
    }
    Ok(rounds.join(" "))
}

fn seconds(s: &str) -> Result<u32> {
    let t = s.trim();
    let (num, mult) = if let Some(m) = t.strip_suffix("ms") {
        (m, 0)
    } else if let Some(m) = t.strip_suffix('m') {
        (m, 60)
    } else {
        (t.strip_suffix('s').unwrap_or(t), 1)
    };
    let n: u32 = num
        .parse()
        .with_context(|| format!("--duration {s}: expected seconds like 10 or 10s"))?;
    if mult == 0 || n * mult == 0 {
        bail!("--duration {s}: use at least 1 s");
    }
    Ok(n * mult)
}

fn check_protos(protos: &[String]) -> Result<()> {
    for p in protos {
        let ok = p == "tcp"
            || p == "udp"
            || p.strip_prefix("udp")
                .or_else(|| p.strip_prefix("fixed"))
                .and_then(|l| l.parse::<u32>().ok())
                .is_some_and(|l| (16..=8000).contains(&l));
        if !ok {
            bail!(
                "--proto {p}: use tcp, udp, udpLEN or fixedLEN with a payload of 16..8000 bytes \
                 (udp64)"
            );
        }
    }
    Ok(())
}

/// The environment of the guest script.
fn guest_env(o: &Options, dur: u32, sched: &str) -> Vec<(String, String)> {
    let mut protos = o.proto.join(" ");
    if !o.no_rr {
        protos.push_str(" rr");
    }
    [
        ("TB_SCHEDULE", sched.to_string()),
        ("TB_PROTOS", protos),
        ("TB_DURATION", dur.to_string()),
        ("TB_UDP_PPS", o.udp_pps.to_string()),
        ("TB_LOSS_PCT", o.loss_bound.to_string()),
        ("TB_SEARCH_DURATION", o.search_secs.to_string()),
        ("TB_SEARCH_STEPS", o.search_steps.to_string()),
        ("TB_REACH_PCT", report::REACH_PCT.to_string()),
        ("TB_XDP_REPS", o.reps.max(1).to_string()),
        ("TB_STEER_MODE", o.steer_mode.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn run(o: &Options) -> Result<()> {
    if let Some(dir) = &o.reanalyse {
        return reanalyse(dir, o);
    }
    let dur = seconds(&o.duration)?;
    check_protos(&o.proto)?;
    let boots = plan_boots(&o.cpus, &o.topo)?;
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_cores(&boots, host_cpus, o.overcommit)?;
    if o.steer_mode != "native" && o.steer_mode != "skb" {
        bail!("--steer-mode {}: use native or skb", o.steer_mode);
    }
    if o.reps == 0 {
        bail!("--reps 0: use at least 1 (5 for a 95 % interval of the median)");
    }
    let mut plan = Plan::new(o.reps as usize);
    if let Some(s) = o.seed {
        plan.seed = s;
    }
    let sched = schedule(&plan, &o.case, &o.peer)?;
    let staged = if o.host_netns {
        host::preflight(boots.iter().map(|b| b.vcpus).max().unwrap_or(1))?;
        Some(host::stage()?)
    } else {
        if o.case.iter().any(|c| c.starts_with("pcpu-")) {
            // The payload's lanes embeds the XDP object the XDP cases attach.
            crate::build::build_ebpf().context("building the XDP object for the XDP cases")?;
        }
        None
    };
    let date = util::output(Command::new("date").args(["-u", "+%Y-%m-%d-%H%M"]))?;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| util::root().join(format!("bench/results/testbed-{}", date.trim())));
    std::fs::create_dir_all(out.join("raw"))?;
    let env = guest_env(o, dur, &sched);
    let slots = sched.split([',', ' ']).count() as u64;
    let per_slot = (o.proto.len() as u64 + u64::from(!o.no_rr)) * u64::from(dur + 6);
    let mut runs = Vec::new();
    for b in &boots {
        let t = Instant::now();
        eprintln!(
            "testbed: {} vCPUs, {} ({slots} slots per topology)",
            b.vcpus,
            b.topos.join(", ")
        );
        let est =
            b.topos.len() as u64 * slots * (per_slot + 10) * (1 + u64::from(b.vcpus) / 4) + 300;
        let ((code, stdout, logs), host) =
            HostLoad::around(|| boot_once(o, b, &env, staged.as_deref(), est))?;
        let secs = t.elapsed().as_secs_f64();
        let raw = format!(
            "# n={} vcpus={} topos={} code={code} dur={dur} reps={} seed={} secs={secs:.0} \
             load1={:.2},{:.2} steal_pct={:.2} host_kernel={} logs={logs}\n{stdout}",
            b.n,
            b.vcpus,
            b.topos.join(","),
            o.reps,
            plan.seed,
            host.before.load[0],
            host.after.load[0],
            host.steal_pct(),
            util::output(Command::new("uname").arg("-r"))
                .unwrap_or_default()
                .trim()
        );
        std::fs::write(out.join("raw").join(raw_name(b)), raw)?;
        eprintln!("testbed: {} vCPUs took {secs:.0} s", b.vcpus);
        runs.push(Run {
            boot: Boot {
                n: b.n,
                vcpus: b.vcpus,
                topos: b.topos.clone(),
            },
            code,
            stdout,
            logs,
            secs,
            host,
        });
    }
    let meta = meta(o, dur, &plan, date.trim());
    report::write(&out, meta, &runs, &plan, o.loss_bound)?;
    eprintln!("testbed: results in {}", out.display());
    Ok(())
}

/// `raw/guest-<vcpus>vcpu-<topos>.txt`.
fn raw_name(b: &Boot) -> String {
    format!("guest-{}vcpu-{}.txt", b.vcpus, b.topos.join("+"))
}

/// One boot's outcome.
struct Run {
    boot: Boot,
    code: i32,
    stdout: String,
    logs: String,
    secs: f64,
    host: HostLoad,
}

/// Runs the guest script once for `b`; returns its exit code, stdout and
/// where its logs are.
fn boot_once(
    o: &Options,
    b: &Boot,
    env: &[(String, String)],
    staged: Option<&Path>,
    est: u64,
) -> Result<(i32, String, String)> {
    let mut env = env.to_vec();
    env.push(("TB_TOPOS".into(), b.topos.join(" ")));
    if let Some(root) = staged {
        let (code, stdout) = host::run(root, b.vcpus, &env)?;
        return Ok((code, stdout, "the output above".into()));
    }
    let boot = BootArgs {
        cpus: b.vcpus,
        mem: o.mem,
        timeout: est * 2,
        release: true,
        // lanes is needed as a peer and for the XDP cases.
        no_build: !o.peer.contains(&Peer::Lanes) && !o.case.iter().any(|c| c.starts_with("pcpu-")),
        ..BootArgs::default()
    };
    let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
    let script = format!("{} exec /lanes/scripts/testbed\n", vars.join(" "));
    let r = vm::qemu::run(&vm::qemu::Plan {
        boot: &boot,
        script,
        stream: true,
    })?;
    Ok((r.code, r.stdout, r.dir.display().to_string()))
}

/// Reads the raw guest output kept under `dir/raw` and writes the report
/// to `dir` again.
fn reanalyse(dir: &Path, o: &Options) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("raw"))
        .with_context(|| format!("--reanalyse {}: no raw/ folder there", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("guest-"))
        })
        .collect();
    files.sort();
    let (mut runs, mut head) = (Vec::new(), BTreeMap::new());
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        let (first, stdout) = text.split_once('\n').unwrap_or((&text, ""));
        head = first
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let num = |k: &str| head.get(k).and_then(|v| v.parse::<u32>().ok());
        let (Some(n), Some(vcpus)) = (num("n"), num("vcpus")) else {
            bail!("{}: first line lacks `# n=.. vcpus=..`", f.display());
        };
        let (secs, host) = recorded_host(dir, &head);
        let topos = head.get("topos").cloned().unwrap_or_default();
        runs.push(Run {
            boot: Boot {
                n,
                vcpus,
                topos: topos.split(',').map(String::from).collect(),
            },
            code: head.get("code").and_then(|c| c.parse().ok()).unwrap_or(0),
            stdout: stdout.to_string(),
            logs: head.get("logs").cloned().unwrap_or_default(),
            secs,
            host,
        });
    }
    if runs.is_empty() {
        bail!(
            "--reanalyse {}: no raw/guest-*.txt files there",
            dir.display()
        );
    }
    let get = |k: &str| head.get(k).and_then(|v| v.parse::<u64>().ok());
    let reps = get("reps").map_or(o.reps, |r| r as u32);
    let mut plan = Plan::new(reps as usize);
    plan.seed = get("seed").unwrap_or(0);
    let dur = get("dur").map_or(seconds(&o.duration)?, |d| d as u32);
    let o = Options {
        reps,
        peer: o.peer.clone(),
        loss_bound: o.loss_bound,
        udp_pps: o.udp_pps,
        ..Options::default()
    };
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut meta = meta(&o, dur, &plan, name.trim_start_matches("testbed-"));
    if let Some(k) = head.get("host_kernel") {
        meta.host_kernel.clone_from(k);
    }
    report::write(dir, meta, &runs, &plan, o.loss_bound)
}

/// The boot's seconds and host load as its raw header recorded them; a
/// header from before they were recorded falls back to the load columns of
/// the first `raw/*.csv` (and 0 s).
fn recorded_host(dir: &Path, head: &BTreeMap<String, String>) -> (f64, HostLoad) {
    let f = |k: &str| head.get(k).and_then(|v| v.parse::<f64>().ok());
    let mut load = head.get("load1").and_then(|v| {
        let (a, b) = v.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?, f("steal_pct")?))
    });
    if load.is_none() {
        load = std::fs::read_dir(dir.join("raw"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .find_map(|p| {
                let text = std::fs::read_to_string(p).ok()?;
                let mut lines = text.lines();
                let cols: Vec<&str> = lines.next()?.split(',').collect();
                let row: Vec<&str> = lines.next()?.split(',').collect();
                let col = |k: &str| row.get(cols.iter().position(|c| *c == k)?)?.parse().ok();
                Some((col("load1_before")?, col("load1_after")?, col("steal_pct")?))
            });
    }
    let (before, after, steal) = load.unwrap_or((0.0, 0.0, 0.0));
    // Steal as parts per 10,000 of a synthetic total reproduces the percentage.
    let sample = |l: f64, steal: u64, total: u64| HostSample {
        load: [l, 0.0, 0.0],
        steal,
        total,
    };
    let host = HostLoad {
        before: sample(before, 0, 0),
        after: sample(after, (steal * 100.0).round() as u64, 10_000),
    };
    (f("secs").unwrap_or(0.0), host)
}

fn meta(o: &Options, dur: u32, plan: &Plan, date: &str) -> Meta {
    Meta {
        date: date.to_string(),
        machine: machine(),
        host_kernel: util::output(Command::new("uname").arg("-r"))
            .unwrap_or_default()
            .trim()
            .into(),
        host_netns: o.host_netns,
        peer: o
            .peer
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        duration: dur,
        reps: o.reps,
        seed: plan.seed,
        udp_pps: o.udp_pps,
        loss_bound: o.loss_bound,
        search_secs: o.search_secs,
    }
}

/// What the report says about the run as a whole.
struct Meta {
    date: String,
    machine: String,
    host_kernel: String,
    /// Run in this host's namespaces (`--host-netns`), not in the VM.
    host_netns: bool,
    peer: String,
    duration: u32,
    reps: u32,
    seed: u64,
    udp_pps: u32,
    loss_bound: f64,
    search_secs: u32,
}

/// CPU model and count of this host.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|x| x.1.trim())
        })
        .unwrap_or("unknown CPU");
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{model}, {n} host CPUs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_info_names_the_accelerator() {
        assert_eq!(
            guest_info("kernel=7.1 cpus=2 accel=kvm host_cpus=32"),
            "7.1 (QEMU KVM on 32 host CPUs)"
        );
        assert_eq!(
            guest_info("kernel=7.1 cpus=2 accel=tcg host_cpus=2"),
            "7.1 (QEMU TCG on 2 host CPUs)"
        );
        // Runs from before the accelerator was recorded ran under TCG.
        assert_eq!(guest_info("kernel=6.14 cpus=2"), "6.14 (QEMU TCG)");
        assert_eq!(
            guest_info("kernel=7.1 accel=unknown"),
            "7.1 (QEMU, accelerator unknown)"
        );
    }

    #[test]
    fn parses_lines_and_durations() {
        let (mut notes, mut k) = (Vec::new(), String::new());
        let b = Boot {
            n: 1,
            vcpus: 2,
            topos: vec!["split".into()],
        };
        let v = parse(
            &b,
            "@@TB-INFO kernel=7.2 cpus=2\n@@TB topo=split case=pcpu proto=tcp rep=1 mbps=12.5 rx=900\n\
             @@TB-SKIP topo=split case=pcpu-steer peer=lanes rep=3 reason=no-steer\n",
            &mut notes,
            &mut k,
        );
        assert_eq!(
            (v.len(), v[0].value, v[0].cpus, v[0].vcpus),
            (1, 12.5, 1, 2)
        );
        assert_eq!(k, "7.2 (QEMU TCG)");
        assert_eq!(
            notes,
            ["2 vCPUs, split / pcpu-steer / gw-a lanes, round 3: missed (no steer)"]
        );
        assert_eq!(seconds("10s").ok(), Some(10));
        assert_eq!(seconds("2m").ok(), Some(120));
        assert!(seconds("x").is_err());
        assert!(check_protos(&["udp64".into(), "tcp".into(), "fixed1400".into()]).is_ok());
        assert!(check_protos(&["fixed8".into()]).is_err());
        let e = check_protos(&["udp8".into()]).unwrap_err().to_string();
        assert!(e.contains("udpLEN"), "{e}");
    }

    #[test]
    fn schedule_interleaves_every_arm_once_per_round() {
        let plan = Plan {
            reps: 5,
            warmup: 1,
            seed: 7,
        };
        let cases: Vec<String> = DEFAULT_CASES.split(',').map(String::from).collect();
        let s = schedule(&plan, &cases, &[Peer::Lanes, Peer::Strongswan]).unwrap();
        let rounds: Vec<&str> = s.split(' ').collect();
        assert_eq!(rounds.len(), 6);
        assert!(rounds[0].starts_with("0:"));
        let mut orders = Vec::new();
        for r in &rounds {
            let arms: Vec<&str> = r.split_once(':').unwrap().1.split(',').collect();
            // plain once, 5 lanes arms, 5 strongswan arms.
            assert_eq!(arms.len(), 11, "{r}");
            assert_eq!(arms.iter().filter(|a| **a == "plain@-").count(), 1);
            // The per-CPU cases of one daemon run back to back (one tunnel).
            let pos: Vec<usize> = arms
                .iter()
                .enumerate()
                .filter(|(_, a)| a.starts_with("pcpu") && a.ends_with("@lanes"))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(pos.len(), 4);
            assert_eq!(pos[3] - pos[0], 3, "{r}");
            orders.push(arms.join(","));
        }
        orders.dedup();
        assert!(orders.len() > 1, "the order never changed: {s}");
        assert!(schedule(&plan, &["ring".into()], &[Peer::Lanes]).is_err());
    }

    #[test]
    fn split_boots_twice_the_cpus_and_refuses_missing_cores() {
        let t = |c: &[u32], v: &[&str]| {
            plan_boots(c, &v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let b = t(&[1, 2], &["direct", "split", "wire"]).unwrap();
        let got: Vec<(u32, u32, String)> = b
            .iter()
            .map(|b| (b.n, b.vcpus, b.topos.join(",")))
            .collect();
        assert_eq!(
            got,
            [
                (1, 1, "direct,wire".into()),
                (1, 2, "split".into()),
                (2, 2, "direct,wire".into()),
                (2, 4, "split".into())
            ]
        );
        assert!(t(&[1], &["ring"]).is_err());
        assert!(t(&[0], &["wire"]).is_err());
        let big = t(&[1, 2, 4, 8], &["split"]).unwrap();
        let e = check_cores(&big, 2, false).unwrap_err().to_string();
        assert!(e.contains("boots 16 vCPUs but this host has 2 CPUs"), "{e}");
        assert!(e.contains("at least 16 free cores"), "{e}");
        assert!(check_cores(&big, 16, false).is_ok());
        assert!(check_cores(&big, 2, true).is_ok());
    }
}
