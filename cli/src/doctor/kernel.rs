//! Kernel facts: version, XFRM, ESP, per-CPU SAs (Linux 6.13), BPF/XDP.

use super::{Check, Sys};

/// Kernel release as (major, minor), from `/proc/sys/kernel/osrelease`.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a module is loaded or built in.
fn module_present(sys: &Sys, name: &str) -> bool {
    sys.exists(format!("/sys/module/{name}"))
        || sys
            .read("/proc/modules")
            .is_some_and(|m| m.lines().any(|l| l.split_whitespace().next() == Some(name)))
}

/// `CONFIG_X` from /boot/config-RELEASE or /proc/config.gz (uncompressed only).
fn kconfig(sys: &Sys, release: &str, key: &str) -> Option<String> {
    let cfg = sys.read(format!("/boot/config-{release}"))?;
    cfg.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_string)
    })
}

/// The kernel checks.
pub fn checks(sys: &Sys) -> Vec<Check> {
    let release = sys.read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let ver = version(&release);
    let mut out = vec![
        match ver {
            Some(_) => Check::info("kernel", format!("Linux {release}")),
            None => Check::warn("kernel", "cannot read /proc/sys/kernel/osrelease"),
        },
        xfrm(sys),
        esp(sys, &release),
        aead(sys),
        per_cpu_sas(ver, &release),
        bpffs(sys),
        bpf_jit(sys),
        xdp_cpumap(ver),
    ];
    out.extend(ports(sys));
    out
}

/// XFRM: /proc/net/xfrm_stat exists when CONFIG_XFRM_STATISTICS; xfrm_user for netlink.
fn xfrm(sys: &Sys) -> Check {
    if sys.exists("/proc/net/xfrm_stat") || module_present(sys, "xfrm_user") {
        Check::ok("xfrm", "XFRM framework present")
    } else {
        Check::missing("xfrm", "no XFRM (/proc/net/xfrm_stat, xfrm_user)")
            .fix("modprobe xfrm_user  (or a kernel with CONFIG_XFRM_USER)")
    }
}

/// ESP (esp4/esp6 loaded, built in, or loadable).
fn esp(sys: &Sys, release: &str) -> Check {
    // Modules cannot load when disabled or when the release has no module tree.
    let modules_disabled = sys.read("/proc/sys/kernel/modules_disabled").as_deref() == Some("1")
        || (!release.is_empty() && !sys.exists(format!("/lib/modules/{release}")));
    let esp4 = module_present(sys, "esp4");
    let esp6 = module_present(sys, "esp6");
    let kesp = kconfig(sys, release, "CONFIG_INET_ESP");
    match (esp4, kesp.as_deref(), modules_disabled) {
        (true, _, _) => Check::ok("esp", format!("ESP available (esp4{})", if esp6 { ", esp6" } else { "" })),
        (false, Some("y"), _) => Check::ok("esp", "ESP built into the kernel (CONFIG_INET_ESP=y)"),
        (false, Some("m"), false) => {
            Check::warn("esp", "esp4 not loaded (CONFIG_INET_ESP=m); the kernel loads it on first SA").fix("modprobe esp4 esp6")
        }
        (false, _, true) => Check::missing("esp", "esp4 not loaded and module loading is disabled: SAs cannot be installed")
            .fix("boot a kernel with CONFIG_INET_ESP (and INET6_ESP) or load esp4/esp6 before modules_disabled"),
        (false, None | Some(_), false) => {
            Check::warn("esp", "esp4 not loaded; the kernel may lack CONFIG_INET_ESP").fix("modprobe esp4 esp6")
        }
    }
}

/// AES-GCM in /proc/crypto, and whether it is accelerated.
fn aead(sys: &Sys) -> Check {
    let crypto = sys.read("/proc/crypto").unwrap_or_default();
    let gcm = crypto.contains("rfc4106(gcm(aes))") || crypto.contains("gcm(aes)");
    if gcm {
        let accel = crypto.contains("aesni") || crypto.contains("-ce") || crypto.contains("vaes");
        Check::ok(
            "aead",
            format!(
                "AES-GCM available{}",
                if accel { " (hardware accelerated)" } else { "" }
            ),
        )
    } else {
        Check::warn(
            "aead",
            "AES-GCM not yet registered in /proc/crypto (loaded on first use if built as a module)",
        )
        .fix("modprobe gcm aesni_intel  (or your arch's AES driver)")
    }
}

/// Per-CPU SAs need Linux 6.13.
fn per_cpu_sas(ver: Option<(u32, u32)>, release: &str) -> Check {
    match ver {
        Some(v) if v >= (6, 13) => Check::ok(
            "per-cpu-sas",
            "kernel >= 6.13: XFRMA_SA_PCPU and XFRM_POLICY_CPU_ACQUIRE",
        ),
        Some(_) => Check::missing(
            "per-cpu-sas",
            format!("kernel {release} < 6.13: per-CPU SAs fall back to one SA pair"),
        )
        .fix("upgrade to Linux 6.13 or newer"),
        None => Check::warn("per-cpu-sas", "unknown kernel version"),
    }
}

