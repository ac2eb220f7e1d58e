//! ns per packet of the steering program under `BPF_PROG_TEST_RUN`, each
//! case next to the floor (a program in the same object that only returns
//! `XDP_PASS`) on the same frames in the same round, in interleaved rounds
//! whose order is shuffled per round, the first ones discarded.
//!
//! Cases, for 1, 1k, 64k and 1M bindings in the SPI map:
//! - `prog`: the program alone (plain test run, verdict not carried out);
//! - `live`: `BPF_F_TEST_XDP_LIVE_FRAMES`, so the redirect really enqueues
//!   on the cpumap of another CPU, and the floor's pass really builds an skb
//!   for this CPU's stack (`net/bpf/test_run.c`, `bpf_test_run_xdp_live`);
//! - `hot`: one key, repeated in the kernel; `cold`: a random bound key
//!   per run, one run per syscall, so its hash bucket is rarely cached.
//!
//! Plus, at 1k bindings, IPv6, ESP-in-UDP, an unknown SPI and a non-ESP frame.
//!
//! `cargo run --release -p ebpf-steer --example steer-bench -- [--reps N]
//! [--warmup N] [--repeat N] [--live-repeat N] [--cold N] [--sizes A,B,..]
//! [--seed N]` (root, after `cargo xtask build`). Prints every repetition
//! as `@@RAW MEASUREMENT ARM ROUND SLOT WARMUP VALUE ns` and each target as
//! `@@TARGET MEASUREMENT over steer floor <= NS` (the steering program's ns
//! over the floor in the same round, judged by `cargo xtask bench` on the
//! median of the rounds).

use ebpf_steer::frames::{FrameSpec, L4};
use ebpf_steer::{Binding, Steering, XDP_PASS, XDP_REDIRECT};
use std::net::IpAddr;
use std::process::ExitCode;

/// Frames of one measurement: one repeated, or one per run.
enum Keys {
    Hot(Vec<u8>),
    Cold(Vec<Vec<u8>>),
}

struct Case {
    name: String,
    keys: Keys,
    live: bool,
    /// The verdict the steering program must return (checked when not live).
    expect: u32,
    /// Target on the steering program's ns over the floor.
    target_ns: Option<f64>,
}

struct Opts {
    reps: usize,
    warmup: usize,
    repeat: u32,
    live_repeat: u32,
    cold: usize,
    sizes: Vec<u32>,
    seed: u64,
}

