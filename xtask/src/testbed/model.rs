//! A per-packet cost model of the receive side, from the testbed's own
//! controls on the split topology at one CPU per side, and its projection
//! to 16 CPUs per side next to the measured points.
//!
//! A CPU's busy time over a window of `W` seconds carrying `R` packets is
//! taken as `B = b0·W + c·R`: an intercept `b0` (busy time that does not
//! grow with the rate: the guest's own background, plus what a packet costs
//! more at a low rate, when it wakes an idle CPU) plus a cost `c` per packet.
//! Each case runs in every round at two rates with 1400-byte payloads, a
//! fixed low rate (`fixed1400`) and saturated (`udp`, `-b 0`); the two
//! equations give `c` for that case and round, free of the intercept that
//! dominates a per-packet figure at a low rate, and `b0`, the share of a CPU
//! the line leaves to no packet. Cases: `plain` = receive +
//! forward + delivery without ESP; `pcpu` adds ESP input
//! (`net/ipv4/esp4.c`); `pcpu-steer - pcpu`, paired by round, is XDP, the
//! steering lookup and the cpumap hop (`kernel/bpf/cpumap.c`). The same
//! boot measures the receiving CPU's share of steering directly: the
//! steering program under `BPF_PROG_TEST_RUN` with live frames
//! (`net/bpf/test_run.c`), whose redirect really enqueues on another CPU.

use super::sample::Sample;
use crate::stats::{self, Summary};
use anyhow::{Context, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

/// Bits per packet of the projection: a 1400-byte UDP payload.
const PAYLOAD_BITS: f64 = 1400.0 * 8.0;
/// CPUs per side the chart projects to.
const MAX_N: u32 = 16;
/// The saturated and the low-rate protocol of the pair, both 1400 bytes.
const SATURATED: &str = "udp";
const LOW: &str = "fixed1400";

/// A run of the pair's low rate: `fixed1400`, or `udp1400` of a run from
/// before the bounded search (one fixed rate, no trials).
fn low_rate(s: &Sample) -> bool {
    s.proto == LOW || (s.proto == "udp1400" && s.trials.is_empty())
}

/// `B = b0·W + c·R` solved for a saturated and a bounded run of one case in
/// one round on `cpus`: the intercept `b0` (busy time that does not grow
/// with the rate) as a share of those CPUs' time and the marginal busy µs
/// per packet `c`; `None` when the two rates do not differ.
pub fn fit(sat: &Sample, bounded: &Sample, cpus: Range<u32>) -> Option<(f64, f64)> {
    let (b2, w2) = sat.cpu_seconds(cpus.clone())?;
    let (b1, w1) = bounded.cpu_seconds(cpus)?;
    let (r2, r1) = (sat.rx as f64, bounded.rx as f64);
    let det = r2 * w1 - r1 * w2;
    (det.abs() > f64::EPSILON && r2 > 0.0)
        .then(|| ((b1 * r2 - b2 * r1) / det, (b2 * w1 - b1 * w2) / det * 1e6))
}

/// The share of a CPU left to packets by an intercept `b`.
fn share(b: &Summary) -> f64 {
    (1.0 - b.median).clamp(0.0, 1.0)
}

/// Per-packet costs (µs) at one CPU per side: each a summary over rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub plain: Summary,
    pub one_sa: Summary,
    pub pcpu: Summary,
    pub xdp_pass: Summary,
    pub steer: Summary,
    /// The sending side (client + gw-a encryption) with per-CPU SAs.
    pub tx_pcpu: Summary,
    /// XDP + lookup + cpumap hop: `pcpu-steer - pcpu`, paired by round.
    pub hop: Summary,
    /// Intercept of a receiving-side CPU's busy line, as a share of its
    /// time (every case and round pooled).
    pub b_rx: Summary,
    /// The same on the sending side.
    pub b_tx: Summary,
    /// The same share measured with live frames, if the boot ran it.
    pub live: Option<Live>,
}

/// The steering program and the `XDP_PASS` floor under `BPF_PROG_TEST_RUN`
/// with live frames in the model's guest boot, µs per packet: frame setup,
/// the program and carrying out its verdict (the redirect's cpumap enqueue;
/// the floor's skb and stack on this CPU).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Live {
    pub steer: Summary,
    pub floor: Summary,
}

impl Live {
    /// From the guest's `@@RAW` lines (`steer-bench`, ns per packet): the
    /// hot key at one binding.
    pub fn from_raw(ms: &[crate::bench::raw::Measurement]) -> Option<Self> {
        let m = ms.iter().find(|m| m.name == "esp4-hot-live-m1")?;
        let us = |arm: &str| m.summary(arm).ok().map(|s| s.scaled(1e-3));
        Some(Self {
            steer: us("steer")?,
            floor: us("floor")?,
        })
    }
}

