//! The payload: what each boot carries into the guest, as one tar file
//! attached as a read-only virtio disk and unpacked by the guest init into
//! `/lanes` (a tmpfs). Layout (documented in `xtask/guest/README.md`):
//!
//! ```text
//! /lanes/cmd                    the command to run (sh script)
//! /lanes/build-failed           present when building the binaries failed (why)
//! /lanes/bin/lanes              workspace binaries (cargo build -p lanes-cli)
//! /lanes/bin/ike_flood          the cli crate's test tools (its examples)
//! /lanes/release                present when the binaries are release builds
//! /lanes/bin/<crate>-<test>     integration-test executables of crates that have tests/vm/
//! /lanes/scripts/lib/*.sh       guest helpers (topology, SAs, strongSwan)
//! /lanes/scripts/*              guest tools (run-suite, ...)
//! /lanes/tests/baseline/*.sh    the harness baselines (xtask/guest/tests)
//! /lanes/tests/<crate>/*.sh     each crate's tests/vm/*.sh
//! /lanes/dist/lanes.deb         the newest target/dist/lanes_*.deb, when `cargo xtask dist` made one
//! ```

use crate::util;
use anyhow::{Context, Result, bail};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to put in.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Build and include the workspace binaries and VM test executables.
    pub build: bool,
    /// Release profile for the binaries.
    pub release: bool,
    /// The guest command, a shell script body.
    pub cmd: String,
}

/// Crates (workspace member folders) with a `tests/vm/` folder.
pub fn vm_test_crates() -> Result<Vec<(String, PathBuf)>> {
    let root = util::root();
    let mut v = Vec::new();
    for dir in walk_dirs(&root, 3)? {
        let t = dir.join("tests/vm");
        if t.is_dir() {
            let rel = dir.strip_prefix(&root).unwrap_or(&dir);
            let name = rel.to_string_lossy().replace('/', "-");
            if !name.is_empty() {
                v.push((name, t));
            }
        }
    }
    v.sort();
    Ok(v)
}

/// Folders under `root` up to `depth`, skipping targets, caches and dot dirs.
fn walk_dirs(root: &Path, depth: u32) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if depth == 0 {
        return Ok(out);
    }
    for e in std::fs::read_dir(root)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            || name.starts_with('.')
            || name.starts_with("target")
            || name == "xtask"
            || name == "bench"
        {
            continue;
        }
        out.push(e.path());
        out.extend(walk_dirs(&e.path(), depth - 1)?);
    }
    Ok(out)
}

