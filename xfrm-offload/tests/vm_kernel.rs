//! Kernel tests that need ESP and per-CPU SAs (Linux 6.13+): run in the VM
//! testbed (`xfrm-offload/tests/vm/xfrm.sh`), gated by LANES_VM_TESTS=1.
//! Each test builds its own namespace: a veth `v0` with 10.1.0.1/16 (inner)
//! and 10.0.0.1/24 (outer), routes to 10.2.0.0/16 and a static neighbour for
//! the peer 10.0.0.2, so outbound ESP leaves through `v0` and the outbound
//! SAs' counters show which SA carried each packet.

mod common;

use std::time::Duration;

use common::{gate, in_netns, ip, sh};
use xfrm_offload::probe;
use xfrm_offload::*;
use zeroize::Zeroizing;

const GATE: &str = "LANES_VM_TESTS";

fn setup() {
    sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
    sh("ip addr add 10.1.0.1/16 dev v0 && ip addr add 10.0.0.1/24 dev v0");
    sh("ip route add 10.2.0.0/16 dev v0");
    sh("ip neigh replace 10.0.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent");
    sh("modprobe -q esp4 || true");
}

fn ncpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the calling thread (and so the test's current-thread runtime).
fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET/sched_setaffinity only touch
    // the set we own and the calling thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "sched_setaffinity({cpu})");
    }
}

/// Sends `n` UDP datagrams 10.1.0.1 -> 10.2.0.5:9 from the calling thread.
fn send_udp(n: usize) {
    let s = std::net::UdpSocket::bind("10.1.0.1:0").expect("bind");
    for _ in 0..n {
        let _ = s.send_to(b"lanes per-cpu", ("10.2.0.5", 9));
    }
}

fn key(spi: u32) -> Zeroizing<Vec<u8>> {
    let mut k = vec![0u8; 20];
    k[..4].copy_from_slice(&spi.to_be_bytes());
    k[19] = 0x42;
    Zeroizing::new(k)
}

fn out_sa(spi: u32, reqid: Reqid, cpu: Option<u32>) -> SaSpec {
    let mut s = SaSpec::new(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        Spi(spi),
        reqid,
        SaCrypto::AesGcm {
            key: key(spi),
            icv_bits: 128,
        },
    );
    s.dir = Some(SaDir::Out);
    s.pcpu = cpu.map(CpuId);
    s
}

fn out_policy(reqid: Reqid, cpu_acquire: bool) -> PolicySpec {
    let sel = TrafficSelector::new(
        IpPrefix::new(ip("10.1.0.0"), 16).expect("prefix"),
        IpPrefix::new(ip("10.2.0.0"), 16).expect("prefix"),
    )
    .expect("selector");
    let mut p = PolicySpec::new(
        sel,
        PolicyDir::Out,
        Template::esp_tunnel(ip("10.0.0.1"), ip("10.0.0.2"), reqid),
    );
    p.cpu_acquire = cpu_acquire;
    p
}