/// BPF / XDP steering: the bpf filesystem for pinned maps.
fn bpffs(sys: &Sys) -> Check {
    let mounts = sys.read("/proc/mounts").unwrap_or_default();
    let bpffs = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("bpf"));
    if bpffs {
        Check::ok("bpffs", "bpf filesystem mounted")
    } else {
        Check::warn(
            "bpffs",
            "bpf filesystem not mounted (needed to pin steering maps)",
        )
        .fix("mount -t bpf bpf /sys/fs/bpf")
    }
}

/// The BPF JIT, for XDP steering at speed.
fn bpf_jit(sys: &Sys) -> Check {
    match sys.read("/proc/sys/net/core/bpf_jit_enable").as_deref() {
        Some("1") | Some("2") => Check::ok("bpf-jit", "BPF JIT enabled"),
        Some(_) => Check::warn("bpf-jit", "BPF JIT disabled: XDP steering runs interpreted")
            .fix("sysctl -w net.core.bpf_jit_enable=1")
            .safe("/proc/sys/net/core/bpf_jit_enable", "1"),
        None => {
            if sys.exists("/sys/kernel/btf/vmlinux") {
                Check::ok("bpf-jit", "BPF JIT always on (no sysctl)")
            } else {
                Check::warn(
                    "bpf-jit",
                    "no BPF JIT sysctl and no BTF: BPF may be unavailable",
                )
            }
        }
    }
}

/// cpumap redirect from XDP needs Linux 5.9.
fn xdp_cpumap(ver: Option<(u32, u32)>) -> Check {
    match ver {
        Some(v) if v >= (5, 9) => Check::ok("xdp-cpumap", "XDP with cpumap redirect available"),
        Some(_) => Check::missing(
            "xdp-cpumap",
            "kernel < 5.9 lacks cpumap programs for steering",
        )
        .fix("upgrade the kernel"),
        None => Check::warn("xdp-cpumap", "unknown kernel version"),
    }
}

/// Ports used by another IKE daemon.
fn ports(sys: &Sys) -> Vec<Check> {
    let mut out = Vec::new();
    for (port, what) in [(500u16, "IKE"), (4500, "NAT-T")] {
        if udp_port_bound(sys, port) {
            out.push(
                Check::warn(format!("udp-{port}"), format!("UDP {port} ({what}) is already bound, maybe by another IKE daemon"))
                    .fix(format!("ss -ulpn 'sport = :{port}'  and stop that daemon (e.g. systemctl stop strongswan)")),
            );
        }
    }
    out
}

/// Whether `/proc/net/udp{,6}` lists a socket bound to `port`.
fn udp_port_bound(sys: &Sys, port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
        sys.read(f).is_some_and(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.ends_with(&want))
            })
        })
    })
}

/// Definitive answers from installing throw-away SAs (xfrm-offload's probe:
/// TEST-NET addresses, no policy, deleted at once). Needs root.
pub fn probe_checks() -> Vec<Check> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return vec![Check::info(
                "xfrm-probe",
                format!("cannot start the probe: {e}"),
            )];
        }
    };
    let caps = rt.block_on(async {
        let xfrm = xfrm_offload::Xfrm::new()?;
        xfrm_offload::probe::probe(&xfrm).await
    });
    let caps = match caps {
        Ok(c) => c,
        Err(e) => return vec![Check::warn("xfrm-probe", format!("probe failed: {e}"))],
    };
    let mut out = Vec::new();
    out.push(if caps.esp {
        let mut algs = Vec::new();
        if caps.aes_gcm {
            algs.push("aes-gcm");
        }
        if caps.chacha20_poly1305 {
            algs.push("chacha20-poly1305");
        }
        if caps.aes_cbc_sha256 {
            algs.push("aes-cbc+sha256");
        }
        Check::ok(
            "probe-esp",
            format!("the kernel installs ESP SAs ({})", algs.join(", ")),
        )
    } else {
        Check::missing(
            "probe-esp",
            format!(
                "the kernel refuses ESP SAs ({})",
                caps.notes
                    .last()
                    .map_or("no reason given", |n| n.split("; hint").next().unwrap_or(n))
            ),
        )
        .fix("load esp4/esp6 and gcm (modprobe esp4 esp6 gcm) or use a kernel with CONFIG_INET_ESP")
    });
    if caps.esp {
        out.push(if caps.per_cpu_sa {
            Check::ok(
                "probe-per-cpu",
                "XFRMA_SA_PCPU kept on read-back: per-CPU SAs work",
            )
        } else {
            Check::missing(
                "probe-per-cpu",
                "XFRMA_SA_PCPU not kept: per_cpu_sas children fall back to one SA pair",
            )
            .fix("upgrade to Linux 6.13 or newer")
        });
    }
    out
}
