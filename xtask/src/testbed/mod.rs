//! `cargo xtask testbed`: the seed's throughput experiment in one command
//! (issue 10 item 1). One guest boot per vCPU count runs
//! `xtask/guest/bin/testbed`: for each topology (direct; wire = the receive
//! side on one CPU; split = wire with each side on its own N CPUs) and case (unencrypted, one SA, per-CPU SAs, per-CPU SAs
//! with lanes' XDP steering), iperf3 streams pinned one per CPU (TCP, UDP)
//! and netperf TCP_RR, repeated. Writes `bench/results/testbed-<date>/`:
//! `samples.csv` (every repetition), `summary.csv`, `README.md` (tables)
//! and `throughput.svg` (Mbit/s vs vCPUs per case).

mod host;

use crate::demo::Peer;
use crate::util;
use crate::vm::{self, BootArgs};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// vCPU counts, one boot each.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub cpus: Vec<u32>,
    /// Protocols: tcp, udp.
    #[arg(long, value_delimiter = ',', default_value = "tcp,udp")]
    pub proto: Vec<String>,
    /// Seconds per measurement (`10` or `10s`).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// The IKE daemons on gateway A, one pass each (gateway B runs strongSwan).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Peer::Lanes, Peer::Strongswan]
    )]
    pub peer: Vec<Peer>,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Topologies: direct, wire, split (wire with each side on its own N
    /// CPUs: a boot of its own with 2N vCPUs for `--cpus N`).
    #[arg(long, value_delimiter = ',', default_value = "direct,wire")]
    pub topo: Vec<String>,
    /// Cases: plain, one-sa, pcpu, pcpu-steer.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "plain,one-sa,pcpu,pcpu-steer"
    )]
    pub case: Vec<String>,
    /// Skip the netperf TCP_RR latency runs.
    #[arg(long)]
    pub no_rr: bool,
    /// XDP attach mode of the steering case: native or skb.
    #[arg(long, default_value = "native")]
    pub steer_mode: String,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub mem: u32,
    /// Run on this host's namespaces instead of the VM (needs ESP in the host kernel).
    #[arg(long)]
    pub host_netns: bool,
    /// Output folder (default bench/results/testbed-<date>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cpus: vec![1, 2],
            proto: vec!["tcp".into(), "udp".into()],
            duration: "10s".into(),
            peer: vec![Peer::Lanes, Peer::Strongswan],
            reps: 3,
            topo: vec!["direct".into(), "wire".into()],
            case: vec![
                "plain".into(),
                "one-sa".into(),
                "pcpu".into(),
                "pcpu-steer".into(),
            ],
            no_rr: false,
            steer_mode: "native".into(),
            mem: 2048,
            host_netns: false,
            out: None,
        }
    }
}

/// One measurement (one `@@TB` line).
#[derive(Debug, Clone, Default)]
struct Sample {
    cpus: u32,
    topo: String,
    case: String,
    /// gw-a's daemon ("-" for the unencrypted case).
    peer: String,
    proto: String,
    rep: u32,
    /// Mbit/s (tcp/udp) or transactions/s (rr).
    value: f64,
    /// Packets/s received by gw-b (tcp/udp) or mean latency in µs (rr).
    value2: f64,
    cpu_busy: String,
    sa: String,
    /// Packets gw-b's XDP program redirected to another CPU ("" if not reported).
    steered: String,
}

