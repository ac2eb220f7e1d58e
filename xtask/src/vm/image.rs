//! The guest image: a Debian sid root filesystem (debootstrap minbase) with
//! the cloud kernel and its modules, the IPsec peer and the traffic tools,
//! as a raw ext4 disk plus the kernel image (ENVIRONMENT.md §2).
//!
//! Cached under `.cache/vm/image-<variant>-<hash>/`, where the hash covers
//! the recipe (package lists, the guest init, [`RECIPE_REV`]); a changed
//! recipe builds a new image. Test scripts are not in the image: they come
//! with every boot in the payload.

use super::{apt, host};
use crate::util;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bump when the build steps change in a way the package lists don't show.
const RECIPE_REV: u32 = 1;

/// The kernel metapackage; its newest dependency chain gives the kernel.
const KERNEL_META: &str = "linux-image-cloud-amd64";

/// Oldest kernel with per-CPU SAs (XFRMA_SA_PCPU, Linux 6.13).
const MIN_KERNEL: (u32, u32) = (6, 13);

/// Packages every variant carries.
const BASE_PKGS: &[&str] = &[
    "iproute2",
    "iperf3",
    "netperf",
    "ethtool",
    "bpftool",
    "tcpdump",
    "kmod",
    "procps",
    "iputils-ping",
    "util-linux",
    "gawk",
    "openssl",
    "tmux",
    // A real NAT (masquerade) and its conntrack table for the NAT tests.
    "nftables",
    "conntrack",
];

/// The IPsec peer in the image: Debian's strongSwan and libreswan conflict
/// (both provide `ike-server`), so each gets its own image.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Strongswan,
    Libreswan,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Strongswan => "strongswan",
            Variant::Libreswan => "libreswan",
        }
    }

    fn packages(self) -> Vec<&'static str> {
        let mut v = BASE_PKGS.to_vec();
        match self {
            Variant::Strongswan => v.extend([
                "strongswan-charon",
                "strongswan-swanctl",
                "libcharon-extra-plugins",
                "strongswan-pki",
            ]),
            // libreswan depends on the virtual `host`, which debootstrap cannot resolve.
            Variant::Libreswan => v.extend(["libreswan", "bind9-host", "libnss3-tools"]),
        }
        v
    }
}

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub disk: PathBuf,
    pub kernel: PathBuf,
    pub kernel_version: String,
}

/// The guest's PID 1 (part of the recipe).
fn init_script() -> Result<String> {
    let p = util::root().join("xtask/guest/init");
    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
}

fn recipe(variant: Variant) -> Result<String> {
    Ok(format!(
        "rev {RECIPE_REV}\nsuite {}\nkernel {KERNEL_META}\npackages {}\ninit\n{}",
        apt::SUITE,
        variant.packages().join(","),
        init_script()?
    ))
}

fn hash(text: &str) -> Result<String> {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("spawning sha256sum")?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("sha256sum stdin")?;
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.chars().take(16).collect())
}

/// The cache folder of the image for the current recipe.
pub fn dir(variant: Variant) -> Result<PathBuf> {
    Ok(util::cache_dir().join("vm").join(format!(
        "image-{}-{}",
        variant.name(),
        hash(&recipe(variant)?)?
    )))
}