impl Costs {
    pub fn decrypt(&self) -> f64 {
        self.pcpu.median - self.plain.median
    }

    /// Packets/s of one SA: one CPU receives and decrypts all of it in the
    /// time its intercept leaves.
    pub fn one_sa_pps(&self) -> f64 {
        share(&self.b_rx) * 1e6 / self.one_sa.median
    }

    /// Packets/s of per-CPU SAs without steering at N = 1, or of the sender.
    fn pcpu_pps(&self) -> f64 {
        (share(&self.b_rx) * 1e6 / self.pcpu.median).min(self.tx_pps(1))
    }

    /// Packets/s the sending side's `n` CPUs can encrypt and send.
    fn tx_pps(&self, n: u32) -> f64 {
        f64::from(n) * share(&self.b_tx) * 1e6 / self.tx_pcpu.median
    }

    /// The receiving CPU's own cost per packet: the live-frames median, or
    /// its largest round (`pessimistic`); without it the controls' hop
    /// the same way; never below zero.
    fn hop(&self, pessimistic: bool) -> f64 {
        let h = match (self.live, pessimistic) {
            (Some(l), false) => l.steer.median,
            (Some(l), true) => l.steer.max,
            (None, false) => self.hop.median,
            (None, true) => self.hop.max,
        };
        h.max(0.0)
    }

    /// Packets/s of per-CPU SAs with steering over `n` CPUs per side. The
    /// receiving CPU runs XDP and the cpumap enqueue for every packet (`h`)
    /// and is one of the `n` decrypting CPUs, each of which carries the
    /// whole stack for its share (`l`, the pcpu cost: cpumap builds the skb
    /// on the target CPU); the sending side scales with its SAs.
    pub fn steer_pps(&self, n: u32, pessimistic: bool) -> f64 {
        let (h, lane) = (self.hop(pessimistic), self.pcpu.median);
        (share(&self.b_rx) * 1e6 / (h + lane / f64::from(n))).min(self.tx_pps(n))
    }

    /// Knee: the N from which the receiving CPU's own share exceeds a
    /// decrypting CPU's, `l / h`; infinite when no hop cost was resolved.
    pub fn knee(&self, pessimistic: bool) -> f64 {
        self.pcpu.median / self.hop(pessimistic)
    }
}

/// Kept split samples at one CPU per side, gw-a lanes (or no daemon).
fn at_one<'a>(
    kept: &[&'a Sample],
    case: &str,
    proto: impl Fn(&Sample) -> bool,
) -> BTreeMap<u32, &'a Sample> {
    kept.iter()
        .filter(|s| s.topo == "split" && s.cpus == 1 && s.case == case && proto(s))
        .filter(|s| s.peer == "lanes" || s.peer == "-")
        .map(|s| (s.rep, *s))
        .collect()
}

/// The receiving (or sending) side's CPUs of `s`.
fn side(s: &Sample, tx: bool) -> Range<u32> {
    if tx { s.tx_side() } else { s.rx_side() }
}

/// The [`fit`] of `case` per round on the receiving (or sending) side.
fn fits(kept: &[&Sample], case: &str, tx: bool) -> BTreeMap<u32, (f64, f64)> {
    let sat = at_one(kept, case, |s| s.proto == SATURATED);
    let bounded = at_one(kept, case, low_rate);
    sat.iter()
        .filter_map(|(rep, s)| {
            let b = bounded.get(rep)?;
            Some((*rep, fit(s, b, side(s, tx))?))
        })
        .collect()
}

/// Marginal costs of `case` per round on the receiving (or sending) side.
fn rounds(kept: &[&Sample], case: &str, tx: bool) -> BTreeMap<u32, f64> {
    fits(kept, case, tx)
        .into_iter()
        .map(|(r, f)| (r, f.1))
        .collect()
}

/// The model's cases: each gives an intercept per round.
const CASES: [&str; 5] = ["plain", "one-sa", "pcpu", "pcpu-xdp-pass", "pcpu-steer"];

/// The intercept of one side, every case and round pooled.
fn intercept(kept: &[&Sample], tx: bool) -> Option<Summary> {
    let v: Vec<f64> = CASES
        .iter()
        .flat_map(|c| fits(kept, c, tx).into_values().map(|f| f.0))
        .collect();
    Summary::of(&v).ok()
}

