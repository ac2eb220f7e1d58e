//! The lanes XDP program. Built only for `bpfel-unknown-none` by `cargo xtask build`.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(not(target_arch = "bpf"))]
fn main() {}
