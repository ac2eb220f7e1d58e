//! Settings for dead peers and revival (swanctl.conf(5) `dpd_action`,
//! `close_action`; strongswan.conf(5) `charon.retransmit_*`), and the number
//! types they need: decimals (`retransmit_base = 1.8`) and volumes
//! (`rekey_bytes = "1MB"`).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// `dpd_action` of a child: what happens when the peer is found dead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DpdAction {
    /// Remove the SAs; nothing else (strongSwan's default).
    #[default]
    Clear,
    /// Install trap policies: the next packet negotiates again.
    Trap,
    /// Initiate again at once.
    Restart,
}

/// `close_action` of a child: what happens when the peer closes the IKE SA,
/// or one of the child's SAs outside a rekey (charon child_delete.c).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseAction {
    /// Nothing (strongSwan's default).
    #[default]
    None,
    /// Install trap policies.
    Trap,
    /// Initiate again at once.
    Start,
}

impl DpdAction {
    /// As the engine's recovery action.
    pub fn action(self) -> ike_core::recovery::Action {
        use ike_core::recovery::Action;
        match self {
            Self::Clear => Action::None,
            Self::Trap => Action::Trap,
            Self::Restart => Action::Restart,
        }
    }
}

impl CloseAction {
    /// As the engine's recovery action.
    pub fn action(self) -> ike_core::recovery::Action {
        use ike_core::recovery::Action;
        match self {
            Self::None => Action::None,
            Self::Trap => Action::Trap,
            Self::Start => Action::Restart,
        }
    }
}

impl super::Child {
    /// The volume limits in effect: hard limits 10 % above the soft ones
    /// unless set, and `rand_*` defaulting to the gap between the two, as in
    /// swanctl.conf(5).
    pub fn volume(&self) -> ike_core::VolumeLimits {
        let v = ike_core::VolumeLimits {
            rekey_bytes: self.rekey_bytes.0,
            life_bytes: self.life_bytes.0,
            rekey_packets: self.rekey_packets.0,
            life_packets: self.life_packets.0,
            ..ike_core::VolumeLimits::default()
        }
        .with_default_life();
        let gap = |life: u64, soft: u64| life.saturating_sub(soft);
        ike_core::VolumeLimits {
            rand_bytes: self
                .rand_bytes
                .map_or(gap(v.life_bytes, v.rekey_bytes), |r| r.0),
            rand_packets: self
                .rand_packets
                .map_or(gap(v.life_packets, v.rekey_packets), |r| r.0),
            ..v
        }
    }
}

