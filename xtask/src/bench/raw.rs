//! Repetitions printed by the bench programs, and what is judged on them.
//!
//! A bench program prints every repetition as
//! `@@RAW MEASUREMENT ARM ROUND SLOT WARMUP VALUE UNIT` (WARMUP 0 or 1) and
//! each target as `@@TARGET MEASUREMENT KIND ARM BASE OP BOUND`, KIND being
//! `over` (median over kept rounds of ARM − BASE in the same round) or
//! `ratio` (median of ARM / median of BASE), OP `<=` or `>=`.

use crate::stats::{Sample, Summary, Target, Verdict};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;

/// How a target combines an arm with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Over,
    Ratio,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub kind: Kind,
    pub arm: String,
    pub base: String,
    pub target: Target,
}

/// One measurement: its repetitions (all arms) and targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measurement {
    pub name: String,
    pub unit: String,
    pub samples: Vec<Sample>,
    pub targets: Vec<TargetSpec>,
}

/// A target's figure and verdict (on medians).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub spec: TargetSpec,
    pub value: Summary,
    pub verdict: Verdict,
}

/// Measurements in order of first appearance; other lines are ignored.
pub fn parse(text: &str) -> Result<Vec<Measurement>> {
    let mut out: Vec<Measurement> = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(tag) = w.first() else { continue };
        let m = match (*tag, w.get(1)) {
            ("@@RAW" | "@@TARGET", Some(name)) => entry(&mut out, name),
            _ => continue,
        };
        match (*tag, &w[2..]) {
            ("@@RAW", [arm, round, slot, warm, value, unit]) => {
                m.unit = (*unit).to_string();
                m.samples.push(Sample {
                    arm: (*arm).to_string(),
                    round: round
                        .parse()
                        .with_context(|| format!("round in `{line}`"))?,
                    slot: slot.parse().with_context(|| format!("slot in `{line}`"))?,
                    warmup: *warm == "1",
                    value: value
                        .parse()
                        .with_context(|| format!("value in `{line}`"))?,
                });
            }
            ("@@TARGET", [kind, arm, base, op, bound]) => {
                let kind = match *kind {
                    "over" => Kind::Over,
                    "ratio" => Kind::Ratio,
                    k => bail!("`{line}`: target kind `{k}` is not `over` or `ratio`"),
                };
                let at_least = match *op {
                    ">=" => true,
                    "<=" => false,
                    o => bail!("`{line}`: operator `{o}` is not `<=` or `>=`"),
                };
                let bound = bound
                    .parse()
                    .with_context(|| format!("bound in `{line}`"))?;
                m.targets.push(TargetSpec {
                    kind,
                    arm: (*arm).to_string(),
                    base: (*base).to_string(),
                    target: Target { at_least, bound },
                });
            }
            _ => bail!("malformed bench line (see xtask/src/bench/raw.rs): `{line}`"),
        }
    }
    Ok(out)
}

fn entry<'a>(out: &'a mut Vec<Measurement>, name: &str) -> &'a mut Measurement {
    let i = match out.iter().position(|m| m.name == name) {
        Some(i) => i,
        None => {
            out.push(Measurement {
                name: name.to_string(),
                ..Measurement::default()
            });
            out.len() - 1
        }
    };
    &mut out[i]
}

impl Measurement {
    /// Arms, sorted (the shuffled run order says nothing).
    pub fn arms(&self) -> Vec<&str> {
        let mut arms: Vec<&str> = self.samples.iter().map(|s| s.arm.as_str()).collect();
        arms.sort_unstable();
        arms.dedup();
        arms
    }

    /// Summary of an arm's kept repetitions.
    pub fn summary(&self, arm: &str) -> Result<Summary> {
        Summary::of(&crate::stats::kept(&self.samples, arm))
            .with_context(|| format!("{} / {arm}", self.name))
    }

    /// Every target, judged on medians.
    pub fn judge(&self) -> Result<Vec<Judged>> {
        self.targets
            .iter()
            .map(|t| {
                let value = match t.kind {
                    Kind::Over => Summary::of(&self.paired_diff(&t.arm, &t.base))
                        .with_context(|| format!("{}: {} − {}", self.name, t.arm, t.base))?,
                    Kind::Ratio => {
                        let r = self.summary(&t.arm)?.median / self.summary(&t.base)?.median;
                        Summary::of(&[r])?
                    }
                };
                Ok(Judged {
                    spec: t.clone(),
                    verdict: Verdict::judge(value.median, t.target),
                    value,
                })
            })
            .collect()
    }

    /// `arm − base` for every kept round that has both.
    pub fn paired_diff(&self, arm: &str, base: &str) -> Vec<f64> {
        let val = |a: &str, r: usize| {
            self.samples
                .iter()
                .find(|s| s.arm == a && s.round == r && !s.warmup)
                .map(|s| s.value)
        };
        let mut rounds: Vec<usize> = self.samples.iter().map(|s| s.round).collect();
        rounds.sort_unstable();
        rounds.dedup();
        rounds
            .into_iter()
            .filter_map(|r| Some(val(arm, r)? - val(base, r)?))
            .collect()
    }
}

/// The summary of `arm`'s kept rounds of measurement `name`, if any.
pub fn kept_summary(ms: &[Measurement], name: &str, arm: &str) -> Option<Summary> {
    ms.iter()
        .find(|m| m.name == name)
        .and_then(|m| m.summary(arm).ok())
}