/// Busy share of the receiving (or sending) CPUs in the saturated runs of
/// `case`.
fn saturated_busy(kept: &[&Sample], case: &str, tx: bool) -> Option<Summary> {
    let v: Vec<f64> = at_one(kept, case, |s| s.proto == SATURATED)
        .values()
        .filter_map(|s| s.cpu_seconds(side(s, tx)))
        .filter(|(_, w)| *w > 0.0)
        .map(|(b, w)| b / w)
        .collect();
    Summary::of(&v).ok()
}

/// The costs from the kept split, 1-per-side samples (and the live-frames
/// share of the same boot, if any); `Err` names what is missing.
pub fn costs(kept: &[&Sample], live: Option<Live>) -> Result<Costs, String> {
    let get = |case: &str, tx: bool| {
        let v: Vec<f64> = rounds(kept, case, tx).into_values().collect();
        Summary::of(&v).map_err(|_| {
            format!("no `{case}` rows at both {SATURATED} and {LOW} at --topo split --cpus 1")
        })
    };
    let (pcpu, steer) = (
        rounds(kept, "pcpu", false),
        rounds(kept, "pcpu-steer", false),
    );
    let hop: Vec<f64> = steer
        .iter()
        .filter_map(|(r, s)| pcpu.get(r).map(|p| s - p))
        .collect();
    Ok(Costs {
        plain: get("plain", false)?,
        one_sa: get("one-sa", false)?,
        pcpu: get("pcpu", false)?,
        xdp_pass: get("pcpu-xdp-pass", false)?,
        steer: get("pcpu-steer", false)?,
        tx_pcpu: get("pcpu", true)?,
        hop: Summary::of(&hop).map_err(|_| "no round has both pcpu and pcpu-steer".to_string())?,
        b_rx: intercept(kept, false).ok_or("no intercept on the receiving side")?,
        b_tx: intercept(kept, true).ok_or("no intercept on the sending side")?,
        live,
    })
}

/// Packets/s gw-b received in the saturated runs of `case`, by N (lanes
/// on gw-a): the quantity the model predicts.
fn measured(kept: &[&Sample], case: &str) -> Vec<(u32, Summary)> {
    let mut ns: Vec<u32> = kept.iter().map(|s| s.cpus).collect();
    ns.sort_unstable();
    ns.dedup();
    ns.into_iter()
        .filter_map(|n| {
            let v: Vec<f64> = kept
                .iter()
                .filter(|s| s.topo == "split" && s.cpus == n && s.case == case)
                .filter(|s| s.proto == SATURATED && (s.peer == "lanes" || s.peer == "-"))
                .map(|s| s.pps)
                .collect();
            Summary::of(&v).ok().map(|s| (n, s))
        })
        .collect()
}

fn mbps(pps: f64) -> f64 {
    pps * PAYLOAD_BITS / 1e6
}

