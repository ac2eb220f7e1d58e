//! Map key/value types and map names shared by the XDP program and its loader.
//!
//! Every type is `#[repr(C)]` plain data: the kernel copies it byte for byte
//! between the program and userspace (`bpf_map_lookup_elem`, `BPF_MAP_*_ELEM`).
//! Multi-byte fields hold the bytes exactly as they appear on the wire, read
//! as a native-endian integer, so the program never swaps bytes.
#![no_std]

/// Per-CPU hash map `SpiKey` -> `SpiValue`: which CPU owns an inbound SA
/// (the same in every CPU's copy) and the packets each CPU steered for it.
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

const _: () = assert!(size_of::<SpiKey>() == 20);
const _: () = assert!(size_of::<SpiValue>() == 16);

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
    fn counters_are_dense() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }
}
