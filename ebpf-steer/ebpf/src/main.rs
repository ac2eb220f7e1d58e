//! The lanes XDP program: steers inbound ESP to the CPU that owns its SA.
//!
//! Built for `bpfel-unknown-none` by `cargo xtask build`; on the host it
//! compiles (so clippy sees it) into a binary whose `main` does nothing.
//!
//! Per packet: parse the headers ([`parse`]), find the (destination, SPI)
//! in its bucket of `LANES_SPI_SLOTS` (array lookups the verifier inlines,
//! no hashing call), else in the `LANES_SPI_CPU` hash, then
//! `bpf_redirect_map` into the `LANES_CPUS` cpumap (kernel
//! `kernel/bpf/cpumap.c`), so the owning CPU builds the skb and runs the ESP
//! input path. Everything else is `XDP_PASS`. Each packet bumps exactly one
//! per-CPU counter in `LANES_STATS`; a steered packet also bumps this CPU's
//! count for its binding (`LANES_SLOT_PACKETS`, or its copy of the hash
//! value), a plain add on per-CPU memory.
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
use ebpf_steer_common::{
    Counter, FLAG_ANY_DST, MAX_BINDINGS, MAX_CPUS, SLOT_WAYS, SpiKey, SpiSlot, SpiValue, bucket,
    slots_for,
};

use crate::parse::{Skip, parse_esp};

/// `BPF_F_MMAPABLE` from `include/uapi/linux/bpf.h`.
const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Bindings in buckets of `SLOT_WAYS` slots, placed by the loader
/// (`Steering::bind`); an empty slot is all zeroes.
#[map]
static LANES_SPI_SLOTS: Array<SpiSlot> =
    Array::with_max_entries(slots_for(MAX_BINDINGS), BPF_F_MMAPABLE);

/// Packets each CPU steered for the binding in the same slot.
#[map]
static LANES_SLOT_PACKETS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(slots_for(MAX_BINDINGS), 0);

/// Buckets of `LANES_SPI_SLOTS`, a power of two; the loader sets it with
/// the map's size (read-only data, a constant to the verifier).
#[unsafe(no_mangle)]
static LANES_SLOT_BUCKETS: u32 = slots_for(MAX_BINDINGS) / SLOT_WAYS;

/// Bindings whose bucket was full, and any-destination ones:
/// (destination, SPI) -> CPU and packets steered, with the same CPU in every
/// CPU's copy; each CPU counts the packets it steered in its own copy.
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
    let Some((cpu, hit)) = lookup(&key) else {
        count(Counter::UnknownSpi);
        return Ok(XDP_PASS);
    };
    // The low bits of `flags` are the verdict when the cpumap has no entry
    // for `cpu` (`__bpf_xdp_redirect_map`, net/core/filter.c), so a miss
    // needs no second lookup.
    match LANES_CPUS.redirect(cpu, u64::from(XDP_PASS)) {
        Ok(action) => {
            let packets = match hit {
                Hit::Slot(i) => LANES_SLOT_PACKETS.get_ptr_mut(i),
                // SAFETY: this CPU's copy of a hash value, valid for the
                // whole program run.
                Hit::Hash(v) => Some(unsafe { &raw mut (*v).packets }),
            };
            if let Some(p) = packets {
                // SAFETY: per-CPU memory, written only by this CPU with
                // migration disabled (as in `count`), so a plain add is exact.
                unsafe { *p += 1 };
            }
            count(Counter::Steered);
            Ok(action)
        }
        Err(action) => {
            no_cpu(ctx, &key, cpu);
            Ok(action)
        }
    }
}

/// Where a binding was found.
#[derive(Clone, Copy)]
enum Hit {
    /// This slot of `LANES_SPI_SLOTS`.
    Slot(u32),
    /// This CPU's copy of a `LANES_SPI_CPU` value.
    Hash(*mut SpiValue),
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

/// The CPU bound to `key` and where the binding is: the slots of its
/// bucket, else the hash, else its SPI on any destination (looked up only
/// while such bindings exist).
#[inline(always)]
fn lookup(key: &SpiKey) -> Option<(u32, Hit)> {
    if key.spi == 0 {
        // Never bound (an empty slot's key has SPI 0).
        return None;
    }
    // SAFETY: a plain `u32` global; the volatile read keeps the loader's
    // value from being folded into the compiled-in default.
    let buckets = unsafe { core::ptr::read_volatile(&raw const LANES_SLOT_BUCKETS) };
    let first = bucket(key, buckets) * SLOT_WAYS;
    for way in 0..SLOT_WAYS {
        if let Some(slot) = LANES_SPI_SLOTS.get(first + way)
            && slot.key.same(key)
        {
            return Some((slot.cpu, Hit::Slot(first + way)));
        }
    }
    if let Some(v) = LANES_SPI_CPU.get_ptr_mut(key) {
        // SAFETY: this CPU's copy of a map value, valid for the whole run.
        return Some((unsafe { (*v).cpu }, Hit::Hash(v)));
    }
    if LANES_FLAGS.get(0).is_none_or(|f| f & FLAG_ANY_DST == 0) {
        return None;
    }
    let any = SpiKey {
        daddr: [0; 4],
        spi: key.spi,
    };
    let v = LANES_SPI_CPU.get_ptr_mut(any)?;
    // SAFETY: as above.
    Some((unsafe { (*v).cpu }, Hit::Hash(v)))
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
