//! The lanes daemon: ike-core driven by tokio, with the kernel behind
//! [`backend::SaBackend`] and steering behind [`steering::Steer`] so the loop
//! runs in tests without root.

pub mod backend;
pub mod fake;
pub mod kernel;
pub mod plan;
pub mod steering;
pub mod udp;
pub mod xfrm_backend;

use std::path::Path;

/// Runs the daemon in the foreground.
pub fn run(_config: &Path, _socket: &Path, _keep_kernel_state: bool) -> anyhow::Result<()> {
    anyhow::bail!("the daemon is not implemented yet")
}
