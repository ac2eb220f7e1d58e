//! CPU facts: online CPUs, frequency governor, SMT.

use super::{Check, Sys};

/// Parses a CPU list such as `0-3,5,7-8`.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(4096)));
                }
            }
            None => out.extend(part.trim().parse::<u32>().ok()),
        }
    }
    out
}

/// Number of online CPUs (at least 1).
pub fn online_cpus(sys: &Sys) -> u32 {
    sys.read("/sys/devices/system/cpu/online")
        .map(|s| parse_cpu_list(&s).len() as u32)
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// Checks.
pub fn checks(sys: &Sys, cpus: u32) -> Vec<Check> {
    let mut out = vec![Check::info(
        "cpus",
        format!("{cpus} online CPU(s): up to {cpus} per-CPU SA pairs plus the fallback"),
    )];
    let govs: Vec<String> = sys
        .list("/sys/devices/system/cpu")
        .iter()
        .filter(|d| {
            d.starts_with("cpu") && d[3..].chars().all(|c| c.is_ascii_digit()) && d.len() > 3
        })
        .filter_map(|d| {
            sys.read(format!(
                "/sys/devices/system/cpu/{d}/cpufreq/scaling_governor"
            ))
        })
        .collect();
    if let Some(slow) = govs.iter().find(|g| g.as_str() != "performance") {
        out.push(
            Check::warn(
                "cpu-governor",
                format!("frequency governor {slow:?}: throughput and latency vary with load"),
            )
            .fix("cpupower frequency-set -g performance"),
        );
    } else if !govs.is_empty() {
        out.push(Check::ok("cpu-governor", "performance"));
    }
    if sys.read("/sys/devices/system/cpu/smt/active").as_deref() == Some("1") {
        out.push(Check::info(
            "smt",
            "SMT active: sibling threads share a core, so per-CPU SAs on siblings scale less than on cores",
        ));
    }
    out
}