/// A decimal number (`4.0`, `1.8`, or an integer). Compared by value.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Decimal(pub f64);

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Decimal {}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number such as 4.0 or 1.8")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(Decimal(v))
                } else {
                    Err(E::custom("must be a finite number of at least 0"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte or packet count: an integer, or a string with strongSwan's binary
/// suffixes `k`, `m`, `g` (optionally followed by `B`): `"1MB"` = 1048576.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Volume(pub u64);

impl std::str::FromStr for Volume {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
        let (num, shift) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 10),
            Some((i, 'm' | 'M')) => (&t[..i], 20),
            Some((i, 'g' | 'G')) => (&t[..i], 30),
            _ => (t, 0),
        };
        let n: u64 = num.trim().parse().map_err(|_| {
            format!("invalid count {s:?}: expected a number with an optional k, M or G (e.g. \"1MB\", \"500k\")")
        })?;
        n.checked_mul(1 << shift)
            .map(Volume)
            .ok_or_else(|| format!("count {s:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for Volume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Volume;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as 1000000 or \"1MB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Volume, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Volume, E> {
                u64::try_from(v)
                    .map(Volume)
                    .map_err(|_| E::custom("a count cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Volume, E> {
                Ok(Volume(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    const CONN: &str = "[connections.c]\nlocal_addrs = [\"10.0.0.1\"]\n\
        local = { auth = \"psk\", id = \"a\" }\nremote = { auth = \"psk\", id = \"b\" }\n";
    const SECRET: &str = "[secrets.s]\nsecret = \"x\"\n";

    fn parse(daemon: &str, conn: &str, child: &str) -> Result<Config, String> {
        let src = format!(
            "[daemon]\n{daemon}\n{CONN}{conn}\n[connections.c.children.x]\n{child}\n{SECRET}"
        );
        Config::parse(&src, Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn recovery_keys_parse_with_strongswan_defaults() {
        let cfg = parse("", "remote_addrs = [\"10.0.0.2\"]", "").unwrap_or_else(|e| panic!("{e}"));
        let (d, c) = (&cfg.daemon, &cfg.connections["c"]);
        assert_eq!(
            (d.retransmit_tries, d.retransmit_timeout, d.retransmit_base),
            (5, Decimal(4.0), Decimal(1.8))
        );
        assert_eq!((c.keyingtries, c.dpd_timeout.0), (1, 0));
        let ch = &c.children["x"];
        assert_eq!(
            (ch.dpd_action, ch.close_action),
            (DpdAction::Clear, CloseAction::None)
        );
        assert_eq!((ch.rekey_bytes, ch.life_bytes), (Volume(0), Volume(0)));
        let cfg = parse(
            "retransmit_tries = 3\nretransmit_timeout = 0.5\nretransmit_base = 2",
            "remote_addrs = [\"gw.example\", \"10.0.0.2\"]\ndpd_timeout = \"6s\"\nkeyingtries = 0",
            "dpd_action = \"restart\"\nclose_action = \"start\"\nrekey_bytes = \"1MB\"\nrekey_packets = 1000",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (d, c) = (&cfg.daemon, &cfg.connections["c"]);
        assert_eq!(
            (d.retransmit_tries, d.retransmit_timeout, d.retransmit_base),
            (3, Decimal(0.5), Decimal(2.0))
        );
        assert_eq!(
            (c.keyingtries, c.dpd_timeout.0, c.remote_addrs.len()),
            (0, 6, 2)
        );
        let ch = &c.children["x"];
        assert_eq!(
            (ch.dpd_action, ch.close_action),
            (DpdAction::Restart, CloseAction::Start)
        );
        assert_eq!(
            (ch.rekey_bytes, ch.rekey_packets),
            (Volume(1 << 20), Volume(1000))
        );
    }

    #[test]
    fn bad_recovery_values_name_the_fix() {
        let remote = "remote_addrs = [\"10.0.0.2\"]";
        let e = parse("retransmit_base = 0.5", remote, "").unwrap_err();
        assert!(
            e.contains("daemon.retransmit_base: must be between 1.0 and 10.0"),
            "{e}"
        );
        let e = parse("retransmit_timeout = 0", remote, "").unwrap_err();
        assert!(e.contains("daemon.retransmit_timeout"), "{e}");
        let e = parse("", remote, "dpd_action = \"reboot\"").unwrap_err();
        assert!(e.contains("unknown variant `reboot`"), "{e}");
        let e = parse("", remote, "rekey_bytes = \"2MB\"\nlife_bytes = \"1MB\"").unwrap_err();
        assert!(
            e.contains("connections.c.children.x.life_bytes: must be larger"),
            "{e}"
        );
        let e = parse(
            "",
            "remote_addrs = [\"gw.example\"]",
            "start_action = \"trap\"",
        )
        .unwrap_err();
        assert!(e.contains("need the peer's IP address"), "{e}");
        let e = parse("", "proposals = [\"aes128gcm12-prfsha256-x25519\"]", "").unwrap_err();
        assert!(
            e.contains("proposals[0]") && e.contains("for esp_proposals"),
            "{e}"
        );
        parse(
            "",
            remote,
            "esp_proposals = [\"aes128gcm12\", \"aes256gcm8-esn\"]",
        )
        .unwrap_or_else(|e| panic!("short ICVs are fine for ESP: {e}"));
    }

    #[test]
    fn rand_volumes_default_to_the_gap_and_are_bounded() {
        let remote = "remote_addrs = [\"10.0.0.2\"]";
        let cfg = parse("", remote, "rekey_bytes = \"1MB\"\nrekey_packets = 1000")
            .unwrap_or_else(|e| panic!("{e}"));
        let v = cfg.connections["c"].children["x"].volume();
        assert_eq!(
            (v.rekey_bytes, v.life_bytes, v.rand_bytes),
            (1 << 20, 1153433, 104857)
        );
        assert_eq!(
            (v.rekey_packets, v.life_packets, v.rand_packets),
            (1000, 1100, 100)
        );
        let cfg = parse(
            "",
            remote,
            "rekey_bytes = \"1MB\"\nrand_bytes = \"64k\"\nrekey_packets = 1000\nrand_packets = 0",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let v = cfg.connections["c"].children["x"].volume();
        assert_eq!((v.rand_bytes, v.rand_packets), (64 << 10, 0));
        let e = parse("", remote, "rekey_bytes = 1000\nrand_bytes = 2000").unwrap_err();
        assert!(
            e.contains("connections.c.children.x.rand_bytes: must not exceed rekey_bytes"),
            "{e}"
        );
        let e = parse("", remote, "rand_packets = 5").unwrap_err();
        assert!(
            e.contains("rand_packets: must not exceed rekey_packets"),
            "{e}"
        );
    }

    #[test]
    fn volumes_take_binary_suffixes() {
        let v = |s: &str| s.parse::<Volume>().map(|v| v.0);
        assert_eq!(v("1MB"), Ok(1 << 20));
        assert_eq!(v("500k"), Ok(500 * 1024));
        assert_eq!(v("2G"), Ok(2 << 30));
        assert_eq!(v("1234"), Ok(1234));
        assert!(v("lots").unwrap_err().contains("\"1MB\""));
        assert!(v("99999999999999G").unwrap_err().contains("too large"));
    }
}
