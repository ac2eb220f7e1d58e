//! SPI -> CPU bindings as the loader's callers see them.

use ebpf_steer_common::{SpiKey, SpiValue};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// An inbound SA's (destination, SPI) steered to one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The ESP SPI in host order (RFC 4303 §2.1); never 0.
    pub spi: u32,
    /// The local address the SA was negotiated for; `None` matches any
    /// destination (used when no exact binding exists).
    pub dst: Option<IpAddr>,
    /// The CPU whose SA decrypts it.
    pub cpu: u32,
}

impl Binding {
    /// The map key for (`dst`, `spi`).
    pub fn key(spi: u32, dst: Option<IpAddr>) -> SpiKey {
        let octets = match dst {
            None => [0; 16],
            Some(IpAddr::V4(a)) => a.to_ipv6_mapped().octets(),
            Some(IpAddr::V6(a)) => a.octets(),
        };
        SpiKey::new(octets, spi)
    }

    pub(crate) fn from_entry(key: &SpiKey, value: &SpiValue) -> Self {
        let b = key.daddr_bytes();
        let dst = if b == [0; 16] {
            None
        } else {
            let a = Ipv6Addr::from(b);
            Some(a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4))
        };
        Self {
            spi: key.spi_host(),
            dst,
            cpu: value.cpu,
        }
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dst {
            Some(d) => write!(f, "spi 0x{:08x} dst {d} -> cpu {}", self.spi, self.cpu),
            None => write!(f, "spi 0x{:08x} dst any -> cpu {}", self.spi, self.cpu),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips() {
        for dst in [
            None,
            Some("192.0.2.7".parse().expect("ip")),
            Some("2001:db8::7".parse().expect("ip")),
        ] {
            let b = Binding {
                spi: 0xc0ff_ee01,
                dst,
                cpu: 3,
            };
            let k = Binding::key(b.spi, b.dst);
            assert_eq!(Binding::from_entry(&k, &SpiValue::new(3, 0)), b);
        }
    }
}
