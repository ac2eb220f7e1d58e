//! The testbed's report: `samples.csv`, `summary.csv`, `raw/*.csv`,
//! `README.md`, `throughput.svg` and the cost model.

use super::sample::{Sample, spin_busy};
use super::{Meta, Run, model, parse};
use crate::bench::chart::{self, LegendEntry};
use crate::stats::{self, Plan, RawWriter, Summary, Target, Verdict};
use anyhow::Result;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Share (%) of the offered datagrams the senders must reach for a trial of
/// the bounded search to count (guest `within_bound`, TB_REACH_PCT).
pub(super) const REACH_PCT: u32 = 90;

/// Cases in report order, with their labels.
const CASES: [(&str, &str); 7] = [
    ("plain", "unencrypted"),
    ("one-sa", "one SA"),
    ("pcpu", "per-CPU SAs"),
    (
        "pcpu-uncounted",
        "per-CPU SAs, decryptions not counted (control)",
    ),
    ("pcpu-xdp-pass", "per-CPU SAs + XDP_PASS (control)"),
    (
        "pcpu-cpumap-self",
        "per-CPU SAs + cpumap to own CPU (control)",
    ),
    ("pcpu-steer", "per-CPU SAs + steering"),
];

fn case_order(c: &str) -> usize {
    CASES.iter().position(|x| x.0 == c).unwrap_or(CASES.len())
}

fn case_label(c: &str) -> &str {
    CASES.iter().find(|x| x.0 == c).map_or(c, |x| x.1)
}

/// (CPUs, topology, proto, case, gw-a daemon).
type Key = (u32, String, String, String, String);

fn key(s: &Sample) -> Key {
    (
        s.cpus,
        s.topo.clone(),
        s.proto.clone(),
        s.case.clone(),
        s.peer.clone(),
    )
}

/// Kept samples by key, rows in report order.
fn group<'a>(kept: &[&'a Sample]) -> Vec<(Key, Vec<&'a Sample>)> {
    let mut m: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for s in kept {
        m.entry(key(s)).or_default().push(s);
    }
    let mut v: Vec<(Key, Vec<&Sample>)> = m.into_iter().collect();
    v.sort_by_key(|(k, _)| (k.0, k.1.clone(), k.2.clone(), case_order(&k.3), k.4.clone()));
    v
}

fn summary<'a>(v: &[&'a Sample], f: impl Fn(&'a Sample) -> Option<f64>) -> Option<Summary> {
    let x: Vec<f64> = v.iter().filter_map(|s| f(s)).collect();
    Summary::of(&x).ok()
}

fn med<'a>(v: &[&'a Sample], f: impl Fn(&'a Sample) -> Option<f64>) -> String {
    summary(v, f).map_or_else(|| "-".into(), |s| stats::sig(s.median))
}

/// Drop counters summed over the kept rounds ("none" if none moved).
fn drops(v: &[&Sample]) -> String {
    let d: Vec<String> = v
        .iter()
        .filter(|s| !s.drops().is_empty())
        .map(|s| format!("r{}: {}", s.rep, s.drops()))
        .collect();
    if d.is_empty() {
        "none".into()
    } else {
        d.join("; ")
    }
}