/// The model's section of the report; `spin` is the busy share of a
/// spinning CPU in the same boot (the accounting's calibration), if taken.
pub fn section(kept: &[&Sample], c: &Costs, spin: Option<f64>) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Marginal busy CPU µs per packet (the slope between the bounded and the saturated run \
         of each case in each round, so busy time that does not grow with the rate drops \
         out), split topology, 1 CPU per side, 1400-byte payloads, lanes on gw-a; median \
         [min–max] over the kept rounds:\n\n\
         | component | µs/packet | from |\n|---|---|---|\n\
         | receive + forward + delivery, no ESP (a) | {} | plain |\n\
         | the same with ESP input, per-CPU SA (l) | {} | pcpu |\n\
         | the same, one SA | {} | one-sa |\n\
         | the same with XDP_PASS attached | {} | pcpu-xdp-pass |\n\
         | the same with steering (XDP + lookup + cpumap hop) | {} | pcpu-steer |\n\
         | XDP + lookup + cpumap hop (h) | {} | pcpu-steer − pcpu, paired by round |\n\
         | sending side (client + gw-a encryption), per-CPU SAs (t) | {} | pcpu, CPUs 0..N-1 |\n\
         | the receiving CPU's share with steering, live frames (h_live) | {} | steering program, \
         BPF_PROG_TEST_RUN with live frames, one bound SPI, redirect to another CPU |\n\
         | the XDP_PASS floor, live frames (skb + stack for an ESP frame with no SA) | {} | \
         the same test run, the floor program |\n",
        c.plain.range(),
        c.pcpu.range(),
        c.one_sa.range(),
        c.xdp_pass.range(),
        c.steer.range(),
        c.hop.range(),
        c.tx_pcpu.range(),
        c.live
            .map_or_else(|| "not measured".into(), |l| l.steer.range()),
        c.live
            .map_or_else(|| "not measured".into(), |l| l.floor.range()),
    );
    let pct = |s: &Summary| {
        format!(
            "{:.0} % [{:.0}–{:.0}]",
            s.median * 100.0,
            s.min * 100.0,
            s.max * 100.0
        )
    };
    let _ = writeln!(
        md,
        "Each fit's intercept b is the busy time that does not grow with the rate: the guest's \
         own background, plus whatever a packet costs more at the low rate than when saturated \
         (at the low rate each packet wakes an idle CPU; saturated, they come in batches). The \
         model extrapolates the measured line busy = b + c·rate to a fully busy CPU, so a CPU \
         carries (1 − b)/c packets/s. Here b = {} of a receiving CPU's time and b_tx = {} of a \
         sending CPU's (every case and round pooled).\n",
        pct(&c.b_rx),
        pct(&c.b_tx),
    );
    let _ = writeln!(
        md,
        "Decryption alone (l − a) is {:.1} µs. Over the rounds h spreads over {}–{} µs: {} {}\n",
        c.decrypt(),
        stats::sig(c.hop.min),
        stats::sig(c.hop.max),
        if c.hop.min > 0.0 {
            "every round above zero, so the hop is resolved."
        } else {
            "some rounds at or below zero, so at this resolution the hop is not told apart from \
             zero."
        },
        match c.live {
            Some(l) => format!(
                "The live-frames test run measures the receiving CPU's share directly, without \
                 the busy-time noise: {} µs per packet (frame setup, program, lookup and cpumap \
                 enqueue; the remote CPU's skb build and stack are in l). The projection takes \
                 it as h, from its median (optimistic) to its largest round (pessimistic); the \
                 controls' difference, whose range includes both zero and far larger values, \
                 cannot narrow it and is shown as a cross-check only.",
                l.steer.range()
            ),
            None => "The pessimistic band takes its largest round.".into(),
        }
    );
    let _ = writeln!(
        md,
        "How CPU time is measured: per-CPU busy jiffies of /proc/stat (user, nice, system, irq \
         and softirq; USER_HZ = 100) over each run's window, so a figure carries up to ±10 ms of \
         busy time per CPU and run. perf is not used: the guest image carries no perf built \
         for its kernel, and QEMU TCG gives the guest no PMU, so cycle counts do not exist \
         there; longer windows (`--duration`) and more rounds (`--reps`) are what narrow h \
         on this machine. Under KVM with a PMU, perf would attribute the hop directly.\n"
    );
    let _ = writeln!(
        md,
        "Model (packets/s gw-b receives; Mbit/s at 1400-byte payloads): one SA = (1 − b)/l₁ \
         whatever N, as one CPU receives and decrypts it; per-CPU SAs with steering = \
         min((1 − b)/(h + l/N), N(1 − b_tx)/t): the receiving CPU pays h for every packet and \
         decrypts its own share, each other CPU decrypts 1/N (cpumap builds the skb on the \
         target CPU), and the sender scales with its per-CPU SAs. The band runs from h = its \
         median (optimistic) to h = its largest round (pessimistic), h_live where it was \
         measured. A real NIC's receive \
         (descriptor, DMA sync) differs from the test run's frame setup; under TCG the \
         virtio device's own work runs in QEMU, outside the guest's CPU time. Assumptions: \
         costs per packet do not grow with N (no shared cache lines, locks or memory \
         bandwidth limit: exactly what a larger machine must confirm), and the NIC delivers the tunnel on one queue (the wire topology).\n"
    );
    check_table(&mut md, kept, c, spin);
    let knee = |p: bool| {
        let k = c.knee(p);
        if k.is_finite() {
            format!("{k:.0}")
        } else {
            "never (h not resolved)".into()
        }
    };
    let _ = writeln!(
        md,
        "\nProjection (chart `model.svg`): one SA stays at {:.1} Mbit/s; per-CPU SAs with \
         steering reach {:.1}–{:.1} Mbit/s at 16 CPUs per side; the receiving CPU's hop \
         becomes the limit from N ≈ {} (pessimistic; optimistic: {}). A machine with at least \
         2N free cores must show, on `cargo xtask testbed --topo split --cpus 1,2,4,8`: \
         pcpu-steer within the band at every N and ≥ 0.9·N × one SA below the knee; \
         decryption balance max/mean ≤ 1.1 with steering and = N without it; no softnet, \
         UdpRcvbufErrors or xfrm_stat drops at the bounded rates; the controls (pcpu-xdp-pass, \
         pcpu-cpumap-self) within a few % of pcpu at N = 1. A curve that bends below the band \
         before the knee means a per-packet cost that grows with N.\n",
        mbps(c.one_sa_pps()),
        mbps(c.steer_pps(MAX_N, true)),
        mbps(c.steer_pps(MAX_N, false)),
        knee(true),
        knee(false),
    );
    md
}

