//! Per-CPU counters read from `LANES_STATS`.

pub use ebpf_steer_common::Counter;

/// One CPU's counters, indexed by [`Counter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// The CPU.
    pub cpu: u32,
    /// Packets per counter, in [`Counter::ALL`] order.
    pub counts: [u64; Counter::COUNT as usize],
}

impl CpuStats {
    /// This CPU's value of `c`.
    pub fn get(&self, c: Counter) -> u64 {
        self.counts[c as usize]
    }
}

/// A snapshot of every CPU's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// One entry per possible CPU.
    pub per_cpu: Vec<CpuStats>,
}

impl Stats {
    /// `c` summed over all CPUs.
    pub fn total(&self, c: Counter) -> u64 {
        self.per_cpu.iter().map(|s| s.get(c)).sum()
    }

    /// Counter differences since `earlier` (saturating, per CPU).
    pub fn since(&self, earlier: &Self) -> Self {
        let per_cpu = self
            .per_cpu
            .iter()
            .map(|now| {
                let before = earlier.per_cpu.iter().find(|e| e.cpu == now.cpu);
                let mut counts = now.counts;
                if let Some(b) = before {
                    for (c, b) in counts.iter_mut().zip(b.counts) {
                        *c = c.saturating_sub(b);
                    }
                }
                CpuStats {
                    cpu: now.cpu,
                    counts,
                }
            })
            .collect();
        Self { per_cpu }
    }
}
