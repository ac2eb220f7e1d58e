//! `cargo xtask`: builds lanes (the XDP object too), installs what a fresh
//! machine lacks, runs the test tiers, the VM testbed and the benchmarks.
//!
//! Every cache lives under `.cache/` at the workspace root (git-ignored).

mod bench;
mod build;
mod demo;
mod dist;
mod fuzz;
mod setup;
mod stats;
mod test;
mod testbed;
mod util;
mod vm;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Build, test and benchmark lanes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what this machine lacks (apt packages, rust-src, bpf-linker, QEMU).
    Setup(setup::Options),
    /// Build the XDP object, then the workspace.
    Build(build::Options),
    /// Run the test tiers (fmt, clippy, unit, host, vm).
    Test(test::Options),
    /// Build, boot the VM testbed and show a per-CPU tunnel.
    Demo(demo::Options),
    /// The VM testbed: image, run, test.
    Vm(vm::Options),
    /// The benchmarks, each next to its baseline.
    Bench(bench::Options),
    /// The seed's throughput testbed in one command.
    Testbed(testbed::Options),
    /// Manuals, completions and the Debian package in target/dist.
    Dist(dist::Options),
    /// A long fuzz campaign of every ike-core target, with a report in bench/results.
    Fuzz(fuzz::Options),
}

fn main() {
    let cli = Cli::parse();
    let res: Result<()> = match cli.cmd {
        Cmd::Setup(o) => setup::run(&o),
        Cmd::Build(o) => build::run(&o),
        Cmd::Test(o) => test::run(&o),
        Cmd::Demo(o) => demo::run(&o),
        Cmd::Vm(o) => vm::run(&o),
        Cmd::Bench(o) => bench::run(&o),
        Cmd::Testbed(o) => testbed::run(&o),
        Cmd::Dist(o) => dist::run(&o),
        Cmd::Fuzz(o) => fuzz::run(&o),
    };
    if let Err(e) = res {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}
