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
///
/// Idempotent: each step checks its result first and says what it did.
pub fn setup_ebpf() -> Result<()> {
    let t = std::time::Instant::now();
    let rustc = ebpf::Rustc::probe()?;
    ebpf::ensure_rust_src(&rustc)?;
    ebpf::ensure_bpf_linker(&rustc)?;
    eprintln!(
        "setup: eBPF toolchain ready ({:.1}s)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where `setup_ebpf` installs `bpf-linker` (put it on `PATH` for the BPF build).
pub fn bpf_linker_bin_dir() -> std::path::PathBuf {
    crate::util::cache_dir().join("bpf-linker").join("bin")
}

/// The eBPF toolchain steps behind [`setup_ebpf`].
mod ebpf {
    use crate::util::{cache_dir, output, run};
    use anyhow::{Context, Result, bail};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Facts about the running rustc.
    pub struct Rustc {
        /// e.g. `1.95.0`.
        pub release: String,
        /// e.g. `22` (LLVM major version).
        pub llvm_major: String,
        /// The toolchain's sysroot.
        pub sysroot: PathBuf,
    }

    impl Rustc {
        pub fn probe() -> Result<Self> {
            let vv = output(Command::new("rustc").arg("-vV"))?;
            let field = |k: &str| {
                vv.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_owned())
                    .with_context(|| format!("`rustc -vV` has no `{k}` line"))
            };
            let release = field("release:")?;
            let llvm = field("LLVM version:")?;
            let llvm_major = llvm.split('.').next().unwrap_or_default().to_owned();
            let sysroot =
                PathBuf::from(output(Command::new("rustc").args(["--print", "sysroot"]))?.trim());
            Ok(Self {
                release,
                llvm_major,
                sysroot,
            })
        }

        fn src_link(&self) -> PathBuf {
            self.sysroot.join("lib/rustlib/src/rust")
        }
    }

    /// Makes `$(rustc --print sysroot)/lib/rustlib/src/rust` point at a
    /// `library/` matching the running rustc, taken from Debian's `rust-src`.
    pub fn ensure_rust_src(rustc: &Rustc) -> Result<()> {
        let link = rustc.src_link();
        if link.join("library/core/Cargo.toml").exists() {
            eprintln!("setup: rust-src present at {}", link.display());
            return Ok(());
        }
        let dir = cache_dir().join("rust-src");
        let tree = dir.join(format!("usr/src/rustc-{}", rustc.release));
        if !tree.join("library/core/Cargo.toml").exists() {
            let apt = DebianApt::new()?;
            let version = apt.pick_rust_src(&rustc.release)?;
            let deb = apt.download("rust-src", &version)?;
            std::fs::create_dir_all(&dir)?;
            run(Command::new("dpkg").arg("-x").arg(&deb).arg(&dir))?;
            if !tree.join("library/core/Cargo.toml").exists() {
                bail!(
                    "rust-src {version} has no {}",
                    tree.join("library/core").display()
                );
            }
            eprintln!("setup: extracted rust-src {version} into {}", dir.display());
        }
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link)
                .with_context(|| format!("removing stale {}", link.display()))?;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(&tree, &link)
            .with_context(|| format!("linking {} -> {}", link.display(), tree.display()))?;
        eprintln!("setup: linked {} -> {}", link.display(), tree.display());
        Ok(())
    }

    /// Builds `bpf-linker` against rustc's own `libLLVM` (no llvm-config needed).
    pub fn ensure_bpf_linker(rustc: &Rustc) -> Result<()> {
        const VERSION: &str = "0.13.0";
        let root = cache_dir().join("bpf-linker");
        let bin = root.join("bin/bpf-linker");
        let stamp = root.join("built-for");
        let want = format!(
            "bpf-linker {VERSION} rustc {} llvm {}",
            rustc.release, rustc.llvm_major
        );
        if bin.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
            eprintln!("setup: {want} present at {}", bin.display());
            return Ok(());
        }
        let lib = rustc.sysroot.join("lib");
        let prefix = format!("libLLVM.so.{}", rustc.llvm_major);
        let so = std::fs::read_dir(&lib)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .find(|n| n.starts_with(&prefix))
            .with_context(|| {
                format!(
                    "no {prefix}* in {}: is this a rustup toolchain?",
                    lib.display()
                )
            })?;
        let llvm = root.join("llvm");
        let llvm_lib = llvm.join("lib");
        std::fs::create_dir_all(&llvm_lib)?;
        for name in ["libLLVM.so", so.as_str()] {
            let l = llvm_lib.join(name);
            if l.symlink_metadata().is_ok() {
                std::fs::remove_file(&l)?;
            }
            std::os::unix::fs::symlink(lib.join(&so), &l)?;
        }
        let features = format!("llvm-{}", rustc.llvm_major);
        run(Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--locked",
                "--force",
                "--version",
                VERSION,
            ])
            .args(["--no-default-features", "--features", &features, "--root"])
            .arg(&root)
            .env("LLVM_PREFIX", &llvm)
            .env("CARGO_TARGET_DIR", root.join("build"))
            .env_remove("RUSTC_BOOTSTRAP"))?;
        std::fs::write(&stamp, &want)?;
        let _ = std::fs::remove_dir_all(root.join("build"));
        eprintln!("setup: built {want} into {}", bin.display());
        Ok(())
    }

    /// A private apt configuration reading Debian trixie-backports from the
    /// mirror the system already uses; the host's apt state is untouched.
    struct DebianApt {
        dir: PathBuf,
    }

    impl DebianApt {
        fn new() -> Result<Self> {
            let dir = cache_dir().join("apt-debian");
            for d in ["lists/partial", "cache/archives/partial", "etc"] {
                std::fs::create_dir_all(dir.join(d))?;
            }
            let uri = mirror_uri()?;
            let list = format!(
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {uri} trixie-backports main\n"
            );
            std::fs::write(dir.join("etc/sources.list"), list)?;
            let apt = Self { dir };
            run(apt.cmd("apt-get").args(["update", "-q"]))?;
            Ok(apt)
        }

        fn cmd(&self, prog: &str) -> Command {
            let d = |p: &str| self.dir.join(p).display().to_string();
            let mut c = Command::new(prog);
            c.arg("-o")
                .arg(format!("Dir::Etc::sourcelist={}", d("etc/sources.list")))
                .args(["-o", "Dir::Etc::sourceparts=-"])
                .arg("-o")
                .arg(format!("Dir::State::Lists={}", d("lists")))
                .arg("-o")
                .arg(format!("Dir::Cache={}", d("cache")))
                .args(["-o", "Dir::State::status=/var/lib/dpkg/status"])
                // The cache is root's; apt's `_apt` sandbox user cannot write it.
                .args(["-o", "APT::Sandbox::User=root"]);
            c
        }

        /// The `rust-src` version built from exactly this rustc release.
        fn pick_rust_src(&self, release: &str) -> Result<String> {
            let out = output(self.cmd("apt-cache").args(["madison", "rust-src"]))?;
            out.lines()
                .filter_map(|l| l.split('|').nth(1).map(str::trim))
                .find(|v| v.split(['+', '-', '~']).next() == Some(release))
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "Debian trixie-backports has no rust-src {release}; versions seen:\n{out}"
                    )
                })
        }

        fn download(&self, pkg: &str, version: &str) -> Result<PathBuf> {
            let into = self.dir.join("debs");
            std::fs::create_dir_all(&into)?;
            run(self
                .cmd("apt-get")
                .args(["download", "-q"])
                .arg(format!("{pkg}={version}"))
                .current_dir(&into))?;
            find_deb(&into, pkg)
        }
    }

    fn find_deb(dir: &Path, pkg: &str) -> Result<PathBuf> {
        std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_")))
            })
            .with_context(|| format!("apt-get download {pkg} left no .deb in {}", dir.display()))
    }

    /// The first Debian archive URI in the system's apt sources (deb822 or
    /// one-line format): this mirror is known to be reachable.
    fn mirror_uri() -> Result<String> {
        let mut texts = Vec::new();
        for f in [
            "/etc/apt/sources.list.d/debian.sources",
            "/etc/apt/sources.list",
        ] {
            if let Ok(t) = std::fs::read_to_string(f) {
                texts.push(t);
            }
        }
        if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
            for e in rd.flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    texts.push(t);
                }
            }
        }
        for t in &texts {
            for l in t.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
                let uri = if let Some(u) = l.strip_prefix("URIs:") {
                    u.split_whitespace().next()
                } else if let Some(rest) = l.strip_prefix("deb ") {
                    rest.split_whitespace().find(|w| w.contains("://"))
                } else {
                    None
                };
                if let Some(u) = uri.filter(|u| u.trim_end_matches('/').ends_with("/debian")) {
                    return Ok(u.trim_end_matches('/').to_owned());
                }
            }
        }
        bail!(
            "no Debian archive URI (…/debian) in /etc/apt/sources.list*: add the mirror to apt's sources"
        )
    }
}
