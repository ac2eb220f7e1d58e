//! Repetition statistics for `cargo xtask bench` and `cargo xtask testbed`.
//!
//! A measurement runs as rounds: every arm (lanes, its baseline, ...) once
//! per round, in an order shuffled per round (ABAB with randomised order),
//! the first rounds discarded as warm-up. A figure is reported as its median
//! with min–max and a distribution-free confidence interval of the median
//! (order statistics, binomial coverage: Conover, *Practical Nonparametric
//! Statistics*, 3rd ed., §3.2). Targets are judged on the median only. The
//! host's load average and CPU steal are sampled before and after, and every
//! repetition (warm-up included, marked) is kept in a raw file.

#![allow(
    dead_code,
    reason = "shared by bench and testbed; each uses the parts it needs"
)]

use anyhow::{Context, Result, bail};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// How a measurement is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Kept rounds (each runs every arm once).
    pub reps: usize,
    /// Rounds run first and discarded.
    pub warmup: usize,
    /// Seed of the per-round shuffle (recorded with the raw samples).
    pub seed: u64,
}

impl Plan {
    /// `reps` kept rounds after one warm-up round, seeded from the clock.
    pub fn new(reps: usize) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |d| d.as_nanos() as u64);
        Self {
            reps,
            warmup: 1,
            seed,
        }
    }

    /// The rounds in order: each a permutation of `0..arms`.
    pub fn rounds(&self, arms: usize) -> Vec<Round> {
        let mut rng = SplitMix64(self.seed);
        (0..self.warmup + self.reps)
            .map(|i| {
                let mut order: Vec<usize> = (0..arms).collect();
                // Fisher–Yates.
                for k in (1..order.len()).rev() {
                    let j = (rng.next() % (k as u64 + 1)) as usize;
                    order.swap(k, j);
                }
                Round {
                    index: i,
                    warmup: i < self.warmup,
                    order,
                }
            })
            .collect()
    }
}

/// One round of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub index: usize,
    pub warmup: bool,
    /// Arm indices in the order they run.
    pub order: Vec<usize>,
}

/// SplitMix64 (Steele, Lea, Flood 2014): enough to shuffle a schedule.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One repetition of one arm, as kept in the raw file.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub arm: String,
    pub round: usize,
    /// Position of the arm within its round.
    pub slot: usize,
    pub warmup: bool,
    pub value: f64,
}

/// Runs `arms` (name, measurement) by `plan`, interleaved, and returns
/// every sample (warm-up ones marked). A measurement error stops the run.
pub fn run_interleaved(
    plan: &Plan,
    arms: &mut [(&str, &mut dyn FnMut() -> Result<f64>)],
) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for round in plan.rounds(arms.len()) {
        for (slot, &a) in round.order.iter().enumerate() {
            let (name, f) = &mut arms[a];
            let value = f().with_context(|| format!("{name}, round {}", round.index))?;
            out.push(Sample {
                arm: (*name).to_string(),
                round: round.index,
                slot,
                warmup: round.warmup,
                value,
            });
        }
    }
    Ok(out)
}

/// The kept (non-warm-up) values of `arm`.
pub fn kept(samples: &[Sample], arm: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.arm == arm && !s.warmup)
        .map(|s| s.value)
        .collect()
}

/// Median, range and confidence interval of the median of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Order-statistic interval of the median, if `n >= 2`.
    pub ci: Option<Ci>,
}

/// `[lo, hi]` covers the true median with probability at least `level`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ci {
    pub lo: f64,
    pub hi: f64,
    pub level: f64,
}

impl Summary {
    /// Fails on no values or on a NaN (a measurement that did not happen).
    pub fn of(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            bail!("no samples to summarise: run at least one kept repetition (--reps)");
        }
        if values.iter().any(|v| v.is_nan()) {
            bail!("a sample is NaN: a repetition produced no number");
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        };
        let ci = median_ci_ranks(n, 0.95).map(|(l, u, level)| Ci {
            lo: v[l - 1],
            hi: v[u - 1],
            level,
        });
        Ok(Self {
            n,
            median,
            min: v[0],
            max: v[n - 1],
            ci,
        })
    }

    /// Every figure multiplied by `k > 0` (a change of unit).
    pub fn scaled(self, k: f64) -> Self {
        Self {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
            ci: self.ci.map(|c| Ci {
                lo: c.lo * k,
                hi: c.hi * k,
                ..c
            }),
            ..self
        }
    }

    /// `median [min–max]`, for table cells whose header says so.
    pub fn range(&self) -> String {
        format!("{} [{}–{}]", sig(self.median), sig(self.min), sig(self.max))
    }
}

