//! SA install rate: lanes sequential (one request, wait for the ack) and
//! pipelined (`Xfrm::add_sas`, 64 requests per sendmsg) against iproute2's
//! `ip -batch` and a loop of one `ip xfrm state add` process per SA, all in
//! the same run and namespace. Needs ESP (the VM): gated by
//! LANES_VM_TESTS=1. `LANES_BENCH_N` (default 2000) SAs per method,
//! `LANES_BENCH_LOOP_N` (default 100) for the process loop.

#![allow(clippy::print_stdout)]

mod common;

use std::io::Write;
use std::time::Instant;

use common::{in_netns, ip, sh};
use xfrm_offload::*;
use zeroize::Zeroizing;

fn env_n(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

async fn count(x: &Xfrm) -> usize {
    x.dump_sas().await.expect("dump").len()
}

fn main() {
    if std::env::var("LANES_VM_TESTS").as_deref() != Ok("1") {
        println!("skipped sa_install_bench: set LANES_VM_TESTS=1 (needs root and ESP)");
        return;
    }
    let n = env_n("LANES_BENCH_N", 2000);
    let loop_n = env_n("LANES_BENCH_LOOP_N", 100);
    in_netns(move || async move {
        let x = Xfrm::new().expect("xfrm");
        let mut results: Vec<(&str, usize, f64)> = Vec::new();

        let specs: Vec<SaSpec> = (0..n as u32).map(|i| spec(0x1_0000 + i)).collect();
        let t = Instant::now();
        for s in &specs {
            x.add_sa(s).await.expect("add_sa");
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(count(&x).await, n);
        results.push(("lanes_sequential", n, secs));
        sh("ip xfrm state flush");

        let specs: Vec<SaSpec> = (0..n as u32).map(|i| spec(0x2_0000 + i)).collect();
        let t = Instant::now();
        let res = x.add_sas(&specs, false).await.expect("add_sas");
        let secs = t.elapsed().as_secs_f64();
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(count(&x).await, n);
        results.push(("lanes_pipelined", n, secs));
        sh("ip xfrm state flush");

        let path = std::env::temp_dir().join("lanes-bench-ip-batch.txt");
        let mut f = std::fs::File::create(&path).expect("batch file");
        for i in 0..n as u32 {
            writeln!(f, "{}", ip_line(0x3_0000 + i)).expect("write");
        }
        drop(f);
        let t = Instant::now();
        sh(&format!("ip -batch {}", path.display()));
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(count(&x).await, n);
        results.push(("ip_batch", n, secs));
        sh("ip xfrm state flush");
        let _ = std::fs::remove_file(&path);

        let t = Instant::now();
        for i in 0..loop_n as u32 {
            let st = std::process::Command::new("ip")
                .args(ip_line(0x4_0000 + i).split(' '))
                .status()
                .expect("ip");
            assert!(st.success());
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(count(&x).await, loop_n);
        results.push(("ip_process_loop", loop_n, secs));
        sh("ip xfrm state flush");

        let rate = |name: &str| {
            results
                .iter()
                .find(|r| r.0 == name)
                .map_or(0.0, |r| r.1 as f64 / r.2)
        };
        println!(
            "{:<18} {:>6} {:>9} {:>10}",
            "method", "SAs", "seconds", "SA/s"
        );
        for (name, count, secs) in &results {
            println!(
                "{name:<18} {count:>6} {secs:>9.3} {:>10.0}",
                *count as f64 / secs
            );
            println!("@@BENCH {name}_sa_per_s {:.0}", *count as f64 / secs);
        }
        let batch = rate("ip_batch");
        let lp = rate("ip_process_loop");
        for ours in ["lanes_sequential", "lanes_pipelined"] {
            println!(
                "{ours}: {:.2}x ip -batch, {:.1}x ip process loop",
                rate(ours) / batch,
                rate(ours) / lp
            );
            println!("@@BENCH {ours}_vs_ip_batch {:.2}", rate(ours) / batch);
            println!("@@BENCH {ours}_vs_ip_loop {:.1}", rate(ours) / lp);
        }
    });
}
