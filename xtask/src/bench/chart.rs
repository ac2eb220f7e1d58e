//! Cost-vs-size charts of `cargo xtask bench`, SVG and PNG from the same
//! drawing code (plotters), from the run's own raw files.
//!
//! Every chart is drawn from curve points with the columns of a curve CSV,
//! `impl,tunnels,metric,median,min,max`:
//! - `impl`: the implementation or arm (`lanes`, `charon`, `floor`, ...),
//!   told apart by colour and by marker;
//! - `tunnels`: the size on the x axis (connections, SAs, bindings), drawn
//!   on a log scale;
//! - `metric`: one panel per metric, each with its own y axis (so a small
//!   figure is never squashed under a large one), named `name (unit)`;
//! - `median`, `min`, `max`: the point and its min–max bar.
//!
//! A section that measures curves elsewhere (the VM's memory per IKE SA and
//! setup rate vs tunnels, lanes and charon) writes them as
//! `<run dir>/<name>.curve.csv`; [`draw_curve_files`] draws each one as
//! `<name>.svg` and `<name>.png` at the end of the run.
//!
//! A grey line per panel is the ideal: the first series' cost at the
//! smallest size held flat (cost that does not grow with size).

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// One point of a curve (a row of a curve CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub imp: String,
    pub tunnels: f64,
    pub metric: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub const CURVE_HEADER: &str = "impl,tunnels,metric,median,min,max";

/// Reads a curve CSV (header [`CURVE_HEADER`]).
pub fn read_curve_csv(text: &str) -> Result<Vec<Point>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().context("empty curve CSV")?;
    if header.trim() != CURVE_HEADER {
        bail!("curve CSV header is `{header}`; expected `{CURVE_HEADER}`");
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let [imp, n, metric, med, min, max] = f.as_slice() else {
                bail!(
                    "curve CSV line {}: {} fields, expected 6: `{l}`",
                    i + 2,
                    f.len()
                );
            };
            let num = |s: &str| {
                s.parse::<f64>()
                    .with_context(|| format!("curve CSV line {}: `{s}` is not a number", i + 2))
            };
            Ok(Point {
                imp: (*imp).to_string(),
                tunnels: num(n)?,
                metric: (*metric).to_string(),
                median: num(med)?,
                min: num(min)?,
                max: num(max)?,
            })
        })
        .collect()
}

/// Draws every `*.curve.csv` in `dir` (see the module docs); returns the
/// chart stems drawn.
pub fn draw_curve_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut drawn = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = e?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".curve.csv"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let points = read_curve_csv(&text).with_context(|| format!("{}", path.display()))?;
        let out = dir.join(stem);
        draw(&out, &stem.replace(['-', '_'], " "), "tunnels", &points)?;
        drawn.push(out);
    }
    drawn.sort();
    Ok(drawn)
}

/// Writes points as a curve CSV; a comma inside a name becomes `;`, so
/// every row keeps the header's six fields.
pub fn write_curve_csv(points: &[Point]) -> String {
    let mut s = format!("{CURVE_HEADER}\n");
    for p in points {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            p.imp.replace(',', ";"),
            p.tunnels,
            p.metric.replace(',', ";"),
            p.median,
            p.min,
            p.max
        ));
    }
    s
}

