//! `cargo xtask build`: the XDP object (ENVIRONMENT.md §3), then the workspace.
//!
//! The object is built for `bpfel-unknown-none` with `-Z build-std=core` on
//! the stable toolchain (`RUSTC_BOOTSTRAP=1`) into its own target folder,
//! `target/bpf`, so it never fights the host build, then copied to
//! `ebpf-steer/obj/lanes-steer.o`, where `ebpf-steer/build.rs` embeds it.

use crate::util::{cargo, root};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// Build the workspace in release mode (the XDP object is always release).
    #[arg(long)]
    pub release: bool,
}

pub fn run(o: &Options) -> Result<()> {
    build_ebpf()?;
    let t = Instant::now();
    let mut c = cargo();
    c.args(["build", "--workspace"]);
    if o.release {
        c.arg("--release");
    }
    crate::util::run(&mut c)?;
    eprintln!("build: workspace built ({:.1}s)", t.elapsed().as_secs_f64());
    Ok(())
}

/// Where the built XDP object is copied for `ebpf-steer/build.rs`.
pub fn ebpf_object() -> PathBuf {
    root().join("ebpf-steer/obj/lanes-steer.o")
}

/// Installs the eBPF toolchain if needed, builds the XDP object and copies
/// it to [`ebpf_object`].
pub fn build_ebpf() -> Result<PathBuf> {
    crate::setup::setup_ebpf()?;
    let t = Instant::now();
    let target_dir = root().join("target/bpf");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![crate::setup::bpf_linker_bin_dir()];
    paths.extend(std::env::split_paths(&path));
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "--package",
        "ebpf-steer-ebpf",
        "--bin",
        "lanes-steer",
    ])
    .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
    .env("RUSTC_BOOTSTRAP", "1")
    .env("CARGO_TARGET_DIR", &target_dir)
    .env("PATH", std::env::join_paths(paths)?)
    // LLVM's BPF backend otherwise splits every unaligned header load
    // into byte loads; the kernel allows unaligned packet access.
    .env(
        "CARGO_TARGET_BPFEL_UNKNOWN_NONE_RUSTFLAGS",
        "-C target-feature=+allows-misaligned-mem-access",
    )
    .env_remove("RUSTFLAGS");
    crate::util::run(&mut c)?;
    let built = target_dir.join("bpfel-unknown-none/release/lanes-steer");
    let dest = ebpf_object();
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let same = std::fs::read(&dest).ok()
        == Some(std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?);
    if !same {
        std::fs::copy(&built, &dest)
            .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
    }
    eprintln!(
        "build: XDP object {} ({} bytes, {:.1}s)",
        dest.display(),
        std::fs::metadata(&dest)?.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(dest)
}