/// Writes everything for `runs` to `out`.
pub(super) fn write(out: &Path, meta: Meta, runs: &[Run], plan: &Plan, bound: f64) -> Result<()> {
    let (mut notes, mut kernel, mut all) = (Vec::new(), String::new(), Vec::new());
    for r in runs {
        if r.code != 0 {
            notes.push(format!(
                "{} vCPUs: the testbed script exited {} (logs in {})",
                r.boot.vcpus, r.code, r.logs
            ));
        }
        all.extend(parse(&r.boot, &r.stdout, &mut notes, &mut kernel));
    }
    let kept: Vec<&Sample> = all.iter().filter(|s| !s.warmup()).collect();
    let groups = group(&kept);
    write_samples(out, &all)?;
    write_raw(out, &all, runs, plan)?;
    std::fs::write(out.join("summary.csv"), summary_csv(&groups))?;
    let mut md = header(&meta, runs, &kernel, &all);
    md += &tables(&groups, bound);
    md += &controls(&groups);
    md += &targets(&groups);
    // The live-frames hop and the calibration of the model's boot (split,
    // one CPU per side).
    let (mut live, mut spin) = (None, None);
    for r in runs
        .iter()
        .filter(|r| r.boot.n == 1 && r.boot.topos.iter().any(|t| t == "split"))
    {
        spin = spin_busy(&r.stdout).map(|s| s.0).or(spin);
        match crate::bench::raw::parse(&r.stdout) {
            Ok(ms) => live = model::Live::from_raw(&ms).or(live),
            Err(e) => notes.push(format!("the live-frames hop: {e:#}")),
        }
    }
    match model::costs(&kept, live) {
        Ok(c) => {
            md += "\n## Per-packet cost model of the receive side\n\n";
            md += &model::section(&kept, &c, spin);
            model::chart(
                &out.join("model.svg"),
                &kept,
                &c,
                &format!(
                    "lanes receive-side model vs measured, testbed {}",
                    meta.date
                ),
            )?;
            md += "\n![model](model.svg)\n";
        }
        Err(why) => notes.push(format!(
            "no cost model: {why}; it needs `--topo split --cpus 1` with the cases plain, one-sa, \
             pcpu, pcpu-xdp-pass and pcpu-steer, each at --proto udp and fixed1400"
        )),
    }
    if !notes.is_empty() {
        md += "\n## Notes (missed measurements are listed here, never counted)\n\n";
        for n in &notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    match throughput_chart(&out.join("throughput.svg"), &groups, &meta) {
        Ok(()) => md += "\n![throughput](throughput.svg) (PNG: throughput.png)\n",
        Err(e) => md += &format!("\nthroughput.svg not drawn: {e:#}\n"),
    }
    md += "\nFiles: `raw/guest-*.txt` (the guest's output, every \
           counter of every round, warm-up included), `raw/*.csv` (one per measurement, \
           warm-up marked, host load), `samples.csv`, `summary.csv`.\n";
    std::fs::write(out.join("README.md"), md)?;
    Ok(())
}

fn write_samples(out: &Path, all: &[Sample]) -> Result<()> {
    let mut csv = String::from(
        "cpus,vcpus,topology,case,gw_a,proto,round,warmup,value,unit,rx_packets,rx_us_per_packet,balance_max_over_mean,loss_pct,p50_us,p99_us,udp_rcvbuf,softnet_drop,softnet_squeeze,xfrm_stat,sa_in_by_pcpu,xdp_steered,balance_source,decrypts_by_cpu,offered_pps,trials\n",
    );
    let o = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.2}"));
    for s in all {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},\"{}\",\"{}\",{},{},\"{}\",{},\"{}\"",
            s.cpus,
            s.vcpus,
            s.topo,
            s.case,
            s.peer,
            s.proto,
            s.rep,
            s.warmup(),
            s.value,
            if s.proto == "rr" { "tps" } else { "mbps" },
            s.rx,
            o(s.us_per_packet(s.rx_side())),
            o(s.balance()),
            o(s.loss_pct()),
            o(s.p50_us),
            o(s.p99_us),
            s.udp_rcvbuf,
            s.softnet_drop,
            s.squeeze,
            s.xfrm_err,
            s.sa,
            s.steered,
            if s.balance_counted() {
                "counted"
            } else {
                "inferred"
            },
            s.decrypted_by_cpu()
                .map(|m| m
                    .iter()
                    .map(|(c, n)| format!("{c}:{n}"))
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            o(s.offered_pps),
            s.trials
        );
    }
    std::fs::write(out.join("samples.csv"), csv)?;
    Ok(())
}

/// One `raw/<measurement>.csv` per key, through the shared raw writer.
fn write_raw(out: &Path, all: &[Sample], runs: &[Run], plan: &Plan) -> Result<()> {
    let w = RawWriter::new(out)?;
    let mut by: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for s in all {
        by.entry(key(s)).or_default().push(s);
    }
    for ((n, topo, proto, case, peer), v) in by {
        let Some(run) = runs
            .iter()
            .find(|r| r.boot.n == n && r.boot.topos.contains(&topo))
        else {
            continue;
        };
        let samples: Vec<stats::Sample> = v
            .iter()
            .map(|s| stats::Sample {
                arm: format!("{case}@{peer}"),
                round: s.rep as usize,
                slot: 0,
                warmup: s.warmup(),
                value: s.value,
            })
            .collect();
        let unit = if proto == "rr" { "tps" } else { "mbps" };
        let name = format!("{topo}-n{n}-{proto}-{case}-{}", peer.replace('-', "none"));
        w.write(&name, unit, plan, &run.host, &samples)?;
    }
    Ok(())
}

