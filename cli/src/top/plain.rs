//! `lanes top` without a terminal: one block of plain lines per interval.

use std::fmt::Write as _;

use super::rates::View;

/// The header line: tunnel count and the balance figure.
pub fn header(view: &View) -> String {
    let balance = view
        .balance
        .map_or_else(|| "-".to_string(), |b| format!("{b:.2}"));
    format!(
        "lanes top: {} row(s), balance {balance} (max/mean per-CPU decrypt rate, 1.00 is even)",
        view.rows.len()
    )
}

/// The steering line: XDP redirects per second by CPU, then by binding
/// (tunnel and CPU of a bound inbound SPI), if any.
pub fn steering(view: &View) -> Option<String> {
    let bindings: Vec<String> = view
        .rows
        .iter()
        .filter_map(|r| {
            let pps = r.steered_pps?;
            Some(format!("{} {} {pps:.0}/s", r.tunnel, r.cpu_text()))
        })
        .collect();
    if view.redirects.is_empty() && bindings.is_empty() {
        return None;
    }
    let parts: Vec<String> = view
        .redirects
        .iter()
        .map(|(cpu, r)| format!("cpu {cpu} {r:.0}/s"))
        .collect();
    let mut line = format!("steering redirects: {}", parts.join(", "));
    if !bindings.is_empty() {
        line.push_str("; bindings: ");
        line.push_str(&bindings.join(", "));
    }
    Some(line)
}

/// One interval as plain lines: header, one line per tunnel and CPU, steering.
pub fn render(view: &View) -> String {
    let mut s = header(view);
    s.push('\n');
    for r in &view.rows {
        let _ = writeln!(
            s,
            "{:<24} {:<9} in {:>10.0} pps {:>9.2} Mbit/s  out {:>10.0} pps {:>9.2} Mbit/s",
            r.tunnel,
            r.cpu_text(),
            r.pps_in,
            r.mbps_in,
            r.pps_out,
            r.mbps_out
        );
    }
    if view.rows.is_empty() {
        s.push_str("no Child SAs\n");
    }
    if let Some(line) = steering(view) {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::rates::Row;
    use super::*;

    #[test]
    fn rows_per_cpu_with_rates_and_balance() {
        let row = |cpu, pps_in| Row {
            tunnel: "gw-b/net".into(),
            cpu,
            per_cpu: true,
            pps_in,
            mbps_in: pps_in * 0.008,
            pps_out: 10.0,
            mbps_out: 0.08,
            steered_pps: cpu.map(|_| pps_in),
        };
        let view = View {
            rows: vec![row(None, 0.0), row(Some(0), 1500.0), row(Some(1), 500.0)],
            redirects: vec![(0, 2000.0)],
            balance: Some(1.5),
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("balance 1.50"), "{text}");
        assert!(
            lines[1].starts_with("gw-b/net") && lines[1].contains("fallback"),
            "{text}"
        );
        assert!(
            lines[2].contains("cpu 0") && lines[2].contains("1500 pps"),
            "{text}"
        );
        assert!(lines[2].contains("12.00 Mbit/s"), "{text}");
        assert!(
            lines[3].contains("cpu 1") && lines[3].contains("500 pps"),
            "{text}"
        );
        assert_eq!(
            lines[4],
            "steering redirects: cpu 0 2000/s; bindings: gw-b/net cpu 0 1500/s, gw-b/net cpu 1 500/s"
        );
        let empty = render(&View::default());
        assert!(
            empty.contains("balance -") && empty.contains("no Child SAs"),
            "{empty}"
        );
    }
}
