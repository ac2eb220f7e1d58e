//! SA install rate, like for like, in interleaved rounds (order shuffled
//! per round, the first round discarded), at several SA counts N, every arm
//! installing the same N SAs in the same namespace:
//! - one request at a time, waiting for each ack: lanes `Xfrm::add_sa`
//!   against iproute2's `ip -batch` (which also waits for each ack);
//! - the daemon's path for an SA with offload: `Xfrm::install_sa`, NEWSA
//!   then GETSA to read the offload back;
//! - pipelined: lanes `Xfrm::add_sas` (64 requests per sendmsg) against a
//!   baseline written here (iproute2's NEWSA bytes sent over one netlink
//!   socket without waiting for acks, acks read at the end) and against
//!   `ip -force -batch` measured as it is;
//! - at the smallest N, one `ip xfrm state add` process per SA against lanes
//!   sequential at that same N.
//!
//! Prints `@@RAW xfrm-install-nN ARM ROUND SLOT WARMUP SA_PER_S SA/s` for
//! `cargo xtask bench` (section `xfrm`), and the kernel's slab memory per
//! installed SA (live slab objects of /proc/slabinfo after the installs
//! over the settled value before them: the `xfrm_state` object, its
//! algorithms' transforms and keys) as `@@RAW xfrm-slab-nN ARM ... B/SA`. Needs ESP (the VM): gated by
//! LANES_VM_TESTS=1. `LANES_BENCH_NS` (default 100,1000,4000) and
//! `LANES_BENCH_REPS` (default 5 kept rounds; the VM suite runs 1, `cargo xtask bench` its `--reps`).

#![allow(clippy::print_stdout)]

mod common;

use std::io::Write;
use std::time::Instant;

use common::{in_netns, ip, sh};
use xfrm_offload::*;
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arm {
    LanesSequential,
    IpBatch,
    ReadbackInstall,
    LanesPipelined,
    NetlinkPipelined,
    IpForceBatch,
    IpProcessLoop,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Self::LanesSequential => "lanes_sequential",
            Self::IpBatch => "ip_batch",
            Self::ReadbackInstall => "readback_install",
            Self::LanesPipelined => "lanes_pipelined",
            Self::NetlinkPipelined => "netlink_pipelined",
            Self::IpForceBatch => "ip_force_batch",
            Self::IpProcessLoop => "ip_process_loop",
        }
    }
}

fn spec(spi: u32) -> SaSpec {
    let mut k = vec![0x11u8; 20];
    k[..4].copy_from_slice(&spi.to_be_bytes());
    SaSpec::new(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        Spi(spi),
        tag::reqid(1).expect("reqid"),
        SaCrypto::AesGcm {
            key: Zeroizing::new(k),
            icv_bits: 128,
        },
    )
}

fn ip_line(spi: u32) -> String {
    format!(
        "xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi {spi:#x} reqid {:#x} mode tunnel \
         aead rfc4106(gcm(aes)) 0x{spi:08x}{} 128",
        tag::REQID_BASE + 1,
        "11".repeat(16)
    )
}

/// iproute2's NEWSA body for a GCM-128 tunnel SA (tests/golden), SPI at 72.
fn newsa_body() -> Vec<u8> {
    let hex: String = include_str!("golden/sa_add_tunnel_gcm128.hex")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<String>()
        .split_whitespace()
        .collect();
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("golden hex"))
        .collect()
}

/// The pipelined baseline: every NEWSA written to one NETLINK_XFRM socket
/// without waiting, then every ack read (`NETLINK_CAP_ACK`: acks without
/// the request). Returns the number of acks with error 0.
fn netlink_pipelined(spis: &[u32]) -> usize {
    const XFRM_MSG_NEWSA: u16 = 0x10;
    const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
    const NETLINK_CAP_ACK: libc::c_int = 10;
    let body = newsa_body();
    // SAFETY: plain socket calls on an fd owned by this function.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_XFRM) };
    assert!(fd >= 0, "netlink socket");
    let set = |opt: libc::c_int, level: libc::c_int, v: libc::c_int| unsafe {
        libc::setsockopt(fd, level, opt, (&raw const v).cast(), 4)
    };
    set(libc::SO_RCVBUFFORCE, libc::SOL_SOCKET, 32 << 20);
    set(libc::SO_SNDBUFFORCE, libc::SOL_SOCKET, 32 << 20);
    set(NETLINK_CAP_ACK, libc::SOL_NETLINK, 1);
    let mut out = Vec::new();
    for (seq, spi) in spis.iter().enumerate() {
        let mut b = body.clone();
        b[72..76].copy_from_slice(&spi.to_be_bytes());
        out.extend(((16 + b.len()) as u32).to_ne_bytes());
        out.extend(XFRM_MSG_NEWSA.to_ne_bytes());
        out.extend(NLM_F_REQUEST_ACK.to_ne_bytes());
        out.extend((seq as u32 + 1).to_ne_bytes());
        out.extend(0u32.to_ne_bytes());
        out.extend(b);
    }
    let msg_len = out.len() / spis.len().max(1);
    // Whole messages per write, about 64 KiB each.
    for chunk in out.chunks((65536 / msg_len).max(1) * msg_len) {
        // SAFETY: writes `chunk` to the socket.
        let n = unsafe { libc::send(fd, chunk.as_ptr().cast(), chunk.len(), 0) };
        assert_eq!(n, chunk.len() as isize, "netlink send");
    }
    let (mut acks, mut ok) = (0, 0);
    let mut buf = vec![0u8; 1 << 16];
    while acks < spis.len() {
        // SAFETY: reads into `buf`.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n > 0, "netlink recv: {}", std::io::Error::last_os_error());
        let mut off = 0;
        while off + 20 <= n as usize {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4")) as usize;
            let err = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().expect("4"));
            acks += 1;
            ok += usize::from(err == 0);
            off += len.max(20).next_multiple_of(4);
        }
    }
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(fd) };
    ok
}