async fn packets(x: &Xfrm, spi: u32) -> u64 {
    x.get_sa(&SaId::esp(ip("10.0.0.1"), ip("10.0.0.2"), Spi(spi)))
        .await
        .expect("get_sa")
        .cur_packets
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn probe_reports_per_cpu_sas_on_the_testbed_kernel() {
    if !gate(GATE, "probe_reports_per_cpu_sas_on_the_testbed_kernel") {
        return;
    }
    in_netns(|| async {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let caps = probe::capabilities(&x).await.expect("probe");
        println!("{caps:?}");
        assert!(caps.esp && caps.aes_gcm && caps.sa_dir, "{caps:?}");
        assert!(caps.per_cpu_sa, "kernel >= 6.13 keeps SA_PCPU: {caps:?}");
        assert!(
            x.dump_sas().await.expect("dump").is_empty(),
            "probe SAs removed"
        );
    });
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn sa_lifecycle_readback_and_errors() {
    if !gate(GATE, "sa_lifecycle_readback_and_errors") {
        return;
    }
    in_netns(|| async {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let reqid = tag::reqid(1).expect("r");
        let mut s = out_sa(0x3000, reqid, Some(0));
        s.esn = true;
        s.encap = Some(UdpEncap {
            sport: 0xc123,
            dport: 4500,
            oa: None,
        });
        s.lifetimes.soft.bytes = Some(1 << 30);
        s.lifetimes.hard.add_seconds = Some(3600);
        s.mark = Some(Mark {
            value: 0x10,
            mask: 0xff,
        });
        x.add_sa(&s).await.expect("add");
        let st = x.get_sa(&s.id()).await.expect("get");
        assert_eq!(st.pcpu, Some(CpuId(0)));
        assert_eq!(st.dir, Some(SaDir::Out));
        assert_eq!(st.encap, Some((0xc123, 4500)));
        assert_eq!(st.lifetimes, s.lifetimes);
        assert_eq!(st.mark, s.mark);
        assert_eq!(st.alg.as_deref(), Some("rfc4106(gcm(aes))"));
        assert_eq!(st.offload, None);

        // Inbound ESN SA with a 128-packet window.
        let mut i = out_sa(0x3001, reqid, None);
        i.src = ip("10.0.0.2");
        i.dst = ip("10.0.0.1");
        i.dir = Some(SaDir::In);
        i.esn = true;
        i.replay_window = 128;
        x.add_sa(&i).await.expect("inbound ESN");

        let e = x.add_sa(&s).await.expect_err("duplicate");
        assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
        s.lifetimes.soft.bytes = Some(1 << 20);
        x.update_sa(&s).await.expect("update");
        let st = x.get_sa(&s.id()).await.expect("get");
        assert_eq!(st.lifetimes.soft.bytes, Some(1 << 20));

        let mut big = out_sa(0x3002, reqid, Some(100_000));
        big.mark = None;
        let e = x.add_sa(&big).await.expect_err("cpu too big");
        assert_eq!(e.errno(), Some(libc::ERANGE), "{e}");
        assert!(e.to_string().contains("num_possible_cpus"), "{e}");

        // Pipelined install of 100 SAs, then reqid-scoped flush.
        let many: Vec<_> = (0..100).map(|n| out_sa(0x4000 + n, reqid, None)).collect();
        for r in x.add_sas(&many, false).await.expect("batch") {
            r.expect("sa");
        }
        assert_eq!(x.dump_sas().await.expect("dump").len(), 102);
        let f = x.flush_ours().await.expect("flush");
        assert_eq!(f.sas, 102, "{:?}", f.errors);
        assert!(x.dump_sas().await.expect("dump").is_empty());
    });
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn per_cpu_sas_carry_traffic_pinned_to_their_cpu() {
    if !gate(GATE, "per_cpu_sas_carry_traffic_pinned_to_their_cpu") {
        return;
    }
    let n = ncpus();
    assert!(
        n >= 2,
        "LANES_VM_TESTS=1 but the guest has {n} CPU(s): boot it with --cpus 2 or more"
    );
    in_netns(move || async move {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let reqid = tag::reqid(2).expect("r");
        x.add_sa(&out_sa(0x10ff, reqid, None))
            .await
            .expect("fallback");
        for c in 0..n as u32 {
            x.add_sa(&out_sa(0x1100 + c, reqid, Some(c)))
                .await
                .expect("per-CPU SA");
        }
        x.add_policy(&out_policy(reqid, true))
            .await
            .expect("policy");
        for c in 0..n {
            let before: Vec<u64> =
                futures::future::join_all((0..n as u32).map(|k| packets(&x, 0x1100 + k))).await;
            let fb_before = packets(&x, 0x10ff).await;
            pin(c);
            send_udp(20);
            let after: Vec<u64> =
                futures::future::join_all((0..n as u32).map(|k| packets(&x, 0x1100 + k))).await;
            println!("cpu {c}: per-CPU SA packets {before:?} -> {after:?}");
            for k in 0..n {
                let d = after[k] - before[k];
                if k == c {
                    assert_eq!(d, 20, "SA of CPU {c} carried {d} of 20");
                } else {
                    assert_eq!(d, 0, "SA of CPU {k} carried {d} while CPU {c} sent");
                }
            }
            assert_eq!(packets(&x, 0x10ff).await, fb_before, "fallback unused");
        }
    });
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn per_cpu_acquire_names_the_sending_cpu() {
    if !gate(GATE, "per_cpu_acquire_names_the_sending_cpu") {
        return;
    }
    let n = ncpus();
    assert!(
        n >= 2,
        "LANES_VM_TESTS=1 but the guest has {n} CPU(s): boot it with --cpus 2 or more"
    );
    in_netns(move || async move {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let mut mon = Monitor::new(x.clone(), Groups::default()).expect("monitor");
        let reqid = tag::reqid(3).expect("r");
        // Fallback + CPU 0 only; CPU 1 has none.
        x.add_sa(&out_sa(0x10ff, reqid, None))
            .await
            .expect("fallback");
        x.add_sa(&out_sa(0x1100, reqid, Some(0)))
            .await
            .expect("cpu0");
        x.add_policy(&out_policy(reqid, true))
            .await
            .expect("policy");
        pin(1);
        send_udp(1);
        let a = loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), mon.next())
                .await
                .expect("acquire within 5 s")
                .expect("event");
            if let Event::Acquire(a) = ev {
                break a;
            }
        };
        assert_eq!(a.cpu, Some(CpuId(1)), "{a:?}");
        assert_eq!(a.reqid, Some(reqid));
        assert_eq!(a.selector.dst, IpPrefix::host(ip("10.2.0.5")));
        // The packet went out on the fallback meanwhile (SPEC §3.2).
        assert_eq!(packets(&x, 0x10ff).await, 1);

        // Answer it: an SA for CPU 1 with the acquire's seq replaces the larval state.
        let mut s = out_sa(0x1101, reqid, Some(1));
        s.seq = a.seq;
        x.add_sa(&s).await.expect("per-CPU SA for the acquire");
        send_udp(5);
        assert_eq!(packets(&x, 0x1101).await, 5, "new SA used on CPU 1");
        let larval: Vec<_> = x
            .dump_sas()
            .await
            .expect("dump")
            .into_iter()
            .filter(|s| s.spi == Spi(0))
            .collect();
        assert!(larval.is_empty(), "larval state replaced: {larval:?}");
    });
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn soft_expire_arrives_before_hard() {
    if !gate(GATE, "soft_expire_arrives_before_hard") {
        return;
    }
    in_netns(|| async {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let mut mon = Monitor::new(x.clone(), Groups::default()).expect("monitor");
        let reqid = tag::reqid(4).expect("r");
        let mut s = out_sa(0x5000, reqid, None);
        s.lifetimes.soft.packets = Some(5);
        s.lifetimes.hard.packets = Some(10);
        x.add_sa(&s).await.expect("sa");
        x.add_policy(&out_policy(reqid, false))
            .await
            .expect("policy");
        send_udp(12);
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let ev = tokio::time::timeout(Duration::from_secs(5), mon.next())
                .await
                .expect("expire within 5 s")
                .expect("event");
            if let Event::Expire(e) = ev {
                assert_eq!(e.sa.spi, Spi(0x5000));
                seen.push(e.hard);
            }
        }
        assert_eq!(seen, vec![false, true], "soft first, then hard");
        let gone = x
            .get_sa(&s.id())
            .await
            .expect_err("hard expiry deletes the SA");
        assert_eq!(gone.errno(), Some(libc::ESRCH), "{gone}");
    });
}

#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn offload_ladder_on_veth_reports_software() {
    if !gate(GATE, "offload_ladder_on_veth_reports_software") {
        return;
    }
    in_netns(|| async {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let reqid = tag::reqid(5).expect("r");
        assert!(!esp_hw_offload("v0").expect("ethtool"));

        // Crypto: the kernel installs a software SA and says OK (no
        // xfrmdev_ops on veth); lanes must not call that offload.
        let s = out_sa(0x6000, reqid, None);
        let e = x
            .install_sa(&s, OffloadMode::Crypto, Some("v0"), false)
            .await
            .expect_err("crypto offload cannot be in effect on veth");
        assert!(
            matches!(e, Error::Offload(OffloadError::SilentFallback { .. })),
            "{e}"
        );
        assert!(
            x.get_sa(&s.id()).await.is_err(),
            "the software SA was removed"
        );

        // Packet: the kernel refuses.
        let e = x
            .install_sa(&s, OffloadMode::Packet, Some("v0"), false)
            .await
            .expect_err("packet offload refused");
        assert!(
            matches!(e, Error::Offload(OffloadError::Refused { .. })),
            "{e}"
        );

        // Auto: software, and says why.
        let got = x
            .install_sa(&s, OffloadMode::Auto, Some("v0"), false)
            .await
            .expect("auto");
        assert_eq!(got.offload, OffloadInEffect::Software);
        assert_eq!(got.state.offload, None);
        assert!(!got.fell_back.is_empty());
        println!("auto on veth: {} ({:?})", got.offload, got.fell_back);

        // Policies: veth has no xdo_dev_policy_add ("Policy offload is not
        // supported"): packet fails, auto installs without offload.
        let p = out_policy(reqid, false);
        let e = x
            .install_policy(&p, OffloadMode::Packet, Some("v0"))
            .await
            .expect_err("policy packet offload refused");
        assert!(
            matches!(e, Error::Offload(OffloadError::PolicyRefused { .. })),
            "{e}"
        );
        let got = x
            .install_policy(&p, OffloadMode::Auto, Some("v0"))
            .await
            .expect("auto policy");
        assert_eq!(got.offload, None);
        println!("policy auto on veth: fell back: {:?}", got.fell_back);
        assert!(got.fell_back.is_some());

        // No: software.
        let s2 = out_sa(0x6001, reqid, None);
        let got = x
            .install_sa(&s2, OffloadMode::No, Some("v0"), false)
            .await
            .expect("no");
        assert_eq!(got.offload, OffloadInEffect::Software);
    });
}

