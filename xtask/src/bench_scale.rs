//! The scale figures of `cargo xtask bench`: the daemon loop's cost per
//! input against the number of connections (section `loop`, in-process) and
//! the per-step setup rate and responder memory of the `daemon` section's
//! RSS steps (VM). Both also write a CSV next to the report, one row per
//! figure: `impl,tunnels,metric,median,min,max`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::report::Run;
use super::{Out, capture, chart, raw, report, sh};
use crate::stats::{HostLoad, Plan, Summary};
use crate::util;

/// One CSV row.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub imp: String,
    pub tunnels: String,
    pub metric: String,
    pub median: String,
    pub min: String,
    pub max: String,
}

impl Row {
    /// A summary of repetitions.
    fn of(imp: &str, tunnels: u32, metric: &str, s: &Summary) -> Self {
        Self {
            imp: imp.into(),
            tunnels: tunnels.to_string(),
            metric: metric.into(),
            median: s.median.to_string(),
            min: s.min.to_string(),
            max: s.max.to_string(),
        }
    }

    /// A single measurement: median, min and max are the value.
    #[cfg(test)]
    fn single(imp: &str, tunnels: u32, metric: &str, value: &str) -> Self {
        Self {
            imp: imp.into(),
            tunnels: tunnels.to_string(),
            metric: metric.into(),
            median: value.into(),
            min: value.into(),
            max: value.into(),
        }
    }
}

