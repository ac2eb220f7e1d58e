//! `cargo xtask setup`: idempotently installs what a fresh machine lacks.
//!
//! Two halves: the eBPF toolchain (rust-src for the running rustc, bpf-linker
//! against rustc's own libLLVM) and the VM testbed (QEMU, debootstrap).

use anyhow::Result;

#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// Only the eBPF toolchain.
    #[arg(long)]
    pub ebpf_only: bool,
    /// Only the VM testbed tools.
    #[arg(long)]
    pub vm_only: bool,
}

pub fn run(o: &Options) -> Result<()> {
    if !o.vm_only {
        setup_ebpf()?;
    }
    if !o.ebpf_only {
        crate::vm::setup()?;
    }
    Ok(())
}

/// rust-src + bpf-linker; see ENVIRONMENT.md §3.
pub fn setup_ebpf() -> Result<()> {
    anyhow::bail!("eBPF toolchain setup is not implemented yet")
}