/// A raw NETLINK_XFRM socket bound to the legacy group mask `groups`.
fn raw_socket(groups: u32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket/bind calls on a fresh descriptor; sockaddr_nl is
    // plain data, zeroed then filled.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_XFRM,
        );
        assert!(fd >= 0, "netlink socket");
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = groups;
        let rc = libc::bind(
            fd,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_nl>() as u32,
        );
        assert_eq!(rc, 0, "bind");
        std::os::fd::OwnedFd::from_raw_fd(fd)
    }
}

/// Waits up to 5 s for one datagram; returns its messages as (type, body)
/// (none on timeout).
fn raw_recv(fd: &std::os::fd::OwnedFd) -> Vec<(u16, Vec<u8>)> {
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; 65536];
    // SAFETY: poll/recv on a valid fd into a buffer we own.
    let n = unsafe {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut p, 1, 5000) != 1 {
            return Vec::new();
        }
        libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
    };
    assert!(n > 0, "recv");
    let mut out = Vec::new();
    let mut b = &buf[..n as usize];
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        out.push((ty, b[16..len].to_vec()));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

fn golden_line(name: &str, body: &[u8]) {
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    println!("@@GOLDEN {name} {hex}");
}

/// Captures kernel messages this crate parses, from the testbed kernel
/// (per-CPU NEWSA read-back, per-CPU ACQUIRE, soft and hard EXPIRE), checks
/// that they parse, and prints them as `@@GOLDEN` lines for tests/golden/.
#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn capture_kernel_messages() {
    if !gate(GATE, "capture_kernel_messages") {
        return;
    }
    let n = ncpus();
    assert!(
        n >= 2,
        "LANES_VM_TESTS=1 but the guest has {n} CPU(s): boot it with --cpus 2 or more"
    );
    in_netns(|| async {
        use netlink_packet_core::Emitable;
        use std::os::fd::AsRawFd;
        setup();
        let x = Xfrm::new().expect("xfrm");
        let reqid = tag::reqid(6).expect("r");
        let events = raw_socket(1 | 2); // XFRMNLGRP_ACQUIRE | XFRMNLGRP_EXPIRE
        x.add_sa(&out_sa(0x10ff, reqid, None))
            .await
            .expect("fallback");
        let s = out_sa(0x1100, reqid, Some(0));
        x.add_sa(&s).await.expect("per-CPU SA");
        x.add_policy(&out_policy(reqid, true))
            .await
            .expect("policy");

        // An inbound per-CPU NAT-T SA as strongSwan installs it.
        let mut i = out_sa(0x2101, reqid, Some(1));
        (i.src, i.dst, i.dir) = (ip("10.0.0.2"), ip("10.0.0.1"), Some(SaDir::In));
        i.esn = true;
        i.replay_window = 128;
        i.encap = Some(UdpEncap {
            sport: 0,
            dport: 4500,
            oa: None,
        });
        i.mapping_threshold = Some(u32::MAX);
        x.add_sa(&i).await.expect("inbound per-CPU NAT-T SA");

        // GETSA read-back, raw.
        let q = raw_socket(0);
        let body = emit_body(&i.id());
        let mut req = Vec::new();
        req.extend(((16 + body.len()) as u32).to_ne_bytes());
        req.extend(18u16.to_ne_bytes()); // XFRM_MSG_GETSA
        req.extend(1u16.to_ne_bytes()); // NLM_F_REQUEST
        req.extend(1u32.to_ne_bytes());
        req.extend(0u32.to_ne_bytes());
        req.extend(&body);
        // SAFETY: send on a valid fd from a buffer we own.
        let n = unsafe { libc::send(q.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        assert_eq!(n as usize, req.len());
        let (ty, newsa) = raw_recv(&q).remove(0);
        assert_eq!(ty, 16, "NEWSA answer");
        let st = SaState::parse(&newsa).expect("parse NEWSA");
        assert_eq!((st.pcpu, st.dir), (Some(CpuId(1)), Some(SaDir::In)));
        assert_eq!(st.encap, Some((0, 4500)));
        golden_line("kernel7_newsa_in_pcpu_encap", &newsa);

        // Per-CPU acquire from CPU 1.
        pin(1);
        send_udp(1);
        let acq = raw_recv(&events)
            .into_iter()
            .find(|(t, _)| *t == 23)
            .expect("acquire");
        let a = Acquire::parse(&acq.1).expect("parse ACQUIRE");
        assert_eq!(a.cpu, Some(CpuId(1)));
        golden_line("kernel7_acquire_pcpu", &acq.1);

        // Soft then hard expiry (by time) of a second per-CPU SA.
        let mut e = out_sa(0x1102, reqid, Some(0));
        e.lifetimes.soft.add_seconds = Some(1);
        e.lifetimes.hard.add_seconds = Some(2);
        x.add_sa(&e).await.expect("expiring per-CPU SA");
        let mut expires = Vec::new();
        for _ in 0..4 {
            for (t, b) in raw_recv(&events) {
                if t == 24 {
                    expires.push(b);
                }
            }
            if expires.len() >= 2 {
                break;
            }
        }
        assert_eq!(expires.len(), 2, "soft and hard EXPIRE within 20 s");
        let soft = Expire::parse(&expires[0]).expect("parse EXPIRE");
        let hard = Expire::parse(&expires[1]).expect("parse EXPIRE");
        assert!(!soft.hard && hard.hard);
        assert_eq!(soft.sa.pcpu, Some(CpuId(0)));
        golden_line("kernel7_expire_soft", &expires[0]);
        golden_line("kernel7_expire_hard", &expires[1]);

        fn emit_body(id: &SaId) -> Vec<u8> {
            let m = id.to_message();
            let mut b = vec![0u8; m.buffer_len()];
            m.emit(&mut b);
            b
        }
    });
}

/// Soft then hard expiry of a per-CPU SA by time (how rekeying is driven).
#[test]
#[ignore = "needs the VM testbed kernel: `cargo xtask vm test` runs it (LANES_VM_TESTS=1, --include-ignored)"]
fn per_cpu_sa_expires_by_time() {
    if !gate(GATE, "per_cpu_sa_expires_by_time") {
        return;
    }
    in_netns(|| async {
        setup();
        let x = Xfrm::new().expect("xfrm");
        let mut mon = Monitor::new(x.clone(), Groups::default()).expect("monitor");
        let reqid = tag::reqid(7).expect("r");
        let mut s = out_sa(0x7000, reqid, Some(0));
        s.lifetimes.soft.add_seconds = Some(1);
        s.lifetimes.hard.add_seconds = Some(2);
        x.add_sa(&s).await.expect("sa");
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let ev = tokio::time::timeout(Duration::from_secs(10), mon.next())
                .await
                .expect("expire within 10 s")
                .expect("event");
            if let Event::Expire(e) = ev {
                assert_eq!(e.sa.spi, Spi(0x7000));
                assert_eq!(e.sa.pcpu, Some(CpuId(0)));
                seen.push(e.hard);
            }
        }
        assert_eq!(seen, vec![false, true]);
    });
}
