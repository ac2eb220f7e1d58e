//! Doctor against fake /proc and /sys trees.

use std::path::Path;

use super::*;
use crate::testutil::TempDir;

fn put(root: &Path, path: &str, content: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

fn find<'a>(r: &'a Report, name: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {:#?}", r.checks))
}

fn host_like(root: &Path, release: &str) {
    put(root, "/proc/sys/kernel/osrelease", release);
    put(root, "/proc/net/xfrm_stat", "XfrmInError 0\n");
    put(
        root,
        "/proc/crypto",
        "name : gcm(aes)\ndriver : generic-gcm-aesni\n",
    );
    put(root, "/proc/mounts", "bpf /sys/fs/bpf bpf rw 0 0\n");
    put(root, "/proc/sys/net/core/bpf_jit_enable", "0\n");
    put(root, "/proc/sys/kernel/modules_disabled", "1\n");
    put(
        root,
        "/proc/net/udp",
        "  sl  local_address rem_address\n   0: 00000000:01F4 00000000:0000 07\n",
    );
    put(root, "/sys/devices/system/cpu/online", "0-3\n");
    for c in 0..4 {
        put(
            root,
            &format!("/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"),
            "powersave\n",
        );
    }
    put(root, "/sys/class/net/lo/mtu", "65536");
    put(
        root,
        "/sys/class/net/eth0/queues/rx-0/rps_cpus",
        "00000000\n",
    );
    put(
        root,
        "/sys/class/net/eth0/queues/tx-0/xps_cpus",
        "00000000\n",
    );
    put(root, "/sys/class/net/eth0/device/msi_irqs/24", "msix");
    put(root, "/sys/class/net/eth0/device/msi_irqs/25", "msix");
    put(root, "/proc/irq/24/smp_affinity_list", "0\n");
    put(root, "/proc/irq/25/smp_affinity_list", "0\n");
}

#[test]
fn host_without_esp_and_with_untuned_nic() {
    let dir = TempDir::new("doctor");
    host_like(dir.path(), "6.18.0-1-amd64");
    let sys = Sys::fake(dir.path(), true);
    let report = gather(&sys, &[], false);

    assert_eq!(find(&report, "kernel").detail, "Linux 6.18.0-1-amd64");
    assert_eq!(find(&report, "xfrm").status, Status::Ok);
    let esp = find(&report, "esp");
    assert_eq!(esp.status, Status::Missing, "{esp:?}");
    assert!(
        esp.fix
            .as_deref()
            .is_some_and(|f| f.contains("CONFIG_INET_ESP"))
    );
    assert_eq!(find(&report, "per-cpu-sas").status, Status::Ok);
    assert_eq!(find(&report, "bpf-jit").status, Status::Warn);
    assert_eq!(find(&report, "udp-500").status, Status::Warn);
    assert!(report.checks.iter().all(|c| c.name != "udp-4500"));
    assert_eq!(find(&report, "cpu-governor").status, Status::Warn);
    assert_eq!(find(&report, "eth0.rss-queues").status, Status::Warn);
    assert_eq!(find(&report, "eth0.irq-affinity").status, Status::Warn);
    assert!(
        report.checks.iter().all(|c| !c.name.starts_with("lo.")),
        "lo is skipped"
    );

    let rps = find(&report, "eth0.rps");
    assert_eq!(rps.status, Status::Warn);
    assert_eq!(
        rps.fix.as_deref(),
        Some("echo f > /sys/class/net/eth0/queues/rx-0/rps_cpus")
    );

    let text = report.render();
    assert!(text.contains("[MISS ] esp"), "{text}");
    assert!(text.contains("lanes doctor --apply does this"), "{text}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["checks"][0]["name"], "kernel");

    // --apply performs only the safe fixes.
    let mut report = report;
    report.apply(&sys);
    assert_eq!(
        sys.read("/sys/class/net/eth0/queues/rx-0/rps_cpus")
            .as_deref(),
        Some("f")
    );
    assert_eq!(
        sys.read("/proc/sys/net/core/bpf_jit_enable").as_deref(),
        Some("1")
    );
    assert_eq!(
        sys.read("/proc/irq/24/smp_affinity_list").as_deref(),
        Some("0")
    );
    assert!(
        find(&report, "eth0.rps")
            .applied
            .as_deref()
            .is_some_and(|a| a.starts_with("wrote f"))
    );
}

#[test]
fn old_kernel_with_esp_module() {
    let dir = TempDir::new("doctor-old");
    host_like(dir.path(), "6.1.0-25-amd64");
    put(dir.path(), "/proc/sys/kernel/modules_disabled", "0\n");
    put(dir.path(), "/lib/modules/6.1.0-25-amd64/modules.dep", "");
    put(
        dir.path(),
        "/proc/modules",
        "esp4 24576 0 - Live 0x0\nxfrm_user 1 0 - Live 0\n",
    );
    put(
        dir.path(),
        "/sys/class/net/eth0/queues/rx-1/rps_cpus",
        "0\n",
    );
    put(
        dir.path(),
        "/sys/class/net/eth0/queues/rx-2/rps_cpus",
        "0\n",
    );
    put(
        dir.path(),
        "/sys/class/net/eth0/queues/rx-3/rps_cpus",
        "0\n",
    );
    put(dir.path(), "/proc/irq/25/smp_affinity_list", "1\n");
    let report = gather(
        &Sys::fake(dir.path(), false),
        &["eth0".into(), "nope0".into()],
        false,
    );
    assert_eq!(find(&report, "esp").status, Status::Ok);
    assert_eq!(find(&report, "per-cpu-sas").status, Status::Missing);
    assert_eq!(find(&report, "eth0.rss-queues").status, Status::Ok);
    assert!(
        report.checks.iter().all(|c| c.name != "eth0.rps"),
        "4 queues for 4 CPUs: RPS not needed"
    );
    assert_eq!(find(&report, "eth0.irq-affinity").status, Status::Ok);
    assert_eq!(find(&report, "nope0.exists").status, Status::Missing);
    assert_eq!(find(&report, "privileges").status, Status::Info);
}

#[test]
fn empty_tree_never_panics() {
    let dir = TempDir::new("doctor-empty");
    let report = gather(&Sys::fake(dir.path(), false), &[], false);
    assert!(!report.checks.is_empty());
    assert_eq!(find(&report, "kernel").status, Status::Warn);
}

#[test]
fn live_host_never_panics() {
    // Whatever this machine is, gathering must succeed and report the kernel.
    let report = gather(&Sys::host(), &[], false);
    assert!(report.checks.iter().any(|c| c.name == "kernel"));
}