impl fmt::Display for Summary {
    /// `median [min–max] (95 % CI lo–hi)`, three significant digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}–{}]",
            sig(self.median),
            sig(self.min),
            sig(self.max)
        )?;
        match self.ci {
            Some(c) => write!(
                f,
                " ({} % CI {}–{})",
                sig(c.level * 100.0),
                sig(c.lo),
                sig(c.hi)
            ),
            None => write!(f, " (no CI, n = {})", self.n),
        }
    }
}

/// `x` with three significant digits (integers as they are).
pub fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (2 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// 1-based ranks `(l, u)` of the narrowest symmetric order-statistic
/// interval `[x(l), x(u)]`, `u = n + 1 - l`, whose coverage of the median,
/// `P(l <= B < u)` with `B ~ Binomial(n, 1/2)`, is at least `level`, with
/// that coverage. When no interval reaches `level` (n < 6 for 95 %), the
/// widest one, `[x(1), x(n)]`, with its smaller coverage; `None` for n < 2.
pub fn median_ci_ranks(n: usize, level: f64) -> Option<(usize, usize, f64)> {
    if n < 2 {
        return None;
    }
    // cdf[k] = P(B <= k), computed in f64 from the pmf recurrence.
    let mut pmf = 0.5f64.powi(n as i32);
    let mut cdf = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    for k in 0..=n {
        acc += pmf;
        cdf.push(acc);
        pmf = pmf * (n - k) as f64 / (k + 1) as f64;
    }
    let coverage = |l: usize| 1.0 - 2.0 * cdf[l - 1];
    let mut best = (1, n, coverage(1));
    for l in 2..=n.div_ceil(2) {
        let c = coverage(l);
        if c + 1e-12 < level {
            break;
        }
        best = (l, n + 1 - l, c);
    }
    Some(best)
}

/// `a / b` of two medians (lanes over its baseline).
pub fn ratio_of_medians(a: &Summary, b: &Summary) -> f64 {
    a.median / b.median
}

/// A target on a figure: `>= bound` or `<= bound`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub at_least: bool,
    pub bound: f64,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.at_least { ">=" } else { "<=" };
        write!(f, "{op} {}", self.bound)
    }
}

/// Whether a target is met, judged on the median only (never the best run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
}

impl Verdict {
    pub fn judge(median: f64, t: Target) -> Self {
        let met = if t.at_least {
            median >= t.bound
        } else {
            median <= t.bound
        };
        if met { Self::Met } else { Self::Missed }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Met => "met",
            Self::Missed => "MISSED",
        })
    }
}

/// The host's load average and CPU time counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostSample {
    /// 1, 5 and 15 minute load averages (/proc/loadavg).
    pub load: [f64; 3],
    /// Steal and total jiffies of the `cpu` line of /proc/stat.
    pub steal: u64,
    pub total: u64,
}

impl HostSample {
    /// Reads /proc/loadavg and /proc/stat (`proc(5)`).
    pub fn read() -> Result<Self> {
        let load = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
        let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        Self::parse(&load, &stat)
    }

    fn parse(loadavg: &str, stat: &str) -> Result<Self> {
        let mut load = [0.0; 3];
        let mut w = loadavg.split_whitespace();
        for l in &mut load {
            *l = w
                .next()
                .and_then(|x| x.parse().ok())
                .context("/proc/loadavg: expected three load averages")?;
        }
        let cpu = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .context("/proc/stat has no aggregate `cpu` line")?;
        let f: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .map_while(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal [guest guest_nice]:
        // guest time is already counted in user and nice.
        let steal = *f
            .get(7)
            .context("/proc/stat `cpu` line lacks the steal column")?;
        Ok(Self {
            load,
            steal,
            total: f.iter().take(8).sum(),
        })
    }
}

/// Host load around a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostLoad {
    pub before: HostSample,
    pub after: HostSample,
}

impl HostLoad {
    /// Runs `f`, sampling the host before and after it.
    pub fn around<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Self)> {
        let before = HostSample::read()?;
        let v = f()?;
        let after = HostSample::read()?;
        Ok((v, Self { before, after }))
    }

    /// Percentage of CPU time stolen by the hypervisor between the samples.
    pub fn steal_pct(&self) -> f64 {
        let dt = self.after.total.saturating_sub(self.before.total);
        if dt == 0 {
            return 0.0;
        }
        100.0 * self.after.steal.saturating_sub(self.before.steal) as f64 / dt as f64
    }
}