fn summary_csv(groups: &[(Key, Vec<&Sample>)]) -> String {
    let mut s = String::from(
        "cpus,topology,proto,case,gw_a,n,median,min,max,ci95_lo,ci95_hi,unit,balance_median,rx_us_per_packet_median\n",
    );
    for ((n, topo, proto, case, peer), v) in groups {
        let Some(m) = summary(v, |s| Some(s.value)) else {
            continue;
        };
        let (lo, hi) = m.ci.map_or((String::new(), String::new()), |c| {
            (format!("{:.3}", c.lo), format!("{:.3}", c.hi))
        });
        let unit = if proto == "rr" { "tps" } else { "mbps" };
        let _ = writeln!(
            s,
            "{n},{topo},{proto},{case},{peer},{},{:.3},{:.3},{:.3},{lo},{hi},{unit},{},{}",
            m.n,
            m.median,
            m.min,
            m.max,
            med(v, Sample::balance),
            med(v, |s| s.us_per_packet(s.rx_side()))
        );
    }
    s
}

fn header(meta: &Meta, runs: &[Run], kernel: &str, all: &[Sample]) -> String {
    let mut md = format!("# lanes testbed, {}\n\n", meta.date);
    let _ = writeln!(md, "- machine: {}", meta.machine);
    let where_ = if meta.host_netns {
        format!(
            "kernel {} (this host's namespaces, no VM)",
            meta.host_kernel
        )
    } else {
        format!("host kernel {}; guest kernel {kernel}", meta.host_kernel)
    };
    let _ = writeln!(md, "- {where_}; gw-a: {}; gw-b: strongSwan", meta.peer);
    let _ = writeln!(
        md,
        "- {} s per measurement; {} kept rounds after 1 warm-up round (discarded), the order of \
         the cases shuffled per round (seed {}); figures are median [min–max] (95 % CI of the \
         median, order statistics; with 5 rounds the interval is min–max at 94 %)",
        meta.duration, meta.reps, meta.seed
    );
    if all.iter().any(|s| !s.trials.is_empty()) {
        let _ = writeln!(
            md,
            "- bounded UDP: per row and round, the highest datagrams/s per stream whose loss \
             stays ≤ {0} % and whose senders reached {3} % of the datagrams offered (a sender \
             that cannot keep the rate shows nothing of the path), searched with {1} s trials \
             (the first round of a row doubles from {2} and bisects; later rounds try the rate \
             found before and 1.5 times it, then bisect twice); the row reports the best trial \
             within the bound, every trial is in samples.csv; a row is within its bound when \
             the median loss of the reported trials is ≤ {0} %",
            meta.loss_bound, meta.search_secs, meta.udp_pps, REACH_PCT
        );
    } else {
        let _ = writeln!(
            md,
            "- bounded UDP: one fixed rate per stream (offered_pps in samples.csv); a row is \
             within its bound when the median loss is ≤ {} %",
            meta.loss_bound
        );
    }
    let counted = all.iter().any(Sample::balance_counted);
    let _ = writeln!(
        md,
        "- decryption balance: {}",
        if counted {
            "counted in the guest, per CPU and SA, by a kprobe on esp_input (net/ipv4/esp4.c) \
             with a hist trigger; only gw-b's inbound SAs count"
        } else {
            "inferred (this run has no per-CPU counts): an SA's packets are taken as decrypted \
             on its steering binding's CPU, else the CPU the wire delivers on"
        }
    );
    for r in runs {
        let spin = spin_busy(&r.stdout).map_or_else(String::new, |(lo, hi)| {
            format!(
                "; every CPU spinning reads {:.0}–{:.0} % busy",
                lo * 100.0,
                hi * 100.0
            )
        });
        let _ = writeln!(
            md,
            "- boot: {} vCPUs ({}), {:.0} s, host {}{spin}",
            r.boot.vcpus,
            r.boot.topos.join(","),
            r.secs,
            r.host
        );
    }
    md.push_str(
        "\nTopologies: `direct` = the receive CPU follows the sender; `wire` = every packet of \
         the tunnel is received on CPU 0 (one receive queue); `split` = wire with each side on \
         its own N CPUs (client and gw-a on 0..N-1, gw-b receives on CPU N, server on N..2N-1; \
         the cpus column counts CPUs per side). Controls on the per-CPU tunnel: `XDP_PASS` = an \
         XDP program on gw-b's wan that passes every frame; `cpumap to own CPU` = the steering \
         program with every SA bound to the CPU the wire delivers on (the cpumap hop, no \
         spread). Steering is credited only with what it adds over that control. Balance = \
         max/mean of ESP packets decrypted per receiving-side CPU (1 = even, N = all on one of \
         N), see above for how it was told. µs/pkt = busy \
         CPU time of the receiving side per packet gw-b received, the guest's fixed background \
         included (at the bounded rate it dominates; the cost model separates it). In a VM on shared \
         host cores the absolute numbers mean nothing off this machine: compare cases within a \
         row.\n",
    );
    md
}

