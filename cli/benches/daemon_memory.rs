//! Heap the responder daemon holds per IKE SA: a real `Daemon` (engine,
//! planner, recording kernel with per-CPU SAs) configured as one hub
//! connection that narrows every peer to its own /32, and an ike-core
//! initiator in the same process bringing up N IKE SAs, each with its
//! fallback Child SA and per-CPU Child SAs (precreate for CPUs 0 and 1; the
//! kernel SA count printed says how many came up).
//!
//! A counting global allocator attributes to the daemon what is allocated
//! and freed while it runs (its calls on this thread, and every other
//! thread: the key-exchange pool); the initiator's own heap is left out.
//! Reported: heap growth per IKE SA in bytes requested (malloc adds its own
//! per-chunk overhead on top, so VmRSS grows by more) and live allocations
//! per IKE SA by size class. The VM bench (`cargo xtask bench --only daemon
//! --daemon-phases rss`) measures VmRSS against charon on the same work.
//!
//! Run: `cargo bench -p lanes-cli --bench daemon_memory [N]` (default 1,000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use ike_core::crypto::CryptoProvider;
use ike_core::{ConnectionConfig, CpuId, Endpoint, EndpointConfig, PerCpu, PerCpuMode};
use lanes_cli::config::Config;
use lanes_cli::daemon::{Daemon, NoSteer, Options};

mod common;
use common::{LOOP, PSK, RecordingKernel, free_port};

/// IKE SAs started before the datagrams are exchanged.
const CHUNK: usize = 64;
/// Size classes: < 2^k bytes for k in 0..16.
const CLASSES: usize = 16;

thread_local! {
    /// This thread runs the daemon now.
    static IN_DAEMON: Cell<bool> = const { Cell::new(false) };
    /// This is the bench's main thread (where the initiator runs).
    static MAIN: Cell<bool> = const { Cell::new(false) };
}
static LIVE: AtomicI64 = AtomicI64::new(0);
static CLASS: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];

/// The system allocator, counting what the daemon holds.
struct Counting;

fn counted() -> bool {
    IN_DAEMON.try_with(Cell::get).unwrap_or(false) || !MAIN.try_with(Cell::get).unwrap_or(true)
}

fn class(size: usize) -> usize {
    ((usize::BITS - size.leading_zeros()) as usize).min(CLASSES - 1)
}

