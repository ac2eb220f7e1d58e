//! One `cargo xtask bench` run's files: `bench/results/bench-<date>/` with
//! `report.md`, `summary.csv` (a row per arm and target), `raw/` (every
//! repetition) and the charts.

use super::raw::{Kind, Measurement};
use crate::stats::{HostLoad, Plan, RawWriter, Summary, Verdict};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where this run's files go.
pub struct Run {
    pub dir: PathBuf,
    pub raw: RawWriter,
}

impl Run {
    pub fn create(date: &str) -> Result<Self> {
        let dir = crate::util::root()
            .join("bench/results")
            .join(format!("bench-{date}"));
        let raw = RawWriter::new(&dir)?;
        Ok(Self { dir, raw })
    }

    /// Keeps a program's whole output next to the parsed repetitions.
    pub fn keep_output(&self, name: &str, text: &str) -> Result<()> {
        std::fs::write(self.raw.dir().join(format!("{name}.txt")), text)?;
        Ok(())
    }
}

/// One line of `summary.csv`: an arm's figure, or a target's.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub section: String,
    pub measurement: String,
    /// The arm, or `ARM-BASE` / `ARM/BASE` for a target.
    pub what: String,
    pub unit: String,
    pub summary: Summary,
    /// `<= 20` and `met`/`MISSED`, for targets only.
    pub target: Option<(String, Verdict)>,
}

pub const SUMMARY_HEADER: &str =
    "section,measurement,what,unit,n,median,min,max,ci_lo,ci_hi,ci_level,target,verdict";

/// `summary.csv`: every row has as many fields as the header.
pub fn summary_csv(rows: &[Row]) -> String {
    let mut s = format!("{SUMMARY_HEADER}\n");
    for r in rows {
        let m = &r.summary;
        let (lo, hi, lvl) =
            m.ci.map_or((String::new(), String::new(), String::new()), |c| {
                (
                    c.lo.to_string(),
                    c.hi.to_string(),
                    format!("{:.4}", c.level),
                )
            });
        let (t, v) = r
            .target
            .as_ref()
            .map_or((String::new(), String::new()), |(t, v)| {
                (t.clone(), v.to_string())
            });
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{lo},{hi},{lvl},{t},{v}",
            r.section, r.measurement, r.what, r.unit, m.n, m.median, m.min, m.max
        );
    }
    s
}

/// What a judged section yields: its table, `(met, total)` and CSV rows.
pub struct Judged {
    pub table: String,
    pub targets: (usize, usize),
    pub rows: Vec<Row>,
}

/// Writes each measurement's repetitions to `raw/<section>-<name>.csv` and
/// judges its targets on medians.
pub fn judge_section(
    run: &Run,
    section: &str,
    ms: &[Measurement],
    plan: &Plan,
    host: &HostLoad,
) -> Result<Judged> {
    let mut rows = Vec::new();
    let (mut met, mut total) = (0, 0);
    for m in ms {
        run.raw.write(
            &format!("{section}-{}", m.name),
            &m.unit,
            plan,
            host,
            &m.samples,
        )?;
        for arm in m.arms() {
            rows.push(Row {
                section: section.into(),
                measurement: m.name.clone(),
                what: arm.into(),
                unit: m.unit.clone(),
                summary: m.summary(arm)?,
                target: None,
            });
        }
        for j in m.judge()? {
            total += 1;
            met += usize::from(j.verdict == Verdict::Met);
            let (what, unit) = match j.spec.kind {
                Kind::Over => (format!("{}-{}", j.spec.arm, j.spec.base), m.unit.clone()),
                Kind::Ratio => (format!("{}/{}", j.spec.arm, j.spec.base), "ratio".into()),
            };
            rows.push(Row {
                section: section.into(),
                measurement: m.name.clone(),
                what,
                unit,
                summary: j.value,
                target: Some((j.spec.target.to_string(), j.verdict)),
            });
        }
    }
    let mut table = format!(
        "{} rounds kept after {} warm-up, arms in shuffled order per round (seed {}); {host}. \
         Targets are judged on the median. Every repetition: `raw/{section}-*.csv`.\n\n",
        plan.reps, plan.warmup, plan.seed
    );
    table.push_str(&super::raw::markdown(ms)?);
    Ok(Judged {
        table,
        targets: (met, total),
        rows,
    })
}

/// The summary table's result cell: never `ok` when a target was missed.
pub fn result_cell(ok: bool, targets: Option<(usize, usize)>) -> String {
    match (ok, targets) {
        (false, _) => "FAILED".into(),
        (true, Some((m, t))) if m < t => format!("**MISSED {} of {t}**", t - m),
        (true, Some((_, t))) if t > 0 => "ok (all targets met)".into(),
        (true, _) => "ran (no target)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Target;

    #[test]
    fn summary_csv_rows_match_header() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("summary");
        let rows = [
            Row {
                section: "xdp".into(),
                measurement: "esp4-hot-prog-m1".into(),
                what: "steer".into(),
                unit: "ns".into(),
                summary: s,
                target: None,
            },
            Row {
                section: "xdp".into(),
                measurement: "esp4-hot-prog-m1".into(),
                what: "steer-floor".into(),
                unit: "ns".into(),
                summary: Summary::of(&[7.0]).expect("summary"),
                target: Some((
                    Target {
                        at_least: false,
                        bound: 20.0,
                    }
                    .to_string(),
                    Verdict::Met,
                )),
            },
        ];
        let csv = summary_csv(&rows);
        let n = SUMMARY_HEADER.split(',').count();
        for l in csv.lines() {
            assert_eq!(l.split(',').count(), n, "{l}");
        }
        assert!(csv.contains(",<= 20,met\n"), "{csv}");
        assert!(
            csv.contains("xdp,esp4-hot-prog-m1,steer,ns,6,3.5,1,6,1,6,0.9688,,\n"),
            "{csv}"
        );
    }

    #[test]
    fn result_cell_never_says_ok_for_a_miss() {
        assert_eq!(result_cell(true, Some((1, 4))), "**MISSED 3 of 4**");
        assert_eq!(result_cell(true, Some((4, 4))), "ok (all targets met)");
        assert_eq!(result_cell(true, None), "ran (no target)");
        assert_eq!(result_cell(false, Some((4, 4))), "FAILED");
    }
}
