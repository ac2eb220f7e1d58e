//! `cargo xtask dist`: the release binary (XDP object embedded), the manuals
//! lanes(8) (from the clap definitions, clap_mangen) and lanes.toml(5) (from
//! `lanes_cli::manual`), shell completions (clap_complete) for bash, zsh and
//! fish, and a Debian package built with dpkg-deb, all in `target/dist/`.
//! `--man-only` writes the manuals and completions alone (no build).

use crate::util::{self, cargo, root};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Debug, Default)]
pub struct Options {
    /// Only the manuals and completions (no build, no package).
    #[arg(long)]
    pub man_only: bool,
}

/// The package version: the workspace's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn run(o: &Options) -> Result<()> {
    let dist = root().join("target/dist");
    std::fs::create_dir_all(&dist)?;
    let docs = write_docs(&dist)?;
    eprintln!(
        "dist: {} manuals and completions in {}",
        docs.len(),
        dist.display()
    );
    if o.man_only {
        return Ok(());
    }
    crate::build::build_ebpf()?;
    util::run(cargo().args(["build", "--release", "-p", "lanes-cli", "--bin", "lanes"]))?;
    let deb = build_deb(&dist, &docs)?;
    eprintln!("dist: {}", deb.display());
    Ok(())
}

/// A generated file: where it goes under `target/dist`, and where it is
/// installed.
pub struct Doc {
    rel: String,
    install: String,
    bytes: Vec<u8>,
}

impl Doc {
    fn new(rel: &str, install: &str, bytes: Vec<u8>) -> Self {
        Doc {
            rel: rel.into(),
            install: install.into(),
            bytes,
        }
    }
}

/// Renders the manuals and completions into `dist`.
pub fn write_docs(dist: &Path) -> Result<Vec<Doc>> {
    let docs = render_docs()?;
    for d in &docs {
        let path = dist.join(&d.rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &d.bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(docs)
}

/// lanes(8) and one page per subcommand (lanes-daemon(8), …, as lanes(8)
/// refers to them), lanes.toml(5), and the bash, zsh and fish completions.
fn render_docs() -> Result<Vec<Doc>> {
    use clap_complete::Shell;
    let mut cmd = lanes_cli::Args::command();
    cmd.build();
    let mut docs = Vec::new();
    man_pages(&cmd, &mut docs)?;
    docs.push(Doc::new(
        "man/lanes.toml.5",
        "usr/share/man/man5/lanes.toml.5",
        lanes_cli::manual::lanes_toml_5(VERSION).into_bytes(),
    ));
    for (shell, rel, install) in [
        (
            Shell::Bash,
            "completions/lanes.bash",
            "usr/share/bash-completion/completions/lanes",
        ),
        (
            Shell::Zsh,
            "completions/_lanes",
            "usr/share/zsh/vendor-completions/_lanes",
        ),
        (
            Shell::Fish,
            "completions/lanes.fish",
            "usr/share/fish/vendor_completions.d/lanes.fish",
        ),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "lanes", &mut buf);
        docs.push(Doc::new(rel, install, buf));
    }
    Ok(docs)
}

fn man_pages(cmd: &clap::Command, docs: &mut Vec<Doc>) -> Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .render(&mut buf)?;
    docs.push(Doc::new(
        &format!("man/{name}.8"),
        &format!("usr/share/man/man8/{name}.8"),
        buf,
    ));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        man_pages(sub, docs)?;
    }
    Ok(())
}