/// How many VM tests the payload will carry (baselines + crates').
pub fn count_tests() -> Result<usize> {
    let mut dirs = vec![util::root().join("xtask/guest/tests")];
    dirs.extend(vm_test_crates()?.into_iter().map(|x| x.1));
    let mut n = 0;
    for d in dirs {
        for e in std::fs::read_dir(&d)?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sh") && executable(&p) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The newest package `cargo xtask dist` left in target/dist, if any.
fn newest_deb() -> Result<Option<PathBuf>> {
    let Ok(dir) = std::fs::read_dir(util::root().join("target/dist")) else {
        return Ok(None);
    };
    let mut debs: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in dir.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("lanes_") && name.ends_with(".deb") {
            debs.push((e.metadata()?.modified()?, p));
        }
    }
    Ok(debs.into_iter().max().map(|(_, p)| p))
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Builds the payload tar at `out`; returns its size in bytes.
pub fn build(spec: &Spec, stage: &Path, out: &Path) -> Result<u64> {
    let _ = std::fs::remove_dir_all(stage);
    let lanes = stage.join("lanes");
    for d in ["bin", "scripts", "tests/baseline"] {
        std::fs::create_dir_all(lanes.join(d))?;
    }
    let guest = util::root().join("xtask/guest");
    copy_tree(&guest.join("lib"), &lanes.join("scripts/lib"))?;
    copy_tree(&guest.join("bin"), &lanes.join("scripts"))?;
    copy_tree(&guest.join("tests"), &lanes.join("tests/baseline"))?;
    for (name, dir) in vm_test_crates()? {
        // The whole folder: helpers in subfolders (e.g. lib/) come along;
        // only the executable *.sh at its top are tests.
        copy_tree(&dir, &lanes.join("tests").join(&name))?;
    }
    if spec.build {
        // A broken build must not hide the other tests: it is reported in
        // the guest as the failed test `payload/build`.
        match build_binaries(spec.release) {
            Ok(bins) => {
                for (name, exe) in bins {
                    strip_copy(&exe, &lanes.join("bin").join(name))?;
                }
                if spec.release {
                    // Tests that measure speed skip themselves without it.
                    std::fs::write(lanes.join("release"), "")?;
                }
            }
            Err(e) => {
                eprintln!("vm: WARNING: building the payload binaries failed: {e:#}");
                std::fs::write(lanes.join("build-failed"), format!("{e:#}\n"))?;
            }
        }
    }
    if let Some(deb) = newest_deb()? {
        std::fs::create_dir_all(lanes.join("dist"))?;
        std::fs::copy(&deb, lanes.join("dist/lanes.deb"))
            .with_context(|| format!("copying {}", deb.display()))?;
    }
    std::fs::write(lanes.join("cmd"), &spec.cmd)?;
    util::run(
        Command::new("tar")
            .arg("-cf")
            .arg(out)
            .args(["--owner=0", "--group=0", "-C"])
            .arg(stage)
            .arg("lanes"),
    )?;
    let _ = std::fs::remove_dir_all(stage);
    Ok(std::fs::metadata(out)?.len())
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    if !src.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &dst.join(e.file_name()))?;
        } else {
            copy(&p, &dst.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn copy(src: &Path, dst: &Path) -> Result<()> {
    std::fs::copy(src, dst).with_context(|| format!("copying {}", src.display()))?;
    // std::fs::copy keeps the mode bits, so executables stay executable.
    Ok(())
}

/// Copies an executable without its debug info (a third of the size or
/// less: a smaller payload disk to read under emulation).
fn strip_copy(src: &Path, dst: &Path) -> Result<()> {
    let st = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(dst)
        .arg(src)
        .status();
    if !st.is_ok_and(|s| s.success()) {
        copy(src, dst)?;
    }
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Builds the workspace binaries and the integration-test executables of
/// crates that have VM tests; returns `(name in /lanes/bin, path)`.
fn build_binaries(release: bool) -> Result<Vec<(String, PathBuf)>> {
    // The XDP object first: lanes-cli embeds it, and a stale one fails the
    // steering tests with a missing map.
    if let Err(e) = crate::build::build_ebpf() {
        eprintln!("vm: building the XDP object failed ({e:#}); the steering tests will say so");
    }
    let mut out = Vec::new();
    let mut cmd = util::cargo();
    cmd.args([
        "build",
        "--message-format=json-render-diagnostics",
        "-p",
        "lanes-cli",
        // For its example steer-bench: the testbed's live-frames hop cost.
        "-p",
        "ebpf-steer",
        "--bins",
        "--examples",
    ]);
    if release {
        cmd.arg("--release");
    }
    for (exe, kind, _, name) in artifacts(&mut cmd)? {
        if kind == "bin" || kind == "example" {
            out.push((name, exe));
        }
    }
    for (crate_dir, _) in vm_test_crates()? {
        let Some(pkg) = package_name(&crate_dir)? else {
            continue;
        };
        let mut cmd = util::cargo();
        cmd.args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
            "-p",
            &pkg,
        ]);
        for (exe, kind, pkgname, name) in artifacts(&mut cmd)? {
            if kind == "test" {
                out.push((format!("{pkgname}-{name}"), exe));
            }
        }
    }
    Ok(out)
}

/// The package name in `<dir>/Cargo.toml` (`dir` as `a-b` for `a/b`).
fn package_name(crate_dir: &str) -> Result<Option<String>> {
    let root = util::root();
    let candidates = [root.join(crate_dir), root.join(crate_dir.replace('-', "/"))];
    for d in candidates {
        let Ok(text) = std::fs::read_to_string(d.join("Cargo.toml")) else {
            continue;
        };
        let mut in_pkg = false;
        for l in text.lines() {
            let l = l.trim();
            if l.starts_with('[') {
                in_pkg = l == "[package]";
            } else if in_pkg
                && let Some(v) = l.strip_prefix("name")
                && let Some(v) = v.trim().strip_prefix('=')
            {
                return Ok(Some(v.trim().trim_matches('"').to_string()));
            }
        }
    }
    Ok(None)
}

/// Runs a cargo command with JSON messages and returns its executables as
/// `(path, target kind, package name, target name)`.
fn artifacts(cmd: &mut Command) -> Result<Vec<(PathBuf, String, String, String)>> {
    eprintln!("+ {}", util::show(cmd));
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("spawning cargo")?;
    if !out.status.success() {
        bail!("`{}` failed: {}", util::show(cmd), out.status);
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let kind = msg["target"]["kind"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pkg = msg["package_id"]
            .as_str()
            .map(package_from_id)
            .unwrap_or_default();
        v.push((PathBuf::from(exe), kind, pkg, name));
    }
    Ok(v)
}

/// The package name in a cargo package id (`path+file:///x/cli#lanes-cli@0.1.0`
/// or the older `name 0.1.0 (path+file://...)` form).
fn package_from_id(id: &str) -> String {
    if let Some((_, frag)) = id.rsplit_once('#') {
        let name = frag.split('@').next().unwrap_or(frag);
        // `#0.1.0` alone means the name is the last path segment.
        if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let path = id.rsplit_once('#').map(|x| x.0).unwrap_or(id);
            return path.rsplit('/').next().unwrap_or(path).to_string();
        }
        return name.to_string();
    }
    id.split_whitespace().next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids() {
        assert_eq!(
            package_from_id("path+file:///w/cli#lanes-cli@0.1.0"),
            "lanes-cli"
        );
        assert_eq!(
            package_from_id("path+file:///w/xfrm-offload#0.1.0"),
            "xfrm-offload"
        );
        assert_eq!(
            package_from_id("lanes-cli 0.1.0 (path+file:///w/cli)"),
            "lanes-cli"
        );
    }
}
