//! The lanes XDP program: steers inbound ESP to the CPU that owns its SA.
//!
//! Built for `bpfel-unknown-none` by `cargo xtask build`; on the host it
//! compiles (so clippy sees it) into a binary whose `main` does nothing.
//!
//! Per packet: parse the headers ([`parse`]), look the (destination, SPI)
//! up in `LANES_SPI_CPU`, then `bpf_redirect_map` into the `LANES_CPUS`
//! cpumap (kernel `kernel/bpf/cpumap.c`), so the owning CPU builds the skb
//! and runs the ESP input path. Everything else is `XDP_PASS`. Each packet
//! bumps exactly one per-CPU counter in `LANES_STATS`; a steered packet also
//! bumps its binding's packet count, kept in this CPU's copy of the value the
//! lookup returned, so the hit path makes one hash lookup and no atomic.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod parse;

use aya_ebpf::{
    bindings::xdp_action::XDP_PASS,
    macros::{map, xdp},
    maps::{Array, CpuMap, PerCpuArray, PerCpuHashMap},
    programs::XdpContext,
};
use aya_log_ebpf::warn;
use ebpf_steer_common::{Counter, FLAG_ANY_DST, MAX_BINDINGS, MAX_CPUS, SpiKey, SpiValue};

use crate::parse::{Skip, parse_esp};

/// (destination, SPI) -> CPU and packets steered, filled by the loader
/// (`Steering::bind`) with the same CPU in every CPU's copy; each CPU counts
/// the packets it steered in its own copy.
#[map]
static LANES_SPI_CPU: PerCpuHashMap<SpiKey, SpiValue> =
    PerCpuHashMap::with_max_entries(MAX_BINDINGS, 0);

/// One entry per online CPU (queue size set by the loader).
#[map]
static LANES_CPUS: CpuMap = CpuMap::with_max_entries(MAX_CPUS, 0);

/// Loader-set flags (`FLAG_ANY_DST`).
#[map]
static LANES_FLAGS: Array<u32> = Array::with_max_entries(1, 0);

/// Per-CPU packet counters, indexed by [`Counter`].
#[map]
static LANES_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

/// Entry point: returns what [`try_lanes_steer`] decides.
#[xdp]
pub fn lanes_steer(ctx: XdpContext) -> u32 {
    match try_lanes_steer(&ctx) {
        Ok(action) | Err(action) => action,
    }
}

/// The benchmark's floor: returns `XDP_PASS` and does nothing else. Never
/// attached; `cargo xtask bench` measures it next to [`lanes_steer`].
#[xdp]
pub fn lanes_floor(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

/// `Ok(XDP_REDIRECT)` for a steered packet, `Ok(XDP_PASS)` for anything we
/// leave to the stack, `Err(XDP_PASS)` for a truncated or malformed frame.
#[inline(always)]
fn try_lanes_steer(ctx: &XdpContext) -> Result<u32, u32> {
    let key = match parse_esp(ctx) {
        Ok(key) => key,
        Err(Skip::Malformed) => {
            count(Counter::Error);
            return Err(XDP_PASS);
        }
        Err(skip) => {
            count(skip.counter());
            return Ok(XDP_PASS);
        }
    };
    let Some(value) = lookup(&key) else {
        count(Counter::UnknownSpi);
        return Ok(XDP_PASS);
    };
    // SAFETY: this CPU's copy of a map value, valid for the whole program run.
    let cpu = unsafe { (*value).cpu };
    // The low bits of `flags` are the verdict when the cpumap has no entry
    // for `cpu` (`__bpf_xdp_redirect_map`, net/core/filter.c), so a miss
    // needs no second lookup.
    match LANES_CPUS.redirect(cpu, u64::from(XDP_PASS)) {
        Ok(action) => {
            // SAFETY: as above; only this CPU writes its copy, and XDP runs
            // with migration disabled, so a plain add is exact.
            unsafe { (*value).packets += 1 };
            count(Counter::Steered);
            Ok(action)
        }
        Err(action) => {
            no_cpu(ctx, &key, cpu);
            Ok(action)
        }
    }
}

/// Counts a packet bound to a CPU without a cpumap entry; logged at 1, 2, 4,
/// 8, ... misses: a diagnostic, not per packet, and off the hit path.
#[inline(never)]
fn no_cpu(ctx: &XdpContext, key: &SpiKey, cpu: u32) {
    let n = count(Counter::NoCpu);
    if n & n.wrapping_sub(1) == 0 {
        warn!(
            ctx,
            "lanes: spi {:x} is bound to CPU {} which has no cpumap entry ({} misses)",
            key.spi_host(),
            cpu,
            n
        );
    }
}

/// This CPU's copy of the value bound to `key`, else to its SPI on any
/// destination (looked up only while such bindings exist).
#[inline(always)]
fn lookup(key: &SpiKey) -> Option<*mut SpiValue> {
    if let Some(v) = LANES_SPI_CPU.get_ptr_mut(key) {
        return Some(v);
    }
    if LANES_FLAGS.get(0).is_none_or(|f| f & FLAG_ANY_DST == 0) {
        return None;
    }
    let any = SpiKey {
        daddr: [0; 4],
        spi: key.spi,
    };
    LANES_SPI_CPU.get_ptr_mut(&any)
}

/// Adds one to this CPU's `c` counter and returns the new value.
#[inline(always)]
fn count(c: Counter) -> u64 {
    match LANES_STATS.get_ptr_mut(c as u32) {
        // SAFETY: a per-CPU slot, and XDP runs with migration disabled, so
        // nothing else writes it concurrently.
        Some(p) => unsafe {
            *p += 1;
            *p
        },
        None => 0,
    }
}

/// Declares the program GPL-compatible, which `bpf_redirect_map` and the
/// ring buffer helpers behind aya-log need (kernel `include/linux/license.h`).
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
