//! Attaches the program to a veth in a fresh network namespace, sends real
//! ESP frames from the peer namespace over an AF_PACKET socket, and checks
//! the counters and that the cpumap threads of the bound CPUs ran. Also
//! checks that a second attach replaces the pinned program instead of
//! stacking one, and that detach removes the pins. Needs root and the built
//! object: runs only with `LANES_PRIV_TESTS=1`.

use ebpf_steer::frames::{FrameSpec, L4};
use ebpf_steer::{AttachOptions, Binding, Counter, FailAt, Mode, PinRoot, Steering};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

const SPI_CPU0: u32 = 0x0100_0001;
const SPI_CPU1: u32 = 0x0100_0002;
const FRAMES: usize = 200;

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("spawn");
    assert!(st.success(), "{args:?} failed: {st}");
}

/// Two namespaces joined by a veth pair; removed on drop.
struct Netns {
    a: String,
    b: String,
    root: PinRoot,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Steering::detach(&self.root, "lo");
        let _ = Steering::detach(&self.root, "va");
        let _ = std::fs::remove_dir_all(self.root.path());
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
    // SAFETY: a valid namespace fd; only this thread changes namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Sends each frame out of `iface` with an AF_PACKET socket.
fn send_frames(iface: &str, frames: &[Vec<u8>]) {
    // SAFETY: plain socket syscalls on a socket this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let name = std::ffi::CString::new(iface).expect("name");
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
        sll.sll_halen = 6;
        assert!(sll.sll_ifindex > 0, "no {iface}");
        for f in frames {
            let n = libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(
                n,
                f.len() as isize,
                "sendto: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::close(fd);
    }
}

/// Context switches of the cpumap kthread of `cpu` for map `map_id`
/// (`cpumap/<cpu>/map:<id>`, kernel/bpf/cpumap.c), summed.
fn kthread_switches(cpu: u32, map_id: u32) -> Option<u64> {
    let want = format!("cpumap/{cpu}/map:{map_id}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        // Older kernels cut names at TASK_COMM_LEN - 1; newer show kthreads' full names.
        if comm == want || (comm.len() == 15 && want.starts_with(comm)) {
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            return Some(
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches"))
                    .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                    .sum(),
            );
        }
    }
    None
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn veth_esp_is_steered_to_the_bound_cpu() {
    if std::env::var("LANES_PRIV_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LANES_PRIV_TESTS=1 (root + `cargo xtask build`)");
        return;
    }
    assert!(ebpf_steer::object_built(), "run `cargo xtask build` first");
    let pid = std::process::id();
    let env = Netns {
        a: format!("lanes-steer-a-{pid}"),
        b: format!("lanes-steer-b-{pid}"),
        root: PinRoot::new(format!("/sys/fs/bpf/lanes-test-{pid}")),
    };
    sh(&["ip", "netns", "add", &env.a]);
    sh(&["ip", "netns", "add", &env.b]);
    sh(&[
        "ip", "link", "add", "va", "netns", &env.a, "type", "veth", "peer", "name", "vb", "netns",
        &env.b,
    ]);
    sh(&["ip", "-n", &env.a, "link", "set", "va", "up"]);
    sh(&["ip", "-n", &env.b, "link", "set", "vb", "up"]);

    let online = ebpf_steer::online_cpus().expect("cpus");
    let cpu1 = online.iter().copied().find(|c| *c != 0);
    let dst: IpAddr = "192.0.2.1".parse().expect("ip");
    let (a, root) = (env.a.clone(), env.root.clone());

    let (first_prog, map_id) = std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                mode: Mode::Native,
                queue_size: 256,
                pin_root: root.clone(),
            };
            let (mut st, att) = Steering::attach("va", &opts).expect("attach");
            assert_eq!(att.mode, Mode::Native, "veth supports native XDP: {att:?}");
            assert!(att.fallback.is_none() && !att.replaced, "{att:?}");
            st.bind(Binding {
                spi: SPI_CPU0,
                dst: Some(dst),
                cpu: 0,
            })
            .expect("bind 0");
            if let Some(c) = cpu1 {
                st.bind(Binding {
                    spi: SPI_CPU1,
                    dst: Some(dst),
                    cpu: c,
                })
                .expect("bind 1");
            }
            let id = aya::maps::MapInfo::from_pin(root.path().join("maps/LANES_CPUS"))
                .expect("cpumap info")
                .id();
            (att.program_id, id)
        })
        .join()
        .expect("attach thread")
    });

    // A separate handle on the pinned maps, as `lanes steer status` uses.
    let reader = Steering::open(&env.root).expect("open pinned maps");
    let before = reader.stats().expect("stats");
    let k0 = kthread_switches(0, map_id).expect("cpumap kthread for CPU 0");
    let k1 = cpu1.map(|c| kthread_switches(c, map_id).expect("cpumap kthread for CPU 1"));

    let mut frames = Vec::new();
    for i in 0..FRAMES {
        frames.push(FrameSpec::esp(dst, SPI_CPU0).build());
        if cpu1.is_some() {
            frames.push(FrameSpec::esp(dst, SPI_CPU1).build());
        }
        if i % 10 == 0 {
            frames.push(FrameSpec::esp(dst, SPI_CPU0).with_l4(L4::Ike).build());
            frames.push(FrameSpec::esp(dst, 0x0bad_0bad).build());
        }
    }
    let b = env.b.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&b);
            send_frames("vb", &frames);
        });
    });
    // The receive side runs in softirq and the cpumap threads after it:
    // wait (bounded) until every frame has been counted.
    let esp = FRAMES * if cpu1.is_some() { 2 } else { 1 };
    let total = (esp + 2 * (FRAMES / 10)) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let d = loop {
        let d = reader.stats().expect("stats").since(&before);
        let seen: u64 = Counter::ALL.iter().map(|c| d.total(*c)).sum();
        if seen >= total || std::time::Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(d.total(Counter::Steered), esp as u64, "steered: {d:?}");
    assert_eq!(d.total(Counter::Ike), (FRAMES / 10) as u64, "ike: {d:?}");
    assert_eq!(
        d.total(Counter::UnknownSpi),
        (FRAMES / 10) as u64,
        "unknown: {d:?}"
    );
    assert!(
        kthread_switches(0, map_id).expect("kthread 0") > k0,
        "cpumap/0 never ran"
    );
    if let (Some(c), Some(k1)) = (cpu1, k1) {
        assert!(
            kthread_switches(c, map_id).expect("kthread 1") > k1,
            "cpumap/{c} never ran"
        );
    }

    // A restart finds the pinned link and replaces its program.
    let a = env.a.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                pin_root: env.root.clone(),
                ..AttachOptions::default()
            };
            let (_st, att) = Steering::attach("va", &opts).expect("re-attach");
            assert!(att.replaced, "{att:?}");
            assert_ne!(att.program_id, first_prog);
            let listed = Steering::attached(&env.root).expect("list");
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert_eq!(listed[0].program_id, att.program_id);
            // Bindings survive the replacement (maps are pinned).
            assert!(
                !Steering::open(&env.root)
                    .expect("open")
                    .bindings()
                    .expect("b")
                    .is_empty()
            );
        });
    });

    // The floor control replaces the program: bound ESP passes, uncounted.
    let a = env.a.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                pin_root: env.root.clone(),
                ..AttachOptions::default()
            };
            let (_st, att) = Steering::attach_floor("va", &opts).expect("attach floor");
            assert!(att.replaced, "{att:?}");
        });
    });
    let rx = || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &env.a,
                "cat",
                "/sys/class/net/va/statistics/rx_packets",
            ])
            .output()
            .expect("rx_packets");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .expect("a count")
    };
    let (before, rx0) = (reader.stats().expect("stats"), rx());
    let b = env.b.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&b);
            send_frames("vb", &vec![FrameSpec::esp(dst, SPI_CPU0).build(); 50]);
        });
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let d = reader.stats().expect("stats").since(&before);
    assert!(rx() >= rx0 + 50, "the frames did not reach va");
    assert_eq!(d.total(Counter::Steered), 0, "the floor program steered");

    // The interface deleted and created again leaves a stale pinned link:
    // the next attach notices, unpins it and attaches afresh.
    sh(&["ip", "-n", &env.a, "link", "del", "va"]);
    sh(&[
        "ip", "link", "add", "va", "netns", &env.a, "type", "veth", "peer", "name", "vb", "netns",
        &env.b,
    ]);
    sh(&["ip", "-n", &env.a, "link", "set", "va", "up"]);
    let a = env.a.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                pin_root: env.root.clone(),
                ..AttachOptions::default()
            };
            let (_st, att) = Steering::attach("va", &opts).expect("attach after re-creation");
            assert!(!att.replaced && att.mode == Mode::Native, "{att:?}");
        });
    });

    // Loopback has no native XDP: the attach falls back to skb and says why.
    let a = env.a.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                pin_root: env.root.clone(),
                ..AttachOptions::default()
            };
            let (_st, att) = Steering::attach("lo", &opts).expect("attach lo");
            assert_eq!(att.mode, Mode::Skb, "{att:?}");
            let why = att.fallback.expect("fallback reason");
            assert!(why.contains("not supported"), "{why}");
        });
    });
    assert_eq!(Steering::attached(&env.root).expect("list").len(), 2);
    assert!(Steering::detach(&env.root, "lo").expect("detach lo"));
    assert!(
        env.root.path().join("maps/LANES_SPI_CPU").exists(),
        "maps stay while va is attached"
    );

    assert!(Steering::detach(&env.root, "va").expect("detach"));
    assert!(Steering::attached(&env.root).expect("list").is_empty());
    assert!(
        !env.root.path().join("maps/LANES_SPI_CPU").exists(),
        "maps unpinned"
    );
}