fn count(size: usize, sign: i64) {
    if counted() {
        LIVE.fetch_add(sign * size as i64, Ordering::Relaxed);
        CLASS[class(size)].fetch_add(sign, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// atomics and thread-locals with const initialisers (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size(), 1);
        // SAFETY: the caller's contract for `alloc`.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(l.size(), -1);
        // SAFETY: the caller's contract for `dealloc`.
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(l.size(), -1);
        count(new, 1);
        // SAFETY: the caller's contract for `realloc`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The daemon: one hub connection for every peer identity.
fn daemon_toml((ike, nat, peer): (u16, u16, u16)) -> String {
    format!(
        "[daemon]\nlisten = [\"127.0.0.1\"]\nike_port = {ike}\nnat_port = {nat}\n\
         dos_protection = false\n\n\
         [connections.hub]\nlocal_addrs = [\"127.0.0.1\"]\nremote_addrs = [\"127.0.0.1\"]\n\
         remote_port = {peer}\nproposals = [\"aes128gcm16-prfsha256-x25519\"]\n\
         local = {{ auth = \"psk\", id = \"b\" }}\nremote = {{ auth = \"psk\" }}\n\
         [connections.hub.children.net]\nlocal_ts = [\"192.168.0.0/16\"]\n\
         remote_ts = [\"10.1.0.0/16\"]\nesp_proposals = [\"aes128gcm16\"]\n\
         per_cpu_sas = \"yes\"\nrekey_time = \"24h\"\nlife_time = \"25h\"\n\n\
         [secrets.all]\nsecret = \"{PSK}\"\n"
    )
}

/// Initiator connection `i`: per-CPU precreate for CPUs 0 and 1.
fn initiator_conn(i: usize, me: SocketAddr, daemon: SocketAddr) -> ConnectionConfig {
    let mut c = common::initiator_conn(i, me, daemon);
    for ch in &mut c.children {
        ch.per_cpu = PerCpu::Yes;
        ch.per_cpu_mode = PerCpuMode::Precreate(vec![CpuId(0), CpuId(1)]);
    }
    c
}

fn in_daemon(on: bool) {
    IN_DAEMON.with(|x| x.set(on));
}

fn main() -> Result<()> {
    MAIN.with(|m| m.set(true));
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(measure(n))
}

async fn measure(n: usize) -> Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_nonblocking(true)?;
    let me = sock.local_addr()?;
    let at = SocketAddr::new(LOOP, free_port());
    let path = std::env::temp_dir().join(format!("lanes-memory-{}.toml", std::process::id()));
    let cfg = Config::parse(&daemon_toml((at.port(), free_port(), me.port())), &path)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = Options {
        keep_kernel_state: true,
        cpus: 2,
    };
    let kernel = RecordingKernel {
        per_cpu: true,
        ..RecordingKernel::default()
    };
    in_daemon(true);
    let mut d = Daemon::new(path, cfg, kernel, NoSteer, opts)?;
    d.start().await?;
    in_daemon(false);
    let mut peer = Endpoint::new(
        EndpointConfig {
            connections: (0..n).map(|i| initiator_conn(i, me, at)).collect(),
            cookie_threshold: None,
            esp_spis: 0xd000_0000..=0xdfff_ffff,
            ..EndpointConfig::default()
        },
        CryptoProvider::rust_crypto(),
    );
    let now = Instant::now();
    let mut buf = vec![0u8; 65_536];
    let live0 = LIVE.load(Ordering::Relaxed);
    let class0: Vec<i64> = CLASS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(CHUNK) {
        for i in chunk {
            peer.initiate(now, &format!("c{i}"))?;
        }
        loop {
            let out: Vec<_> = std::iter::from_fn(|| peer.poll_transmit(now)).collect();
            in_daemon(true);
            for t in &out {
                d.feed_datagram(t.local, t.remote, &t.data).await;
                d.settle_key_exchanges().await;
            }
            in_daemon(false);
            let mut got = 0;
            let deadline = Instant::now() + Duration::from_millis(100);
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((len, from)) => {
                        got += 1;
                        peer.handle_datagram(now, from, me, &buf[..len]);
                    }
                    Err(_) if got > 0 || Instant::now() > deadline => break,
                    Err(_) => std::thread::yield_now(),
                }
            }
            while peer.poll_event().is_some() {}
            if out.is_empty() && got == 0 {
                break;
            }
        }
    }
    let live = LIVE.load(Ordering::Relaxed) - live0;
    let k = d.backend_ref();
    anyhow::ensure!(
        k.inbound.len() >= 2 * n,
        "{} inbound SAs for {n} IKE SAs: the per-CPU Child SAs did not come up",
        k.inbound.len()
    );
    let per = |v: i64| v as f64 / n as f64;
    println!(
        "{n} IKE SAs on the hub, {} kernel SAs, {} policies",
        k.sas.len(),
        k.policies
    );
    let allocs: i64 = CLASS
        .iter()
        .zip(&class0)
        .map(|(c, c0)| c.load(Ordering::Relaxed) - c0)
        .sum();
    println!(
        "daemon heap per IKE SA: {:.0} bytes in {:.1} allocations",
        per(live),
        per(allocs)
    );
    for (k, (c, c0)) in CLASS.iter().zip(&class0).enumerate() {
        let v = c.load(Ordering::Relaxed) - c0;
        if v != 0 {
            println!("  < {:>6} bytes: {:>6.2} per IKE SA", 1u64 << k, per(v));
        }
    }
    println!("@@CSV lanes,{n},heap_bytes_per_ike_sa,{:.0}", per(live));
    Ok(())
}
