//! strongSwan-style durations: `30s`, `5m`, `4h`, `1d`, or a bare number of seconds
//! (swanctl.conf(5), "time values").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A configuration duration with one-second resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Seconds(pub u64);

impl Seconds {
    /// As a std duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (num, mult) = match s.char_indices().last() {
            Some((i, 's')) => (&s[..i], 1),
            Some((i, 'm')) => (&s[..i], 60),
            Some((i, 'h')) => (&s[..i], 3600),
            Some((i, 'd')) => (&s[..i], 86_400),
            _ => (s, 1),
        };
        let n: u64 = num.trim().parse().map_err(|_| {
            format!("invalid duration {s:?}: expected a number with an optional unit s, m, h or d (e.g. \"30s\", \"4h\", \"1d\")")
        })?;
        n.checked_mul(mult)
            .map(Seconds)
            .ok_or_else(|| format!("duration {s:?} is too large"))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s != 0 && s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"4h\" or \"1d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                u64::try_from(v)
                    .map(Seconds)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!("30s".parse::<Seconds>(), Ok(Seconds(30)));
        assert_eq!("5m".parse::<Seconds>(), Ok(Seconds(300)));
        assert_eq!("4h".parse::<Seconds>(), Ok(Seconds(14_400)));
        assert_eq!("1d".parse::<Seconds>(), Ok(Seconds(86_400)));
        assert_eq!("90".parse::<Seconds>(), Ok(Seconds(90)));
        assert!("4x".parse::<Seconds>().is_err());
        assert!("h".parse::<Seconds>().is_err());
        assert!("-1s".parse::<Seconds>().is_err());
        assert!("99999999999999999999d".parse::<Seconds>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["30s", "5m", "4h", "1d", "0s", "61s"] {
            let d: Seconds = s.parse().expect("parse");
            assert_eq!(d.to_string(), s);
        }
    }
}