fn tables(groups: &[(Key, Vec<&Sample>)], bound: f64) -> String {
    let (mut bulk, mut small, mut rr) = (String::new(), String::new(), String::new());
    for ((n, topo, proto, case, peer), v) in groups {
        let Some(m) = summary(v, |s| Some(s.value)) else {
            continue;
        };
        let bal = med(v, Sample::balance);
        let us = med(v, |s| s.us_per_packet(s.rx_side()));
        let label = case_label(case);
        let last = v.last().map(|s| s.busy()).unwrap_or_default();
        if proto == "rr" {
            let _ = writeln!(
                rr,
                "| {n} | {topo} | {label} | {peer} | {m} | {} | {} | {} | {} |",
                med(v, |s| s.lat_us),
                med(v, |s| s.p50_us),
                med(v, |s| s.p99_us),
                drops(v)
            );
        } else if let Some(len) = proto
            .strip_prefix("udp")
            .filter(|l| !l.is_empty())
            .map(String::from)
            .or_else(|| {
                proto
                    .strip_prefix("fixed")
                    .map(|l| format!("{l} (fixed rate)"))
            })
        {
            let loss = summary(v, Sample::loss_pct);
            let verdict = match loss {
                Some(l) if l.median <= bound => {
                    format!("{} % (≤ {bound} %: within)", stats::sig(l.median))
                }
                Some(l) => format!("{} % (> {bound} %: MISSED)", stats::sig(l.median)),
                None => "not reported".into(),
            };
            let _ = writeln!(
                small,
                "| {n} | {topo} | {len} | {label} | {peer} | {} | {m} | {verdict} | {us} | {bal} | {} |",
                med(v, |s| s.offered_pps),
                drops(v)
            );
        } else {
            let _ = writeln!(
                bulk,
                "| {n} | {topo} | {proto} | {label} | {peer} | {m} | {} | {bal} | {us} | {last} | {} |",
                med(v, |s| Some(s.pps)),
                drops(v)
            );
        }
    }
    let mut md = String::from(
        "\n## Throughput (iperf3, one stream per sending CPU; udp = -b 0 overload)\n\n",
    );
    md += "| cpus | topology | proto | case | gw-a | Mbit/s | pkt/s gw-b rx | balance | µs/pkt | CPU busy % (last round) | drops (per round) |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    md += &bulk;
    md += "\n## Small packets at bounded loss (UDP payload bytes)\n\n";
    md += "| cpus | topology | payload | case | gw-a | datagrams/s per stream | Mbit/s delivered | loss (median) | µs/pkt | balance | drops (per round) |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    md += &small;
    if !rr.is_empty() {
        md += "\n## Latency (netperf TCP_RR, one flow on CPU 0)\n\n";
        md += "| cpus | topology | case | gw-a | transactions/s | mean µs | P50 µs | P99 µs | drops |\n|---|---|---|---|---|---|---|---|---|\n";
        md += &rr;
    }
    md
}

/// Median of `case` in the row of `k`.
fn row_median(groups: &[(Key, Vec<&Sample>)], k: &Key, case: &str, peer: &str) -> Option<f64> {
    groups
        .iter()
        .find(|(g, _)| g.0 == k.0 && g.1 == k.1 && g.2 == k.2 && g.3 == case && g.4 == peer)
        .and_then(|(_, v)| summary(v, |s| Some(s.value)))
        .map(|s| s.median)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}

