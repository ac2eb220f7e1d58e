//! Volume limits of a Child SA (strongSwan's `rekey_bytes`, `life_bytes`,
//! `rekey_packets`, `life_packets`, `rand_bytes`, `rand_packets`). The
//! engine does not count traffic: the kernel does, and reports the soft limit
//! with XFRM_MSG_EXPIRE (`hard = 0`, `include/uapi/linux/xfrm.h`), which
//! starts the rekey (RFC 7296 §2.8). Each SA's soft limits are the rekey
//! values less a random amount up to `rand_*`, so both peers rarely rekey at
//! once (RFC 7296 §2.8.1 asks for random rekey times).

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
    /// Up to this many bytes come off `rekey_bytes` for each SA.
    pub rand_bytes: u64,
    /// Up to this many packets come off `rekey_packets` for each SA.
    pub rand_packets: u64,
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

    /// The limits of one SA: each soft limit less `rand % (rand_* + 1)`,
    /// never below 1 (0 would mean none). `rand` is called only for a limit
    /// that has a random range.
    pub fn jittered(mut self, mut rand: impl FnMut() -> u32) -> Self {
        let cut = |soft: u64, range: u64, r: &mut dyn FnMut() -> u32| {
            if soft == 0 || range == 0 {
                return soft;
            }
            let off = u64::from(r()) % range.saturating_add(1);
            soft.saturating_sub(off).max(1)
        };
        self.rekey_bytes = cut(self.rekey_bytes, self.rand_bytes, &mut rand);
        self.rekey_packets = cut(self.rekey_packets, self.rand_packets, &mut rand);
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

    #[test]
    fn soft_limits_lose_a_random_amount_up_to_rand() {
        let v = VolumeLimits {
            rekey_bytes: 1000,
            life_bytes: 1100,
            rand_bytes: 100,
            rekey_packets: 50,
            life_packets: 55,
            rand_packets: 5,
        };
        let mut draws = [250_u32, 3].into_iter();
        let j = v.jittered(|| draws.next().expect("two draws"));
        // 250 % 101 = 48 bytes, 3 % 6 = 3 packets off; hard limits untouched.
        assert_eq!((j.rekey_bytes, j.rekey_packets), (952, 47));
        assert_eq!((j.life_bytes, j.life_packets), (1100, 55));
        for r in [0, 1, 99, 100, 101, u32::MAX] {
            let j = v.jittered(|| r);
            assert!(
                (900..=1000).contains(&j.rekey_bytes),
                "{r}: {}",
                j.rekey_bytes
            );
            assert!(
                (45..=50).contains(&j.rekey_packets),
                "{r}: {}",
                j.rekey_packets
            );
        }
        let fixed = VolumeLimits {
            rekey_bytes: 1000,
            ..VolumeLimits::default()
        };
        assert_eq!(
            fixed.jittered(|| panic!("no range: no draw")),
            fixed,
            "rand 0 keeps the limit"
        );
        let tight = VolumeLimits {
            rekey_packets: 3,
            rand_packets: 3,
            ..VolumeLimits::default()
        };
        assert_eq!(tight.jittered(|| 3).rekey_packets, 1, "never 0 (no limit)");
        assert_eq!(
            VolumeLimits::default().jittered(|| panic!("no limits: no draw")),
            VolumeLimits::default()
        );
    }
}