/// Per kept round, `arm` of measurement `top` over `arm` of `base` (both
/// ran in every round), summarised: an informational ratio between two
/// measurements, such as one engine against another.
pub fn cross_ratio(ms: &[Measurement], top: &str, base: &str, arm: &str) -> Result<Summary> {
    let find = |name: &str| {
        ms.iter()
            .find(|m| m.name == name)
            .with_context(|| format!("no measurement `{name}` in the bench output"))
    };
    let (t, b) = (find(top)?, find(base)?);
    let ratios: Vec<f64> = t
        .samples
        .iter()
        .filter(|s| s.arm == arm && !s.warmup)
        .filter_map(|s| {
            let d = b
                .samples
                .iter()
                .find(|x| x.arm == arm && x.round == s.round && !x.warmup)?;
            Some(s.value / d.value)
        })
        .collect();
    Summary::of(&ratios).with_context(|| format!("{top} / {base} ({arm}): no common kept round"))
}

/// A Markdown table: one line per measurement, its arms' summaries and
/// each target with its verdict (on the median).
pub fn markdown(ms: &[Measurement]) -> Result<String> {
    let mut md = String::from(
        "| measurement | arm: median [min–max] (CI) | target | verdict |\n|---|---|---|---|\n",
    );
    for m in ms {
        let mut arms = String::new();
        for a in m.arms() {
            let _ = write!(arms, "{a}: {} {}<br>", m.summary(a)?, m.unit);
        }
        let judged = m.judge()?;
        if judged.is_empty() {
            let _ = writeln!(md, "| {} | {arms} | - | - |", m.name);
        }
        for j in judged {
            let what = match j.spec.kind {
                Kind::Over => format!("{} − {} = {} {}", j.spec.arm, j.spec.base, j.value, m.unit),
                Kind::Ratio => format!("{} / {} = {:.3}", j.spec.arm, j.spec.base, j.value.median),
            };
            let _ = writeln!(
                md,
                "| {} | {arms} | {what}; target {} | {} |",
                m.name, j.spec.target, j.verdict
            );
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "noise\n\
        @@TARGET x over steer floor <= 20\n\
        @@RAW x floor 0 0 1 99 ns\n\
        @@RAW x steer 0 1 1 999 ns\n\
        @@RAW x steer 1 0 0 40 ns\n\
        @@RAW x floor 1 1 0 30 ns\n\
        @@RAW x floor 2 0 0 31 ns\n\
        @@RAW x steer 2 1 0 62 ns\n\
        @@RAW x floor 3 0 0 32 ns\n\
        @@RAW x steer 3 1 0 45 ns\n\
        @@RAW y n10 1 0 0 10 ns\n\
        @@RAW y n10000 1 1 0 13 ns\n\
        @@TARGET y ratio n10000 n10 <= 1.2\n";

    #[test]
    fn parses_and_judges_on_medians_of_kept_rounds() {
        let ms = parse(OUT).expect("parse");
        assert_eq!(ms.len(), 2);
        let x = &ms[0];
        assert_eq!(x.arms(), vec!["floor", "steer"]);
        assert_eq!(x.summary("steer").expect("s").median, 45.0);
        // Paired per round: 10, 31, 13 → median 13; the warm-up round is dropped.
        assert_eq!(x.paired_diff("steer", "floor"), vec![10.0, 31.0, 13.0]);
        let j = x.judge().expect("judge");
        assert_eq!(j[0].value.median, 13.0);
        assert_eq!(j[0].verdict, Verdict::Met);
        let y = ms[1].judge().expect("judge");
        assert!((y[0].value.median - 1.3).abs() < 1e-9);
        assert_eq!(y[0].verdict, Verdict::Missed);
        let md = markdown(&ms).expect("md");
        assert!(md.contains("| MISSED |"), "{md}");
        assert!(md.contains("| met |"), "{md}");
    }

    #[test]
    fn cross_ratio_pairs_rounds_of_two_measurements() {
        let ms = parse(
            "@@RAW a engine 0 0 1 500 us\n\
             @@RAW a engine 1 0 0 30 us\n\
             @@RAW b engine 1 1 0 10 us\n\
             @@RAW a engine 2 0 0 40 us\n\
             @@RAW b engine 2 1 0 20 us\n\
             @@RAW b engine 0 1 1 1 us\n",
        )
        .expect("parse");
        let r = cross_ratio(&ms, "a", "b", "engine").expect("ratio");
        // Rounds 1 and 2: 3 and 2; the warm-up round is dropped.
        assert_eq!((r.n, r.median, r.min, r.max), (2, 2.5, 2.0, 3.0));
        assert!(cross_ratio(&ms, "a", "c", "engine").is_err());
        assert!(cross_ratio(&ms, "a", "b", "floor").is_err());
    }

    #[test]
    fn malformed_lines_are_clear_errors() {
        let e = parse("@@RAW x floor 0 0 0 fast ns").expect_err("value");
        assert!(format!("{e:#}").contains("value in"), "{e:#}");
        assert!(parse("@@TARGET x best steer floor <= 1").is_err());
        assert!(parse("@@TARGET x over steer floor < 1").is_err());
        assert!(parse("@@RAW x floor 0").is_err());
        let ms = parse("@@RAW x a 0 0 1 5 ns").expect("parse");
        assert!(ms[0].summary("a").is_err(), "only warm-up: no kept sample");
    }
}