fn kv(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

fn parse(cpus: u32, stdout: &str, notes: &mut Vec<String>, kernel: &mut String) -> Vec<Sample> {
    let mut v = Vec::new();
    for l in stdout.lines() {
        if let Some(rest) = l.strip_prefix("@@TB ") {
            let m = kv(rest);
            let f = |k: &str| m.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
            let proto = m.get("proto").copied().unwrap_or_default().to_string();
            let rr = proto == "rr";
            v.push(Sample {
                cpus,
                topo: m.get("topo").copied().unwrap_or_default().into(),
                case: m.get("case").copied().unwrap_or_default().into(),
                peer: m.get("peer").copied().unwrap_or("-").into(),
                rep: f("rep") as u32,
                value: if rr { f("tps") } else { f("mbps") },
                value2: if rr { f("lat_us") } else { f("pps") },
                cpu_busy: m.get("cpu").copied().unwrap_or_default().into(),
                sa: m.get("sa").copied().unwrap_or_default().into(),
                steered: m.get("steered").copied().unwrap_or_default().into(),
                proto,
            });
        } else if let Some(rest) = l.strip_prefix("@@TB-SKIP ") {
            let m = kv(rest);
            notes.push(format!(
                "{} vCPUs, {} / {} / gw-a {}: skipped ({})",
                cpus,
                m.get("topo").unwrap_or(&"?"),
                m.get("case").unwrap_or(&"?"),
                m.get("peer").unwrap_or(&"-"),
                m.get("reason").unwrap_or(&"?").replace('-', " ")
            ));
        } else if let Some(rest) = l.strip_prefix("@@TB-INFO ")
            && let Some(k) = kv(rest).get("kernel")
        {
            *kernel = (*k).to_string();
        }
    }
    v
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

pub fn run(o: &Options) -> Result<()> {
    let dur = seconds(&o.duration)?;
    for p in &o.proto {
        if p != "tcp" && p != "udp" {
            bail!("--proto {p}: use tcp and/or udp");
        }
    }
    let boots = plan_boots(&o.cpus, &o.topo)?;
    if o.steer_mode != "native" && o.steer_mode != "skb" {
        bail!("--steer-mode {}: use native or skb", o.steer_mode);
    }
    let staged = if o.host_netns {
        host::preflight(boots.iter().map(|b| b.vcpus).max().unwrap_or(1))?;
        Some(host::stage()?)
    } else {
        None
    };
    let date = util::output(Command::new("date").args(["-u", "+%Y-%m-%d-%H%M"]))?;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| util::root().join(format!("bench/results/testbed-{}", date.trim())));
    std::fs::create_dir_all(&out)?;
    let n_meas = |b: &Boot| {
        b.topos.len() as u64
            * o.case.len() as u64
            * (o.proto.len() as u64 + u64::from(!o.no_rr))
            * u64::from(o.reps)
            * o.peer.len().max(1) as u64
    };
    let env: Vec<(String, String)> = [
        (
            "TB_PEER",
            o.peer
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("TB_PROTOS", o.proto.join(" ")),
        ("TB_DURATION", dur.to_string()),
        ("TB_REPS", o.reps.to_string()),
        ("TB_CASES", o.case.join(" ")),
        ("TB_RR", u8::from(!o.no_rr).to_string()),
        ("TB_STEER_MODE", o.steer_mode.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    let mut kernel = String::new();
    let mut timings = Vec::new();
    for b in &boots {
        let t = Instant::now();
        let (cpus, vcpus, n_meas) = (b.n, b.vcpus, n_meas(b));
        let mut env = env.clone();
        env.push(("TB_TOPOS".into(), b.topos.join(" ")));
        eprintln!(
            "testbed: {vcpus} CPUs, {} ({n_meas} measurements of {dur} s)",
            b.topos.join(", ")
        );
        let (code, stdout, logs) = match &staged {
            Some(root) => {
                let (code, stdout) = host::run(root, vcpus, &env)?;
                (code, stdout, "the output above".to_string())
            }
            None => {
                // Guest time: every measurement plus its setup, generously, and boot.
                let est = n_meas * (u64::from(dur) + 10) * (1 + u64::from(vcpus) / 4) + 300;
                let boot = BootArgs {
                    cpus: vcpus,
                    mem: o.mem,
                    timeout: est * 2,
                    release: true,
                    // lanes is needed as a peer and for steering.
                    no_build: !o.peer.contains(&Peer::Lanes)
                        && !o.case.iter().any(|c| c == "pcpu-steer"),
                    ..BootArgs::default()
                };
                let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
                let script = format!("{} exec /lanes/scripts/testbed\n", vars.join(" "));
                let r = vm::qemu::run(&vm::qemu::Plan {
                    boot: &boot,
                    script,
                    stream: true,
                })?;
                (r.code, r.stdout, r.dir.display().to_string())
            }
        };
        if code != 0 {
            notes.push(format!(
                "{vcpus} CPUs: the testbed script exited {code} (logs in {logs})"
            ));
        }
        samples.extend(parse(cpus, &stdout, &mut notes, &mut kernel));
        let secs = t.elapsed().as_secs_f64();
        timings.push((vcpus, b.topos.join(","), secs));
        eprintln!("testbed: {vcpus} CPUs took {secs:.0} s");
    }
    let meta = Meta {
        date: date.trim().to_string(),
        machine: machine(),
        host_kernel: util::output(Command::new("uname").arg("-r"))
            .unwrap_or_default()
            .trim()
            .into(),
        guest_kernel: kernel,
        host_netns: o.host_netns,
        peer: o
            .peer
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        duration: dur,
        reps: o.reps,
        timings,
        notes,
    };
    write_results(&out, &meta, &samples)?;
    eprintln!("testbed: results in {}", out.display());
    Ok(())
}

struct Meta {
    date: String,
    machine: String,
    host_kernel: String,
    guest_kernel: String,
    /// Run in this host's namespaces (`--host-netns`), not in the VM.
    host_netns: bool,
    peer: String,
    duration: u32,
    reps: u32,
    /// (guest vCPUs, topologies, wall seconds) per boot.
    timings: Vec<(u32, String, f64)>,
    notes: Vec<String>,
}

impl Meta {
    /// The CPU axis: N counts CPUs per side in split rows.
    fn cpu_axis(&self) -> &'static str {
        let split = |t: &(u32, String, f64)| t.1 == "split";
        match (
            self.timings.iter().any(split),
            self.timings.iter().all(split),
        ) {
            (false, _) => "vCPUs",
            (true, true) => "CPUs per side",
            (true, false) => "vCPUs (split: per side)",
        }
    }
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

/// Median, min, max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mid = s.len() / 2;
    let med = if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    };
    (med, s[0], s[s.len() - 1])
}

/// (vCPUs, topology, proto, case, gw-a daemon).
type Key = (u32, String, String, String, String);

fn group(samples: &[Sample]) -> BTreeMap<Key, Vec<&Sample>> {
    let mut m: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        m.entry((
            s.cpus,
            s.topo.clone(),
            s.proto.clone(),
            s.case.clone(),
            s.peer.clone(),
        ))
        .or_default()
        .push(s);
    }
    m
}

/// Position of a case in [`CASES`] (unknown ones last).
fn case_order(c: &str) -> usize {
    CASES.iter().position(|x| x.0 == c).unwrap_or(CASES.len())
}

/// Median of one group, if it was measured.
fn median(groups: &BTreeMap<Key, Vec<&Sample>>, k: (u32, &str, &str, &str, &str)) -> Option<f64> {
    let v = groups.get(&(
        k.0,
        k.1.to_string(),
        k.2.to_string(),
        k.3.to_string(),
        k.4.to_string(),
    ))?;
    Some(stats(&v.iter().map(|s| s.value).collect::<Vec<_>>()).0)
}

/// The issue's throughput targets, from the medians of this run: on the
/// wire topology (and split, N = CPUs per side), lanes' per-CPU SAs with
/// steering carry at least 0.9·N× lanes' one SA and at least strongSwan's
/// per-CPU SAs.
fn targets(groups: &BTreeMap<Key, Vec<&Sample>>, cpu_col: &str) -> String {
    let mut t = String::new();
    let mut keys: Vec<(u32, String, String)> = groups
        .keys()
        .filter(|k| (k.1 == "wire" || k.1 == "split") && k.2 != "rr")
        .map(|k| (k.0, k.1.clone(), k.2.clone()))
        .collect();
    keys.dedup();
    for (cpus, topo, proto) in keys {
        let get = |case: &str, peer: &str| median(groups, (cpus, &topo, &proto, case, peer));
        let steer = get("pcpu-steer", "lanes");
        let cell = |num: Option<f64>, den: Option<f64>, want: f64| match (num, den) {
            (Some(a), Some(b)) if b > 0.0 => {
                let r = a / b;
                format!(
                    "{r:.2} (≥ {want:.2}: {})",
                    if r >= want { "met" } else { "missed" }
                )
            }
            _ => "n/a (not measured)".into(),
        };
        let _ = writeln!(
            t,
            "| {cpus} | {topo} | {proto} | {} | {} |",
            cell(steer, get("one-sa", "lanes"), 0.9 * f64::from(cpus)),
            cell(steer, get("pcpu", "strongswan"), 1.0)
        );
    }
    if t.is_empty() {
        return t;
    }
    format!(
        "| {cpu_col} | topology | proto | lanes per-CPU+steering / lanes one SA | lanes per-CPU+steering / strongSwan per-CPU |\n|---|---|---|---|---|\n{t}"
    )
}

const CASES: [(&str, &str); 4] = [
    ("plain", "unencrypted"),
    ("one-sa", "one SA"),
    ("pcpu", "per-CPU SAs"),
    ("pcpu-steer", "per-CPU SAs + steering"),
];

fn case_label(c: &str) -> &str {
    CASES.iter().find(|x| x.0 == c).map(|x| x.1).unwrap_or(c)
}

fn write_results(out: &std::path::Path, meta: &Meta, samples: &[Sample]) -> Result<()> {
    let mut csv = String::from(
        "vcpus,topology,case,gw_a,proto,rep,mbps_or_tps,pps_or_lat_us,cpu_busy_pct,sa_in_packets,steered_packets\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{:.1},{:.1},\"{}\",\"{}\",{}",
            s.cpus,
            s.topo,
            s.case,
            s.peer,
            s.proto,
            s.rep,
            s.value,
            s.value2,
            s.cpu_busy,
            s.sa,
            s.steered
        );
    }
    std::fs::write(out.join("samples.csv"), csv)?;

    let groups = group(samples);
    let mut sum = String::from("vcpus,topology,proto,case,gw_a,median,min,max,median2,unit\n");
    let mut md = String::new();
    let _ = writeln!(md, "# lanes testbed, {}\n", meta.date);
    let _ = writeln!(md, "- machine: {}", meta.machine);
    if meta.host_netns {
        let _ = writeln!(
            md,
            "- kernel: {} (this host's namespaces, no VM; CPUs = the first N host CPUs)",
            meta.host_kernel
        );
    } else {
        let _ = writeln!(
            md,
            "- host kernel: {}; guest kernel: {} (QEMU TCG)",
            meta.host_kernel, meta.guest_kernel
        );
    }
    let vc: Vec<String> = meta.timings.iter().map(|t| t.0.to_string()).collect();
    let _ = writeln!(
        md,
        "- vCPUs: {}; gw-a: {} (one pass each), gw-b: strongswan",
        vc.join(", "),
        meta.peer
    );
    let _ = writeln!(
        md,
        "- {} s per measurement, {} repetitions: median (min-max); iperf3 streams pinned one per {}",
        meta.duration,
        meta.reps,
        match meta.cpu_axis() {
            "vCPUs" => "vCPU",
            "CPUs per side" => "sending CPU, each server on its peer CPU of the receiving side",
            _ => "vCPU (split: per sending CPU, each server on its peer CPU of the receiving side)",
        }
    );
    let tm: Vec<String> = meta
        .timings
        .iter()
        .map(|(c, t, s)| format!("{c} vCPUs ({t}) {s:.0} s"))
        .collect();
    let _ = writeln!(md, "- wall time: {}\n", tm.join(", "));
    let _ = writeln!(
        md,
        "Topologies: `direct` = the receive CPU follows the sender (RSS on the SPI); `wire` = \
         every packet of the tunnel is received on CPU 0 (single-queue RSS); `split` = `wire` \
         with each side on its own N CPUs, as on two machines (client and gw-a on CPUs \
         0..N-1, gw-b receives on CPU N, server on N..2N-1; the guest boots 2N vCPUs and the \
         CPU column counts CPUs per side). pkt/s counts gw-b's wan receive (veth: unencrypted TCP arrives GRO-merged, ESP does \
         not). Absolute numbers under QEMU TCG mean nothing outside this machine: compare \
         cases within one run.\n"
    );
    let _ = writeln!(md, "## Throughput\n");
    let cpu_col = meta.cpu_axis();
    let _ = writeln!(
        md,
        "| {cpu_col} | topology | proto | case | gw-a | Mbit/s | pkt/s (gw-b rx) | CPU busy % (last rep) | gw-b SA in packets by CPU (last rep) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let mut rr = String::new();
    let mut rows: Vec<(&Key, &Vec<&Sample>)> = groups.iter().collect();
    rows.sort_by_key(|(k, _)| (k.0, k.1.clone(), k.2.clone(), case_order(&k.3), k.4.clone()));
    for ((cpus, topo, proto, case, peer), v) in rows {
        let vals: Vec<f64> = v.iter().map(|s| s.value).collect();
        let (med, lo, hi) = stats(&vals);
        let (med2, _, _) = stats(&v.iter().map(|s| s.value2).collect::<Vec<_>>());
        let last = v.last().copied().cloned().unwrap_or_default();
        let unit = if proto == "rr" {
            "tps,lat_us"
        } else {
            "mbps,pps"
        };
        let _ = writeln!(
            sum,
            "{cpus},{topo},{proto},{case},{peer},{med:.1},{lo:.1},{hi:.1},{med2:.1},{unit}"
        );
        if proto == "rr" {
            let _ = writeln!(
                rr,
                "| {cpus} | {topo} | {} | {peer} | {med:.0} ({lo:.0}-{hi:.0}) | {med2:.0} |",
                case_label(case)
            );
        } else {
            let _ = writeln!(
                md,
                "| {cpus} | {topo} | {proto} | {} | {peer} | {med:.1} ({lo:.1}-{hi:.1}) | {med2:.0} | {} | {} |",
                case_label(case),
                last.cpu_busy,
                if last.sa.is_empty() {
                    "-".into()
                } else {
                    last.sa.clone()
                }
            );
        }
    }
    if !rr.is_empty() {
        let _ = writeln!(md, "\n## Latency (netperf TCP_RR, one flow on CPU 0)\n");
        let _ = writeln!(
            md,
            "| {cpu_col} | topology | case | gw-a | transactions/s | mean latency µs |\n|---|---|---|---|---|---|"
        );
        md.push_str(&rr);
    }
    let tg = targets(&groups, cpu_col);
    if !tg.is_empty() {
        let _ = writeln!(
            md,
            "\n## Targets (issue 10, ratios of medians from this run)\n\n{tg}"
        );
    }
    if !meta.notes.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for n in &meta.notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    let _ = writeln!(
        md,
        "\n![throughput vs vCPUs](throughput.svg)\n\nFiles: `samples.csv` (every repetition), `summary.csv`."
    );
    std::fs::write(out.join("summary.csv"), sum)?;
    std::fs::write(out.join("README.md"), md)?;
    std::fs::write(out.join("throughput.svg"), svg(&groups, meta))?;
    Ok(())
}

/// Mbit/s vs vCPUs, one panel per (topology, protocol), one line per case,
/// min-max whiskers.
fn svg(groups: &BTreeMap<Key, Vec<&Sample>>, meta: &Meta) -> String {
    let colors = ["#777777", "#d62728", "#1f77b4", "#2ca02c"];
    let mut panels: Vec<(String, String)> = groups
        .keys()
        .filter(|k| k.2 != "rr")
        .map(|k| (k.1.clone(), k.2.clone()))
        .collect();
    panels.sort();
    panels.dedup();
    let cpus: Vec<u32> = {
        let mut c: Vec<u32> = groups.keys().map(|k| k.0).collect();
        c.sort();
        c.dedup();
        c
    };
    let mut series: Vec<(String, String)> = groups
        .keys()
        .filter(|k| k.2 != "rr")
        .map(|k| (k.3.clone(), k.4.clone()))
        .collect();
    series.sort_by_key(|(c, p)| (case_order(c), p.clone()));
    series.dedup();
    let (pw, ph, m) = (360.0, 260.0, 50.0);
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(2).max(1);
    let w = cols as f64 * (pw + m) + m;
    let h = rows as f64 * (ph + m + 20.0) + 90.0 + 16.0 * series.len().div_ceil(4) as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{m}" y="20" font-size="14">lanes testbed {}: Mbit/s vs vCPUs (median, min-max), kernel {}, gw-a {}</text>"#,
        meta.date, meta.guest_kernel, meta.peer
    );
    for (i, (topo, proto)) in panels.iter().enumerate() {
        let x0 = m + (i % 2) as f64 * (pw + m);
        let y0 = 50.0 + (i / 2) as f64 * (ph + m + 20.0);
        let ymax = groups
            .iter()
            .filter(|(k, _)| &k.1 == topo && &k.2 == proto)
            .flat_map(|(_, v)| v.iter().map(|s| s.value))
            .fold(1.0f64, f64::max)
            * 1.1;
        let xs = |c: u32| {
            let idx = cpus.iter().position(|&x| x == c).unwrap_or(0) as f64;
            x0 + if cpus.len() > 1 {
                idx / (cpus.len() - 1) as f64 * pw
            } else {
                pw / 2.0
            }
        };
        let ys = |v: f64| y0 + ph - v / ymax * ph;
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{}" font-size="12">{topo}, {proto}</text>"#,
            y0 - 6.0
        );
        let _ = writeln!(
            s,
            r#"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
        );
        for t in 0..=4 {
            let v = ymax * f64::from(t) / 4.0;
            let y = ys(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
                x0 + pw,
                x0 - 4.0,
                y + 4.0
            );
        }
        for &c in &cpus {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{c}</text>"#,
                xs(c),
                y0 + ph + 14.0
            );
        }
        for (si, (case, peer)) in series.iter().enumerate() {
            let pts: Vec<(f64, f64, f64, f64)> = cpus
                .iter()
                .filter_map(|&c| {
                    let v = groups.get(&(
                        c,
                        topo.clone(),
                        proto.clone(),
                        case.clone(),
                        peer.clone(),
                    ))?;
                    let (med, lo, hi) = stats(&v.iter().map(|s| s.value).collect::<Vec<_>>());
                    Some((xs(c), ys(med), ys(lo), ys(hi)))
                })
                .collect();
            let col = colors[case_order(case) % colors.len()];
            // strongSwan's passes dashed, lanes' solid.
            let dash = if peer == "strongswan" {
                r#" stroke-dasharray="6,3""#
            } else {
                ""
            };
            if i == 0 {
                let lx = m + (si % 4) as f64 * 200.0;
                let ly = h - 46.0 + (si / 4) as f64 * 16.0;
                let label = if peer == "-" {
                    case_label(case).to_string()
                } else {
                    format!("{} ({peer})", case_label(case))
                };
                let _ = writeln!(
                    s,
                    r#"<line x1="{lx}" y1="{}" x2="{}" y2="{}" stroke="{col}" stroke-width="2"{dash}/><text x="{}" y="{ly}">{label}</text>"#,
                    ly - 4.0,
                    lx + 16.0,
                    ly - 4.0,
                    lx + 20.0
                );
            }
            if pts.is_empty() {
                continue;
            }
            let path: Vec<String> = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", p.0, p.1))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for p in &pts {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{col}"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{col}"/>"#,
                    p.0, p.1, p.0, p.2, p.0, p.3
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="{m}" y="{}" fill="#555">x: {}; y: Mbit/s summed over pinned streams</text>"##,
        h - 8.0,
        if meta.cpu_axis() == "vCPUs" {
            "guest vCPUs"
        } else {
            "guest vCPUs; split: CPUs per side (its guest has 2x)"
        }
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_durations() {
        let mut notes = Vec::new();
        let mut k = String::new();
        let v = parse(
            2,
            "@@TB-INFO kernel=7.2 cpus=2\n@@TB topo=wire case=pcpu proto=tcp rep=1 mbps=12.5 pps=900 cpu=0:50,1:20 sa=0:10,1:5 steered=7\n\
             @@TB topo=wire case=plain proto=rr rep=2 tps=100 lat_us=9000\n@@TB-SKIP topo=wire case=pcpu-steer reason=no-steer\n",
            &mut notes,
            &mut k,
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].value, 12.5);
        assert_eq!(v[0].sa, "0:10,1:5");
        assert_eq!(v[0].steered, "7");
        assert_eq!(v[1].value2, 9000.0);
        assert_eq!(k, "7.2");
        assert_eq!(notes.len(), 1);
        assert_eq!(seconds("10s").ok(), Some(10));
        assert_eq!(seconds("2m").ok(), Some(120));
        assert!(seconds("x").is_err());
        assert_eq!(stats(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(v[0].peer, "-");
    }

    #[test]
    fn targets_are_ratios_of_medians() {
        let mut notes = Vec::new();
        let mut k = String::new();
        let line = |case: &str, peer: &str, rep: u32, mbps: f64| {
            format!("@@TB topo=wire case={case} peer={peer} proto=tcp rep={rep} mbps={mbps}\n")
        };
        let mut out = String::new();
        for (rep, f) in [(1, 1.0), (2, 3.0), (3, 2.0)] {
            out += &line("one-sa", "lanes", rep, 10.0 * f);
            out += &line("pcpu-steer", "lanes", rep, 38.0 * f);
            out += &line("pcpu", "strongswan", rep, 40.0 * f);
        }
        let v = parse(2, &out, &mut notes, &mut k);
        assert_eq!(v.len(), 9);
        let t = targets(&group(&v), "vCPUs");
        // Medians: 20, 76, 80 -> 3.80 vs 1.8 (met), 0.95 vs 1 (missed).
        assert!(
            t.contains("| 2 | wire | tcp | 3.80 (≥ 1.80: met) | 0.95 (≥ 1.00: missed) |"),
            "{t}"
        );
        let svg = svg(&group(&v), &meta(&["wire"]));
        assert!(svg.contains("per-CPU SAs (strongswan)"), "{svg}");
        assert!(svg.contains("stroke-dasharray"));
    }

    /// A report header for boots of these topologies.
    fn meta(boots: &[&str]) -> Meta {
        Meta {
            date: "d".into(),
            machine: "m".into(),
            host_kernel: "h".into(),
            guest_kernel: "g".into(),
            host_netns: false,
            peer: "lanes, strongswan".into(),
            duration: 1,
            reps: 3,
            timings: boots.iter().map(|t| (2, t.to_string(), 1.0)).collect(),
            notes: vec![],
        }
    }

    #[test]
    fn cpu_axis_names_per_side_counts() {
        assert_eq!(meta(&["direct,wire"]).cpu_axis(), "vCPUs");
        assert_eq!(meta(&["split"]).cpu_axis(), "CPUs per side");
        assert_eq!(
            meta(&["direct,wire", "split"]).cpu_axis(),
            "vCPUs (split: per side)"
        );
    }

    #[test]
    fn split_boots_twice_the_cpus_and_its_targets_use_cpus_per_side() {
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
        assert_eq!(t(&[4], &["split"]).unwrap().len(), 1);
        assert!(t(&[1], &["ring"]).is_err());
        assert!(t(&[0], &["wire"]).is_err());
        let (mut notes, mut k) = (Vec::new(), String::new());
        let out = "@@TB topo=split case=one-sa peer=lanes proto=tcp rep=1 mbps=10\n\
                   @@TB topo=split case=pcpu-steer peer=lanes proto=tcp rep=1 mbps=37\n";
        // --cpus 4 with split: 4 CPUs per side, so the bar is 0.9 * 4.
        let g = targets(&group(&parse(4, out, &mut notes, &mut k)), "CPUs per side");
        assert!(g.starts_with("| CPUs per side |"), "{g}");
        assert!(
            g.contains("| 4 | split | tcp | 3.70 (≥ 3.60: met) | n/a"),
            "{g}"
        );
    }
}
