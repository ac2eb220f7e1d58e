//! BPF_PROG_TEST_RUN on crafted frames: every parser branch, verdicts and
//! counters. Needs root and the built object: runs only with
//! `LANES_PRIV_TESTS=1` (set by `cargo xtask test`).

use ebpf_steer::frames::{FrameSpec, L4, TPID_8021AD, TPID_8021Q};
use ebpf_steer::{Binding, Counter, Steering, XDP_PASS, XDP_REDIRECT};
use std::net::IpAddr;

const DST4: &str = "192.0.2.10";
const DST6: &str = "2001:db8::10";
const SPI: u32 = 0xc001_0001;

/// `None` (and a printed "skipped") unless privileged tests were asked for.
fn steering() -> Option<Steering> {
    if std::env::var("LANES_PRIV_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set LANES_PRIV_TESTS=1 (root + `cargo xtask build`)");
        return None;
    }
    assert!(
        ebpf_steer::object_built(),
        "LANES_PRIV_TESTS=1 but the XDP object is not embedded: run `cargo xtask build`"
    );
    // CPU 0 only in the cpumap, so a binding to CPU 1 exercises "no entry".
    Some(Steering::load(Some(&[0])).expect("loading the XDP program"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Runs `frame` once and returns the verdict and which counter moved.
fn run(s: &mut Steering, frame: &[u8]) -> (u32, Counter) {
    let before = s.stats().expect("stats");
    let r = s.test_run(frame, 1).expect("test run");
    let d = s.stats().expect("stats").since(&before);
    let moved: Vec<Counter> = Counter::ALL
        .into_iter()
        .filter(|c| d.total(*c) > 0)
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly one counter per packet, got {moved:?}"
    );
    assert_eq!(d.total(moved[0]), 1);
    (r.action, moved[0])
}

fn bind(s: &mut Steering, spi: u32, dst: Option<&str>, cpu: u32) {
    s.bind_unchecked(Binding {
        spi,
        dst: dst.map(ip),
        cpu,
    })
    .expect("bind");
}

/// Every branch, with its verdict and counter.
fn cases() -> Vec<(&'static str, FrameSpec, u32, Counter)> {
    let e4 = FrameSpec::esp(ip(DST4), SPI);
    let e6 = FrameSpec::esp(ip(DST6), SPI);
    let steer = (XDP_REDIRECT, Counter::Steered);
    let c = |name, f: FrameSpec, (a, k): (u32, Counter)| (name, f, a, k);
    vec![
        c("ipv4 esp", e4.clone(), steer),
        c(
            "ipv4 options esp",
            FrameSpec {
                ip_options: 12,
                ..e4.clone()
            },
            steer,
        ),
        c(
            "ipv4 max options esp",
            FrameSpec {
                ip_options: 40,
                ..e4.clone()
            },
            steer,
        ),
        c(
            "vlan esp",
            FrameSpec {
                vlans: vec![TPID_8021Q],
                ..e4.clone()
            },
            steer,
        ),
        c(
            "qinq esp",
            FrameSpec {
                vlans: vec![TPID_8021AD, TPID_8021Q],
                ..e4.clone()
            },
            steer,
        ),
        c(
            "double 802.1q esp",
            FrameSpec {
                vlans: vec![TPID_8021Q, TPID_8021Q],
                ..e6.clone()
            },
            steer,
        ),
        c(
            "three tags",
            FrameSpec {
                vlans: vec![TPID_8021AD, TPID_8021Q, TPID_8021Q],
                ..e4.clone()
            },
            (XDP_PASS, Counter::NotEsp),
        ),
        c(
            "ipv4 esp-in-udp",
            e4.clone().with_l4(L4::EspInUdp(SPI)),
            steer,
        ),
        c(
            "ipv4 ike on 4500",
            e4.clone().with_l4(L4::Ike),
            (XDP_PASS, Counter::Ike),
        ),
        c(
            "ipv4 keepalive",
            e4.clone().with_l4(L4::Keepalive),
            (XDP_PASS, Counter::Ike),
        ),
        c(
            "ipv4 udp 500",
            e4.clone().with_l4(L4::Udp(500)),
            (XDP_PASS, Counter::NotEsp),
        ),
        c(
            "ipv4 tcp",
            e4.clone().with_l4(L4::Tcp),
            (XDP_PASS, Counter::NotEsp),
        ),
        c(
            "ipv4 fragment",
            FrameSpec {
                fragment: true,
                ..e4.clone()
            },
            (XDP_PASS, Counter::Fragment),
        ),
        c(
            "ipv4 unknown spi",
            e4.clone().with_l4(L4::Esp(0x0bad_0001)),
            (XDP_PASS, Counter::UnknownSpi),
        ),
        c(
            "ipv4 esp-in-udp unknown spi",
            e4.clone().with_l4(L4::EspInUdp(0x0bad_0001)),
            (XDP_PASS, Counter::UnknownSpi),
        ),
        c("ipv6 esp", e6.clone(), steer),
        c(
            "ipv6 hbh+rh+dst esp",
            FrameSpec {
                v6_ext: vec![0, 43, 60],
                ..e6.clone()
            },
            steer,
        ),
        c(
            "ipv6 6 ext esp",
            FrameSpec {
                v6_ext: vec![0, 60, 43, 60, 60, 60],
                ..e6.clone()
            },
            steer,
        ),
        c(
            "ipv6 7 ext",
            FrameSpec {
                v6_ext: vec![0, 60, 43, 60, 60, 60, 60],
                ..e6.clone()
            },
            (XDP_PASS, Counter::NotEsp),
        ),
        c(
            "ipv6 vlan esp-in-udp",
            FrameSpec {
                vlans: vec![TPID_8021Q],
                ..e6.clone().with_l4(L4::EspInUdp(SPI))
            },
            steer,
        ),
        c(
            "ipv6 ike",
            e6.clone().with_l4(L4::Ike),
            (XDP_PASS, Counter::Ike),
        ),
        c(
            "ipv6 keepalive",
            e6.clone().with_l4(L4::Keepalive),
            (XDP_PASS, Counter::Ike),
        ),
        c(
            "ipv6 fragment",
            FrameSpec {
                v6_ext: vec![44],
                ..e6.clone()
            },
            (XDP_PASS, Counter::Fragment),
        ),
        c(
            "ipv6 dst+fragment",
            FrameSpec {
                v6_ext: vec![60, 44],
                ..e6.clone()
            },
            (XDP_PASS, Counter::Fragment),
        ),
        c(
            "ipv6 tcp",
            e6.clone().with_l4(L4::Tcp),
            (XDP_PASS, Counter::NotEsp),
        ),
        c(
            "ipv6 unknown spi",
            e6.clone().with_l4(L4::Esp(0x0bad_0001)),
            (XDP_PASS, Counter::UnknownSpi),
        ),
        c(
            "ipv4 other dst, same spi",
            FrameSpec::esp(ip("192.0.2.99"), SPI),
            (XDP_PASS, Counter::UnknownSpi),
        ),
        c(
            "bound cpu has no cpumap entry",
            FrameSpec::esp(ip(DST4), 0x0000_0c01),
            (XDP_PASS, Counter::NoCpu),
        ),
    ]
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn every_branch_verdict_and_counter() {
    let Some(mut s) = steering() else { return };
    bind(&mut s, SPI, Some(DST4), 0);
    bind(&mut s, SPI, Some(DST6), 0);
    bind(&mut s, 0x0000_0c01, Some(DST4), 1);
    for (name, spec, action, counter) in cases() {
        let got = run(&mut s, &spec.build());
        assert_eq!(got, (action, counter), "{name}");
    }
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn truncated_at_every_offset() {
    let Some(mut s) = steering() else { return };
    bind(&mut s, SPI, Some(DST4), 0);
    bind(&mut s, SPI, Some(DST6), 0);
    for (name, spec, action, counter) in cases() {
        let full = spec.build();
        let needed = spec.needed();
        assert!(
            needed <= full.len(),
            "{name}: needed {needed} > {}",
            full.len()
        );
        // The kernel refuses XDP test input shorter than an Ethernet header.
        for len in 14..=full.len() {
            let got = run(&mut s, &full[..len]);
            if len < needed {
                assert_eq!(
                    got,
                    (XDP_PASS, Counter::Error),
                    "{name} cut at {len} (needs {needed})"
                );
            } else if counter != Counter::NoCpu {
                assert_eq!(
                    got,
                    (action, counter),
                    "{name} cut at {len} (needs {needed})"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn same_spi_on_two_destinations_goes_to_two_cpus() {
    let Some(mut s) = steering() else { return };
    bind(&mut s, SPI, Some(DST4), 0);
    bind(&mut s, SPI, Some("192.0.2.11"), 1);
    s.set_cpus(&[1], 64).expect("cpumap");
    let a = run(&mut s, &FrameSpec::esp(ip(DST4), SPI).build());
    let b = run(&mut s, &FrameSpec::esp(ip("192.0.2.11"), SPI).build());
    assert_eq!(a, (XDP_REDIRECT, Counter::Steered));
    assert_eq!(b, (XDP_REDIRECT, Counter::Steered));
    let all = s.bindings().expect("bindings");
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .any(|b| b.cpu == 1 && b.dst == Some(ip("192.0.2.11")))
    );
    // Unbinding one leaves the other.
    assert!(s.unbind(SPI, Some(ip("192.0.2.11"))).expect("unbind"));
    assert!(!s.unbind(SPI, Some(ip("192.0.2.11"))).expect("unbind twice"));
    let b = run(&mut s, &FrameSpec::esp(ip("192.0.2.11"), SPI).build());
    assert_eq!(b, (XDP_PASS, Counter::UnknownSpi));
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn wildcard_destination_binding() {
    let Some(mut s) = steering() else { return };
    bind(&mut s, SPI, None, 0);
    for dst in [DST4, DST6, "203.0.113.5"] {
        let got = run(&mut s, &FrameSpec::esp(ip(dst), SPI).build());
        assert_eq!(got, (XDP_REDIRECT, Counter::Steered), "{dst}");
    }
    // An exact binding wins over the wildcard.
    bind(&mut s, SPI, Some(DST4), 1);
    let got = run(&mut s, &FrameSpec::esp(ip(DST4), SPI).build());
    assert_eq!(
        got,
        (XDP_PASS, Counter::NoCpu),
        "exact binding to CPU 1 (no cpumap entry)"
    );
    // Without the wildcard, other destinations miss again.
    assert!(s.unbind(SPI, None).expect("unbind"));
    let got = run(&mut s, &FrameSpec::esp(ip(DST6), SPI).build());
    assert_eq!(got, (XDP_PASS, Counter::UnknownSpi));
}

/// The packets counted for the binding of (`dst`, `spi`), if it exists.
fn binding_count(s: &Steering, spi: u32, dst: Option<&str>) -> Option<u64> {
    let dst = dst.map(ip);
    s.binding_packets()
        .expect("binding packets")
        .into_iter()
        .find(|(b, _)| b.spi == spi && b.dst == dst)
        .map(|(_, n)| n)
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn steered_packets_are_counted_per_binding_and_go_with_it() {
    let Some(mut s) = steering() else { return };
    bind(&mut s, SPI, Some(DST4), 0);
    bind(&mut s, SPI + 1, None, 0);
    bind(&mut s, SPI + 2, Some(DST4), 1);
    let frame = FrameSpec::esp(ip(DST4), SPI).build();
    for _ in 0..3 {
        assert_eq!(run(&mut s, &frame), (XDP_REDIRECT, Counter::Steered));
    }
    // Matched by the wildcard binding: counted there.
    let any = FrameSpec::esp(ip(DST6), SPI + 1).build();
    assert_eq!(run(&mut s, &any), (XDP_REDIRECT, Counter::Steered));
    // Bound but not redirected (CPU 1 has no cpumap entry): not steered.
    let nocpu = FrameSpec::esp(ip(DST4), SPI + 2).build();
    assert_eq!(run(&mut s, &nocpu), (XDP_PASS, Counter::NoCpu));
    assert_eq!(binding_count(&s, SPI, Some(DST4)), Some(3));
    assert_eq!(binding_count(&s, SPI + 1, None), Some(1));
    assert_eq!(binding_count(&s, SPI + 2, Some(DST4)), Some(0));
    // A rebind to another CPU keeps the count; an unbind drops it, and a
    // later binding of the same key starts from zero.
    bind(&mut s, SPI, Some(DST4), 0);
    assert_eq!(binding_count(&s, SPI, Some(DST4)), Some(3));
    assert!(s.unbind(SPI, Some(ip(DST4))).expect("unbind"));
    assert_eq!(binding_count(&s, SPI, Some(DST4)), None);
    bind(&mut s, SPI, Some(DST4), 0);
    assert_eq!(binding_count(&s, SPI, Some(DST4)), Some(0));
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn bind_rejects_spi_zero_and_offline_cpu() {
    let Some(mut s) = steering() else { return };
    let e = s
        .bind(Binding {
            spi: 0,
            dst: None,
            cpu: 0,
        })
        .expect_err("spi 0");
    assert!(e.to_string().contains("SPI 0"), "{e}");
    let e = s
        .bind(Binding {
            spi: 5,
            dst: None,
            cpu: 100_000,
        })
        .expect_err("cpu");
    assert!(e.to_string().contains("not online"), "{e}");
}

/// Collects formatted log records.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{} {}", r.level(), r.args()));
    }
    fn flush(&self) {}
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn diagnostics_reach_userspace_at_powers_of_two() {
    let Some(mut s) = steering() else { return };
    let cap = Capture::default();
    let mut logger = s.logger_with(cap.clone()).expect("aya-log");
    bind(&mut s, 0x0000_0c01, Some(DST4), 1);
    let frame = FrameSpec::esp(ip(DST4), 0x0000_0c01).build();
    for _ in 0..5 {
        assert_eq!(run(&mut s, &frame), (XDP_PASS, Counter::NoCpu));
    }
    logger.flush();
    let lines = cap.0.lock().expect("lock").clone();
    // Misses 1, 2 and 4 log; 3 and 5 do not.
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("WARN") && lines[0].contains("spi c01"),
        "{lines:?}"
    );
    assert!(lines[0].contains("no cpumap entry (1 misses)"), "{lines:?}");
    assert!(lines[2].contains("(4 misses)"), "{lines:?}");
}

/// Live frames carry the verdict out: every frame of the run is steered
/// (counted), and a map sized past `MAX_BINDINGS` takes that many bindings.
#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn live_frames_and_a_map_past_max_bindings() {
    if steering().is_none() {
        return;
    }
    let max = ebpf_steer_common::MAX_BINDINGS + 2;
    let mut s = Steering::load_sized(Some(&[0]), max).expect("loading with a larger map");
    for i in 0..max {
        bind(&mut s, 0x2000_0000 + i, Some(DST4), 0);
    }
    let frame = FrameSpec::esp(ip(DST4), 0x2000_0000 + max - 1).build();
    let before = s.stats().expect("stats");
    let r = s.test_run_live(false, &frame, 640, 64).expect("live run");
    let d = s.stats().expect("stats").since(&before);
    assert_eq!(d.total(Counter::Steered), 640, "every live frame steered");
    assert!(r.per_run.as_nanos() > 0, "the kernel timed the run");
    let r = s.test_run_live(true, &frame, 64, 64).expect("live floor");
    assert!(r.per_run.as_nanos() > 0);
    let d = s.stats().expect("stats").since(&before);
    assert_eq!(d.total(Counter::Steered), 640, "the floor does not count");
}

/// `n` SPIs whose bindings to `dst` share one bucket of a map loaded by
/// `Steering::load`, so all but the first `SLOT_WAYS` go to the hash.
fn same_bucket_spis(dst: &str, n: usize) -> Vec<u32> {
    use ebpf_steer_common::{MAX_BINDINGS, SLOT_WAYS, bucket, slots_for};
    let buckets = slots_for(MAX_BINDINGS) / SLOT_WAYS;
    let of = |spi| bucket(&Binding::key(spi, Some(ip(dst))), buckets);
    let want = of(SPI);
    let spis: Vec<u32> = (SPI..SPI + 50_000_000)
        .filter(|s| of(*s) == want)
        .take(n)
        .collect();
    assert_eq!(spis.len(), n, "no {n} SPIs in one bucket");
    spis
}

#[test]
#[ignore = "needs root and the XDP object: `cargo xtask test` runs it (LANES_PRIV_TESTS=1, --include-ignored)"]
fn a_full_bucket_spills_into_the_hash_and_counts_stay_exact() {
    let Some(mut s) = steering() else { return };
    let ways = ebpf_steer_common::SLOT_WAYS as usize;
    let spis = same_bucket_spis(DST4, ways + 2);
    for &spi in &spis {
        bind(&mut s, spi, Some(DST4), 0);
    }
    assert_eq!(s.bindings().expect("bindings").len(), spis.len());
    // Each SPI steered k+1 times: slot and hash bindings alike.
    for (k, &spi) in spis.iter().enumerate() {
        let frame = FrameSpec::esp(ip(DST4), spi).build();
        for _ in 0..=k {
            assert_eq!(run(&mut s, &frame), (XDP_REDIRECT, Counter::Steered));
        }
    }
    for (k, &spi) in spis.iter().enumerate() {
        assert_eq!(
            binding_count(&s, spi, Some(DST4)),
            Some(k as u64 + 1),
            "spi {spi:#x}"
        );
    }
    // A rebind keeps the count wherever the binding is, and moves the CPU.
    let (in_slot, in_hash) = (spis[0], spis[ways + 1]);
    for spi in [in_slot, in_hash] {
        bind(&mut s, spi, Some(DST4), 1);
        let frame = FrameSpec::esp(ip(DST4), spi).build();
        assert_eq!(run(&mut s, &frame), (XDP_PASS, Counter::NoCpu));
    }
    assert_eq!(binding_count(&s, in_slot, Some(DST4)), Some(1));
    assert_eq!(
        binding_count(&s, in_hash, Some(DST4)),
        Some(ways as u64 + 2)
    );
    // Unbinding a slot frees it: the next new binding takes it with a fresh
    // count, and the hash bindings are still found.
    assert!(s.unbind(in_slot, Some(ip(DST4))).expect("unbind"));
    let frame = FrameSpec::esp(ip(DST4), in_slot).build();
    assert_eq!(run(&mut s, &frame), (XDP_PASS, Counter::UnknownSpi));
    let newcomer = same_bucket_spis(DST4, ways + 3)[ways + 2];
    bind(&mut s, newcomer, Some(DST4), 0);
    assert_eq!(binding_count(&s, newcomer, Some(DST4)), Some(0));
    let frame = FrameSpec::esp(ip(DST4), newcomer).build();
    assert_eq!(run(&mut s, &frame), (XDP_REDIRECT, Counter::Steered));
    assert_eq!(binding_count(&s, newcomer, Some(DST4)), Some(1));
    assert!(s.unbind(in_hash, Some(ip(DST4))).expect("unbind"));
    assert_eq!(binding_count(&s, in_hash, Some(DST4)), None);
    assert_eq!(s.bindings().expect("bindings").len(), spis.len() - 1);
}
