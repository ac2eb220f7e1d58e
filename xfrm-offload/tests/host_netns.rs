//! Host tests in a fresh network namespace (LANES_PRIV_TESTS=1, root): what
//! the host kernel supports without ESP — policies, ALLOCSPI, acquires
//! triggered by traffic, the monitor's overflow resync, reqid-scoped flush,
//! and the probes' and errors' behaviour on a kernel without ESP.

mod common;

use std::time::Duration;

use common::{gate, in_netns, ip, sh};
use xfrm_offload::probe;
use xfrm_offload::*;
use zeroize::Zeroizing;

const GATE: &str = "LANES_PRIV_TESTS";

fn selector(src: &str, dst: &str) -> TrafficSelector {
    let p = |s: &str| {
        let (a, l) = s.split_once('/').expect("prefix");
        IpPrefix::new(ip(a), l.parse().expect("len")).expect("prefix")
    };
    TrafficSelector::new(p(src), p(dst)).expect("selector")
}

fn out_policy(reqid: Reqid) -> PolicySpec {
    let mut p = PolicySpec::new(
        selector("10.1.0.0/16", "10.2.0.0/16"),
        PolicyDir::Out,
        Template::esp_tunnel(ip("10.0.0.1"), ip("10.0.0.2"), reqid),
    );
    p.priority = 1000;
    p
}

/// A veth pair with 10.1.0.1/16 and a route to 10.2.0.0/16, so UDP to
/// 10.2.0.x goes through the output policy lookup.
fn link_setup() {
    sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
    sh("ip addr add 10.1.0.1/16 dev v0 && ip route add 10.2.0.0/16 dev v0");
}

