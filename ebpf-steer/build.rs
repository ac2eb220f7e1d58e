//! Embeds the XDP object built by `cargo xtask build`, or an empty file so
//! that a plain `cargo build` works without the eBPF toolchain (the loader
//! then reports "XDP object not built").

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=LANES_EBPF_OBJ");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("lanes-steer.o");
    // The folder holds a committed .gitignore, so it always exists and cargo
    // can watch it without rerunning this script on every build.
    let dir = manifest.join("obj");
    println!("cargo::rerun-if-changed={}", dir.display());
    let src = match std::env::var_os("LANES_EBPF_OBJ") {
        Some(p) => {
            println!("cargo::rerun-if-changed={}", PathBuf::from(&p).display());
            PathBuf::from(p)
        }
        None => dir.join("lanes-steer.o"),
    };
    let bytes = std::fs::read(&src).unwrap_or_default();
    if bytes.is_empty() {
        println!(
            "cargo::warning=XDP object {} missing or empty: run `cargo xtask build` to embed it",
            src.display()
        );
    }
    std::fs::write(&out, bytes).expect("writing OUT_DIR/lanes-steer.o");
}
