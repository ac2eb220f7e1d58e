//! `lanes steer ...`: attach/detach/bind/status of the XDP steering program.
//!
//! Placeholder kept by the cli helper so the workspace compiles; the ebpf
//! helper replaces this file with the real subcommands.

use clap::Subcommand;

/// `lanes steer` subcommands.
#[derive(Debug, Subcommand)]
pub enum SteerCmd {
    /// Show the steering state.
    Status,
}

/// Runs a `lanes steer` subcommand.
pub fn run(cmd: SteerCmd) -> anyhow::Result<()> {
    match cmd {
        SteerCmd::Status => anyhow::bail!("steering support is not built into this lanes yet"),
    }
}
