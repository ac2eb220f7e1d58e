//! `cargo xtask demo`: build, boot the VM testbed, bring up a per-CPU tunnel
//! between gw-a and gw-b, drive traffic pinned to each CPU, and print the
//! per-CPU SA table, where decryption happened per CPU with and without
//! steering, and throughput next to its control (guest side:
//! `xtask/guest/bin/demo`).
//!
//! The bulk flows server -> client, so gw-a receives it; the wire runs on
//! CPU 0 (one receive queue) and lanes' XDP steering on gw-a's `wan`
//! redirects each inbound per-CPU SA's packets to its CPU. The table's
//! `steered` column is the program's per-CPU redirect counter
//! (`lanes steer status --json`).
//!
//! gw-a runs lanes (the daemon, started from a config written by
//! `xtask/guest/lib/lanes.sh`) and gw-b runs strongSwan 6 charon, both with
//! `per_cpu_sas = yes` and `start_action = trap`; `--gw-a strongswan` shows
//! the strongSwan-only baseline.

use crate::vm::{self, BootArgs};
use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Guest vCPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// The IKE daemon on gateway A.
    #[arg(long, value_enum, default_value_t = Peer::Lanes)]
    pub gw_a: Peer,
    /// Seconds per throughput measurement (four of them).
    #[arg(long, default_value_t = 4)]
    pub duration: u32,
    /// Release build of lanes in the guest.
    #[arg(long)]
    pub release: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cpus: 2,
            gw_a: Peer::Lanes,
            duration: 4,
            release: false,
        }
    }
}

/// Which daemon runs a gateway.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Strongswan,
    Lanes,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Strongswan => "strongswan",
            Peer::Lanes => "lanes",
        }
    }
}

/// The newest `bench/results/testbed-*/README.md` that has the cost model
/// (relative to the repository root).
fn latest_model() -> Option<std::path::PathBuf> {
    let root = crate::util::root();
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("bench/results"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.svg").exists())
        .collect();
    dirs.sort();
    let dir = dirs.pop()?;
    Some(dir.strip_prefix(&root).unwrap_or(&dir).join("README.md"))
}

pub fn run(o: &Options) -> Result<()> {
    let t0 = std::time::Instant::now();
    // The XDP object first; the payload then builds lanes-cli, which embeds it.
    if let Err(e) = crate::build::build_ebpf() {
        eprintln!("demo: building the XDP object failed ({e:#}); continuing without it");
    }
    let boot = BootArgs {
        cpus: o.cpus,
        release: o.release,
        timeout: 600,
        ..BootArgs::default()
    };
    let script = format!(
        "LANES_DEMO_GW_A={} LANES_DEMO_DURATION={} exec /lanes/scripts/demo\n",
        o.gw_a.name(),
        o.duration
    );
    let r = vm::qemu::run(&vm::qemu::Plan {
        boot: &boot,
        script,
        stream: true,
    })?;
    println!(
        "The receive-side cost model and its projection to 16 CPUs: {}. The scaling run, on a \
         machine with at least 2N free cores: cargo xtask testbed --topo split --cpus 1,2,4,8",
        latest_model().map_or_else(
            || "cargo xtask testbed --topo split --cpus 1 writes it".to_string(),
            |p| p.display().to_string()
        )
    );
    eprintln!("demo: {:.0} s in all", t0.elapsed().as_secs_f64());
    if r.code != 0 {
        bail!(
            "the demo failed in the guest (exit {}); logs in {}",
            r.code,
            r.dir.display()
        );
    }
    Ok(())
}