/// Ratios of medians between each control and the case it controls.
fn controls(groups: &[(Key, Vec<&Sample>)]) -> String {
    let mut rows = String::new();
    let mut seen = Vec::new();
    for (k, _) in groups.iter().filter(|(k, _)| k.3 == "pcpu" && k.4 != "-") {
        let id = (k.0, k.1.clone(), k.2.clone(), k.4.clone());
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let g = |c: &str| row_median(groups, k, c, &k.4);
        let _ = writeln!(
            rows,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k.0,
            k.1,
            k.2,
            k.4,
            ratio(g("pcpu"), g("pcpu-uncounted")),
            ratio(g("pcpu-xdp-pass"), g("pcpu")),
            ratio(g("pcpu-cpumap-self"), g("pcpu-xdp-pass")),
            ratio(g("pcpu-steer"), g("pcpu-cpumap-self")),
            ratio(g("pcpu-steer"), g("pcpu"))
        );
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n## Controls (ratios of medians in the same row)\n\nXDP attached costs `XDP_PASS / pcpu`; \
         the cpumap hop costs `own CPU / XDP_PASS`; spreading adds `steer / own CPU`, the only \
         part that is steering's own credit. At one CPU per side steering has nowhere to spread: \
         `steer / own CPU` should be 1 there, and `steer / pcpu` below 1 is the price of the XDP \
         hop, not a loss from spreading. `pcpu / uncounted` is what the decryption counter \
         (a kprobe on esp_input with a hist trigger, on in every other case) costs: 1 = \
         nothing measurable.\n\n\
         | cpus | topology | proto | gw-a | pcpu / uncounted | XDP_PASS / pcpu | own CPU / XDP_PASS | steer / own CPU | steer / pcpu |\n\
         |---|---|---|---|---|---|---|---|---|\n{rows}"
    )
}

/// Targets on medians: per-CPU + steering ≥ 0.9·N × one SA, ≥ strongSwan
/// per-CPU with the same steering, on wire and split.
fn targets(groups: &[(Key, Vec<&Sample>)]) -> String {
    let mut rows = String::new();
    let mut seen = Vec::new();
    for (k, _) in groups
        .iter()
        .filter(|(k, _)| (k.1 == "wire" || k.1 == "split") && (k.2 == "tcp" || k.2 == "udp"))
    {
        let id = (k.0, k.1.clone(), k.2.clone());
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let g = |c: &str, p: &str| row_median(groups, k, c, p);
        let steer = g("pcpu-steer", "lanes");
        let cell = |den: Option<f64>, bound: f64| match (steer, den) {
            (Some(a), Some(b)) if b > 0.0 => {
                let v = Verdict::judge(
                    a / b,
                    Target {
                        at_least: true,
                        bound,
                    },
                );
                format!("{:.2} (≥ {bound:.2}: {v})", a / b)
            }
            _ => "n/a (not measured)".into(),
        };
        let _ = writeln!(
            rows,
            "| {} | {} | {} | {} | {} |",
            k.0,
            k.1,
            k.2,
            cell(g("one-sa", "lanes"), 0.9 * f64::from(k.0)),
            cell(g("pcpu-steer", "strongswan"), 1.0)
        );
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n## Targets (ratios of medians)\n\n| cpus | topology | proto | lanes per-CPU+steering / lanes one SA | lanes / strongSwan, both per-CPU + the same steering |\n|---|---|---|---|---|\n{rows}"
    )
}

/// Mbit/s vs CPUs, a panel per (topology, tcp|udp) and per cleartext or
/// encrypted cases (so the ESP lines are not squashed under the cleartext
/// one), a line per case and daemon with min–max bars, and in each
/// encrypted panel the ideal N× of one SA at the fewest CPUs. SVG, and PNG
/// next to it.
fn throughput_chart(path: &Path, groups: &[(Key, Vec<&Sample>)], meta: &Meta) -> Result<()> {
    model::fonts().map_err(anyhow::Error::msg)?;
    let mut panels: Vec<(String, String, bool)> = groups
        .iter()
        .filter(|(k, _)| k.2 == "tcp" || k.2 == "udp")
        .map(|(k, _)| (k.1.clone(), k.2.clone(), k.3 != "plain"))
        .collect();
    panels.sort();
    panels.dedup();
    let rows = panels.len().div_ceil(2).max(1);
    let size = (1100, 60 + 380 * rows as u32 + legend_height(groups));
    let root = SVGBackend::new(path, size).into_drawing_area();
    paint_throughput(&root, &panels, groups, meta)?;
    root.present()?;
    let png = path.with_extension("png");
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    paint_throughput(&root, &panels, groups, meta)?;
    root.present()?;
    Ok(())
}

