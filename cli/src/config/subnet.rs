//! Traffic selector subnets as written in the config: `192.168.1.0/24`, `2001:db8::/32`,
//! or a single address (a host route).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// Network address (host bits are zero).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Whether the prefix is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// First and last address of the range (for IKE traffic selectors, RFC 7296 §3.13.1).
    pub fn range(&self) -> (IpAddr, IpAddr) {
        match self.addr {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                let base = u32::from(a) & !host;
                (IpAddr::V4(base.into()), IpAddr::V4((base | host).into()))
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                let base = u128::from(a) & !host;
                (IpAddr::V6(base.into()), IpAddr::V6((base | host).into()))
            }
        }
    }
}

impl FromStr for Subnet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!("invalid subnet {s:?}: expected ADDRESS/PREFIX such as \"192.168.1.0/24\"")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid prefix length in {s:?}: expected 0..={max}"))?,
        };
        let net = Subnet { addr, prefix };
        let (first, _) = net.range();
        if first != addr {
            return Err(format!(
                "subnet {s:?} has host bits set; did you mean \"{first}/{prefix}\"?"
            ));
        }
        Ok(net)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_range() {
        let n: Subnet = "192.168.1.0/24".parse().expect("v4");
        assert_eq!(
            n.range(),
            (
                "192.168.1.0".parse().expect("a"),
                "192.168.1.255".parse().expect("b")
            )
        );
        let h: Subnet = "10.0.0.1".parse().expect("host");
        assert_eq!(h.prefix, 32);
        let z: Subnet = "0.0.0.0/0".parse().expect("any");
        assert_eq!(
            z.range().1,
            "255.255.255.255".parse::<IpAddr>().expect("max")
        );
        let v6: Subnet = "2001:db8::/32".parse().expect("v6");
        assert_eq!(
            v6.range().1,
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .expect("v6 max")
        );
    }

    #[test]
    fn errors_name_the_fix() {
        let e = "192.168.1.1/24".parse::<Subnet>().expect_err("host bits");
        assert!(e.contains("192.168.1.0/24"), "{e}");
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("banana/8".parse::<Subnet>().is_err());
    }
}