/// Measured / model at N = 1 that counts as agreement.
const CHECK_OK: (f64, f64) = (0.8, 1.25);
/// Busy share from which a saturated run counts as limited by that CPU.
const CPU_BOUND: f64 = 0.95;

/// The model at N = 1 against the packets gw-b received when saturated.
fn check_table(md: &mut String, kept: &[&Sample], c: &Costs, spin: Option<f64>) {
    let _ = writeln!(
        md,
        "| check at 1 CPU per side | model pkt/s | gw-b received pkt/s, saturated (median \
         [min–max]) | measured / model | CPU busy, saturated: receiving, sending |\n\
         |---|---|---|---|---|"
    );
    let tx = c.tx_pps(1);
    let mut off = Vec::new();
    let (mut idle, mut idle_tx) = (Vec::new(), Vec::new());
    for (case, pps) in [
        ("one-sa", c.one_sa_pps().min(tx)),
        ("pcpu", c.pcpu_pps()),
        ("pcpu-steer", c.steer_pps(1, false)),
    ] {
        let m = measured(kept, case).into_iter().find(|(n, _)| *n == 1);
        let (meas, ratio) = match m {
            Some((_, s)) => {
                let r = s.median / pps;
                if !(CHECK_OK.0..=CHECK_OK.1).contains(&r) {
                    off.push(format!("{case} {r:.2}"));
                }
                (s.range(), format!("{r:.2}"))
            }
            None => ("not measured".into(), "-".into()),
        };
        let mut cells = Vec::new();
        for (sending, list) in [(false, &mut idle), (true, &mut idle_tx)] {
            let busy = saturated_busy(kept, case, sending);
            if let Some(u) = busy.filter(|u| u.median < CPU_BOUND) {
                list.push(format!("{case} {:.0} %", u.median * 100.0));
            }
            cells.push(busy.map_or_else(|| "-".into(), |u| format!("{:.0} %", u.median * 100.0)));
        }
        let busy = cells.join(", ");
        let _ = writeln!(md, "| {case} | {pps:.0} | {meas} | {ratio} | {busy} |");
    }
    let calibration = spin.map_or_else(String::new, |u| {
        format!(
            "; a CPU spinning in this boot reads {:.0} % busy in the same accounting, so this \
             is time the CPU waited, not time the guest failed to count",
            u * 100.0
        )
    });
    let idle_text = if idle_tx.is_empty() {
        format!(
            "the saturated runs left the receiving CPU idle part of the time in the guest's own \
             accounting (busy {}; a run this CPU limits keeps it ≥ {:.0} % busy{calibration}) \
             while the sending CPUs were busy: the sender set the rate",
            idle.join(", "),
            CPU_BOUND * 100.0
        )
    } else {
        format!(
            "the saturated runs left the receiving CPU idle part of the time in the guest's own \
             accounting (busy {}) and the sending CPUs too (busy {}), where a run one of them \
             limits keeps it ≥ {:.0} % busy{calibration}: neither set the rate, each side \
             waited for the other. Under TCG on shared host cores a wake-up across vCPUs goes \
             through the host's scheduler, and the guest sees that wait as idle",
            idle.join(", "),
            idle_tx.join(", "),
            CPU_BOUND * 100.0
        )
    };
    if off.is_empty() && !idle.is_empty() {
        let _ = writeln!(
            md,
            "\nThe check agrees, but {idle_text}: the agreement is not evidence for the costs."
        );
    }
    if !off.is_empty() {
        let why = if idle.is_empty() {
            "The receiving CPU was busy in the saturated runs, so the cost per packet itself \
             differs between the two rates: the slope is noisy (lower `--udp-pps`, lengthen \
             `--duration`) or a cost grows with the rate."
                .to_string()
        } else {
            let mut t = idle_text.clone();
            t[..1].make_ascii_uppercase();
            format!(
                "{t}; on such a host the check says nothing about the costs, and the projection \
                 needs a host with free cores."
            )
        };
        let _ = writeln!(
            md,
            "\n**The check misses on this run** ({}; outside {}–{}): busy time on a straight \
             line in the rate, up to a fully busy CPU, does not describe N = 1 here, so the \
             projection below is not evidence. {why}",
            off.join(", "),
            CHECK_OK.0,
            CHECK_OK.1
        );
    }
    let _ = writeln!(
        md,
        "\nThis check is in-sample (the costs come from the same rounds), so agreement shows \
         that busy time on a straight line in the rate, up to a fully busy CPU, describes \
         N = 1; only runs at N > 1 can test the projection. The model predicts what gw-b \
         receives and decrypts, not \
         what iperf3 delivers: with gw-b's softirq and the iperf3 server on one CPU, the \
         saturated UDP rows lose most datagrams at the server's socket (UdpRcvbufErrors), and \
         any change that moves decryption out of softirq into the scheduled cpumap kthread \
         (the `cpumap to own CPU` control) lets the server run and multiplies the delivered \
         Mbit/s without adding capacity. That is why the controls, not the plain per-CPU row, \
         are steering's baseline."
    );
}

