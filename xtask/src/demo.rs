//! `cargo xtask demo`: build, boot the VM testbed, bring up a per-CPU tunnel
//! between gw-a and gw-b, drive traffic pinned to each CPU, and print the
//! per-CPU SA table and one SA vs per-CPU SAs (guest side:
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
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 5)]
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
            duration: 5,
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
