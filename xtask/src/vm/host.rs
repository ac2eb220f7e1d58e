//! Host tools for the VM testbed: a private QEMU and debootstrap
//! (ENVIRONMENT.md §2).
//!
//! bookworm's `qemu-system-x86` cannot be installed next to a newer
//! `qemu-utils`, so its packages are downloaded and unpacked into
//! `.cache/vm/qemu/` and only their shared libraries are installed with apt.

use crate::util;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// The QEMU packages unpacked into the private folder.
const QEMU_DEBS: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
    "ipxe-qemu",
];

/// Shared libraries `qemu-system-x86_64` links against (bookworm names).
const QEMU_LIBS: &[&str] = &[
    "libcapstone4",
    "libfdt1",
    "libpmem1",
    "librdmacm1",
    "libibverbs1",
    "libslirp0",
    "libvdeplug2",
    "libaio1",
    "liburing2",
    "libnuma1",
    "libpixman-1-0",
    "libseccomp2",
    "libfuse3-3",
    "libjpeg62-turbo",
    "libpng16-16",
    "libsasl2-2",
    "libbpf1",
    "libglib2.0-0",
    "libgnutls30",
    "libzstd1",
];

/// Host packages the image build needs.
const HOST_PKGS: &[&str] = &[
    "debootstrap",
    "debian-archive-keyring",
    "e2fsprogs",
    "tar",
    "binutils",
];

/// The private QEMU tree.
pub fn qemu_dir() -> PathBuf {
    util::cache_dir().join("vm/qemu")
}

/// The QEMU binary and its firmware folders (each passed with `-L`).
pub fn qemu() -> Result<(PathBuf, Vec<PathBuf>)> {
    let root = qemu_dir().join("root");
    let bin = root.join("usr/bin/qemu-system-x86_64");
    if !bin.exists() {
        bail!("QEMU is not installed; run `cargo xtask setup --vm-only`");
    }
    Ok((
        bin,
        vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")],
    ))
}

/// Installs QEMU privately and the host packages; idempotent.
pub fn setup() -> Result<()> {
    util::apt_install(HOST_PKGS)?;
    util::apt_install(QEMU_LIBS)?;
    let dir = qemu_dir();
    let root = dir.join("root");
    let bin = root.join("usr/bin/qemu-system-x86_64");
    if bin.exists() && works(&bin) {
        return Ok(());
    }
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    util::run(
        Command::new("apt-get")
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .args(QEMU_DEBS)
            .current_dir(&debs),
    )?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    for e in std::fs::read_dir(&debs)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            util::run(Command::new("dpkg").arg("-x").arg(&p).arg(&root))?;
        }
    }
    if !works(&bin) {
        let ldd = util::output(Command::new("ldd").arg(&bin)).unwrap_or_default();
        let missing: Vec<&str> = ldd.lines().filter(|l| l.contains("not found")).collect();
        bail!(
            "the private QEMU does not start; missing libraries:\n{}\n\
             add their packages to QEMU_LIBS in xtask/src/vm/host.rs",
            missing.join("\n")
        );
    }
    eprintln!("setup: QEMU ready in {}", root.display());
    Ok(())
}

fn works(bin: &std::path::Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether KVM can boot the guest kernel here. `/dev/kvm` on some nested
/// hosts cannot run stock kernels (ENVIRONMENT.md §1), so only a probe boot
/// decides; the answer is cached per boot of the host.
pub fn kvm_usable(probe: impl FnOnce() -> Result<bool>) -> bool {
    if std::env::var("LANES_VM_ACCEL").is_ok_and(|v| v == "tcg") {
        return false;
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let marker = util::cache_dir().join("vm/kvm-probe");
    if let Ok(s) = std::fs::read_to_string(&marker)
        && let Some((id, ans)) = s.trim().split_once(' ')
        && id == boot_id.trim()
    {
        return ans == "yes";
    }
    let ok = probe().unwrap_or(false);
    let _ = std::fs::write(
        &marker,
        format!("{} {}\n", boot_id.trim(), if ok { "yes" } else { "no" }),
    );
    ok
}

/// Fails with a hint when we are not root (debootstrap and chroot need it).
pub fn require_root() -> Result<()> {
    let uid = util::output(Command::new("id").arg("-u")).context("running id -u")?;
    if uid.trim() != "0" {
        bail!("building the VM image needs root (debootstrap, chroot); rerun as root");
    }
    Ok(())
}