impl fmt::Display for HostLoad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "load {:.2} → {:.2}, steal {:.1} %",
            self.before.load[0],
            self.after.load[0],
            self.steal_pct()
        )
    }
}

/// Measures with `plan`, sampling the host load before and after.
pub fn measure(
    plan: &Plan,
    arms: &mut [(&str, &mut dyn FnMut() -> Result<f64>)],
) -> Result<(Vec<Sample>, HostLoad)> {
    HostLoad::around(|| run_interleaved(plan, arms))
}

/// Writes raw repetitions under `<run dir>/raw/`, one CSV per measurement.
#[derive(Debug, Clone)]
pub struct RawWriter {
    dir: PathBuf,
}

/// Header of every raw file.
pub const RAW_HEADER: &str =
    "measurement,arm,round,slot,warmup,value,unit,seed,load1_before,load1_after,steal_pct";

impl RawWriter {
    /// Creates `run_dir/raw`.
    pub fn new(run_dir: &Path) -> Result<Self> {
        let dir = run_dir.join("raw");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `raw/<name>.csv` (name: letters, digits, `-`, `_`, `.`) and
    /// returns its path.
    pub fn write(
        &self,
        name: &str,
        unit: &str,
        plan: &Plan,
        host: &HostLoad,
        samples: &[Sample],
    ) -> Result<PathBuf> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            bail!("raw file name `{name}`: use letters, digits, `-`, `_` or `.` only");
        }
        let mut csv = String::from(RAW_HEADER);
        csv.push('\n');
        for s in samples {
            let _ = writeln!(
                csv,
                "{name},{},{},{},{},{},{unit},{},{},{},{:.2}",
                s.arm,
                s.round,
                s.slot,
                s.warmup,
                s.value,
                plan.seed,
                host.before.load[0],
                host.after.load[0],
                host.steal_pct()
            );
        }
        let path = self.dir.join(format!("{name}.csv"));
        std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_range() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).expect("summary");
        assert_eq!((s.median, s.min, s.max, s.n), (3.0, 1.0, 5.0, 3));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).expect("summary");
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_err());
        assert!(Summary::of(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn median_ci_matches_binomial_tables() {
        // n = 6: [x1, x6] covers 1 - 2/64.
        let (l, u, c) = median_ci_ranks(6, 0.95).expect("n >= 2");
        assert_eq!((l, u), (1, 6));
        assert!((c - 0.968_75).abs() < 1e-9, "{c}");
        // n = 10: [x2, x9], 1 - 2 * 11/1024.
        let (l, u, c) = median_ci_ranks(10, 0.95).expect("n >= 2");
        assert_eq!((l, u), (2, 9));
        assert!((c - (1.0 - 22.0 / 1024.0)).abs() < 1e-9, "{c}");
        // n = 20: [x6, x15] (Conover's table), coverage 0.9586.
        let (l, u, c) = median_ci_ranks(20, 0.95).expect("n >= 2");
        assert_eq!((l, u), (6, 15));
        assert!((c - 0.958_6).abs() < 1e-4, "{c}");
        // n = 5 cannot reach 95 %: min–max at 1 - 2/32.
        let (l, u, c) = median_ci_ranks(5, 0.95).expect("n >= 2");
        assert_eq!((l, u), (1, 5));
        assert!((c - 0.937_5).abs() < 1e-9, "{c}");
        assert_eq!(median_ci_ranks(1, 0.95), None);
    }

    #[test]
    fn summary_ci_uses_order_statistics() {
        let v: Vec<f64> = (1..=10).map(f64::from).rev().collect();
        let s = Summary::of(&v).expect("summary");
        let ci = s.ci.expect("ci");
        assert_eq!((ci.lo, ci.hi), (2.0, 9.0));
        assert_eq!(s.to_string(), "5.50 [1.00–10.0] (97.9 % CI 2.00–9.00)");
    }

    #[test]
    fn ratio_and_verdict_on_median() {
        let a = Summary::of(&[2.0, 2.0, 9.0]).expect("summary");
        let b = Summary::of(&[1.0, 1.0, 1.0]).expect("summary");
        assert_eq!(ratio_of_medians(&a, &b), 2.0);
        let t = Target {
            at_least: true,
            bound: 3.0,
        };
        // The best run (9.0) meets 3.0; the median (2.0) does not.
        assert_eq!(Verdict::judge(a.median, t), Verdict::Missed);
        assert_eq!(Verdict::judge(a.max, t), Verdict::Met);
        let t = Target {
            at_least: false,
            bound: 0.5,
        };
        assert_eq!(Verdict::judge(0.5, t), Verdict::Met);
        assert_eq!(Verdict::Missed.to_string(), "MISSED");
    }

    #[test]
    fn schedule_is_interleaved_shuffled_and_seeded() {
        let plan = Plan {
            reps: 40,
            warmup: 2,
            seed: 7,
        };
        let rounds = plan.rounds(2);
        assert_eq!(rounds.len(), 42);
        assert_eq!(rounds.iter().filter(|r| r.warmup).count(), 2);
        assert!(rounds[0].warmup && rounds[1].warmup && !rounds[2].warmup);
        for r in &rounds {
            let mut o = r.order.clone();
            o.sort_unstable();
            assert_eq!(o, vec![0, 1], "each arm once per round");
        }
        let a_first = rounds.iter().filter(|r| r.order[0] == 0).count();
        assert!(
            (10..=32).contains(&a_first),
            "order not shuffled: {a_first}/42"
        );
        assert_eq!(rounds, plan.rounds(2), "same seed, same schedule");
    }

    #[test]
    fn run_interleaved_discards_warmup_only_from_kept() {
        let plan = Plan {
            reps: 3,
            warmup: 1,
            seed: 1,
        };
        let (mut a, mut b) = (0.0, 100.0);
        let mut fa = || {
            a += 1.0;
            Ok(a)
        };
        let mut fb = || {
            b += 1.0;
            Ok(b)
        };
        let s = run_interleaved(&plan, &mut [("a", &mut fa), ("b", &mut fb)]).expect("run");
        assert_eq!(s.len(), 8);
        assert_eq!(kept(&s, "a"), vec![2.0, 3.0, 4.0]);
        assert_eq!(kept(&s, "b"), vec![102.0, 103.0, 104.0]);
        let mut fail = || -> Result<f64> { bail!("boom") };
        let e = run_interleaved(&plan, &mut [("x", &mut fail)]).expect_err("fails");
        assert!(format!("{e:#}").contains("x, round 0"), "{e:#}");
    }

    #[test]
    fn host_sample_parses_proc_and_steal() {
        let stat = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n";
        let before = HostSample::parse("1.50 0.80 0.40 2/300 99\n", stat).expect("parse");
        assert_eq!(before.load, [1.5, 0.8, 0.4]);
        assert_eq!((before.steal, before.total), (35, 1000));
        let after = HostSample {
            steal: 45,
            total: 1100,
            ..before
        };
        let h = HostLoad { before, after };
        assert!((h.steal_pct() - 10.0).abs() < 1e-9);
        assert!(HostSample::parse("x", stat).is_err());
        assert!(HostSample::parse("1 2 3", "cpu0 1 2\n").is_err());
    }

    #[test]
    fn raw_writer_keeps_every_repetition() {
        let dir = std::env::temp_dir().join(format!("lanes-stats-{}", std::process::id()));
        let w = RawWriter::new(&dir).expect("dir");
        let plan = Plan {
            reps: 1,
            warmup: 1,
            seed: 3,
        };
        let hs = HostSample {
            load: [0.5; 3],
            steal: 0,
            total: 0,
        };
        let host = HostLoad {
            before: hs,
            after: hs,
        };
        let samples = vec![
            Sample {
                arm: "lanes".into(),
                round: 0,
                slot: 0,
                warmup: true,
                value: 9.0,
            },
            Sample {
                arm: "lanes".into(),
                round: 1,
                slot: 0,
                warmup: false,
                value: 1.5,
            },
        ];
        let p = w
            .write("xdp-hot", "ns", &plan, &host, &samples)
            .expect("write");
        let text = std::fs::read_to_string(&p).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], RAW_HEADER);
        assert_eq!(lines[1], "xdp-hot,lanes,0,0,true,9,ns,3,0.5,0.5,0.00");
        assert_eq!(lines.len(), 3);
        let fields = RAW_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == fields));
        assert!(w.write("../x", "ns", &plan, &host, &samples).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
