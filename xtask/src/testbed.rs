//! `cargo xtask testbed`.

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    anyhow::bail!("`cargo xtask testbed` is not implemented yet")
}
