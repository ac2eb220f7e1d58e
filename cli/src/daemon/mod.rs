//! The lanes daemon (placeholder until the loop lands).

use std::path::Path;

/// Runs the daemon in the foreground.
pub fn run(_config: &Path, _socket: &Path, _keep_kernel_state: bool) -> anyhow::Result<()> {
    anyhow::bail!("the daemon is not implemented yet")
}
