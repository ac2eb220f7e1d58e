//! Retransmission back-off and the few timers an IKE SA runs.
//!
//! strongSwan's defaults (`charon.retransmit_timeout = 4.0`, `retransmit_base = 1.8`,
//! `retransmit_tries = 5`): the n-th (re)transmission waits `4.0 * 1.8^n` seconds,
//! so an unanswered request is given up after about 165 s (RFC 7296 §2.4).

use std::time::{Duration, Instant};

/// Retransmission policy of the requester (RFC 7296 §2.1, §2.4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetransmitConfig {
    /// Timeout after the first transmission.
    pub timeout: Duration,
    /// Multiplier applied for each further retransmission.
    pub base: f64,
    /// Number of retransmissions before the IKE SA is declared dead.
    pub tries: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(4000),
            base: 1.8,
            tries: 5,
        }
    }
}

impl RetransmitConfig {
    /// How long to wait after transmission number `n` (0 = the original send).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = self.base.powi(i32::try_from(n).unwrap_or(i32::MAX));
        self.timeout.mul_f64(factor.min(1.0e6))
    }

    /// Total time from the first send until the requester gives up.
    pub fn give_up_after(&self) -> Duration {
        (0..=self.tries).map(|n| self.delay(n)).sum()
    }
}

/// State of one outstanding request's retransmission timer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retransmit {
    /// Transmissions so far minus one (0 after the first send).
    pub(crate) sent: u32,
    /// When to retransmit, or give up when `sent == tries`.
    pub(crate) deadline: Instant,
    /// A hard end before the tries run out (a liveness check's `dpd_timeout`).
    pub(crate) give_up_at: Option<Instant>,
}

impl Retransmit {
    pub(crate) fn start(now: Instant, cfg: &RetransmitConfig) -> Self {
        Self {
            sent: 0,
            deadline: now + cfg.delay(0),
            give_up_at: None,
        }
    }

    /// Gives up at `at` at the latest, even with tries left.
    pub(crate) fn with_give_up(mut self, at: Instant) -> Self {
        self.give_up_at = Some(at);
        self.deadline = self.deadline.min(at);
        self
    }

    /// The request was replaced and sent again now (an IKE_SA_INIT restart):
    /// the transmissions so far still count against the budget.
    pub(crate) fn restart(self, now: Instant, cfg: &RetransmitConfig) -> Self {
        Self {
            sent: self.sent,
            deadline: now + cfg.delay(self.sent),
            give_up_at: self.give_up_at,
        }
    }

    /// Called when `deadline` passed: returns `true` to resend, `false` to give up.
    pub(crate) fn on_expiry(&mut self, now: Instant, cfg: &RetransmitConfig) -> bool {
        if self.sent >= cfg.tries || self.give_up_at.is_some_and(|g| now >= g) {
            return false;
        }
        self.sent += 1;
        self.deadline = now + cfg.delay(self.sent);
        if let Some(g) = self.give_up_at {
            self.deadline = self.deadline.min(g);
        }
        true
    }
}

/// Adds `jitter` seconds taken from `rand` (uniform in `[0, jitter]`) below `base`,
/// as strongSwan does for `rekey_time - random(rand_time)`.
pub(crate) fn jittered(base: Duration, jitter: Duration, rand: u32) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let span = jitter.as_millis().min(u128::from(u32::MAX)) as u64 + 1;
    let off = Duration::from_millis(u64::from(rand) % span);
    base.saturating_sub(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongswan_backoff_totals_165s() {
        let cfg = RetransmitConfig::default();
        assert_eq!(cfg.delay(0), Duration::from_secs(4));
        assert_eq!(cfg.delay(1).as_millis(), 7200);
        let total = cfg.give_up_after().as_secs_f64();
        assert!((total - 165.0).abs() < 1.0, "total {total}");
    }

    #[test]
    fn retransmit_gives_up_after_tries() {
        let cfg = RetransmitConfig::default();
        let t0 = Instant::now();
        let mut r = Retransmit::start(t0, &cfg);
        let mut resends = 0;
        while r.on_expiry(r.deadline, &cfg) {
            resends += 1;
        }
        assert_eq!(resends, cfg.tries);
        let elapsed = r.deadline - t0;
        assert!(elapsed.as_secs_f64() > 160.0);
    }

    #[test]
    fn give_up_time_cuts_the_tries_short() {
        let cfg = RetransmitConfig::default();
        let t0 = Instant::now();
        let mut r = Retransmit::start(t0, &cfg).with_give_up(t0 + Duration::from_secs(10));
        assert_eq!(r.deadline, t0 + Duration::from_secs(4));
        assert!(r.on_expiry(r.deadline, &cfg), "resent at 4 s");
        assert_eq!(
            r.deadline,
            t0 + Duration::from_secs(10),
            "clamped to the end"
        );
        assert!(
            !r.on_expiry(r.deadline, &cfg),
            "given up at 10 s, 4 tries left"
        );
        let mut long = Retransmit::start(t0, &cfg).with_give_up(t0 + Duration::from_secs(600));
        let mut resends = 0;
        while long.on_expiry(long.deadline, &cfg) {
            resends += 1;
        }
        assert_eq!(
            resends, cfg.tries,
            "the tries end first when they are shorter"
        );
    }

    #[test]
    fn jitter_stays_below_base() {
        let b = Duration::from_secs(3600);
        let j = Duration::from_secs(360);
        for r in [0, 1, 359_999, 360_000, u32::MAX] {
            let d = jittered(b, j, r);
            assert!(d <= b && d >= b - j, "{d:?}");
        }
        assert_eq!(jittered(b, Duration::ZERO, 7), b);
    }
}
