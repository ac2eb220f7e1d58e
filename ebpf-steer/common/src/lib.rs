//! Map key/value types and map names shared by the XDP program and its loader.
//!
//! Every type is `#[repr(C)]` plain data: the kernel copies it byte for byte
//! between the program and userspace (`bpf_map_lookup_elem`, `BPF_MAP_*_ELEM`).
//! Multi-byte fields hold the bytes exactly as they appear on the wire, read
//! as a native-endian integer, so the program never swaps bytes.
#![no_std]

/// Array of [`SpiSlot`]s, the bindings the program finds without hashing:
/// a binding of (destination, SPI) sits in one of the [`SLOT_WAYS`] slots of
/// its bucket ([`bucket`]), or in [`MAP_SPI_CPU`] when they are all taken.
/// Memory-mappable (`BPF_F_MMAPABLE`), so the loader reads it without a
/// syscall per slot.
pub const MAP_SPI_SLOTS: &str = "LANES_SPI_SLOTS";
/// Per-CPU array of `u64`, indexed like [`MAP_SPI_SLOTS`]: the packets each
/// CPU steered for the binding in that slot.
pub const MAP_SLOT_PACKETS: &str = "LANES_SLOT_PACKETS";
/// Per-CPU hash map `SpiKey` -> `SpiValue`: bindings whose bucket of
/// [`MAP_SPI_SLOTS`] was full, and every any-destination binding. The CPU
/// is the same in every CPU's copy; each copy counts that CPU's packets.
pub const MAP_SPI_CPU: &str = "LANES_SPI_CPU";
/// Cpumap of the CPUs packets may be redirected to (`BPF_MAP_TYPE_CPUMAP`).
pub const MAP_CPUS: &str = "LANES_CPUS";
/// Per-CPU array of `u64` counters, indexed by [`Counter`].
pub const MAP_STATS: &str = "LANES_STATS";
/// The per-binding packet counters of older builds, now kept in
/// [`SpiValue::packets`]; only removed when found pinned.
pub const MAP_SPI_STATS_OLD: &str = "LANES_SPI_STATS";
/// Array of one `u32` of [`FLAG_ANY_DST`]-style flags set by the loader.
pub const MAP_FLAGS: &str = "LANES_FLAGS";
/// Set while some binding has an all-zero (any) destination; otherwise a
/// miss skips the second, wildcard lookup.
pub const FLAG_ANY_DST: u32 = 1;

/// The XDP program's name in the object (the `#[xdp]` function).
pub const PROGRAM_NAME: &str = "lanes_steer";

/// Capacity of [`MAP_SPI_CPU`]: inbound SAs the program can steer at once.
pub const MAX_BINDINGS: u32 = 65_536;
/// Slots per bucket of [`MAP_SPI_SLOTS`].
pub const SLOT_WAYS: u32 = 4;
/// Length of [`MAP_SPI_SLOTS`] for `max_bindings`: twice that, rounded up to
/// a power of two, so buckets stay about half full and rarely overflow.
pub const fn slots_for(max_bindings: u32) -> u32 {
    let n = max_bindings.next_power_of_two().saturating_mul(2);
    if n < SLOT_WAYS { SLOT_WAYS } else { n }
}
/// The program's global holding the bucket count of [`MAP_SPI_SLOTS`]
/// (a power of two), set by the loader when it sizes the map.
pub const GLOBAL_SLOT_BUCKETS: &str = "LANES_SLOT_BUCKETS";
/// Capacity of [`MAP_CPUS`] compiled into the object; the loader resizes it
/// to the number of possible CPUs.
pub const MAX_CPUS: u32 = 1_024;

/// UDP port of IKE and ESP-in-UDP (RFC 3948 §1, RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4_500;

/// Key of [`MAP_SPI_CPU`]: an inbound SA is identified by its SPI and the
/// local (destination) address it was negotiated for (RFC 4301 §4.1), so two
/// tunnels that happen to use the same SPI on different addresses cannot
/// collide. A key whose `daddr` is all zeroes matches any destination.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpiKey {
    /// Destination address as wire bytes; IPv4 as IPv4-mapped IPv6
    /// (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2).
    pub daddr: [u32; 4],
    /// The ESP SPI as wire bytes (RFC 4303 §2.1).
    pub spi: u32,
}

/// `daddr[2]` of an IPv4-mapped address: bytes `00 00 ff ff`.
pub const V4_MAPPED_WORD: u32 = u32::from_ne_bytes([0, 0, 0xff, 0xff]);

impl SpiKey {
    /// Builds a key from an SPI in host order and a 16-byte address.
    pub const fn new(daddr: [u8; 16], spi: u32) -> Self {
        let b = spi.to_be_bytes();
        let mut w = [0u32; 4];
        let mut i = 0;
        while i < 4 {
            w[i] = u32::from_ne_bytes([
                daddr[4 * i],
                daddr[4 * i + 1],
                daddr[4 * i + 2],
                daddr[4 * i + 3],
            ]);
            i += 1;
        }
        Self {
            daddr: w,
            spi: u32::from_ne_bytes(b),
        }
    }

    /// Whether `self` and `other` are the same key, without a `memcmp`
    /// call (the BPF target has none).
    #[inline(always)]
    pub const fn same(&self, other: &Self) -> bool {
        let (a, b) = (&self.daddr, &other.daddr);
        ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (self.spi ^ other.spi))
            == 0
    }

    /// The SPI in host order.
    pub const fn spi_host(&self) -> u32 {
        u32::from_be_bytes(self.spi.to_ne_bytes())
    }

    /// The destination address as 16 bytes (IPv4 as IPv4-mapped).
    pub const fn daddr_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut i = 0;
        while i < 4 {
            let b = self.daddr[i].to_ne_bytes();
            out[4 * i] = b[0];
            out[4 * i + 1] = b[1];
            out[4 * i + 2] = b[2];
            out[4 * i + 3] = b[3];
            i += 1;
        }
        out
    }
}