/// A colour per case, in [`CASES`] order (grey: unencrypted).
const PALETTE: [RGBColor; 6] = [
    RGBColor(120, 120, 120),
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(44, 160, 44),
];

fn paint_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    panels: &[(String, String, bool)],
    groups: &[(Key, Vec<&Sample>)],
    meta: &Meta,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(50);
    title.titled(
        &format!(
            "lanes testbed {}: Mbit/s (median, min–max) vs CPUs",
            meta.date
        ),
        ("sans-serif", 20),
    )?;
    let rows = panels.len().div_ceil(2).max(1);
    let (body, legend) = body.split_vertically(body.dim_in_pixel().1 - legend_height(groups));
    let areas = body.split_evenly((rows, 2));
    for ((topo, proto, encrypted), area) in panels.iter().zip(areas.iter()) {
        let mine: Vec<&(Key, Vec<&Sample>)> = groups
            .iter()
            .filter(|(k, _)| &k.1 == topo && &k.2 == proto && (k.3 != "plain") == *encrypted)
            .collect();
        panel(area, topo, proto, *encrypted, &mine)?;
    }
    let ideal = LegendEntry {
        label: "ideal: N × one SA (encrypted panels)".into(),
        colour: RGBColor(150, 150, 150),
        width: 1,
        dashed: true,
        marker: None,
    };
    let entries: Vec<LegendEntry> = std::iter::once(ideal)
        .chain(
            series_of(groups.iter().map(|(k, _)| k))
                .into_iter()
                .map(|(case, peer)| {
                    let (colour, width, marker) = look(&case, &peer);
                    LegendEntry {
                        label: format!("{} ({peer})", case_label(&case)),
                        colour,
                        width,
                        dashed: false,
                        marker: Some(marker),
                    }
                }),
        )
        .collect();
    chart::legend(&legend, &entries)
}

/// Every (case, daemon) of the TCP and UDP rows, in legend order.
fn series_of<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = keys
        .filter(|k| k.2 == "tcp" || k.2 == "udp")
        .map(|k| (k.3.clone(), k.4.clone()))
        .collect();
    v.sort_by_key(|(c, p)| (case_order(c), p.clone()));
    v.dedup();
    v
}

/// A series' colour (by case), line width and marker (by daemon: lanes
/// octagon, strongSwan triangle; [`chart::marker`]).
fn look(case: &str, peer: &str) -> (RGBColor, u32, usize) {
    let colour = PALETTE[case_order(case) % PALETTE.len()];
    if peer == "strongswan" {
        (colour, 1, 1)
    } else {
        (colour, 2, 0)
    }
}

/// Pixels of the legend strip below the panels (the ideal line included).
fn legend_height(groups: &[(Key, Vec<&Sample>)]) -> u32 {
    chart::legend_height(series_of(groups.iter().map(|(k, _)| k)).len() + 1)
}

