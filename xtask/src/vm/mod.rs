//! `cargo xtask vm`: the VM testbed, a Debian cloud kernel (>= 6.13, ESP,
//! per-CPU SAs) under QEMU, with strongSwan 6 (or libreswan) as the peer.
//!
//! - `vm image [--variant strongswan|libreswan]` builds the guest image,
//!   cached under `.cache/vm/` by a hash of its recipe ([`image`]).
//! - `vm run [--cpus N] [--mem M] -- CMD...` boots the guest with the built
//!   binaries and scripts (the payload, [`payload`]) and runs CMD as root.
//! - `vm test [--filter X]` runs the VM test suite: the baselines in
//!   `xtask/guest/tests/` and every crate's `tests/vm/*.sh` ([`suite`]).
//!
//! See `xtask/guest/README.md` for the payload layout and the topology.

pub mod apt;
pub mod host;
pub mod image;
pub mod payload;
pub mod qemu;
pub mod suite;

use anyhow::Result;
use clap::{Args, Subcommand};

pub use suite::TierOutcome;

#[derive(Args, Debug)]
pub struct Options {
    #[command(subcommand)]
    pub cmd: VmCmd,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cmd: VmCmd::Test(TestArgs::default()),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum VmCmd {
    /// Build (or reuse) the guest image.
    Image {
        #[arg(long, value_enum, default_value_t = image::Variant::Strongswan)]
        variant: image::Variant,
        /// Rebuild even when the cached image matches the recipe.
        #[arg(long)]
        force: bool,
    },
    /// Boot the guest and run a command in it (as root, payload on PATH).
    Run(RunArgs),
    /// Run the VM test suite in the guest.
    Test(TestArgs),
}

/// Guest settings shared by the subcommands.
#[derive(Args, Debug, Clone)]
pub struct BootArgs {
    /// Guest vCPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub mem: u32,
    /// Image variant.
    #[arg(long, value_enum, default_value_t = image::Variant::Strongswan)]
    pub variant: image::Variant,
    /// Wall-clock limit for one boot, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Put release builds (not debug) of the binaries in the payload.
    #[arg(long)]
    pub release: bool,
    /// Leave the project's binaries out of the payload (scripts only).
    #[arg(long)]
    pub no_build: bool,
}

impl Default for BootArgs {
    fn default() -> Self {
        Self {
            cpus: 2,
            mem: 2048,
            variant: image::Variant::Strongswan,
            timeout: 900,
            release: false,
            no_build: false,
        }
    }
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub boot: BootArgs,
    /// The command (run by `sh -c` in the guest when it is one word with spaces).
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct TestArgs {
    #[command(flatten)]
    pub boot: BootArgs,
    /// Only tests whose name contains this string (comma-separated: any of them).
    #[arg(long)]
    pub filter: Option<String>,
    /// Leave out tests whose name contains this string (comma-separated).
    #[arg(long)]
    pub exclude: Option<String>,
    /// Run only shard K of N (`K/N`, K from 0): of the selected tests in
    /// suite order, those whose index is K modulo N. Several boots with
    /// the shards of one N run the suite between them.
    #[arg(long, value_parser = suite::Shard::parse)]
    pub shard: Option<suite::Shard>,
}

pub fn run(o: &Options) -> Result<()> {
    match &o.cmd {
        VmCmd::Image { variant, force } => {
            image::ensure(*variant, *force)?;
            Ok(())
        }
        VmCmd::Run(r) => {
            let res = qemu::run_command(&r.boot, &r.cmd)?;
            if let Some(why) = &res.lost {
                anyhow::bail!("the guest was lost: {why}");
            }
            if res.code != 0 {
                std::process::exit(res.code.clamp(1, 255));
            }
            Ok(())
        }
        VmCmd::Test(t) => {
            let sel = suite::Selection {
                filter: t.filter.clone(),
                exclude: t.exclude.clone(),
                shard: t.shard,
            };
            let out = suite::run(&t.boot, &sel)?;
            println!("{}", out.summary());
            if !out.failed.is_empty() {
                anyhow::bail!("VM tests failed: {}", out.failed.join(", "));
            }
            if !out.ok() {
                anyhow::bail!(
                    "no VM test passed (skipped: {}); check --filter, --cpus and --variant",
                    out.skipped.join(", ")
                );
            }
            Ok(())
        }
    }
}

/// Installs QEMU, debootstrap and the other host tools (ENVIRONMENT.md §2).
/// Called by `cargo xtask setup`.
pub fn setup() -> Result<()> {
    host::setup()
}

/// The VM tier of `cargo xtask test`: builds the image if needed, boots a
/// 2-vCPU guest and runs the whole VM suite (baselines + every crate's
/// `tests/vm/*.sh`), optionally only the tests whose name contains `filter`.
///
/// Returns the per-test outcome (`Err` only when the harness itself fails:
/// no QEMU, image build error, guest crashed twice).
#[allow(dead_code, reason = "the lead's `cargo xtask test` calls it")]
pub fn test_tier(filter: Option<&str>) -> Result<TierOutcome> {
    let sel = suite::Selection {
        filter: filter.map(String::from),
        ..Default::default()
    };
    suite::run(&BootArgs::default(), &sel)
}
