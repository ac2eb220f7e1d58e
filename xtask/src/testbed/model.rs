//! A per-packet cost model of the receive side, from the testbed's own
//! controls on the split topology at a bounded UDP rate (so every CPU
//! tick counted went to packets that were delivered), and its projection
//! to 16 CPUs per side next to the measured points.
//!
//! Costs are busy CPU µs per packet gw-b received (`/proc/stat` ticks of
//! the receiving side's CPUs over gw-b's wan `rx_packets`):
//! `plain` = receive + forward + delivery without ESP; `pcpu - plain` =
//! decryption of one SA's packet (ESP input, `net/ipv4/esp4.c`);
//! `xdp-pass - pcpu` = XDP attached; `cpumap-self - xdp-pass` = the
//! steering lookup and the cpumap hop (`kernel/bpf/cpumap.c`).

use super::sample::Sample;
use crate::stats::{self, Summary};
use anyhow::{Context, Result};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Bits per packet of the projection: a 1400-byte UDP payload.
const PAYLOAD_BITS: f64 = 1400.0 * 8.0;
/// CPUs per side the chart projects to.
const MAX_N: u32 = 16;

/// Median per-packet costs (µs) at one CPU per side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub plain: f64,
    pub one_sa: f64,
    pub pcpu: f64,
    pub xdp_pass: f64,
    pub cpumap_self: f64,
    /// The sending side's cost with per-CPU SAs (client + gw-a).
    pub tx_pcpu: f64,
}

impl Costs {
    pub fn decrypt(&self) -> f64 {
        self.pcpu - self.plain
    }
    pub fn xdp(&self) -> f64 {
        self.xdp_pass - self.pcpu
    }
    pub fn redirect(&self) -> f64 {
        self.cpumap_self - self.xdp_pass
    }

    /// Packets/s of one SA: one CPU receives and decrypts all of it.
    pub fn one_sa_pps(&self) -> f64 {
        1e6 / self.one_sa
    }

    /// Packets/s of per-CPU SAs with steering over `n` CPUs per side, with
    /// the unencrypted path on the receiving CPU (`pessimistic`) or on the
    /// decrypting CPUs. The receiving CPU is also one of the `n` decrypting
    /// CPUs (split binds the SA of sending CPU 0 to it), so it carries
    /// `h + l/n` per packet; the sending side scales with its SAs.
    pub fn steer_pps(&self, n: u32, pessimistic: bool) -> f64 {
        let hop = (self.xdp() + self.redirect()).max(0.0);
        let (h, lane) = if pessimistic {
            (self.plain + hop, self.decrypt())
        } else {
            (hop, self.plain + self.decrypt())
        };
        let n = f64::from(n);
        (1e6 / (h + lane / n)).min(n * 1e6 / self.tx_pcpu)
    }

    /// Knee: the N where the receiving CPU saturates (optimistic case).
    pub fn knee(&self) -> f64 {
        let hop = (self.xdp() + self.redirect()).max(f64::EPSILON);
        (self.plain + self.decrypt()) / hop
    }
}

fn median_cost(kept: &[&Sample], case: &str, proto: &str, tx: bool) -> Option<f64> {
    let v: Vec<f64> = kept
        .iter()
        .filter(|s| s.topo == "split" && s.cpus == 1 && s.case == case && s.proto == proto)
        .filter(|s| s.peer == "lanes" || s.peer == "-")
        .filter_map(|s| s.us_per_packet(if tx { s.tx_side() } else { s.rx_side() }))
        .collect();
    Summary::of(&v).ok().map(|s| s.median)
}

/// The costs from the kept split, 1-per-side, bounded `proto` samples;
/// `Err` names what is missing.
pub fn costs(kept: &[&Sample], proto: &str) -> Result<Costs, String> {
    let get = |case: &str, tx: bool| {
        median_cost(kept, case, proto, tx).ok_or_else(|| {
            format!("no `{case}` {proto} rows at --topo split --cpus 1 (gw-a lanes)")
        })
    };
    Ok(Costs {
        plain: get("plain", false)?,
        one_sa: get("one-sa", false)?,
        pcpu: get("pcpu", false)?,
        xdp_pass: get("pcpu-xdp-pass", false)?,
        cpumap_self: get("pcpu-cpumap-self", false)?,
        tx_pcpu: get("pcpu", true)?,
    })
}