/// Writes `rows` to `bench/results/<stem>-<date>.csv`.
pub(super) fn write_csv(stem: &str, rows: &[Row]) -> Result<PathBuf> {
    let dir = util::root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{stem}-{}.csv", sh("date -u +%Y-%m-%dT%H%M%SZ")));
    let mut text = String::from("impl,tunnels,metric,median,min,max\n");
    for r in rows {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{}",
            r.imp, r.tunnels, r.metric, r.median, r.min, r.max
        );
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `rows` as a curve CSV for the charts (`bench::chart`), each metric
/// named with its unit.
pub(super) fn curve_csv(rows: &[Row]) -> String {
    let mut text = format!("{}\n", chart::CURVE_HEADER);
    for r in rows {
        let metric = match r.metric.as_str() {
            "setup_ike_sa_per_s" => "setup rate of the step (IKE SA/s)",
            "rss_kib_per_ike_sa" => "responder RSS growth (KiB per IKE SA)",
            m => m,
        };
        let _ = writeln!(
            text,
            "{},{},{metric},{},{},{}",
            r.imp, r.tunnels, r.median, r.min, r.max
        );
    }
    text
}

/// `loop`: the daemon loop (engine, drain, planner, recording kernel) per
/// DPD request, soft expire and rekey response, with 10 to 10,000
/// connections (cli bench `daemon_loop`: a discarded warm-up round, then
/// `reps` interleaved rounds in a seeded random order; targets on medians).
pub(super) fn daemon_loop(reps: usize, run: &Run) -> Result<Out> {
    let plan = Plan::new(reps);
    let (out, host) = HostLoad::around(|| {
        capture(
            util::cargo()
                .args(["bench", "-p", "lanes-cli", "--bench", "daemon_loop", "--"])
                .args([reps.to_string(), plan.seed.to_string()]),
        )
    })?;
    run.keep_output("loop-daemon_loop", &out)?;
    let ms = raw::parse(&out)?;
    anyhow::ensure!(!ms.is_empty(), "the bench printed no @@RAW line:\n{out}");
    let judged = report::judge_section(run, "loop", &ms, &plan, &host)?;
    std::fs::write(
        run.dir
            .join("daemon-cost-per-input-vs-connections.curve.csv"),
        chart::write_curve_csv(&loop_curve(&ms)?),
    )?;
    let text: String = out
        .lines()
        .filter(|l| !l.starts_with("@@"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(Out {
        text: format!(
            "#### lanes-cli `daemon_loop`\n\nArms `nN`: N configured connections; one sample is \
             the mean over 10,000 inputs.\n\n{}\n```\n{text}```\n\n\
             ![daemon cost per input vs connections](daemon-cost-per-input-vs-connections.svg) \
             (PNG: daemon-cost-per-input-vs-connections.png)\n",
            judged.table,
        ),
        targets: Some(judged.targets),
        rows: judged.rows,
    })
}

/// Chart points of the loop's measurements `loop-METRIC`, one per arm
/// `nN` (N connections), from the judged repetitions.
fn loop_curve(ms: &[raw::Measurement]) -> Result<Vec<chart::Point>> {
    let mut points = Vec::new();
    for m in ms {
        let Some(metric) = m.name.strip_prefix("loop-") else {
            continue;
        };
        for arm in m.arms() {
            let Some(Ok(n)) = arm.strip_prefix('n').map(str::parse::<f64>) else {
                continue;
            };
            let s = m.summary(arm)?;
            points.push(chart::Point {
                imp: "lanes".into(),
                tunnels: n,
                metric: format!("{metric} (ns per input)"),
                median: s.median,
                min: s.min,
                max: s.max,
            });
        }
    }
    Ok(points)
}

/// The `daemon` section's RSS steps: per step and daemon, the setup rate of
/// the step's new IKE SAs and the responder's RSS growth per IKE SA (medians
/// of the kept rounds); as a Markdown table, and as CSV rows.
pub(super) fn vm_steps(ms: &[raw::Measurement], steps: &[u32]) -> (String, Vec<Row>) {
    let mut md = String::from(
        "Per step: new IKE SAs (each with the fallback and per-CPU Child SAs) per second, \
         and the responder's VmRSS growth over idle per IKE SA held (KiB); median [min–max] \
         of the kept rounds:\n\n\
         | IKE SAs | lanes IKE SA/s | charon IKE SA/s | lanes KiB/IKE SA | charon KiB/IKE SA |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    let mut rows = Vec::new();
    for &n in steps {
        let mut cells = Vec::new();
        for (name, metric) in [
            ("setup-rate", "setup_ike_sa_per_s"),
            ("rss-per-ike-sa", "rss_kib_per_ike_sa"),
        ] {
            for imp in ["lanes", "charon"] {
                let s = raw::kept_summary(ms, &format!("{name}-n{n}"), imp);
                if let Some(s) = &s {
                    rows.push(Row::of(imp, n, metric, s));
                }
                cells.push(s.map_or_else(|| "-".into(), |s| s.range()));
            }
        }
        let _ = writeln!(md, "| {n} | {} |", cells.join(" | "));
    }
    md.push('\n');
    (md, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_csv_reads_back_with_units_in_the_metric_names() {
        let rows = [
            Row::single("lanes", 10, "setup_ike_sa_per_s", "30.5"),
            Row::single("charon", 10000, "rss_kib_per_ike_sa", "41.2"),
        ];
        let pts = chart::read_curve_csv(&curve_csv(&rows)).expect("curve");
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].metric, "setup rate of the step (IKE SA/s)");
        assert_eq!(
            (pts[1].imp.as_str(), pts[1].tunnels, pts[1].median),
            ("charon", 10000.0, 41.2)
        );
    }

    #[test]
    fn loop_curve_has_a_point_per_metric_and_size() {
        let out = "@@RAW loop-dpd_request n10 0 0 1 900 ns\n\
                   @@RAW loop-dpd_request n10 1 0 0 700 ns\n\
                   @@RAW loop-dpd_request n10000 1 1 0 800 ns\n\
                   @@RAW loop-dpd_request n10 2 1 0 600 ns\n\
                   @@RAW loop-dpd_request n10000 2 0 0 1000 ns\n";
        let pts = loop_curve(&raw::parse(out).expect("parse")).expect("curve");
        let got: Vec<(f64, f64, f64, f64)> = pts
            .iter()
            .map(|p| (p.tunnels, p.median, p.min, p.max))
            .collect();
        // The warm-up (900) is left out.
        assert_eq!(
            got,
            [(10.0, 650.0, 600.0, 700.0), (10000.0, 900.0, 800.0, 1000.0)]
        );
        assert_eq!(pts[0].metric, "dpd_request (ns per input)");
    }

    #[test]
    fn vm_steps_pair_rate_and_memory_by_step() {
        let ms = raw::parse(
            "@@RAW setup-rate-n10 lanes 0 0 1 99 IKE-SA/s\n\
             @@RAW setup-rate-n10 lanes 1 0 0 12.5 IKE-SA/s\n\
             @@RAW setup-rate-n10 lanes 2 0 0 14.5 IKE-SA/s\n\
             @@RAW rss-per-ike-sa-n10 lanes 1 0 0 30.1 KiB\n\
             @@RAW rss-per-ike-sa-n10 charon 1 1 0 55 KiB\n",
        )
        .expect("parse");
        let (md, rows) = vm_steps(&ms, &[10, 100]);
        assert!(
            md.contains("| 10 | 13.5 [12.5–14.5] | - | 30.1 [30.1–30.1] | 55.0 [55.0–55.0] |"),
            "{md}"
        );
        assert!(md.contains("| 100 | - | - | - | - |"), "{md}");
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (
                rows[0].metric.as_str(),
                rows[0].median.as_str(),
                rows[0].min.as_str()
            ),
            ("setup_ike_sa_per_s", "13.5", "12.5")
        );
    }
}
