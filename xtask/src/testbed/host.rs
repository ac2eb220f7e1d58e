//! `cargo xtask testbed --host-netns`: the same guest script on this host's
//! kernel (which must have ESP), inside private mount, network and PID
//! namespaces, so the script's clean-up (`lanes_reset`: namespace removal,
//! `ip xfrm ... flush`, `pkill charon`, `/etc/netns/*`) never reaches the
//! host's own IPsec state, daemons or files.

use crate::util;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Tools the script runs, each with the Debian package that has it.
const TOOLS: &[(&str, &str)] = &[
    ("unshare", "util-linux"),
    ("taskset", "util-linux"),
    ("ip", "iproute2"),
    ("gawk", "gawk"),
    ("iperf3", "iperf3"),
    ("netperf", "netperf"),
    ("netserver", "netperf"),
    ("swanctl", "strongswan-swanctl"),
    (
        "/usr/lib/ipsec/charon",
        "charon-systemd or strongswan-charon",
    ),
];

/// Checks root, the tools, the CPU count and that the kernel accepts an ESP
/// SA (probed in a throw-away network namespace).
pub(super) fn preflight(max_cpus: u32) -> Result<()> {
    if util::output(Command::new("id").arg("-u"))?.trim() != "0" {
        bail!("--host-netns needs root (namespaces, XFRM, XDP): run it as root");
    }
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(t, p)| format!("{t} (apt-get install {p})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "--host-netns needs on this host: {}; or drop --host-netns to run in the VM",
            missing.join(", ")
        );
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if max_cpus as usize > n {
        bail!("--cpus {max_cpus}: this host has {n} CPUs");
    }
    let _ = Command::new("modprobe")
        .args(["-q", "-a", "esp4", "xfrm_user"])
        .status();
    let probe = "ip xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode tunnel \
                 aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128";
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", probe])
        .output()
        .context("running unshare")?;
    if !out.status.success() {
        bail!(
            "this host's kernel refuses ESP SAs ({}): load esp4 (modprobe esp4), use a kernel \
             with CONFIG_INET_ESP, or drop --host-netns to run the testbed in the VM",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn have(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the release `lanes` (with the XDP object) and lays out the
/// guest's `/lanes` tree under `.cache/host-testbed`: `bin/lanes`,
/// `scripts/testbed`, `scripts/lib/*.sh`.
pub(super) fn stage() -> Result<PathBuf> {
    crate::build::build_ebpf()?;
    util::run(util::cargo().args(["build", "--release", "-p", "lanes-cli"]))?;
    let root = util::cache_dir().join("host-testbed");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin"))?;
    std::fs::create_dir_all(root.join("scripts/lib"))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| util::root().join("target"), PathBuf::from);
    std::fs::copy(target.join("release/lanes"), root.join("bin/lanes"))
        .context("copying the release lanes binary")?;
    let guest = util::root().join("xtask/guest");
    std::fs::copy(guest.join("bin/testbed"), root.join("scripts/testbed"))?;
    for e in std::fs::read_dir(guest.join("lib"))? {
        let p = e?.path();
        if let Some(name) = p.file_name() {
            std::fs::copy(&p, root.join("scripts/lib").join(name))?;
        }
    }
    Ok(root)
}

/// The shell command that runs `$LANES_ROOT/scripts/testbed` on CPUs
/// `0..cpus` in fresh mount, network and PID namespaces, with private
/// `/tmp`, `/etc/netns`, `/run/netns` and bpffs (the same command works in
/// the VM guest, where it checks itself).
pub(super) fn command(cpus: u32) -> String {
    let last = cpus.saturating_sub(1);
    format!(
        "mkdir -p /etc/netns /run/netns && exec unshare --mount --net --pid --fork --mount-proc \
         --propagation private sh -c 'set -e; \
         mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /etc/netns; mount -t tmpfs tmpfs /run/netns; \
         mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true; ip link set lo up; \
         exec taskset -c 0-{last} sh \"$LANES_ROOT/scripts/testbed\"'"
    )
}

/// Runs the testbed staged in `root` for `cpus` CPUs with the script's
/// `TB_*` settings in `env`; returns the exit code and stdout (the `@@TB`
/// lines), streaming the output to stderr as it goes.
pub(super) fn run(root: &Path, cpus: u32, env: &[(String, String)]) -> Result<(i32, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut child = Command::new("sh")
        .args(["-c", &command(cpus)])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("LANES_ROOT", root)
        .env("PATH", format!("{}:{path}", root.join("bin").display()))
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the host testbed")?;
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            eprintln!("{line}");
            out.push_str(&line);
            out.push('\n');
        }
    }
    let status = child.wait()?;
    Ok((status.code().unwrap_or(-1), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_pins_and_isolates() {
        let c = command(3);
        assert!(c.contains("taskset -c 0-2 sh"), "{c}");
        assert!(c.contains("--net --pid --fork --mount-proc"), "{c}");
        assert!(c.contains("mount -t tmpfs tmpfs /etc/netns"), "{c}");
    }
}
