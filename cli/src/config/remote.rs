//! `remote_addrs` entries: an IP address, or a DNS name the daemon resolves
//! at each initiation (swanctl.conf(5) accepts both).

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// One peer address as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RemoteAddr {
    /// A literal address.
    Ip(IpAddr),
    /// A host name (RFC 1123 letters, digits, hyphens and dots).
    Name(String),
}

impl RemoteAddr {
    /// The literal address, if this is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::Name(_) => None,
        }
    }
}

impl PartialEq<IpAddr> for RemoteAddr {
    fn eq(&self, other: &IpAddr) -> bool {
        self.ip() == Some(*other)
    }
}

impl PartialEq<RemoteAddr> for IpAddr {
    fn eq(&self, other: &RemoteAddr) -> bool {
        other == self
    }
}

/// The literal addresses among `list`, in order.
pub fn literal(list: &[RemoteAddr]) -> impl Iterator<Item = IpAddr> + '_ {
    list.iter().filter_map(RemoteAddr::ip)
}

impl std::str::FromStr for RemoteAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse() {
            return Ok(Self::Ip(ip));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let name = s.strip_suffix('.').unwrap_or(s);
        // RFC 1123 §2.1: a top-level label is never all digits.
        let numeric_tld = name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
        if numeric_tld {
            return Err(format!("{s:?}: invalid IP address (nor a DNS name)"));
        }
        if name.len() <= 253 && name.split('.').all(label_ok) {
            Ok(Self::Name(name.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is neither an IP address nor a DNS name (e.g. \"192.0.2.1\", \"2001:db8::1\", \"vpn.example.org\")"
            ))
        }
    }
}

impl fmt::Display for RemoteAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(n) => f.write_str(n),
        }
    }
}

impl Serialize for RemoteAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RemoteAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        let p = |s: &str| s.parse::<RemoteAddr>();
        assert_eq!(
            p("10.0.0.2"),
            Ok(RemoteAddr::Ip("10.0.0.2".parse().unwrap()))
        );
        assert_eq!(p("fd00::2"), Ok(RemoteAddr::Ip("fd00::2".parse().unwrap())));
        assert_eq!(
            p("VPN.example.org."),
            Ok(RemoteAddr::Name("vpn.example.org".into()))
        );
        assert!(p("bad name").unwrap_err().contains("DNS name"));
        assert!(p("-x.example").is_err());
        assert!(p("").is_err());
        assert!(p("10.0.0.300").unwrap_err().contains("invalid IP address"));
    }
}