/// TrueType fonts plotters may use for the charts' text, first found wins.
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a sans-serif font with plotters once (its text layout needs
/// one even for SVG); `Err` names the package to install.
pub fn fonts() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = FONTS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or("no TrueType font for the charts: apt-get install fonts-dejavu-core")?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into()))
            .map_err(|_| "the chart font did not load: reinstall fonts-dejavu-core".to_string())
    })
    .clone()
}

/// A line of the chart: Mbit/s at N.
type Curve<'a> = Box<dyn Fn(f64) -> f64 + 'a>;

/// Draws the projection next to the measured points to `path` (SVG) and
/// next to it as PNG.
pub fn chart(path: &Path, kept: &[&Sample], c: &Costs, title: &str) -> Result<()> {
    fonts().map_err(anyhow::Error::msg)?;
    let size = (900, 560);
    let root = SVGBackend::new(path, size).into_drawing_area();
    paint(&root, kept, c, title)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    let png = path.with_extension("png");
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    paint(&root, kept, c, title)?;
    root.present()
        .with_context(|| format!("writing {}", png.display()))?;
    Ok(())
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    kept: &[&Sample],
    c: &Costs,
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let ymax = (1..=MAX_N)
        .map(|n| mbps(c.steer_pps(n, false)).max(mbps(c.steer_pps(1, false)) * f64::from(n)))
        .fold(1.0, f64::max)
        * 1.05;
    let mut ch = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..f64::from(MAX_N) + 0.5, 0f64..ymax)?;
    ch.configure_mesh()
        .x_desc("CPUs per side (N)")
        .y_desc("Mbit/s gw-b receives (1400-byte UDP payloads)")
        .draw()?;
    let xs = || (1..=MAX_N).map(f64::from);
    let ideal = mbps(c.steer_pps(1, false));
    let lines: [(&str, RGBColor, Curve<'_>); 4] = [
        (
            "ideal N × per-CPU+steering at N=1",
            RGBColor(150, 150, 150),
            Box::new(move |n| ideal * n),
        ),
        (
            "model: per-CPU SAs + steering, optimistic",
            RGBColor(44, 160, 44),
            Box::new(|n| mbps(c.steer_pps(n as u32, false))),
        ),
        (
            "model: per-CPU SAs + steering, pessimistic",
            RGBColor(31, 119, 180),
            Box::new(|n| mbps(c.steer_pps(n as u32, true))),
        ),
        (
            "model: one SA",
            RGBColor(214, 39, 40),
            Box::new(|_| mbps(c.one_sa_pps())),
        ),
    ];
    for (label, col, f) in &lines {
        let col = *col;
        ch.draw_series(LineSeries::new(
            xs().map(|n| (n, f(n))),
            col.stroke_width(2),
        ))?
        .label(*label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    for (case, col) in [
        ("one-sa", RGBColor(214, 39, 40)),
        ("pcpu-steer", RGBColor(44, 160, 44)),
    ] {
        let pts = measured(kept, case);
        ch.draw_series(pts.iter().map(|(n, s)| {
            PathElement::new(
                [(f64::from(*n), mbps(s.min)), (f64::from(*n), mbps(s.max))],
                col,
            )
        }))?;
        ch.draw_series(
            pts.iter()
                .map(|(n, s)| Circle::new((f64::from(*n), mbps(s.median)), 5, col.filled())),
        )?
        .label(format!("measured {case} (median, min–max)"))
        .legend(move |(x, y)| Circle::new((x + 10, y), 5, col.filled()));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: f64) -> Summary {
        Summary::of(&[v]).unwrap()
    }

    fn costs() -> Costs {
        Costs {
            plain: one(20.0),
            one_sa: one(60.0),
            pcpu: one(60.0),
            xdp_pass: one(62.0),
            steer: one(70.0),
            tx_pcpu: one(50.0),
            hop: Summary::of(&[-2.0, 10.0, 20.0]).unwrap(),
            b_rx: one(0.0),
            b_tx: one(0.0),
            live: None,
        }
    }

    #[test]
    fn the_intercept_takes_its_share_of_every_cpu() {
        let c = Costs {
            b_rx: one(0.2),
            b_tx: one(0.5),
            ..costs()
        };
        assert!((c.one_sa_pps() - 0.8e6 / 60.0).abs() < 1e-6);
        assert!((c.steer_pps(4, false) - 0.8e6 / 25.0).abs() < 1e-6);
        // A slow sender: 2 CPUs at half their time, 500 µs a packet.
        let slow = Costs {
            tx_pcpu: one(500.0),
            ..c
        };
        assert!((slow.steer_pps(2, false) - 2000.0).abs() < 1e-6);
        // An intercept over the whole CPU leaves nothing, never a negative rate.
        let full = Costs {
            b_rx: one(1.3),
            ..costs()
        };
        assert_eq!(full.one_sa_pps(), 0.0);
    }

    #[test]
    fn components_and_limits() {
        let c = costs();
        assert_eq!(c.decrypt(), 40.0);
        // Optimistic: h 10 µs, l 60 µs.
        assert!((c.steer_pps(1, false) - 1e6 / 70.0).abs() < 1e-6);
        assert!((c.steer_pps(4, false) - 1e6 / 25.0).abs() < 1e-6);
        assert!((c.steer_pps(16, false) - 1e6 / 13.75).abs() < 1e-6);
        // Pessimistic: h is the largest round, 20 µs.
        assert!((c.steer_pps(16, true) - 1e6 / 23.75).abs() < 1e-6);
        assert!((c.knee(false) - 6.0).abs() < 1e-9);
        assert!((c.knee(true) - 3.0).abs() < 1e-9);
        // The sender caps it when its cost dominates.
        let slow = Costs {
            tx_pcpu: one(500.0),
            ..c
        };
        assert!((slow.steer_pps(2, false) - 4000.0).abs() < 1e-6);
        assert!((c.one_sa_pps() - 1e6 / 60.0).abs() < 1e-9);
        // An unresolved hop never saturates the receiving CPU.
        let free = Costs {
            hop: one(-3.0),
            ..c
        };
        assert!(free.knee(false).is_infinite());
        assert!((free.steer_pps(16, false) - 16e6 / 60.0).abs() < 1e-6);
    }

    #[test]
    fn a_live_frames_hop_resolves_what_the_controls_do_not() {
        let ms = crate::bench::raw::parse(
            "@@RAW esp4-hot-live-m1 steer 0 0 1 90000 ns\n\
             @@RAW esp4-hot-live-m1 floor 0 1 1 90000 ns\n\
             @@RAW esp4-hot-live-m1 steer 1 0 0 5000 ns\n\
             @@RAW esp4-hot-live-m1 floor 1 1 0 30000 ns\n\
             @@RAW esp4-hot-live-m1 floor 2 0 0 32000 ns\n\
             @@RAW esp4-hot-live-m1 steer 2 1 0 7000 ns\n\
             @@RAW esp4-hot-prog-m1 steer 1 0 0 100 ns\n",
        )
        .unwrap();
        let live = Live::from_raw(&ms).expect("live");
        // The warm-up round is left out; ns become µs.
        assert_eq!((live.steer.median, live.steer.max), (6.0, 7.0));
        assert_eq!(live.floor.median, 31.0);
        let c = Costs {
            hop: one(-3.0),
            live: Some(live),
            ..costs()
        };
        // h = 6 µs (optimistic), 7 (pessimistic: the live largest round).
        assert!((c.knee(false) - 10.0).abs() < 1e-9);
        assert!((c.steer_pps(16, true) - 1e6 / (7.0 + 60.0 / 16.0)).abs() < 1e-6);
        assert!(Live::from_raw(&[]).is_none());
    }

    fn run(proto: &str, rx: u64, busy: u64, total: u64) -> Sample {
        Sample::parse(
            1,
            2,
            &format!(
                "topo=split case=pcpu peer=lanes proto={proto} rep=1 mbps=1 pps=1 rx={rx} \
                 jif=0:10/0/100,1:{busy}/0/{total}"
            ),
        )
    }

    #[test]
    fn the_marginal_cost_cancels_a_fixed_background() {
        // CPU 1: 20 % background, 100 µs per packet, windows of 4 s and 2 s.
        let bounded = run(LOW, 2000, 80 + 20, 400);
        let sat = run(SATURATED, 15000, 40 + 150, 200);
        let (b0, c) = fit(&sat, &bounded, sat.rx_side()).unwrap();
        assert!((c - 100.0).abs() < 1e-6, "{c}");
        assert!((b0 - 0.2).abs() < 1e-9, "{b0}");
        // The naive busy/packets of the bounded run is 5× too high.
        assert_eq!(bounded.us_per_packet(bounded.rx_side()), Some(500.0));
        // Equal rates cannot separate the two.
        assert_eq!(fit(&bounded, &bounded, 1..2), None);
    }

    /// A run of `case`: CPU 1 (receiving) busy `busy` of `total` jiffies;
    /// CPU 0 (sending) 10 % busy.
    fn case_run(case: &str, proto: &str, rx: u64, busy: u64, total: u64) -> Sample {
        let pps = rx as f64 / (total as f64 / 100.0);
        Sample::parse(
            1,
            2,
            &format!(
                "topo=split case={case} peer=lanes proto={proto} rep=1 mbps=1 pps={pps} rx={rx} \
                 jif=0:{}/0/{total},1:{busy}/0/{total}",
                total / 10
            ),
        )
    }

    /// Every case: 20 % background, 100 µs a packet; the saturated run 2 s
    /// with the receiving CPU `sat_busy` of 200 jiffies busy.
    fn check_text(sat_busy: u64) -> (Costs, String) {
        let rx = (sat_busy - 40) * 100;
        let runs: Vec<Sample> = CASES
            .iter()
            .flat_map(|c| {
                [
                    case_run(c, LOW, 2000, 100, 400),
                    case_run(c, SATURATED, rx, sat_busy, 200),
                ]
            })
            .collect();
        let kept: Vec<&Sample> = runs.iter().collect();
        let c = super::costs(&kept, None).expect("costs");
        let mut md = String::new();
        check_table(&mut md, &kept, &c, Some(1.0));
        (c, md)
    }

    #[test]
    fn the_check_agrees_when_the_saturated_cpu_is_busy() {
        let (c, md) = check_text(200);
        assert!((c.b_rx.median - 0.2).abs() < 1e-9, "{:?}", c.b_rx);
        assert!((c.pcpu.median - 100.0).abs() < 1e-6, "{:?}", c.pcpu);
        assert!(
            md.contains("| one-sa | 8000 | 8000 [8000–8000] | 1.00 | 100 %, 10 % |"),
            "{md}"
        );
        assert!(md.contains("| pcpu-steer | 8000 |"), "{md}");
        assert!(!md.contains("misses"), "{md}");
    }

    #[test]
    fn an_agreement_with_an_idle_cpu_is_not_evidence() {
        // 90 % busy: 14000 packets in 2 s, 0.88 of the model, inside the band.
        let (_, md) = check_text(180);
        assert!(
            md.contains("| one-sa | 8000 | 7000 [7000–7000] | 0.88 | 90 %, 10 % |"),
            "{md}"
        );
        assert!(!md.contains("misses"), "{md}");
        assert!(
            md.contains("The check agrees, but the saturated runs left the receiving CPU idle"),
            "{md}"
        );
        assert!(
            md.contains("the agreement is not evidence for the costs"),
            "{md}"
        );
    }

    #[test]
    fn a_saturated_cpu_left_idle_is_named_as_the_cause_of_a_miss() {
        // 75 % busy: 11000 packets in 2 s, 0.69 of the model.
        let (_, md) = check_text(150);
        assert!(
            md.contains("| one-sa | 8000 | 5500 [5500–5500] | 0.69 | 75 %, 10 % |"),
            "{md}"
        );
        assert!(md.contains("**The check misses on this run**"), "{md}");
        assert!(
            md.contains(
                "(busy one-sa 75 %, pcpu 75 %, pcpu-steer 75 %) and the sending CPUs too (busy \
                 one-sa 10 %, pcpu 10 %, pcpu-steer 10 %), where a run one of them limits keeps \
                 it ≥ 95 % busy; a CPU spinning in this boot reads 100 % busy in the same \
                 accounting, so this is time the CPU waited"
            ),
            "{md}"
        );
    }

    #[test]
    fn missing_controls_are_named() {
        let e = super::costs(&[], None).unwrap_err();
        assert!(e.contains("`plain`"), "{e}");
    }
}