/// Whether `ip -n NS link show IFACE` reports an XDP program.
fn has_xdp(ns: &str, iface: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "link", "show", iface])
        .output()
        .expect("ip link show");
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn a_failed_attach_leaves_nothing_attached_or_pinned() {
    if std::env::var("LANES_PRIV_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LANES_PRIV_TESTS=1 (root + `cargo xtask build`)");
        return;
    }
    assert!(ebpf_steer::object_built(), "run `cargo xtask build` first");
    let pid = std::process::id();
    let env = Netns {
        a: format!("lanes-fail-a-{pid}"),
        b: format!("lanes-fail-b-{pid}"),
        root: PinRoot::new(format!("/sys/fs/bpf/lanes-fail-{pid}")),
    };
    sh(&["ip", "netns", "add", &env.a]);
    sh(&["ip", "netns", "add", &env.b]);
    sh(&[
        "ip", "link", "add", "va", "netns", &env.a, "type", "veth", "peer", "name", "vb", "netns",
        &env.b,
    ]);
    sh(&["ip", "-n", &env.a, "link", "set", "va", "up"]);
    let a = env.a.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&a);
            let opts = AttachOptions {
                pin_root: env.root.clone(),
                ..AttachOptions::default()
            };
            for at in [FailAt::MapsPinned, FailAt::Attached, FailAt::LinkPinned] {
                let e = Steering::attach_failing("va", &opts, at)
                    .err()
                    .unwrap_or_else(|| panic!("{at:?}: the attach succeeded"));
                assert!(e.to_string().contains("injected"), "{at:?}: {e}");
                assert!(
                    !env.root.path().exists(),
                    "{at:?}: pins left under the root"
                );
                assert!(!has_xdp(&a, "va"), "{at:?}: XDP still attached to va");
            }
            // A real failure after the maps are pinned: the kernel refuses a
            // cpumap queue above 16384 frames (kernel/bpf/cpumap.c).
            let big = AttachOptions {
                queue_size: 1 << 20,
                ..opts.clone()
            };
            assert!(Steering::attach("va", &big).is_err());
            assert!(!env.root.path().exists(), "oversized queue: pins left");
            // With a link already pinned, a failed re-attach keeps it and
            // the maps (they were not this attach's to remove).
            let (_st, _) = Steering::attach("va", &opts).expect("attach");
            let e = Steering::attach_failing("va", &opts, FailAt::MapsPinned);
            assert!(e.is_err());
            assert!(env.root.path().join("maps/LANES_SPI_CPU").exists());
            assert_eq!(Steering::attached(&env.root).expect("list").len(), 1);
            assert!(has_xdp(&a, "va"), "the earlier link was lost");
        });
    });
}