/// Returns the cached image for the current recipe, building it first when
/// missing (or when `force`).
pub fn ensure(variant: Variant, force: bool) -> Result<Image> {
    let dir = dir(variant)?;
    let done = dir.join("done");
    if done.exists() && !force {
        return load(&dir);
    }
    host::require_root()?;
    if !host::qemu_dir()
        .join("root/usr/bin/qemu-system-x86_64")
        .exists()
    {
        host::setup()?;
    }
    let t0 = Instant::now();
    eprintln!(
        "vm: building the {} image in {}",
        variant.name(),
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    build(variant, &dir)?;
    std::fs::write(&done, b"")?;
    let img = load(&dir)?;
    let size = std::fs::metadata(&img.disk)?.len();
    eprintln!(
        "vm: image built in {:.0} s: {} ({} MiB), kernel {}",
        t0.elapsed().as_secs_f64(),
        img.disk.display(),
        size >> 20,
        img.kernel_version
    );
    prune(variant, &dir);
    Ok(img)
}

fn load(dir: &Path) -> Result<Image> {
    let kernel_version = std::fs::read_to_string(dir.join("kernel-version"))?
        .trim()
        .to_string();
    Ok(Image {
        disk: dir.join("root.img"),
        kernel: dir.join("vmlinuz"),
        kernel_version,
    })
}

/// Removes images of older recipes of the same variant.
fn prune(variant: Variant, keep: &Path) {
    let prefix = format!("image-{}-", variant.name());
    let Ok(rd) = std::fs::read_dir(util::cache_dir().join("vm")) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p != keep && e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

fn build(variant: Variant, dir: &Path) -> Result<()> {
    let mirror = apt::mirror()?;
    let apt = apt::Apt::new(&mirror)?;
    apt.update()?;
    let debs = util::cache_dir().join("vm/debs");
    std::fs::create_dir_all(&debs)?;
    let rootfs = dir.join("rootfs");

    // 1. The root filesystem.
    let t = Instant::now();
    util::run(
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={}", variant.packages().join(",")))
            .arg(format!("--cache-dir={}", debs.display()))
            .arg(format!("--keyring={}", apt::KEYRING))
            .arg(apt::SUITE)
            .arg(&rootfs)
            .arg(&mirror),
    )
    .context("debootstrap failed (see above); a retry often helps when the mirror was syncing")?;
    eprintln!("vm: debootstrap took {:.0} s", t.elapsed().as_secs_f64());

    // 2. The kernel, unpacked (no dracut/initramfs: NVMe and ext4 are built in).
    let kpkgs = apt.depends(
        KERNEL_META,
        &[
            "linux-image-",
            "linux-binary-",
            "linux-modules-",
            "linux-base-",
        ],
    )?;
    if kpkgs.is_empty() {
        bail!("{KERNEL_META} has no kernel packages in {}", apt::SUITE);
    }
    let kdebs = debs.join("kernel");
    apt.download(&kpkgs, &kdebs)?;
    for p in &kpkgs {
        let ver = apt.version(p)?.replace(':', "%3a");
        let deb = kdebs.join(format!("{p}_{ver}_amd64.deb"));
        let deb = if deb.exists() {
            deb
        } else {
            kdebs.join(format!("{p}_{ver}_all.deb"))
        };
        util::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&rootfs))?;
    }
    let kver = kernel_version(&rootfs)?;
    util::run(
        Command::new("chroot")
            .arg(&rootfs)
            .args(["depmod", "-a", &kver]),
    )?;
    let vmlinuz = [
        rootfs.join(format!("boot/vmlinuz-{kver}")),
        rootfs.join(format!("usr/lib/modules/{kver}/vmlinuz")),
    ]
    .into_iter()
    .find(|p| p.exists())
    .with_context(|| format!("no vmlinuz for {kver} in the kernel packages"))?;
    std::fs::copy(&vmlinuz, dir.join("vmlinuz"))?;
    std::fs::write(dir.join("kernel-version"), format!("{kver}\n"))?;

    // 3. Our init, and nothing that reaches a network.
    let init = rootfs.join("sbin/lanes-init");
    std::fs::write(&init, init_script()?)?;
    util::run(Command::new("chmod").arg("755").arg(&init))?;
    for f in [
        "etc/apt/sources.list",
        "etc/apt/sources.list.d/debian.sources",
    ] {
        let _ = std::fs::write(rootfs.join(f), b"");
    }
    for d in [
        "var/lib/apt/lists",
        "var/cache/apt",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "usr/share/info",
    ] {
        let p = rootfs.join(d);
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::create_dir_all(&p);
    }
    std::fs::write(rootfs.join("etc/hostname"), b"lanes-vm\n")?;
    std::fs::create_dir_all(rootfs.join("etc/netns"))?;
    let manifest = util::output(Command::new("chroot").arg(&rootfs).args([
        "dpkg-query",
        "-W",
        "-f=${Package} ${Version}\n",
    ]))?;
    std::fs::write(
        dir.join("packages.txt"),
        format!("kernel {kver}\n{manifest}"),
    )?;

    // 4. The disk.
    let used = dir_size(&rootfs)?;
    let size_mib = (used >> 20) * 5 / 4 + 256;
    let disk = dir.join("root.img");
    util::run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "lanes-root", "-E", "root_owner=0:0", "-d"])
            .arg(&rootfs)
            .arg(&disk)
            .arg(format!("{size_mib}M")),
    )?;
    std::fs::remove_dir_all(&rootfs).context("removing the staging rootfs")?;
    Ok(())
}

/// The single `lib/modules/<ver>` of the unpacked kernel, checked >= 6.13.
fn kernel_version(rootfs: &Path) -> Result<String> {
    let mut vers: Vec<String> = std::fs::read_dir(rootfs.join("lib/modules"))
        .context("no lib/modules in the rootfs: kernel packages missing")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    vers.sort();
    let v = vers.pop().context("no kernel modules unpacked")?;
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (maj, min) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    if (maj, min) < MIN_KERNEL {
        bail!(
            "kernel {v} is older than {}.{} (no per-CPU SAs); the mirror's {} is too old",
            MIN_KERNEL.0,
            MIN_KERNEL.1,
            apt::SUITE
        );
    }
    Ok(v)
}

fn dir_size(p: &Path) -> Result<u64> {
    let out = util::output(Command::new("du").args(["-sb"]).arg(p))?;
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("parsing du output")
}