/// The ideal N× line: one SA's median at the fewest CPUs, times N over that.
fn ideal_line(mine: &[&(Key, Vec<&Sample>)]) -> Option<(u32, f64)> {
    mine.iter()
        .filter(|(k, _)| k.3 == "one-sa" && k.4 != "strongswan")
        .filter_map(|(k, v)| summary(v, |s| Some(s.value)).map(|m| (k.0, m.median)))
        .min_by_key(|(n, _)| *n)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    topo: &str,
    proto: &str,
    encrypted: bool,
    mine: &[&(Key, Vec<&Sample>)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let xmax = mine.iter().map(|(k, _)| k.0).max().unwrap_or(1) as f64 + 0.5;
    let ideal = encrypted.then(|| ideal_line(mine)).flatten();
    let ymax = mine
        .iter()
        .flat_map(|(_, v)| v.iter().map(|s| s.value))
        .chain(ideal.map(|(n0, y0)| y0 * (xmax - 0.5) / f64::from(n0)))
        .fold(1.0, f64::max)
        * 1.1;
    let what = if encrypted { "encrypted" } else { "cleartext" };
    let mut ch = ChartBuilder::on(area)
        .caption(format!("{topo}, {proto}, {what}"), ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..xmax, 0f64..ymax)?;
    ch.configure_mesh()
        .x_desc("CPUs (split: per side)")
        .y_desc("Mbit/s")
        .draw()?;
    if let Some((n0, y0)) = ideal {
        let style = BLACK.mix(0.5).stroke_width(1);
        let xs = [f64::from(n0), xmax - 0.5];
        ch.draw_series(DashedLineSeries::new(
            xs.iter().map(|x| (*x, y0 * x / f64::from(n0))),
            6,
            4,
            style,
        ))?;
    }
    for (case, peer) in series_of(mine.iter().map(|(k, _)| k)) {
        let (col, width, mark) = look(&case, &peer);
        let pts: Vec<(f64, Summary)> = mine
            .iter()
            .filter(|(k, _)| k.3 == case && k.4 == peer)
            .filter_map(|(k, v)| summary(v, |s| Some(s.value)).map(|m| (f64::from(k.0), m)))
            .collect();
        ch.draw_series(LineSeries::new(
            pts.iter().map(|(x, m)| (*x, m.median)),
            col.stroke_width(width),
        ))?;
        ch.draw_series(
            pts.iter()
                .map(|(x, m)| PathElement::new([(*x, m.min), (*x, m.max)], col)),
        )?;
        ch.draw_series(
            pts.iter()
                .map(|(x, m)| EmptyElement::at((*x, m.median)) + chart::marker(mark, col)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(case: &str, peer: &str, rep: u32, v: f64) -> Sample {
        Sample::parse(
            2,
            2,
            &format!("topo=wire case={case} peer={peer} proto=tcp rep={rep} mbps={v}"),
        )
    }

    #[test]
    fn targets_and_controls_use_kept_medians() {
        let mut all = Vec::new();
        for (rep, f) in [(0, 100.0), (1, 1.0), (2, 3.0), (3, 2.0)] {
            all.push(s("one-sa", "lanes", rep, 10.0 * f));
            all.push(s("pcpu", "lanes", rep, 40.0 * f));
            all.push(s("pcpu-uncounted", "lanes", rep, 50.0 * f));
            all.push(s("pcpu-cpumap-self", "lanes", rep, 35.0 * f));
            all.push(s("pcpu-steer", "lanes", rep, 38.0 * f));
            all.push(s("pcpu-steer", "strongswan", rep, 40.0 * f));
        }
        let kept: Vec<&Sample> = all.iter().filter(|s| !s.warmup()).collect();
        let g = group(&kept);
        // Warm-up (round 0, 100x) dropped: medians 20, 80, 70, 76, 80.
        let t = targets(&g);
        assert!(
            t.contains("| 2 | wire | tcp | 3.80 (≥ 1.80: met) | 0.95 (≥ 1.00: MISSED) |"),
            "{t}"
        );
        let c = controls(&g);
        assert!(
            c.contains("| 2 | wire | tcp | lanes | 0.80 | n/a | n/a | 1.09 | 0.95 |"),
            "{c}"
        );
        // summary.csv: every row has as many fields as the header.
        let csv = summary_csv(&g);
        let cols = csv.lines().next().map(|h| h.split(',').count());
        assert!(
            csv.lines().all(|l| Some(l.split(',').count()) == cols),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 7);
    }
}

#[cfg(test)]
mod end_to_end {
    use super::super::{Boot, Meta, Run};
    use super::*;
    use crate::stats::{HostLoad, HostSample};

    /// A split N=1 boot's output: each case at a bounded (5,000 packets)
    /// and a saturated rate over 1-s windows; CPU 1 (receive) is busy 20
    /// ticks of background plus `us` µs per packet, all 100 ticks when
    /// saturated; CPU 0 (send) 10 plus 10 µs per packet.
    fn guest() -> String {
        let mut out = String::from("@@TB-INFO kernel=7.2\n@@TB-CAL jif=0:300/0/300,1:297/2/300\n");
        let cost = [
            ("plain", "-", 20),
            ("one-sa", "lanes", 40),
            ("pcpu", "lanes", 40),
            ("pcpu-xdp-pass", "lanes", 50),
            ("pcpu-cpumap-self", "lanes", 50),
            ("pcpu-steer", "lanes", 50),
        ];
        for rep in 0..=5 {
            for (case, peer, us) in cost {
                for (proto, rx) in [("fixed1400", 5000), ("udp", 800_000 / us)] {
                    let (busy, tx) = (20 + us * rx / 10_000, 10 + 10 * rx / 10_000);
                    let pps = rx;
                    out += &format!(
                        "@@TB topo=split case={case} peer={peer} proto={proto} rep={rep} mbps=11.2 \
                         pps={pps} rx={rx} jif=0:{tx}/0/100,1:{busy}/5/100 spi_in=0x10:{rx} rx_cpu=1 \
                         lost=1 sent=10000 dec=1:0x10:{rx},0:0x99:7\n"
                    );
                }
            }
            // The bounded search of 64-byte payloads on the steered tunnel.
            out += &format!(
                "@@TB topo=split case=pcpu-steer peer=lanes proto=udp64 rep={rep} mbps=2.0 pps=4000 \
                 rx=12000 jif=0:50/0/100,1:60/5/100 spi_in=0x10:12000 rx_cpu=1 lost=4 sent=4000 \
                 offered_pps=4000 trials=1000/0/3000;2000/0/6000;4000/4/12000;8000/900/24000 \
                 dec=1:0x10:12000\n"
            );
        }
        out + "@@TB-SKIP topo=split case=pcpu-steer peer=lanes rep=4 reason=attach-failed\n"
    }

    #[test]
    fn report_model_and_charts_are_written() {
        let dir = std::env::temp_dir().join(format!("lanes-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let z = HostSample {
            load: [0.5; 3],
            steal: 0,
            total: 1,
        };
        let runs = [Run {
            boot: Boot {
                n: 1,
                vcpus: 2,
                topos: vec!["split".into()],
            },
            code: 0,
            stdout: guest(),
            logs: "-".into(),
            secs: 1.0,
            host: HostLoad {
                before: z,
                after: z,
            },
        }];
        let meta = Meta {
            date: "d".into(),
            machine: "m".into(),
            host_kernel: "h".into(),
            host_netns: false,
            peer: "lanes".into(),
            duration: 1,
            reps: 5,
            seed: 3,
            udp_pps: 1000,
            loss_bound: 1.0,
            search_secs: 3,
        };
        let plan = Plan {
            reps: 5,
            warmup: 1,
            seed: 3,
        };
        write(&dir, meta, &runs, &plan, 1.0).unwrap();
        let md = std::fs::read_to_string(dir.join("README.md")).unwrap();
        // a = 20, l = 40, h = 10 (µs per packet), the intercept cancelled.
        assert!(
            md.contains("per-CPU SA (l) | 40.0 [40.0–40.0] | pcpu |"),
            "{md}"
        );
        assert!(md.contains("Decryption alone (l − a) is 20.0 µs"), "{md}");
        assert!(
            md.contains("every CPU spinning reads 99–100 % busy"),
            "{md}"
        );
        assert_eq!(spin_busy("@@TB-INFO kernel=7.2\n"), None);
        assert!(
            md.contains("| 10.0 [10.0–10.0] | pcpu-steer − pcpu"),
            "{md}"
        );
        assert!(md.contains("so the hop is resolved"), "{md}");
        assert!(md.contains("round 4: missed (attach failed)"), "{md}");
        // Balance counted by the probe; the search's rate and loss.
        assert!(md.contains("counted in the guest, per CPU and SA"), "{md}");
        assert!(
            md.contains("| 64 | per-CPU SAs + steering | lanes | 4000 | 2.00 [2.00–2.00] (93.8 % CI 2.00–2.00) | 0.100 % (≤ 1 %: within) | 50.0 | 1.00 |"),
            "{md}"
        );
        let samples = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
        assert!(
            samples.contains(",counted,\"1:12000\",4000.00,\"1000/0/3000;"),
            "{samples}"
        );
        // The measured packet rates are the model's own numbers here.
        assert!(
            md.contains("| one-sa | 20000 | 20000 [20000–20000] | 1.00 | 100 %, 30 % |"),
            "{md}"
        );
        assert!(
            md.contains("| pcpu-steer | 16000 | 16000 [16000–16000] | 1.00 | 100 %, 26 % |"),
            "{md}"
        );
        for f in ["summary.csv", "samples.csv"] {
            assert!(dir.join(f).exists(), "{f}");
        }
        if let Err(why) = model::fonts() {
            // No font on this machine: the data stays, the report says why.
            assert!(md.contains(&why), "{md}");
            return;
        }
        assert!(dir.join("throughput.svg").exists());
        assert!(dir.join("throughput.png").exists());
        assert!(std::fs::read_dir(dir.join("raw")).unwrap().count() >= 12);
        let svg = std::fs::read_to_string(dir.join("model.svg")).unwrap();
        assert!(svg.contains("model: one SA"), "legend missing");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