/// Measured saturated (`udp`, -b 0, 1400-byte payloads) Mbit/s on split
/// by case and N, lanes on gw-a.
fn measured(kept: &[&Sample], case: &str) -> Vec<(u32, Summary)> {
    let mut ns: Vec<u32> = kept.iter().map(|s| s.cpus).collect();
    ns.sort_unstable();
    ns.dedup();
    ns.into_iter()
        .filter_map(|n| {
            let v: Vec<f64> = kept
                .iter()
                .filter(|s| s.topo == "split" && s.cpus == n && s.case == case)
                .filter(|s| s.proto == "udp" && s.peer == "lanes")
                .map(|s| s.value)
                .collect();
            Summary::of(&v).ok().map(|s| (n, s))
        })
        .collect()
}

fn mbps(pps: f64) -> f64 {
    pps * PAYLOAD_BITS / 1e6
}

/// The model's section of the report.
pub fn section(kept: &[&Sample], c: &Costs, proto: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Per-packet busy CPU µs of the receiving side (gw-b's CPU and the server's), \
         split topology, 1 CPU per side, {proto} at the bounded rate, medians of the kept rounds:\n\n\
         | component | µs/packet | from |\n|---|---|---|\n\
         | receive + forward + delivery, no ESP (a) | {:.1} | plain |\n\
         | decryption, per-CPU SA (d) | {:.1} | pcpu − plain |\n\
         | decryption, one SA | {:.1} | one-sa − plain |\n\
         | XDP attached | {:.1} | pcpu-xdp-pass − pcpu |\n\
         | steering lookup + cpumap hop | {:.1} | pcpu-cpumap-self − pcpu-xdp-pass |\n\
         | sending side (client + gw-a encryption), per-CPU SAs | {:.1} | pcpu, CPUs 0..N-1 |\n",
        c.plain,
        c.decrypt(),
        c.one_sa - c.plain,
        c.xdp(),
        c.redirect(),
        c.tx_pcpu
    );
    let _ = writeln!(
        md,
        "Model (packets/s; Mbit/s at 1400-byte payloads): one SA = 1/(a + d₁) whatever N, as one \
         CPU receives and decrypts it; per-CPU SAs with steering = min(1/h, N/l, N/t) with h the \
         receiving CPU's share, l each decrypting CPU's share and t the sending side's cost per \
         CPU. Optimistic: h = XDP + hop, l = a + d (the skb is built and forwarded on the \
         decrypting CPU, as cpumap does); pessimistic: h = a + XDP + hop, l = d. Assumptions: \
         costs per packet do not grow with N (no shared cache lines, locks or memory bandwidth \
         limit: exactly what a larger machine must confirm), the sender scales with its per-CPU \
         SAs, and the NIC delivers the tunnel on one queue (the wire topology).\n"
    );
    let _ = writeln!(
        md,
        "| check at 1 CPU per side | model Mbit/s | measured udp Mbit/s (median [min–max]) | measured / model |\n|---|---|---|---|"
    );
    let tx = 1e6 / c.tx_pcpu;
    for (case, cost) in [
        ("one-sa", c.one_sa),
        ("pcpu", c.pcpu),
        ("pcpu-steer", c.cpumap_self),
    ] {
        let model = mbps((1e6 / cost).min(tx));
        let m = measured(kept, case).into_iter().find(|(n, _)| *n == 1);
        let (meas, ratio) = match m {
            Some((_, s)) => (
                format!(
                    "{} [{}–{}]",
                    stats::sig(s.median),
                    stats::sig(s.min),
                    stats::sig(s.max)
                ),
                format!("{:.2}", s.median / model),
            ),
            None => ("not measured".into(), "-".into()),
        };
        let _ = writeln!(md, "| {case} | {model:.1} | {meas} | {ratio} |");
    }
    let _ = writeln!(
        md,
        "\nProjection (chart `model.svg`): one SA stays at {:.1} Mbit/s; per-CPU SAs with steering \
         reach {:.1}–{:.1} Mbit/s at 16 CPUs per side, the receiving CPU saturating from N ≈ {:.0} \
         (optimistic). A machine with at least 2N free cores must show, on \
         `cargo xtask testbed --topo split --cpus 1,2,4,8`: pcpu-steer within the band at every N \
         and ≥ 0.9·N × one SA below the knee; decryption balance max/mean ≤ 1.1 with steering \
         and = N without it; no softnet, UdpRcvbufErrors or xfrm_stat drops at the bounded rates; \
         the controls (pcpu-xdp-pass, pcpu-cpumap-self) within a few % of pcpu at N = 1. A curve \
         that bends below the band before the knee means a per-packet cost that grows with N.\n",
        mbps(c.one_sa_pps()),
        mbps(c.steer_pps(MAX_N, true)),
        mbps(c.steer_pps(MAX_N, false)),
        c.knee()
    );
    md
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