/// Stages the package tree and runs dpkg-deb; returns the .deb's path.
fn build_deb(dist: &Path, docs: &[Doc]) -> Result<PathBuf> {
    let arch = util::output(Command::new("dpkg").arg("--print-architecture"))
        .context("dpkg is needed to build the package")?
        .trim()
        .to_string();
    let name = format!("lanes_{VERSION}_{arch}");
    let tree = dist.join(&name);
    let _ = std::fs::remove_dir_all(&tree);
    let r = root();
    install(
        &r.join("target/release/lanes"),
        &tree.join("usr/bin/lanes"),
        0o755,
    )?;
    install(
        &r.join("cli/dist/lanes.service"),
        &tree.join("usr/lib/systemd/system/lanes.service"),
        0o644,
    )?;
    for d in docs {
        let to = tree.join(&d.install);
        install(&dist.join(&d.rel), &to, 0o644)?;
        if d.install.contains("/man/") {
            // Debian policy §12.1: manual pages are compressed with gzip -9n.
            util::run(Command::new("gzip").args(["-9nf"]).arg(&to))?;
        }
    }
    let doc = tree.join("usr/share/doc/lanes");
    install(&r.join("cli/README.md"), &doc.join("README.md"), 0o644)?;
    install(
        &r.join("ARCHITECTURE.md"),
        &doc.join("ARCHITECTURE.md"),
        0o644,
    )?;
    std::fs::write(doc.join("copyright"), COPYRIGHT)?;
    for e in std::fs::read_dir(r.join("cli/examples"))?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            install(&p, &doc.join("examples").join(e.file_name()), 0o644)?;
        }
    }
    write_control(&tree, &arch)?;
    let deb = dist.join(format!("{name}.deb"));
    util::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&tree)
            .arg(&deb),
    )?;
    Ok(deb)
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: lanes\n\nFiles: *\nLicense: MIT OR Apache-2.0\n";

fn write_control(tree: &Path, arch: &str) -> Result<()> {
    let kib = du_kib(tree)?;
    let control = format!(
        "Package: lanes\nVersion: {VERSION}\nArchitecture: {arch}\nSection: net\nPriority: optional\n\
         Maintainer: lanes developers <lanes@example.invalid>\nInstalled-Size: {kib}\n\
         Depends: libc6\nRecommends: iproute2\n\
         Description: multi-core IPsec for Linux (IKEv2 with per-CPU SAs)\n \
         IKEv2 daemon that spreads one tunnel over many CPUs: RFC 9611 per-resource\n \
         Child SAs installed as Linux per-CPU XFRM SAs, with inbound ESP steered\n \
         to the owning CPU by an XDP program.\n"
    );
    let dir = tree.join("DEBIAN");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("control"), control)?;
    Ok(())
}

/// Disk usage of a tree in KiB (dpkg's Installed-Size).
fn du_kib(dir: &Path) -> Result<u64> {
    let mut bytes = 0;
    for e in std::fs::read_dir(dir)?.flatten() {
        let m = e.metadata()?;
        bytes += if m.is_dir() {
            du_kib(&e.path())? * 1024
        } else {
            m.len()
        };
    }
    Ok(bytes.div_ceil(1024))
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manuals_and_completions_name_every_subcommand() {
        let docs = render_docs().expect("render");
        let text = |rel: &str| {
            let d = docs
                .iter()
                .find(|d| d.rel == rel)
                .unwrap_or_else(|| panic!("no {rel}"));
            String::from_utf8(d.bytes.clone()).expect("utf8")
        };
        let page = text("man/lanes.8");
        assert!(
            page.contains(".TH lanes 8"),
            "{}",
            &page[..200.min(page.len())]
        );
        for sub in lanes_cli::Args::command().get_subcommands() {
            let n = sub.get_name();
            assert!(page.contains(&n.replace('-', "\\-")), "lanes(8) lacks {n}");
            let own = text(&format!("man/lanes-{n}.8"));
            assert!(own.contains(&format!(".TH lanes-{n} 8")), "{own}");
            for shell in [
                "completions/lanes.bash",
                "completions/lanes.fish",
                "completions/_lanes",
            ] {
                assert!(text(shell).contains(n), "{shell} lacks {n}");
            }
        }
        assert!(text("man/lanes-steer-attach.8").contains("attach"));
        assert!(text("man/lanes.toml.5").contains("per_cpu_sas"));
    }
}
