//! Volume limits of a Child SA (strongSwan's `rekey_bytes`, `life_bytes`,
//! `rekey_packets`, `life_packets`). The engine does not count traffic: the
//! kernel does, and reports the soft limit with XFRM_MSG_EXPIRE (`hard = 0`,
//! `include/uapi/linux/xfrm.h`), which starts the rekey (RFC 7296 §2.8).

/// Byte and packet limits of one SA; 0 means none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VolumeLimits {
    /// Bytes after which the SA is rekeyed (soft limit).
    pub rekey_bytes: u64,
    /// Bytes after which the kernel removes the SA (hard limit).
    pub life_bytes: u64,
    /// Packets after which the SA is rekeyed (soft limit).
    pub rekey_packets: u64,
    /// Packets after which the kernel removes the SA (hard limit).
    pub life_packets: u64,
}

impl VolumeLimits {
    /// strongSwan's defaults for the hard limits: 10 % above the soft ones
    /// when only those are given.
    pub fn with_default_life(mut self) -> Self {
        let plus_tenth = |v: u64| v.saturating_add(v / 10);
        if self.life_bytes == 0 {
            self.life_bytes = plus_tenth(self.rekey_bytes);
        }
        if self.life_packets == 0 {
            self.life_packets = plus_tenth(self.rekey_packets);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_limits_default_ten_percent_above_soft() {
        let v = VolumeLimits {
            rekey_bytes: 1_000_000,
            rekey_packets: 50,
            ..VolumeLimits::default()
        }
        .with_default_life();
        assert_eq!((v.life_bytes, v.life_packets), (1_100_000, 55));
        let none = VolumeLimits::default().with_default_life();
        assert_eq!(none, VolumeLimits::default(), "no limit stays no limit");
        let set = VolumeLimits {
            rekey_bytes: 10,
            life_bytes: 12,
            ..VolumeLimits::default()
        };
        assert_eq!(
            set.with_default_life().life_bytes,
            12,
            "an explicit life is kept"
        );
    }
}
