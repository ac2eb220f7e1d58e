//! `xdp`: the steering program under `BPF_PROG_TEST_RUN` (ebpf-steer
//! example `steer-bench`), plain and with live frames, at 1 to 1M
//! bindings, hot and cold keys, each next to the `XDP_PASS` floor.

use super::chart::{self, Point};
use super::raw::{self, Measurement};
use super::report::{self, Run};
use super::{Options, Out, capture};
use crate::stats::{HostLoad, Plan};
use crate::util;
use anyhow::Result;

pub fn run(o: &Options, run: &Run) -> Result<Out> {
    crate::build::build_ebpf()?;
    let plan = Plan {
        warmup: 1,
        ..Plan::new(o.reps)
    };
    let (out, host) = HostLoad::around(|| {
        capture(
            util::cargo()
                .args(["run", "--quiet", "--release", "-p", "ebpf-steer"])
                .args(["--example", "steer-bench", "--"])
                .args(["--reps", &o.reps.to_string()])
                .args(["--warmup", &plan.warmup.to_string()])
                .args(["--repeat", &o.xdp_repeat.to_string()])
                .args(["--seed", &plan.seed.to_string()]),
        )
    })?;
    run.keep_output("xdp-steer-bench", &out)?;
    let ms = raw::parse(&out)?;
    let judged = report::judge_section(run, "xdp", &ms, &plan, &host)?;
    let points = curve(&ms)?;
    std::fs::write(
        run.dir.join("xdp-ns-vs-bindings.csv"),
        chart::write_curve_csv(&points),
    )?;
    chart::draw(
        &run.dir.join("xdp-ns-vs-bindings"),
        "XDP steering: ns per packet vs bindings (median, min–max)",
        "bindings in the SPI map",
        &points,
    )?;
    let header = out.lines().next().unwrap_or_default();
    let text = format!(
        "BPF_PROG_TEST_RUN on the host kernel (`{header}`). `prog`: the program alone, verdict \
         not carried out; `live`: BPF_F_TEST_XDP_LIVE_FRAMES, the redirect really enqueues on \
         another CPU's cpumap and the floor's XDP_PASS really builds an skb for this CPU's \
         stack, so in `live` the floor is the cost of the stack path steering replaces. `hot`: \
         one key repeated in the kernel; `cold`: a random bound key per run, one run per \
         syscall. Target: the steering program's ns over the floor in the same round \
         (median).\n\n{}\n![XDP ns vs bindings](xdp-ns-vs-bindings.svg) \
         (PNG: xdp-ns-vs-bindings.png)\n",
        judged.table,
    );
    Ok(Out {
        text,
        targets: Some(judged.targets),
        rows: judged.rows,
    })
}

/// Chart points from measurements named `esp4-{hot|cold}-{prog|live}-m{N}`:
/// a panel per mode (live cold apart), a series per arm and key.
fn curve(ms: &[Measurement]) -> Result<Vec<Point>> {
    let mut points = Vec::new();
    for m in ms {
        let parts: Vec<&str> = m.name.split('-').collect();
        let ["esp4", key, mode, size] = parts.as_slice() else {
            continue;
        };
        let Some(Ok(n)) = size.strip_prefix('m').map(str::parse::<f64>) else {
            continue;
        };
        // Cold live runs pay a syscall-sized setup per frame: their own panel.
        let metric = match (*mode, *key) {
            ("live", "cold") => "live frames with a cold key (1 frame per syscall): ns",
            ("live", _) => "live frames with a hot key: ns per packet",
            _ => "program only: ns per packet",
        };
        for arm in m.arms() {
            let s = m.summary(arm)?;
            let imp = match arm {
                "steer" => format!("lanes steering ({key} key)"),
                _ => format!("XDP_PASS floor ({key} key)"),
            };
            points.push(Point {
                imp,
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