fn send_udp(dst: &str) {
    let s = std::net::UdpSocket::bind("10.1.0.1:0").expect("bind");
    // EAGAIN / EHOSTUNREACH while the acquire is pending is expected.
    let _ = s.send_to(b"lanes", (dst, 9));
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn policies_add_get_update_dump_delete() {
    if !gate(GATE, "policies_add_get_update_dump_delete") {
        return;
    }
    in_netns(|| async {
        let x = Xfrm::new().expect("xfrm");
        let ours = tag::reqid(1).expect("reqid");
        let mut out = out_policy(ours);
        out.cpu_acquire = true;
        x.add_policy(&out).await.expect("add out");
        let mut inp = PolicySpec::new(
            selector("10.2.0.0/16", "10.1.0.0/16"),
            PolicyDir::In,
            Template::esp_tunnel(ip("10.0.0.2"), ip("10.0.0.1"), ours),
        );
        inp.priority = 1000;
        x.add_policy(&inp).await.expect("add in");
        let mut fwd = inp.clone();
        fwd.dir = PolicyDir::Fwd;
        fwd.mark = Some(Mark {
            value: 0x10,
            mask: 0xff,
        });
        x.add_policy(&fwd).await.expect("add fwd");

        // Adding twice is EEXIST with a hint; update replaces.
        let e = x.add_policy(&out).await.expect_err("duplicate");
        assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
        assert!(e.to_string().contains("use update"), "{e}");
        out.priority = 900;
        x.update_policy(&out).await.expect("update");

        let got = x.get_policy(&out.id()).await.expect("get");
        assert_eq!(got.priority, 900);
        assert!(got.cpu_acquire(), "CPU_ACQUIRE flag kept");
        assert_eq!(got.templates, out.templates);
        let got_fwd = x.get_policy(&fwd.id()).await.expect("get fwd (mark)");
        assert_eq!(got_fwd.mark, fwd.mark);

        let all = x.dump_policies().await.expect("dump");
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all.iter().all(tag::policy_is_ours));

        // `ip` sees the same.
        let text = sh("ip xfrm policy list");
        assert!(
            text.contains("priority 900") && text.contains("dir fwd"),
            "{text}"
        );

        x.delete_policy(&inp.id()).await.expect("delete");
        let e = x.delete_policy(&inp.id()).await.expect_err("gone");
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        assert_eq!(x.dump_policies().await.expect("dump").len(), 2);
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn flush_ours_spares_foreign_state() {
    if !gate(GATE, "flush_ours_spares_foreign_state") {
        return;
    }
    in_netns(|| async {
        let x = Xfrm::new().expect("xfrm");
        // 200 of ours, pipelined, over distinct selectors.
        let specs: Vec<_> = (0..200u16)
            .map(|i| {
                let mut p = out_policy(tag::reqid(i).expect("reqid"));
                p.selector = selector(
                    &format!("10.1.{}.0/24", i % 250),
                    &format!("10.{}.0.0/16", 100 + i / 250),
                );
                p
            })
            .collect();
        for r in x.update_policies(&specs).await.expect("batch") {
            r.expect("policy");
        }
        // A foreign daemon's policy (strongSwan-style reqid 1) and SA larval.
        sh(
            "ip xfrm policy add src 172.16.0.0/16 dst 172.17.0.0/16 dir out \
            tmpl src 10.0.0.1 dst 10.0.0.2 proto esp reqid 1 mode tunnel",
        );
        sh("ip xfrm state allocspi src 10.0.0.9 dst 10.0.0.1 proto esp reqid 1 mode tunnel");
        let mine = SpiRequest::new(ip("10.0.0.2"), ip("10.0.0.1"), tag::reqid(7).expect("r"));
        x.alloc_spi(&mine).await.expect("allocspi");

        let owned = x.list_ours().await.expect("list");
        assert_eq!(owned.policies.len(), 200);
        assert_eq!(owned.sas.len(), 1);
        let f = x.flush_ours().await.expect("flush");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!((f.policies, f.sas), (200, 1));
        let left = x.dump_policies().await.expect("dump");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].templates[0].reqid, Reqid(1));
        let sas = x.dump_sas().await.expect("dump sas");
        assert_eq!(sas.len(), 1);
        assert_eq!(sas[0].reqid, Reqid(1));
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn allocspi_range_cpu_and_readback() {
    if !gate(GATE, "allocspi_range_cpu_and_readback") {
        return;
    }
    in_netns(|| async {
        let x = Xfrm::new().expect("xfrm");
        let mut r = SpiRequest::new(ip("10.0.0.2"), ip("10.0.0.1"), tag::reqid(3).expect("r"));
        r.min = 0xc000_1000;
        r.max = 0xc000_1fff;
        r.pcpu = Some(CpuId(0));
        r.dir = Some(SaDir::In);
        let spi = x.alloc_spi(&r).await.expect("allocspi");
        assert!((r.min..=r.max).contains(&spi.0), "{spi}");
        let st = x
            .get_sa(&SaId::esp(ip("10.0.0.2"), ip("10.0.0.1"), spi))
            .await
            .expect("larval SA readable");
        assert_eq!(st.reqid, r.reqid);
        assert_eq!(st.pcpu, Some(CpuId(0)), "host kernel 6.18 keeps SA_PCPU");
        assert_eq!(st.dir, Some(SaDir::In));
        // A CPU that cannot exist is refused.
        let mut bad = r;
        bad.pcpu = Some(CpuId(100_000));
        bad.reqid = tag::reqid(4).expect("r");
        let e = x.alloc_spi(&bad).await.expect_err("cpu too big");
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        x.delete_sa(&SaId::esp(ip("10.0.0.2"), ip("10.0.0.1"), spi))
            .await
            .expect("delete larval");
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn acquire_from_traffic_reaches_the_monitor() {
    if !gate(GATE, "acquire_from_traffic_reaches_the_monitor") {
        return;
    }
    in_netns(|| async {
        link_setup();
        let x = Xfrm::new().expect("xfrm");
        let mut mon = Monitor::new(x.clone(), Groups::default()).expect("monitor");
        let reqid = tag::reqid(9).expect("r");
        let mut p = out_policy(reqid);
        p.cpu_acquire = true;
        x.add_policy(&p).await.expect("policy");
        send_udp("10.2.0.5");
        let ev = tokio::time::timeout(Duration::from_secs(5), mon.next())
            .await
            .expect("acquire within 5 s")
            .expect("event");
        let Event::Acquire(a) = ev else {
            panic!("expected acquire, got {ev:?}");
        };
        assert_eq!(a.reqid, Some(reqid));
        assert_eq!(a.selector.src, IpPrefix::host(ip("10.1.0.1")));
        assert_eq!(a.selector.dst, IpPrefix::host(ip("10.2.0.5")));
        assert_eq!(a.selector.dport, Some(PortMask::exact(9)));
        assert_eq!((a.src, a.dst), (ip("10.0.0.1"), ip("10.0.0.2")));
        assert_eq!(
            a.cpu, None,
            "no fallback SA exists yet, so no CPU (SPEC §3.2)"
        );
        assert_ne!(a.seq, 0);

        // Answering it: ALLOCSPI with the acquire's seq finds its larval state.
        let mut r = SpiRequest::new(a.src, a.dst, reqid);
        r.seq = a.seq;
        r.proto = a.proto;
        let spi = x.alloc_spi(&r).await.expect("allocspi for acquire");
        let st = x
            .get_sa(&SaId::esp(a.src, a.dst, spi))
            .await
            .expect("larval");
        assert_eq!(st.seq, a.seq, "the acquire's larval state got the SPI");
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn monitor_overflow_resyncs_by_dump() {
    if !gate(GATE, "monitor_overflow_resyncs_by_dump") {
        return;
    }
    in_netns(|| async {
        let x = Xfrm::new().expect("xfrm");
        let groups = Groups {
            policy: true,
            ..Groups::default()
        };
        // The smallest buffer the kernel allows; 300 notifications overflow it.
        let mut mon = Monitor::with_rcvbuf(x.clone(), groups, 1).expect("monitor");
        let specs: Vec<_> = (0..300u16)
            .map(|i| {
                let mut p = out_policy(tag::reqid(i).expect("r"));
                p.selector = selector(
                    &format!("10.1.{}.0/24", i % 250),
                    &format!("10.{}.0.0/16", 50 + i / 250),
                );
                p
            })
            .collect();
        for r in x.update_policies(&specs).await.expect("batch") {
            r.expect("policy");
        }
        let mut resynced = None;
        for _ in 0..400 {
            match tokio::time::timeout(Duration::from_secs(2), mon.next()).await {
                Ok(Ok(Event::Resynced { policies, .. })) => {
                    resynced = Some(policies);
                    break;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("monitor: {e}"),
                Err(_) => break,
            }
        }
        let policies = resynced.expect("an overflow and a resync");
        assert_eq!(policies.len(), 300);
        assert_eq!(mon.overruns(), 1);
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn no_esp_kernel_is_reported_with_a_hint() {
    if !gate(GATE, "no_esp_kernel_is_reported_with_a_hint") {
        return;
    }
    assert!(
        std::fs::read_to_string("/proc/net/xfrm_stat").is_ok(),
        "LANES_PRIV_TESTS=1 needs a kernel with XFRM (CONFIG_XFRM, /proc/net/xfrm_stat)"
    );
    in_netns(|| async {
        let x = Xfrm::new().expect("xfrm");
        let caps = probe::probe(&x).await.expect("probe");
        let spec = SaSpec::new(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            Spi(0x1000),
            tag::reqid(1).expect("r"),
            SaCrypto::AesGcm {
                key: Zeroizing::new(vec![7; 20]),
                icv_bits: 128,
            },
        );
        match x.add_sa(&spec).await {
            Ok(()) => {
                // A kernel with ESP (e.g. the VM): the probe must agree.
                assert!(caps.esp && caps.aes_gcm, "{caps:?}");
                x.delete_sa(&spec.id()).await.expect("delete");
            }
            Err(e) => {
                assert!(!caps.esp, "probe said ESP works but add failed: {e}");
                // The host kernel fails the algorithm lookup first (ENOSYS,
                // "Requested AEAD algorithm not found"); the hint names both fixes.
                assert!(e.to_string().contains("CONFIG_INET_ESP"), "{e}");
                assert!(!caps.per_cpu_sa && !caps.aes_gcm && !caps.chacha20_poly1305);
                assert_eq!(caps.notes.len(), 4, "{caps:?}");
            }
        }
        // The probe cleans up after itself.
        assert!(x.dump_sas().await.expect("dump").is_empty());
    });
}

#[test]
#[ignore = "needs root and XFRM: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn offload_ladder_without_iface_or_esp() {
    if !gate(GATE, "offload_ladder_without_iface_or_esp") {
        return;
    }
    in_netns(|| async {
        link_setup();
        assert!(!esp_hw_offload("v0").expect("ethtool on veth"));
        let x = Xfrm::new().expect("xfrm");
        let mut spec = SaSpec::new(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            Spi(0x2000),
            tag::reqid(2).expect("r"),
            SaCrypto::AesGcm {
                key: Zeroizing::new(vec![7; 20]),
                icv_bits: 128,
            },
        );
        spec.dir = Some(SaDir::Out);
        // Explicit crypto without a device is refused before the kernel.
        let e = x
            .install_sa(&spec, OffloadMode::Crypto, None, false)
            .await
            .expect_err("no iface");
        assert!(matches!(e, Error::Offload(_)), "{e}");
        let e = x
            .install_sa(&spec, OffloadMode::Auto, Some("nope0"), false)
            .await
            .expect_err("unknown iface");
        assert!(e.to_string().contains("nope0"), "{e}");

        // Policies: veth has no xdo_dev_policy_add (EINVAL), and a kernel
        // without CONFIG_XFRM_OFFLOAD (the host) accepts and ignores it.
        let p = out_policy(tag::reqid(2).expect("r"));
        let e = x
            .install_policy(&p, OffloadMode::Packet, Some("v0"))
            .await
            .expect_err("packet policy offload refused");
        assert!(
            matches!(e, Error::Offload(OffloadError::PolicyRefused { .. })),
            "{e}"
        );
        assert!(x.dump_policies().await.expect("dump").is_empty(), "removed");
        let got = x
            .install_policy(&p, OffloadMode::Auto, Some("v0"))
            .await
            .expect("auto falls back");
        assert_eq!(got.offload, None);
        assert!(got.fell_back.is_some(), "{got:?}");
        assert_eq!(got.state.templates, p.templates);
    });
}