/// Bytes in live slab objects: active objects × object size over every
/// cache of /proc/slabinfo (`Slab:` of /proc/meminfo counts pages, and a
/// cache reuses the free objects of earlier rounds before it grows).
fn slab_bytes() -> u64 {
    shrink_slabs();
    let text = std::fs::read_to_string("/proc/slabinfo").expect("/proc/slabinfo (root)");
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let active: u64 = w.get(1)?.parse().ok()?;
            let size: u64 = w.get(3)?.parse().ok()?;
            Some(active * size)
        })
        .sum()
}

/// Empties the per-CPU slabs of every SLUB cache (`/sys/kernel/slab/*/shrink`,
/// mm/slub.c): otherwise their free objects still count as active, and a
/// small install reuses them unseen.
fn shrink_slabs() {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/slab") else {
        return;
    };
    for e in dir.flatten() {
        let _ = std::fs::write(e.path().join("shrink"), "1");
    }
}

/// Slab once freeing has settled: states are freed by a deferred GC
/// (`xfrm_state_gc_task`, net/xfrm/xfrm_state.c) after an RCU grace period.
fn settled_slab() -> u64 {
    let mut last = slab_bytes();
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = slab_bytes();
        if now.abs_diff(last) < 16 * 1024 {
            return now;
        }
        last = now;
    }
    last
}

async fn count(x: &Xfrm) -> usize {
    x.dump_sas().await.expect("dump").len()
}

/// Installs `n` SAs from `base` by `arm`; returns SAs per second and slab
/// bytes per SA.
async fn run_arm(x: &Xfrm, arm: Arm, n: u32, base: u32) -> (f64, f64) {
    let spis: Vec<u32> = (base..base + n).collect();
    let specs: Vec<SaSpec> = spis.iter().map(|s| spec(*s)).collect();
    let batch = std::env::temp_dir().join("lanes-bench-ip-batch.txt");
    if matches!(arm, Arm::IpBatch | Arm::IpForceBatch) {
        let mut f = std::fs::File::create(&batch).expect("batch file");
        for s in &spis {
            writeln!(f, "{}", ip_line(*s)).expect("write");
        }
    }
    let slab = settled_slab();
    let t = Instant::now();
    match arm {
        Arm::LanesSequential => {
            for s in &specs {
                x.add_sa(s).await.expect("add_sa");
            }
        }
        Arm::ReadbackInstall => {
            for s in &specs {
                x.install_sa(s, OffloadMode::No, None, false)
                    .await
                    .expect("install_sa");
            }
        }
        Arm::LanesPipelined => {
            let res = x.add_sas(&specs, false).await.expect("add_sas");
            assert!(res.iter().all(Result::is_ok));
        }
        Arm::NetlinkPipelined => assert_eq!(netlink_pipelined(&spis), spis.len()),
        Arm::IpBatch => drop(sh(&format!("ip -batch {}", batch.display()))),
        Arm::IpForceBatch => drop(sh(&format!("ip -force -batch {}", batch.display()))),
        Arm::IpProcessLoop => {
            for s in &spis {
                let line = ip_line(*s);
                let st = std::process::Command::new("ip")
                    .args(line.split(' '))
                    .status();
                assert!(st.expect("ip").success());
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(count(x).await, n as usize, "{}: SAs installed", arm.name());
    let per_sa = slab_bytes().saturating_sub(slab) as f64 / f64::from(n);
    sh("ip xfrm state flush");
    let _ = std::fs::remove_file(&batch);
    (f64::from(n) / secs, per_sa)
}

fn env_list(var: &str, default: &[u32]) -> Vec<u32> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
        .filter(|v: &Vec<u32>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    if std::env::var("LANES_VM_TESTS").as_deref() != Ok("1") {
        println!("skipped sa_install_bench: set LANES_VM_TESTS=1 (needs root and ESP)");
        return;
    }
    let ns = env_list("LANES_BENCH_NS", &[100, 1000, 4000]);
    let reps = env_list("LANES_BENCH_REPS", &[5])[0] as usize;
    let smallest = ns.iter().copied().min().unwrap_or(100);
    in_netns(move || async move {
        let x = Xfrm::new().expect("xfrm");
        let mut seed = 0x2545_f491u32;
        for n in ns {
            let mut arms = vec![
                Arm::LanesSequential,
                Arm::IpBatch,
                Arm::ReadbackInstall,
                Arm::LanesPipelined,
                Arm::NetlinkPipelined,
                Arm::IpForceBatch,
            ];
            if n == smallest {
                arms.push(Arm::IpProcessLoop);
            }
            for round in 0..=reps {
                for i in (1..arms.len()).rev() {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    arms.swap(i, seed as usize % (i + 1));
                }
                for (slot, arm) in arms.iter().enumerate() {
                    let (rate, slab) = run_arm(&x, *arm, n, 0x1_0000).await;
                    let warm = u8::from(round == 0);
                    let name = arm.name();
                    println!("@@RAW xfrm-install-n{n} {name} {round} {slot} {warm} {rate:.0} SA/s");
                    println!("@@RAW xfrm-slab-n{n} {name} {round} {slot} {warm} {slab:.0} B/SA");
                }
            }
        }
    });
}