/// Value of [`MAP_SPI_CPU`], one copy per CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpiValue {
    /// The CPU (cpumap index) whose SA decrypts this SPI; the loader writes
    /// the same CPU into every copy.
    pub cpu: u32,
    /// Zero (keeps `packets` aligned without implicit padding).
    pub reserved: u32,
    /// Packets this CPU redirected for the binding: the sum over the copies
    /// is the binding's steered count (bound but not redirected packets,
    /// `Counter::NoCpu`, are not in it).
    pub packets: u64,
}

impl SpiValue {
    /// A binding to `cpu` with `packets` already counted on this copy.
    pub const fn new(cpu: u32, packets: u64) -> Self {
        Self {
            cpu,
            reserved: 0,
            packets,
        }
    }
}

/// The bucket of `key` among `buckets` (a power of two) of
/// [`MAP_SPI_SLOTS`]: its slots are `bucket * SLOT_WAYS ..` the next
/// [`SLOT_WAYS`]. The words are folded and mixed by MurmurHash3's finaliser
/// (`fmix32`), so sequential SPIs and addresses spread too.
#[inline(always)]
pub const fn bucket(key: &SpiKey, buckets: u32) -> u32 {
    let d = &key.daddr;
    let mut h = key.spi ^ d[0] ^ d[1] ^ d[2] ^ d[3].rotate_left(16);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h & buckets.wrapping_sub(1)
}

/// Value of [`MAP_SPI_SLOTS`]. An empty slot is all zeroes (SPI 0 is never
/// bound, RFC 4303 §2.1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpiSlot {
    /// The CPU (cpumap index) whose SA decrypts this SPI.
    pub cpu: u32,
    /// The binding's key (the SPI last, as in [`MAP_SPI_CPU`]'s keys).
    pub key: SpiKey,
}

/// Indexes of [`MAP_STATS`]. Every packet the program sees bumps exactly one.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Redirected into the cpumap.
    Steered = 0,
    /// ESP, but no binding for its (destination, SPI): passed.
    UnknownSpi = 1,
    /// Not ESP (other protocols, ARP, ...): passed.
    NotEsp = 2,
    /// IKE (non-ESP marker) or NAT keepalive on UDP 4500: passed.
    Ike = 3,
    /// IP fragment (IPv4 MF/offset, IPv6 fragment header): passed.
    Fragment = 4,
    /// Bound, but the CPU has no cpumap entry: passed.
    NoCpu = 5,
    /// Truncated or malformed headers: passed.
    Error = 6,
}

impl Counter {
    /// Number of counters (the length of [`MAP_STATS`]).
    pub const COUNT: u32 = 7;
    /// All counters in index order.
    pub const ALL: [Self; Self::COUNT as usize] = [
        Self::Steered,
        Self::UnknownSpi,
        Self::NotEsp,
        Self::Ike,
        Self::Fragment,
        Self::NoCpu,
        Self::Error,
    ];

    /// A short snake_case name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Steered => "steered",
            Self::UnknownSpi => "passed_unknown_spi",
            Self::NotEsp => "passed_not_esp",
            Self::Ike => "passed_ike",
            Self::Fragment => "passed_fragment",
            Self::NoCpu => "passed_no_cpu",
            Self::Error => "errors",
        }
    }
}

// SAFETY: both are `#[repr(C)]`, `Copy`, made only of integers, and have no
// padding (checked below), so every byte pattern is a valid value.
#[cfg(feature = "user")]
unsafe impl aya::Pod for SpiKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SpiValue {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SpiSlot {}

const _: () = assert!(size_of::<SpiKey>() == 20);
const _: () = assert!(size_of::<SpiValue>() == 16);
const _: () = assert!(size_of::<SpiSlot>() == 24);
const _: () = assert!(slots_for(MAX_BINDINGS) == 131_072);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_holds_wire_bytes() {
        let mut a = [0u8; 16];
        a[10] = 0xff;
        a[11] = 0xff;
        a[12..].copy_from_slice(&[192, 0, 2, 1]);
        let k = SpiKey::new(a, 0x0102_0304);
        assert_eq!(k.spi.to_ne_bytes(), [1, 2, 3, 4]);
        assert_eq!(k.spi_host(), 0x0102_0304);
        assert_eq!(k.daddr[2], V4_MAPPED_WORD);
        assert_eq!(k.daddr[3].to_ne_bytes(), [192, 0, 2, 1]);
        assert_eq!(k.daddr_bytes(), a);
    }

    #[test]
    fn buckets_spread_sequential_spis() {
        let buckets = 1024;
        let mut hits = [0u32; 1024];
        for spi in 0..4096u32 {
            let k = SpiKey::new([0; 16], 0x1000_0000 + spi);
            hits[bucket(&k, buckets) as usize] += 1;
        }
        // 4 keys a bucket on average; a poor mix piles them up.
        let max = hits.iter().max().copied().unwrap_or(0);
        assert!(max <= 16, "fullest bucket holds {max}");
        assert!(hits.iter().filter(|h| **h == 0).count() < 100);
    }

    #[test]
    fn same_compares_every_word() {
        let k = SpiKey::new([7; 16], 9);
        assert!(k.same(&k));
        for i in 0..4 {
            let mut o = k;
            o.daddr[i] ^= 1;
            assert!(!k.same(&o));
        }
        assert!(!k.same(&SpiKey::new([7; 16], 10)));
    }

    #[test]
    fn counters_are_dense() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }
}