/// Draws `points` to `<stem>.svg` and `<stem>.png`.
pub fn draw(stem: &Path, title: &str, x_label: &str, points: &[Point]) -> Result<()> {
    if points.is_empty() {
        bail!("chart `{title}`: no points");
    }
    // Both backends lay text out with a real font.
    if !font_registered() {
        bail!("no TTF font at {FONT} for the charts: apt-get install fonts-dejavu-core");
    }
    let metrics = distinct(points.iter().map(|p| p.metric.as_str()));
    let imps = distinct(points.iter().map(|p| p.imp.as_str()));
    let size = (
        560 * metrics.len().max(1) as u32,
        430 + legend_height(imps.len() + 1),
    );
    let svg = stem.with_extension("svg");
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    paint(&root, title, x_label, points)?;
    root.present().context("writing the SVG chart")?;
    let png = stem.with_extension("png");
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    paint(&root, title, x_label, points)?;
    root.present().context("writing the PNG chart")?;
    Ok(())
}

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers DejaVu Sans for the bitmap backend once; false if absent.
fn font_registered() -> bool {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(|| {
        let Ok(bytes) = std::fs::read(FONT) else {
            return false;
        };
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// The ideal line's colour.
const GREY: RGBColor = RGBColor(150, 150, 150);

/// Eight colours, and four markers: up to eight series differ in colour,
/// and any two in colour or marker.
const COLOURS: [RGBColor; 8] = [
    RGBColor(0, 90, 181),
    RGBColor(220, 50, 32),
    RGBColor(26, 133, 55),
    RGBColor(148, 52, 110),
    RGBColor(230, 140, 0),
    RGBColor(90, 90, 90),
    RGBColor(0, 160, 190),
    RGBColor(150, 100, 30),
];

const LEGEND_COLS: usize = 3;
const LEGEND_ROW: u32 = 22;

/// One legend entry: a line (dashed or solid) of `colour` and `width`,
/// with [`marker`] `marker` on it when given, and its label.
pub struct LegendEntry {
    pub label: String,
    pub colour: RGBColor,
    pub width: u32,
    pub dashed: bool,
    pub marker: Option<usize>,
}

/// Pixels of a legend strip of `entries` entries.
pub fn legend_height(entries: usize) -> u32 {
    16 + LEGEND_ROW * entries.div_ceil(LEGEND_COLS) as u32
}

/// One legend for all panels, drawn in its own strip under them, so no
/// entry covers a point.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let width = i32::try_from(area.dim_in_pixel().0).unwrap_or(900) / LEGEND_COLS as i32;
    let row = LEGEND_ROW as i32;
    for (i, e) in entries.iter().enumerate() {
        let (c, r) = ((i % LEGEND_COLS) as i32, (i / LEGEND_COLS) as i32);
        let (x, y) = (16 + c * width, 8 + r * row + row / 2);
        let style = e.colour.stroke_width(e.width);
        let dashes: &[(i32, i32)] = if e.dashed {
            &[(0, 6), (10, 16), (20, 26)]
        } else {
            &[(0, 26)]
        };
        for (a, b) in dashes {
            area.draw(&PathElement::new([(x + a, y), (x + b, y)], style))
                .map_err(err)?;
        }
        if let Some(m) = e.marker {
            area.draw(&(EmptyElement::at((x + 13, y)) + marker(m, e.colour)))
                .map_err(err)?;
        }
        area.draw(&Text::new(e.label.clone(), (x + 34, y - 7), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    points: &[Point],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(err)?
        .margin(8, 8, 8, 8);
    let metrics = distinct(points.iter().map(|p| p.metric.as_str()));
    let imps = distinct(points.iter().map(|p| p.imp.as_str()));
    let h = root.dim_in_pixel().1;
    let (body, strip) = root.split_vertically(h.saturating_sub(legend_height(imps.len() + 1)));
    let panels = body.split_evenly((1, metrics.len()));
    for (area, metric) in panels.iter().zip(&metrics) {
        let pts: Vec<&Point> = points.iter().filter(|p| p.metric == *metric).collect();
        panel(area, metric, x_label, &pts, &imps)?;
    }
    let ideal = LegendEntry {
        label: "ideal: the first cost held flat".into(),
        colour: GREY,
        width: 2,
        dashed: false,
        marker: None,
    };
    let entries: Vec<LegendEntry> = std::iter::once(ideal)
        .chain(imps.iter().enumerate().map(|(i, imp)| LegendEntry {
            label: imp.to_string(),
            colour: COLOURS[i % COLOURS.len()],
            width: 2,
            dashed: false,
            marker: Some(i),
        }))
        .collect();
    legend(&strip, &entries)
}

fn err<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// One panel: a log-x chart of one metric, a series per implementation.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    x_label: &str,
    pts: &[&Point],
    imps: &[&str],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = bounds(pts.iter().map(|p| p.tunnels));
    let y1 = y_top(pts);
    let mut chart = ChartBuilder::on(area)
        .caption(metric, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(84)
        .build_cartesian_2d((x0 / 2.0..x1 * 2.0).log_scale(), 0.0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(metric)
        .x_label_formatter(&|x| axis(*x))
        .y_label_formatter(&|y| axis(*y))
        .draw()
        .map_err(err)?;
    if let Some(first) = pts.iter().min_by(|a, b| a.tunnels.total_cmp(&b.tunnels)) {
        let ideal = [(x0 / 2.0, first.median), (x1 * 2.0, first.median)];
        chart
            .draw_series(LineSeries::new(ideal, GREY.stroke_width(2)))
            .map_err(err)?;
    }
    for (i, imp) in imps.iter().enumerate() {
        let mut s: Vec<&&Point> = pts.iter().filter(|p| p.imp == *imp).collect();
        if s.is_empty() {
            continue;
        }
        s.sort_by(|a, b| a.tunnels.total_cmp(&b.tunnels));
        series(&mut chart, i, &s, y1)?;
    }
    Ok(())
}

/// The y axis' top: every bar in full, unless one bar's max is far above
/// every median (one outlier repetition); then the axis ends above the
/// medians and such a bar is cut at the top with its max written there.
fn y_top(pts: &[&Point]) -> f64 {
    let (_, med) = bounds(pts.iter().map(|p| p.median));
    let (_, max) = bounds(pts.iter().map(|p| p.max));
    if max <= 2.0 * med {
        max * 1.15
    } else {
        med * 1.6
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, RangedCoordf64>>;

/// A line, min–max bars (cut at `top`, the max written there) and a
/// marker (by index) for one implementation.
fn series<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    i: usize,
    s: &[&&Point],
    top: f64,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let c = COLOURS[i % COLOURS.len()];
    let line: Vec<(f64, f64)> = s.iter().map(|p| (p.tunnels, p.median)).collect();
    chart
        .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
        .map_err(err)?;
    chart
        .draw_series(
            s.iter()
                .map(|p| ErrorBar::new_vertical(p.tunnels, p.min, p.median, p.max.min(top), c, 6)),
        )
        .map_err(err)?;
    let font = ("sans-serif", 11).into_font().color(&c);
    chart
        .draw_series(s.iter().filter(|p| p.max > top).map(|p| {
            EmptyElement::at((p.tunnels, top))
                + Text::new(format!("max {}", axis(p.max)), (4, 2), font.clone())
        }))
        .map_err(err)?;
    chart
        .draw_series(
            line.iter()
                .map(|&(x, y)| EmptyElement::at((x, y)) + marker(i, c)),
        )
        .map_err(err)?;
    Ok(())
}

/// Marker outline by series index: octagon, triangle, diamond, square.
pub fn marker(i: usize, c: RGBColor) -> Polygon<(i32, i32)> {
    let pts = match i % 4 {
        0 => vec![
            (5, 0),
            (3, 3),
            (0, 5),
            (-3, 3),
            (-5, 0),
            (-3, -3),
            (0, -5),
            (3, -3),
        ],
        1 => vec![(0, -6), (6, 5), (-6, 5)],
        2 => vec![(0, -6), (6, 0), (0, 6), (-6, 0)],
        _ => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
    };
    Polygon::new(pts, c.filled())
}

/// A tick label: 10, 1k, 65.5k, 1.05M.
fn axis(x: f64) -> String {
    let short = |v: f64| {
        let s = crate::stats::sig(v);
        match s.contains('.') {
            true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => s,
        }
    };
    match x {
        x if x >= 1e6 => format!("{}M", short(x / 1e6)),
        x if x >= 1e3 => format!("{}k", short(x / 1e3)),
        x => short(x),
    }
}

fn bounds(it: impl Iterator<Item = f64>) -> (f64, f64) {
    it.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<Point> {
        let mut v = Vec::new();
        for (imp, k) in [("lanes", 1.0), ("charon", 3.0)] {
            for n in [10.0f64, 100.0, 1000.0, 10000.0] {
                for (metric, f) in [("KiB per IKE SA", 1.0), ("setups per s", 100.0)] {
                    let m = k * f * (1.0 + n.log10() / 10.0);
                    v.push(Point {
                        imp: imp.into(),
                        tunnels: n,
                        metric: metric.into(),
                        median: m,
                        min: m * 0.9,
                        max: m * 1.1,
                    });
                }
            }
        }
        v
    }

    #[test]
    fn curve_csv_round_trips_and_rejects_bad_rows() {
        let p = pts();
        let csv = write_curve_csv(&p);
        assert!(csv.starts_with("impl,tunnels,metric,median,min,max\n"));
        assert_eq!(read_curve_csv(&csv).expect("read"), p);
        let e = read_curve_csv("impl,x\n").expect_err("header");
        assert!(e.to_string().contains("expected `impl,tunnels"), "{e}");
        let e = read_curve_csv(&format!("{CURVE_HEADER}\nlanes,10,m,1,2\n")).expect_err("short");
        assert!(e.to_string().contains("5 fields, expected 6"), "{e}");
        let e = read_curve_csv(&format!("{CURVE_HEADER}\nlanes,ten,m,1,2,3\n")).expect_err("nan");
        assert!(format!("{e:#}").contains("`ten` is not a number"), "{e:#}");
        let mut q = p[0].clone();
        q.imp = "floor, hot key".into();
        let back = read_curve_csv(&write_curve_csv(&[q])).expect("a comma in a name");
        assert_eq!(back[0].imp, "floor; hot key");
    }

    #[test]
    fn draws_panels_legends_and_markers() {
        let dir = std::env::temp_dir().join(format!("lanes-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let stem = dir.join("mem");
        draw(&stem, "memory and setup rate vs tunnels", "tunnels", &pts()).expect("draw");
        let svg = std::fs::read_to_string(stem.with_extension("svg")).expect("svg");
        for want in [
            "KiB per IKE SA",
            "setups per s",
            "lanes",
            "charon",
            "ideal",
            "<circle",
            "<polygon",
        ] {
            assert!(svg.contains(want), "missing {want}");
        }
        let png = std::fs::read(stem.with_extension("png")).expect("png");
        assert_eq!(&png[1..4], b"PNG");
        assert!(draw(&stem, "empty", "x", &[]).is_err());
        assert_eq!(
            [1.0, 1024.0, 65536.0, 1e6, 1_048_576.0].map(axis),
            ["1", "1.02k", "65.5k", "1M", "1.05M"]
        );
        std::fs::write(dir.join("vm-tunnels.curve.csv"), write_curve_csv(&pts())).expect("csv");
        let drawn = draw_curve_files(&dir).expect("curve files");
        assert_eq!(drawn, vec![dir.join("vm-tunnels")]);
        assert!(dir.join("vm-tunnels.png").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
