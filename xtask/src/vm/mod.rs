//! `cargo xtask vm`: the VM testbed (Debian cloud kernel under QEMU TCG).

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    anyhow::bail!("`cargo xtask vm` is not implemented yet")
}

/// Installs QEMU and debootstrap (ENVIRONMENT.md §2).
pub fn setup() -> Result<()> {
    anyhow::bail!("VM setup is not implemented yet")
}