/// Draws the projection next to the measured points to `path` (SVG).
pub fn chart(path: &Path, kept: &[&Sample], c: &Costs, title: &str) -> Result<()> {
    fonts().map_err(anyhow::Error::msg)?;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let ymax = (1..=MAX_N)
        .map(|n| mbps(c.steer_pps(n, false)).max(mbps(c.steer_pps(1, false)) * f64::from(n)))
        .fold(1.0, f64::max)
        * 1.05;
    let mut ch = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..f64::from(MAX_N) + 0.5, 0f64..ymax)?;
    ch.configure_mesh()
        .x_desc("CPUs per side (N)")
        .y_desc("Mbit/s (1400-byte UDP payloads)")
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
            PathElement::new([(f64::from(*n), s.min), (f64::from(*n), s.max)], col)
        }))?;
        ch.draw_series(
            pts.iter()
                .map(|(n, s)| Circle::new((f64::from(*n), s.median), 5, col.filled())),
        )?
        .label(format!("measured {case} (median, min–max)"))
        .legend(move |(x, y)| Circle::new((x + 10, y), 5, col.filled()));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs() -> Costs {
        Costs {
            plain: 20.0,
            one_sa: 60.0,
            pcpu: 60.0,
            xdp_pass: 62.0,
            cpumap_self: 70.0,
            tx_pcpu: 50.0,
        }
    }

    #[test]
    fn components_and_limits() {
        let c = costs();
        assert_eq!((c.decrypt(), c.xdp(), c.redirect()), (40.0, 2.0, 8.0));
        // Optimistic: hop 10 µs, lanes 60 µs: N = 1 pays all 70 on one CPU.
        assert!((c.steer_pps(1, false) - 1e6 / 70.0).abs() < 1e-6);
        assert!((c.steer_pps(1, true) - 1e6 / 70.0).abs() < 1e-6);
        assert!((c.steer_pps(4, false) - 1e6 / 25.0).abs() < 1e-6);
        assert!((c.steer_pps(16, false) - 1e6 / 13.75).abs() < 1e-6);
        // Pessimistic: the receiving CPU keeps 30 µs of every packet.
        assert!((c.steer_pps(16, true) - 1e6 / 32.5).abs() < 1e-6);
        // The sender caps it when its cost dominates.
        let slow = Costs {
            tx_pcpu: 500.0,
            ..c
        };
        assert!((slow.steer_pps(2, false) - 4000.0).abs() < 1e-6);
        assert!((c.knee() - 6.0).abs() < 1e-9);
        assert!((c.one_sa_pps() - 1e6 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn missing_controls_are_named() {
        let e = super::costs(&[], "udp1400").unwrap_err();
        assert!(e.contains("`plain` udp1400"), "{e}");
    }
}
