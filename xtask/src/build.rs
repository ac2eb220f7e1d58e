//! `cargo xtask build`.

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    anyhow::bail!("`cargo xtask build` is not implemented yet")
}