/// Frames per live batch (the kernel's default, `NAPI_POLL_WEIGHT`).
const LIVE_BATCH: u32 = 64;
const SPI_BASE: u32 = 0x1000_0000;

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        reps: 5,
        warmup: 1,
        repeat: 1_000_000,
        live_repeat: 100_000,
        cold: 2_000,
        sizes: vec![1, 1 << 10, 1 << 16, 1 << 20],
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [flag, v] = pair else {
            return Err(format!("`{}` needs a value", pair[0]));
        };
        let bad = |_| format!("{flag} {v}: not a number");
        match flag.as_str() {
            "--reps" => o.reps = v.parse().map_err(bad)?,
            "--warmup" => o.warmup = v.parse().map_err(bad)?,
            "--repeat" => o.repeat = v.parse().map_err(bad)?,
            "--live-repeat" => o.live_repeat = v.parse().map_err(bad)?,
            "--cold" => o.cold = v.parse().map_err(bad)?,
            "--seed" => o.seed = v.parse().map_err(bad)?,
            "--sizes" => {
                o.sizes = v
                    .split(',')
                    .map(|s| s.parse().map_err(bad))
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.reps == 0 || o.sizes.contains(&0) {
        return Err("--reps and every --sizes entry must be at least 1".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("steer-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Pins this thread to `cpu` so every measurement runs on one core.
fn pin_to(cpu: u32) -> bool {
    // SAFETY: a zeroed cpu_set_t with one bit set, passed by pointer.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): round order and cold keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn run(o: &Opts) -> Result<(), ebpf_steer::Error> {
    let cpus = ebpf_steer::online_cpus()?;
    let bench_cpu = cpus.last().copied().unwrap_or(0);
    if !pin_to(bench_cpu) {
        eprintln!("steer-bench: could not pin to CPU {bench_cpu}; running unpinned");
    }
    println!(
        "steer-bench: CPU {bench_cpu} of {cpus:?}, repeat {} (live {}), {} cold keys, \
         {} rounds + {} warm-up, seed {}",
        o.repeat, o.live_repeat, o.cold, o.reps, o.warmup, o.seed
    );
    let mut rng = Rng(o.seed);
    for &size in &o.sizes {
        // `size` IPv4 bindings plus the IPv6 one.
        let capacity = (size + 1).max(ebpf_steer_common::MAX_BINDINGS);
        let mut s = Steering::load_sized(None, capacity)?;
        let hot_spi = fill(&mut s, size, &cpus, bench_cpu)?;
        for case in size_cases(size, hot_spi, o, &mut rng) {
            measure(&mut s, &case, o, &mut rng)?;
        }
        if size == 1 << 10 {
            for case in frame_cases() {
                measure(&mut s, &case, o, &mut rng)?;
            }
        }
    }
    Ok(())
}

fn dst4() -> IpAddr {
    IpAddr::from([192, 0, 2, 1])
}

fn dst6() -> IpAddr {
    "2001:db8::1".parse().expect("literal address")
}

/// Binds `size` SPIs round-robin over `cpus` (and one IPv6 SPI); returns
/// a bound SPI steered to a CPU other than `bench_cpu` when there is one.
fn fill(
    s: &mut Steering,
    size: u32,
    cpus: &[u32],
    bench_cpu: u32,
) -> Result<u32, ebpf_steer::Error> {
    for i in 0..size {
        let cpu = cpus[i as usize % cpus.len()];
        s.bind_unchecked(Binding {
            spi: SPI_BASE + i,
            dst: Some(dst4()),
            cpu,
        })?;
    }
    s.bind(Binding {
        spi: 0xc0ff_ee01,
        dst: Some(dst6()),
        cpu: cpus[0],
    })?;
    let other = (0..size).find(|i| cpus[*i as usize % cpus.len()] != bench_cpu);
    Ok(SPI_BASE + other.unwrap_or(0))
}

/// ESP over IPv4, hot and cold, plain and live, at one map size.
fn size_cases(size: u32, hot_spi: u32, o: &Opts, rng: &mut Rng) -> Vec<Case> {
    let hot = FrameSpec::esp(dst4(), hot_spi).build();
    let cold_frames: Vec<Vec<u8>> = (0..o.cold)
        .map(|_| {
            let spi = SPI_BASE + (rng.next() % u64::from(size)) as u32;
            FrameSpec::esp(dst4(), spi).build()
        })
        .collect();
    let mut out = Vec::new();
    for live in [false, true] {
        let mode = if live { "live" } else { "prog" };
        out.push(Case {
            name: format!("esp4-hot-{mode}-m{size}"),
            keys: Keys::Hot(hot.clone()),
            live,
            expect: XDP_REDIRECT,
            target_ns: (!live).then_some(20.0),
        });
        out.push(Case {
            name: format!("esp4-cold-{mode}-m{size}"),
            keys: Keys::Cold(cold_frames.clone()),
            live,
            expect: XDP_REDIRECT,
            target_ns: None,
        });
    }
    out
}

/// Other frame kinds, hot, program only (with the earlier targets).
fn frame_cases() -> Vec<Case> {
    let hot = |name: &str, frame: Vec<u8>, expect: u32, target_ns: Option<f64>| Case {
        name: format!("{name}-hot-prog-m1024"),
        keys: Keys::Hot(frame),
        live: false,
        expect,
        target_ns,
    };
    vec![
        hot(
            "esp6",
            FrameSpec::esp(dst6(), 0xc0ff_ee01).build(),
            XDP_REDIRECT,
            Some(20.0),
        ),
        hot(
            "espinudp4",
            FrameSpec::esp(dst4(), SPI_BASE + 8)
                .with_l4(L4::EspInUdp(SPI_BASE + 8))
                .build(),
            XDP_REDIRECT,
            Some(20.0),
        ),
        hot(
            "unknownspi4",
            FrameSpec::esp(dst4(), 0x0bad_0001).build(),
            XDP_PASS,
            None,
        ),
        hot(
            "nonesp4",
            FrameSpec::esp(dst4(), 0).with_l4(L4::Tcp).build(),
            XDP_PASS,
            Some(5.0),
        ),
    ]
}

/// Runs `case` by the floor and the steering program in shuffled rounds,
/// printing every repetition.
fn measure(
    s: &mut Steering,
    case: &Case,
    o: &Opts,
    rng: &mut Rng,
) -> Result<(), ebpf_steer::Error> {
    if let Some(t) = case.target_ns {
        println!("@@TARGET {} over steer floor <= {t}", case.name);
    }
    for round in 0..o.warmup + o.reps {
        let floor_first = rng.next().is_multiple_of(2);
        for slot in 0..2 {
            let floor = (slot == 0) == floor_first;
            let ns = run_arm(s, case, floor, o)?;
            let arm = if floor { "floor" } else { "steer" };
            let warm = u8::from(round < o.warmup);
            println!("@@RAW {} {arm} {round} {slot} {warm} {ns:.2} ns", case.name);
        }
    }
    Ok(())
}

/// Mean ns per packet of one arm of `case`.
fn run_arm(s: &mut Steering, case: &Case, floor: bool, o: &Opts) -> Result<f64, ebpf_steer::Error> {
    let one = |s: &mut Steering, frame: &[u8], repeat: u32| {
        let r = if case.live {
            s.test_run_live(floor, frame, repeat, LIVE_BATCH.min(repeat))?
        } else if floor {
            s.test_run_floor(frame, repeat)?
        } else {
            s.test_run(frame, repeat)?
        };
        if !case.live {
            let want = if floor { XDP_PASS } else { case.expect };
            assert_eq!(r.action, want, "{}: verdict", case.name);
        }
        Ok::<f64, ebpf_steer::Error>(r.per_run.as_secs_f64() * 1e9)
    };
    match &case.keys {
        Keys::Hot(f) => one(s, f, if case.live { o.live_repeat } else { o.repeat }),
        Keys::Cold(frames) => {
            let mut sum = 0.0;
            for f in frames {
                sum += one(s, f, 1)?;
            }
            Ok(sum / frames.len().max(1) as f64)
        }
    }
}
