//! `cargo xtask demo`.

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    anyhow::bail!("`cargo xtask demo` is not implemented yet")
}
