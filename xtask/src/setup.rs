//! `cargo xtask setup`.

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    anyhow::bail!("`cargo xtask setup` is not implemented yet")
}
