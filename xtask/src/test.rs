//! `cargo xtask test`: runs the tiers and prints one summary line per tier.

use crate::util;
use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {}

pub fn run(_o: &Options) -> Result<()> {
    util::run(util::cargo().args(["fmt", "--all", "--check"]))?;
    util::run(util::cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    util::run(util::cargo().args(["test", "--workspace"]))?;
    Ok(())
}
