//! Inbound ESP SPIs that are never handed out twice while in use.
//!
//! The peer sends to the SPI we choose (RFC 4303 §2.1); two live inbound SAs
//! with one SPI and destination cannot both be installed (`xfrm_state_add`
//! refuses a duplicate (daddr, spi, proto) with EEXIST, net/xfrm/xfrm_state.c).
//! With random 28-bit SPIs that happens by the birthday bound (about 17 % at
//! 10,000 SAs), so every SPI held by a Child SA, or by a request in flight, is
//! tracked here, and a drawn SPI that is held is replaced by the next free one.

use std::collections::{HashMap, HashSet};

use crate::ids::{IkeSaId, Spi};

/// Probes after a random draw before giving up on a crowded range.
const MAX_PROBES: u32 = 1 << 16;

/// The pool of inbound SPIs.
#[derive(Debug)]
pub(crate) struct SpiPool {
    lo: u32,
    hi: u32,
    /// SPIs held by an IKE SA's Child SAs or its request in flight.
    held: HashMap<Spi, IkeSaId>,
    /// Handed out since the last [`SpiPool::settle`], not yet seen as held.
    fresh: HashSet<Spi>,
}

impl Default for SpiPool {
    fn default() -> Self {
        Self::new(0xc000_0000, 0xcfff_ffff)
    }
}

impl SpiPool {
    /// A pool over `lo..=hi` (SPIs 0..=255 are reserved, RFC 4303 §2.1).
    pub(crate) fn new(lo: u32, hi: u32) -> Self {
        let lo = lo.max(256);
        Self {
            lo,
            hi: hi.max(lo),
            held: HashMap::new(),
            fresh: HashSet::new(),
        }
    }

    fn taken(&self, s: Spi) -> bool {
        self.held.contains_key(&s) || self.fresh.contains(&s)
    }

    /// A free SPI, starting from the random `r`; `None` when the range is full.
    pub(crate) fn allocate(&mut self, r: u32) -> Option<Spi> {
        let size = u64::from(self.hi - self.lo) + 1;
        let start = u64::from(r) % size;
        let probes = u64::from(MAX_PROBES).min(size);
        let spi = (0..probes)
            .map(|i| (start + i) % size)
            .filter_map(|off| u32::try_from(u64::from(self.lo) + off).ok())
            .map(Spi)
            .find(|s| !self.taken(*s))?;
        self.fresh.insert(spi);
        Some(spi)
    }

    /// Records what `ike` holds now, replacing what it held before (`before`).
    /// Only the difference is written: an SPI in both lists is not touched.
    pub(crate) fn hold(&mut self, ike: IkeSaId, before: &[Spi], now: &[Spi]) {
        for s in before.iter().filter(|s| !now.contains(s)) {
            if self.held.get(s) == Some(&ike) {
                self.held.remove(s);
            }
        }
        for s in now.iter().filter(|s| !before.contains(s)) {
            self.held.insert(*s, ike);
        }
    }

    /// Ends a call: SPIs handed out but held by nobody are free again.
    pub(crate) fn settle(&mut self) {
        self.fresh.clear();
    }

    /// Number of held SPIs.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_held_or_fresh_spi() {
        let mut p = SpiPool::new(1000, 1003);
        let a = p.allocate(0).expect("a");
        let b = p.allocate(0).expect("b");
        assert_ne!(a, b, "the same draw gives the next free SPI");
        p.hold(IkeSaId(1), &[], &[a, b]);
        p.settle();
        let c = p.allocate(0).expect("c");
        let d = p.allocate(0).expect("d");
        let all = [a, b, c, d];
        for (i, x) in all.iter().enumerate() {
            assert!((1000..=1003).contains(&x.0));
            assert!(!all[..i].contains(x), "duplicate {x}");
        }
        assert_eq!(p.allocate(7), None, "range full");
        p.settle();
        assert!(p.allocate(7).is_some(), "c and d were never held");
    }

    #[test]
    fn release_only_what_the_sa_itself_held() {
        let mut p = SpiPool::new(5000, 5000);
        let s = p.allocate(9).expect("s");
        p.hold(IkeSaId(1), &[], &[s]);
        // Moved to IKE SA 2 (rekey) before IKE SA 1 was re-indexed.
        p.hold(IkeSaId(2), &[], &[s]);
        p.hold(IkeSaId(1), &[s], &[]);
        p.settle();
        assert_eq!(p.allocate(0), None, "still held by IKE SA 2");
        p.hold(IkeSaId(2), &[s], &[]);
        p.settle();
        assert_eq!(p.allocate(0), Some(s));
        assert_eq!(p.held(), 0);
    }

    #[test]
    fn reserved_spis_are_never_used() {
        let mut p = SpiPool::new(0, 300);
        for _ in 0..45 {
            assert!(p.allocate(3).is_some_and(|s| s.0 >= 256));
        }
        assert_eq!(p.allocate(3), None);
    }
}
